//! `plan(&Snapshot, &Desired) -> Effects`: only what differs, so a repeated hook only reads.

use std::collections::BTreeMap;

use juju::pebble::layer::Layer;
use serde::{Deserialize, Serialize};

use crate::desired::{DatabagWrite, Desired, Scope};
use crate::kubernetes::{
    ACCESS_RULES_CONFIG_MAP, ConfigMap, OATHKEEPER_CONFIG_MAP, PodTemplate, ServicePort,
};
use crate::relation::{
    Databag, auth_proxy, certificates, forward_auth, grafana_dashboard, ingress, kratos_info,
    logging, metrics_endpoint, oathkeeper_info, peer, tracing,
};
use crate::snapshot::{ClusterState, Relation, Snapshot};
use crate::status::StatusValue;
use crate::tls::{KeyAction, TlsFiles};
use crate::workload;

/// One change to the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Create a ConfigMap (it does not exist).
    CreateConfigMap {
        /// Its name.
        name: String,
        /// Its labels and data.
        config_map: ConfigMap,
    },
    /// Patch a ConfigMap's data: set these keys, delete those. A patch, not a replace, so keys
    /// other charms write concurrently survive.
    PatchConfigMap {
        /// Its name.
        name: String,
        /// Keys to set.
        set: BTreeMap<String, String>,
        /// Keys to delete.
        remove: Vec<String>,
    },
    /// Delete a ConfigMap (teardown); a ConfigMap already gone is not an error.
    DeleteConfigMap {
        /// Its name.
        name: String,
    },
    /// Strategic-merge patch of the StatefulSet's pod template (spec §4.6).
    PatchStatefulSet {
        /// The volumes and mounts to have.
        template: PodTemplate,
    },
    /// Set the Service's ports (spec §4.2 item 9).
    PatchService {
        /// The ports.
        ports: Vec<ServicePort>,
    },
    /// `relation-set`: set keys and delete keys (an empty value deletes).
    SetRelationData {
        /// The endpoint.
        endpoint: String,
        /// The relation id.
        relation_id: u64,
        /// App (`--app`) or unit databag.
        scope: Scope,
        /// Keys to set.
        set: Databag,
        /// Keys to delete.
        unset: Vec<String>,
    },
    /// Add our layer with `combine: true`.
    AddLayer {
        /// The layer label.
        label: String,
        /// The layer.
        layer: Layer,
    },
    /// `replan`: start or restart services whose plan changed.
    Replan,
    /// `status-set`.
    SetUnitStatus(StatusValue),
    /// `status-set --application`.
    SetAppStatus(StatusValue),
    /// `application-version-set`.
    SetWorkloadVersion(String),
    /// `state-set`: the server the image holds, remembered for hooks where Pebble is down.
    RecordServer(crate::workload::Server),
    /// Generate a private key (ECDSA P-256) and keep it in a new unit-owned secret, its id in
    /// the unit's state. The key itself never appears in an effect.
    CreatePrivateKey,
    /// Sign a new certificate signing request with our key and publish it in our unit databag
    /// of the `certificates` relation.
    RequestCertificate {
        /// The relation id.
        relation_id: u64,
    },
    /// Push the certificate chain, the private key (mode 0600, read from its secret), the CA,
    /// and the CA into the workload's CA bundle.
    InstallTlsFiles(crate::tls::TlsFiles),
    /// Remove the TLS files, and our CA from the workload's CA bundle.
    RemoveTlsFiles,
    /// Restart the service: Ory's server reads its certificate only at start.
    Restart,
    /// `secret-set --expire`: the key's secret expires when the certificate is due for
    /// renewal, so Juju runs `secret-expired` then (a hook, hence a reconcile that renews).
    ExpireKeyAtRenewal {
        /// The secret's id.
        secret_id: String,
        /// Seconds from now.
        after_seconds: i64,
    },
    /// Remove the private key's secret (the `certificates` relation is gone).
    RemovePrivateKey {
        /// The secret's id.
        secret_id: String,
    },
}

impl Effect {
    /// Whether only the leader may apply this effect.
    pub fn is_leader_only(&self) -> bool {
        match self {
            Effect::CreateConfigMap { .. }
            | Effect::PatchConfigMap { .. }
            | Effect::DeleteConfigMap { .. }
            | Effect::PatchStatefulSet { .. }
            | Effect::PatchService { .. }
            | Effect::SetAppStatus(_) => true,
            Effect::SetRelationData { scope, .. } => *scope == Scope::App,
            Effect::AddLayer { .. }
            | Effect::Replan
            | Effect::SetUnitStatus(_)
            | Effect::SetWorkloadVersion(_)
            | Effect::RecordServer(_)
            | Effect::CreatePrivateKey
            | Effect::RequestCertificate { .. }
            | Effect::InstallTlsFiles(_)
            | Effect::RemoveTlsFiles
            | Effect::Restart
            | Effect::ExpireKeyAtRenewal { .. }
            | Effect::RemovePrivateKey { .. } => false,
        }
    }
}

