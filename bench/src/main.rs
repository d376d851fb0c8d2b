//! `loadbench`: the decision server under load, measured against a bare HTTP server in the
//! same run (see BENCHMARKS.md).
//!
//! `loadbench run` starts, one after the other, a minimal hyper server that answers 200 (the
//! baseline: what any HTTP decision server could reach on this machine) and `oathkeeper serve`
//! with 10, 1,000 and 10,000 rules, pins each to CPU 0, drives it from CPU 1 with `wrk` at
//! full speed and with `hey` at half the speed it reached, and prints requests/s, latencies,
//! memory and the ratio to the baseline. `loadbench baseline` and `loadbench kratos` are the
//! helper servers it starts. `loadbench hook` times the charm's hooks under the harness.

mod hook;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::Full;
use oathkeeper_core::config::LogLevel;
use oathkeeper_core::rule::{Handler, Match, Rule};
use oathkeeper_core::testing::{bench_config, many_rules};

#[derive(Debug, Parser)]
#[command(about = "Load benchmark of the oathkeeper decision server")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every scenario and print the report.
    Run {
        /// The oathkeeper binary (build it with `cargo build --release`).
        #[arg(long, default_value = "target/release/oathkeeper")]
        oathkeeper: PathBuf,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent connections of the saturating load.
        #[arg(long, default_value_t = 64)]
        connections: u32,
    },
    /// The charm's hook wall time under the harness, against a no-op dispatch.
    Hook {
        /// The charm binary (cargo build --release -p oathkeeper-charm).
        #[arg(long, default_value = "target/release/oathkeeper-charm")]
        charm: PathBuf,
        /// The harness's hook-tool binary (cargo build --release -p juju-harness).
        #[arg(long, default_value = "target/release/fake-hook-tool")]
        hook_tool: PathBuf,
        /// Runs per hook.
        #[arg(long, default_value_t = 30)]
        runs: usize,
    },
    /// Write the rules and the config `run` uses, to start `oathkeeper serve -c DIR/oathkeeper.yaml`
    /// on the same data: DIR/rules.json (N rules) and DIR/oathkeeper.yaml.
    Fixture {
        /// Number of rules.
        #[arg(long, default_value_t = 10_000)]
        rules: usize,
        /// The directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Kratos' base URL (`loadbench kratos --port P` is a fake one); default
        /// `http://127.0.0.1:<free port>`.
        #[arg(long)]
        kratos: Option<String>,
        /// The API (decision) port; default a free one.
        #[arg(long)]
        port: Option<u16>,
        /// The metrics port; default a free one.
        #[arg(long)]
        metrics_port: Option<u16>,
    },
    /// The baseline: answer 200 with an empty body to everything.
    Baseline {
        #[arg(long)]
        port: u16,
    },
    /// A fake Kratos whose /sessions/whoami always returns one session.
    Kratos {
        #[arg(long)]
        port: u16,
    },
}

/// The interface every server of a run listens on.
const LOOPBACK: &str = "127.0.0.1";

const SESSION: &str = r#"{"id":"s","active":true,"expires_at":"2099-01-01T00:00:00Z","identity":{"id":"user-1","traits":{"email":"ann@example.com","name":"Ann"}}}"#;

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Hook {
            charm,
            hook_tool,
            runs,
        } => hook::run(&charm, &hook_tool, runs),
        Cmd::Baseline { port } => serve_static(port, Bytes::new()),
        Cmd::Kratos { port } => serve_static(port, Bytes::from_static(SESSION.as_bytes())),
        Cmd::Fixture {
            rules,
            out,
            kratos,
            port,
            metrics_port,
        } => fixture(rules, &out, kratos, port, metrics_port),
        Cmd::Run {
            oathkeeper,
            seconds,
            connections,
        } => run(&oathkeeper, seconds, connections),
    }
}

/// A hyper server with the same runtime shape as oathkeeper's, answering `body` with 200.
fn serve_static(port: u16, body: Bytes) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let body = body.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// One measured scenario.
struct Row {
    name: String,
    rps: f64,
    /// The baseline's requests/s measured right before this row (same load, same minute), so
    /// that the ratio cancels most of the machine's drift.
    baseline_rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    half_p99_ms: Option<f64>,
    failed: u64,
    rss_idle_kb: Option<u64>,
    rss_peak_kb: Option<u64>,
}

/// What wrk reported.
struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Answers other than 2xx/3xx.
    non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    socket_errors: u64,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn require(tool: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("{tool} is not installed: apt-get install wrk hey util-linux");
    }
    Ok(())
}

