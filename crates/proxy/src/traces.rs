//! OpenTelemetry traces of decisions, exported over OTLP/HTTP (issue 19).
//!
//! `tracing.provider: otel` with `tracing.providers.otlp.server_url` (`host:port`, upstream's
//! form) exports to `http(s)://<server_url>/v1/traces` (`insecure` picks `http`), with the
//! `Authorization` header `authorization_header`. An empty provider is off; `jaeger` and
//! `zipkin` load but are not exported (a warning names `tracing.provider`). Defaults follow
//! Ory's: `service_name` "ORY Oathkeeper" (oathkeeper's `TracingServiceName`), sampling ratio
//! 1 (`ory/x` `configx`'s `TracingConfig`). Sampling is parent-based(ratio), as Ory's: a
//! sampled `traceparent` from the proxy is always followed, a root span is sampled with the
//! ratio (decided before the SDK is asked: [`Root`]).
//!
//! Spans: one SERVER span per decision ([`DecisionSpan`]), and a CLIENT child per session
//! store call ([`StoreSpan`]) whose context is sent to the store as `traceparent`, so Kratos'
//! spans join the trace. A cache hit makes no call and no child: the decision span says
//! `oathkeeper.session_cache.hit`.
//!
//! Export never slows a decision: spans go to the SDK's batch processor (its own thread,
//! bounded queue; a span that finds it full is dropped and counted, [`export`]); the HTTP
//! client ([`client`]) has connect and total timeouts. Failed exports and lost spans are
//! counted in `tracing_export_errors_total` and `tracing_spans_dropped_total`.
//!
//! Cost: with tracing off, a decision pays one atomic load and a branch ([`Traces::start`]);
//! a root decision not sampled pays a random draw and builds no span ([`Root`]); an incoming
//! unsampled `traceparent` builds one non-recording span.
//!
//! Hot reload: [`Traces::apply`] builds a new provider when the `tracing` block changes and
//! swaps it in atomically; the old one is shut down off the request path, bounded.
//! Differs from upstream: upstream reads `tracing` only at start.

pub mod client;
pub mod export;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, Method, Uri};
use oathkeeper_core::config::{ConfigError, Tracing};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};

use crate::metrics::{Metrics, TracingCounters};

/// `service.name` when `tracing.service_name` is unset (oathkeeper's default).
pub const DEFAULT_SERVICE_NAME: &str = "ORY Oathkeeper";
/// The sampling ratio when `tracing.providers.otlp.sampling.sampling_ratio` is unset
/// (`ory/x` `configx`: `Float64F(..., 1)`).
pub const DEFAULT_SAMPLING_RATIO: f64 = 1.0;
/// The path the collector receives traces on.
pub const TRACES_PATH: &str = "/v1/traces";
/// The config key of the collector address, in errors and warnings.
pub const SERVER_URL_KEY: &str = "tracing.providers.otlp.server_url";
/// How often the batch processor exports what it has.
const EXPORT_EVERY: Duration = Duration::from_secs(1);
/// How long shutting a replaced provider down may take (its last export).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// The instrumentation scope.
const SCOPE: &str = "oathkeeper";
/// W3C Trace Context's header.
const TRACEPARENT: &str = "traceparent";

/// What a `tracing` block asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// No provider: no spans.
    Off,
    /// A provider this server does not export to (`jaeger`, `zipkin`): no spans.
    NotExported(String),
    /// `otel` without a collector address: no spans.
    NoServerUrl,
    /// Export over OTLP/HTTP.
    Export(Export),
}

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// `http(s)://<server_url>/v1/traces`.
    pub endpoint: Uri,
    /// The `Authorization` header sent to the collector.
    pub authorization: Option<HeaderValue>,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// The `deployment.environment` resource attribute, when set.
    pub deployment_environment: Option<String>,
    /// The share of root traces sampled, 0 to 1.
    pub sampling_ratio: f64,
}

