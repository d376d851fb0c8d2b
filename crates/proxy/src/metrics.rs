//! Prometheus metrics, named with `serve.prometheus.metric_name_prefix` (upstream's
//! `ory_oathkeeper_` by default).
//!
//! - `<prefix>requests_total` and `<prefix>requests_duration_seconds` with labels `service`,
//!   `method`, `request` (first path segment), `status_code`, as upstream; health paths excluded.
//! - `<prefix>decisions_total{result}`: `allowed` or the denial kind.
//! - `<prefix>decision_duration_seconds{result}`: a histogram of the time from a decision
//!   request's arrival to its answer (before the audit line is written), by the same `result`;
//!   buckets from 50 µs (a decision without I/O) to 10 s (a session-store call that times out).
//! - `<prefix>rules_loaded`: rules that can match.
//! - `<prefix>reload_errors_total{source}`: config or rule files that failed to load.
//! - `<prefix>reloads_total{result}`: reloads that read the sources because a stamp (size,
//!   mtime, inode) or a watch said they changed: `applied` (a new snapshot) or `unchanged`
//!   (same bytes). Flat while nothing changes.
//! - `<prefix>source_stale{source}`: 1 while a config or rules source is not served as it is
//!   now (it failed to read, parse or compile, or a reload reading it hangs), 0 once it is.
//! - `<prefix>kubernetes_source_up{source}`: 1 while a `k8s://` source is listed and watched,
//!   0 while it is unreachable (its last data stays in use) or not listed yet.
//! - `<prefix>tls_handshake_errors_total{reason}`: API connections that never got to HTTP over
//!   TLS: `timeout` (no handshake within the read timeout), `failed` (the handshake failed),
//!   `plain_http` (a plain HTTP request to the TLS port, answered 400).
//! - `<prefix>tracing_export_errors_total` and `<prefix>tracing_spans_dropped_total`: span
//!   exports to the OTLP collector that failed, and spans lost (export queue full, or in a
//!   failed export); both at 0 from the start ([`crate::traces`]).
//! - `<prefix>last_reload_success_timestamp_seconds`: when the served snapshot last became what
//!   the config and every rules source hold (at start, and at each reload that leaves none of
//!   them stale); 0 while that has not happened yet.
//! - `process_*` ([`process`], Linux only): start time, CPU, memory and file descriptors, read
//!   from `/proc` on each scrape, named as every Prometheus client names them (no prefix).
//!
//! Labelled series are created on first use; the decision path then only touches atomics.
//! Its (method, status) handles are cached in a fixed table, so a decision does not take the
//! label map's lock; its per-result handles are resolved when the metrics are made.

#[cfg(target_os = "linux")]
mod process;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::denial::Kind;

/// Labels of the request metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    service: &'static str,
    method: &'static str,
    request: &'static str,
    status_code: u16,
}

/// Labels of `decisions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// How a session-store call ended (metric label `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStoreOutcome {
    /// 200 with a body.
    Ok,
    /// No answer within the timeout.
    Timeout,
    /// Connection refused, reset, DNS, TLS.
    Unreachable,
    /// A status other than 200.
    Status,
    /// The request could not be built.
    Invalid,
}

const OUTCOMES: [SessionStoreOutcome; 5] = [
    SessionStoreOutcome::Ok,
    SessionStoreOutcome::Timeout,
    SessionStoreOutcome::Unreachable,
    SessionStoreOutcome::Status,
    SessionStoreOutcome::Invalid,
];

impl SessionStoreOutcome {
    fn as_str(self) -> &'static str {
        match self {
            SessionStoreOutcome::Ok => "ok",
            SessionStoreOutcome::Timeout => "timeout",
            SessionStoreOutcome::Unreachable => "unreachable",
            SessionStoreOutcome::Status => "status",
            SessionStoreOutcome::Invalid => "invalid",
        }
    }
}

/// Labels of the session-store metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Why a TLS connection never got to HTTP (metric label `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// No complete handshake within the read timeout.
    Timeout,
    /// The handshake failed (no shared version or cipher, an alert, a corrupt message).
    Failed,
    /// The client sent plain HTTP to the TLS port.
    PlainHttp,
}

const HANDSHAKE_FAILURES: [HandshakeFailure; 3] = [
    HandshakeFailure::Timeout,
    HandshakeFailure::Failed,
    HandshakeFailure::PlainHttp,
];

impl HandshakeFailure {
    fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Failed => "failed",
            HandshakeFailure::PlainHttp => "plain_http",
        }
    }
}

