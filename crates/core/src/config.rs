//! The `oathkeeper.yaml` config format (YAML or JSON), field for field as Ory Oathkeeper reads it.
//!
//! Parsing is strict: an unknown key or a value of the wrong type is an error naming the path of
//! the key. Defaults are upstream's and live in this file only. Environment variables override
//! the file the way upstream maps them (dots become `_`, upper case: `SERVE_API_PORT`,
//! `LOG_LEVEL`, `AUTHENTICATORS_COOKIE_SESSION_CONFIG_CHECK_SESSION_URL`), read through a
//! [`Source`] so that tests never touch the process environment.
//!
//! Handler `config` blocks stay JSON values here (see [`HandlerSwitch`]); their typed form is
//! in [`crate::handler`]. Serialising a [`Config`] leaves out every key equal to its default,
//! so [`Config::to_yaml`] writes a minimal document that parses back to the same value.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::matcher::Strategy;

/// Where environment overrides come from, and the empty environment tests use.
pub use envconf::{NoEnv, Source};

/// The scheme of a rules file in `access_rules.repositories` (a plain path also names one).
pub const FILE_SCHEME: &str = "file://";
/// The scheme of rules given in the repository URL itself, base64-encoded.
pub const INLINE_SCHEME: &str = "inline://";
/// The scheme of a ConfigMap read through the Kubernetes API, `k8s://<namespace>/<configmap>`:
/// as a repository, every key is a rules file; as the config source (`-c`), key
/// `oathkeeper.yaml` is the config.
pub const KUBERNETES_SCHEME: &str = "k8s://";

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listeners.
    #[serde(default, skip_serializing_if = "is_default")]
    pub serve: Serve,
    /// Rule repositories and matching.
    #[serde(default, skip_serializing_if = "is_default")]
    pub access_rules: AccessRules,
    /// Authenticator switches and global configs.
    #[serde(default, skip_serializing_if = "is_default")]
    pub authenticators: Authenticators,
    /// Authorizer switches and global configs.
    #[serde(default, skip_serializing_if = "is_default")]
    pub authorizers: Authorizers,
    /// Mutator switches and global configs.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mutators: Mutators,
    /// Error handlers and the fallback order.
    #[serde(default, skip_serializing_if = "is_default")]
    pub errors: Errors,
    /// Logging.
    #[serde(default, skip_serializing_if = "is_default")]
    pub log: Log,
    /// Tracing: OpenTelemetry spans of decisions, exported over OTLP/HTTP.
    #[serde(default, skip_serializing_if = "is_default")]
    pub tracing: Tracing,
    /// Profiling mode (accepted for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiling: Option<String>,
    /// Config version (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Whether `value` is its type's default (`skip_serializing_if`: a minimal document).
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `fn $is(value) -> bool`: whether `value` is what `$default()` gives, for the fields whose
/// default is not their type's.
macro_rules! is_default_of {
    ($($is:ident => $default:ident: $ty:ty),* $(,)?) => {$(
        #[allow(clippy::ptr_arg)]
        fn $is(value: &$ty) -> bool {
            *value == $default()
        }
    )*};
}

is_default_of!(
    is_five_seconds => five_seconds: Duration,
    is_two_minutes => two_minutes: Duration,
    is_any_origin => any_origin: Vec<String>,
    is_cors_methods => cors_methods: Vec<String>,
    is_cors_headers => cors_headers: Vec<String>,
    is_cors_exposed => cors_exposed: Vec<String>,
    is_default_metrics_port => default_metrics_port: u16,
    is_default_metrics_path => default_metrics_path: String,
    is_default_metric_prefix => default_metric_prefix: String,
    is_yes => yes: bool,
    is_enabled_switch => enabled_switch: HandlerSwitch,
    is_json_fallback => json_fallback: Vec<String>,
);

impl Config {
    /// The config as a minimal YAML document: keys equal to their default are left out, and
    /// [`parse_config`] reads it back to an equal value.
    pub fn to_yaml(&self) -> String {
        // invariant: every field serialises (string keys, no non-finite floats; handler configs
        // are JSON values), so YAML serialisation cannot fail.
        serde_norway::to_string(self).unwrap_or_default()
    }
}