fn invalid(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Reads a `tracing` block: what to do, or why the config is invalid (a collector address
/// with a scheme, a path or no host; a ratio outside 0..1; an unusable header value).
pub fn plan(config: &Tracing) -> Result<Plan, ConfigError> {
    let otlp = &config.providers.otlp;
    match config.provider.as_str() {
        "" => return Ok(Plan::Off),
        "otel" => {}
        "jaeger" | "zipkin" => return Ok(Plan::NotExported(config.provider.clone())),
        other => {
            return Err(invalid(
                "tracing.provider",
                format!("unknown provider \"{other}\" (otel, jaeger or zipkin)"),
            ));
        }
    }
    if otlp.server_url.is_empty() {
        return Ok(Plan::NoServerUrl);
    }
    let endpoint = endpoint(&otlp.server_url, otlp.insecure)?;
    let sampling_ratio = otlp
        .sampling
        .sampling_ratio
        .unwrap_or(DEFAULT_SAMPLING_RATIO);
    if !(0.0..=1.0).contains(&sampling_ratio) {
        return Err(invalid(
            "tracing.providers.otlp.sampling.sampling_ratio",
            format!("{sampling_ratio} is not between 0 and 1"),
        ));
    }
    let authorization = otlp
        .authorization_header
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(|h| {
            HeaderValue::from_str(h).map_err(|_| {
                invalid(
                    "tracing.providers.otlp.authorization_header",
                    "not a valid header value",
                )
            })
        })
        .transpose()?;
    Ok(Plan::Export(Export {
        endpoint,
        authorization,
        service_name: config
            .service_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned()),
        deployment_environment: config
            .deployment_environment
            .clone()
            .filter(|s| !s.is_empty()),
        sampling_ratio,
    }))
}

/// `http(s)://<server_url>/v1/traces`, built from parts: `server_url` must be a bare
/// `host[:port]`.
fn endpoint(server_url: &str, insecure: bool) -> Result<Uri, ConfigError> {
    let bad = |why: &str| invalid(SERVER_URL_KEY, format!("\"{server_url}\" {why}"));
    if server_url.contains("://") {
        return Err(bad(
            "has a scheme; write host:port (insecure: true for http)",
        ));
    }
    if server_url.contains(['/', '?', '#']) {
        return Err(bad("has a path; write host:port (/v1/traces is added)"));
    }
    let authority: Authority = server_url.parse().map_err(|_| bad("is not host:port"))?;
    if authority.as_str().contains('@') {
        return Err(bad("has user information; use authorization_header"));
    }
    if authority.host().is_empty() {
        return Err(bad("has no host"));
    }
    let scheme = if insecure {
        Scheme::HTTP
    } else {
        Scheme::HTTPS
    };
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(TRACES_PATH)
        .build()
        .map_err(|e| bad(&format!("does not make a URL: {e}")))
}

/// A provider in use.
#[derive(Debug)]
struct Active {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    /// A root span is sampled when a random `u64` is below this (see [`Root`]).
    root: Root,
}

/// The root half of parent-based(trace-id-ratio) sampling, decided before the SDK is asked:
/// an unsampled request without a parent then costs a random number and a compare, not a
/// non-recording span (measured: ~1,100 instructions per decision at ratio 0.01, BENCHMARKS.md).
/// The SDK's sampler is parent-based(always-on), so a parent's sampled flag still decides.
/// Equivalent to the trace-id ratio for a root span: no other service has seen its trace id.
#[derive(Debug, Clone, Copy)]
enum Root {
    Always,
    Never,
    Below(u64),
}

impl Root {
    fn new(ratio: f64) -> Root {
        if ratio >= 1.0 {
            Root::Always
        } else if ratio <= 0.0 || ratio.is_nan() {
            Root::Never
        } else {
            // `as` saturates; ratio is in (0, 1).
            Root::Below((ratio * u64::MAX as f64) as u64)
        }
    }

    fn sampled(self) -> bool {
        match self {
            Root::Always => true,
            Root::Never => false,
            Root::Below(threshold) => random() < threshold,
        }
    }
}

/// A thread-local xorshift64* step: no lock, no allocation.
fn random() -> u64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher as _, Hasher as _};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// The tracer of the current `tracing` block, swapped on reload.
#[derive(Debug, Default)]
pub struct Traces {
    /// Whether `active` holds a provider: the one load a decision pays when tracing is off.
    on: AtomicBool,
    active: ArcSwapOption<Active>,
    /// The block last applied.
    applied: ArcSwapOption<Tracing>,
}

