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
use juju::tool::secret::{Owner, SecretMeta};
use juju::tool::status::Target;
use serde_json::{Value, json};

use crate::desired::Scope;
use crate::error::HookError;
use crate::io::Io;
use crate::kubernetes::PodTemplate;
use crate::plan::{Effect, Effects};
use crate::relation::certificates;
use crate::report;
use crate::status::{self, StatusKind, StatusValue};
use crate::tls::{self, TlsFiles};
use crate::workload::{CONTAINER, LAYER_LABEL, SERVICE};

/// How long a replan may take before the hook gives up waiting.
const REPLAN_TIMEOUT: Duration = Duration::from_secs(30);

/// Applies `effects`. A missing trust grant or an unreachable workload becomes a status and
/// `Ok`; a hook-tool or API-server failure is an error.
pub fn apply(io: &Io, effects: &Effects, leader: bool) -> Result<(), HookError> {
    let mut kubernetes: Option<Kubernetes> = None;
    // The private key, once generated or read in this hook (secret writes are buffered until
    // the hook ends, so a key made here is not readable back yet).
    let mut private_key: Option<String> = None;
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
            Effect::CreatePrivateKey => {
                private_key = Some(create_private_key(io)?);
                None
            }
            Effect::RequestCertificate { relation_id } => {
                let key = cached_key(io, &mut private_key)?;
                let host = crate::workload::service_host(&io.env.app, &io.env.model_name);
                let csr = tls::certificate_signing_request(key, &host)
                    .map_err(|e| HookError::PrivateKey(format!("cannot sign a request: {e}")))?;
                let relation = RelationId::new(certificates::ENDPOINT, *relation_id);
                io.tools
                    .relation_set_unit(&relation, &certificates::render_requirer(&csr))?;
                None
            }
            Effect::InstallTlsFiles(files) => {
                let key = cached_key(io, &mut private_key)?;
                install_tls_files(io, files, key)
                    .err()
                    .map(|e| pebble_failed(io, &e, status::FAILED_TO_SET_CONFIG))
            }
            Effect::RemoveTlsFiles => remove_tls_files(io)
                .err()
                .map(|e| pebble_failed(io, &e, status::FAILED_TO_SET_CONFIG)),
            Effect::Restart => io
                .pebble
                .services_action("restart", &[SERVICE], REPLAN_TIMEOUT)
                .err()
                .map(|e| pebble_failed(io, &e, status::FAILED_TO_RESTART)),
            Effect::ExpireKeyAtRenewal {
                secret_id,
                after_seconds,
            } => {
                let meta = SecretMeta {
                    // A Go duration: Juju takes a duration or an RFC 3339 time.
                    expire: Some(format!("{after_seconds}s")),
                    ..SecretMeta::default()
                };
                io.tools
                    .secret_set(secret_id, Owner::Unit, &meta, &BTreeMap::new())?;
                None
            }
            Effect::RemovePrivateKey { secret_id } => {
                match io.tools.secret_remove(secret_id, None) {
                    Ok(()) | Err(juju::tool::Error::SecretNotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                io.tools.state_delete(tls::KEY_SECRET_STATE_KEY)?;
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

/// Generates a private key and keeps it in the unit-owned secret: a new revision of the one
/// recorded in the unit's state when it still exists (its content was unusable), else a new
/// secret whose id is recorded. The key goes to the secret tools through a file only this user
/// can read, removed right after, never on a command line.
fn create_private_key(io: &Io) -> Result<String, HookError> {
    let key = tls::generate_private_key()
        .map_err(|e| HookError::PrivateKey(format!("cannot generate: {e}")))?;
    let file = PrivateFile::write(&key)
        .map_err(|e| HookError::PrivateKey(format!("cannot write for the secret tools: {e}")))?;
    let files = BTreeMap::from([(tls::KEY_SECRET_FIELD.to_owned(), file.path.clone())]);
    let recorded = io.tools.state_get()?.remove(tls::KEY_SECRET_STATE_KEY);
    if let Some(id) = recorded {
        match io
            .tools
            .secret_set(&id, Owner::Unit, &SecretMeta::default(), &files)
        {
            Ok(()) => return Ok(key),
            Err(juju::tool::Error::SecretNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let meta = SecretMeta {
        label: Some(tls::KEY_SECRET_LABEL.to_owned()),
        description: Some("private key of the certificates relation".to_owned()),
        ..SecretMeta::default()
    };
    let id = io.tools.secret_add(Owner::Unit, &meta, &files)?;
    drop(file);
    io.tools.state_set(&BTreeMap::from([(
        tls::KEY_SECRET_STATE_KEY.to_owned(),
        id,
    )]))?;
    Ok(key)
}

/// The private key: made in this hook, else read from the secret recorded in the unit's state.
fn cached_key<'a>(io: &Io, cache: &'a mut Option<String>) -> Result<&'a str, HookError> {
    if cache.is_none() {
        let id = io
            .tools
            .state_get()?
            .remove(tls::KEY_SECRET_STATE_KEY)
            .ok_or_else(|| HookError::PrivateKey("no secret recorded".to_owned()))?;
        let key = crate::observe::read_private_key(io, &id)?;
        if key.is_empty() {
            return Err(HookError::PrivateKey(format!(
                "secret {id} holds no {}",
                tls::KEY_SECRET_FIELD
            )));
        }
        *cache = Some(key);
    }
    Ok(cache.as_deref().unwrap_or_default())
}

/// A file only this user can read, removed when dropped.
struct PrivateFile {
    path: std::path::PathBuf,
}

impl PrivateFile {
    fn write(content: &str) -> std::io::Result<PrivateFile> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "oathkeeper-charm-{}-{nonce}.key",
            std::process::id()
        ));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let written = file.write_all(content.as_bytes());
        let private = PrivateFile { path };
        written.map(|()| private)
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where our CA starts in the workload's CA bundle.
const BUNDLE_BEGIN: &str = "# BEGIN oathkeeper certificates-relation CA\n";
/// Where it ends.
const BUNDLE_END: &str = "# END oathkeeper certificates-relation CA\n";

/// `bundle` without our CA block.
fn strip_our_ca(bundle: &str) -> String {
    match (bundle.find(BUNDLE_BEGIN), bundle.find(BUNDLE_END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &bundle[..start], &bundle[end + BUNDLE_END.len()..])
        }
        _ => bundle.to_owned(),
    }
}

/// `bundle` with our CA block holding `ca` (replacing an older one), at the end.
fn with_our_ca(bundle: &str, ca: &str) -> String {
    let mut out = strip_our_ca(bundle);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(BUNDLE_BEGIN);
    out.push_str(ca.trim());
    out.push('\n');
    out.push_str(BUNDLE_END);
    out
}

/// The workload's CA bundle (empty when the image has none).
fn pull_bundle(io: &Io) -> Result<String, juju::pebble::client::Error> {
    match io.pebble.pull(tls::CA_BUNDLE) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.is_not_found() => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// Pushes the key first, then the chain (a server reloading between the two sees a mismatched
/// pair and keeps its last good one until the second write), the CA, and the CA into the
/// bundle that Pebble's https check trusts.
fn install_tls_files(
    io: &Io,
    files: &TlsFiles,
    key: &str,
) -> Result<(), juju::pebble::client::Error> {
    let pebble = &io.pebble;
    pebble.push(tls::KEY_FILE, key.as_bytes(), true, Some("600"))?;
    pebble.push(
        tls::CERT_FILE,
        files.certificate.as_bytes(),
        true,
        Some("644"),
    )?;
    pebble.push(tls::CA_FILE, files.ca.as_bytes(), true, Some("644"))?;
    let bundle = with_our_ca(&pull_bundle(io)?, &files.ca);
    pebble.push(tls::CA_BUNDLE, bundle.as_bytes(), true, Some("644"))
}

/// Removes the TLS files and our CA from the bundle (the rest of the bundle stays).
fn remove_tls_files(io: &Io) -> Result<(), juju::pebble::client::Error> {
    io.pebble.remove(tls::TLS_DIR, true)?;
    let bundle = pull_bundle(io)?;
    let stripped = strip_our_ca(&bundle);
    if stripped != bundle {
        io.pebble
            .push(tls::CA_BUNDLE, stripped.as_bytes(), true, Some("644"))?;
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
