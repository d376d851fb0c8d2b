//! The desired state: what the world should look like after this hook, as plain data.
//!
//! [`crate::reconcile`] computes it; [`crate::plan`] compares it with the snapshot. Everything
//! only the leader may change sits in [`LeaderDesired`], so the leader guard is one `Option`.

use juju::pebble::layer::Layer;
use serde::{Deserialize, Serialize};

use crate::kubernetes::KubernetesObjects;
use crate::relation::Databag;
use crate::status::StatusValue;

/// Whose databag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Our application's databag (leader only).
    App,
    /// This unit's databag.
    Unit,
}

/// Which keys of a databag we own: keys we own but no longer want are deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ownership {
    /// Every key.
    All,
    /// Keys starting with this prefix (other keys are left alone).
    Prefix(String),
    /// Exactly these keys: a unit databag, where Juju keeps its own (`ingress-address`,
    /// `private-address`, `egress-subnets`) beside ours.
    Keys(Vec<String>),
}

impl Ownership {
    /// Whether `key` is ours.
    pub fn owns(&self, key: &str) -> bool {
        match self {
            Ownership::All => true,
            Ownership::Prefix(prefix) => key.starts_with(prefix.as_str()),
            Ownership::Keys(keys) => keys.iter().any(|k| k == key),
        }
    }
}

/// The content one of our databags should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabagWrite {
    /// The endpoint, e.g. `forward-auth`.
    pub endpoint: String,
    /// The relation id.
    pub relation_id: u64,
    /// App or unit databag.
    pub scope: Scope,
    /// The keys we want, with their values.
    pub data: Databag,
    /// Which keys are ours to delete when not in `data`.
    pub ownership: Ownership,
}

/// What only the leader may change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderDesired {
    /// Kubernetes objects; `None` when the API was not readable (untrusted or not observed),
    /// since writing blind could drop keys other charms put there.
    pub kubernetes: Option<KubernetesObjects>,
    /// Our application databags.
    pub app_relation_data: Vec<DatabagWrite>,
    /// The application status.
    pub app_status: StatusValue,
}

/// The desired state of the world after this hook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    /// The Pebble layer (label [`crate::workload::LAYER_LABEL`]); `None` when Pebble is
    /// unreachable, or when the app is not trusted (its ConfigMaps cannot exist, issue 15).
    pub layer: Option<Layer>,
    /// The log-forwarding layer (label [`crate::relation::logging::LAYER_LABEL`]): a Pebble
    /// log target per Loki unit, `-all` for those gone; `None` when Pebble is unreachable or
    /// nothing is or was forwarded.
    #[serde(default)]
    pub log_forwarding: Option<Layer>,
    /// This unit's databags.
    pub unit_relation_data: Vec<DatabagWrite>,
    /// This unit's status.
    pub unit_status: StatusValue,
    /// The workload version to show, when the workload reported one.
    pub workload_version: Option<String>,
    /// Leader-only state; `None` on a non-leader.
    pub leader: Option<LeaderDesired>,
    /// TLS: the one scheme everything uses, the key, the request, the workload's files.
    pub tls: crate::tls::TlsDecision,
}