/// `serve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    /// `serve.proxy` (accepted for compatibility; this server has no reverse-proxy mode).
    #[serde(default, skip_serializing_if = "is_default")]
    pub proxy: Listener,
    /// `serve.api`: decisions, rules, health.
    #[serde(default, skip_serializing_if = "is_default")]
    pub api: Listener,
    /// `serve.prometheus`: metrics.
    #[serde(default, skip_serializing_if = "is_default")]
    pub prometheus: Prometheus,
}

/// `serve.api` / `serve.proxy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Interface to bind; empty means all interfaces.
    #[serde(default, skip_serializing_if = "is_default")]
    pub host: String,
    /// Port; unset means the listener's default ([`Serve::api_port`], [`Serve::proxy_port`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Proxy only: trust `X-Forwarded-*` from clients.
    #[serde(default, skip_serializing_if = "is_default")]
    pub trust_forwarded_headers: bool,
    /// CORS.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cors: Cors,
    /// Timeouts.
    #[serde(default, skip_serializing_if = "is_default")]
    pub timeout: Timeouts,
    /// TLS key and certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

impl Serve {
    /// The API port (default 4456).
    pub fn api_port(&self) -> u16 {
        self.api.port.unwrap_or(4456)
    }

    /// The proxy port (default 4455).
    pub fn proxy_port(&self) -> u16 {
        self.proxy.port.unwrap_or(4455)
    }
}

/// `serve.*.timeout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Read timeout (default 5s).
    #[serde(
        default = "five_seconds",
        with = "go_duration",
        skip_serializing_if = "is_five_seconds"
    )]
    pub read: Duration,
    /// Write timeout (default 120s).
    #[serde(
        default = "two_minutes",
        with = "go_duration",
        skip_serializing_if = "is_two_minutes"
    )]
    pub write: Duration,
    /// Idle timeout (default 120s).
    #[serde(
        default = "two_minutes",
        with = "go_duration",
        skip_serializing_if = "is_two_minutes"
    )]
    pub idle: Duration,
}

fn five_seconds() -> Duration {
    Duration::from_secs(5)
}
fn two_minutes() -> Duration {
    Duration::from_secs(120)
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            read: five_seconds(),
            write: two_minutes(),
            idle: two_minutes(),
        }
    }
}

/// `serve.*.tls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Private key.
    #[serde(default, skip_serializing_if = "is_default")]
    pub key: TlsSource,
    /// Certificate chain.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cert: TlsSource,
}

/// A PEM given by path or inline base64.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSource {
    /// File path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Base64 PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

/// `serve.*.cors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Whether CORS handling is on.
    #[serde(default, skip_serializing_if = "is_default")]
    pub enabled: bool,
    /// Allowed origins; `*` allows any.
    #[serde(default = "any_origin", skip_serializing_if = "is_any_origin")]
    pub allowed_origins: Vec<String>,
    /// Allowed methods.
    #[serde(default = "cors_methods", skip_serializing_if = "is_cors_methods")]
    pub allowed_methods: Vec<String>,
    /// Allowed request headers.
    #[serde(default = "cors_headers", skip_serializing_if = "is_cors_headers")]
    pub allowed_headers: Vec<String>,
    /// Headers exposed to scripts.
    #[serde(default = "cors_exposed", skip_serializing_if = "is_cors_exposed")]
    pub exposed_headers: Vec<String>,
    /// Whether credentials are allowed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub allow_credentials: bool,
    /// Preflight cache lifetime in seconds (0: not sent).
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_age: u64,
    /// Debug logging of CORS decisions.
    #[serde(default, skip_serializing_if = "is_default")]
    pub debug: bool,
}

fn any_origin() -> Vec<String> {
    vec!["*".to_owned()]
}
fn cors_methods() -> Vec<String> {
    ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .map(str::to_owned)
        .to_vec()
}
fn cors_headers() -> Vec<String> {
    ["Authorization", "Content-Type"]
        .map(str::to_owned)
        .to_vec()
}
fn cors_exposed() -> Vec<String> {
    vec!["Content-Type".to_owned()]
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            enabled: false,
            allowed_origins: any_origin(),
            allowed_methods: cors_methods(),
            allowed_headers: cors_headers(),
            exposed_headers: cors_exposed(),
            allow_credentials: false,
            max_age: 0,
            debug: false,
        }
    }
}

