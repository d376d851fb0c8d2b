//! What the operator reads in `juju debug-log`: one DEBUG line of what a hook observed, and one
//! INFO line per effect it applied (pure text here; [`crate::hook`] and [`crate::apply`] send
//! them with `juju-log`). A converged hook applies no effect, so it logs no INFO line.

use std::fmt::Write as _;

use crate::desired::Scope;
use crate::kubernetes::ACCESS_RULES_CONFIG_MAP;
use crate::plan::Effect;
use crate::snapshot::{ClusterState, Relation, Snapshot};
use crate::status::StatusValue;
use crate::workload::SERVICE;

/// How much of a databag value an INFO line shows.
const MAX_VALUE_CHARS: usize = 200;

/// The DEBUG line of what this hook observed: leadership, trust, the container, the
/// relations (`endpoint:id remote-app`) and the current statuses.
pub fn observed(snapshot: &Snapshot) -> String {
    let mut line = format!(
        "observed: {}, kubernetes {}, container {}",
        if snapshot.leader {
            "leader"
        } else {
            "not leader"
        },
        match &snapshot.kubernetes {
            ClusterState::NotObserved => "not read",
            ClusterState::Forbidden => "forbidden (not trusted)",
            ClusterState::Observed(_) => "read",
        },
        match (
            snapshot.container.can_connect,
            snapshot.container.service_running
        ) {
            (false, _) => "unreachable",
            (true, false) => "up, service not running",
            (true, true) => "up, service running",
        },
    );
    let r = &snapshot.relations;
    let endpoints: [(&str, Vec<&Relation>); 11] = [
        ("auth-proxy", r.auth_proxy.iter().collect()),
        ("forward-auth", r.forward_auth.iter().collect()),
        ("oathkeeper-info", r.oathkeeper_info.iter().collect()),
        ("kratos-info", r.kratos_info.iter().collect()),
        ("ingress", r.ingress.iter().collect()),
        ("oathkeeper", r.peer.iter().collect()),
        ("certificates", r.certificates.iter().collect()),
        ("metrics-endpoint", r.metrics_endpoint.iter().collect()),
        ("grafana-dashboard", r.grafana_dashboard.iter().collect()),
        ("logging", r.logging.iter().collect()),
        ("tracing", r.tracing.iter().collect()),
    ];
    let related: Vec<String> = endpoints
        .iter()
        .flat_map(|(endpoint, relations)| {
            relations
                .iter()
                .map(move |rel| format!("{endpoint}:{} {}", rel.id, rel.remote_app))
        })
        .collect();
    let _ = write!(line, "; relations [{}]", related.join(", "));
    // Never the key: only whether there is one, and whether the workload holds TLS files.
    let tls = &snapshot.tls;
    if tls.private_key.is_some() || tls.installed.is_some() {
        let _ = write!(
            line,
            "; tls key {}, certificate {}",
            if tls.private_key.is_some() {
                "kept"
            } else {
                "none"
            },
            if tls.installed.is_some() {
                "installed"
            } else {
                "not installed"
            }
        );
    }
    if let Some(status) = &snapshot.unit_status {
        let _ = write!(line, "; unit status {}", status_text(status));
    }
    line
}

