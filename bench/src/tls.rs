//! `loadbench tls`: what serving the API over TLS (`serve.api.tls`) costs against plain HTTP,
//! in the same run, on the same rules (1,000, the charm's) and request (an allowed endpoint):
//!
//! - **kept-alive** connections under `wrk` (`http://` then `https://`, TLS 1.3, the
//!   handshakes amortised): requests/s, p50/p99 and the server's CPU per request;
//! - **a new connection per request**, sequentially from this process (one request each, then
//!   close): plain TCP, a full TLS 1.3 handshake, and a resumed one (the client keeps the
//!   server's session tickets): connection latency and the server's CPU per connection. What a
//!   proxy pays when its kept-alive upstream connections turn over.
//!
//! Both servers are pinned to CPU 0; wrk runs on CPU 1, and so should this process (start it
//! with `taskset -c 1`). The certificate is ECDSA P-256, issued by a CA made for the run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oathkeeper_core::config::{Tls, TlsSource};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::load::wrk;
use crate::request::{self, App, Kind, Request};
use crate::server::{Launch, Server, clock_ticks_per_second, require};

/// The name the certificate is issued for and clients ask for.
const SERVER_NAME: &str = "oathkeeper.bench";
/// Rules loaded by both servers.
const RULES: usize = 1_000;

/// What `loadbench tls` measures and how (its command-line options).
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// The oathkeeper binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/oathkeeper")]
    pub(crate) oathkeeper: PathBuf,
    /// Seconds per wrk run (four runs).
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Concurrent connections of wrk.
    #[arg(long, default_value_t = 64)]
    pub(crate) connections: u32,
    /// New connections per variant (plain, full handshake, resumed; each twice).
    #[arg(long, default_value_t = 2_000)]
    pub(crate) handshakes: usize,
}

/// A CA and a server certificate issued by it, written as `tls.crt` and `tls.key`.
struct Pki {
    ca: rustls::pki_types::CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &Path) -> anyhow::Result<Pki> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec![SERVER_NAME.to_owned()])?.signed_by(&key, &ca)?;
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_path, leaf.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    Ok(Pki {
        ca: ca.der().clone(),
        cert: cert_path,
        key: key_path,
    })
}

/// A client trusting `ca`; `resume`: keep session tickets and resume with them.
fn client(ca: &rustls::pki_types::CertificateDer<'static>, resume: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    // invariant: the CA was generated above and parses.
    let _ = roots.add(ca.clone());
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap_or_else(|_| unreachable!("ring supports TLS 1.3"))
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// Sends `request` on `stream` and reads the whole answer (a `Content-Length` body); its
/// status.
fn exchange(stream: &mut impl ReadWrite, request: &[u8]) -> anyhow::Result<u16> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            bail!("the server closed the connection");
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = std::str::from_utf8(&buffer[..head_end])?;
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line: {head}"))?;
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buffer.len() - head_end;
    while body < length {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            bail!("the server closed the connection mid-answer");
        }
        body += read;
    }
    Ok(status)
}

/// Read + Write, for [`exchange`] over TCP or TLS.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// How each new connection of a variant is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connect {
    Plain,
    FullHandshake,
    Resumed,
}

impl Connect {
    fn label(self) -> &'static str {
        match self {
            Connect::Plain => "plain HTTP (TCP connect)",
            Connect::FullHandshake => "TLS 1.3, full handshake",
            Connect::Resumed => "TLS 1.3, resumed (session ticket)",
        }
    }
}

/// One new-connection measurement.
struct PerConnection {
    connect: Connect,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
    resumed: usize,
}

/// `count` connections one after the other, each sending `request` once: latency from
/// connect to the answer's last byte, and the server's CPU per connection.
fn new_connections(
    server: &Server,
    connect: Connect,
    config: Option<&Arc<ClientConfig>>,
    request: &Request,
    count: usize,
    tick_us: f64,
) -> anyhow::Result<PerConnection> {
    let bytes = request::bytes(request, server.addr);
    let mut latencies = Vec::with_capacity(count);
    let mut resumed = 0;
    // One warm-up connection: the resumed variant then holds a ticket.
    let mut once = |record: bool| -> anyhow::Result<()> {
        let started = Instant::now();
        let tcp = TcpStream::connect_timeout(&server.addr, Duration::from_secs(10))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let status = match config {
            None => exchange(&mut { tcp }, &bytes)?,
            Some(config) => {
                let name = ServerName::try_from(SERVER_NAME)?;
                let connection = ClientConnection::new(Arc::clone(config), name)?;
                let mut stream = StreamOwned::new(connection, tcp);
                let status = exchange(&mut stream, &bytes)?;
                if stream.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    resumed += usize::from(record);
                }
                stream.conn.send_close_notify();
                let _ = stream.flush();
                status
            }
        };
        if status != request.status {
            bail!("{}: answered {status}", connect.label());
        }
        if record {
            latencies.push(started.elapsed());
        }
        Ok(())
    };
    once(false)?;
    let before = server.process.cpu_ticks()?;
    let started = Instant::now();
    for _ in 0..count {
        once(true)?;
    }
    let elapsed = started.elapsed();
    let after = server.process.cpu_ticks()?;
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
        latencies[i].as_secs_f64() * 1000.0
    };
    Ok(PerConnection {
        connect,
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        cpu_us: (after - before) as f64 * tick_us / count as f64,
        resumed,
    })
}

/// One kept-alive measurement under wrk.
struct KeptAlive {
    scheme: &'static str,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
    failed: u64,
}

