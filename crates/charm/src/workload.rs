//! The workload: its config file (spec §6.6) and its Pebble layer (spec §4.8).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use juju::pebble::layer::{Check, HttpCheck, Layer, Override, Service, Startup};

use crate::relation::kratos_info::KratosInfo;

/// The workload container.
pub const CONTAINER: &str = "oathkeeper";
/// The Pebble service.
pub const SERVICE: &str = "oathkeeper";
/// The label of our Pebble layer.
pub const LAYER_LABEL: &str = "oathkeeper";
/// The Pebble check.
pub const ALIVE_CHECK: &str = "alive";
/// The API (and decisions) port.
pub const API_PORT: u16 = 4456;
/// The Prometheus metrics port.
pub const METRICS_PORT: u16 = 9000;
/// The Prometheus metrics path.
pub const METRICS_PATH: &str = "/metrics/prometheus";
/// Where the config ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/config/oathkeeper";
/// The config file the service reads.
pub const CONFIG_FILE: &str = "/etc/config/oathkeeper/oathkeeper.yaml";
/// Where the rules ConfigMap is mounted.
pub const ACCESS_RULES_DIR: &str = "/etc/config/access-rules";
/// The service command.
pub const COMMAND: &str = "oathkeeper serve -c /etc/config/oathkeeper/oathkeeper.yaml";
/// The config option choosing where the workload reads its config and rules.
pub const CONFIG_SOURCE_OPTION: &str = "config-source";
/// [`Source::KubernetesApi`]'s spelling in the config.
pub const KUBERNETES_API: &str = "kubernetes-api";
/// [`Source::MountedVolumes`]'s spelling in the config.
pub const MOUNTED_VOLUMES: &str = "mounted-volumes";
/// The scheme of a ConfigMap source the workload watches through the API.
const K8S_SCHEME: &str = "k8s://";

/// Where the workload reads `oathkeeper.yaml` and the access rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// It watches the ConfigMaps through the Kubernetes API (`k8s://<model>/<configmap>`):
    /// changes apply in about a second on every unit, no mounts, no pod restart.
    // Differs from upstream: upstream mounts the ConfigMaps (kubelet sync, StatefulSet patch).
    #[default]
    KubernetesApi,
    /// The ConfigMaps are mounted into the pod (upstream's way; kubelet syncs changes).
    MountedVolumes,
}

impl Source {
    /// The source named by the `config-source` option.
    pub fn parse(value: &str) -> Result<Source, String> {
        match value {
            KUBERNETES_API => Ok(Source::KubernetesApi),
            MOUNTED_VOLUMES => Ok(Source::MountedVolumes),
            other => Err(format!(
                "invalid {CONFIG_SOURCE_OPTION} {other:?}: expected {KUBERNETES_API:?} or {MOUNTED_VOLUMES:?}"
            )),
        }
    }

    /// The source a running plan uses (its command reads a `k8s://` config or a file).
    pub fn of_plan(plan: &Layer) -> Option<Source> {
        let command = plan.services.get(SERVICE)?.command.as_deref()?;
        Some(if command.contains(K8S_SCHEME) {
            Source::KubernetesApi
        } else {
            Source::MountedVolumes
        })
    }

    /// The service command.
    pub fn command(self, model: &str) -> String {
        match self {
            Source::KubernetesApi => format!(
                "oathkeeper serve -c {K8S_SCHEME}{model}/{}",
                crate::desired::OATHKEEPER_CONFIG_MAP
            ),
            Source::MountedVolumes => COMMAND.to_owned(),
        }
    }
}
/// The liveness URL (no TLS yet: certificates come with a later issue).
pub const ALIVE_URL: &str = "http://localhost:4456/health/alive";
/// The redirect target when Kratos is not related.
pub const DEFAULT_LOGIN_URL: &str = "http://default-kratos-url/self-service/login/browser";
/// The session check URL when Kratos is not related.
pub const DEFAULT_SESSIONS_URL: &str = "http://default-kratos-url/sessions/whoami";
/// The identity header every protected app gets.
pub const USER_HEADER: &str = "X-User";

/// The Go template of each identity header, in rendering order.
const HEADER_TEMPLATES: [(&str, &str); 3] = [
    ("X-User", "{{ print .Subject }}"),
    ("X-Email", "{{ print .Extra.identity.traits.email }}"),
    ("X-Name", "{{ print .Extra.identity.traits.name }}"),
];

/// The scheme of our API address: `https` only with TLS and not in dev mode (spec §2).
pub fn scheme(tls_ready: bool, dev: bool) -> &'static str {
    if tls_ready && !dev { "https" } else { "http" }
}

/// Our Service's in-cluster host, `<app>.<model>.svc.cluster.local`.
pub fn service_host(app: &str, model: &str) -> String {
    format!("{app}.{model}.svc.cluster.local")
}