/// The effects of one hook, in the order to apply them: Kubernetes objects first (the
/// workload reads them), then the private key and certificate request, the TLS files (before
/// the layer that names them), the workload, then relation data, then statuses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Effects {
    /// The effects, in order.
    pub items: Vec<Effect>,
}

impl Effects {
    /// True when the hook only read.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Our relation of `endpoint` with id `relation_id`, if the snapshot has it.
pub fn find_relation<'a>(
    snapshot: &'a Snapshot,
    endpoint: &str,
    relation_id: u64,
) -> Option<&'a Relation> {
    let r = &snapshot.relations;
    let many: &[Relation] = match endpoint {
        auth_proxy::ENDPOINT => &r.auth_proxy,
        forward_auth::ENDPOINT => &r.forward_auth,
        oathkeeper_info::ENDPOINT => &r.oathkeeper_info,
        kratos_info::ENDPOINT => r.kratos_info.as_slice(),
        ingress::ENDPOINT => r.ingress.as_slice(),
        peer::ENDPOINT => r.peer.as_slice(),
        certificates::ENDPOINT => r.certificates.as_slice(),
        metrics_endpoint::ENDPOINT => &r.metrics_endpoint,
        logging::ENDPOINT => r.logging.as_slice(),
        grafana_dashboard::ENDPOINT => &r.grafana_dashboard,
        tracing::ENDPOINT => r.tracing.as_slice(),
        _ => &[],
    };
    many.iter().find(|rel| rel.id == relation_id)
}

fn find_relation_mut<'a>(
    snapshot: &'a mut Snapshot,
    endpoint: &str,
    relation_id: u64,
) -> Option<&'a mut Relation> {
    let r = &mut snapshot.relations;
    let many: &mut [Relation] = match endpoint {
        auth_proxy::ENDPOINT => &mut r.auth_proxy,
        forward_auth::ENDPOINT => &mut r.forward_auth,
        oathkeeper_info::ENDPOINT => &mut r.oathkeeper_info,
        kratos_info::ENDPOINT => r.kratos_info.as_mut_slice(),
        ingress::ENDPOINT => r.ingress.as_mut_slice(),
        peer::ENDPOINT => r.peer.as_mut_slice(),
        certificates::ENDPOINT => r.certificates.as_mut_slice(),
        metrics_endpoint::ENDPOINT => &mut r.metrics_endpoint,
        logging::ENDPOINT => r.logging.as_mut_slice(),
        grafana_dashboard::ENDPOINT => &mut r.grafana_dashboard,
        tracing::ENDPOINT => r.tracing.as_mut_slice(),
        _ => &mut [],
    };
    many.iter_mut().find(|rel| rel.id == relation_id)
}

fn databag_effect(snapshot: &Snapshot, write: &DatabagWrite) -> Option<Effect> {
    let relation = find_relation(snapshot, &write.endpoint, write.relation_id)?;
    let current = match write.scope {
        Scope::App => &relation.local_app_data,
        Scope::Unit => &relation.local_unit_data,
    };
    let set: Databag = write
        .data
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unset: Vec<String> = current
        .keys()
        .filter(|k| write.ownership.owns(k) && !write.data.contains_key(*k))
        .cloned()
        .collect();
    (!set.is_empty() || !unset.is_empty()).then(|| Effect::SetRelationData {
        endpoint: write.endpoint.clone(),
        relation_id: write.relation_id,
        scope: write.scope,
        set,
        unset,
    })
}

/// Whether the installed files are the wanted ones (PEM texts compared without surrounding
/// whitespace).
fn same_files(wanted: &TlsFiles, installed: &crate::tls::InstalledTls) -> bool {
    certificates::same_pem(&wanted.certificate, &installed.certificate)
        && certificates::same_pem(&wanted.ca, &installed.ca)
}

/// Whether the Service has exactly these ports, in any order.
fn same_ports(current: &[ServicePort], wanted: &[ServicePort]) -> bool {
    fn sorted(ports: &[ServicePort]) -> Vec<(u16, &str)> {
        let mut ports: Vec<(u16, &str)> = ports.iter().map(|p| (p.port, p.name.as_str())).collect();
        ports.sort_unstable();
        ports
    }
    sorted(current) == sorted(wanted)
}

