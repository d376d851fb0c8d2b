//! `oathkeeper.yaml` as our charm renders it (spec §6.6): equal, once parsed, to upstream's
//! template, built from the handlers' typed configs.

use crate::config::{
    AccessRules, Config, Cors, ErrorHandlers, Errors, FILE_SCHEME, HandlerSwitch,
    KUBERNETES_SCHEME, Listener, Log, LogFormat, LogLevel, Otlp, OtlpSampling, Prometheus, Serve,
    Tracing, TracingProviders,
};
use crate::handler::when::Clause;
use crate::handler::{header, redirect, session_store, www_authenticate};
use crate::matcher::Strategy;

/// The Prometheus metrics port.
pub const METRICS_PORT: u16 = 9000;
/// The Prometheus metrics path.
pub const METRICS_PATH: &str = "/metrics/prometheus";
/// The prefix of every metric name.
pub const METRIC_NAME_PREFIX: &str = "oathkeeper_";
/// The redirect target when Kratos is not related.
pub const DEFAULT_LOGIN_URL: &str = "http://default-kratos-url/self-service/login/browser";
/// The session check URL when Kratos is not related.
pub const DEFAULT_SESSIONS_URL: &str = "http://default-kratos-url/sessions/whoami";
/// The cookie that makes `cookie_session` responsible: Kratos' session.
pub const SESSION_COOKIE: &str = "ory_kratos_session";
/// The identity header every protected app gets.
pub const USER_HEADER: &str = "X-User";
/// The Go template of each identity header, in rendering order.
pub const HEADER_TEMPLATES: [(&str, &str); 3] = [
    (USER_HEADER, "{{ print .Subject }}"),
    ("X-Email", "{{ print .Extra.identity.traits.email }}"),
    ("X-Name", "{{ print .Extra.identity.traits.name }}"),
];
/// `tracing.provider` when a collector is related: OpenTelemetry (upstream's `otel`).
pub const TRACING_PROVIDER: &str = "otel";
/// The share of traces recorded when a collector is related: all of them, as upstream's charm
/// (`TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO=1`).
pub const TRACING_SAMPLING_RATIO: f64 = 1.0;
/// Where the workload finds the rules files when the rules ConfigMap is mounted.
pub const ACCESS_RULES_DIR: &str = "/etc/config/access-rules";

/// Where the workload reads the access rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repositories<'a> {
    /// The rules ConfigMap is mounted at [`ACCESS_RULES_DIR`]: one `file://` repository per
    /// key (none: no `repositories` key at all).
    Mounted(Vec<&'a str>),
    /// The rules ConfigMap `name` in `namespace`, watched through the Kubernetes API.
    Watched {
        /// The ConfigMap's namespace (the Juju model).
        namespace: &'a str,
        /// The ConfigMap.
        name: &'a str,
    },
}

impl Default for Repositories<'_> {
    fn default() -> Self {
        Repositories::Mounted(Vec::new())
    }
}

impl Repositories<'_> {
    /// The `access_rules.repositories` URLs.
    pub fn urls(&self) -> Vec<String> {
        match self {
            Repositories::Mounted(keys) => keys
                .iter()
                .map(|key| format!("{FILE_SCHEME}{ACCESS_RULES_DIR}/{key}"))
                .collect(),
            Repositories::Watched { namespace, name } => {
                vec![format!("{KUBERNETES_SCHEME}{namespace}/{name}")]
            }
        }
    }
}

/// What `oathkeeper.yaml` depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigInputs<'a> {
    /// Kratos' login page (`login_browser_endpoint`); [`DEFAULT_LOGIN_URL`] when unknown.
    pub login_url: Option<&'a str>,
    /// Kratos' session check (`sessions_endpoint`); [`DEFAULT_SESSIONS_URL`] when unknown.
    pub sessions_url: Option<&'a str>,
    /// Where the rules are read.
    pub repositories: Repositories<'a>,
    /// Identity headers some app asked for: those of [`HEADER_TEMPLATES`] are rendered,
    /// [`USER_HEADER`] always.
    pub headers: Vec<&'a str>,
}

