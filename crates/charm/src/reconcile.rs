//! `reconcile(&Snapshot) -> Desired`: pure, total, never fails.
//!
//! Reads no environment, no clock, does no I/O and never sees the hook name. Bad or missing
//! inputs become statuses (see [`crate::status`]) plus whatever desired state can still be
//! computed. Leader-only state is computed only when `snapshot.leader`.

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::{DatabagWrite, Desired, LeaderDesired, Ownership, Scope};
use crate::facts::Facts;
use crate::kubernetes::{
    ACCESS_RULES_CONFIG_MAP, ACCESS_RULES_VOLUME, ADMIN_UI_RULES_KEY, API_PORT_NAME, CONFIG_VOLUME,
    ConfigMap, KubernetesObjects, LABEL_APP_NAME, LABEL_MANAGED_BY, MANAGED_BY_JUJU,
    METRICS_PORT_NAME, OATHKEEPER_CONFIG_KEY, OATHKEEPER_CONFIG_MAP, PodTemplate, ServicePort,
    Volume, VolumeMount,
};
use crate::relation::forward_auth::{self, ForwardAuthConfig};
use crate::relation::ingress::{self, IngressRequest};
use crate::relation::oathkeeper_info::{self, OathkeeperInfo};
use crate::relation::{Databag, grafana_dashboard, logging, metrics_endpoint, peer, tracing};
use crate::rules;
use crate::snapshot::{ClusterState, Snapshot};
use crate::status::StatusValue;
use crate::topology::Topology;
use crate::workload::{self, API_PORT, METRICS_PORT};

/// Computes the desired state from the snapshot.
pub fn reconcile(snapshot: &Snapshot) -> Desired {
    let facts = Facts::gather(snapshot);
    let unit_status = facts.status(snapshot);
    let tls = &facts.tls;
    let host = workload::service_host(&snapshot.app, &snapshot.model);
    let mut unit_relation_data = Vec::new();
    if let (Some(relation), Some(address)) = (&snapshot.relations.ingress, &snapshot.unit_address) {
        unit_relation_data.push(DatabagWrite {
            endpoint: ingress::ENDPOINT.to_owned(),
            relation_id: relation.id,
            scope: Scope::Unit,
            data: ingress::render_unit(&address.host, &address.ip),
            // Issue 15: Juju's own keys share this bag; deleting them rewrote it every hook.
            ownership: Ownership::Keys(vec![ingress::HOST.to_owned(), ingress::IP.to_owned()]),
        });
    }
    if let Some(address) = &snapshot.metrics_address {
        for relation in &snapshot.relations.metrics_endpoint {
            unit_relation_data.push(DatabagWrite {
                endpoint: metrics_endpoint::ENDPOINT.to_owned(),
                relation_id: relation.id,
                scope: Scope::Unit,
                data: metrics_endpoint::render_unit(address, &snapshot.unit),
                ownership: owned(&metrics_endpoint::UNIT_KEYS),
            });
        }
    }
    if let Some(relation) = &snapshot.relations.peer {
        // Differs from upstream: no private key in plain relation data (upstream's CertHandler
        // kept it in this bag); what a refreshed unit still has there is removed.
        unit_relation_data.push(DatabagWrite {
            endpoint: peer::ENDPOINT.to_owned(),
            relation_id: relation.id,
            scope: Scope::Unit,
            data: Databag::new(),
            ownership: Ownership::Keys(
                peer::UPSTREAM_CERT_KEYS
                    .iter()
                    .map(|k| (*k).to_owned())
                    .collect(),
            ),
        });
    }
    // The one leader guard: nothing below is computed on a non-leader.
    let leader = snapshot
        .leader
        .then(|| leader_desired(snapshot, &facts, &unit_status));
    let log_forwarding = snapshot
        .container
        .can_connect
        .then(|| {
            logging::layer(
                &facts.loki,
                &snapshot.container.plan,
                &Topology::of(snapshot),
            )
        })
        .flatten();
    Desired {
        log_forwarding,
        // Without trust the ConfigMaps cannot exist: no workload to start (issue 15).
        layer: (snapshot.container.can_connect && snapshot.kubernetes != ClusterState::Forbidden)
            .then(|| {
                workload::layer_for(
                    facts.config_source,
                    &snapshot.model,
                    tls.serve.then_some(host.as_str()),
                    // Ory's server reads tracing only at start: the environment, and a
                    // restart when it changes. Ours reads the config file live.
                    facts
                        .tracing
                        .as_ref()
                        .filter(|_| facts.ory_server.is_some()),
                )
            }),
        unit_relation_data,
        unit_status,
        workload_version: snapshot.container.workload_version.clone(),
        leader,
        tls: facts.tls.clone(),
    }
}