impl Traces {
    /// Applies a `tracing` block that passed [`plan`]: when it differs from the one in use, a
    /// new provider (or none) is swapped in and the old one shut down off the request path.
    /// Needs a tokio runtime (the exporter's sends run on it).
    pub fn apply(&self, config: &Tracing, metrics: &Metrics) {
        if self.applied.load().as_deref() == Some(config) {
            return;
        }
        self.applied.store(Some(Arc::new(config.clone())));
        let next = match plan(config) {
            Ok(Plan::Off) => None,
            Ok(Plan::NotExported(provider)) => {
                tracing::warn!(key = "tracing.provider", provider = %provider,
                    "only OTLP (provider otel) is exported; tracing is off");
                None
            }
            Ok(Plan::NoServerUrl) => {
                tracing::warn!(
                    key = SERVER_URL_KEY,
                    "tracing provider otel has no collector address; tracing is off"
                );
                None
            }
            Ok(Plan::Export(export)) => match build(&export, metrics.tracing()) {
                Ok(active) => {
                    tracing::info!(endpoint = %export.endpoint, ratio = export.sampling_ratio,
                        service = %export.service_name, "exporting traces");
                    Some(Arc::new(active))
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the span exporter; tracing is off");
                    None
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "invalid tracing config; tracing is off");
                None
            }
        };
        let on = next.is_some();
        let old = self.active.swap(next);
        self.on.store(on, Ordering::Release);
        if let Some(old) = old {
            tracing::info!("tracing config changed; the previous exporter shuts down");
            shut_down(old);
        }
    }

    /// Shuts the provider in use down (its last export), bounded; for the end of `serve`.
    pub async fn shutdown(&self) {
        self.on.store(false, Ordering::Release);
        if let Some(old) = self.active.swap(None) {
            let provider = old.provider.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let _ = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
            })
            .await;
        }
    }

    /// Starts the span of a decision request, or `None` when tracing is off or the span is
    /// not sampled. Honours an incoming `traceparent`/`tracestate`.
    #[inline]
    pub fn start(&self, method: &Method, headers: &HeaderMap) -> Option<DecisionSpan> {
        if !self.on.load(Ordering::Acquire) {
            return None;
        }
        self.start_slow(method, headers)
    }

    fn start_slow(&self, method: &Method, headers: &HeaderMap) -> Option<DecisionSpan> {
        let active = self.active.load_full()?;
        let parent = if headers.contains_key(TRACEPARENT) {
            TraceContextPropagator::new().extract(&HeaderExtractor(headers))
        } else {
            Context::new()
        };
        if !parent.span().span_context().is_valid() && !active.root.sampled() {
            return None;
        }
        let span = active
            .tracer
            .span_builder(span_name(method))
            .with_kind(SpanKind::Server)
            .start_with_context(&active.tracer, &parent);
        if !span.is_recording() {
            return None;
        }
        let context = Context::new().with_remote_span_context(span.span_context().clone());
        Some(DecisionSpan {
            span,
            context,
            active,
            cache_hit: AtomicU8::new(CACHE_UNKNOWN),
        })
    }
}

/// Builds a provider exporting as `export` says.
fn build(
    export: &Export,
    counters: &TracingCounters,
) -> Result<Active, opentelemetry_otlp::ExporterBuildError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        opentelemetry_otlp::ExporterBuildError::InternalFailure("no tokio runtime".into())
    })?;
    let mut headers = std::collections::HashMap::new();
    if let Some(value) = export.authorization.as_ref().and_then(|v| v.to_str().ok()) {
        headers.insert("authorization".to_owned(), value.to_owned());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client::CollectorClient::new(runtime, client::TOTAL_TIMEOUT))
        .with_endpoint(export.endpoint.to_string())
        .with_headers(headers)
        .with_timeout(client::TOTAL_TIMEOUT)
        // One attempt per batch: a collector that is down costs one timeout per batch, and
        // the failure is counted.
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .build()?;
    let pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let exporter = export::Counting {
        inner: exporter,
        pending: Arc::clone(&pending),
        counters: counters.clone(),
    };
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(export::MAX_PENDING)
        .with_scheduled_delay(EXPORT_EVERY)
        .build();
    let processor = export::Gate {
        inner: BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build(),
        pending,
        counters: counters.clone(),
    };
    let mut resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(export.service_name.clone())
        .with_attribute(KeyValue::new("service.version", crate::http::api::VERSION));
    if let Some(env) = &export.deployment_environment {
        resource = resource.with_attribute(KeyValue::new("deployment.environment", env.clone()));
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        // Roots are sampled in `Traces::start` ([`Root`]); a parent's flag decides here.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer(SCOPE);
    Ok(Active {
        provider,
        tracer,
        root: Root::new(export.sampling_ratio),
    })
}

/// Shuts a replaced provider down on a blocking thread (its last export is bounded by the
/// client's timeout and [`SHUTDOWN_TIMEOUT`]). Requests still holding it end their spans
/// into a processor that drops them.
fn shut_down(old: Arc<Active>) {
    let provider = old.provider.clone();
    drop(old);
    let run = move || {
        if let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::debug!(error = %e, "shutting the previous exporter down");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(run)),
        Err(_) => drop(std::thread::Builder::new().spawn(run)),
    }
}