/// A child process pinned to CPU 0, killed on drop.
struct Pinned(Child);

impl Pinned {
    fn spawn(program: &Path, args: &[String], log: &Path) -> anyhow::Result<Pinned> {
        let child = Command::new("taskset")
            .arg("-c")
            .arg("0")
            .arg(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Pinned(child))
    }

    fn rss_kb(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GETs `path` once; the status, if any answer came.
fn status_of(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Waits until `path` answers 200; the time it took.
fn wait_for(addr: SocketAddr, path: &str, started: Instant) -> anyhow::Result<Duration> {
    while started.elapsed() < Duration::from_secs(60) {
        if status_of(addr, path) == Some(200) {
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!("{addr}{path} did not answer 200 within 60 s")
}

fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let value: f64 = text[..split].parse().ok()?;
    Some(match &text[split..] {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        _ => return None,
    })
}

/// Runs wrk from CPU 1 against `url` with `headers`.
fn wrk(
    url: &str,
    headers: &[(&str, &str)],
    seconds: u64,
    connections: u32,
) -> anyhow::Result<WrkResult> {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"));
    for (name, value) in headers {
        command.arg("-H").arg(format!("{name}: {value}"));
    }
    let output = command.arg(url).output().context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("wrk said: {text}"))?;
    let p50_ms = field("50%").and_then(millis).context("no p50")?;
    let p99_ms = field("99%").and_then(millis).context("no p99")?;
    let (mut non_2xx, mut socket_errors) = (0, 0);
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx += n.trim().parse::<u64>().unwrap_or(0);
        }
        if let Some(errors) = line.strip_prefix("Socket errors:") {
            socket_errors += errors
                .split(',')
                .filter_map(|e| e.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Ok(WrkResult {
        rps,
        p50_ms,
        p99_ms,
        non_2xx,
        socket_errors,
    })
}

/// Runs hey from CPU 1 at `rate` requests/s in total; the p99 in ms.
fn hey_p99(url: &str, headers: &[(&str, &str)], seconds: u64, rate: f64) -> anyhow::Result<f64> {
    let workers = 16u32;
    let per_worker = (rate / f64::from(workers)).max(1.0).floor();
    let mut command = Command::new("taskset");
    command
        .args(["-c", "1", "hey", "-disable-compression"])
        .arg("-z")
        .arg(format!("{seconds}s"))
        .arg("-c")
        .arg(workers.to_string())
        .arg("-q")
        .arg(format!("{per_worker}"));
    for (name, value) in headers {
        command.arg("-H").arg(format!("{name}: {value}"));
    }
    let output = command.arg(url).output().context("cannot run hey")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("99% in"))
        .with_context(|| format!("hey said: {text}"))?;
    let secs: f64 = line
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .context("bad hey p99")?;
    Ok(secs * 1000.0)
}

fn public_rule() -> Rule {
    let handler = |id: &str| Handler {
        handler: id.to_owned(),
        config: None,
    };
    Rule {
        id: "bench:public".into(),
        matcher: Match {
            methods: vec!["GET".into()],
            url: "https://public.example.com/<.*>".into(),
        },
        authenticators: vec![handler("anonymous")],
        authorizer: handler("allow"),
        mutators: vec![handler("header")],
        ..Rule::default()
    }
}

fn write_rules(path: &Path, n: usize) -> anyhow::Result<()> {
    let mut rules = many_rules(n.saturating_sub(1));
    rules.push(public_rule());
    std::fs::write(path, serde_json::to_vec(&rules)?)?;
    Ok(())
}

/// Writes the `oathkeeper.yaml` of a run to `path`: the benchmark config reading `rules`,
/// listening on `api` and `metrics`, with Kratos at `kratos` (a base URL).
fn write_config(
    path: &Path,
    rules: &Path,
    api: u16,
    metrics: u16,
    kratos: &str,
) -> anyhow::Result<()> {
    let mut config = bench_config(kratos);
    config.log.level = LogLevel::Error;
    config.serve.api.host = LOOPBACK.to_owned();
    config.serve.api.port = Some(api);
    config.serve.prometheus.host = LOOPBACK.to_owned();
    config.serve.prometheus.port = metrics;
    config.access_rules.repositories = vec![format!("file://{}", rules.display())];
    std::fs::write(path, config.to_yaml())?;
    Ok(())
}

/// `loadbench fixture`: the rules and config of a run, written to `out`.
fn fixture(
    n: usize,
    out: &Path,
    kratos: Option<String>,
    port: Option<u16>,
    metrics_port: Option<u16>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = out.canonicalize()?;
    let kratos = match kratos {
        Some(url) => url,
        None => format!("http://{LOOPBACK}:{}", free_port()?),
    };
    let api = port.map_or_else(free_port, Ok)?;
    let metrics = metrics_port.map_or_else(free_port, Ok)?;
    let rules = out.join("rules.json");
    write_rules(&rules, n)?;
    let config = out.join("oathkeeper.yaml");
    write_config(&config, &rules, api, metrics, &kratos)?;
    println!("rules:   {} ({n} rules)", rules.display());
    println!("config:  {}", config.display());
    println!("api:     http://{LOOPBACK}:{api}/decisions");
    println!("metrics: http://{LOOPBACK}:{metrics}/metrics");
    println!("kratos:  {kratos}");
    println!("start:   oathkeeper serve -c {}", config.display());
    Ok(())
}

/// A load scenario: name, request headers, whether the answers should be 2xx.
type Scenario = (String, &'static [(&'static str, &'static str)], bool);

const ANONYMOUS: &[(&str, &str)] = &[
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "public.example.com"),
    ("X-Forwarded-Uri", "/page"),
];
const SESSION_HEADERS: &[(&str, &str)] = &[
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "app0.example.com"),
    ("X-Forwarded-Uri", "/private/page"),
    ("Cookie", "ory_kratos_session=bench"),
];
const NO_RULE: &[(&str, &str)] = &[
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "nowhere.example.org"),
    ("X-Forwarded-Uri", "/x"),
];

fn run(oathkeeper: &Path, seconds: u64, connections: u32) -> anyhow::Result<()> {
    for tool in ["wrk", "hey", "taskset"] {
        require(tool)?;
    }
    if !oathkeeper.exists() {
        bail!(
            "{} does not exist: run `cargo build --release -p oathkeeper` first",
            oathkeeper.display()
        );
    }
    let me = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();

    // The baseline.
    let port = free_port()?;
    let baseline = Pinned::spawn(
        &me,
        &["baseline".into(), "--port".into(), port.to_string()],
        &dir.path().join("baseline.log"),
    )?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for(addr, "/", Instant::now())?;
    let baseline_url = format!("http://{addr}/decisions");
    let url = baseline_url.clone();
    let idle = baseline.rss_kb("VmRSS:");
    let w = wrk(&url, ANONYMOUS, seconds, connections)?;
    let half = hey_p99(&url, ANONYMOUS, seconds, w.rps / 2.0)?;
    rows.push(Row {
        name: "baseline (bare hyper, 200)".into(),
        rps: w.rps,
        baseline_rps: w.rps,
        p50_ms: w.p50_ms,
        p99_ms: w.p99_ms,
        half_p99_ms: Some(half),
        failed: w.socket_errors + w.non_2xx,
        rss_idle_kb: idle,
        rss_peak_kb: baseline.rss_kb("VmHWM:"),
    });
    // The baseline stays up (idle) to be measured again before every scenario.

    let kratos_port = free_port()?;
    let _kratos = Pinned::spawn(
        &me,
        &["kratos".into(), "--port".into(), kratos_port.to_string()],
        &dir.path().join("kratos.log"),
    )?;
    wait_for(
        SocketAddr::from(([127, 0, 0, 1], kratos_port)),
        "/",
        Instant::now(),
    )?;

    let mut startup = Vec::new();
    for n in [10usize, 1_000, 10_000] {
        let rules = dir.path().join(format!("rules-{n}.json"));
        write_rules(&rules, n)?;
        let (api, metrics) = (free_port()?, free_port()?);
        let config = dir.path().join(format!("oathkeeper-{api}.yaml"));
        write_config(
            &config,
            &rules,
            api,
            metrics,
            &format!("http://{LOOPBACK}:{kratos_port}"),
        )?;
        let started = Instant::now();
        let server = Pinned::spawn(
            oathkeeper,
            &["serve".into(), "-c".into(), config.display().to_string()],
            &dir.path().join(format!("oathkeeper-{n}.log")),
        )?;
        let addr = SocketAddr::from(([127, 0, 0, 1], api));
        let log = dir.path().join(format!("oathkeeper-{n}.log"));
        let ready = wait_for(addr, "/health/ready", started).with_context(|| {
            format!(
                "oathkeeper said: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })?;
        startup.push((n, ready, server.rss_kb("VmRSS:")));
        let url = format!("http://{addr}/decisions");
        let idle = server.rss_kb("VmRSS:");
        let mut scenarios: Vec<Scenario> =
            vec![(format!("anonymous allow, {n} rules"), ANONYMOUS, true)];
        if n == 1_000 {
            scenarios.push((
                "cookie_session cache hit, 1000 rules".into(),
                SESSION_HEADERS,
                true,
            ));
            scenarios.push(("no rule (401), 1000 rules".into(), NO_RULE, false));
        }
        for (name, headers, ok) in scenarios {
            let baseline_rps = wrk(&baseline_url, headers, seconds, connections)?.rps;
            let w = wrk(&url, headers, seconds, connections)?;
            // A 404 scenario expects non-2xx answers: only socket errors are failures there.
            let failed = w.socket_errors + if ok { w.non_2xx } else { 0 };
            let half = hey_p99(&url, headers, seconds, w.rps / 2.0)?;
            rows.push(Row {
                name,
                rps: w.rps,
                baseline_rps,
                p50_ms: w.p50_ms,
                p99_ms: w.p99_ms,
                half_p99_ms: Some(half),
                failed,
                rss_idle_kb: idle,
                rss_peak_kb: server.rss_kb("VmHWM:"),
            });
        }
        if n == 1_000 {
            let baseline_rps = wrk(&baseline_url, ANONYMOUS, seconds, connections)?.rps;
            rows.push(reload_under_load(
                baseline_rps,
                &rules,
                n,
                &url,
                seconds,
                connections,
                &server,
            )?);
        }
    }

    print_report(&rows, &startup);
    Ok(())
}

/// Rewrites the rules file every 100 ms (atomically, by rename) while wrk runs.
fn reload_under_load(
    baseline_rps: f64,
    rules: &Path,
    n: usize,
    url: &str,
    seconds: u64,
    connections: u32,
    server: &Pinned,
) -> anyhow::Result<Row> {
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, swaps, rules) = (Arc::clone(&stop), Arc::clone(&swaps), rules.to_path_buf());
        let mut a = many_rules(n.saturating_sub(1));
        a.push(public_rule());
        let mut b = a.clone();
        b.pop();
        b.insert(0, public_rule());
        let versions = [serde_json::to_vec(&a)?, serde_json::to_vec(&b)?];
        std::thread::spawn(move || {
            let tmp = rules.with_extension("tmp");
            while !stop.load(Ordering::SeqCst) {
                let i = swaps.fetch_add(1, Ordering::SeqCst);
                if std::fs::write(&tmp, &versions[i % 2])
                    .and_then(|()| std::fs::rename(&tmp, &rules))
                    .is_err()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let w = wrk(url, ANONYMOUS, seconds, connections);
    stop.store(true, Ordering::SeqCst);
    let _ = writer.join();
    let w = w?;
    Ok(Row {
        name: format!(
            "anonymous allow, {n} rules, reloaded every 100 ms ({} writes)",
            swaps.load(Ordering::SeqCst)
        ),
        rps: w.rps,
        baseline_rps,
        p50_ms: w.p50_ms,
        p99_ms: w.p99_ms,
        half_p99_ms: None,
        failed: w.socket_errors + w.non_2xx,
        rss_idle_kb: None,
        rss_peak_kb: server.rss_kb("VmHWM:"),
    })
}

fn print_report(rows: &[Row], startup: &[(usize, Duration, Option<u64>)]) {
    let kb = |v: Option<u64>| v.map_or("-".to_owned(), |v| format!("{:.1} MB", v as f64 / 1024.0));
    println!(
        "| scenario | requests/s | × baseline (measured just before) | p50 | p99 | p99 at half load | failed | RSS idle | RSS peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.3} ms | {:.3} ms | {} | {} | {} | {} |",
            r.name,
            r.rps,
            r.rps / r.baseline_rps,
            r.p50_ms,
            r.p99_ms,
            r.half_p99_ms
                .map_or("-".to_owned(), |v| format!("{v:.3} ms")),
            r.failed,
            kb(r.rss_idle_kb),
            kb(r.rss_peak_kb),
        );
    }
    let p50 = |name: &str| rows.iter().find(|r| r.name == name).map(|r| r.p50_ms);
    if let (Some(small), Some(large)) = (
        p50("anonymous allow, 10 rules"),
        p50("anonymous allow, 10000 rules"),
    ) {
        println!(
            "\nanonymous p50 latency, 10,000 rules ÷ 10 rules: {:.2}",
            large / small
        );
    }
    println!("\n| rules | exec → /health/ready 200 | RSS when ready |");
    println!("|---|---|---|");
    for (n, ready, rss) in startup {
        println!(
            "| {n} | {:.0} ms | {} |",
            ready.as_secs_f64() * 1000.0,
            kb(*rss)
        );
    }
}