/// Ownership of exactly `keys`.
fn owned(keys: &[&str]) -> Ownership {
    Ownership::Keys(keys.iter().map(|k| (*k).to_owned()).collect())
}

/// The scheme of our addresses: the one TLS decision ([`crate::tls::TlsDecision::serve`]),
/// which already accounts for `dev` (spec §2).
fn scheme(facts: &Facts) -> &'static str {
    workload::scheme(facts.tls.serve, false)
}

fn leader_desired(snapshot: &Snapshot, facts: &Facts, status: &StatusValue) -> LeaderDesired {
    let host = workload::service_host(&snapshot.app, &snapshot.model);
    let scheme = scheme(facts);
    let mut app_relation_data = Vec::new();
    let mut write = |endpoint: &str, relation_id: u64, data, ownership| {
        app_relation_data.push(DatabagWrite {
            endpoint: endpoint.to_owned(),
            relation_id,
            scope: Scope::App,
            data,
            ownership,
        });
    };
    let forward_auth_config = ForwardAuthConfig {
        decisions_address: format!(
            "{scheme}://{host}:{API_PORT}{}",
            forward_auth::DECISIONS_PATH
        ),
        app_names: facts.app_names.clone(),
        headers: facts.headers.clone(),
    };
    for relation in &snapshot.relations.forward_auth {
        write(
            forward_auth::ENDPOINT,
            relation.id,
            forward_auth::render(&forward_auth_config),
            Ownership::All,
        );
    }
    let info = OathkeeperInfo {
        public_endpoint: facts
            .ingress_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{host}:{API_PORT}")),
        rules_configmap_name: ACCESS_RULES_CONFIG_MAP.to_owned(),
        configmaps_namespace: snapshot.model.clone(),
    };
    for relation in &snapshot.relations.oathkeeper_info {
        write(
            oathkeeper_info::ENDPOINT,
            relation.id,
            oathkeeper_info::render(&info),
            Ownership::All,
        );
    }
    if let Some(relation) = &snapshot.relations.ingress {
        let request = IngressRequest {
            model: snapshot.model.clone(),
            name: snapshot.app.clone(),
            port: API_PORT,
            strip_prefix: true,
        };
        write(
            ingress::ENDPOINT,
            relation.id,
            ingress::render_app(&request),
            Ownership::All,
        );
    }
    let topology = Topology::of(snapshot);
    for relation in &snapshot.relations.metrics_endpoint {
        write(
            metrics_endpoint::ENDPOINT,
            relation.id,
            metrics_endpoint::render_app(&topology, workload::METRICS_PATH, METRICS_PORT),
            owned(&metrics_endpoint::APP_KEYS),
        );
    }
    if !snapshot.relations.grafana_dashboard.is_empty() {
        // One value for every Grafana: compressed once.
        let data = grafana_dashboard::render_app(&topology);
        for relation in &snapshot.relations.grafana_dashboard {
            write(
                grafana_dashboard::ENDPOINT,
                relation.id,
                data.clone(),
                owned(&grafana_dashboard::APP_KEYS),
            );
        }
    }
    if let Some(relation) = &snapshot.relations.logging {
        write(
            logging::ENDPOINT,
            relation.id,
            logging::render_app(&topology),
            owned(&logging::APP_KEYS),
        );
    }
    if let Some(relation) = &snapshot.relations.tracing {
        write(
            tracing::ENDPOINT,
            relation.id,
            tracing::render_requirer(),
            owned(&tracing::APP_KEYS),
        );
    }
    if let Some(relation) = &snapshot.relations.peer {
        let bookkeeping = facts
            .valid_files()
            .map(|(app, files)| {
                let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
                (
                    peer::auth_proxy_key(app.relation_id),
                    peer::render_filenames(&names),
                )
            })
            .collect();
        write(
            peer::ENDPOINT,
            relation.id,
            bookkeeping,
            Ownership::Prefix(peer::AUTH_PROXY_KEY_PREFIX.to_owned()),
        );
    }
    let kubernetes = match &snapshot.kubernetes {
        ClusterState::Observed(objects) => Some(kubernetes_desired(snapshot, objects, facts)),
        ClusterState::NotObserved | ClusterState::Forbidden => None,
    };
    LeaderDesired {
        kubernetes,
        app_relation_data,
        app_status: status.clone(),
    }
}

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_APP_NAME.to_owned(), app.to_owned()),
        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY_JUJU.to_owned()),
    ])
}