fn kept_alive(
    server: &Server,
    scheme: &'static str,
    request: &Request,
    options: &Options,
    tick_us: f64,
) -> anyhow::Result<KeptAlive> {
    let url = format!("{scheme}://{}/decisions", server.addr);
    let before = server.process.cpu_ticks()?;
    let w = wrk(&url, request, options.seconds, options.connections)?;
    let after = server.process.cpu_ticks()?;
    if w.requests == 0 {
        bail!("wrk completed no request against {url}");
    }
    Ok(KeptAlive {
        scheme,
        rps: w.rps,
        p50_ms: w.p50_ms,
        p99_ms: w.p99_ms,
        cpu_us: (after - before) as f64 * tick_us / w.requests as f64,
        failed: w.socket_errors + w.non_2xx,
    })
}

/// `loadbench tls`.
pub(crate) fn run(options: &Options) -> anyhow::Result<()> {
    for (tool, package) in [("wrk", "wrk"), ("taskset", "util-linux")] {
        require(tool, package)?;
    }
    if !options.oathkeeper.exists() {
        bail!(
            "{} does not exist: run `cargo build --release -p oathkeeper` first",
            options.oathkeeper.display()
        );
    }
    let tick_us = 1e6 / clock_ticks_per_second()? as f64;
    let dir = tempfile::tempdir()?;
    let pki = pki(dir.path())?;
    let launch = Launch::direct();
    let kratos = launch.helper(dir.path(), "kratos")?;
    let kratos_url = format!("http://{}", kratos.addr);
    let request = request::request(Kind::Allow, App::OwnHost, RULES);

    let setting = Tls {
        cert: TlsSource {
            path: Some(pki.cert.display().to_string()),
            base64: None,
        },
        key: TlsSource {
            path: Some(pki.key.display().to_string()),
            base64: None,
        },
    };
    let fresh = client(&pki.ca, false);
    let resuming = client(&pki.ca, true);
    let probe_config = Arc::clone(&fresh);
    let probe = move |addr: SocketAddr, path: &str| -> Option<u16> {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
        tcp.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let name = ServerName::try_from(SERVER_NAME).ok()?;
        let connection = ClientConnection::new(Arc::clone(&probe_config), name).ok()?;
        let mut stream = StreamOwned::new(connection, tcp);
        let text = format!("GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\n\r\n");
        exchange(&mut stream, text.as_bytes()).ok()
    };
    let plain = launch.oathkeeper(&options.oathkeeper, dir.path(), RULES, &kratos_url)?;
    let tls = launch.oathkeeper_with(
        &options.oathkeeper,
        dir.path(),
        RULES,
        &kratos_url,
        Some((setting, &probe)),
    )?;

    let mut kept = Vec::new();
    // Alternated, twice: drift of the shared machine shows as the spread of each pair.
    for _ in 0..2 {
        kept.push(kept_alive(&plain, "http", &request, options, tick_us)?);
        kept.push(kept_alive(&tls, "https", &request, options, tick_us)?);
    }
    let mut fresh_connections = Vec::new();
    for _ in 0..2 {
        for (server, connect, config) in [
            (&plain, Connect::Plain, None),
            (&tls, Connect::FullHandshake, Some(&fresh)),
            (&tls, Connect::Resumed, Some(&resuming)),
        ] {
            fresh_connections.push(new_connections(
                server,
                connect,
                config,
                &request,
                options.handshakes,
                tick_us,
            )?);
        }
    }
    report(&kept, &fresh_connections, &request);
    Ok(())
}

fn report(kept: &[KeptAlive], fresh: &[PerConnection], request: &Request) {
    println!("Request: {} (200).\n", request.name);
    println!("| kept-alive | requests/s | p50 | p99 | server CPU/request | failed |");
    println!("|---|---|---|---|---|---|");
    for k in kept {
        println!(
            "| {} | {:.0} | {:.3} ms | {:.3} ms | {:.2} µs | {} |",
            k.scheme, k.rps, k.p50_ms, k.p99_ms, k.cpu_us, k.failed
        );
    }
    for pair in kept.chunks(2) {
        if let [http, https] = pair {
            println!(
                "\nhttps ÷ http: requests/s {:.2}, p50 {:.2}, p99 {:.2}, CPU/request {:.2}",
                https.rps / http.rps,
                https.p50_ms / http.p50_ms,
                https.p99_ms / http.p99_ms,
                https.cpu_us / http.cpu_us
            );
        }
    }
    println!(
        "\n| new connection per request | connections/s | p50 | p99 | server CPU/connection | resumed |"
    );
    println!("|---|---|---|---|---|---|");
    for f in fresh {
        println!(
            "| {} | {:.0} | {:.3} ms | {:.3} ms | {:.1} µs | {} |",
            f.connect.label(),
            f.per_second,
            f.p50_ms,
            f.p99_ms,
            f.cpu_us,
            f.resumed
        );
    }
    for round in fresh.chunks(3) {
        if let [plain, full, resumed] = round {
            println!(
                "\nfull ÷ plain: latency p50 {:.2}, CPU {:.2}; resumed ÷ plain: p50 {:.2}, CPU {:.2}; \
                 resumed ÷ full: p50 {:.2}, CPU {:.2}",
                full.p50_ms / plain.p50_ms,
                full.cpu_us / plain.cpu_us,
                resumed.p50_ms / plain.p50_ms,
                resumed.cpu_us / plain.cpu_us,
                resumed.p50_ms / full.p50_ms,
                resumed.cpu_us / full.cpu_us
            );
        }
    }
}
