//! The desired state: what the world should look like after this hook, as plain data.
//!
//! [`crate::reconcile`] computes it; [`crate::plan`] compares it with the snapshot. Everything
//! only the leader may change sits in [`LeaderDesired`], so the leader guard is one `Option`.

use std::collections::BTreeMap;

use juju::pebble::layer::Layer;
use serde::{Deserialize, Serialize};

use crate::relation::Databag;
use crate::status::StatusValue;

/// The ConfigMap holding one rules file per key (spec §4.7).
pub const ACCESS_RULES_CONFIG_MAP: &str = "access-rules";
/// The ConfigMap holding the workload config (spec §4.7).
pub const OATHKEEPER_CONFIG_MAP: &str = "oathkeeper-config";
/// The key of the workload config in [`OATHKEEPER_CONFIG_MAP`].
pub const OATHKEEPER_CONFIG_KEY: &str = "oathkeeper.yaml";
/// The ConfigMap key the admin UI writes its rules to; pre-created empty so that it is listed
/// among the repositories (spec §5.3).
pub const ADMIN_UI_RULES_KEY: &str = "admin_ui_rules.json";
/// ConfigMap label naming the Juju application.
pub const LABEL_APP_NAME: &str = "juju-app-name";
/// ConfigMap label naming the manager.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY_JUJU: &str = "juju";
/// The pod volume holding [`OATHKEEPER_CONFIG_MAP`].
pub const CONFIG_VOLUME: &str = "config";
/// The pod volume holding [`ACCESS_RULES_CONFIG_MAP`].
pub const ACCESS_RULES_VOLUME: &str = "access-rules";
/// The Service port name of the API (decisions).
pub const API_PORT_NAME: &str = "oathkeeper-api";
/// The Service port name of the metrics listener.
pub const METRICS_PORT_NAME: &str = "metrics-port";

/// A ConfigMap's labels and data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigMap {
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `data`.
    pub data: BTreeMap<String, String>,
}

/// A pod volume backed by a ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Volume {
    /// The volume name.
    pub name: String,
    /// The ConfigMap it shows.
    pub config_map: String,
}

/// A volume mount of the workload container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VolumeMount {
    /// The volume name.
    pub name: String,
    /// Where it is mounted.
    pub mount_path: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The parts of the StatefulSet's pod template the charm manages: its volumes and the
/// workload container's mounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodTemplate {
    /// `spec.template.spec.volumes`.
    pub volumes: Vec<Volume>,
    /// `volumeMounts` of the `oathkeeper` container.
    pub mounts: Vec<VolumeMount>,
}

impl PodTemplate {
    /// True when every volume and mount of `wanted` is already here.
    pub fn contains(&self, wanted: &PodTemplate) -> bool {
        wanted.volumes.iter().all(|v| self.volumes.contains(v))
            && wanted.mounts.iter().all(|m| self.mounts.contains(m))
    }
}

/// A port of the application's Service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServicePort {
    /// The port name.
    pub name: String,
    /// The port (target port is the same).
    pub port: u16,
}

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
}

impl Ownership {
    /// Whether `key` is ours.
    pub fn owns(&self, key: &str) -> bool {
        match self {
            Ownership::All => true,
            Ownership::Prefix(prefix) => key.starts_with(prefix.as_str()),
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

/// The Kubernetes objects the leader maintains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesDesired {
    /// ConfigMaps by name ([`ACCESS_RULES_CONFIG_MAP`], [`OATHKEEPER_CONFIG_MAP`]).
    pub config_maps: BTreeMap<String, ConfigMap>,
    /// Volumes and mounts the StatefulSet must have.
    pub statefulset: PodTemplate,
    /// The Service's ports, in order.
    pub service_ports: Vec<ServicePort>,
}

/// What only the leader may change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderDesired {
    /// Kubernetes objects; `None` when the API was not readable (untrusted or not observed),
    /// since writing blind could drop keys other charms put there.
    pub kubernetes: Option<KubernetesDesired>,
    /// Our application databags.
    pub app_relation_data: Vec<DatabagWrite>,
    /// The application status.
    pub app_status: StatusValue,
}

/// The desired state of the world after this hook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    /// The Pebble layer (label [`crate::workload::LAYER_LABEL`]); `None` when Pebble is
    /// unreachable.
    pub layer: Option<Layer>,
    /// This unit's databags.
    pub unit_relation_data: Vec<DatabagWrite>,
    /// This unit's status.
    pub unit_status: StatusValue,
    /// The workload version to show, when the workload reported one.
    pub workload_version: Option<String>,
    /// Leader-only state; `None` on a non-leader.
    pub leader: Option<LeaderDesired>,
}
