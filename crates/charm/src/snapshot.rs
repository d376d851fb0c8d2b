//! The snapshot: everything one hook knows about the world, as plain data.
//!
//! The I/O shell fills it (hook tools, Pebble, Kubernetes) before [`crate::reconcile`] runs;
//! nothing else is read afterwards. Remote databags stay raw here: [`crate::relation`] parses
//! them, so a bad databag becomes a status naming the field rather than a failed observe.
//! A relation that is being broken is left out by the shell.

use juju::pebble::layer::Layer;
use serde::{Deserialize, Serialize};

use crate::kubernetes::KubernetesObjects;
use crate::relation::Databag;
use crate::status::StatusValue;

/// Everything `reconcile` and `plan` read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The Juju model name (also the Kubernetes namespace).
    pub model: String,
    /// The model's UUID (`JUJU_MODEL_UUID`), for the Juju topology of metrics, logs and alerts.
    #[serde(default)]
    pub model_uuid: String,
    /// This application's name.
    pub app: String,
    /// This unit's name, `<app>/<n>`.
    pub unit: String,
    /// Whether this unit is the leader (`is-leader`).
    pub leader: bool,
    /// Charm config (`config-get`).
    pub config: CharmConfig,
    /// The workload container as Pebble reports it.
    pub container: Container,
    /// The Kubernetes objects the charm manages.
    pub kubernetes: ClusterState,
    /// Every relation, by endpoint.
    pub relations: Relations,
    /// This unit's address for the ingress unit databag, when known (`network-get ingress`).
    pub unit_address: Option<UnitAddress>,
    /// Where Prometheus scrapes this unit, when `metrics-endpoint` is related: the bind
    /// address of the endpoint (`network-get`), else the pod's FQDN.
    #[serde(default)]
    pub metrics_address: Option<String>,
    /// This unit's current status (`status-get`).
    pub unit_status: Option<StatusValue>,
    /// The application's current status (`status-get --application`; leader only).
    pub app_status: Option<StatusValue>,
    /// The workload version this unit last set, kept in the unit's state (`state-get`, key
    /// [`crate::observe::WORKLOAD_VERSION_KEY`]) since Juju cannot read it back. Read only when
    /// the workload reports a version.
    pub recorded_workload_version: Option<String>,
    /// The server this unit last identified, kept in the unit's state (key
    /// [`crate::observe::WORKLOAD_SERVER_KEY`]): what runs while Pebble does not answer.
    pub recorded_server: Option<crate::workload::Server>,
    /// TLS inputs besides the `certificates` relation: the private key (its public half
    /// only), the files installed in the workload, and the time of this hook.
    pub tls: crate::tls::TlsState,
}

impl Snapshot {
    /// The server in the image: as `oathkeeper version` told in this hook, else as recorded.
    pub fn server(&self) -> Option<&crate::workload::Server> {
        self.container
            .server
            .as_ref()
            .or(self.recorded_server.as_ref())
    }
}

/// The charm's config options (config.yaml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharmConfig {
    /// `dev`: serve plain HTTP even when TLS is available (spec §2).
    pub dev: bool,
    /// `config-source`, as set (parsed by the reconcile, so a bad value becomes a status).
    pub config_source: String,
}

impl Default for CharmConfig {
    fn default() -> CharmConfig {
        CharmConfig {
            dev: false,
            config_source: crate::workload::KUBERNETES_API.to_owned(),
        }
    }
}

/// The `oathkeeper` workload container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// Whether Pebble answered.
    pub can_connect: bool,
    /// Pebble's current plan (empty when Pebble is unreachable).
    pub plan: Layer,
    /// Whether the `oathkeeper` service is active.
    pub service_running: bool,
    /// The version the workload reports, when it answered.
    pub workload_version: Option<String>,
    /// The server `oathkeeper version` names, when it answered.
    pub server: Option<crate::workload::Server>,
}

/// The cluster as this hook saw it: the objects the charm manages, or why they were not read.
/// (The API client is `juju::k8s::Kubernetes`.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum ClusterState {
    /// Not read in this hook (e.g. a non-leader, which manages no Kubernetes objects).
    #[default]
    NotObserved,
    /// The API answered 403: the application was deployed without `--trust`.
    Forbidden,
    /// The objects as read.
    Observed(KubernetesObjects),
}

/// A unit's address on a relation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitAddress {
    /// Host name (Python's `socket.getfqdn()` in upstream).
    pub host: String,
    /// Ingress address.
    pub ip: String,
}

/// One relation as seen from this unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    /// The relation id (`<endpoint>:<id>`).
    pub id: u64,
    /// The remote application (our own for the peer relation).
    pub remote_app: String,
    /// Remote units in scope (observed for the peer relation and `logging` only: nothing else
    /// needs them, and every hook-tool call costs a process).
    pub remote_units: Vec<String>,
    /// The remote units' databags, by unit name (observed for `logging` only: each Loki unit
    /// writes its own push endpoint).
    #[serde(default)]
    pub remote_unit_data: std::collections::BTreeMap<String, Databag>,
    /// The remote application's databag.
    pub remote_app_data: Databag,
    /// Our application's databag: observed for the peer relation and, on the leader, where we
    /// write app data (forward-auth, oathkeeper-info, ingress, the COS relations); empty
    /// otherwise.
    pub local_app_data: Databag,
    /// Our unit's databag: observed where we write unit data (ingress, certificates, and the
    /// peer relation, where upstream's private key may linger); empty otherwise.
    pub local_unit_data: Databag,
}

/// Every relation the charm reads, by endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Relations {
    /// `auth-proxy` (provides; one per protected app).
    pub auth_proxy: Vec<Relation>,
    /// `forward-auth` (provides; Traefik).
    pub forward_auth: Vec<Relation>,
    /// `oathkeeper-info` (provides; e.g. the admin UI).
    pub oathkeeper_info: Vec<Relation>,
    /// `kratos-info` (requires, limit 1).
    pub kratos_info: Option<Relation>,
    /// `ingress` (requires).
    pub ingress: Option<Relation>,
    /// The peer relation `oathkeeper`.
    pub peer: Option<Relation>,
    /// `certificates` (requires, limit 1): the provider's app databag and our unit databag
    /// (where our certificate signing request is).
    pub certificates: Option<Relation>,
    /// `metrics-endpoint` (provides; Prometheus): our app and unit databags.
    #[serde(default)]
    pub metrics_endpoint: Vec<Relation>,
    /// `logging` (requires, limit 1; Loki): the Loki units' databags and our app databag.
    #[serde(default)]
    pub logging: Option<Relation>,
    /// `grafana-dashboard` (provides; Grafana): our app databag.
    #[serde(default)]
    pub grafana_dashboard: Vec<Relation>,
    /// `tracing` (requires, limit 1; Tempo): the provider's app databag (its receivers) and,
    /// on the leader, ours (the protocols we request).
    #[serde(default)]
    pub tracing: Option<Relation>,
}