/// `serve.prometheus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prometheus {
    /// Interface; empty means all.
    #[serde(default, skip_serializing_if = "is_default")]
    pub host: String,
    /// Port (default 9000).
    #[serde(
        default = "default_metrics_port",
        skip_serializing_if = "is_default_metrics_port"
    )]
    pub port: u16,
    /// Path (default `/metrics`).
    #[serde(
        default = "default_metrics_path",
        skip_serializing_if = "is_default_metrics_path"
    )]
    pub metrics_path: String,
    /// Metric name prefix (default `ory_oathkeeper_`).
    #[serde(
        default = "default_metric_prefix",
        skip_serializing_if = "is_default_metric_prefix"
    )]
    pub metric_name_prefix: String,
    /// Drop the `request` label.
    #[serde(default, skip_serializing_if = "is_default")]
    pub hide_request_paths: bool,
    /// Keep only the first path segment in the `request` label (default true).
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub collapse_request_paths: bool,
}

fn default_metrics_port() -> u16 {
    9000
}
fn default_metrics_path() -> String {
    "/metrics".to_owned()
}
fn default_metric_prefix() -> String {
    "ory_oathkeeper_".to_owned()
}
fn yes() -> bool {
    true
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            host: String::new(),
            port: default_metrics_port(),
            metrics_path: default_metrics_path(),
            metric_name_prefix: default_metric_prefix(),
            hide_request_paths: false,
            collapse_request_paths: true,
        }
    }
}

/// `access_rules`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRules {
    /// Repository URLs: `file://`, bare paths, `inline://<base64>`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub repositories: Vec<String>,
    /// `regexp` (default; empty also means regexp) or `glob`.
    #[serde(
        default,
        deserialize_with = "strategy_or_empty",
        skip_serializing_if = "is_default"
    )]
    pub matching_strategy: Strategy,
}

fn strategy_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Strategy, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    match text.as_str() {
        "" | "regexp" => Ok(Strategy::Regexp),
        "glob" => Ok(Strategy::Glob),
        other => Err(serde::de::Error::custom(format!(
            "unknown matching strategy \"{other}\", expected \"regexp\" or \"glob\""
        ))),
    }
}

/// A handler's global switch and config.
///
/// `config` stays a JSON value rather than the handler's typed config ([`crate::handler`]):
/// a global config may be partial (a rule supplies the rest, e.g. `redirect`'s `to`), and it is
/// deep-merged under each rule's config ([`crate::merge::deep_merge`]) before the handler
/// decodes the result, as upstream does. Only the merged block has to be a complete config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerSwitch {
    /// Whether rules may use the handler.
    #[serde(default, skip_serializing_if = "is_default")]
    pub enabled: bool,
    /// Global config, merged under each rule's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
}

impl HandlerSwitch {
    /// An enabled handler without global config.
    pub fn enabled() -> HandlerSwitch {
        HandlerSwitch {
            enabled: true,
            config: None,
        }
    }

    /// An enabled handler with `config` (a typed handler config of [`crate::handler`]) as its
    /// global config.
    pub fn enabled_with(config: &impl Serialize) -> HandlerSwitch {
        HandlerSwitch {
            enabled: true,
            // invariant: handler configs are plain data with string keys, so serialising
            // them to a JSON value cannot fail.
            config: serde_json::to_value(config).ok(),
        }
    }
}

