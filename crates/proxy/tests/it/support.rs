//! Test support: a fake session store (Kratos) that records calls, a recording fake endpoint
//! ([`Fake`]) for token, introspection and authorizer services, a raw HTTP/1.1 client, and
//! a running `oathkeeper` binary.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the fake session store saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body_len: usize,
}

/// How the fake answers: status, extra headers, body, delay.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn ok(body: impl Into<String>) -> Answer {
        Answer {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: "{}".into(),
            delay: Duration::ZERO,
        }
    }
}

type Behaviour = dyn Fn(&Seen) -> Answer + Send + Sync;

/// A fake Kratos `/sessions/whoami` on 127.0.0.1, counting calls.
pub struct FakeKratos {
    pub addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    seen: Arc<tokio::sync::Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeKratos {
    pub async fn start(behaviour: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeKratos {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let (c, s) = (Arc::clone(&calls), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (c, s, b) = (Arc::clone(&c), Arc::clone(&s), Arc::clone(&behaviour));
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (c, s, b) = (Arc::clone(&c), Arc::clone(&s), Arc::clone(&b));
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = http_body_util::BodyExt::collect(body)
                                .await
                                .unwrap()
                                .to_bytes();
                            let seen = Seen {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                query: parts.uri.query().map(str::to_owned),
                                headers: parts.headers,
                                body_len: body.len(),
                            };
                            c.fetch_add(1, Ordering::SeqCst);
                            let answer = b(&seen);
                            s.lock().await.push(seen);
                            tokio::time::sleep(answer.delay).await;
                            let mut response = Response::new(Full::new(Bytes::from(answer.body)));
                            *response.status_mut() = StatusCode::from_u16(answer.status).unwrap();
                            for (name, value) in answer.headers {
                                response.headers_mut().insert(name, value.parse().unwrap());
                            }
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeKratos {
            addr,
            calls,
            seen,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub async fn last(&self) -> Seen {
        self.seen
            .lock()
            .await
            .last()
            .cloned()
            .expect("the session store was called")
    }
}

impl Drop for FakeKratos {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Kratos session JSON for identity `id`, expiring at `expires_at` (RFC 3339).
pub fn kratos_session(id: &str, email: &str, name: &str, expires_at: &str) -> String {
    serde_json::json!({
        "id": "session-1",
        "active": true,
        "expires_at": expires_at,
        "authenticated_at": "2026-11-28T12:00:00Z",
        "authenticator_assurance_level": "aal1",
        "issued_at": "2026-11-28T12:00:00Z",
        "identity": {
            "id": id,
            "schema_id": "default",
            "traits": {"email": email, "name": name},
        },
    })
    .to_string()
}

/// An RFC 3339 timestamp `secs` seconds from now.
pub fn rfc3339_in(secs: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
    format!("{t:.0}")
}

/// An answer from the raw client.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// One HTTP/1.1 GET on a fresh connection (so tests see exactly what the server sends).
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Reply> {
    http_request(addr, "GET", path, headers)
}

/// One HTTP/1.1 request without a body on a fresh connection.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader)?;
    let mut body = String::new();
    reader.read_to_string(&mut body)?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Reads an answer's status line and headers (names lower-cased), up to the blank line.
pub fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, BTreeMap<String, String>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((n, v)) = trimmed.split_once(':') {
            headers.insert(n.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    Ok((status, headers))
}

/// A free loopback port (bound and released; the server binds it right after).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs an `oathkeeper` client command, returning exit code, stdout and stderr.
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .output()
        .expect("run oathkeeper");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A directory laid out like a Kubernetes ConfigMap volume: each key is a symlink into
/// `..data`, itself a symlink to a timestamped directory that kubelet swaps atomically.
pub struct ConfigMapDir {
    pub dir: tempfile::TempDir,
    generation: usize,
}

impl ConfigMapDir {
    pub fn new(files: &[(&str, &str)]) -> ConfigMapDir {
        let mut volume = ConfigMapDir {
            dir: tempfile::tempdir().unwrap(),
            generation: 0,
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.dir.path().join(name))
                .unwrap();
        }
        volume
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a new generation and swaps `..data` to it with a rename, as kubelet does.
    pub fn update(&mut self, files: &[(&str, &str)]) {
        self.generation += 1;
        let root = self.dir.path();
        let generation = format!("..2026_11_28_{:06}", self.generation);
        std::fs::create_dir(root.join(&generation)).unwrap();
        for (name, content) in files {
            std::fs::write(root.join(&generation).join(name), content).unwrap();
        }
        let tmp = root.join("..data_tmp");
        std::os::unix::fs::symlink(&generation, &tmp).unwrap();
        std::fs::rename(&tmp, root.join("..data")).unwrap();
        if self.generation > 1 {
            let old = format!("..2026_11_28_{:06}", self.generation - 1);
            std::fs::remove_dir_all(root.join(old)).unwrap();
        }
    }
}

/// A running `oathkeeper serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub api: SocketAddr,
    pub metrics: SocketAddr,
}

pub const BIN: &str = env!("CARGO_BIN_EXE_oathkeeper");

impl Server {
    /// Starts `oathkeeper serve -c config` on free ports (via the environment, as upstream maps
    /// it) and waits until `/health/alive` answers.
    pub fn start(config: &Path) -> Server {
        Server::start_with_env(Some(config), &[])
    }

    /// Starts with `config` (or the embedded example when `None`) and extra environment.
    pub fn start_with_env(config: Option<&Path>, env: &[(&str, &str)]) -> Server {
        // The server's logs: set OATHKEEPER_TEST_LOGS=1 to see them.
        let stderr = if std::env::var_os("OATHKEEPER_TEST_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        Server::start_with_stderr(config, env, stderr)
    }

    /// Starts as [`Server::start_with_env`] does, with the server's stderr (its log) sent to
    /// `stderr`.
    pub fn start_with_stderr(config: Option<&Path>, env: &[(&str, &str)], stderr: Stdio) -> Server {
        let api_port = free_port();
        let metrics_port = free_port();
        let mut command = Command::new(BIN);
        command.arg("serve");
        if let Some(config) = config {
            command.arg("-c").arg(config);
        }
        command
            .env("SERVE_API_HOST", "127.0.0.1")
            .env("SERVE_API_PORT", api_port.to_string())
            .env("SERVE_PROMETHEUS_HOST", "127.0.0.1")
            .env("SERVE_PROMETHEUS_PORT", metrics_port.to_string())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start oathkeeper");
        let server = Server {
            child,
            api: SocketAddr::from(([127, 0, 0, 1], api_port)),
            metrics: SocketAddr::from(([127, 0, 0, 1], metrics_port)),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if http_get(server.api, "/health/alive", &[]).is_ok_and(|r| r.status == 200) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("oathkeeper did not become alive within 10s");
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        http_get(self.api, path, headers).expect("request to oathkeeper")
    }

    /// Asks `/decisions` about `method url` the way Traefik does.
    pub fn decide(&self, url: &str, extra: &[(&str, &str)]) -> Reply {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (host, uri) = rest
            .find('/')
            .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        let mut headers = vec![
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", scheme),
            ("X-Forwarded-Host", host),
            ("X-Forwarded-Uri", uri),
        ];
        headers.extend_from_slice(extra);
        self.get("/decisions", &headers)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 20 ms until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a [`Fake`] answers one call: status, body, pause before answering, headers.
pub type FakeReply = (u16, Bytes, Duration, Vec<(&'static str, &'static str)>);

/// A fake HTTP endpoint on 127.0.0.1 (token, introspection, remote authorizer…): each call is
/// read into a `C`, counted, answered with `reply(call, its number from 0)` and recorded.
pub struct Fake<C> {
    /// `http://127.0.0.1:port` (a caller may add a path).
    pub url: String,
    calls: Arc<tokio::sync::Mutex<Vec<C>>>,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl<C> Drop for Fake<C> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ReadCall<C> = dyn Fn(http::request::Parts, Bytes) -> C + Send + Sync;
type ReplyTo<C> = dyn Fn(&C, usize) -> FakeReply + Send + Sync;

impl<C: Clone + Send + 'static> Fake<C> {
    /// Starts the fake.
    pub async fn serve(
        read: impl Fn(http::request::Parts, Bytes) -> C + Send + Sync + 'static,
        reply: impl Fn(&C, usize) -> FakeReply + Send + Sync + 'static,
    ) -> Fake<C> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let read: Arc<ReadCall<C>> = Arc::new(read);
        let reply: Arc<ReplyTo<C>> = Arc::new(reply);
        let (c, n) = (Arc::clone(&calls), Arc::clone(&count));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (c, n) = (Arc::clone(&c), Arc::clone(&n));
                let (r, b) = (Arc::clone(&read), Arc::clone(&reply));
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (c, n) = (Arc::clone(&c), Arc::clone(&n));
                        let (r, b) = (Arc::clone(&r), Arc::clone(&b));
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = http_body_util::BodyExt::collect(body)
                                .await
                                .unwrap()
                                .to_bytes();
                            let call = r(parts, body);
                            let number = n.fetch_add(1, Ordering::SeqCst);
                            let (status, body, delay, headers) = b(&call, number);
                            c.lock().await.push(call);
                            tokio::time::sleep(delay).await;
                            let mut response = Response::new(Full::new(body));
                            *response.status_mut() = StatusCode::from_u16(status).unwrap();
                            for (name, value) in headers {
                                response.headers_mut().insert(name, value.parse().unwrap());
                            }
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Fake {
            url,
            calls,
            count,
            task,
        }
    }

    /// How many calls arrived.
    pub fn calls(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Every call recorded, in order.
    pub async fn all(&self) -> Vec<C> {
        self.calls.lock().await.clone()
    }

    /// The last call recorded.
    pub async fn last(&self) -> C {
        self.calls.lock().await.last().cloned().expect("a call")
    }
}

/// The snapshot of `config` (JSON, as `oathkeeper.yaml` holds it) and the rule list `rules`
/// (JSON), asserting it compiled without an error.
pub fn compile_clean(
    config: &serde_json::Value,
    rules: &serde_json::Value,
) -> oathkeeper::snapshot::Snapshot {
    use oathkeeper::snapshot::{RuleFile, Severity, compile};
    let config =
        oathkeeper_core::config::parse_config(&config.to_string(), &oathkeeper_core::config::NoEnv)
            .unwrap();
    let files = [RuleFile {
        repository: "test".into(),
        rules: oathkeeper_core::rule::parse_rules(rules.to_string().as_bytes()).unwrap(),
    }];
    let snapshot = compile(&config, &files, Default::default());
    let errors: Vec<_> = snapshot
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    snapshot
}