/// Labels of `tls_handshake_errors_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Labels of `reload_errors_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

const SERVICE: &str = "oathkeeper-api";
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "OTHER",
];
const STATUSES: [u16; 11] = [200, 204, 301, 302, 400, 401, 403, 404, 429, 500, 503];
const KINDS: [Kind; 7] = [
    Kind::Authentication,
    Kind::Authorization,
    Kind::NoRule,
    Kind::AmbiguousRule,
    Kind::MalformedRequest,
    Kind::UpstreamFailure,
    Kind::Internal,
];

/// The `result` label of slot `i` of [`Metrics::results`]: `allowed`, then the denial kinds
/// in [`KINDS`] order.
fn result_label(i: usize) -> &'static str {
    match i.checked_sub(1) {
        None => "allowed",
        Some(k) => KINDS[k].as_str(),
    }
}

/// The `result` label of a decision (`allowed`, or the denial kind), as in
/// `decisions_total` and `decision_duration_seconds`.
pub fn decision_result(denial: Option<Kind>) -> &'static str {
    result_label(result_index(denial))
}

/// The slot of a decision's result in [`Metrics::results`] (see [`result_label`]); a `match`,
/// so a new kind does not compile until it has a slot.
fn result_index(denial: Option<Kind>) -> usize {
    match denial {
        None => 0,
        Some(Kind::Authentication) => 1,
        Some(Kind::Authorization) => 2,
        Some(Kind::NoRule) => 3,
        Some(Kind::AmbiguousRule) => 4,
        Some(Kind::MalformedRequest) => 5,
        Some(Kind::UpstreamFailure) => 6,
        Some(Kind::Internal) => 7,
    }
}

/// Upper bounds of `decision_duration_seconds`, in nanoseconds: a decision without I/O takes
/// tens of microseconds, one that calls the session store milliseconds, up to its timeout.
const DECISION_BOUNDS_NANOS: [u64; 17] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Upper bounds of `requests_duration_seconds`, in nanoseconds: Prometheus' default buckets,
/// as upstream.
const REQUEST_BOUNDS_NANOS: [u64; 11] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Upper bounds of `session_store_duration_seconds`, in nanoseconds.
const STORE_BOUNDS_NANOS: [u64; 12] = [
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
];

/// A histogram of durations in atomics, for the decision path: an observation is two relaxed
/// `fetch_add`s (its bucket and the sum, in nanoseconds), where prometheus-client's
/// `Histogram` takes a mutex that busy workers would contend on. The count is the sum of the
/// buckets, read at scrape, so the `+Inf` bucket always equals it; the sum may lag the
/// buckets by the observations in flight.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Arc<LatencyCells>);

