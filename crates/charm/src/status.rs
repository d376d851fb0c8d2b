//! The statuses the charm sets: their kinds, in priority order, and their texts, upstream's
//! where upstream has one (spec §4.4). Which one applies is decided once, from the snapshot,
//! by `Facts::status` (`facts.rs`); [`crate::apply`] replaces it when a step fails.

use juju::tool::status::Status;
use serde::{Deserialize, Serialize};

use crate::relation::FieldError;

/// Waiting: Pebble does not answer.
pub const WAITING_FOR_CONTAINER: &str = "Waiting to connect to Oathkeeper container";
/// Waiting: the peer relation (for rules bookkeeping) does not exist yet.
pub const WAITING_FOR_PEER: &str = "Waiting for peer relation";
/// Blocked: the replan failed (set by [`crate::apply`] when Pebble answers with an error).
pub const FAILED_TO_RESTART: &str = "Failed to restart the container, please consult the logs";
/// Blocked: adding our Pebble layer failed (set by [`crate::apply`] when Pebble answers with an
/// error).
pub const FAILED_TO_SET_CONFIG: &str = "Failed to set new config, see logs";
/// Active: Traefik routes every protected app through us.
pub const READY: &str = "Identity and Access Proxy is ready";

/// Active, with Ory's server in the image: the start of the message, before the version.
pub const RUNNING_ORY: &str = "running Ory Oathkeeper ";
/// Active, with Ory's server in the image: the end of the message, after the version.
pub const REFRESH_FOR_LIVE_RULES: &str = "; refresh the oci-image resource for live rule updates";

/// Active: `running Ory Oathkeeper <version>; refresh the oci-image resource for live rule
/// updates` ([`RUNNING_ORY`], [`REFRESH_FOR_LIVE_RULES`]).
pub fn running_ory(version: &str) -> String {
    format!("{RUNNING_ORY}{version}{REFRESH_FOR_LIVE_RULES}")
}

/// Waiting, while related to a certificates provider without a usable certificate: the API
/// is served over http meanwhile, and everything says so.
pub fn certificate_pending(provider: &str, why: &crate::tls::Pending) -> String {
    match why {
        crate::tls::Pending::Requested => {
            format!("Waiting for a certificate from {provider}; serving http meanwhile")
        }
        crate::tls::Pending::Revoked => format!(
            "Certificate revoked by {provider}, a new one is requested; serving http meanwhile"
        ),
    }
}

/// Blocked: a protected app is not routed by Traefik.
pub fn not_related_via_ingress(app: &str) -> String {
    format!("{app} is not related via ingress")
}

/// Blocked: the application was deployed without `--trust`.
pub fn missing_trust(app: &str) -> String {
    format!("Run \"juju trust {app} --scope=cluster\"")
}

/// Blocked: a remote databag is invalid; names the endpoint, app and field.
pub fn invalid_relation_data(endpoint: &str, app: &str, error: &FieldError) -> String {
    format!("Invalid {endpoint} data from {app}: {error}")
}

/// A status kind a charm may set, in priority order (highest first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    /// A human must act.
    Blocked,
    /// Waiting for something outside the charm.
    Waiting,
    /// The charm is busy.
    Maintenance,
    /// Ready.
    #[default]
    Active,
}

impl From<StatusKind> for Status {
    fn from(kind: StatusKind) -> Status {
        match kind {
            StatusKind::Blocked => Status::Blocked,
            StatusKind::Waiting => Status::Waiting,
            StatusKind::Maintenance => Status::Maintenance,
            StatusKind::Active => Status::Active,
        }
    }
}

impl TryFrom<Status> for StatusKind {
    /// A status only Juju sets (`unknown`, `error`, ...), given back.
    type Error = Status;

    fn try_from(status: Status) -> Result<StatusKind, Status> {
        match status {
            Status::Blocked => Ok(StatusKind::Blocked),
            Status::Waiting => Ok(StatusKind::Waiting),
            Status::Maintenance => Ok(StatusKind::Maintenance),
            Status::Active => Ok(StatusKind::Active),
            other => Err(other),
        }
    }
}

/// A status with its message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusValue {
    /// The kind.
    pub kind: StatusKind,
    /// The message (may be empty).
    pub message: String,
}

impl StatusValue {
    /// A status.
    pub fn new(kind: StatusKind, message: impl Into<String>) -> StatusValue {
        StatusValue {
            kind,
            message: message.into(),
        }
    }
}
