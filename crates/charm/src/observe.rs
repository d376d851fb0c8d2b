//! `observe`: fills the [`Snapshot`] from hook tools, Pebble and Kubernetes. The only place the
//! charm reads the world; [`crate::reconcile`] sees nothing else.
//!
//! Unreachable Pebble is a fact (`can_connect: false`), not an error; so is a 403 from
//! Kubernetes (`ClusterState::Forbidden`: the app is not trusted). Hook-tool failures and an
//! unreachable API server are errors: Juju retries the hook.

use std::collections::BTreeMap;

use juju::event::{Event, RelationHook};
use juju::k8s::Kubernetes;
use juju::tool::relation::RelationId;
use serde_json::Value;

use crate::error::HookError;
use crate::io::Io;
use crate::kubernetes::{
    ACCESS_RULES_CONFIG_MAP, ConfigMap, KubernetesObjects, OATHKEEPER_CONFIG_MAP, PodTemplate,
    ServicePort, Volume, VolumeMount,
};
use crate::relation::{
    auth_proxy, certificates, forward_auth, grafana_dashboard, ingress, kratos_info, logging,
    metrics_endpoint, oathkeeper_info, peer, tracing,
};
use crate::snapshot::{
    CharmConfig, ClusterState, Container, Relation, Relations, Snapshot, UnitAddress,
};
use crate::status::{StatusKind, StatusValue};
use crate::tls::{InstalledTls, PrivateKeyState, TlsState};
use crate::workload::{self, CONTAINER, Server, VERSION_COMMAND};
use juju::pebble::client::ExecOptions;
use juju::tool::secret::{Revision, SecretRef};

/// The config option `dev`.
const DEV: &str = "dev";
/// The unit-state key (`state-get`/`state-set`) of the workload version last set.
pub const WORKLOAD_VERSION_KEY: &str = "workload-version";
/// The unit-state key of the server last identified ([`crate::workload::Server::record`]).
pub const WORKLOAD_SERVER_KEY: &str = "workload-server";

/// Reads everything the reconcile needs.
pub fn observe(io: &Io) -> Result<Snapshot, HookError> {
    let leader = io.tools.is_leader()?;
    let config = io.tools.config_get()?;
    let relations = relations(io, leader)?;
    let unit_address = match &relations.ingress {
        Some(_) => Some(unit_address(io)?),
        None => None,
    };
    let metrics_address = if relations.metrics_endpoint.is_empty() {
        None
    } else {
        Some(metrics_address(io)?)
    };
    let mut unit_state = io.tools.state_get()?;
    let recorded_workload_version = unit_state.remove(WORKLOAD_VERSION_KEY);
    let recorded_server = unit_state
        .remove(WORKLOAD_SERVER_KEY)
        .and_then(|text| Server::from_record(&text));
    // The image changes only with the pod (a new resource restarts it: pebble-ready) or a
    // refresh keeping it (upgrade-charm); otherwise the recorded server stands.
    let hook = io.env.hook_name.as_deref().unwrap_or_default();
    let probe =
        recorded_server.is_none() || hook == "upgrade-charm" || hook.ends_with("-pebble-ready");
    let key_secret = unit_state.remove(crate::tls::KEY_SECRET_STATE_KEY);
    let tls_installed = installed_tls(io);
    let container = container(io, probe, tls_installed.as_ref());
    let private_key = key_secret
        .map(|secret_id| private_key(io, secret_id, relations.certificates.is_some()))
        .transpose()?;
    let unit_status = status_value(&io.tools.status_get_unit()?);
    let app_status = if leader {
        status_value(&io.tools.status_get_app()?.status)
    } else {
        None
    };
    Ok(Snapshot {
        model: io.env.model_name.clone(),
        model_uuid: io.env.model_uuid.clone(),
        app: io.env.app.clone(),
        unit: io.env.unit.clone(),
        leader,
        config: CharmConfig {
            dev: config.get(DEV).and_then(Value::as_bool).unwrap_or(false),
            config_source: config
                .get(crate::workload::CONFIG_SOURCE_OPTION)
                .and_then(Value::as_str)
                .unwrap_or(crate::workload::KUBERNETES_API)
                .to_owned(),
        },
        container,
        // Only the leader writes Kubernetes objects, so only the leader reads them.
        kubernetes: if leader {
            kubernetes(io)?
        } else {
            ClusterState::NotObserved
        },
        relations,
        unit_address,
        metrics_address,
        unit_status,
        app_status,
        recorded_workload_version,
        recorded_server,
        tls: TlsState {
            private_key,
            installed: tls_installed,
            now: unix_now(),
        },
    })
}

