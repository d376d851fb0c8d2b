//! The one status, computed from the snapshot with a fixed priority:
//! blocked > waiting > maintenance > active. Texts are upstream's where upstream has one
//! (spec §4.4).

use serde::{Deserialize, Serialize};

use crate::facts::Facts;
use crate::relation::FieldError;
use crate::snapshot::{Kubernetes, Snapshot};

/// Waiting: Pebble does not answer.
pub const WAITING_FOR_CONTAINER: &str = "Waiting to connect to Oathkeeper container";
/// Maintenance: the charm is configuring the workload.
pub const CONFIGURING: &str = "Configuring the container";
/// Waiting: the service did not start after a replan (set by the shell).
pub const WAITING_FOR_SERVICE: &str = "Waiting for Oathkeeper service";
/// Waiting: the peer relation (for rules bookkeeping) does not exist yet.
pub const WAITING_FOR_PEER: &str = "Waiting for peer relation";
/// Blocked: a restart failed (set by the shell when Pebble reports a change error).
pub const FAILED_TO_RESTART: &str = "Failed to restart the container, please consult the logs";
/// Blocked: writing the config failed (set by the shell).
pub const FAILED_TO_SET_CONFIG: &str = "Failed to set new config, see logs";
/// Active: Traefik routes every protected app through us.
pub const READY: &str = "Identity and Access Proxy is ready";

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

impl StatusKind {
    /// The status word, as `status-set` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Blocked => "blocked",
            StatusKind::Waiting => "waiting",
            StatusKind::Maintenance => "maintenance",
            StatusKind::Active => "active",
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

/// Computes the unit status the world has once this hook's effects apply: every applicable status is collected, the highest kind wins, and
/// within a kind the first collected (the order below) wins.
pub(crate) fn compute(snapshot: &Snapshot, facts: &Facts) -> StatusValue {
    let mut found: Vec<StatusValue> = Vec::new();
    let mut push = |kind, message: String| found.push(StatusValue::new(kind, message));

    if snapshot.kubernetes == Kubernetes::Forbidden {
        push(StatusKind::Blocked, missing_trust(&snapshot.app));
    }
    if let Some(problem) = &facts.invalid_config {
        push(StatusKind::Blocked, problem.clone());
    }
    for app in &facts.auth_proxy {
        if let Err(error) = &app.state {
            push(
                StatusKind::Blocked,
                invalid_relation_data(crate::relation::auth_proxy::ENDPOINT, &app.app, error),
            );
        }
    }
    for (remote, error) in &facts.invalid_other {
        push(
            StatusKind::Blocked,
            invalid_relation_data(remote.0, &remote.1, error),
        );
    }
    if let Some(app) = facts.unrouted_app() {
        push(StatusKind::Blocked, not_related_via_ingress(app));
    }
    // The status describes the world after this hook's effects apply; a stopped service is
    // replanned by them, so it is not a reason to wait (the shell reports a failed replan).
    if !snapshot.container.can_connect {
        push(StatusKind::Waiting, WAITING_FOR_CONTAINER.to_owned());
    }
    if snapshot.leader && snapshot.relations.peer.is_none() && !facts.auth_proxy.is_empty() {
        push(StatusKind::Waiting, WAITING_FOR_PEER.to_owned());
    }
    if facts.forward_auth_ready() {
        push(StatusKind::Active, READY.to_owned());
    }
    found.into_iter().min_by_key(|s| s.kind).unwrap_or_default()
}