/// The rules ConfigMap keeps keys other charms wrote (e.g. the admin UI's), drops every rules
/// file this charm generated (recorded in the peer databag, or named like one), then adds the
/// files of every valid requirer.
fn access_rules_data(
    snapshot: &Snapshot,
    objects: &KubernetesObjects,
    facts: &Facts,
) -> BTreeMap<String, String> {
    let recorded: BTreeSet<String> = snapshot
        .relations
        .peer
        .iter()
        .flat_map(|p| peer::recorded_filenames(&p.local_app_data).into_values())
        .flatten()
        .collect();
    let mut data: BTreeMap<String, String> = objects
        .config_maps
        .get(ACCESS_RULES_CONFIG_MAP)
        .map(|cm| {
            cm.data
                .iter()
                .filter(|(k, _)| !recorded.contains(*k) && !rules::is_generated_file_name(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (_, files) in facts.valid_files() {
        for file in files {
            data.insert(file.name.clone(), file.to_json());
        }
    }
    if !snapshot.relations.oathkeeper_info.is_empty() {
        data.entry(ADMIN_UI_RULES_KEY.to_owned()).or_default();
    }
    data
}

fn kubernetes_desired(
    snapshot: &Snapshot,
    objects: &KubernetesObjects,
    facts: &Facts,
) -> KubernetesObjects {
    let rules_data = access_rules_data(snapshot, objects, facts);
    let config = workload::render_config(&workload::ConfigInputs {
        kratos: facts.kratos.as_ref(),
        rule_files: rules_data.keys().map(String::as_str).collect(),
        headers: facts.headers.iter().map(String::as_str).collect(),
        watched_namespace: (facts.config_source == workload::ConfigSource::KubernetesApi)
            .then_some(snapshot.model.as_str()),
        tracing: facts.tracing.as_ref(),
    });
    let config_maps = BTreeMap::from([
        (
            ACCESS_RULES_CONFIG_MAP.to_owned(),
            ConfigMap {
                labels: labels(&snapshot.app),
                data: rules_data,
            },
        ),
        (
            OATHKEEPER_CONFIG_MAP.to_owned(),
            ConfigMap {
                labels: labels(&snapshot.app),
                data: BTreeMap::from([(OATHKEEPER_CONFIG_KEY.to_owned(), config)]),
            },
        ),
    ]);
    KubernetesObjects {
        config_maps,
        // Watched through the API, the ConfigMaps need no mounts (and no pod restart).
        statefulset: match facts.config_source {
            workload::ConfigSource::MountedVolumes => statefulset(),
            workload::ConfigSource::KubernetesApi => PodTemplate::default(),
        },
        service_ports: vec![
            ServicePort {
                name: API_PORT_NAME.to_owned(),
                port: API_PORT,
            },
            ServicePort {
                name: METRICS_PORT_NAME.to_owned(),
                port: METRICS_PORT,
            },
        ],
    }
}

/// The volumes and mounts of spec §4.6.
pub fn statefulset() -> PodTemplate {
    PodTemplate {
        volumes: vec![
            Volume {
                name: CONFIG_VOLUME.to_owned(),
                config_map: OATHKEEPER_CONFIG_MAP.to_owned(),
            },
            Volume {
                name: ACCESS_RULES_VOLUME.to_owned(),
                config_map: ACCESS_RULES_CONFIG_MAP.to_owned(),
            },
        ],
        mounts: vec![
            VolumeMount {
                name: CONFIG_VOLUME.to_owned(),
                mount_path: workload::CONFIG_DIR.to_owned(),
                read_only: true,
            },
            VolumeMount {
                name: ACCESS_RULES_VOLUME.to_owned(),
                mount_path: workload::ACCESS_RULES_DIR.to_owned(),
                read_only: true,
            },
        ],
    }
}

#[cfg(test)]
mod tests;