/// Computes the effects that turn the snapshot into the desired state.
pub fn plan(snapshot: &Snapshot, desired: &Desired) -> Effects {
    let mut items = Vec::new();
    let kube = desired.leader.as_ref().and_then(|l| l.kubernetes.as_ref());
    if let (Some(kube), ClusterState::Observed(objects)) = (kube, &snapshot.kubernetes) {
        for (name, wanted) in &kube.config_maps {
            match objects.config_maps.get(name) {
                None => items.push(Effect::CreateConfigMap {
                    name: name.clone(),
                    config_map: wanted.clone(),
                }),
                Some(current) => {
                    let set: BTreeMap<String, String> = wanted
                        .data
                        .iter()
                        .filter(|(k, v)| current.data.get(*k) != Some(*v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let remove: Vec<String> = current
                        .data
                        .keys()
                        .filter(|k| !wanted.data.contains_key(*k))
                        .cloned()
                        .collect();
                    if !set.is_empty() || !remove.is_empty() {
                        items.push(Effect::PatchConfigMap {
                            name: name.clone(),
                            set,
                            remove,
                        });
                    }
                }
            }
        }
        if !objects.statefulset.contains(&kube.statefulset) {
            items.push(Effect::PatchStatefulSet {
                template: kube.statefulset.clone(),
            });
        }
        if !same_ports(&objects.service_ports, &kube.service_ports) {
            items.push(Effect::PatchService {
                ports: kube.service_ports.clone(),
            });
        }
    }
    let tls = &desired.tls;
    if tls.key == KeyAction::Create {
        items.push(Effect::CreatePrivateKey);
    }
    if let Some(relation_id) = tls.request {
        items.push(Effect::RequestCertificate { relation_id });
    }
    let installed = snapshot.tls.installed.as_ref();
    let can_push = snapshot.container.can_connect;
    let mut new_files = false;
    if let (true, Some(files)) = (can_push, &tls.files)
        && !installed.is_some_and(|i| same_files(files, i))
    {
        items.push(Effect::InstallTlsFiles(files.clone()));
        new_files = true;
        // Renewal needs a hook at the right time: update-status runs every few minutes, and
        // the key's secret expiring at the renewal time runs `secret-expired` right then.
        let renewal = crate::tls::certificate_info(&files.certificate)
            .map(|info| info.renewal_time() - snapshot.tls.now);
        if let (Some(key), Some(after_seconds)) = (&snapshot.tls.private_key, renewal)
            && after_seconds > 0
        {
            items.push(Effect::ExpireKeyAtRenewal {
                secret_id: key.secret_id.clone(),
                after_seconds,
            });
        }
    }
    if let Some(layer) = &desired.layer {
        if !workload::is_planned(&snapshot.container.plan, layer) {
            items.push(Effect::AddLayer {
                label: workload::LAYER_LABEL.to_owned(),
                layer: layer.clone(),
            });
            items.push(Effect::Replan);
        } else if !snapshot.container.service_running {
            items.push(Effect::Replan);
        } else if new_files && snapshot.server().is_some_and(|s| s.is_ory()) {
            // Our server reloads the files live; Ory's reads them only at start.
            items.push(Effect::Restart);
        }
    }
    // Log targets apply when the plan changes: no replan.
    if let Some(layer) = &desired.log_forwarding
        && !logging::is_planned(&snapshot.container.plan, layer)
    {
        items.push(Effect::AddLayer {
            label: logging::LAYER_LABEL.to_owned(),
            layer: layer.clone(),
        });
    }
    // After the layer: the running server stops reading the files before they go.
    if can_push && tls.files.is_none() && installed.is_some() {
        items.push(Effect::RemoveTlsFiles);
    }
    if let KeyAction::Remove { secret_id } = &tls.key {
        items.push(Effect::RemovePrivateKey {
            secret_id: secret_id.clone(),
        });
    }
    let app_writes = desired.leader.iter().flat_map(|l| &l.app_relation_data);
    for write in desired.unit_relation_data.iter().chain(app_writes) {
        items.extend(databag_effect(snapshot, write));
    }
    if snapshot.unit_status.as_ref() != Some(&desired.unit_status) {
        items.push(Effect::SetUnitStatus(desired.unit_status.clone()));
    }
    let app_status = desired.leader.as_ref().map(|l| &l.app_status);
    if let Some(status) = app_status.filter(|s| snapshot.app_status.as_ref() != Some(*s)) {
        items.push(Effect::SetAppStatus(status.clone()));
    }
    let version = desired.workload_version.as_ref();
    if let Some(version) =
        version.filter(|v| snapshot.recorded_workload_version.as_ref() != Some(*v))
    {
        items.push(Effect::SetWorkloadVersion(version.clone()));
    }
    if let Some(server) = snapshot
        .container
        .server
        .as_ref()
        .filter(|s| snapshot.recorded_server.as_ref() != Some(*s))
    {
        items.push(Effect::RecordServer(server.clone()));
    }
    Effects { items }
}

/// The effects of the `remove` hook: the leader deletes the ConfigMaps it manages that exist
/// (upstream fails the hook when one is already gone, spec §8.2 item 12). Nothing on a
/// non-leader or when Kubernetes was not readable.
pub fn teardown(snapshot: &Snapshot) -> Effects {
    let mut items = Vec::new();
    if let (true, ClusterState::Observed(objects)) = (snapshot.leader, &snapshot.kubernetes) {
        for name in [ACCESS_RULES_CONFIG_MAP, OATHKEEPER_CONFIG_MAP] {
            if objects.config_maps.contains_key(name) {
                items.push(Effect::DeleteConfigMap {
                    name: name.to_owned(),
                });
            }
        }
    }
    Effects { items }
}

/// The snapshot as it would be observed after `effects` applied successfully. Tests use it
/// (`Snapshot::converged`, the idempotence tests); the shell never does.
pub fn simulate(snapshot: &Snapshot, effects: &Effects) -> Snapshot {
    let mut next = snapshot.clone();
    for effect in &effects.items {
        match effect {
            Effect::CreateConfigMap { name, config_map } => {
                if let ClusterState::Observed(objects) = &mut next.kubernetes {
                    objects.config_maps.insert(name.clone(), config_map.clone());
                }
            }
            Effect::PatchConfigMap { name, set, remove } => {
                if let ClusterState::Observed(objects) = &mut next.kubernetes {
                    let cm = objects.config_maps.entry(name.clone()).or_default();
                    cm.data.extend(set.clone());
                    for key in remove {
                        cm.data.remove(key);
                    }
                }
            }
            Effect::DeleteConfigMap { name } => {
                if let ClusterState::Observed(objects) = &mut next.kubernetes {
                    objects.config_maps.remove(name);
                }
            }
            Effect::PatchStatefulSet { template } => {
                if let ClusterState::Observed(objects) = &mut next.kubernetes {
                    let current = &mut objects.statefulset;
                    for v in &template.volumes {
                        if !current.volumes.contains(v) {
                            current.volumes.push(v.clone());
                        }
                    }
                    for m in &template.mounts {
                        if !current.mounts.contains(m) {
                            current.mounts.push(m.clone());
                        }
                    }
                }
            }
            Effect::PatchService { ports } => {
                if let ClusterState::Observed(objects) = &mut next.kubernetes {
                    objects.service_ports = ports.clone();
                }
            }
            Effect::SetRelationData {
                endpoint,
                relation_id,
                scope,
                set,
                unset,
            } => {
                if let Some(relation) = find_relation_mut(&mut next, endpoint, *relation_id) {
                    let bag = match scope {
                        Scope::App => &mut relation.local_app_data,
                        Scope::Unit => &mut relation.local_unit_data,
                    };
                    bag.extend(set.clone());
                    for key in unset {
                        bag.remove(key);
                    }
                }
            }
            Effect::AddLayer { layer, .. } => next.container.plan.combine(layer),
            Effect::Replan => next.container.service_running = true,
            Effect::SetUnitStatus(status) => next.unit_status = Some(status.clone()),
            Effect::SetAppStatus(status) => next.app_status = Some(status.clone()),
            Effect::SetWorkloadVersion(version) => {
                next.recorded_workload_version = Some(version.clone());
            }
            Effect::RecordServer(server) => next.recorded_server = Some(server.clone()),
            // The key and the request are randomised by the shell: simulated with stand-ins
            // (a stand-in request does not parse, so a simulated hook never converges on TLS).
            Effect::CreatePrivateKey => {
                next.tls.private_key = Some(crate::tls::PrivateKeyState {
                    secret_id: "secret:simulated".to_owned(),
                    public_key: Some("simulated".to_owned()),
                });
            }
            Effect::RequestCertificate { relation_id } => {
                if let Some(relation) =
                    find_relation_mut(&mut next, certificates::ENDPOINT, *relation_id)
                {
                    relation
                        .local_unit_data
                        .extend(certificates::render_requirer("simulated"));
                }
            }
            Effect::InstallTlsFiles(files) => {
                next.tls.installed = Some(crate::tls::InstalledTls {
                    certificate: files.certificate.clone(),
                    ca: files.ca.clone(),
                });
            }
            Effect::RemoveTlsFiles => next.tls.installed = None,
            Effect::Restart => next.container.service_running = true,
            Effect::ExpireKeyAtRenewal { .. } => {}
            Effect::RemovePrivateKey { .. } => next.tls.private_key = None,
        }
    }
    next
}

#[cfg(test)]
mod tests;