#[derive(Debug)]
struct LatencyCells {
    /// Upper bounds in nanoseconds, ascending.
    bounds: &'static [u64],
    /// Per bucket (not cumulative): one per bound, the last one `+Inf`.
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// An empty histogram with these upper bounds (nanoseconds, ascending) and `+Inf`.
    pub fn new(bounds: &'static [u64]) -> LatencyHistogram {
        LatencyHistogram(Arc::new(LatencyCells {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }))
    }

    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let cells = &*self.0;
        // Most observations land in the first buckets: a forward scan stops early.
        let i = cells
            .bounds
            .iter()
            .position(|bound| nanos <= *bound)
            .unwrap_or(cells.bounds.len());
        cells.buckets[i].fetch_add(1, Ordering::Relaxed);
        cells.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Default for LatencyHistogram {
    /// A decision histogram (`decision_duration_seconds`' bounds).
    fn default() -> LatencyHistogram {
        LatencyHistogram::new(&DECISION_BOUNDS_NANOS)
    }
}

/// A request histogram (`requests_duration_seconds`' bounds).
fn request_histogram() -> LatencyHistogram {
    LatencyHistogram::new(&REQUEST_BOUNDS_NANOS)
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> std::fmt::Result {
        let cells = &*self.0;
        let buckets: Vec<(f64, u64)> = cells
            .buckets
            .iter()
            .enumerate()
            .map(|(i, count)| {
                let bound = cells
                    .bounds
                    .get(i)
                    .map_or(f64::INFINITY, |nanos| *nanos as f64 / 1e9);
                (bound, count.load(Ordering::Relaxed))
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = cells.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

type Handles = (Counter, LatencyHistogram);

/// Every metric of the server.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, LatencyHistogram>,
    decision_handles: [[OnceLock<Handles>; STATUSES.len()]; METHODS.len()],
    /// `decisions_total` and `decision_duration_seconds` by [`result_index`].
    results: [(Counter, LatencyHistogram); 1 + KINDS.len()],
    rules_loaded: Gauge,
    last_reload_success: Gauge<f64, AtomicU64>,
    reload_errors: Family<SourceLabels, Counter>,
    reloads: [Counter; 2],
    source_stale: Family<SourceLabels, Gauge>,
    sources_up: Family<SourceLabels, Gauge>,
    cache_hits: Counter,
    cache_misses: Counter,
    store_calls: [Counter; OUTCOMES.len()],
    store_duration: LatencyHistogram,
    handshake_errors: [Counter; HANDSHAKE_FAILURES.len()],
    tracing: TracingCounters,
}

/// The counters of the span exporter ([`crate::traces`]); clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct TracingCounters {
    /// `tracing_export_errors_total`: export requests to the collector that failed (refused,
    /// unreachable, timed out, or answered other than 2xx).
    pub export_errors: Counter,
    /// `tracing_spans_dropped_total`: spans lost, because the export queue was full or their
    /// export failed.
    pub spans_dropped: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric under `prefix`.
    pub fn new(prefix: &str) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RequestLabels, LatencyHistogram>::new_with_constructor(
            request_histogram as fn() -> LatencyHistogram,
        );
        let decisions = Family::<ResultLabels, Counter>::default();
        let decision_durations = Family::<ResultLabels, LatencyHistogram>::default();
        let rules_loaded = Gauge::default();
        let reload_errors = Family::<SourceLabels, Counter>::default();
        // prometheus-client appends `_total` to counters itself.
        registry.register(
            format!("{prefix}requests"),
            "Total requests",
            requests.clone(),
        );
        registry.register(
            format!("{prefix}requests_duration_seconds"),
            "Request duration in seconds",
            durations.clone(),
        );
        registry.register(
            format!("{prefix}decisions"),
            "Decisions by result",
            decisions.clone(),
        );
        registry.register(
            format!("{prefix}decision_duration_seconds"),
            "Time from a decision request to its answer in seconds, by result",
            decision_durations.clone(),
        );
        registry.register(
            format!("{prefix}rules_loaded"),
            "Rules that can match",
            rules_loaded.clone(),
        );
        registry.register(
            format!("{prefix}reload_errors"),
            "Config or rule files that failed to load",
            reload_errors.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            format!("{prefix}reloads"),
            "Reloads that read the sources, by result (applied, unchanged)",
            reloads.clone(),
        );
        let source_stale = Family::<SourceLabels, Gauge>::default();
        registry.register(
            format!("{prefix}source_stale"),
            "Whether a config or rules source is not served as it is now",
            source_stale.clone(),
        );
        let last_reload_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            format!("{prefix}last_reload_success_timestamp_seconds"),
            "When the config and every rules source were last served as they are, in seconds since the epoch",
            last_reload_success.clone(),
        );
        let sources_up = Family::<SourceLabels, Gauge>::default();
        registry.register(
            format!("{prefix}kubernetes_source_up"),
            "Whether a k8s:// config or rule source is listed and watched",
            sources_up.clone(),
        );
        let cache = Family::<ResultLabels, Counter>::default();
        registry.register(
            format!("{prefix}session_cache_lookups"),
            "Session cache lookups by result (hit, miss)",
            cache.clone(),
        );
        let calls = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            format!("{prefix}session_store_requests"),
            "Session-store calls by outcome",
            calls.clone(),
        );
        let store_duration = LatencyHistogram::new(&STORE_BOUNDS_NANOS);
        registry.register(
            format!("{prefix}session_store_duration_seconds"),
            "Session-store call latency in seconds",
            store_duration.clone(),
        );
        let handshakes = Family::<ReasonLabels, Counter>::default();
        registry.register(
            format!("{prefix}tls_handshake_errors"),
            "API connections that never got to HTTP over TLS, by reason",
            handshakes.clone(),
        );
        let tracing = TracingCounters::default();
        registry.register(
            format!("{prefix}tracing_export_errors"),
            "Span exports to the OTLP collector that failed",
            tracing.export_errors.clone(),
        );
        registry.register(
            format!("{prefix}tracing_spans_dropped"),
            "Spans dropped: export queue full or export failed",
            tracing.spans_dropped.clone(),
        );
        // One statement each: `get_or_create` returns a read guard that lives to the end of
        // the statement, and a second call in the same statement would wait for it forever.
        let cache_hits = cache.get_or_create(&ResultLabels { result: "hit" }).clone();
        let cache_misses = cache
            .get_or_create(&ResultLabels { result: "miss" })
            .clone();
        let store_calls = OUTCOMES.map(|o| {
            calls
                .get_or_create(&OutcomeLabels {
                    outcome: o.as_str(),
                })
                .clone()
        });
        let handshake_errors = HANDSHAKE_FAILURES.map(|f| {
            handshakes
                .get_or_create(&ReasonLabels { reason: f.as_str() })
                .clone()
        });
        let reloads = ["applied", "unchanged"]
            .map(|result| reloads.get_or_create(&ResultLabels { result }).clone());
        let results = std::array::from_fn(|i| {
            let result = result_label(i);
            let counter = decisions.get_or_create(&ResultLabels { result }).clone();
            let histogram = decision_durations
                .get_or_create(&ResultLabels { result })
                .clone();
            (counter, histogram)
        });
        #[cfg(target_os = "linux")]
        registry.register_collector(Box::new(process::Process));
        Metrics {
            registry,
            requests,
            durations,
            decision_handles: Default::default(),
            results,
            rules_loaded,
            last_reload_success,
            reload_errors,
            reloads,
            source_stale,
            sources_up,
            cache_hits,
            cache_misses,
            store_calls,
            store_duration,
            handshake_errors,
            tracing,
        }
    }