/// The `cookie_session` config: Kratos' session check at `sessions_url`, the subject and the
/// extra data taken from the whole session, responsible for requests with [`SESSION_COOKIE`].
pub fn cookie_session(sessions_url: &str) -> session_store::Config {
    session_store::Config {
        preserve_path: Some(true),
        extra_from: Some("@this".to_owned()),
        subject_from: Some("identity.id".to_owned()),
        only: Some(vec![SESSION_COOKIE.to_owned()]),
        ..session_store::Config::new(sessions_url)
    }
}

/// `oathkeeper.yaml` (spec §6.6).
pub fn oathkeeper_config(inputs: &ConfigInputs<'_>) -> Config {
    let login_url = inputs.login_url.unwrap_or(DEFAULT_LOGIN_URL);
    let sessions_url = inputs.sessions_url.unwrap_or(DEFAULT_SESSIONS_URL);
    let mut config = Config {
        log: Log {
            level: LogLevel::Info,
            format: LogFormat::Json,
            ..Log::default()
        },
        serve: Serve {
            api: Listener {
                cors: Cors {
                    enabled: true,
                    allowed_origins: vec!["*".to_owned()],
                    ..Cors::default()
                },
                ..Listener::default()
            },
            prometheus: Prometheus {
                port: METRICS_PORT,
                metrics_path: METRICS_PATH.to_owned(),
                metric_name_prefix: METRIC_NAME_PREFIX.to_owned(),
                ..Prometheus::default()
            },
            ..Serve::default()
        },
        errors: Errors {
            fallback: vec!["www_authenticate".to_owned(), "json".to_owned()],
            handlers: ErrorHandlers {
                redirect: HandlerSwitch::enabled_with(&redirect::Config {
                    return_to_query_param: Some("return_to".to_owned()),
                    when: Some(vec![
                        Clause::errors(["unauthorized", "forbidden"]).accepting(["text/html"]),
                    ]),
                    ..redirect::Config::new(login_url)
                }),
                www_authenticate: HandlerSwitch::enabled_with(&www_authenticate::Config {
                    realm: Some("unauthorized".to_owned()),
                    when: Some(vec![Clause::errors(["not_found", "internal_server_error"])]),
                }),
                json: HandlerSwitch::enabled(),
            },
        },
        access_rules: AccessRules {
            repositories: inputs.repositories.urls(),
            matching_strategy: Strategy::Regexp,
        },
        ..Config::default()
    };
    let authenticators = &mut config.authenticators;
    authenticators.anonymous = HandlerSwitch::enabled();
    authenticators.noop = HandlerSwitch::enabled();
    authenticators.cookie_session = HandlerSwitch::enabled_with(&cookie_session(sessions_url));
    config.authorizers.allow = HandlerSwitch::enabled();
    let headers = HEADER_TEMPLATES
        .into_iter()
        .filter(|(name, _)| *name == USER_HEADER || inputs.headers.contains(name));
    config.mutators.noop = HandlerSwitch::enabled();
    config.mutators.header = HandlerSwitch::enabled_with(&header::Config::new(headers));
    config
}

/// The `tracing` block when a collector is related: spans exported over OTLP/HTTP to
/// `server_url` (`host:port`, upstream's form; the server adds `/v1/traces`), over plain HTTP
/// when `insecure`, every trace sampled ([`TRACING_SAMPLING_RATIO`]).
pub fn tracing(server_url: &str, insecure: bool) -> Tracing {
    Tracing {
        provider: TRACING_PROVIDER.to_owned(),
        providers: TracingProviders {
            otlp: Otlp {
                server_url: server_url.to_owned(),
                insecure,
                sampling: OtlpSampling {
                    sampling_ratio: Some(TRACING_SAMPLING_RATIO),
                },
                authorization_header: None,
            },
            ..TracingProviders::default()
        },
        ..Tracing::default()
    }
}

#[cfg(test)]
mod tests;