/// What the config file depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigInputs<'a> {
    /// Kratos' endpoints, when related.
    pub kratos: Option<&'a KratosInfo>,
    /// The keys of the rules ConfigMap, each a repository.
    pub rule_files: Vec<&'a str>,
    /// Identity headers some app asked for (`X-User` is always rendered).
    pub headers: Vec<&'a str>,
    /// With [`Source::KubernetesApi`], the model: the rules are the whole `access-rules`
    /// ConfigMap, watched as `k8s://<model>/access-rules`, instead of one mounted file per key.
    pub watched_namespace: Option<&'a str>,
}

fn quoted(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::Value::from(s).to_string()
}

/// Renders `oathkeeper.yaml` (spec §6.6): equal, once parsed, to upstream's template.
pub fn render_config(inputs: &ConfigInputs<'_>) -> String {
    let login = inputs
        .kratos
        .and_then(|k| k.login_browser_endpoint.as_deref())
        .unwrap_or(DEFAULT_LOGIN_URL);
    let sessions = inputs
        .kratos
        .and_then(|k| k.sessions_endpoint.as_deref())
        .unwrap_or(DEFAULT_SESSIONS_URL);
    let mut out = String::new();
    // Writing to a String cannot fail: the results below are ignored for that reason.
    let _ = write!(
        out,
        "log:
  level: info
  format: json
serve:
  api:
    cors:
      enabled: true
      allowed_origins:
        - \"*\"
  prometheus:
    port: {METRICS_PORT}
    metrics_path: {METRICS_PATH}
    metric_name_prefix: oathkeeper_
errors:
  fallback:
    - www_authenticate
    - json
  handlers:
    redirect:
      enabled: true
      config:
        to: {login}
        return_to_query_param: return_to
        when:
          - error:
              - unauthorized
              - forbidden
            request:
              header:
                accept:
                  - text/html
    www_authenticate:
      enabled: true
      config:
        realm: unauthorized
        when:
          - error:
              - not_found
              - internal_server_error
    json:
      enabled: true
access_rules:
  matching_strategy: regexp
",
        login = quoted(login),
    );
    if let Some(namespace) = inputs.watched_namespace {
        let _ = writeln!(
            out,
            "  repositories:\n    - {}",
            quoted(&format!(
                "{K8S_SCHEME}{namespace}/{}",
                crate::desired::ACCESS_RULES_CONFIG_MAP
            ))
        );
    } else if !inputs.rule_files.is_empty() {
        out.push_str("  repositories:\n");
        for file in &inputs.rule_files {
            let _ = writeln!(
                out,
                "    - {}",
                quoted(&format!("file://{ACCESS_RULES_DIR}/{file}"))
            );
        }
    }
    let _ = write!(
        out,
        "authenticators:
  anonymous:
    enabled: true
  noop:
    enabled: true
  cookie_session:
    enabled: true
    config:
      check_session_url: {sessions}
      preserve_path: true
      extra_from: \"@this\"
      subject_from: identity.id
      only:
        - ory_kratos_session
authorizers:
  allow:
    enabled: true
mutators:
  noop:
    enabled: true
  header:
    enabled: true
    config:
      headers:
",
        sessions = quoted(sessions),
    );
    for (name, template) in HEADER_TEMPLATES {
        if name == USER_HEADER || inputs.headers.contains(&name) {
            let _ = writeln!(out, "        {name}: {}", quoted(template));
        }
    }
    out
}

/// The Pebble layer (spec §4.8): service `oathkeeper` reading from `source`, check `alive`.
pub fn layer(source: Source, model: &str) -> Layer {
    Layer {
        summary: Some("oathkeeper-operator layer".to_owned()),
        description: Some("pebble config layer for oathkeeper-operator".to_owned()),
        services: BTreeMap::from([(
            SERVICE.to_owned(),
            Service {
                override_: Some(Override::Replace),
                summary: Some("Oathkeeper Operator layer".to_owned()),
                command: Some(source.command(model)),
                startup: Some(Startup::Enabled),
                ..Service::default()
            },
        )]),
        checks: BTreeMap::from([(
            ALIVE_CHECK.to_owned(),
            Check {
                override_: Some(Override::Replace),
                http: Some(HttpCheck {
                    url: Some(ALIVE_URL.to_owned()),
                    ..HttpCheck::default()
                }),
                ..Check::default()
            },
        )]),
        ..Layer::default()
    }
}

/// Whether Pebble's `plan` already holds the service and check of `wanted` (a [`layer`])
/// (`override` is ignored: it describes how a layer applies, not the result).
pub fn is_planned(plan: &Layer, wanted: &Layer) -> bool {
    let same = |a: Option<&Service>, b: &Service| {
        a.is_some_and(|a| {
            Service {
                override_: None,
                ..a.clone()
            } == Service {
                override_: None,
                ..b.clone()
            }
        })
    };
    let same_check = |a: Option<&Check>, b: &Check| {
        a.is_some_and(|a| {
            Check {
                override_: None,
                ..a.clone()
            } == Check {
                override_: None,
                ..b.clone()
            }
        })
    };
    wanted
        .services
        .iter()
        .all(|(name, service)| same(plan.services.get(name), service))
        && wanted
            .checks
            .iter()
            .all(|(name, check)| same_check(plan.checks.get(name), check))
}

#[cfg(test)]
mod tests;