    /// The span exporter's counters.
    pub fn tracing(&self) -> &TracingCounters {
        &self.tracing
    }

    /// Counts an API connection that never got to HTTP over TLS.
    pub fn tls_handshake_failed(&self, why: HandshakeFailure) {
        self.handshake_errors[why as usize].inc();
    }

    /// Counts a session-cache lookup.
    pub fn session_cache(&self, hit: bool) {
        if hit {
            self.cache_hits.inc()
        } else {
            self.cache_misses.inc()
        };
    }

    /// Records a session-store call.
    pub fn session_store(&self, outcome: SessionStoreOutcome, elapsed: Duration) {
        let i = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(0);
        self.store_calls[i].inc();
        self.store_duration.observe(elapsed);
    }

    /// Records a request to an API route.
    pub fn observe_request(
        &self,
        method: &http::Method,
        request: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = RequestLabels {
            service: SERVICE,
            method: method_label(method),
            request,
            status_code: status,
        };
        self.requests.get_or_create(&labels).inc();
        self.durations.get_or_create(&labels).observe(elapsed);
    }

    /// Records a decision: its request metrics, its result and its duration.
    pub fn observe_decision(
        &self,
        method: &http::Method,
        status: u16,
        denial: Option<Kind>,
        elapsed: Duration,
    ) {
        let m = METHODS.iter().position(|x| *x == method_label(method));
        let s = STATUSES.iter().position(|x| *x == status);
        match (m, s) {
            (Some(m), Some(s)) => {
                let (counter, histogram) = self.decision_handles[m][s].get_or_init(|| {
                    let labels = RequestLabels {
                        service: SERVICE,
                        method: METHODS[m],
                        request: "decisions",
                        status_code: STATUSES[s],
                    };
                    (
                        self.requests.get_or_create(&labels).clone(),
                        self.durations.get_or_create(&labels).clone(),
                    )
                });
                counter.inc();
                histogram.observe(elapsed);
            }
            _ => self.observe_request(method, "decisions", status, elapsed),
        }
        let (decisions, durations) = &self.results[result_index(denial)];
        decisions.inc();
        durations.observe(elapsed);
    }

