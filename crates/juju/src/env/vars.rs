//! The names of Juju's environment variables (spec/juju-runtime.md §1.4), why reading them can
//! fail, and how one is read: what [`super::JujuEnv`] and [`crate::event`] share.

pub use envconf::{ProcessEnv, Source};

/// `JUJU_DISPATCH_PATH`: `hooks/<name>` or `actions/<name>`.
pub const JUJU_DISPATCH_PATH: &str = "JUJU_DISPATCH_PATH";
/// `JUJU_HOOK_NAME` (empty for actions).
pub const JUJU_HOOK_NAME: &str = "JUJU_HOOK_NAME";
/// `JUJU_UNIT_NAME`, e.g. `oathkeeper/0`.
pub const JUJU_UNIT_NAME: &str = "JUJU_UNIT_NAME";
/// `JUJU_MODEL_NAME` (the Kubernetes namespace).
pub const JUJU_MODEL_NAME: &str = "JUJU_MODEL_NAME";
/// `JUJU_MODEL_UUID`.
pub const JUJU_MODEL_UUID: &str = "JUJU_MODEL_UUID";
/// `JUJU_VERSION`, the agent version.
pub const JUJU_VERSION: &str = "JUJU_VERSION";
/// `JUJU_CHARM_DIR`, the charm root.
pub const JUJU_CHARM_DIR: &str = "JUJU_CHARM_DIR";
/// `CHARM_DIR`, the legacy name of [`JUJU_CHARM_DIR`].
pub const CHARM_DIR: &str = "CHARM_DIR";
/// `JUJU_CONTEXT_ID`, the id hook tools send back to the agent.
pub const JUJU_CONTEXT_ID: &str = "JUJU_CONTEXT_ID";
/// `JUJU_AGENT_SOCKET_ADDRESS`, where hook tools connect.
pub const JUJU_AGENT_SOCKET_ADDRESS: &str = "JUJU_AGENT_SOCKET_ADDRESS";
/// `JUJU_AGENT_SOCKET_NETWORK` (`unix`).
pub const JUJU_AGENT_SOCKET_NETWORK: &str = "JUJU_AGENT_SOCKET_NETWORK";
/// `JUJU_API_ADDRESSES`, space-separated controller API addresses.
pub const JUJU_API_ADDRESSES: &str = "JUJU_API_ADDRESSES";
/// `JUJU_MACHINE_ID` (empty on Kubernetes).
pub const JUJU_MACHINE_ID: &str = "JUJU_MACHINE_ID";
/// `JUJU_PRINCIPAL_UNIT` (subordinates only).
pub const JUJU_PRINCIPAL_UNIT: &str = "JUJU_PRINCIPAL_UNIT";
/// `JUJU_AVAILABILITY_ZONE` (may be empty).
pub const JUJU_AVAILABILITY_ZONE: &str = "JUJU_AVAILABILITY_ZONE";
/// `CLOUD_API_VERSION`, e.g. the Kubernetes API version.
pub const CLOUD_API_VERSION: &str = "CLOUD_API_VERSION";
/// `JUJU_CHARM_HTTP_PROXY`, the model's `juju-http-proxy`.
pub const JUJU_CHARM_HTTP_PROXY: &str = "JUJU_CHARM_HTTP_PROXY";
/// `JUJU_CHARM_HTTPS_PROXY`, the model's `juju-https-proxy`.
pub const JUJU_CHARM_HTTPS_PROXY: &str = "JUJU_CHARM_HTTPS_PROXY";
/// `JUJU_CHARM_FTP_PROXY`, the model's `juju-ftp-proxy`.
pub const JUJU_CHARM_FTP_PROXY: &str = "JUJU_CHARM_FTP_PROXY";
/// `JUJU_CHARM_NO_PROXY`, the model's `juju-no-proxy`.
pub const JUJU_CHARM_NO_PROXY: &str = "JUJU_CHARM_NO_PROXY";
/// `JUJU_DEBUG`: present means also log to stderr.
pub const JUJU_DEBUG: &str = "JUJU_DEBUG";
/// `JUJU_DEBUG_AT`: comma-separated `juju debug-code` breakpoints.
pub const JUJU_DEBUG_AT: &str = "JUJU_DEBUG_AT";
/// `JUJU_TRACE_ID` (only when the agent is tracing).
pub const JUJU_TRACE_ID: &str = "JUJU_TRACE_ID";
/// `JUJU_SPAN_ID` (only when the agent is tracing).
pub const JUJU_SPAN_ID: &str = "JUJU_SPAN_ID";
/// `JUJU_TRACE_FLAGS` (only when the agent is tracing).
pub const JUJU_TRACE_FLAGS: &str = "JUJU_TRACE_FLAGS";
/// `JUJU_RELATION`, the endpoint of a relation hook.
pub const JUJU_RELATION: &str = "JUJU_RELATION";
/// `JUJU_RELATION_ID`, `<endpoint>:<id>`.
pub const JUJU_RELATION_ID: &str = "JUJU_RELATION_ID";
/// `JUJU_REMOTE_APP`.
pub const JUJU_REMOTE_APP: &str = "JUJU_REMOTE_APP";
/// `JUJU_REMOTE_UNIT` (exported empty when no unit applies).
pub const JUJU_REMOTE_UNIT: &str = "JUJU_REMOTE_UNIT";
/// `JUJU_DEPARTING_UNIT` (relation-departed).
pub const JUJU_DEPARTING_UNIT: &str = "JUJU_DEPARTING_UNIT";
/// `JUJU_ACTION_NAME`.
pub const JUJU_ACTION_NAME: &str = "JUJU_ACTION_NAME";
/// `JUJU_ACTION_UUID` (Juju 3+: a numeric id string).
pub const JUJU_ACTION_UUID: &str = "JUJU_ACTION_UUID";
/// `JUJU_ACTION_TAG`, `action-<id>`.
pub const JUJU_ACTION_TAG: &str = "JUJU_ACTION_TAG";
/// `JUJU_WORKLOAD_NAME`, the container of a workload hook.
pub const JUJU_WORKLOAD_NAME: &str = "JUJU_WORKLOAD_NAME";
/// `JUJU_NOTICE_ID`.
pub const JUJU_NOTICE_ID: &str = "JUJU_NOTICE_ID";
/// `JUJU_NOTICE_TYPE` (`custom`).
pub const JUJU_NOTICE_TYPE: &str = "JUJU_NOTICE_TYPE";
/// `JUJU_NOTICE_KEY`, e.g. `example.com/a`.
pub const JUJU_NOTICE_KEY: &str = "JUJU_NOTICE_KEY";
/// `JUJU_PEBBLE_CHECK_NAME`.
pub const JUJU_PEBBLE_CHECK_NAME: &str = "JUJU_PEBBLE_CHECK_NAME";
/// `JUJU_SECRET_ID`, e.g. `secret:d0j8m7...`.
pub const JUJU_SECRET_ID: &str = "JUJU_SECRET_ID";
/// `JUJU_SECRET_LABEL` (may be empty).
pub const JUJU_SECRET_LABEL: &str = "JUJU_SECRET_LABEL";
/// `JUJU_SECRET_REVISION` (secret-expired and secret-remove).
pub const JUJU_SECRET_REVISION: &str = "JUJU_SECRET_REVISION";
/// `JUJU_STORAGE_ID`, `<name>/<n>`.
pub const JUJU_STORAGE_ID: &str = "JUJU_STORAGE_ID";
/// `JUJU_STORAGE_LOCATION`, the mount path.
pub const JUJU_STORAGE_LOCATION: &str = "JUJU_STORAGE_LOCATION";
/// `JUJU_STORAGE_KIND`, `filesystem` or `block`.
pub const JUJU_STORAGE_KIND: &str = "JUJU_STORAGE_KIND";
/// `JUJU_TARGET_BASE` (series upgrade, machines only).
pub const JUJU_TARGET_BASE: &str = "JUJU_TARGET_BASE";
/// `JUJU_METER_STATUS` (legacy meter-status-changed).
pub const JUJU_METER_STATUS: &str = "JUJU_METER_STATUS";
/// `JUJU_METER_INFO` (legacy meter-status-changed).
pub const JUJU_METER_INFO: &str = "JUJU_METER_INFO";

/// Why the hook context could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A variable this hook needs is not set (or is empty).
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable has a value that cannot be right.
    #[error("environment variable {var} is invalid: \"{value}\" ({why})")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// `JUJU_DISPATCH_PATH` names no hook or action this runtime knows.
    #[error("unknown hook \"{0}\" in JUJU_DISPATCH_PATH")]
    UnknownHook(String),
}

/// A variable that may be exported empty: empty means absent.
pub(crate) fn optional(source: &dyn Source, var: &str) -> Option<String> {
    source.get(var).filter(|v| !v.is_empty())
}

/// A variable that must be set and non-empty.
pub(crate) fn required(source: &dyn Source, var: &'static str) -> Result<String, EnvError> {
    optional(source, var).ok_or(EnvError::Missing(var))
}

/// A decimal number in `var`.
pub(crate) fn number<T: std::str::FromStr>(var: &'static str, value: &str) -> Result<T, EnvError> {
    value.parse().map_err(|_| EnvError::Invalid {
        var,
        value: value.to_owned(),
        why: "expected a number",
    })
}
