//! One hook's worth of emulated Juju: the state the hook tools read and write, Juju's
//! transaction rule (spec/juju-runtime.md §1.1), and the side-effect log.
//!
//! Two copies of the state are kept. `committed` receives what Juju applies at once (statuses,
//! workload version); `working` receives that too plus the buffered writes (relation data,
//! ports, secrets, unit state), so reads in the same hook see pending writes. When the charm
//! exits 0 the working copy wins; otherwise only the committed one survives.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::charm::Charm;
use crate::event::Event;
use crate::state::{State, Status};

/// A `juju-log` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The level (`DEBUG`, `INFO`, `WARNING`, `ERROR`, ...).
    pub level: String,
    /// The message.
    pub message: String,
}

/// One hook-tool invocation, as the charm made it and as the tool answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The tool name.
    pub tool: String,
    /// Its arguments (without the tool name).
    pub args: Vec<String>,
    /// What the charm sent on stdin, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// The exit code.
    pub code: i32,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

/// Everything a hook did besides changing the state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SideEffects {
    /// `juju-log` lines, in order.
    pub juju_log: Vec<LogLine>,
    /// Every unit status set, in order.
    pub unit_status_history: Vec<Status>,
    /// Every application status set, in order.
    pub app_status_history: Vec<Status>,
    /// Every workload version set, in order.
    pub workload_version_history: Vec<String>,
    /// `action-set` results, nested at the dots as ops passed them.
    pub action_results: Map<String, Value>,
    /// The `action-fail` message, if the action failed.
    pub action_failure: Option<String>,
    /// `action-log` messages.
    pub action_logs: Vec<String>,
    /// Every hook-tool call.
    pub tool_calls: Vec<ToolCall>,
}

/// The emulated hook context.
#[derive(Debug, Clone)]
pub struct Session {
    /// The charm's metadata.
    pub charm: Charm,
    /// The event being run.
    pub event: Event,
    /// What Juju has applied so far.
    pub committed: State,
    /// What the charm sees, pending writes included.
    pub working: State,
    /// The side-effect log.
    pub effects: SideEffects,
}

impl Session {
    /// A session for `event` on `state`.
    pub fn new(charm: Charm, event: Event, state: State) -> Session {
        Session {
            charm,
            event,
            committed: state.clone(),
            working: state,
            effects: SideEffects::default(),
        }
    }

    /// The app name.
    pub fn app(&self) -> &str {
        &self.charm.name
    }

    /// This unit's name, `<app>/<n>`.
    pub fn unit(&self) -> String {
        format!("{}/{}", self.charm.name, self.working.unit_id)
    }

    /// Whether an action is running.
    pub fn in_action(&self) -> bool {
        self.event.action.is_some()
    }

    /// Applies something Juju applies at once (not transactional) to both copies.
    pub fn apply_now(&mut self, change: impl Fn(&mut State)) {
        change(&mut self.committed);
        change(&mut self.working);
    }

    /// Ends the hook: the working state if the charm exited 0, else the committed one.
    pub fn finish(self, succeeded: bool) -> (State, SideEffects) {
        let state = if succeeded {
            self.working
        } else {
            self.committed
        };
        (state, self.effects)
    }
}
