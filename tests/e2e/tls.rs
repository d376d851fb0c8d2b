//! Issue 18: the decision API over HTTPS behind real proxies. The server runs directly (not
//! through the charm) on a config and rules shaped as the charm renders them (Kratos'
//! `cookie_session`, the `header` mutator with X-User and X-Email, the login redirect), with
//! `serve.api.tls` naming certificate and key files issued by a CA made for the test. Caddy
//! (`forward_auth` over its `http` transport with `tls`), nginx (`auth_request` to
//! `proxy_pass https://` with `proxy_ssl_verify`, SNI, session reuse and kept-alive upstream
//! connections) and Traefik (`forwardAuth` with `tls.ca`, as the Traefik charm renders the rest)
//! trust only that CA.
//!
//! Each proxy: a browser without a session is sent to the login page (nginx's `auth_request`
//! cannot relay a redirect: it answers 500, so there an API client's 401 is checked), and with
//! one reaches the app with its identity headers. Then, under load (several kept-alive
//! clients through the proxy, each request with a session), the certificate and key files are
//! rewritten several times with a new key each time, the certificate first (so the server sees
//! the half-written pair in between and keeps the last good one): no request fails, and new
//! connections to the server are served the last certificate.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::http::{KeepAlive, Message, free_port, get};
use e2e::kratos::{self, FakeKratos};
use e2e::proxies::{self, DecisionsTls, Proxy};
use e2e::server::DecisionServer;
use e2e::tls::{self, SERVER_NAME, TestCa, pair_paths, write_pair};
use e2e::traefik::{ForwardAuth, Ingress, Routing, Traefik, render};
use e2e::{eventually, upstream};

use crate::flow::{API_CLIENT, assert_the_flow, session_cookie};

/// The app's path behind Caddy and nginx (Traefik: `/<model>-<app>`).
const APP_PATH: &str = "/spark";
/// The identity headers the charm asks the proxies to copy.
const HEADERS: [&str; 2] = ["X-User", "X-Email"];
/// Kept-alive clients of the load.
pub(crate) const CLIENTS: usize = 4;
/// Certificate rotations during the load.
const ROTATIONS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Caddy,
    Nginx,
    Traefik,
}

/// `oathkeeper.yaml` as the charm renders it, with `serve.api.tls` naming the pair's files.
fn config(kratos: &FakeKratos, rules: &Path, cert: &Path, key: &Path) -> String {
    let kratos = kratos.url();
    format!(
        r#"log: {{level: info, format: json}}
serve:
  api:
    cors: {{enabled: true, allowed_origins: ["*"]}}
    tls:
      cert: {{path: "{cert}"}}
      key: {{path: "{key}"}}
errors:
  fallback: [json]
  handlers:
    redirect:
      enabled: true
      config:
        to: {kratos}{login}
        return_to_query_param: return_to
        when:
          - error: [unauthorized, forbidden]
            request: {{header: {{accept: [text/html]}}}}
    www_authenticate:
      enabled: true
      config:
        realm: unauthorized
        when:
          - error: [not_found, internal_server_error]
    json: {{enabled: true}}
access_rules:
  matching_strategy: regexp
  repositories: ["file://{rules}"]
authenticators:
  anonymous: {{enabled: true}}
  noop: {{enabled: true}}
  cookie_session:
    enabled: true
    config:
      check_session_url: {kratos}/sessions/whoami
      preserve_path: true
      extra_from: "@this"
      subject_from: identity.id
      only: [{cookie}]
authorizers:
  allow: {{enabled: true}}
mutators:
  noop: {{enabled: true}}
  header:
    enabled: true
    config:
      headers:
        X-User: "{{{{ print .Subject }}}}"
        X-Email: "{{{{ print .Extra.identity.traits.email }}}}"
"#,
        cert = cert.display(),
        key = key.display(),
        rules = rules.display(),
        login = kratos::LOGIN_PATH,
        cookie = kratos::SESSION_COOKIE,
    )
}

