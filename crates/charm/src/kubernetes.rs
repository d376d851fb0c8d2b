//! The Kubernetes objects the charm manages, by name, and the parts of them it reads and
//! writes as plain data: the two ConfigMaps (spec §4.7), the StatefulSet's ConfigMap volumes
//! (spec §4.6) and the Service's ports.
//!
//! One [`KubernetesObjects`] value holds them: [`crate::snapshot`] as observed,
//! [`crate::desired`] as they should be; the shell converts them from and to the API's types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// The Kubernetes objects the charm manages: as read ([`crate::snapshot::ClusterState`]) or as
/// the leader wants them ([`crate::desired::LeaderDesired`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesObjects {
    /// ConfigMaps by name; an absent name does not exist. Desired: [`ACCESS_RULES_CONFIG_MAP`]
    /// and [`OATHKEEPER_CONFIG_MAP`].
    pub config_maps: BTreeMap<String, ConfigMap>,
    /// The application StatefulSet's pod template (volumes and the workload's mounts). Desired:
    /// the volumes and mounts it must have (others may be there too).
    pub statefulset: PodTemplate,
    /// The ports of the application's Service, in order.
    pub service_ports: Vec<ServicePort>,
}

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
