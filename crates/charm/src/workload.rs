//! The workload: its config file (spec §6.6) and its Pebble layer (spec §4.8).
//!
//! The config itself is [`oathkeeper_core::charm::config`]'s, shared with the server's tests
//! and the benchmarks; here the charm's inputs are mapped onto it.

use std::collections::BTreeMap;

use juju::pebble::layer::{Check, HttpCheck, Layer, Override, Service, Startup};
use oathkeeper_core::charm::config::{self as charm_config, Repositories};
use oathkeeper_core::config::Config;
use oathkeeper_core::config::KUBERNETES_SCHEME;

use crate::kubernetes::{ACCESS_RULES_CONFIG_MAP, OATHKEEPER_CONFIG_MAP};
use crate::relation::kratos_info::KratosInfo;
use crate::relation::tracing::OtlpReceiver;

pub use oathkeeper_core::charm::config::{ACCESS_RULES_DIR, METRICS_PATH, METRICS_PORT};

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
/// Where the config ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/config/oathkeeper";
/// The config file the service reads.
pub const CONFIG_FILE: &str = "/etc/config/oathkeeper/oathkeeper.yaml";
/// The service command.
pub const COMMAND: &str = "oathkeeper serve -c /etc/config/oathkeeper/oathkeeper.yaml";
/// The config option choosing where the workload reads its config and rules.
pub const CONFIG_SOURCE_OPTION: &str = "config-source";
/// [`ConfigSource::KubernetesApi`]'s spelling in the config.
pub const KUBERNETES_API: &str = "kubernetes-api";
/// [`ConfigSource::MountedVolumes`]'s spelling in the config.
pub const MOUNTED_VOLUMES: &str = "mounted-volumes";

/// Where the workload reads `oathkeeper.yaml` and the access rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConfigSource {
    /// It watches the ConfigMaps through the Kubernetes API (`k8s://<model>/<configmap>`):
    /// changes apply in about a second on every unit, no mounts, no pod restart.
    // Differs from upstream: upstream mounts the ConfigMaps (kubelet sync, StatefulSet patch).
    #[default]
    KubernetesApi,
    /// The ConfigMaps are mounted into the pod (upstream's way; kubelet syncs changes).
    MountedVolumes,
}

impl ConfigSource {
    /// The config source named by the `config-source` option.
    pub fn parse(value: &str) -> Result<ConfigSource, String> {
        match value {
            KUBERNETES_API => Ok(ConfigSource::KubernetesApi),
            MOUNTED_VOLUMES => Ok(ConfigSource::MountedVolumes),
            other => Err(format!(
                "invalid {CONFIG_SOURCE_OPTION} {other:?}: expected {KUBERNETES_API:?} or {MOUNTED_VOLUMES:?}"
            )),
        }
    }

    /// The config source a running plan uses (its command reads a `k8s://` config or a file).
    pub fn of_plan(plan: &Layer) -> Option<ConfigSource> {
        let command = plan.services.get(SERVICE)?.command.as_deref()?;
        Some(if command.contains(KUBERNETES_SCHEME) {
            ConfigSource::KubernetesApi
        } else {
            ConfigSource::MountedVolumes
        })
    }

    /// The service command.
    pub fn command(self, model: &str) -> String {
        match self {
            ConfigSource::KubernetesApi => {
                format!("oathkeeper serve -c {KUBERNETES_SCHEME}{model}/{OATHKEEPER_CONFIG_MAP}")
            }
            ConfigSource::MountedVolumes => COMMAND.to_owned(),
        }
    }
}

/// The command that tells which server the image holds.
pub const VERSION_COMMAND: [&str; 2] = ["oathkeeper", "version"];

/// Which `oathkeeper` binary the image holds, as `oathkeeper version` tells.
///
/// Ory's Go server prints `Version:    v0.40.6`, `Git Hash:   ...`, `Build Time: ...`
/// (`cmd/version.go`); ours prints only the `Version:` line (`crates/proxy/src/cli.rs`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Server {
    /// This workspace's server: every feature (`k8s://` sources, config extensions).
    Ours(String),
    /// Ory Oathkeeper (an old `oci-image` resource kept across a refresh): it reads mounted
    /// files only and rejects our config extensions.
    Ory(String),
}