/// The charm's rule for a protected app at `url` (its `deny` rule: a session is needed).
fn rule(url: &str) -> String {
    serde_json::json!([{
        "id": "spark-history-server:0:deny",
        "match": {
            "url": format!("{url}<.*>"),
            "methods": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        },
        "authenticators": [{"handler": "cookie_session"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
        "errors": [{"handler": "redirect"}],
    }])
    .to_string()
}

/// Everything one test runs: Kratos, the app, the server over HTTPS, the proxy.
struct Stack {
    kratos: FakeKratos,
    ca: TestCa,
    /// The pair's directory.
    tls: tempfile::TempDir,
    _files: tempfile::TempDir,
    server: DecisionServer,
    _app: e2e::http::Server,
    _proxy: Option<Proxy>,
    _traefik: Option<Traefik>,
    port: u16,
    /// The app's path behind the proxy.
    base: String,
}

impl Stack {
    fn start(front: Front) -> Stack {
        let kratos = FakeKratos::start();
        let app = upstream::start();
        let ca = TestCa::new();
        let tls_dir = tempfile::tempdir().unwrap();
        write_pair(tls_dir.path(), &ca.leaf());
        let (cert, key) = pair_paths(tls_dir.path());
        let files = tempfile::tempdir().unwrap();
        let rules = files.path().join("rules.json");
        let config_path = files.path().join("oathkeeper.yaml");
        let traefik = (front == Front::Traefik).then(Traefik::start);
        let port = traefik.as_ref().map_or_else(free_port, Traefik::port);
        let ingress = Ingress {
            model: "demo".to_owned(),
            app: "spark-history-server".to_owned(),
            upstream: format!("http://127.0.0.1:{}", app.port()),
        };
        let base = match front {
            Front::Traefik => ingress.base_path(Routing::Path),
            Front::Caddy | Front::Nginx => APP_PATH.to_owned(),
        };
        std::fs::write(&rules, rule(&format!("http://127.0.0.1:{port}{base}"))).unwrap();
        std::fs::write(&config_path, config(&kratos, &rules, &cert, &key)).unwrap();
        let client = ca.client();
        let server = DecisionServer::start(&config_path, |api| {
            tls::https_get(api, &client, "/health/ready").is_ok_and(|(status, _)| status == 200)
        });
        let decisions = DecisionsTls {
            ca: ca.pem_file(),
            server_name: SERVER_NAME.to_owned(),
        };
        let headers: Vec<String> = HEADERS.iter().map(|h| (*h).to_owned()).collect();
        let (api, upstream_port) = (server.api_port(), app.port());
        let start_proxy: Option<proxies::StartWith> = match front {
            Front::Caddy => Some(proxies::caddy_with),
            Front::Nginx => Some(proxies::nginx_with),
            Front::Traefik => None,
        };
        let proxy = start_proxy.map(|start| {
            start(
                port,
                api,
                "/decisions",
                &headers,
                upstream_port,
                Some(&decisions),
            )
        });
        if let Some(traefik) = &traefik {
            route_through_traefik(traefik, &ingress, api, &ca.pem_file(), &headers);
        }
        Stack {
            kratos,
            ca,
            tls: tls_dir,
            _files: files,
            server,
            _app: app,
            _proxy: proxy,
            _traefik: traefik,
            port,
            base,
        }
    }

    fn get(&self, rest: &str, headers: &[(&str, &str)]) -> Message {
        let path = format!("{}{rest}", self.base);
        get(self.port, &path, headers).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The certificate a new connection to the server is served.
    fn served(&self) -> std::io::Result<Vec<u8>> {
        tls::served_certificate(self.server.api_port(), &self.ca.client())
    }
}

/// The Traefik charm's routes for `ingress` with our forward-auth databag, the decisions
/// address `https://127.0.0.1:<api>/decisions` (what the Service address resolves to here),
/// plus the one thing the charm does not render: `tls.ca`, trusting the test CA. Traefik has
/// no server-name option: it verifies the address's host, 127.0.0.1, which the certificate
/// names too.
fn route_through_traefik(
    traefik: &Traefik,
    ingress: &Ingress,
    api: u16,
    ca: &Path,
    headers: &[String],
) {
    let auth = ForwardAuth {
        decisions_address: format!("https://127.0.0.1:{api}/decisions"),
        app_names: vec![ingress.app.clone()],
        headers: headers.to_vec(),
    };
    let mut config = render(
        ingress,
        Routing::Path,
        &traefik.external_host(),
        Some(&auth),
    );
    let middleware = format!("juju-sidecar-forward-auth-{}", ingress.prefix());
    config["http"]["middlewares"][middleware.as_str()]["forwardAuth"]["tls"] =
        serde_json::json!({"ca": ca.display().to_string()});
    traefik.apply(ingress, &config);
}

fn the_flow_over_https(front: Front) {
    let stack = Stack::start(front);
    assert_the_flow(
        &front,
        front != Front::Nginx,
        &stack.kratos,
        |rest, headers| stack.get(rest, headers),
    );
    // The audit line is written by the server's non-blocking log writer: it can reach the
    // file a moment after the proxy has answered.
    assert!(
        eventually(Duration::from_secs(5), || stack
            .server
            .log()
            .contains("access request granted")),
        "{front:?}: the decision went through the server\n{}",
        stack.server.log()
    );
}

#[test]
fn through_caddy_over_https_a_browser_is_sent_to_login_then_reaches_the_app_with_its_identity() {
    the_flow_over_https(Front::Caddy);
}

#[test]
fn through_nginx_over_https_an_api_client_is_refused_then_reaches_the_app_with_its_identity() {
    the_flow_over_https(Front::Nginx);
}

#[test]
fn through_traefik_over_https_a_browser_is_sent_to_login_then_reaches_the_app_with_its_identity() {
    the_flow_over_https(Front::Traefik);
}

/// What the load saw.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    /// The first failure, for the message.
    first: std::sync::OnceLock<String>,
}

/// Kept-alive clients loading a path through a proxy, each request with a session, until
/// [`Load::finish`].
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    clients: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

/// What a [`Load`] saw once finished.
#[derive(Debug)]
pub(crate) struct LoadResult {
    /// Requests answered 200 by the app with the session's identity.
    pub(crate) ok: usize,
    /// Every other outcome.
    pub(crate) failed: usize,
    /// The first failure.
    pub(crate) first: Option<String>,
    /// How long the load ran after warming up.
    pub(crate) elapsed: Duration,
}

impl Load {
    /// Starts `clients` [`load_client`]s on `127.0.0.1:<port><path>`, and lets them warm up.
    pub(crate) fn start(port: u16, path: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let clients = (0..clients)
            .map(|_| {
                let path = path.to_owned();
                let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
                std::thread::spawn(move || load_client(port, &path, &stop, &tally))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        Load {
            stop,
            tally,
            clients,
            started: Instant::now(),
        }
    }

    /// Stops the clients and says what they saw.
    pub(crate) fn finish(self) -> LoadResult {
        let elapsed = self.started.elapsed();
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.join().unwrap();
        }
        LoadResult {
            ok: self.tally.ok.load(Ordering::Relaxed),
            failed: self.tally.failed.load(Ordering::Relaxed),
            first: self.tally.first.get().cloned(),
            elapsed,
        }
    }
}

/// One kept-alive client sending requests with a session until `stop`; a request fails unless
/// it is answered 200 by the app with the session's identity. A closed connection is reopened
/// (and the request that saw it counted as failed).
fn load_client(port: u16, path: &str, stop: &AtomicBool, tally: &Tally) {
    let (name, cookie) = session_cookie();
    let headers = [API_CLIENT, (name, cookie.as_str())];
    let mut connection = KeepAlive::connect(port).ok();
    while !stop.load(Ordering::Relaxed) {
        let Some(conn) = connection.as_mut() else {
            tally.failed.fetch_add(1, Ordering::Relaxed);
            let _ = tally.first.set("cannot connect to the proxy".to_owned());
            connection = KeepAlive::connect(port).ok();
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        match conn.get(path, &headers) {
            Ok(answer)
                if answer.status == 200
                    && upstream::seen(&answer.body).get("x-user")
                        == Some(&serde_json::json!(kratos::IDENTITY_ID)) =>
            {
                tally.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(answer) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                let _ = tally.first.set(format!("{answer:?}"));
            }
            Err(e) => {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                let _ = tally.first.set(format!("connection: {e}"));
                connection = KeepAlive::connect(port).ok();
            }
        }
    }
}

fn rotation_under_load(front: Front) {
    let stack = Stack::start(front);
    let load = Load::start(stack.port, &format!("{}/jobs/", stack.base), CLIENTS);
    let mut last = None;
    for _ in 0..ROTATIONS {
        let leaf = stack.ca.leaf();
        write_pair(stack.tls.path(), &leaf);
        let applied = eventually(Duration::from_secs(5), || {
            stack.served().is_ok_and(|der| der == leaf.der)
        });
        assert!(
            applied,
            "{front:?}: the rotated certificate was not served\n{}",
            stack.server.log()
        );
        last = Some(leaf);
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(300));
    let LoadResult {
        ok,
        failed,
        first,
        elapsed,
    } = load.finish();
    eprintln!(
        "{front:?}: {ok} requests through the proxy over {elapsed:?} with {ROTATIONS} rotations, \
         {failed} failed"
    );
    assert_eq!(
        failed,
        0,
        "{front:?}: first failure: {:?}\nserver log:\n{}",
        first,
        stack.server.log()
    );
    assert!(ok > 100, "{front:?}: only {ok} requests were made");
    assert_eq!(stack.served().unwrap(), last.unwrap().der);
    // The half-written pairs in between were refused and the last good one kept: readiness
    // is clear again.
    let (status, body) =
        tls::https_get(stack.server.api_port(), &stack.ca.client(), "/health/ready").unwrap();
    assert_eq!(status, 200);
    assert!(!body.contains("stale"), "{body}");
}

#[test]
fn through_caddy_the_certificate_rotates_under_load_with_no_failed_request() {
    rotation_under_load(Front::Caddy);
}

#[test]
fn through_nginx_the_certificate_rotates_under_load_with_no_failed_request() {
    rotation_under_load(Front::Nginx);
}

#[test]
fn through_traefik_the_certificate_rotates_under_load_with_no_failed_request() {
    rotation_under_load(Front::Traefik);
}