macro_rules! handler_family {
    ($(#[$doc:meta])* $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                #[doc = concat!("The `", stringify!($field), "` handler.")]
                #[serde(default, skip_serializing_if = "is_default")]
                pub $field: HandlerSwitch,
            )*
        }

        impl $name {
            /// Every handler id of this family.
            pub const IDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The switch for handler `id`, or `None` for an unknown id.
            pub fn get(&self, id: &str) -> Option<&HandlerSwitch> {
                match id {
                    $(stringify!($field) => Some(&self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

handler_family!(
    /// `authenticators`.
    Authenticators { anonymous, noop, unauthorized, cookie_session, bearer_token, jwt,
        oauth2_client_credentials, oauth2_introspection }
);
handler_family!(
    /// `authorizers`.
    Authorizers { allow, deny, keto_engine_acp_ory, remote, remote_json }
);
handler_family!(
    /// `mutators`.
    Mutators { noop, header, cookie, id_token, hydrator }
);

/// `errors.handlers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorHandlers {
    /// `json` (enabled by default, as upstream).
    #[serde(default = "enabled_switch", skip_serializing_if = "is_enabled_switch")]
    pub json: HandlerSwitch,
    /// `redirect`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub redirect: HandlerSwitch,
    /// `www_authenticate`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub www_authenticate: HandlerSwitch,
}

fn enabled_switch() -> HandlerSwitch {
    HandlerSwitch::enabled()
}

impl Default for ErrorHandlers {
    fn default() -> Self {
        ErrorHandlers {
            json: enabled_switch(),
            redirect: HandlerSwitch::default(),
            www_authenticate: HandlerSwitch::default(),
        }
    }
}

impl ErrorHandlers {
    /// Every error handler id.
    pub const IDS: &'static [&'static str] = &["json", "redirect", "www_authenticate"];

    /// The switch for error handler `id`, or `None` for an unknown id.
    pub fn get(&self, id: &str) -> Option<&HandlerSwitch> {
        match id {
            "json" => Some(&self.json),
            "redirect" => Some(&self.redirect),
            "www_authenticate" => Some(&self.www_authenticate),
            _ => None,
        }
    }
}

/// `errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    /// Handlers tried, in order, when a rule's own handlers are not responsible.
    #[serde(default = "json_fallback", skip_serializing_if = "is_json_fallback")]
    pub fallback: Vec<String>,
    /// The handlers.
    #[serde(default, skip_serializing_if = "is_default")]
    pub handlers: ErrorHandlers,
}

fn json_fallback() -> Vec<String> {
    vec!["json".to_owned()]
}

impl Default for Errors {
    fn default() -> Self {
        Errors {
            fallback: json_fallback(),
            handlers: ErrorHandlers::default(),
        }
    }
}

/// `log.level`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum LogLevel {
    Panic,
    Fatal,
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum LogFormat {
    Json,
    JsonPretty,
    Gelf,
    #[default]
    Text,
}

/// `log`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// Level.
    #[serde(default, skip_serializing_if = "is_default")]
    pub level: LogLevel,
    /// Format.
    #[serde(default, skip_serializing_if = "is_default")]
    pub format: LogFormat,
    /// Log credentials in clear (off by default).
    #[serde(default, skip_serializing_if = "is_default")]
    pub leak_sensitive_values: bool,
    /// Text that replaces redacted values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction_text: Option<String>,
    /// More header names to redact.
    #[serde(default, skip_serializing_if = "is_default")]
    pub additional_redacted_headers: Vec<String>,
}

/// `tracing`, as Ory's services spell it (`ory/x` `otelx`): `provider: otel` with
/// `providers.otlp` exports spans over OTLP/HTTP. Only `otel` is exported; the `jaeger` and
/// `zipkin` blocks are accepted so that an upstream config still loads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tracing {
    /// `otel`, `jaeger`, `zipkin`, or empty (off).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
    /// The `service.name` resource attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The `deployment.environment` resource attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_environment: Option<String>,
    /// Per-provider settings.
    #[serde(default, skip_serializing_if = "is_default")]
    pub providers: TracingProviders,
}

/// `tracing.providers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingProviders {
    /// `tracing.providers.otlp`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub otlp: Otlp,
    /// `tracing.providers.jaeger` (accepted, not exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jaeger: Option<Value>,
    /// `tracing.providers.zipkin` (accepted, not exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<Value>,
}

/// `tracing.providers.otlp`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Otlp {
    /// The collector as `host:port` (upstream's form, no scheme), to which `/v1/traces` is
    /// added.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_url: String,
    /// Plain HTTP instead of HTTPS.
    #[serde(default, skip_serializing_if = "is_default")]
    pub insecure: bool,
    /// Sampling.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sampling: OtlpSampling,
    /// The `Authorization` header value sent to the collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_header: Option<String>,
}

/// `tracing.providers.otlp.sampling`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSampling {
    /// The share of traces started here that are recorded, 0 to 1 (a sampled parent from
    /// the proxy's `traceparent` is always followed). Unset: upstream's zero value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_ratio: Option<f64>,
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML or JSON.
    #[error("config is not valid YAML or JSON{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Syntax {
        /// 1-based line, when known.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A key is unknown or has the wrong type.
    #[error("invalid config key \"{path}\": {message}")]
    Invalid {
        /// Dotted path of the key (or of its parent, for an unknown key).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An environment override could not be read.
    #[error("invalid environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
}

