//! The State document: everything Juju, Pebble and Kubernetes know about one unit before and
//! after a hook, modelled on ops' Scenario `State` (spec/juju-runtime.md §5.1).
//!
//! It is plain JSON (serde) so a test or a human writes one in a few lines; every field has a
//! default. Builders (`State::default().leader(true).relation(..)`) keep Rust tests short.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::k8s::KubernetesState;
use crate::pebble::ContainerState;

/// A relation databag: string keys to string values.
pub type Bag = BTreeMap<String, String>;

/// The keys Juju puts in every unit databag (spec §2.2 relation-get).
pub const INGRESS_ADDRESS: &str = "ingress-address";
/// See [`INGRESS_ADDRESS`].
pub const PRIVATE_ADDRESS: &str = "private-address";
/// See [`INGRESS_ADDRESS`].
pub const EGRESS_SUBNETS: &str = "egress-subnets";
/// The address Scenario gives every unit and binding.
pub const DEFAULT_ADDRESS: &str = "192.0.2.0";
/// The subnet of [`DEFAULT_ADDRESS`].
pub const DEFAULT_SUBNET: &str = "192.0.2.0/24";

/// One unit's world before or after a hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct State {
    /// The model (its name is also the Kubernetes namespace).
    pub model: Model,
    /// This unit's number: the unit is `<app>/<unit_id>`, the app name coming from metadata.
    pub unit_id: u32,
    /// Whether this unit is the leader.
    pub leader: bool,
    /// The Juju agent version (`JUJU_VERSION`).
    pub juju_version: String,
    /// Config values the operator set; defaults come from `config.yaml`.
    pub config: Map<String, Value>,
    /// Every relation this unit is in, peers included.
    pub relations: Vec<Relation>,
    /// Workload containers by name.
    pub containers: BTreeMap<String, ContainerState>,
    /// The Kubernetes objects of the model.
    pub kubernetes: KubernetesState,
    /// Secrets this unit owns or can see.
    pub secrets: Vec<Secret>,
    /// Ports opened with `open-port`, as the tools spell them (`80/tcp`, `icmp`).
    pub opened_ports: Vec<String>,
    /// This unit's workload status.
    pub unit_status: Status,
    /// The application status (meaningful for the leader).
    pub app_status: Status,
    /// The version set with `application-version-set`.
    pub workload_version: String,
    /// Unit state (`state-get`/`state-set`), stored by the controller.
    pub unit_state: BTreeMap<String, String>,
    /// Network bindings answered by `network-get`; unknown bindings of the metadata get
    /// [`DEFAULT_ADDRESS`].
    pub networks: BTreeMap<String, Network>,
    /// The other units of this app, for `goal-state` (their count is ops' `planned_units`).
    pub planned_units: Option<u32>,
}

impl Default for State {
    fn default() -> State {
        State {
            model: Model::default(),
            unit_id: 0,
            leader: false,
            juju_version: DEFAULT_JUJU_VERSION.to_owned(),
            config: Map::new(),
            relations: Vec::new(),
            containers: BTreeMap::new(),
            kubernetes: KubernetesState::default(),
            secrets: Vec::new(),
            opened_ports: Vec::new(),
            unit_status: Status::default(),
            app_status: Status::default(),
            workload_version: String::new(),
            unit_state: BTreeMap::new(),
            networks: BTreeMap::new(),
            planned_units: None,
        }
    }
}

/// The Juju version the harness claims by default.
pub const DEFAULT_JUJU_VERSION: &str = "3.6.8";

impl State {
    /// Sets leadership.
    pub fn leader(mut self, leader: bool) -> State {
        self.leader = leader;
        self
    }

    /// Sets the unit number.
    pub fn unit_id(mut self, unit_id: u32) -> State {
        self.unit_id = unit_id;
        self
    }

    /// Sets one config value.
    pub fn config(mut self, key: &str, value: impl Into<Value>) -> State {
        self.config.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a relation.
    pub fn relation(mut self, relation: Relation) -> State {
        self.relations.push(relation);
        self
    }

    /// Adds a container.
    pub fn container(mut self, name: &str, container: ContainerState) -> State {
        self.containers.insert(name.to_owned(), container);
        self
    }

    /// The relation with this id.
    pub fn find_relation(&self, id: u64) -> Option<&Relation> {
        self.relations.iter().find(|relation| relation.id == id)
    }

    /// The relation with this id, mutable.
    pub fn find_relation_mut(&mut self, id: u64) -> Option<&mut Relation> {
        self.relations.iter_mut().find(|relation| relation.id == id)
    }

    /// The relations on an endpoint, in id order.
    pub fn relations_on<'a>(&'a self, endpoint: &'a str) -> impl Iterator<Item = &'a Relation> {
        self.relations
            .iter()
            .filter(move |relation| relation.endpoint == endpoint)
    }
}

/// The Juju model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Model {
    /// The model name, also the Kubernetes namespace.
    pub name: String,
    /// The model UUID.
    pub uuid: String,
}

impl Default for Model {
    fn default() -> Model {
        Model {
            name: "test-model".to_owned(),
            uuid: "00000000-0000-4000-8000-000000000000".to_owned(),
        }
    }
}

/// A workload status as Juju stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Status {
    /// `unknown`, `maintenance`, `blocked`, `waiting`, `active` (or `error`).
    pub name: String,
    /// The message, empty when none.
    pub message: String,
}

impl Default for Status {
    fn default() -> Status {
        Status {
            name: "unknown".to_owned(),
            message: String::new(),
        }
    }
}

