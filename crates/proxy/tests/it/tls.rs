//! The API over HTTPS (`serve.api.tls`), through the real `oathkeeper` binary and a rustls
//! client that trusts only a CA generated here: decisions, live rotation of the certificate
//! and key files (new connections get the new certificate, open keep-alive connections
//! continue), a bad pair keeping the last good one with readiness saying so, the base64 and
//! environment forms, plain HTTP to the TLS port, and TLS turned on and off by a config reload.
//!
//! Servers bind 127.0.0.1 on free ports; every wait has a timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::support::{BIN, Reply, eventually, free_port, read_head};
/// Every wait in these tests ends within this.
const WAIT: Duration = Duration::from_secs(10);
/// The name the leaf certificates are issued for, and clients ask for.
const SERVER_NAME: &str = "oathkeeper.test";

/// `app` for [`DECIDE`]; `over-tls` and `over-plain` for requests that name no scheme (no
/// `X-Forwarded-Proto`), whose host is the `Host` header.
const RULES: &str = r#"[
{"id":"app","match":{"url":"http://app.example/<.*>","methods":["GET"]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},
{"id":"over-tls","match":{"url":"https://oathkeeper.test/over-tls","methods":["GET"]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},
{"id":"over-plain","match":{"url":"http://oathkeeper.test/over-plain","methods":["GET"]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]}
]"#;

/// A CA made for one test, and the leaf certificates it issues.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, PEM, with the certificate's DER to compare with what a
/// client sees.
#[derive(Clone)]
struct Leaf {
    cert: String,
    key: String,
    der: Vec<u8>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "oathkeeper test CA");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A new certificate for [`SERVER_NAME`] and 127.0.0.1, with a new key.
    fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec![SERVER_NAME.to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client that trusts only this CA, offers `http/1.1`, and never resumes a session (so
    /// every connection shows the certificate served now).
    fn client(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Writes `leaf` in place, the certificate first: a rotation that is seen half done.
fn write_pair(dir: &Path, leaf: &Leaf) {
    std::fs::write(dir.join("tls.crt"), &leaf.cert).unwrap();
    std::fs::write(dir.join("tls.key"), &leaf.key).unwrap();
}

/// Reads one answer (a `Content-Length` body, or none).
fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let (status, headers) = read_head(reader)?;
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn request_text(path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// What a forward-auth proxy sends about `GET http://app.example/x`.
const DECIDE: [(&str, &str); 4] = [
    ("X-Forwarded-Method", "GET"),
    ("X-Forwarded-Proto", "http"),
    ("X-Forwarded-Host", "app.example"),
    ("X-Forwarded-Uri", "/x"),
];

/// One kept-alive HTTPS connection.
struct Https {
    stream: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

impl Https {
    fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> std::io::Result<Https> {
        let tcp = TcpStream::connect_timeout(&addr, WAIT)?;
        tcp.set_read_timeout(Some(WAIT))?;
        tcp.set_write_timeout(Some(WAIT))?;
        let name = ServerName::try_from(SERVER_NAME).unwrap();
        let connection =
            ClientConnection::new(Arc::clone(config), name).map_err(std::io::Error::other)?;
        let mut stream = StreamOwned::new(connection, tcp);
        // Complete the handshake now, so the peer certificate is known.
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Https {
            stream: BufReader::new(stream),
        })
    }

    fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Reply> {
        self.stream
            .get_mut()
            .write_all(request_text(path, headers).as_bytes())?;
        self.stream.get_mut().flush()?;
        read_reply(&mut self.stream)
    }

    /// The leaf certificate the server presented.
    fn peer(&self) -> Vec<u8> {
        let certs: &[CertificateDer<'_>] = self.stream.get_ref().conn.peer_certificates().unwrap();
        certs[0].to_vec()
    }

    fn alpn(&self) -> Option<Vec<u8>> {
        self.stream
            .get_ref()
            .conn
            .alpn_protocol()
            .map(<[u8]>::to_vec)
    }
}

/// One plain HTTP request on a fresh connection.
fn plain_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Reply> {
    let mut tcp = TcpStream::connect_timeout(&addr, WAIT)?;
    tcp.set_read_timeout(Some(WAIT))?;
    tcp.write_all(request_text(path, headers).as_bytes())?;
    read_reply(&mut BufReader::new(tcp))
}

/// A running `oathkeeper serve`, killed on drop; its log goes to a file shown on failures.
struct Server {
    child: Child,
    api: SocketAddr,
    metrics: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `oathkeeper serve -c config` with `env`; `None` when it exited instead, with its
    /// log.
    fn spawn(config: &Path, env: &[(&str, String)]) -> Result<Server, String> {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .arg("-c")
            .arg(config)
            .env("SERVE_API_HOST", "127.0.0.1")
            .env("SERVE_API_PORT", api.port().to_string())
            .env("SERVE_PROMETHEUS_HOST", "127.0.0.1")
            .env("SERVE_PROMETHEUS_PORT", metrics.port().to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "exited with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            // Listening on both ports: the API (whatever its scheme) and the metrics.
            if TcpStream::connect(api).is_ok() && plain_get(metrics, "/metrics", &[]).is_ok() {
                return Ok(Server {
                    child,
                    api,
                    metrics,
                    log,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("did not listen within 10 s".to_owned())
    }

    fn start(config: &Path, env: &[(&str, String)]) -> Server {
        Server::spawn(config, env).unwrap_or_else(|e| panic!("oathkeeper: {e}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn metrics(&self) -> String {
        plain_get(self.metrics, "/metrics", &[]).unwrap().body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test's files: the rules, the config and the TLS pair, in two directories (the pair
/// apart, as a Kubernetes secret volume would be).
struct Files {
    dir: tempfile::TempDir,
    tls: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let files = Files {
            dir: tempfile::tempdir().unwrap(),
            tls: tempfile::tempdir().unwrap(),
        };
        std::fs::write(files.dir.path().join("rules.json"), RULES).unwrap();
        files
    }

    /// Writes the config with `tls` as its `serve.api` block's `tls` (YAML flow), or none.
    fn config(&self, tls: Option<&str>) -> PathBuf {
        let path = self.dir.path().join("oathkeeper.yaml");
        let tls = tls.map_or_else(String::new, |tls| format!(", tls: {tls}"));
        let serve = format!("serve: {{api: {{timeout: {{read: 2s}}{tls}}}}}\n");
        let text = format!(
            "{serve}authenticators: {{anonymous: {{enabled: true}}}}\n\
             authorizers: {{allow: {{enabled: true}}}}\n\
             mutators: {{noop: {{enabled: true}}}}\n\
             access_rules: {{repositories: [\"file://{}\"]}}\n",
            self.dir.path().join("rules.json").display()
        );
        // Replaced whole, as an editor or a ConfigMap update does.
        let tmp = self.dir.path().join(".oathkeeper.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    /// The `tls` block naming the pair's files.
    fn tls_paths(&self) -> String {
        format!(
            "{{cert: {{path: \"{}\"}}, key: {{path: \"{}\"}}}}",
            self.tls.path().join("tls.crt").display(),
            self.tls.path().join("tls.key").display()
        )
    }

    /// A server using the pair's files, `leaf` written there first.
    fn serve(&self, leaf: &Leaf) -> Server {
        write_pair(self.tls.path(), leaf);
        Server::start(&self.config(Some(&self.tls_paths())), &[])
    }
}

fn ready(server: &Server, client: &Arc<ClientConfig>) -> Reply {
    Https::connect(server.api, client)
        .and_then(|mut c| c.get("/health/ready", &[]))
        .unwrap_or_else(|e| panic!("readiness over https: {e}\n{}", server.log()))
}

/// The certificate a new connection sees, or why there is none.
fn served(server: &Server, client: &Arc<ClientConfig>) -> std::io::Result<Vec<u8>> {
    Https::connect(server.api, client).map(|c| c.peer())
}

#[test]
fn decisions_are_answered_over_https_to_a_client_trusting_only_the_test_ca() {
    let ca = Ca::new();
    let leaf = ca.leaf();
    let files = Files::new();
    let server = files.serve(&leaf);
    let client = ca.client();
    let mut https = Https::connect(server.api, &client).unwrap();
    assert_eq!(https.peer(), leaf.der);
    assert_eq!(https.alpn().as_deref(), Some(&b"http/1.1"[..]));
    for _ in 0..3 {
        let reply = https.get("/decisions", &DECIDE).unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    assert_eq!(https.get("/decisions/nope", &[]).unwrap().status, 404);
    // A client that trusts another CA refuses the certificate.
    let stranger = Ca::new().client();
    assert!(Https::connect(server.api, &stranger).is_err());
    // Counted once the server has seen the alert.
    assert!(
        eventually(WAIT, || server
            .metrics()
            .contains("tls_handshake_errors_total{reason=\"failed\"} 1")),
        "{}",
        server.metrics()
    );
}

/// Spec oathkeeper-workload.md §1.2 (scheme): without `X-Forwarded-Proto`, the original request
/// is taken to be `https` when the decision request came over TLS, `http` otherwise.
#[test]
fn without_x_forwarded_proto_the_scheme_is_https_over_tls_and_http_over_plain_http() {
    let ca = Ca::new();
    let files = Files::new();
    let server = files.serve(&ca.leaf());
    let mut https = Https::connect(server.api, &ca.client()).unwrap();
    let status = |reply: std::io::Result<Reply>| reply.unwrap().status;
    assert_eq!(status(https.get("/decisions/over-tls", &[])), 200);
    assert_eq!(status(https.get("/decisions/over-plain", &[])), 404);
    // A forwarded scheme wins over the connection's.
    let http = [("X-Forwarded-Proto", "http")];
    assert_eq!(status(https.get("/decisions/over-plain", &http)), 200);
    assert_eq!(status(https.get("/decisions/over-tls", &http)), 404);
    drop(server);

    let server = Server::start(&files.config(None), &[]);
    assert_eq!(
        status(plain_get(server.api, "/decisions/over-plain", &[])),
        200
    );
    assert_eq!(
        status(plain_get(server.api, "/decisions/over-tls", &[])),
        404
    );
}

#[test]
fn rotated_files_serve_new_connections_at_once_while_an_open_keep_alive_connection_continues() {
    let ca = Ca::new();
    let first = ca.leaf();
    let files = Files::new();
    let server = files.serve(&first);
    let client = ca.client();
    let mut open = Https::connect(server.api, &client).unwrap();
    assert_eq!(open.get("/decisions", &DECIDE).unwrap().status, 200);

    let mut last = first.clone();
    for _ in 0..3 {
        let next = ca.leaf();
        let written = Instant::now();
        write_pair(files.tls.path(), &next);
        assert!(
            eventually(WAIT, || served(&server, &client)
                .is_ok_and(|der| der == next.der)),
            "new connections never saw the rotated certificate\n{}",
            server.log()
        );
        // A file event, not the 2 s poll, brought it.
        assert!(
            written.elapsed() < Duration::from_millis(1500),
            "{:?}",
            written.elapsed()
        );
        last = next;
    }
    // The connection opened before the rotations still answers, with its certificate.
    for _ in 0..3 {
        assert_eq!(open.get("/decisions", &DECIDE).unwrap().status, 200);
    }
    assert_eq!(open.peer(), first.der);
    let mut fresh = Https::connect(server.api, &client).unwrap();
    assert_eq!(fresh.peer(), last.der);
    assert_eq!(fresh.get("/decisions", &DECIDE).unwrap().status, 200);
    assert!(!ready(&server, &client).body.contains("stale"));
}

#[test]
fn a_bad_pair_keeps_the_last_good_one_and_shows_stale_in_readiness_until_a_good_one_returns() {
    let ca = Ca::new();
    let good = ca.leaf();
    let files = Files::new();
    let server = files.serve(&good);
    let client = ca.client();

    // A key that is not the certificate's.
    std::fs::write(files.tls.path().join("tls.key"), ca.leaf().key).unwrap();
    let key_path = files.tls.path().join("tls.key").display().to_string();
    assert!(
        eventually(WAIT, || {
            let reply = ready(&server, &client);
            reply.status == 200 && reply.body.contains("does not match the certificate")
        }),
        "readiness never reported the mismatch\n{}",
        server.log()
    );
    let reply = ready(&server, &client);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let stale = body["stale"]["tls"].as_str().unwrap();
    assert!(stale.contains(&key_path), "{stale}");
    // The last good pair serves new connections, and decisions go on.
    let mut https = Https::connect(server.api, &client).unwrap();
    assert_eq!(https.peer(), good.der);
    assert_eq!(https.get("/decisions", &DECIDE).unwrap().status, 200);
    let metrics = server.metrics();
    assert!(
        metrics.contains("reload_errors_total{source=\"serve.api.tls\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("source_stale{source=\"serve.api.tls\"} 1"),
        "{metrics}"
    );
    assert!(server.log().contains(&key_path), "{}", server.log());

    // Garbage where the certificate was: still the last good one.
    std::fs::write(
        files.tls.path().join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\nxx",
    )
    .unwrap();
    assert!(eventually(WAIT, || ready(&server, &client)
        .body
        .contains("not valid PEM")));
    assert_eq!(served(&server, &client).unwrap(), good.der);

    // A good pair again: served, and readiness clears.
    let next = ca.leaf();
    write_pair(files.tls.path(), &next);
    assert!(
        eventually(WAIT, || served(&server, &client)
            .is_ok_and(|der| der == next.der)),
        "{}",
        server.log()
    );
    assert!(eventually(WAIT, || !ready(&server, &client)
        .body
        .contains("stale")));
    assert!(
        server
            .metrics()
            .contains("source_stale{source=\"serve.api.tls\"} 0")
    );
}

#[test]
fn a_bad_pair_at_start_is_fatal_and_named() {
    let ca = Ca::new();
    let files = Files::new();
    let (cert, other) = (ca.leaf(), ca.leaf());
    std::fs::write(files.tls.path().join("tls.crt"), &cert.cert).unwrap();
    std::fs::write(files.tls.path().join("tls.key"), &other.key).unwrap();
    let config = files.config(Some(&files.tls_paths()));
    let Err(log) = Server::spawn(&config, &[]) else {
        panic!("a server started with a mismatched pair");
    };
    assert!(
        log.contains("does not match the certificate")
            && log.contains(&files.tls.path().join("tls.key").display().to_string()),
        "{log}"
    );
    // Only the certificate set: fatal too, naming the missing field.
    let only_cert = format!(
        "{{cert: {{path: \"{}\"}}}}",
        files.tls.path().join("tls.crt").display()
    );
    let Err(log) = Server::spawn(&files.config(Some(&only_cert)), &[]) else {
        panic!("a server started without a key");
    };
    assert!(log.contains("serve.api.tls.key is not set"), "{log}");
}

#[test]
fn the_pair_inline_as_base64_or_through_environment_variables_serves_https() {
    let ca = Ca::new();
    let client = ca.client();
    let files = Files::new();

    let inline = ca.leaf();
    let tls = format!(
        "{{cert: {{base64: \"{}\"}}, key: {{base64: \"{}\"}}}}",
        b64(&inline.cert),
        b64(&inline.key)
    );
    let server = Server::start(&files.config(Some(&tls)), &[]);
    assert_eq!(served(&server, &client).unwrap(), inline.der);
    drop(server);

    // What upstream's charm sets.
    let from_env = ca.leaf();
    let server = Server::start(
        &files.config(None),
        &[
            ("SERVE_API_TLS_CERT_BASE64", b64(&from_env.cert)),
            ("SERVE_API_TLS_KEY_BASE64", b64(&from_env.key)),
        ],
    );
    let mut https = Https::connect(server.api, &client).unwrap();
    assert_eq!(https.peer(), from_env.der);
    assert_eq!(https.get("/decisions", &DECIDE).unwrap().status, 200);
    drop(server);

    let by_path = ca.leaf();
    write_pair(files.tls.path(), &by_path);
    let server = Server::start(
        &files.config(None),
        &[
            (
                "SERVE_API_TLS_CERT_PATH",
                files.tls.path().join("tls.crt").display().to_string(),
            ),
            (
                "SERVE_API_TLS_KEY_PATH",
                files.tls.path().join("tls.key").display().to_string(),
            ),
        ],
    );
    assert_eq!(served(&server, &client).unwrap(), by_path.der);
    // Files named by the environment are watched too.
    let rotated = ca.leaf();
    write_pair(files.tls.path(), &rotated);
    assert!(eventually(WAIT, || served(&server, &client)
        .is_ok_and(|der| der == rotated.der)));
}

#[test]
fn plain_http_to_the_tls_port_is_answered_400_and_closed() {
    let ca = Ca::new();
    let files = Files::new();
    let server = files.serve(&ca.leaf());
    let reply = plain_get(server.api, "/decisions", &DECIDE).unwrap();
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body.contains("HTTPS"), "{reply:?}");
    assert_eq!(
        reply.headers.get("connection").map(String::as_str),
        Some("close")
    );
    // Nothing else is affected.
    let mut https = Https::connect(server.api, &ca.client()).unwrap();
    assert_eq!(https.get("/decisions", &DECIDE).unwrap().status, 200);
    assert!(eventually(WAIT, || server.metrics().contains(
        "tls_handshake_errors_total{reason=\"plain_http\"} 1"
    )));
}

#[test]
fn a_client_that_never_completes_its_handshake_is_dropped_after_the_read_timeout() {
    let ca = Ca::new();
    let files = Files::new();
    let server = files.serve(&ca.leaf());
    // Connected, and silent (the config's read timeout is 2 s).
    let mut silent = TcpStream::connect(server.api).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    // Other connections are served meanwhile.
    let mut https = Https::connect(server.api, &ca.client()).unwrap();
    assert_eq!(https.get("/decisions", &DECIDE).unwrap().status, 200);
    let mut buf = [0u8; 16];
    let closed = matches!(silent.read(&mut buf), Ok(0) | Err(_));
    assert!(closed);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert!(eventually(WAIT, || {
        server
            .metrics()
            .contains("tls_handshake_errors_total{reason=\"timeout\"} 1")
    }));
}

#[test]
fn tls_turned_on_and_off_by_a_config_reload_applies_to_new_connections() {
    let ca = Ca::new();
    let client = ca.client();
    let files = Files::new();
    let leaf = ca.leaf();
    write_pair(files.tls.path(), &leaf);
    let server = Server::start(&files.config(None), &[]);
    assert_eq!(
        plain_get(server.api, "/decisions", &DECIDE).unwrap().status,
        200
    );
    // A plain keep-alive connection opened before the switch.
    let mut open = BufReader::new(TcpStream::connect(server.api).unwrap());
    open.get_ref().set_read_timeout(Some(WAIT)).unwrap();
    let ask_open = |open: &mut BufReader<TcpStream>| {
        open.get_mut()
            .write_all(request_text("/decisions", &DECIDE).as_bytes())
            .unwrap();
        read_reply(open).unwrap().status
    };
    assert_eq!(ask_open(&mut open), 200);

    files.config(Some(&files.tls_paths()));
    assert!(
        eventually(WAIT, || served(&server, &client)
            .is_ok_and(|der| der == leaf.der)),
        "TLS never applied\n{}",
        server.log()
    );
    assert_eq!(
        plain_get(server.api, "/decisions", &DECIDE).unwrap().status,
        400
    );
    assert_eq!(
        ask_open(&mut open),
        200,
        "the open plain connection continues"
    );

    files.config(None);
    assert!(
        eventually(WAIT, || plain_get(server.api, "/decisions", &DECIDE)
            .is_ok_and(|r| r.status == 200)),
        "TLS never turned off\n{}",
        server.log()
    );
    assert!(Https::connect(server.api, &client).is_err());
    assert!(
        !server.log().contains("applies after a restart"),
        "{}",
        server.log()
    );
}