    /// Sets the number of rules that can match.
    pub fn set_rules_loaded(&self, count: usize) {
        self.rules_loaded
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Records that the config and every rules source are served as they are, since `at`.
    pub fn reload_succeeded(&self, at: SystemTime) {
        self.last_reload_success.set(unix_seconds(at));
    }

    /// Creates `source`'s `reload_errors_total` and `source_stale` series (at 0 when new).
    pub fn track_source(&self, source: &str) {
        let labels = SourceLabels {
            source: source.to_owned(),
        };
        // One statement each: see `new`.
        drop(self.reload_errors.get_or_create(&labels));
        drop(self.source_stale.get_or_create(&labels));
    }

    /// Counts a config or rule file that failed to load.
    pub fn reload_error(&self, source: &str) {
        self.reload_errors
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc();
    }

    /// Counts a reload that read the sources: `applied` when it swapped in a new snapshot.
    pub fn reloaded(&self, applied: bool) {
        self.reloads[usize::from(!applied)].inc();
    }

    /// Records whether `source` is stale (its last good state serves) or served as it is.
    pub fn set_source_stale(&self, source: &str, stale: bool) {
        self.source_stale
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .set(i64::from(stale));
    }

    /// Records whether `k8s://` source `source` is up.
    pub fn set_kubernetes_source_up(&self, source: &str, up: bool) {
        self.sources_up
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .set(i64::from(up));
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // invariant: encoding into a String cannot fail (fmt::Write for String is infallible).
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Seconds since the epoch (0 before it).
fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn method_label(method: &http::Method) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method.as_str())
        .copied()
        .unwrap_or("OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_result_has_its_own_slot_and_label() {
        assert_eq!(result_label(result_index(None)), "allowed");
        for kind in KINDS {
            assert_eq!(result_label(result_index(Some(kind))), kind.as_str());
        }
    }

    #[test]
    fn decision_duration_counts_each_decision_in_its_result_and_bucket() {
        let metrics = Metrics::new("p_");
        let get = http::Method::GET;
        metrics.observe_decision(&get, 200, None, Duration::from_micros(30));
        metrics.observe_decision(&get, 200, None, Duration::from_micros(2_000));
        metrics.observe_decision(
            &get,
            401,
            Some(Kind::Authentication),
            Duration::from_secs(20),
        );
        let text = metrics.encode();
        for line in [
            "# TYPE p_decision_duration_seconds histogram",
            r#"p_decision_duration_seconds_bucket{le="0.00005",result="allowed"} 1"#,
            r#"p_decision_duration_seconds_bucket{le="0.001",result="allowed"} 1"#,
            r#"p_decision_duration_seconds_bucket{le="0.0025",result="allowed"} 2"#,
            r#"p_decision_duration_seconds_bucket{le="+Inf",result="allowed"} 2"#,
            r#"p_decision_duration_seconds_count{result="allowed"} 2"#,
            r#"p_decision_duration_seconds_sum{result="allowed"} 0.00203"#,
            r#"p_decision_duration_seconds_bucket{le="10.0",result="authentication"} 0"#,
            r#"p_decision_duration_seconds_bucket{le="+Inf",result="authentication"} 1"#,
            r#"p_decision_duration_seconds_count{result="no_rule"} 0"#,
            r#"p_decisions_total{result="allowed"} 2"#,
            r#"p_decisions_total{result="authentication"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
    }

    #[test]
    fn request_and_session_store_durations_keep_their_buckets_without_a_lock() {
        let metrics = Metrics::new("p_");
        metrics.observe_decision(&http::Method::GET, 200, None, Duration::from_millis(7));
        metrics.observe_request(&http::Method::GET, "rules", 200, Duration::from_millis(30));
        metrics.session_store(SessionStoreOutcome::Ok, Duration::from_millis(3));
        let text = metrics.encode();
        let decisions =
            r#"service="oathkeeper-api",method="GET",request="decisions",status_code="200""#;
        for line in [
            // Prometheus' default buckets, as upstream.
            format!(r#"p_requests_duration_seconds_bucket{{le="0.005",{decisions}}} 0"#),
            format!(r#"p_requests_duration_seconds_bucket{{le="0.01",{decisions}}} 1"#),
            format!(r#"p_requests_duration_seconds_bucket{{le="10.0",{decisions}}} 1"#),
            format!(r#"p_requests_duration_seconds_count{{{decisions}}} 1"#),
            r#"p_session_store_duration_seconds_bucket{le="0.0025"} 0"#.to_owned(),
            r#"p_session_store_duration_seconds_bucket{le="0.005"} 1"#.to_owned(),
            r#"p_session_store_duration_seconds_bucket{le="+Inf"} 1"#.to_owned(),
            r#"p_session_store_duration_seconds_sum 0.003"#.to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
        assert!(
            text.lines()
                .any(|l| l.starts_with("p_requests_duration_seconds_count{")
                    && l.contains(r#"request="rules""#)
                    && l.ends_with(" 1")),
            "{text}"
        );
    }

    #[test]
    fn last_reload_success_is_in_seconds_since_the_epoch() {
        let metrics = Metrics::new("p_");
        let at = UNIX_EPOCH + Duration::from_millis(1_764_000_000_500);
        metrics.reload_succeeded(at);
        assert!(
            metrics
                .encode()
                .contains("\np_last_reload_success_timestamp_seconds 1764000000.5\n")
        );
    }
}
