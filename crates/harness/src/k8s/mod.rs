//! A fake Kubernetes API server on loopback (spec/juju-runtime.md §4).
//! (Placeholder until the fake server lands.)

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The Kubernetes side of the State.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KubernetesState {
    /// Whether the app is trusted.
    pub trusted: bool,
}

impl Default for KubernetesState {
    fn default() -> KubernetesState {
        KubernetesState { trusted: true }
    }
}

/// A running fake API server.
#[derive(Debug)]
pub struct FakeApiServer {
    state: KubernetesState,
}

impl FakeApiServer {
    /// Starts serving.
    pub fn start(state: KubernetesState) -> std::io::Result<FakeApiServer> {
        Ok(FakeApiServer { state })
    }

    /// Writes a kubeconfig.
    pub fn write_kubeconfig(&self, path: &Path, _namespace: &str) -> std::io::Result<()> {
        std::fs::write(path, "")
    }

    /// Stops serving.
    pub fn stop(self) -> std::io::Result<KubernetesState> {
        Ok(self.state)
    }
}