/// Parses a config file's text (YAML or JSON) and applies environment overrides.
pub fn parse_config(text: &str, env: &dyn Source) -> Result<Config, ConfigError> {
    let mut tree: Value = if text.trim().is_empty() {
        Value::Null
    } else if let Ok(json) = serde_json::from_str::<Value>(text) {
        json
    } else {
        serde_norway::from_str(text).map_err(|e| ConfigError::Syntax {
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?
    };
    if tree.is_null() {
        tree = Value::Object(Default::default());
    }
    apply_env(&mut tree, env)?;
    serde_path_to_error::deserialize(tree).map_err(|e| {
        let path = e.path().to_string();
        ConfigError::Invalid {
            path: if path == "." {
                "(root)".to_owned()
            } else {
                path
            },
            message: e.into_inner().to_string(),
        }
    })
}

/// How an environment value is read.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    /// A number (`1`, `0.25`).
    Float,
    /// A JSON array, or a comma-separated list.
    List,
    /// A JSON document (maps such as `headers`).
    Json,
}

/// Every key an environment variable can override.
fn env_keys() -> Vec<(String, Kind)> {
    use Kind::*;
    let mut keys: Vec<(String, Kind)> = Vec::new();
    let mut add = |key: String, kind: Kind| keys.push((key, kind));
    for listener in ["serve.api", "serve.proxy"] {
        add(format!("{listener}.host"), Str);
        add(format!("{listener}.port"), Int);
        for t in ["read", "write", "idle"] {
            add(format!("{listener}.timeout.{t}"), Str);
        }
        add(format!("{listener}.cors.enabled"), Bool);
        add(format!("{listener}.cors.allow_credentials"), Bool);
        add(format!("{listener}.cors.debug"), Bool);
        add(format!("{listener}.cors.max_age"), Int);
        for l in [
            "allowed_origins",
            "allowed_methods",
            "allowed_headers",
            "exposed_headers",
        ] {
            add(format!("{listener}.cors.{l}"), List);
        }
        for part in ["key", "cert"] {
            add(format!("{listener}.tls.{part}.path"), Str);
            add(format!("{listener}.tls.{part}.base64"), Str);
        }
    }
    add("serve.proxy.trust_forwarded_headers".into(), Bool);
    for (k, kind) in [
        ("host", Str),
        ("port", Int),
        ("metrics_path", Str),
        ("metric_name_prefix", Str),
        ("hide_request_paths", Bool),
        ("collapse_request_paths", Bool),
    ] {
        add(format!("serve.prometheus.{k}"), kind);
    }
    add("access_rules.repositories".into(), List);
    add("access_rules.matching_strategy".into(), Str);
    add("log.level".into(), Str);
    add("log.format".into(), Str);
    add("log.leak_sensitive_values".into(), Bool);
    add("log.redaction_text".into(), Str);
    add("log.additional_redacted_headers".into(), List);
    add("errors.fallback".into(), List);
    for (k, kind) in [
        ("provider", Str),
        ("service_name", Str),
        ("deployment_environment", Str),
        ("providers.otlp.server_url", Str),
        ("providers.otlp.insecure", Bool),
        ("providers.otlp.sampling.sampling_ratio", Float),
        ("providers.otlp.authorization_header", Str),
    ] {
        add(format!("tracing.{k}"), kind);
    }
    for (family, ids) in [
        ("authenticators", Authenticators::IDS),
        ("authorizers", Authorizers::IDS),
        ("mutators", Mutators::IDS),
        ("errors.handlers", ErrorHandlers::IDS),
    ] {
        for id in ids {
            add(format!("{family}.{id}.enabled"), Bool);
            add(format!("{family}.{id}.config"), Json);
        }
    }
    let session_store = [
        ("check_session_url", Str),
        ("only", List),
        ("preserve_path", Bool),
        ("preserve_query", Bool),
        ("preserve_host", Bool),
        ("force_method", Str),
        ("extra_from", Str),
        ("subject_from", Str),
        ("forward_http_headers", List),
        ("additional_headers", Json),
        ("token_from", Json),
        ("prefix", Str),
        ("timeout", Str),
        ("connect_timeout", Str),
        ("cache", Json),
    ];
    for id in ["cookie_session", "bearer_token"] {
        for (k, kind) in session_store {
            add(format!("authenticators.{id}.config.{k}"), kind);
        }
    }
    // `jwt` and `oauth2_introspection`, key by key (nested blocks too, so a secret such as
    // `..._PRE_AUTHORIZATION_CLIENT_SECRET` can come from the environment alone).
    for (k, kind) in [
        ("jwks_urls", List),
        ("required_scope", List),
        ("target_audience", List),
        ("trusted_issuers", List),
        ("allowed_algorithms", List),
        ("scope_strategy", Str),
        ("token_from", Json),
        ("jwks_max_wait", Str),
        ("jwks_ttl", Str),
    ] {
        add(format!("authenticators.jwt.config.{k}"), kind);
    }
    for (k, kind) in [
        ("introspection_url", Str),
        ("scope_strategy", Str),
        ("required_scope", List),
        ("target_audience", List),
        ("trusted_issuers", List),
        ("prefix", Str),
        ("preserve_host", Bool),
        ("introspection_request_headers", Json),
        ("token_from", Json),
        ("pre_authorization", Json),
        ("pre_authorization.enabled", Bool),
        ("pre_authorization.client_id", Str),
        ("pre_authorization.client_secret", Str),
        ("pre_authorization.token_url", Str),
        ("pre_authorization.audience", Str),
        ("pre_authorization.scope", List),
        ("retry", Json),
        ("retry.max_delay", Str),
        ("retry.give_up_after", Str),
        ("cache", Json),
        ("cache.enabled", Bool),
        ("cache.ttl", Str),
        ("cache.max_cost", Int),
    ] {
        add(
            format!("authenticators.oauth2_introspection.config.{k}"),
            kind,
        );
    }
    for (k, kind) in [
        ("token_url", Str),
        ("required_scope", List),
        ("retry", Json),
        ("retry.max_delay", Str),
        ("retry.give_up_after", Str),
        ("cache", Json),
        ("cache.enabled", Bool),
        ("cache.ttl", Str),
        ("cache.max_tokens", Int),
    ] {
        add(
            format!("authenticators.oauth2_client_credentials.config.{k}"),
            kind,
        );
    }
    add("authenticators.anonymous.config.subject".into(), Str);
    add("mutators.header.config.headers".into(), Json);
    add("mutators.cookie.config.cookies".into(), Json);
    for (k, kind) in [("to", Str), ("code", Int), ("return_to_query_param", Str)] {
        add(format!("errors.handlers.redirect.config.{k}"), kind);
    }
    add("errors.handlers.www_authenticate.config.realm".into(), Str);
    add("errors.handlers.json.config.verbose".into(), Bool);
    for id in ErrorHandlers::IDS {
        add(format!("errors.handlers.{id}.config.when"), Json);
    }
    keys
}

/// The environment variable that overrides `key`: `serve.api.port` → `SERVE_API_PORT`.
pub fn env_var_name(key: &str) -> String {
    key.replace('.', "_").to_ascii_uppercase()
}

fn apply_env(tree: &mut Value, env: &dyn Source) -> Result<(), ConfigError> {
    for (key, kind) in env_keys() {
        let var = env_var_name(&key);
        let Some(raw) = env.get(&var) else { continue };
        let bad = |message: String| ConfigError::Env {
            var: var.clone(),
            message,
        };
        let value = match kind {
            Kind::Str => Value::String(raw),
            Kind::Int => Value::Number(
                raw.trim()
                    .parse::<i64>()
                    .map_err(|_| bad(format!("\"{raw}\" is not an integer")))?
                    .into(),
            ),
            Kind::Float => raw
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad(format!("\"{raw}\" is not a number")))?,
            Kind::Bool => Value::Bool(match raw.trim() {
                "true" | "1" | "TRUE" | "True" => true,
                "false" | "0" | "FALSE" | "False" => false,
                _ => return Err(bad(format!("\"{raw}\" is not a boolean"))),
            }),
            Kind::List if raw.trim_start().starts_with('[') => {
                serde_json::from_str(&raw).map_err(|e| bad(e.to_string()))?
            }
            Kind::List => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
            Kind::Json => serde_json::from_str(&raw).map_err(|e| bad(e.to_string()))?,
        };
        set_path(tree, &key, value);
    }
    Ok(())
}

fn set_path(tree: &mut Value, key: &str, value: Value) {
    let mut node = tree;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            *node = Value::Object(Default::default());
        }
        let Value::Object(map) = node else { return };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        node = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

mod go_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Nanos(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(text) => envconf::parse_duration(&text).map_err(serde::de::Error::custom),
            Raw::Nanos(n) => Ok(Duration::from_nanos(n)),
        }
    }

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }
}

#[cfg(test)]
mod tests;