/// The span name: the HTTP server convention `{method} {route}`, from static text.
fn span_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET /decisions",
        Method::HEAD => "HEAD /decisions",
        Method::POST => "POST /decisions",
        Method::PUT => "PUT /decisions",
        Method::PATCH => "PATCH /decisions",
        Method::DELETE => "DELETE /decisions",
        Method::OPTIONS => "OPTIONS /decisions",
        _ => "HTTP /decisions",
    }
}

const CACHE_UNKNOWN: u8 = 0;
const CACHE_HIT: u8 = 1;
const CACHE_MISS: u8 = 2;

/// The recording span of one decision.
#[derive(Debug)]
pub struct DecisionSpan {
    span: opentelemetry_sdk::trace::Span,
    /// The decision span's context, parent of the session store's spans.
    context: Context,
    active: Arc<Active>,
    /// Whether the session cache answered (set by the session store through [`Cx`]).
    ///
    /// [`Cx`]: crate::pipeline::Cx
    cache_hit: AtomicU8,
}

/// What a decision span records at its end.
#[derive(Debug)]
pub struct Finish<'a> {
    /// The original method (empty when the forwarded parts were refused).
    pub method: &'a str,
    /// The URL matched (`scheme://host/path`, no query), empty when refused.
    pub url: &'a str,
    /// The matched rule's id.
    pub rule: Option<&'a str>,
    /// The `result` label of the decision metrics.
    pub result: &'static str,
    /// Whether the request was denied.
    pub denied: bool,
    /// The answer's status.
    pub status: u16,
}

impl DecisionSpan {
    /// Records that the session cache answered (`hit`) or not.
    pub fn session_cache(&self, hit: bool) {
        let value = if hit { CACHE_HIT } else { CACHE_MISS };
        self.cache_hit.store(value, Ordering::Relaxed);
    }

    /// Starts the CLIENT span of a session-store call to `url` (its query is not recorded)
    /// and writes its `traceparent` into `headers`.
    pub fn store_call(&self, method: &Method, url: &Uri, headers: &mut HeaderMap) -> StoreSpan {
        let tracer = &self.active.tracer;
        let mut span = tracer
            .span_builder(method.as_str().to_owned())
            .with_kind(SpanKind::Client)
            .start_with_context(tracer, &self.context);
        span.set_attributes([
            KeyValue::new("http.request.method", method.as_str().to_owned()),
            KeyValue::new("url.full", store_url(url)),
            KeyValue::new("server.address", url.host().unwrap_or("").to_owned()),
        ]);
        if let Some(port) = url.port_u16() {
            span.set_attribute(KeyValue::new("server.port", i64::from(port)));
        }
        let context = Context::new().with_remote_span_context(span.span_context().clone());
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
        StoreSpan { span }
    }

    /// Records the decision and ends the span.
    pub fn finish(mut self, finish: &Finish<'_>) {
        let span = &mut self.span;
        if !finish.method.is_empty() {
            span.set_attribute(KeyValue::new(
                "http.request.method",
                finish.method.to_owned(),
            ));
        }
        if let Some((scheme, rest)) = finish.url.split_once("://") {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            span.set_attributes([
                KeyValue::new("url.scheme", scheme.to_owned()),
                KeyValue::new("server.address", host.to_owned()),
                KeyValue::new(
                    "url.path",
                    if path.is_empty() { "/" } else { path }.to_owned(),
                ),
            ]);
        }
        if let Some(rule) = finish.rule {
            span.set_attribute(KeyValue::new("oathkeeper.rule.id", rule.to_owned()));
        }
        span.set_attribute(KeyValue::new("oathkeeper.decision.result", finish.result));
        if finish.denied {
            span.set_attribute(KeyValue::new("oathkeeper.denial.kind", finish.result));
        }
        match self.cache_hit.load(Ordering::Relaxed) {
            CACHE_HIT => span.set_attribute(KeyValue::new("oathkeeper.session_cache.hit", true)),
            CACHE_MISS => span.set_attribute(KeyValue::new("oathkeeper.session_cache.hit", false)),
            _ => {}
        }
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(finish.status),
        ));
        if finish.status >= 500 {
            span.set_status(Status::Error {
                description: Cow::Borrowed(""),
            });
        }
        span.end();
    }

    /// The decision span's context (trace and span id).
    pub fn span_context(&self) -> &SpanContext {
        self.span.span_context()
    }
}

/// The session store's URL as a span records it: scheme, host, port and path; never the
/// query or user information.
fn store_url(url: &Uri) -> String {
    let scheme = url.scheme_str().unwrap_or("http");
    let host = url.host().unwrap_or("");
    match url.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}{}", url.path()),
        None => format!("{scheme}://{host}{}", url.path()),
    }
}