/// The unit-state spelling of [`Server::Ours`].
const OURS_RECORD: &str = "oathkeeper-rs";
/// The unit-state spelling of [`Server::Ory`].
const ORY_RECORD: &str = "ory";

impl Server {
    /// The server printing `stdout` for [`VERSION_COMMAND`]; `None` without a `Version:` line.
    pub fn identify(stdout: &str) -> Option<Server> {
        let field = |name: &str| {
            stdout.lines().find_map(|line| {
                line.trim()
                    .strip_prefix(name)
                    .map(|rest| rest.trim().to_owned())
            })
        };
        let version = field("Version:").filter(|v| !v.is_empty())?;
        Some(if field("Git Hash:").is_some() {
            Server::Ory(version)
        } else {
            Server::Ours(version)
        })
    }

    /// Its version as it prints it.
    pub fn version(&self) -> &str {
        match self {
            Server::Ours(version) | Server::Ory(version) => version,
        }
    }

    /// Whether it is Ory's server.
    pub fn is_ory(&self) -> bool {
        matches!(self, Server::Ory(_))
    }

    /// How the unit's state records it: `oathkeeper-rs <version>` or `ory <version>`.
    pub fn record(&self) -> String {
        match self {
            Server::Ours(version) => format!("{OURS_RECORD} {version}"),
            Server::Ory(version) => format!("{ORY_RECORD} {version}"),
        }
    }

    /// The server of a [`Server::record`].
    pub fn from_record(text: &str) -> Option<Server> {
        let (kind, version) = text.split_once(' ')?;
        match kind {
            OURS_RECORD => Some(Server::Ours(version.to_owned())),
            ORY_RECORD => Some(Server::Ory(version.to_owned())),
            _ => None,
        }
    }
}

/// The liveness URL over http.
pub const ALIVE_URL: &str = "http://localhost:4456/health/alive";
/// The liveness path.
pub const ALIVE_PATH: &str = "/health/alive";

/// The liveness URL over https: the certificate's name, `https://<host>:4456/health/alive`
/// (Pebble verifies it against the CA bundle the charm completes).
pub fn alive_url_https(host: &str) -> String {
    format!("https://{host}:{API_PORT}{ALIVE_PATH}")
}

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
    /// With [`ConfigSource::KubernetesApi`], the model: the rules are the whole `access-rules`
    /// ConfigMap, watched as `k8s://<model>/access-rules`, instead of one mounted file per key.
    pub watched_namespace: Option<&'a str>,
    /// Tempo's receiver, when related: the `tracing` block (our server applies it live).
    pub tracing: Option<&'a OtlpReceiver>,
}

/// `oathkeeper.yaml` (spec §6.6): equal, once parsed, to upstream's template.
pub fn config(inputs: &ConfigInputs<'_>) -> Config {
    let repositories = match inputs.watched_namespace {
        Some(namespace) => Repositories::Watched {
            namespace,
            name: ACCESS_RULES_CONFIG_MAP,
        },
        None => Repositories::Mounted(inputs.rule_files.clone()),
    };
    let mut config = charm_config::oathkeeper_config(&charm_config::ConfigInputs {
        login_url: inputs
            .kratos
            .and_then(|k| k.login_browser_endpoint.as_deref()),
        sessions_url: inputs.kratos.and_then(|k| k.sessions_endpoint.as_deref()),
        repositories,
        headers: inputs.headers.clone(),
    });
    if let Some(receiver) = inputs.tracing {
        config.tracing = charm_config::tracing(&receiver.server_url, receiver.insecure);
    }
    config
}

/// `TRACING_ENABLED`: upstream's, which Ory's server ignores (its `provider` switches).
pub const TRACING_ENABLED_ENV: &str = "TRACING_ENABLED";
/// `tracing.provider` as an environment variable.
pub const TRACING_PROVIDER_ENV: &str = "TRACING_PROVIDER";
/// `tracing.providers.otlp.server_url` as an environment variable.
pub const TRACING_SERVER_URL_ENV: &str = "TRACING_PROVIDERS_OTLP_SERVER_URL";
/// `tracing.providers.otlp.insecure` as an environment variable.
pub const TRACING_INSECURE_ENV: &str = "TRACING_PROVIDERS_OTLP_INSECURE";
/// `tracing.providers.otlp.sampling.sampling_ratio` as an environment variable.
pub const TRACING_SAMPLING_RATIO_ENV: &str = "TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO";

