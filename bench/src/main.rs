//! `loadbench`: the decision server measured against two bare HTTP servers on the same machine
//! (see BENCHMARKS.md): a minimal hyper server with oathkeeper's runtime shape and Debian's
//! nginx answering `return 200`, both the ceiling any HTTP decision server could reach here.
//!
//! Every server is started alone and pinned to CPU 0 (`taskset -c 0`, which execs it, so the
//! child's pid is the server's); load generators run on CPU 1. The rules are what our charm
//! renders ([`oathkeeper_core::testing::many_rules`]: apps on their own hosts and under path
//! prefixes of one shared host) and the requests what Traefik sends for each kind of decision
//! on them ([`request`]): an allowed endpoint (200), a protected path without a session from
//! an API client (401) and from a browser (302 to the login page), and a protected path with a
//! session in the cache (200). Every scenario's status is checked before it is measured.
//!
//! - `loadbench run` ([`load`]): wall clock. Per scenario, bare hyper, nginx and then
//!   `oathkeeper serve` (10, 1,000 and 10,000 rules) under `wrk` at full speed, then `hey` at
//!   half the speed reached; requests/s, latencies, memory, startup, and the server's CPU time
//!   per request (`/proc/<pid>/stat`, steadier than requests/s on a shared machine), with
//!   ratios to the baselines measured just before with the same request. Plus the 1,000 rules
//!   rewritten every 100 ms under load.
//! - `loadbench instr` ([`instr`]): deterministic. User-space instructions per request of
//!   each server under valgrind's callgrind, per kind of request, startup and connection setup
//!   excluded; and the instructions each spends without traffic.
//! - `loadbench idle`: CPU time of `oathkeeper serve` with the rules loaded and no traffic.
//! - `loadbench tls` ([`tls`]): the API over TLS against plain HTTP in the same run: kept-alive
//!   throughput and latency under wrk, and the cost of a new connection with a full or a
//!   resumed TLS 1.3 handshake.
//! - `loadbench traces` ([`traces`]): OpenTelemetry spans of decisions, tracing off against on
//!   at sampling ratio 1.0 and 0.01 (exporting to a sink), in the same run.
//! - `loadbench fixture`: the rules and `oathkeeper.yaml` of a run, to start
//!   `oathkeeper serve` by hand on the same data (for profilers).
//! - `loadbench hook` ([`hook`]): the charm's hooks under the harness.
//! - `loadbench baseline` and `loadbench kratos`: the helper servers the others start.

mod hook;
mod instr;
mod load;
mod request;
mod server;
mod tls;
mod traces;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::Full;

use crate::server::{LOOPBACK, free_port, write_config, write_rules};

#[derive(Debug, Parser)]
#[command(about = "Load benchmark of the oathkeeper decision server")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Wall clock: requests/s, latency, CPU per request and memory of oathkeeper (10, 1,000,
    /// 10,000 rules) against bare hyper and nginx measured just before with the same request.
    Run(load::Options),
    /// User-space instructions per request of bare hyper, nginx and oathkeeper under callgrind,
    /// per kind of request (deterministic, unlike wall time), and their instructions without
    /// traffic.
    Instr(instr::Options),
    /// The API over TLS against plain HTTP: kept-alive requests/s, latency and CPU under wrk,
    /// and a new connection per request with a full or a resumed TLS 1.3 handshake. Run it
    /// under `taskset -c 1` (the servers are on CPU 0).
    Tls(tls::Options),
    /// OpenTelemetry spans of decisions: requests/s and CPU per request with tracing off, on
    /// at ratio 1.0 and 0.01 (exporting to a sink), as ratios against off in the same run.
    Traces(traces::Options),
    /// CPU time of oathkeeper with the rules loaded and no traffic (should be 0).
    Idle {
        /// The oathkeeper binary.
        #[arg(long, default_value = "target/release/oathkeeper")]
        oathkeeper: PathBuf,
        /// Rules loaded.
        #[arg(long, default_value_t = 10_000)]
        rules: usize,
        /// Seconds right after ready, reported apart (post-load work such as overlap probing).
        #[arg(long, default_value_t = 2)]
        settle: u64,
        /// Seconds measured without traffic.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
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
    /// The bare hyper baseline: answer 200 with an empty body to everything.
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
        Cmd::Instr(options) => instr::instr(&options),
        Cmd::Idle {
            oathkeeper,
            rules,
            settle,
            seconds,
        } => instr::idle(&oathkeeper, rules, settle, seconds),
        Cmd::Fixture {
            rules,
            out,
            kratos,
            port,
            metrics_port,
        } => fixture(rules, &out, kratos, port, metrics_port),
        Cmd::Tls(options) => tls::run(&options),
        Cmd::Traces(options) => traces::run(&options),
        Cmd::Run(options) => load::run(options),
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
    println!("metrics: {LOOPBACK}:{metrics}");
    println!("kratos:  {kratos}");
    println!("start:   oathkeeper serve -c {}", config.display());
    Ok(())
}
