//! `http://` rule repositories (issue 20 item 4): fetched at start, refreshed on an interval
//! with `If-None-Match`/`If-Modified-Since`, the last good rules kept while the repository is
//! down or broken (stale in readiness, counted in `reload_errors_total`), through the real
//! binary against a fake rules server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::support::{Server, eventually, http_get};

/// What the fake serves.
#[derive(Debug, Clone)]
enum Served {
    /// 200 with this body and `ETag`/`Last-Modified` (304 when the request's conditions match).
    Rules { body: String, etag: String },
    /// This status, no body.
    Status(u16),
    /// The connection is closed without an answer.
    Down,
    /// No answer for a minute.
    Hang,
}

/// A fake rules server on 127.0.0.1 counting requests and conditional ones.
struct RulesServer {
    url: String,
    served: Arc<ArcSwap<Served>>,
    requests: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
    /// Requests that carried both `If-None-Match` and `If-Modified-Since` with the last values.
    conditional: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RulesServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const LAST_MODIFIED: &str = "Wed, 21 Oct 2026 07:28:00 GMT";

impl RulesServer {
    async fn start(served: Served) -> RulesServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/rules.json", listener.local_addr().unwrap());
        let served = Arc::new(ArcSwap::from_pointee(served));
        let requests = Arc::new(AtomicUsize::new(0));
        let not_modified = Arc::new(AtomicUsize::new(0));
        let conditional = Arc::new(AtomicUsize::new(0));
        let (s, r, n, c) = (
            Arc::clone(&served),
            Arc::clone(&requests),
            Arc::clone(&not_modified),
            Arc::clone(&conditional),
        );
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, r, n, c) = (
                    Arc::clone(&s),
                    Arc::clone(&r),
                    Arc::clone(&n),
                    Arc::clone(&c),
                );
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (s, r, n, c) = (
                            Arc::clone(&s),
                            Arc::clone(&r),
                            Arc::clone(&n),
                            Arc::clone(&c),
                        );
                        async move {
                            r.fetch_add(1, Ordering::SeqCst);
                            let header = |name: &str| {
                                request
                                    .headers()
                                    .get(name)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned)
                            };
                            let mut response = Response::new(Full::new(Bytes::new()));
                            match &**s.load() {
                                Served::Down => return Err("down"),
                                Served::Hang => {
                                    tokio::time::sleep(Duration::from_secs(60)).await;
                                }
                                Served::Status(status) => {
                                    *response.status_mut() = StatusCode::from_u16(*status).unwrap();
                                }
                                Served::Rules { body, etag } => {
                                    let quoted = format!("\"{etag}\"");
                                    if header("if-none-match").as_deref() == Some(quoted.as_str())
                                        && header("if-modified-since").as_deref()
                                            == Some(LAST_MODIFIED)
                                    {
                                        c.fetch_add(1, Ordering::SeqCst);
                                    }
                                    if header("if-none-match").as_deref() == Some(quoted.as_str()) {
                                        n.fetch_add(1, Ordering::SeqCst);
                                        *response.status_mut() = StatusCode::NOT_MODIFIED;
                                    } else {
                                        *response.body_mut() = Full::new(Bytes::from(body.clone()));
                                    }
                                    let headers = response.headers_mut();
                                    headers.insert("etag", quoted.parse().unwrap());
                                    headers.insert("last-modified", LAST_MODIFIED.parse().unwrap());
                                }
                            }
                            Ok::<_, &'static str>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RulesServer {
            url,
            served,
            requests,
            not_modified,
            conditional,
            task,
        }
    }

    fn serve(&self, served: Served) {
        self.served.store(Arc::new(served));
    }
}

fn rules(authorizer: &str) -> String {
    format!(
        r#"[{{"id":"r","match":{{"url":"http://app.example/<.*>","methods":["GET"]}},"authenticators":[{{"handler":"anonymous"}}],"authorizer":{{"handler":"{authorizer}"}},"mutators":[{{"handler":"noop"}}]}}]"#
    )
}

fn served(authorizer: &str, etag: &str) -> Served {
    Served::Rules {
        body: rules(authorizer),
        etag: etag.to_owned(),
    }
}

/// The binary serving the repository at `url`, refreshing every 200 ms.
fn server(dir: &tempfile::TempDir, url: &str) -> Server {
    let config = dir.path().join("oathkeeper.yaml");
    std::fs::write(
        &config,
        format!(
            "
authenticators: {{anonymous: {{enabled: true}}}}
authorizers: {{allow: {{enabled: true}}, deny: {{enabled: true}}}}
mutators: {{noop: {{enabled: true}}}}
access_rules:
  repositories: [{url}]
"
        ),
    )
    .unwrap();
    Server::start_with_env(Some(&config), &[("ACCESS_RULES_REFRESH_INTERVAL", "200ms")])
}

fn status(s: &Server) -> u16 {
    http_get(s.api, "/decisions/x", &[("Host", "app.example")]).map_or(0, |r| r.status)
}

