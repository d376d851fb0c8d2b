//! OpenTelemetry traces (issue 19 item 5): the real `oathkeeper` binary exports its decision
//! spans to a small OTLP/HTTP receiver here, which decodes what arrives with `prost`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use oathkeeper_core::config::{Config, Otlp, OtlpSampling, Tracing, TracingProviders};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message as _;
use tokio::net::TcpListener;

use crate::server::{charm_files, kratos_knowing_ann};
use crate::support::{Server, eventually, free_port, http_get};

/// One span as received, flattened.
#[derive(Debug, Clone)]
struct Got {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    /// 2 = SERVER, 3 = CLIENT.
    kind: i32,
    attributes: BTreeMap<String, String>,
    resource: BTreeMap<String, String>,
    /// 2 = Error.
    status: i32,
}

impl Got {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// 200 with an empty `ExportTraceServiceResponse`.
    Accept,
    /// Never answers.
    Hang,
}

/// A small OTLP/HTTP receiver on 127.0.0.1: `POST /v1/traces` with protobuf.
struct Receiver {
    addr: std::net::SocketAddr,
    spans: Arc<tokio::sync::Mutex<Vec<Got>>>,
    authorization: Arc<tokio::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let authorization = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let (s, a) = (Arc::clone(&spans), Arc::clone(&authorization));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, a) = (Arc::clone(&s), Arc::clone(&a));
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (s, a) = (Arc::clone(&s), Arc::clone(&a));
                        async move {
                            if mode == Mode::Hang {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                            }
                            let (parts, body) = request.into_parts();
                            assert_eq!(parts.uri.path(), "/v1/traces");
                            assert_eq!(
                                parts.headers.get("content-type").unwrap(),
                                "application/x-protobuf"
                            );
                            if let Some(v) = parts.headers.get("authorization") {
                                a.lock().await.push(v.to_str().unwrap().to_owned());
                            }
                            let body = body.collect().await.unwrap().to_bytes();
                            let request = ExportTraceServiceRequest::decode(body).unwrap();
                            let mut got = s.lock().await;
                            for rs in request.resource_spans {
                                let resource = attributes(
                                    &rs.resource.map(|r| r.attributes).unwrap_or_default(),
                                );
                                for ss in rs.scope_spans {
                                    for span in ss.spans {
                                        got.push(Got {
                                            trace_id: hex(&span.trace_id),
                                            span_id: hex(&span.span_id),
                                            parent_span_id: hex(&span.parent_span_id),
                                            name: span.name.clone(),
                                            kind: span.kind,
                                            attributes: attributes(&span.attributes),
                                            resource: resource.clone(),
                                            status: span.status.map_or(0, |s| s.code),
                                        });
                                    }
                                }
                            }
                            let mut response = Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = StatusCode::OK;
                            response.headers_mut().insert(
                                "content-type",
                                http::HeaderValue::from_static("application/x-protobuf"),
                            );
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            spans,
            authorization,
            task,
        }
    }

    fn server_url(&self) -> String {
        self.addr.to_string()
    }

    fn spans(&self) -> Vec<Got> {
        self.spans.blocking_lock().clone()
    }

    /// Waits (10 s at most) for spans matching `pick`.
    fn wait_for(&self, what: &str, mut pick: impl FnMut(&Got) -> bool) -> Vec<Got> {
        let mut found = Vec::new();
        let ok = eventually(Duration::from_secs(10), || {
            found = self.spans().into_iter().filter(|s| pick(s)).collect();
            !found.is_empty()
        });
        assert!(ok, "no span {what} arrived; got {:#?}", self.spans());
        found
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn otel(server_url: &str, ratio: Option<f64>) -> Tracing {
    Tracing {
        provider: "otel".into(),
        providers: TracingProviders {
            otlp: Otlp {
                server_url: server_url.into(),
                insecure: true,
                sampling: OtlpSampling {
                    sampling_ratio: ratio,
                },
                ..Otlp::default()
            },
            ..TracingProviders::default()
        },
        ..Tracing::default()
    }
}

/// Rewrites the charm's `oathkeeper.yaml` in `dir` with `tracing`.
fn write_tracing(dir: &Path, tracing: Tracing) {
    let path = dir.join("oathkeeper.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config: Config =
        oathkeeper_core::config::parse_config(&text, &oathkeeper_core::config::NoEnv).unwrap();
    config.tracing = tracing;
    // Through a rename, as a ConfigMap update is atomic.
    let tmp = dir.join(".oathkeeper.yaml.tmp");
    std::fs::write(&tmp, config.to_yaml()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

const COOKIE: (&str, &str) = ("Cookie", "ory_kratos_session=good");
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const STATUS_ERROR: i32 = 2;

fn metric(server: &Server, name: &str) -> f64 {
    let body = http_get(server.metrics, "/metrics/prometheus", &[])
        .unwrap()
        .body;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn decision_and_session_store_spans_arrive_with_their_attributes_and_resource() {
    let receiver = Receiver::start(Mode::Accept).await;
    let kratos = kratos_knowing_ann().await;
    let dir = charm_files(&kratos.url());
    let mut tracing = otel(&receiver.server_url(), None);
    tracing.deployment_environment = Some("staging".into());
    tracing.providers.otlp.authorization_header = Some("Bearer collector-token".into());
    write_tracing(dir.path(), tracing);
    let receiver = Arc::new(receiver);
    let r = Arc::clone(&receiver);
    let ids = tokio::task::spawn_blocking(move || {
        let s = Server::start(&dir.path().join("oathkeeper.yaml"));
        let allowed = s.decide("https://example.com/welcome?token=secret", &[]);
        assert_eq!(allowed.status, 200);
        assert_eq!(
            s.decide("https://example.com/private", &[COOKIE]).status,
            200
        );
        let denied = s.decide("https://example.com/private", &[("Accept", "*/*")]);
        assert_eq!(denied.status, 401);

        let welcome = r.wait_for("for /welcome", |g| g.attr("url.path") == Some("/welcome"));
        let d = &welcome[0];
        assert_eq!(d.kind, SERVER);
        assert_eq!(d.name, "GET /decisions");
        assert_eq!(d.attr("http.request.method"), Some("GET"));
        assert_eq!(d.attr("server.address"), Some("example.com"));
        assert_eq!(d.attr("oathkeeper.decision.result"), Some("allowed"));
        assert_eq!(d.attr("http.response.status_code"), Some("200"));
        assert!(d.attr("oathkeeper.rule.id").unwrap().contains("requirer"));
        assert_eq!(d.attr("oathkeeper.denial.kind"), None);
        assert_ne!(d.status, STATUS_ERROR, "only a 5xx is an error");
        // Upstream's default service name; our version; the environment.
        assert_eq!(d.resource["service.name"], "ORY Oathkeeper");
        assert_eq!(d.resource["service.version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(d.resource["deployment.environment"], "staging");
        // No query, header, cookie or credential anywhere in a span.
        for g in r.spans() {
            for value in g.attributes.values() {
                assert!(
                    !value.contains("secret") && !value.contains("good"),
                    "{g:?}"
                );
            }
        }

        let denied = r.wait_for("denied", |g| {
            g.attr("oathkeeper.decision.result") == Some("authentication")
        });
        assert_eq!(
            denied[0].attr("oathkeeper.denial.kind"),
            Some("authentication")
        );
        assert_eq!(denied[0].attr("http.response.status_code"), Some("401"));

        // The session store call: a CLIENT child of the decision span.
        let child = r.wait_for("of the session store", |g| g.kind == CLIENT);
        let child = &child[0];
        let parent = r.wait_for("parent of the store call", |g| {
            g.span_id == child.parent_span_id
        });
        assert_eq!(parent[0].kind, SERVER);
        assert_eq!(parent[0].trace_id, child.trace_id);
        assert_eq!(parent[0].attr("url.path"), Some("/private"));
        assert_eq!(child.attr("http.response.status_code"), Some("200"));
        let url = child.attr("url.full").unwrap();
        assert!(url.ends_with("/sessions/whoami"), "{url}");
        assert!(!url.contains('?'), "{url}");
        assert_eq!(
            *r.authorization.blocking_lock().first().unwrap(),
            "Bearer collector-token"
        );
        (child.trace_id.clone(), child.span_id.clone())
    })
    .await
    .unwrap();
    // Kratos received the child span's traceparent: its spans join the trace.
    let (trace_id, span_id) = ids;
    let seen = kratos.last().await;
    let traceparent = seen.headers.get("traceparent").unwrap().to_str().unwrap();
    assert_eq!(traceparent, format!("00-{trace_id}-{span_id}-01"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ratio_zero_exports_nothing_without_a_parent_and_a_sampled_traceparent_is_followed() {
    let receiver = Receiver::start(Mode::Accept).await;
    let dir = charm_files("http://127.0.0.1:9");
    write_tracing(dir.path(), otel(&receiver.server_url(), Some(0.0)));
    tokio::task::spawn_blocking(move || {
        let s = Server::start(&dir.path().join("oathkeeper.yaml"));
        for _ in 0..20 {
            assert_eq!(s.decide("https://example.com/welcome", &[]).status, 200);
        }
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let parent = "00f067aa0ba902b7";
        let traceparent = format!("00-{trace_id}-{parent}-01");
        let headers = [
            ("traceparent", traceparent.as_str()),
            ("tracestate", "vendor=x"),
        ];
        assert_eq!(
            s.decide("https://example.com/about/app", &headers).status,
            200
        );
        let got = receiver.wait_for("with the parent", |g| g.trace_id == trace_id);
        assert_eq!(got[0].parent_span_id, parent);
        assert_eq!(got[0].attr("url.path"), Some("/about/app"));
        // Exported in the same batches as any root span would have been: none came.
        std::thread::sleep(Duration::from_millis(1500));
        let all = receiver.spans();
        assert_eq!(all.len(), 1, "{all:#?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_reload_turns_tracing_on_and_moves_it_to_another_receiver_without_a_restart() {
    let first = Receiver::start(Mode::Accept).await;
    let second = Receiver::start(Mode::Accept).await;
    let dir = charm_files("http://127.0.0.1:9");
    tokio::task::spawn_blocking(move || {
        let s = Server::start(&dir.path().join("oathkeeper.yaml"));
        let pid = s.child.id();
        assert_eq!(s.decide("https://example.com/welcome", &[]).status, 200);
        write_tracing(dir.path(), otel(&first.server_url(), Some(1.0)));
        let on = eventually(Duration::from_secs(10), || {
            assert_eq!(s.decide("https://example.com/welcome", &[]).status, 200);
            !first.spans().is_empty()
        });
        assert!(on, "tracing did not turn on");
        write_tracing(dir.path(), otel(&second.server_url(), Some(1.0)));
        let moved = eventually(Duration::from_secs(10), || {
            assert_eq!(s.decide("https://example.com/about/app", &[]).status, 200);
            !second.spans().is_empty()
        });
        assert!(moved, "tracing did not move to the second receiver");
        // After the move settles, new decisions reach the second receiver only.
        std::thread::sleep(Duration::from_millis(1500));
        let before = first.spans().len();
        for _ in 0..5 {
            assert_eq!(
                s.decide("https://example.com/welcome/late", &[]).status,
                200
            );
        }
        second.wait_for("late", |g| g.attr("url.path") == Some("/welcome/late"));
        assert_eq!(first.spans().len(), before);
        assert_eq!(s.child.id(), pid);
    })
    .await
    .unwrap();
}

/// Many decisions with the collector down (`hang`: it never answers; else a closed port) are all answered,
/// each in normal time, and the export errors are counted.
async fn collector_down_costs_no_failed_decision(hang: bool) {
    let hanging = Receiver::start(Mode::Hang).await;
    let server_url = if hang {
        hanging.server_url()
    } else {
        format!("127.0.0.1:{}", free_port())
    };
    let kratos = kratos_knowing_ann().await;
    let dir = charm_files(&kratos.url());
    write_tracing(dir.path(), otel(&server_url, Some(1.0)));
    tokio::task::spawn_blocking(move || {
        let s = Server::start(&dir.path().join("oathkeeper.yaml"));
        let errors = "oathkeeper_tracing_export_errors_total";
        assert_eq!(metric(&s, errors), 0.0);
        let deadline = Instant::now() + Duration::from_secs(if hang { 14 } else { 4 });
        let mut answered = 0;
        while Instant::now() < deadline || answered < 300 {
            let started = Instant::now();
            let (path, headers, want) = match answered % 3 {
                0 => ("/welcome", &[][..], 200),
                1 => ("/private", &[COOKIE][..], 200),
                _ => ("/private", &[("Accept", "*/*")][..], 401),
            };
            let r = s.decide(&format!("https://example.com{path}"), headers);
            assert_eq!(r.status, want, "decision {answered}");
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "decision {answered} took {:?}",
                started.elapsed()
            );
            answered += 1;
        }
        let counted = eventually(Duration::from_secs(15), || metric(&s, errors) >= 1.0);
        assert!(counted, "no export error counted");
        drop(hanging);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_collector_port_costs_no_failed_decision_and_is_counted() {
    collector_down_costs_no_failed_decision(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_collector_costs_no_failed_decision_and_is_counted() {
    collector_down_costs_no_failed_decision(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_charms_env_vars_start_the_server_exporting() {
    let receiver = Receiver::start(Mode::Accept).await;
    let dir = charm_files("http://127.0.0.1:9");
    let url = receiver.server_url();
    tokio::task::spawn_blocking(move || {
        // As the Python charm's Pebble layer sets them (spec/charm-parity.md §4.8).
        let env = [
            ("TRACING_ENABLED", "True"),
            ("TRACING_PROVIDER", "otel"),
            ("TRACING_PROVIDERS_OTLP_SERVER_URL", url.as_str()),
            ("TRACING_PROVIDERS_OTLP_INSECURE", "True"),
            ("TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO", "1"),
        ];
        let s = Server::start_with_env(Some(&dir.path().join("oathkeeper.yaml")), &env);
        assert_eq!(s.decide("https://example.com/welcome", &[]).status, 200);
        receiver.wait_for("from the env config", |g| {
            g.attr("url.path") == Some("/welcome")
        });
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_url_with_a_scheme_is_refused_on_reload_and_the_last_good_config_serves() {
    let receiver = Receiver::start(Mode::Accept).await;
    let dir = charm_files("http://127.0.0.1:9");
    write_tracing(dir.path(), otel(&receiver.server_url(), Some(1.0)));
    tokio::task::spawn_blocking(move || {
        let s = Server::start(&dir.path().join("oathkeeper.yaml"));
        write_tracing(
            dir.path(),
            otel(&format!("http://{}", receiver.server_url()), Some(1.0)),
        );
        let refused = eventually(Duration::from_secs(10), || {
            s.get("/health/ready", &[])
                .body
                .contains("tracing.providers.otlp.server_url")
        });
        assert!(refused, "{}", s.get("/health/ready", &[]).body);
        // The last good tracing config still exports.
        assert_eq!(s.decide("https://example.com/welcome", &[]).status, 200);
        receiver.wait_for("after the refused reload", |g| {
            g.attr("url.path") == Some("/welcome")
        });
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jaeger_config_loads_with_a_warning_naming_the_key_and_exports_nothing() {
    let receiver = Receiver::start(Mode::Accept).await;
    let dir = charm_files("http://127.0.0.1:9");
    let mut tracing = otel(&receiver.server_url(), Some(1.0));
    tracing.provider = "jaeger".into();
    write_tracing(dir.path(), tracing);
    tokio::task::spawn_blocking(move || {
        let log = dir.path().join("oathkeeper.log");
        let s = Server::start_with_stderr(
            Some(&dir.path().join("oathkeeper.yaml")),
            &[("LOG_LEVEL", "info")],
            std::process::Stdio::from(std::fs::File::create(&log).unwrap()),
        );
        assert_eq!(s.decide("https://example.com/welcome", &[]).status, 200);
        let warned = eventually(Duration::from_secs(5), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("tracing.provider"))
        });
        assert!(warned, "{}", std::fs::read_to_string(&log).unwrap());
        std::thread::sleep(Duration::from_millis(1500));
        assert!(receiver.spans().is_empty());
    })
    .await
    .unwrap();
}
