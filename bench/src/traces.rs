//! `loadbench traces`: what exporting OpenTelemetry spans of decisions costs (issue 19), in
//! the same run, on the same rules (1,000, the charm's) and requests: oathkeeper with tracing
//! off, then on at sampling ratio 1.0 and 0.01, exporting over OTLP/HTTP to a sink (the bare
//! hyper baseline, `loadbench baseline`, which answers every export 200: an empty
//! `ExportTraceServiceResponse`). Metrics are on in all three (they always are).
//!
//! The three servers are pinned to CPU 0 and measured in turn, twice; wrk runs on CPU 1. The
//! sink, like the fake Kratos, is a helper pinned to CPU 0 too (one request per 512 spans:
//! little next to the decisions, but not nothing). Each exporting server's
//! `tracing_export_errors_total` and `tracing_spans_dropped_total` are read after the run: a
//! span dropped is a span whose export was not paid for.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use oathkeeper_core::config::{Otlp, OtlpSampling, Tracing, TracingProviders};

use crate::load::wrk;
use crate::request::{self, App, Kind, Request};
use crate::server::{Launch, Server, clock_ticks_per_second, require, status_of};

/// Rules loaded by every server.
const RULES: usize = 1_000;

/// What `loadbench traces` measures and how (its command-line options).
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// The oathkeeper binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/oathkeeper")]
    pub(crate) oathkeeper: PathBuf,
    /// Seconds per wrk run (3 variants × 2 requests × 2 rounds).
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Concurrent connections of wrk.
    #[arg(long, default_value_t = 64)]
    pub(crate) connections: u32,
}

/// One variant: tracing off, or on at a ratio.
struct Variant {
    label: &'static str,
    ratio: Option<f64>,
    server: Server,
}

/// One wrk run of a variant.
struct Measured {
    variant: usize,
    request: usize,
    rps: f64,
    p99_ms: f64,
    cpu_us: f64,
    failed: u64,
}

/// The `tracing` block exporting to `sink` at `ratio`.
pub(crate) fn tracing_to(sink: SocketAddr, ratio: f64) -> Tracing {
    Tracing {
        provider: "otel".into(),
        providers: TracingProviders {
            otlp: Otlp {
                server_url: sink.to_string(),
                insecure: true,
                sampling: OtlpSampling {
                    sampling_ratio: Some(ratio),
                },
                ..Otlp::default()
            },
            ..TracingProviders::default()
        },
        ..Tracing::default()
    }
}

/// The value of the sample `name` (no labels) on `server`'s metrics page.
fn metric(server: &Server, name: &str) -> Option<f64> {
    let addr = server.metrics?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request =
        format!("GET /metrics/prometheus HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `loadbench traces`.
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
    let launch = Launch::direct();
    let kratos = launch.helper(dir.path(), "kratos")?;
    let sink = launch.helper(dir.path(), "baseline")?;
    let kratos_url = format!("http://{}", kratos.addr);
    let mut variants = Vec::new();
    for (label, ratio) in [
        ("off", None),
        ("on, ratio 1.0", Some(1.0)),
        ("on, ratio 0.01", Some(0.01)),
    ] {
        let server = launch.oathkeeper_edited(
            &options.oathkeeper,
            dir.path(),
            RULES,
            &kratos_url,
            &status_of,
            |config| {
                if let Some(ratio) = ratio {
                    config.tracing = tracing_to(sink.addr, ratio);
                }
            },
        )?;
        variants.push(Variant {
            label,
            ratio,
            server,
        });
    }
    let requests = [
        request::request(Kind::Allow, App::OwnHost, RULES),
        request::request(Kind::Session, App::OwnHost, RULES),
    ];
    for request in &requests {
        for v in &variants {
            request::check(v.server.addr, request)?;
        }
    }
    let mut measured = Vec::new();
    // Alternated, twice: drift of the shared machine shows as the spread of each round.
    for _ in 0..2 {
        for (r, request) in requests.iter().enumerate() {
            for (i, v) in variants.iter().enumerate() {
                measured.push(measure(&v.server, i, r, request, options, tick_us)?);
            }
        }
    }
    // The last batches leave within a second.
    std::thread::sleep(Duration::from_secs(2));
    report(&variants, &requests, &measured);
    Ok(())
}

fn measure(
    server: &Server,
    variant: usize,
    request_index: usize,
    request: &Request,
    options: &Options,
    tick_us: f64,
) -> anyhow::Result<Measured> {
    let url = format!("http://{}/decisions", server.addr);
    let before = server.process.cpu_ticks()?;
    let w = wrk(&url, request, options.seconds, options.connections)?;
    let after = server.process.cpu_ticks()?;
    if w.requests == 0 {
        bail!("wrk completed no request against {url}");
    }
    request::check(server.addr, request)?;
    Ok(Measured {
        variant,
        request: request_index,
        rps: w.rps,
        p99_ms: w.p99_ms,
        cpu_us: (after - before) as f64 * tick_us / w.requests as f64,
        failed: w.socket_errors + w.non_2xx,
    })
}

fn report(variants: &[Variant], requests: &[Request], measured: &[Measured]) {
    println!(
        "| request | tracing | requests/s | p99 | server CPU/request | failed | ÷ off: requests/s | ÷ off: CPU/request |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for round in measured.chunks(variants.len()) {
        let Some(off) = round.iter().find(|m| variants[m.variant].ratio.is_none()) else {
            continue;
        };
        for m in round {
            println!(
                "| {} | {} | {:.0} | {:.3} ms | {:.2} µs | {} | {:.3} | {:.3} |",
                requests[m.request].name,
                variants[m.variant].label,
                m.rps,
                m.p99_ms,
                m.cpu_us,
                m.failed,
                m.rps / off.rps,
                m.cpu_us / off.cpu_us,
            );
        }
    }
    println!();
    for v in variants.iter().filter(|v| v.ratio.is_some()) {
        let errors = metric(&v.server, "oathkeeper_tracing_export_errors_total");
        let dropped = metric(&v.server, "oathkeeper_tracing_spans_dropped_total");
        println!(
            "{}: export errors {}, spans dropped {}",
            v.label,
            errors.map_or("?".into(), |e| format!("{e}")),
            dropped.map_or("?".into(), |d| format!("{d}")),
        );
    }
}