/// The time of this hook, in seconds since the Unix epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The private key's secret (id from the unit's state), read only while related: only its
/// public half enters the snapshot. A secret that is gone has no public key (a new one is
/// made).
fn private_key(io: &Io, secret_id: String, related: bool) -> Result<PrivateKeyState, HookError> {
    let public_key = if related {
        match read_private_key(io, &secret_id) {
            Ok(pem) => crate::tls::public_key(&pem).ok(),
            Err(juju::tool::Error::SecretNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    Ok(PrivateKeyState {
        secret_id,
        public_key,
    })
}

/// The private key (PEM) kept in secret `secret_id` (its latest revision: `--peek`, which
/// owners and consumers alike may ask for); empty when the content lacks it.
pub(crate) fn read_private_key(io: &Io, secret_id: &str) -> Result<String, juju::tool::Error> {
    let content = io
        .tools
        .secret_get(&SecretRef::Id(secret_id.to_owned()), Revision::Peek)?;
    Ok(content
        .get(crate::tls::KEY_SECRET_FIELD)
        .cloned()
        .unwrap_or_default())
}

/// The TLS files in the workload: `None` when their directory does not exist or Pebble does
/// not answer; a file that cannot be read counts as empty (and is rewritten).
fn installed_tls(io: &Io) -> Option<InstalledTls> {
    io.pebble.list_files(crate::tls::TLS_DIR).ok()?;
    let read = |path: &str| {
        io.pebble
            .pull(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    Some(InstalledTls {
        certificate: read(crate::tls::CERT_FILE),
        ca: read(crate::tls::CA_FILE),
    })
}

/// A status the charm can set, as the reconcile compares it (`unknown` and Juju's own are none).
fn status_value(info: &juju::tool::status::StatusInfo) -> Option<StatusValue> {
    let kind = StatusKind::try_from(info.status).ok()?;
    Some(StatusValue::new(kind, info.message.clone()))
}

fn container(io: &Io, probe: bool, tls: Option<&InstalledTls>) -> Container {
    let Ok(plan) = io.pebble.plan() else {
        return Container::default();
    };
    let service_running = io.service_running();
    // Which binary the image holds; a refresh may keep an image with Ory's server.
    let server = probe
        .then(|| {
            io.pebble
                .exec(&VERSION_COMMAND, &ExecOptions::default())
                .ok()
        })
        .flatten()
        .filter(|output| output.exit_code == 0)
        .and_then(|output| Server::identify(&output.stdout));
    let workload_version = if service_running {
        let api_tls = workload::serves_https(&plan)
            .then(|| tls.map(|t| io.api_tls(&t.ca)))
            .flatten();
        match io.api_get("/version", api_tls.as_ref()) {
            crate::action::ApiResponse::Ok(body) => serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("version").and_then(Value::as_str).map(str::to_owned)),
            _ => None,
        }
    } else {
        None
    };
    Container {
        can_connect: true,
        plan,
        service_running,
        // Ory's server routes no `/version`: its CLI tells.
        workload_version: workload_version
            .or_else(|| server.as_ref().map(|s| s.version().to_owned())),
        server,
    }
}

fn kubernetes(io: &Io) -> Result<ClusterState, HookError> {
    let api = io.kubernetes()?;
    match io.runtime.block_on(objects(&api, &io.env.app)) {
        Ok(objects) => Ok(ClusterState::Observed(objects)),
        Err(juju::k8s::Error::NotTrusted { .. }) => Ok(ClusterState::Forbidden),
        Err(e) => Err(e.into()),
    }
}

async fn objects(api: &Kubernetes, app: &str) -> Result<KubernetesObjects, juju::k8s::Error> {
    let mut config_maps = BTreeMap::new();
    for name in [ACCESS_RULES_CONFIG_MAP, OATHKEEPER_CONFIG_MAP] {
        if let Some(found) = api.get_config_map(name).await? {
            config_maps.insert(
                name.to_owned(),
                ConfigMap {
                    labels: found.metadata.labels.unwrap_or_default(),
                    data: found.data.unwrap_or_default(),
                },
            );
        }
    }
    let statefulset = api
        .get_stateful_set(app)
        .await?
        .map(|set| pod_template(&set))
        .unwrap_or_default();
    let service_ports = api
        .get_service(app)
        .await?
        .and_then(|service| service.spec)
        .and_then(|spec| spec.ports)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|port| {
            Some(ServicePort {
                name: port.name?,
                port: u16::try_from(port.port).ok()?,
            })
        })
        .collect();
    Ok(KubernetesObjects {
        config_maps,
        statefulset,
        service_ports,
    })
}

/// The ConfigMap volumes of the pod template and the workload container's mounts.
fn pod_template(set: &k8s_openapi::api::apps::v1::StatefulSet) -> PodTemplate {
    let Some(spec) = set.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        return PodTemplate::default();
    };
    let volumes = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|volume| {
            Some(Volume {
                name: volume.name.clone(),
                config_map: volume.config_map.as_ref()?.name.clone(),
            })
        })
        .collect();
    let mounts = spec
        .containers
        .iter()
        .filter(|c| c.name == CONTAINER)
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .map(|mount| VolumeMount {
            name: mount.name.clone(),
            mount_path: mount.mount_path.clone(),
            read_only: mount.read_only.unwrap_or(false),
        })
        .collect();
    PodTemplate { volumes, mounts }
}

/// This unit's pod FQDN, `<app>-<n>.<app>-endpoints.<model>.svc.cluster.local`.
fn pod_fqdn(io: &Io) -> String {
    let env = &io.env;
    format!(
        "{}-{}.{}-endpoints.{}.svc.cluster.local",
        env.app, env.unit_number, env.app, env.model_name
    )
}

/// Where Prometheus scrapes this unit: the `metrics-endpoint` bind address, as the library's
/// `network.bind_address`, else the pod FQDN.
fn metrics_address(io: &Io) -> Result<String, HookError> {
    let network = io.tools.network_get(metrics_endpoint::ENDPOINT, None)?;
    Ok(network
        .bind_addresses
        .iter()
        .flat_map(|b| &b.addresses)
        .map(|a| a.value.clone())
        .find(|a| !a.is_empty())
        .unwrap_or_else(|| pod_fqdn(io)))
}

fn unit_address(io: &Io) -> Result<UnitAddress, HookError> {
    let network = io.tools.network_get(ingress::ENDPOINT, None)?;
    let ip = network
        .ingress_addresses
        .first()
        .cloned()
        .unwrap_or_default();
    Ok(UnitAddress {
        host: pod_fqdn(io),
        ip,
    })
}

/// The relation being broken in this hook, which Juju still lists on some versions.
fn breaking(io: &Io) -> Option<u64> {
    match &io.env.event {
        Event::Relation {
            hook: RelationHook::Broken,
            id,
            ..
        } => Some(*id),
        _ => None,
    }
}

/// What the reconcile reads of an endpoint's relations; every hook-tool call is a process, so
/// the shell reads nothing else (a hook makes ~20 calls instead of ~35 with the tutorial's
/// relations).
#[derive(Debug, Clone, Copy)]
struct Reads {
    /// The remote application's databag (not for the peer relation: it has none of its own).
    remote_app: bool,
    /// Our application databag: where we write app data, and the shared peer bag.
    local_app: bool,
    /// Our unit databag: where we write unit data.
    local_unit: bool,
    /// The remote units in scope.
    units: bool,
    /// The remote units' databags (implies `units`).
    unit_data: bool,
}

/// Per endpoint, what to read (the leader's app-bag writes need the current bag to compare).
/// `refresh`: this is `upgrade-charm`, the one hook after which a unit's peer bag can still
/// hold what upstream's charm left there.
fn reads(endpoint: &str, leader: bool, refresh: bool) -> Reads {
    let remote_only = Reads {
        remote_app: true,
        local_app: false,
        local_unit: false,
        units: false,
        unit_data: false,
    };
    match endpoint {
        // Our unit bag too after a refresh: upstream's CertHandler left the private key there
        // (read once, not on every hook: nothing of ours ever writes it back).
        peer::ENDPOINT => Reads {
            remote_app: false,
            local_app: true,
            local_unit: refresh,
            units: true,
            unit_data: false,
        },
        forward_auth::ENDPOINT | oathkeeper_info::ENDPOINT => Reads {
            local_app: leader,
            ..remote_only
        },
        ingress::ENDPOINT => Reads {
            local_app: leader,
            local_unit: true,
            ..remote_only
        },
        // Our app (leader) and unit databags are all we write; Prometheus writes nothing.
        metrics_endpoint::ENDPOINT => Reads {
            local_app: leader,
            local_unit: true,
            ..remote_only
        },
        // Our app databag (leader) is all we write; Grafana writes nothing we read.
        grafana_dashboard::ENDPOINT => Reads {
            local_app: leader,
            ..remote_only
        },
        // Each Loki unit writes its push endpoint in its unit databag.
        logging::ENDPOINT => Reads {
            local_app: leader,
            units: true,
            unit_data: true,
            ..remote_only
        },
        // Our request (leader) is in our app databag; Tempo answers in its app databag.
        tracing::ENDPOINT => Reads {
            local_app: leader,
            ..remote_only
        },
        // Our request is in our unit databag; the provider answers in its app databag.
        certificates::ENDPOINT => Reads {
            local_unit: true,
            ..remote_only
        },
        _ => remote_only,
    }
}

fn relations(io: &Io, leader: bool) -> Result<Relations, HookError> {
    let refresh = io.env.hook_name.as_deref() == Some("upgrade-charm");
    let read = |endpoint: &str| -> Result<Vec<Relation>, HookError> {
        let mut found = Vec::new();
        for id in io.tools.relation_ids(endpoint)? {
            if Some(id.id) == breaking(io) {
                continue;
            }
            found.push(relation(io, &id, reads(endpoint, leader, refresh))?);
        }
        Ok(found)
    };
    Ok(Relations {
        auth_proxy: read(auth_proxy::ENDPOINT)?,
        forward_auth: read(forward_auth::ENDPOINT)?,
        oathkeeper_info: read(oathkeeper_info::ENDPOINT)?,
        kratos_info: read(kratos_info::ENDPOINT)?.into_iter().next(),
        ingress: read(ingress::ENDPOINT)?.into_iter().next(),
        peer: read(peer::ENDPOINT)?.into_iter().next(),
        certificates: read(certificates::ENDPOINT)?.into_iter().next(),
        metrics_endpoint: read(metrics_endpoint::ENDPOINT)?,
        logging: read(logging::ENDPOINT)?.into_iter().next(),
        grafana_dashboard: read(grafana_dashboard::ENDPOINT)?,
        tracing: read(tracing::ENDPOINT)?.into_iter().next(),
    })
}

fn relation(io: &Io, id: &RelationId, reads: Reads) -> Result<Relation, HookError> {
    let tools = &io.tools;
    // A peer relation's remote app is this app.
    let remote_app = if reads.remote_app {
        tools.relation_remote_app(id)?
    } else {
        io.env.app.clone()
    };
    let remote_units = if reads.units || reads.unit_data {
        tools.relation_list(id)?
    } else {
        Vec::new()
    };
    let mut remote_unit_data = BTreeMap::new();
    if reads.unit_data {
        for unit in &remote_units {
            remote_unit_data.insert(unit.clone(), tools.relation_get(id, unit)?);
        }
    }
    let remote_app_data = if reads.remote_app {
        tools.relation_get(id, &remote_app)?
    } else {
        BTreeMap::new()
    };
    let local_app_data = if reads.local_app {
        tools.relation_get(id, &io.env.app)?
    } else {
        BTreeMap::new()
    };
    let local_unit_data = if reads.local_unit {
        tools.relation_get(id, &io.env.unit)?
    } else {
        BTreeMap::new()
    };
    Ok(Relation {
        id: id.id,
        remote_app,
        remote_units,
        remote_unit_data,
        remote_app_data,
        local_app_data,
        local_unit_data,
    })
}