/// Every variable of [`ory_tracing_env`].
pub const ORY_TRACING_ENV_KEYS: [&str; 5] = [
    TRACING_ENABLED_ENV,
    TRACING_PROVIDER_ENV,
    TRACING_SERVER_URL_ENV,
    TRACING_INSECURE_ENV,
    TRACING_SAMPLING_RATIO_ENV,
];

/// The service environment that points Ory's server at `receiver`: upstream's `TRACING_*`
/// variables (spec §4.8) with the values a real Pebble plan shows for them (`true`, `1`).
/// Ory's server reads tracing only at start, so a change restarts it (the layer changes).
// Differs from upstream: `insecure` follows the receiver's scheme (upstream: always true), and
// the change applies now, not at the next restart.
pub fn ory_tracing_env(receiver: &OtlpReceiver) -> BTreeMap<String, String> {
    [
        (TRACING_ENABLED_ENV, "true".to_owned()),
        (
            TRACING_PROVIDER_ENV,
            charm_config::TRACING_PROVIDER.to_owned(),
        ),
        (TRACING_SERVER_URL_ENV, receiver.server_url.clone()),
        (TRACING_INSECURE_ENV, receiver.insecure.to_string()),
        (TRACING_SAMPLING_RATIO_ENV, "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The text of `oathkeeper.yaml`: [`config`] serialised.
pub fn render_config(inputs: &ConfigInputs<'_>) -> String {
    config(inputs).to_yaml()
}

/// The Pebble layer (spec §4.8) over http: service `oathkeeper` reading from `config_source`,
/// check `alive`.
pub fn layer(config_source: ConfigSource, model: &str) -> Layer {
    layer_for(config_source, model, None, None)
}

/// The Pebble layer; with `https_host` (`<app>.<model>.svc.cluster.local`), the server reads
/// its certificate and key from the pushed files and the `alive` check uses https to that name;
/// with `ory_tracing`, Ory's server exports spans there ([`ory_tracing_env`]). Our server
/// reads tracing from its config file, live: it never gets these variables.
// Differs from upstream: the files' paths are in the environment, not the certificate and key
// themselves (upstream put the private key in the plan, base64-encoded), so a rotation
// changes only the files: our server reloads them live, without a restart.
pub fn layer_for(
    config_source: ConfigSource,
    model: &str,
    https_host: Option<&str>,
    ory_tracing: Option<&OtlpReceiver>,
) -> Layer {
    let mut environment = match https_host {
        Some(_) => BTreeMap::from([
            (
                crate::tls::CERT_PATH_ENV.to_owned(),
                crate::tls::CERT_FILE.to_owned(),
            ),
            (
                crate::tls::KEY_PATH_ENV.to_owned(),
                crate::tls::KEY_FILE.to_owned(),
            ),
        ]),
        None => BTreeMap::new(),
    };
    environment.extend(ory_tracing.map(ory_tracing_env).unwrap_or_default());
    let alive_url = https_host.map_or_else(|| ALIVE_URL.to_owned(), alive_url_https);
    Layer {
        summary: Some("oathkeeper-operator layer".to_owned()),
        description: Some("pebble config layer for oathkeeper-operator".to_owned()),
        services: BTreeMap::from([(
            SERVICE.to_owned(),
            Service {
                override_: Some(Override::Replace),
                summary: Some("Oathkeeper Operator layer".to_owned()),
                command: Some(config_source.command(model)),
                startup: Some(Startup::Enabled),
                environment,
                ..Service::default()
            },
        )]),
        checks: BTreeMap::from([(
            ALIVE_CHECK.to_owned(),
            Check {
                override_: Some(Override::Replace),
                http: Some(HttpCheck {
                    url: Some(alive_url),
                    ..HttpCheck::default()
                }),
                ..Check::default()
            },
        )]),
        ..Layer::default()
    }
}

/// Whether a plan serves the API over https (its service reads a certificate file): what the
/// actions use to pick their scheme.
pub fn serves_https(plan: &Layer) -> bool {
    plan.services
        .get(SERVICE)
        .is_some_and(|s| s.environment.contains_key(crate::tls::CERT_PATH_ENV))
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
