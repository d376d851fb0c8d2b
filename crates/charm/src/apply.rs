//! `apply`: carries out the planned [`Effects`] in order, and turns what fails into the status
//! the operator sees.
//!
//! Statuses in the plan describe the world after a successful apply. When a step fails, the
//! status says so instead (missing trust, a workload that did not restart) and the remaining
//! steps are skipped; the next hook (at the latest `update-status`) converges.

use std::collections::BTreeMap;
use std::time::Duration;

use juju::k8s::{ConfigMapMount, Kubernetes, Patch, config_map_mounts_patch};
use juju::tool::log::LogLevel;
use juju::tool::relation::RelationId;
use juju::tool::status::Target;
use serde_json::{Value, json};

use crate::desired::Scope;
use crate::error::HookError;
use crate::io::Io;
use crate::kubernetes::PodTemplate;
use crate::plan::{Effect, Effects};
use crate::report;
use crate::status::{self, StatusKind, StatusValue};
use crate::workload::{CONTAINER, LAYER_LABEL};

/// How long a replan may take before the hook gives up waiting.
const REPLAN_TIMEOUT: Duration = Duration::from_secs(30);

/// Applies `effects`. A missing trust grant or an unreachable workload becomes a status and
/// `Ok`; a hook-tool or API-server failure is an error.
pub fn apply(io: &Io, effects: &Effects, leader: bool) -> Result<(), HookError> {
    let mut kubernetes: Option<Kubernetes> = None;
    for effect in &effects.items {
        debug_assert!(
            leader || !effect.is_leader_only(),
            "leader-only effect on a non-leader: {effect:?}"
        );
        let failed = match effect {
            Effect::CreateConfigMap { .. }
            | Effect::PatchConfigMap { .. }
            | Effect::DeleteConfigMap { .. }
            | Effect::PatchStatefulSet { .. }
            | Effect::PatchService { .. } => {
                let api = match &kubernetes {
                    Some(api) => api,
                    None => kubernetes.insert(io.kubernetes()?),
                };
                match io
                    .runtime
                    .block_on(kubernetes_effect(api, &io.env.app, effect))
                {
                    Ok(()) => None,
                    Err(e @ juju::k8s::Error::NotTrusted { .. }) => {
                        log(io, LogLevel::Error, &e.to_string());
                        Some(StatusValue::new(
                            StatusKind::Blocked,
                            status::missing_trust(&io.env.app),
                        ))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Effect::AddLayer { label, layer } => io
                .pebble
                .add_layer(label, layer, true)
                .err()
                .map(|e| pebble_failed(io, &e, status::FAILED_TO_SET_CONFIG)),
            Effect::Replan => io
                .pebble
                .services_action("replan", &[], REPLAN_TIMEOUT)
                .err()
                .map(|e| pebble_failed(io, &e, status::FAILED_TO_RESTART)),
            Effect::SetRelationData {
                endpoint,
                relation_id,
                scope,
                set,
                unset,
            } => {
                let relation = RelationId::new(endpoint.as_str(), *relation_id);
                let mut data: BTreeMap<String, String> = set.clone();
                // An empty value deletes the key.
                data.extend(unset.iter().map(|key| (key.clone(), String::new())));
                match scope {
                    Scope::App => io.tools.relation_set_app(&relation, &data)?,
                    Scope::Unit => io.tools.relation_set_unit(&relation, &data)?,
                }
                None
            }
            Effect::SetUnitStatus(value) => {
                set_status(io, Target::Unit, value)?;
                None
            }
            Effect::SetAppStatus(value) => {
                set_status(io, Target::Application, value)?;
                None
            }
            Effect::SetWorkloadVersion(version) => {
                io.tools.application_version_set(version)?;
                // Juju cannot give the version back: remember it, so it is set once.
                io.tools.state_set(&BTreeMap::from([(
                    crate::observe::WORKLOAD_VERSION_KEY.to_owned(),
                    version.clone(),
                )]))?;
                None
            }
            Effect::RecordServer(server) => {
                io.tools.state_set(&BTreeMap::from([(
                    crate::observe::WORKLOAD_SERVER_KEY.to_owned(),
                    server.record(),
                )]))?;
                None
            }
        };
        let Some(status) = failed else {
            log(io, LogLevel::Info, &report::effect(effect));
            continue;
        };
        set_status(io, Target::Unit, &status)?;
        if leader {
            set_status(io, Target::Application, &status)?;
        }
        log(
            io,
            LogLevel::Info,
            &format!(
                "stopped after a failed step: {}",
                report::effect(&Effect::SetUnitStatus(status))
            ),
        );
        return Ok(());
    }
    Ok(())
}

/// Logs to `juju-log`; a log line that cannot be written fails nothing.
pub(crate) fn log(io: &Io, level: LogLevel, message: &str) {
    let _ = io.tools.juju_log(level, message);
}

fn pebble_failed(io: &Io, error: &juju::pebble::client::Error, message: &str) -> StatusValue {
    log(
        io,
        LogLevel::Error,
        &format!("layer {LAYER_LABEL} in container {CONTAINER}: {error}"),
    );
    if io.pebble.can_connect() {
        StatusValue::new(StatusKind::Blocked, message)
    } else {
        StatusValue::new(StatusKind::Waiting, status::WAITING_FOR_CONTAINER)
    }
}

fn set_status(io: &Io, target: Target, value: &StatusValue) -> Result<(), juju::tool::Error> {
    io.tools
        .status_set(target, value.kind.into(), &value.message)
}

async fn kubernetes_effect(
    api: &Kubernetes,
    app: &str,
    effect: &Effect,
) -> Result<(), juju::k8s::Error> {
    match effect {
        Effect::CreateConfigMap { name, config_map } => {
            let object = k8s_openapi::api::core::v1::ConfigMap {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(config_map.labels.clone()),
                    ..Default::default()
                },
                data: Some(config_map.data.clone()),
                ..Default::default()
            };
            match api.create_config_map(&object).await {
                // Created meanwhile (another hook, a previous unit): merge ours in.
                Err(juju::k8s::Error::Conflict { .. }) => {
                    let patch =
                        json!({"metadata": {"labels": config_map.labels}, "data": config_map.data});
                    api.patch_config_map(name, &Patch::Merge(patch))
                        .await
                        .map(drop)
                }
                other => other.map(drop),
            }
        }
        Effect::PatchConfigMap { name, set, remove } => {
            // A merge patch touches only these keys: other writers' keys survive.
            let mut data: serde_json::Map<String, Value> = set
                .iter()
                .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                .collect();
            data.extend(remove.iter().map(|key| (key.clone(), Value::Null)));
            api.patch_config_map(name, &Patch::Merge(json!({"data": data})))
                .await
                .map(drop)
        }
        Effect::DeleteConfigMap { name } => match api.delete_config_map(name).await {
            Err(juju::k8s::Error::NotFound { .. }) => Ok(()),
            other => other,
        },
        Effect::PatchStatefulSet { template } => {
            let patch = config_map_mounts_patch(CONTAINER, &mounts(template));
            api.patch_stateful_set(app, &Patch::Strategic(patch))
                .await
                .map(drop)
        }
        Effect::PatchService { ports } => {
            let ports: Vec<k8s_openapi::api::core::v1::ServicePort> = ports
                .iter()
                .map(|port| k8s_openapi::api::core::v1::ServicePort {
                    name: Some(port.name.clone()),
                    port: i32::from(port.port),
                    ..Default::default()
                })
                .collect();
            // A merge patch replaces the list whole, as upstream's patch leaves it: exactly our
            // ports. Server-side apply kept Juju's placeholder (owned by another manager), so
            // the Service never matched and was written on every hook (issue 15).
            api.patch_service(app, &Patch::Merge(json!({"spec": {"ports": ports}})))
                .await
                .map(drop)
        }
        _ => Ok(()),
    }
}

/// The ConfigMap mounts of a pod template, paired volume to mount by name.
fn mounts(template: &PodTemplate) -> Vec<ConfigMapMount> {
    template
        .mounts
        .iter()
        .filter_map(|mount| {
            let volume = template.volumes.iter().find(|v| v.name == mount.name)?;
            Some(ConfigMapMount {
                volume: volume.name.clone(),
                config_map: volume.config_map.clone(),
                mount_path: mount.mount_path.clone(),
            })
        })
        .collect()
}
