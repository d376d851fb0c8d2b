//! A fake Pebble: Pebble's HTTP API on a container's unix socket (spec/juju-runtime.md §3).
//! (Placeholder until the fake server lands.)

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One container in the State.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerState {
    /// Whether Pebble answers.
    pub can_connect: bool,
}

impl Default for ContainerState {
    fn default() -> ContainerState {
        ContainerState { can_connect: true }
    }
}

/// How the fake runs services.
#[derive(Debug, Clone, Default)]
pub enum Mode {
    /// No processes.
    #[default]
    Emulated,
}

/// A running fake Pebble.
#[derive(Debug)]
pub struct FakePebble {
    state: ContainerState,
}

impl FakePebble {
    /// Starts serving.
    pub fn start(
        _socket: &Path,
        state: ContainerState,
        _mode: Mode,
    ) -> std::io::Result<FakePebble> {
        Ok(FakePebble { state })
    }

    /// Stops serving.
    pub fn stop(self) -> std::io::Result<ContainerState> {
        Ok(self.state)
    }
}