impl Status {
    /// A status from its word and message.
    pub fn new(name: &str, message: &str) -> Status {
        Status {
            name: name.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// The keys Juju writes into a unit's databag when it enters a relation, with the harness's
/// default address.
pub fn juju_unit_bag() -> Bag {
    bag([
        (EGRESS_SUBNETS, DEFAULT_SUBNET),
        (INGRESS_ADDRESS, DEFAULT_ADDRESS),
        (PRIVATE_ADDRESS, DEFAULT_ADDRESS),
    ])
}

/// One relation, seen from this unit. For a peer relation `remote_app` is this app and
/// `remote_units` are the other units of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Relation {
    /// The relation id (the number in `db:7`).
    pub id: u64,
    /// This charm's endpoint.
    pub endpoint: String,
    /// The other side's application.
    pub remote_app: String,
    /// The remote units in scope, by unit number, with their unit databags.
    pub remote_units: BTreeMap<u32, Bag>,
    /// The remote application databag.
    pub remote_app_data: Bag,
    /// Our application databag (only the leader may write it).
    pub local_app_data: Bag,
    /// Our unit databag. Juju writes its own keys ([`EGRESS_SUBNETS`], [`INGRESS_ADDRESS`],
    /// [`PRIVATE_ADDRESS`]) into it when the unit enters the relation, so the default bag holds
    /// them ([`juju_unit_bag`]); a bag given explicitly is taken as it is, and a key the charm
    /// deletes stays deleted, as in Juju (and Scenario).
    pub local_unit_data: Bag,
    /// The remote model's UUID (cross-model relations); defaults to ours.
    pub remote_model_uuid: Option<String>,
}

impl Default for Relation {
    fn default() -> Relation {
        Relation {
            id: 0,
            endpoint: String::new(),
            remote_app: "remote".to_owned(),
            remote_units: BTreeMap::new(),
            remote_app_data: Bag::new(),
            local_app_data: Bag::new(),
            local_unit_data: juju_unit_bag(),
            remote_model_uuid: None,
        }
    }
}

impl Relation {
    /// A relation `endpoint:id` with `remote_app`, and its unit 0 in scope.
    pub fn new(endpoint: &str, id: u64, remote_app: &str) -> Relation {
        Relation {
            id,
            endpoint: endpoint.to_owned(),
            remote_app: remote_app.to_owned(),
            remote_units: BTreeMap::from([(0, Bag::new())]),
            ..Relation::default()
        }
    }

    /// Sets the remote app databag.
    pub fn remote_app_data<K: Into<String>, V: Into<String>>(
        mut self,
        data: impl IntoIterator<Item = (K, V)>,
    ) -> Relation {
        self.remote_app_data = bag(data);
        self
    }

    /// Sets one remote unit's databag (adding the unit).
    pub fn remote_unit<K: Into<String>, V: Into<String>>(
        mut self,
        unit: u32,
        data: impl IntoIterator<Item = (K, V)>,
    ) -> Relation {
        self.remote_units.insert(unit, bag(data));
        self
    }

    /// Sets our app databag.
    pub fn local_app_data<K: Into<String>, V: Into<String>>(
        mut self,
        data: impl IntoIterator<Item = (K, V)>,
    ) -> Relation {
        self.local_app_data = bag(data);
        self
    }

    /// The remote unit names in scope (`app/N`), in number order.
    pub fn remote_unit_names(&self) -> Vec<String> {
        self.remote_units
            .keys()
            .map(|n| format!("{}/{n}", self.remote_app))
            .collect()
    }
}

fn bag<K: Into<String>, V: Into<String>>(data: impl IntoIterator<Item = (K, V)>) -> Bag {
    data.into_iter()
        .map(|(key, value)| (key.into(), value.into()))
        .collect()
}

/// A secret, modelled on Scenario's: contents per revision, who owns it, who may see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Secret {
    /// The URI (`secret:<xid>`).
    pub id: String,
    /// `app`, `unit`, or absent when another app owns it (we only consume it).
    pub owner: Option<SecretOwner>,
    /// The label this unit knows it by.
    pub label: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Expiry (RFC 3339).
    pub expire: Option<String>,
    /// Rotation policy.
    pub rotate: Option<String>,
    /// Contents by revision number (the last is the latest).
    pub revisions: BTreeMap<u64, Bag>,
    /// The revision this unit tracks (consumers); defaults to the latest.
    pub tracked: Option<u64>,
    /// Grants to remote apps/units, by relation id.
    pub grants: BTreeMap<u64, Vec<String>>,
}

impl Secret {
    /// The latest revision number (0 when there is none).
    pub fn latest(&self) -> u64 {
        self.revisions.keys().next_back().copied().unwrap_or(0)
    }
}

/// Who owns a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretOwner {
    /// The application (the leader manages it).
    App,
    /// This unit.
    Unit,
}

/// A network binding, as `network-get` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// The interface name.
    pub interface: String,
    /// The bind address.
    pub address: String,
    /// The subnet of the bind address.
    pub cidr: String,
    /// Ingress addresses.
    pub ingress_addresses: Vec<String>,
    /// Egress subnets.
    pub egress_subnets: Vec<String>,
}

impl Default for Network {
    fn default() -> Network {
        Network {
            interface: "eth0".to_owned(),
            address: DEFAULT_ADDRESS.to_owned(),
            cidr: DEFAULT_SUBNET.to_owned(),
            ingress_addresses: vec![DEFAULT_ADDRESS.to_owned()],
            egress_subnets: vec![DEFAULT_SUBNET.to_owned()],
        }
    }
}