/// The span of one session-store call.
#[derive(Debug)]
pub struct StoreSpan {
    span: opentelemetry_sdk::trace::Span,
}

impl StoreSpan {
    /// Ends the span: the status code the store answered, or the failure (`timeout`,
    /// `unreachable`, `invalid`) as `error.type` with status Error.
    pub fn finish(mut self, status: Option<u16>, error: Option<&'static str>) {
        if let Some(status) = status {
            self.span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        if let Some(error) = error {
            self.span.set_attribute(KeyValue::new("error.type", error));
            self.span.set_status(Status::Error {
                description: Cow::Borrowed(error),
            });
        }
        self.span.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oathkeeper_core::config::{Otlp, OtlpSampling, TracingProviders};

    fn otel(server_url: &str, insecure: bool) -> Tracing {
        Tracing {
            provider: "otel".into(),
            providers: TracingProviders {
                otlp: Otlp {
                    server_url: server_url.into(),
                    insecure,
                    ..Otlp::default()
                },
                ..TracingProviders::default()
            },
            ..Tracing::default()
        }
    }

    #[test]
    fn endpoint_adds_the_scheme_and_the_traces_path() {
        let Plan::Export(e) = plan(&otel("tempo:4318", true)).unwrap() else {
            panic!("not exported")
        };
        assert_eq!(e.endpoint.to_string(), "http://tempo:4318/v1/traces");
        assert_eq!(e.service_name, DEFAULT_SERVICE_NAME);
        assert_eq!(e.sampling_ratio, DEFAULT_SAMPLING_RATIO);
        let Plan::Export(e) = plan(&otel("[::1]:4318", false)).unwrap() else {
            panic!("not exported")
        };
        assert_eq!(e.endpoint.to_string(), "https://[::1]:4318/v1/traces");
    }

    #[test]
    fn server_url_with_a_scheme_a_path_or_no_host_is_a_config_error_naming_the_key() {
        for bad in [
            "http://tempo:4318",
            "tempo:4318/v1/traces",
            ":4318",
            "user@tempo:4318",
            "tempo:4318?x",
            "tem po:4318",
        ] {
            let e = plan(&otel(bad, true)).unwrap_err().to_string();
            assert!(e.contains(SERVER_URL_KEY), "{bad}: {e}");
        }
    }

    #[test]
    fn jaeger_zipkin_and_empty_are_not_exported_and_unknown_is_an_error() {
        let mut t = otel("tempo:4318", true);
        t.provider = "jaeger".into();
        assert_eq!(plan(&t).unwrap(), Plan::NotExported("jaeger".into()));
        t.provider = String::new();
        assert_eq!(plan(&t).unwrap(), Plan::Off);
        t.provider = "datadog".into();
        assert!(
            plan(&t)
                .unwrap_err()
                .to_string()
                .contains("tracing.provider")
        );
        assert_eq!(plan(&otel("", true)).unwrap(), Plan::NoServerUrl);
    }

    #[test]
    fn sampling_ratio_outside_zero_to_one_is_a_config_error() {
        let mut t = otel("tempo:4318", true);
        t.providers.otlp.sampling = OtlpSampling {
            sampling_ratio: Some(1.5),
        };
        assert!(plan(&t).unwrap_err().to_string().contains("sampling_ratio"));
    }

    #[test]
    fn the_store_url_in_a_span_has_no_query_and_no_user_information() {
        for (url, recorded) in [
            (
                "http://kratos:4433/sessions/whoami?token=x",
                "http://kratos:4433/sessions/whoami",
            ),
            (
                "https://user:secret@kratos/sessions/whoami",
                "https://kratos/sessions/whoami",
            ),
            ("http://[::1]:80/whoami", "http://[::1]:80/whoami"),
        ] {
            assert_eq!(store_url(&url.parse().unwrap()), recorded);
        }
    }

    #[test]
    fn root_sampling_follows_the_ratio() {
        assert!((0..1000).all(|_| Root::new(1.0).sampled()));
        assert!((0..1000).all(|_| !Root::new(0.0).sampled()));
        let hits = (0..100_000).filter(|_| Root::new(0.25).sampled()).count();
        assert!((23_000..27_000).contains(&hits), "{hits}");
    }

    #[test]
    fn tracing_off_starts_no_span() {
        let traces = Traces::default();
        assert!(traces.start(&Method::GET, &HeaderMap::new()).is_none());
    }
}