/// `reload_errors_total` for `source`.
fn reload_errors(s: &Server, source: &str) -> u64 {
    let prefix = format!("ory_oathkeeper_reload_errors_total{{source=\"{source}\"}} ");
    http_get(s.metrics, "/metrics", &[])
        .ok()
        .and_then(|m| {
            m.body
                .lines()
                .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn settle() -> Duration {
    Duration::from_secs(5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_rules_decide_and_changed_rules_are_picked_up() {
    let repo = RulesServer::start(served("allow", "v1")).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &repo.url);
    assert!(
        eventually(settle(), || status(&s) == 200),
        "rules from the repository"
    );
    let ready = s.get("/health/ready", &[]);
    assert_eq!(
        (ready.status, ready.body.contains("stale")),
        (200, false),
        "{}",
        ready.body
    );
    repo.serve(served("deny", "v2"));
    assert!(
        eventually(settle(), || status(&s) == 403),
        "changed rules apply"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_repository_costs_a_304() {
    let repo = RulesServer::start(served("allow", "v1")).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &repo.url);
    assert!(eventually(settle(), || status(&s) == 200));
    assert!(
        eventually(settle(), || repo.not_modified.load(Ordering::SeqCst) >= 3),
        "refreshed with conditions"
    );
    let (requests, not_modified) = (
        repo.requests.load(Ordering::SeqCst),
        repo.not_modified.load(Ordering::SeqCst),
    );
    assert!(
        requests - not_modified <= 1,
        "only the first fetch has a body: {requests} requests, {not_modified} 304s"
    );
    assert!(
        repo.conditional.load(Ordering::SeqCst) >= 3,
        "If-None-Match and If-Modified-Since carry the last ETag and Last-Modified"
    );
    assert_eq!(status(&s), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_repository_keeps_its_last_good_rules_stale_and_counted_then_recovers() {
    let repo = RulesServer::start(served("allow", "v1")).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &repo.url);
    assert!(eventually(settle(), || status(&s) == 200));
    assert_eq!(reload_errors(&s, &repo.url), 0);

    for (i, outage) in [Served::Down, Served::Status(503)].into_iter().enumerate() {
        repo.serve(outage.clone());
        assert!(
            eventually(settle(), || reload_errors(&s, &repo.url) > i as u64),
            "{outage:?} is counted"
        );
        let ready = s.get("/health/ready", &[]);
        assert_eq!(ready.status, 200, "{}", ready.body);
        assert!(
            ready.body.contains("stale") && ready.body.contains(&repo.url),
            "{outage:?}: readiness names the stale repository: {}",
            ready.body
        );
        assert_eq!(status(&s), 200, "{outage:?}: the last good rules serve");
    }

    repo.serve(served("deny", "v2"));
    assert!(eventually(settle(), || status(&s) == 403), "recovered");
    let ready = s.get("/health/ready", &[]);
    assert_eq!(
        (ready.status, ready.body.contains("stale")),
        (200, false),
        "{}",
        ready.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rules_keep_the_last_good_rules() {
    let repo = RulesServer::start(served("allow", "v1")).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &repo.url);
    assert!(eventually(settle(), || status(&s) == 200));
    repo.serve(Served::Rules {
        body: "[{\"id\": oops".into(),
        etag: "v2".into(),
    });
    assert!(eventually(settle(), || reload_errors(&s, &repo.url) > 0));
    assert_eq!(status(&s), 200);
    assert!(s.get("/health/ready", &[]).body.contains(&repo.url));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_down_at_start_serves_no_rules_until_it_answers() {
    let repo = RulesServer::start(Served::Down).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &repo.url);
    assert!(eventually(settle(), || {
        let ready = s.get("/health/ready", &[]);
        ready.status == 503 && ready.body.contains("No rules") && ready.body.contains(&repo.url)
    }));
    assert_eq!(status(&s), 404);
    repo.serve(served("allow", "v1"));
    assert!(eventually(settle(), || status(&s) == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_repository_is_stale_after_the_fetch_timeout_and_never_blocks_decisions() {
    let repo = RulesServer::start(served("allow", "v1")).await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &repo.url);
    assert!(eventually(settle(), || status(&s) == 200));
    repo.serve(Served::Hang);
    let started = std::time::Instant::now();
    let mut decisions = 0;
    let stale = eventually(Duration::from_secs(15), || {
        assert_eq!(
            status(&s),
            200,
            "decisions are served while the fetch hangs"
        );
        decisions += 1;
        let ready = s.get("/health/ready", &[]);
        ready.body.contains(&repo.url) && ready.body.contains("timed out")
    });
    assert!(stale, "a hanging fetch is a failure once it times out");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(12),
        "bounded by the 10 s fetch timeout: {took:?}"
    );
    assert!(decisions > 10);
    assert_eq!(s.get("/health/ready", &[]).status, 200);
}