/// The INFO line of one applied effect.
pub fn effect(effect: &Effect) -> String {
    match effect {
        Effect::CreateConfigMap { name, config_map } => {
            let keys: Vec<String> = config_map
                .data
                .iter()
                .map(|(key, value)| data_key(name, key, value))
                .collect();
            format!("ConfigMap {name} created with [{}]", keys.join(", "))
        }
        Effect::PatchConfigMap { name, set, remove } => {
            let mut line = format!("ConfigMap {name}:");
            if !set.is_empty() {
                let keys: Vec<String> = set
                    .iter()
                    .map(|(key, value)| data_key(name, key, value))
                    .collect();
                let _ = write!(line, " {} written", keys.join(", "));
            }
            if !remove.is_empty() {
                let sep = if set.is_empty() { "" } else { ";" };
                let _ = write!(line, "{sep} {} removed", remove.join(", "));
            }
            line
        }
        Effect::DeleteConfigMap { name } => format!("ConfigMap {name} deleted"),
        Effect::PatchStatefulSet { template } => {
            let mounts: Vec<String> = template
                .mounts
                .iter()
                .map(|m| format!("{} at {}", m.name, m.mount_path))
                .collect();
            format!(
                "StatefulSet: ConfigMap volumes mounted ({})",
                mounts.join(", ")
            )
        }
        Effect::PatchService { ports } => {
            let ports: Vec<String> = ports
                .iter()
                .map(|p| format!("{}:{}", p.name, p.port))
                .collect();
            format!("Service: ports set to [{}]", ports.join(", "))
        }
        Effect::SetRelationData {
            endpoint,
            relation_id,
            scope,
            set,
            unset,
        } => {
            let bag = match scope {
                Scope::App => "app",
                Scope::Unit => "unit",
            };
            let mut line = format!("{endpoint}:{relation_id} {bag} databag:");
            if !set.is_empty() {
                let pairs: Vec<String> = set
                    .iter()
                    .map(|(key, value)| format!("{key} {}", shorten(value)))
                    .collect();
                let _ = write!(line, " {} published", pairs.join(", "));
            }
            if !unset.is_empty() {
                let sep = if set.is_empty() { "" } else { ";" };
                let _ = write!(line, "{sep} {} removed", unset.join(", "));
            }
            line
        }
        Effect::AddLayer { label, layer } if !layer.log_targets.is_empty() => {
            let targets: Vec<String> = layer
                .log_targets
                .iter()
                .map(|(name, target)| {
                    format!(
                        "{name} ({} to {})",
                        target.services.join(","),
                        target.location.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "Pebble layer {label} added: log targets {}",
                targets.join(", ")
            )
        }
        Effect::AddLayer { label, layer } => {
            let command = layer
                .services
                .get(SERVICE)
                .and_then(|s| s.command.as_deref())
                .unwrap_or_default();
            format!("Pebble layer {label} added: {SERVICE} runs `{command}`")
        }
        Effect::Replan => format!("service {SERVICE} replanned"),
        Effect::SetUnitStatus(status) => format!("unit status set to {}", status_text(status)),
        Effect::SetAppStatus(status) => {
            format!("application status set to {}", status_text(status))
        }
        Effect::SetWorkloadVersion(version) => format!("workload version {version} set"),
        Effect::RecordServer(server) => format!("workload server recorded: {}", server.record()),
        Effect::CreatePrivateKey => format!(
            "private key generated and kept in secret {}",
            crate::tls::KEY_SECRET_LABEL
        ),
        Effect::RequestCertificate { relation_id } => {
            format!("certificate requested on certificates:{relation_id}")
        }
        Effect::InstallTlsFiles(_) => format!(
            "certificate, key and CA written to {} in container {}",
            crate::tls::TLS_DIR,
            crate::workload::CONTAINER
        ),
        Effect::RemoveTlsFiles => format!(
            "certificate, key and CA removed from container {}",
            crate::workload::CONTAINER
        ),
        Effect::Restart => format!("service {SERVICE} restarted to load its new certificate"),
        Effect::ExpireKeyAtRenewal {
            secret_id,
            after_seconds,
        } => format!("secret {secret_id} expires in {after_seconds}s, when renewal is due"),
        Effect::RemovePrivateKey { secret_id } => format!("private key secret {secret_id} removed"),
    }
}

/// A ConfigMap key as an INFO line names it: a rules file with its rule count.
fn data_key(config_map: &str, key: &str, value: &str) -> String {
    if config_map != ACCESS_RULES_CONFIG_MAP {
        return key.to_owned();
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(value) {
        Ok(rules) if rules.len() == 1 => format!("{key} (1 rule)"),
        Ok(rules) => format!("{key} ({} rules)", rules.len()),
        Err(_) => key.to_owned(),
    }
}

fn status_text(status: &StatusValue) -> String {
    let kind = serde_json::to_value(status.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if status.message.is_empty() {
        kind
    } else {
        format!("{kind} ({})", status.message)
    }
}

fn shorten(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE_CHARS) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::status::StatusKind;
    use crate::testing::bag;

    #[test]
    fn a_rules_patch_names_each_file_with_its_rule_count() {
        let line = effect(&Effect::PatchConfigMap {
            name: ACCESS_RULES_CONFIG_MAP.into(),
            set: BTreeMap::from([
                (
                    "access-rules-spark-deny.json".into(),
                    r#"[{"id":"spark:0:deny"}]"#.into(),
                ),
                (
                    "access-rules-spark-allow.json".into(),
                    r#"[{"id":"a"},{"id":"b"}]"#.into(),
                ),
            ]),
            remove: vec!["access-rules-gone-deny.json".into()],
        });
        assert_eq!(
            line,
            "ConfigMap access-rules: access-rules-spark-allow.json (2 rules), \
             access-rules-spark-deny.json (1 rule) written; access-rules-gone-deny.json removed"
        );
    }

    #[test]
    fn a_databag_write_names_the_relation_and_the_keys() {
        let line = effect(&Effect::SetRelationData {
            endpoint: "forward-auth".into(),
            relation_id: 3,
            scope: Scope::App,
            set: bag(&[("app_names", r#"["spark"]"#)]),
            unset: vec![],
        });
        assert_eq!(
            line,
            r#"forward-auth:3 app databag: app_names ["spark"] published"#
        );
        let long = "x".repeat(300);
        let line = effect(&Effect::SetRelationData {
            endpoint: "oathkeeper".into(),
            relation_id: 1,
            scope: Scope::App,
            set: bag(&[("auth_proxy_4", &long)]),
            unset: vec!["auth_proxy_5".into()],
        });
        assert!(
            line.ends_with("... published; auth_proxy_5 removed"),
            "{line}"
        );
    }

    #[test]
    fn statuses_and_the_service() {
        assert_eq!(effect(&Effect::Replan), "service oathkeeper replanned");
        assert_eq!(
            effect(&Effect::SetUnitStatus(StatusValue::new(
                StatusKind::Blocked,
                "spark is not related via ingress"
            ))),
            "unit status set to blocked (spark is not related via ingress)"
        );
        assert_eq!(
            effect(&Effect::SetAppStatus(StatusValue::new(
                StatusKind::Active,
                ""
            ))),
            "application status set to active"
        );
    }

    #[test]
    fn the_observed_line_names_relations_and_trust() {
        let snapshot = Snapshot::ready()
            .leader()
            .untrusted()
            .with_forward_auth(3, None);
        assert_eq!(
            observed(&snapshot),
            "observed: leader, kubernetes forbidden (not trusted), container up, service not \
             running; relations [forward-auth:3 traefik-public, oathkeeper:0 oathkeeper]"
        );
    }
}
