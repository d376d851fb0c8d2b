//! Prometheus metrics, named with `serve.prometheus.metric_name_prefix` (upstream's
//! `ory_oathkeeper_` by default).
//!
//! - `<prefix>requests_total` and `<prefix>requests_duration_seconds` with labels `service`,
//!   `method`, `request` (first path segment), `status_code`, as upstream; health paths excluded.
//! - `<prefix>decisions_total{result}`: `allowed` or the denial kind.
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
//!
//! Labelled series are created on first use; the decision path then only touches atomics.
//! Its (method, status) handles are cached in a fixed table, so a decision does not take the
//! label map's lock.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
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

type Handles = (Counter, Histogram);

/// Every metric of the server.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
    decision_handles: [[OnceLock<Handles>; STATUSES.len()]; METHODS.len()],
    allowed: Counter,
    denied: [Counter; KINDS.len()],
    rules_loaded: Gauge,
    reload_errors: Family<SourceLabels, Counter>,
    reloads: [Counter; 2],
    source_stale: Family<SourceLabels, Gauge>,
    sources_up: Family<SourceLabels, Gauge>,
    cache_hits: Counter,
    cache_misses: Counter,
    store_calls: [Counter; OUTCOMES.len()],
    store_duration: Histogram,
    handshake_errors: [Counter; HANDSHAKE_FAILURES.len()],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn duration_histogram() -> Histogram {
    // Prometheus' default buckets, as upstream.
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Metrics {
    /// Registers every metric under `prefix`.
    pub fn new(prefix: &str) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RequestLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let decisions = Family::<ResultLabels, Counter>::default();
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
        let store_duration = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ]);
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
        let allowed = decisions
            .get_or_create(&ResultLabels { result: "allowed" })
            .clone();
        let denied = KINDS.map(|k| {
            decisions
                .get_or_create(&ResultLabels { result: k.as_str() })
                .clone()
        });
        Metrics {
            registry,
            requests,
            durations,
            decision_handles: Default::default(),
            allowed,
            denied,
            rules_loaded,
            reload_errors,
            reloads,
            source_stale,
            sources_up,
            cache_hits,
            cache_misses,
            store_calls,
            store_duration,
            handshake_errors,
        }
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
        self.store_duration.observe(elapsed.as_secs_f64());
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
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Records a decision: its request metrics and its result.
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
                histogram.observe(elapsed.as_secs_f64());
            }
            _ => self.observe_request(method, "decisions", status, elapsed),
        }
        match denial {
            None => self.allowed.inc(),
            Some(kind) => {
                let k = KINDS
                    .iter()
                    .position(|x| *x == kind)
                    .unwrap_or(KINDS.len() - 1);
                self.denied[k].inc()
            }
        };
    }

    /// Sets the number of rules that can match.
    pub fn set_rules_loaded(&self, count: usize) {
        self.rules_loaded
            .set(i64::try_from(count).unwrap_or(i64::MAX));
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

fn method_label(method: &http::Method) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method.as_str())
        .copied()
        .unwrap_or("OTHER")
}
