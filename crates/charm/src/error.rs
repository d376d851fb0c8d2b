//! The one error of the I/O shell: why a hook or action failed unexpectedly, and the process
//! exit code that goes with it, decided here and nowhere else.
//!
//! Expected failures are not errors: missing inputs, bad relation data, missing trust and an
//! unreachable workload are statuses; a failed action is `action-fail`. A non-zero exit is
//! reserved for what a Juju retry can fix.

use juju::env::EnvError;

/// Exit code for a context the charm cannot run in (`EX_USAGE`).
const EXIT_USAGE: u8 = 64;
/// Exit code for a failure a Juju retry can fix.
const EXIT_FAILURE: u8 = 1;

/// Why a hook or action failed unexpectedly.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The process does not run under Juju: the hook context in the environment is missing or
    /// malformed.
    #[error("not running under Juju")]
    NotUnderJuju(#[source] EnvError),
    /// The runtime for the async clients (Kubernetes, HTTP) could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// A hook tool failed (reading the world, writing relation data or statuses, or an action's
    /// `action-*` tools); the message names the tool and carries Juju's text.
    #[error(transparent)]
    Tool(#[from] juju::tool::Error),
    /// The Kubernetes API failed for another reason than trust (missing trust is a status).
    #[error(transparent)]
    Kubernetes(#[from] juju::k8s::Error),
    /// The private key could not be generated, stored or used (never holds the key).
    #[error("private key: {0}")]
    PrivateKey(String),
}

impl HookError {
    /// The process exit code: 64 when the charm cannot run here at all (a retry cannot help),
    /// 1 otherwise, so that Juju retries the hook.
    pub fn exit_code(&self) -> u8 {
        match self {
            HookError::NotUnderJuju(_) => EXIT_USAGE,
            HookError::Runtime(_)
            | HookError::Tool(_)
            | HookError::Kubernetes(_)
            | HookError::PrivateKey(_) => EXIT_FAILURE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_juju_context_exits_with_usage() {
        let outside = HookError::NotUnderJuju(EnvError::Missing("JUJU_UNIT_NAME"));
        assert_eq!(outside.exit_code(), 64);
        let tool = HookError::Tool(juju::tool::Error::NoRelationId {
            tool: "relation-get".to_owned(),
        });
        assert_eq!(tool.exit_code(), 1);
        assert_eq!(tool.to_string(), "relation-get: no relation id specified");
        let runtime = HookError::Runtime(std::io::Error::other("no threads"));
        assert_eq!(runtime.exit_code(), 1);
    }
}
