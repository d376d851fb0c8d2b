//! `loadbench run`: wall-clock throughput, latency and CPU per request of `oathkeeper serve`
//! on the charm's rules, each scenario measured right after the two baselines (bare hyper and
//! nginx `return 200`) with the same request, so that the ratios cancel most of the machine's
//! drift.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use oathkeeper_core::testing::many_rules;

use crate::request::{self, App, Kind, Request};
use crate::server::{Launch, NGINX, Server, clock_ticks_per_second, require};

/// What `loadbench run` measures and how (its command-line options).
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// The oathkeeper binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/oathkeeper")]
    pub(crate) oathkeeper: PathBuf,
    /// Seconds per wrk or hey run (each scenario runs four: ~10 scenarios, ~4 × this each).
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Concurrent connections of the saturating load.
    #[arg(long, default_value_t = 64)]
    pub(crate) connections: u32,
    /// Only the scenarios whose name contains this text, e.g. "10000 rules" (the
    /// baselines always run).
    #[arg(long)]
    pub(crate) only: Option<String>,
}

/// One measurement of one server with wrk.
#[derive(Clone, Copy, Debug)]
struct Measure {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Server CPU time (user + system, all threads) per completed request, in µs.
    cpu_us: f64,
    /// Socket errors, plus answers ≥ 400 where a 2xx or 3xx was expected.
    failed: u64,
}

/// One row of the report.
struct Row {
    name: String,
    ours: Measure,
    /// The bare hyper baseline, measured right before with the same request.
    hyper: Measure,
    /// nginx `return 200`, measured right before with the same request.
    nginx: Measure,
    half_p99_ms: Option<f64>,
    rss_idle_kb: Option<u64>,
    rss_peak_kb: Option<u64>,
}

/// What wrk reported.
pub(crate) struct WrkResult {
    pub(crate) rps: f64,
    pub(crate) requests: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Answers ≥ 400.
    pub(crate) non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub(crate) socket_errors: u64,
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

/// Runs wrk from CPU 1 against `url` (`http://` or `https://`) with `request`'s headers.
pub(crate) fn wrk(
    url: &str,
    request: &Request,
    seconds: u64,
    connections: u32,
) -> anyhow::Result<WrkResult> {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"));
    for (name, value) in &request.headers {
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
    // `123456 requests in 10.00s, 9.54MB read`
    let requests = text
        .lines()
        .map(str::trim)
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no request count: {text}"))?;
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
        requests,
        p50_ms,
        p99_ms,
        non_2xx,
        socket_errors,
    })
}

/// Runs hey from CPU 1 at `rate` requests/s in total; the p99 in ms.
fn hey_p99(url: &str, request: &Request, seconds: u64, rate: f64) -> anyhow::Result<f64> {
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
    for (name, value) in &request.headers {
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

/// The measuring context: options and the clock-tick length.
struct Bench {
    options: Options,
    /// µs per clock tick of `/proc/<pid>/stat`.
    tick_us: f64,
}

impl Bench {
    /// Checks that `server` answers `request` with `expected` (the baselines answer 200 to
    /// everything), then measures it with wrk, sampling its CPU time right before and after.
    fn measure(
        &self,
        server: &Server,
        request: &Request,
        expected: u16,
    ) -> anyhow::Result<Measure> {
        let checked = Request {
            status: expected,
            ..request.clone()
        };
        request::check(server.addr, &checked)
            .with_context(|| format!("its log: {}", server.log_tail()))?;
        let url = format!("http://{}/decisions", server.addr);
        let before = server.process.cpu_ticks()?;
        let w = wrk(
            &url,
            request,
            self.options.seconds,
            self.options.connections,
        )?;
        let after = server.process.cpu_ticks()?;
        request::check(server.addr, &checked)
            .with_context(|| format!("after wrk; its log: {}", server.log_tail()))?;
        if w.requests == 0 {
            bail!("wrk completed no request against {url}");
        }
        // wrk counts answers ≥ 400 only: expected 401s are not failures.
        let failed = w.socket_errors + if expected < 400 { w.non_2xx } else { 0 };
        Ok(Measure {
            rps: w.rps,
            p50_ms: w.p50_ms,
            p99_ms: w.p99_ms,
            cpu_us: (after - before) as f64 * self.tick_us / w.requests as f64,
            failed,
        })
    }

    /// Measures `ours` with `request` right after both baselines, plus the p99 at half load.
    fn row(&self, baselines: &Baselines, ours: &Server, request: &Request) -> anyhow::Result<Row> {
        let hyper = self.measure(&baselines.hyper, request, 200)?;
        let nginx = self.measure(&baselines.nginx, request, 200)?;
        let m = self.measure(ours, request, request.status)?;
        let url = format!("http://{}/decisions", ours.addr);
        let half = hey_p99(&url, request, self.options.seconds, m.rps / 2.0)?;
        Ok(Row {
            name: request.name.clone(),
            ours: m,
            hyper,
            nginx,
            half_p99_ms: Some(half),
            rss_idle_kb: None,
            rss_peak_kb: ours.process.rss_kb("VmHWM:"),
        })
    }

    fn wanted(&self, name: &str) -> bool {
        self.options
            .only
            .as_ref()
            .is_none_or(|only| name.contains(only.as_str()))
    }
}

/// The two baselines, up (idle) for the whole run.
struct Baselines {
    hyper: Server,
    nginx: Server,
}

/// `loadbench run`.
pub(crate) fn run(options: Options) -> anyhow::Result<()> {
    for (tool, package) in [("wrk", "wrk"), ("hey", "hey"), ("taskset", "util-linux")] {
        require(tool, package)?;
    }
    if !Path::new(NGINX).exists() {
        bail!("{NGINX} does not exist: apt-get install nginx-light");
    }
    if !options.oathkeeper.exists() {
        bail!(
            "{} does not exist: run `cargo build --release -p oathkeeper` first",
            options.oathkeeper.display()
        );
    }
    let bench = Bench {
        tick_us: 1e6 / clock_ticks_per_second()? as f64,
        options,
    };
    let dir = tempfile::tempdir()?;
    let launch = Launch::direct();
    let mut rows = Vec::new();

    let baselines = Baselines {
        hyper: launch.helper(dir.path(), "baseline")?,
        nginx: launch.nginx(dir.path())?,
    };
    // The baselines alone, each against the other adjacent measurement.
    let plain = request::request(Kind::Allow, App::OwnHost, 10_000);
    for (name, server) in [
        ("baseline: bare hyper, 200", &baselines.hyper),
        ("baseline: nginx return 200", &baselines.nginx),
    ] {
        let idle = server.process.rss_kb("VmRSS:");
        let hyper = bench.measure(&baselines.hyper, &plain, 200)?;
        let nginx = bench.measure(&baselines.nginx, &plain, 200)?;
        let ours = if std::ptr::eq(server, &baselines.hyper) {
            hyper
        } else {
            nginx
        };
        let url = format!("http://{}/decisions", server.addr);
        let half = hey_p99(&url, &plain, bench.options.seconds, ours.rps / 2.0)?;
        rows.push(Row {
            name: name.to_owned(),
            ours,
            hyper,
            nginx,
            half_p99_ms: Some(half),
            rss_idle_kb: idle,
            rss_peak_kb: server.process.rss_kb("VmHWM:"),
        });
    }

    let kratos = launch.helper(dir.path(), "kratos")?;
    let kratos_url = format!("http://{}", kratos.addr);

    let mut startup = Vec::new();
    for n in [10usize, 1_000, 10_000] {
        let server = launch.oathkeeper(&bench.options.oathkeeper, dir.path(), n, &kratos_url)?;
        let idle = server.process.rss_kb("VmRSS:");
        startup.push((n, server.ready, idle));
        let requests: Vec<Request> = match n {
            10 => vec![request::request(Kind::Allow, App::OwnHost, n)],
            1_000 => vec![
                request::request(Kind::Allow, App::OwnHost, n),
                request::request(Kind::Session, App::OwnHost, n),
            ],
            _ => vec![
                request::request(Kind::Allow, App::OwnHost, n),
                request::request(Kind::Allow, App::SharedHost, n),
                request::request(Kind::Unauthorized, App::OwnHost, n),
                request::request(Kind::Login, App::OwnHost, n),
                request::request(Kind::Session, App::OwnHost, n),
                request::request(Kind::Session, App::SharedHost, n),
            ],
        };
        for request in requests.iter().filter(|r| bench.wanted(&r.name)) {
            let mut row = bench.row(&baselines, &server, request)?;
            row.rss_idle_kb = idle;
            rows.push(row);
        }
        let reload = request::request(Kind::Allow, App::OwnHost, n);
        if n == 1_000 && bench.wanted("reloaded") {
            rows.push(reload_under_load(&bench, &baselines, &server, &reload, n)?);
        }
    }

    print_report(&rows, &startup);
    Ok(())
}

/// Rewrites the rules file every 100 ms (atomically, by rename) while wrk runs: the same rules
/// in two orders, so that every write is a change.
fn reload_under_load(
    bench: &Bench,
    baselines: &Baselines,
    server: &Server,
    request: &Request,
    n: usize,
) -> anyhow::Result<Row> {
    let hyper = bench.measure(&baselines.hyper, request, 200)?;
    let nginx = bench.measure(&baselines.nginx, request, 200)?;
    let rules = server.rules.clone().context("not an oathkeeper server")?;
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
        let a = many_rules(n);
        let mut b = a.clone();
        b.rotate_left(1);
        let versions = [serde_json::to_vec(&a)?, serde_json::to_vec(&b)?];
        std::thread::spawn(move || {
            let tmp = rules.with_extension("tmp");
            while !stop.load(Ordering::SeqCst) {
                let i = swaps.fetch_add(1, Ordering::SeqCst);
                if std::fs::write(&tmp, &versions[(i + 1) % 2])
                    .and_then(|()| std::fs::rename(&tmp, &rules))
                    .is_err()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let ours = bench.measure(server, request, request.status);
    stop.store(true, Ordering::SeqCst);
    let _ = writer.join();
    Ok(Row {
        name: format!(
            "{}, reloaded every 100 ms ({} writes)",
            request.name,
            swaps.load(Ordering::SeqCst)
        ),
        ours: ours?,
        hyper,
        nginx,
        half_p99_ms: None,
        rss_idle_kb: None,
        rss_peak_kb: server.process.rss_kb("VmHWM:"),
    })
}

fn print_report(rows: &[Row], startup: &[(usize, Duration, Option<u64>)]) {
    let kb = |v: Option<u64>| v.map_or("-".to_owned(), |v| format!("{:.1} MB", v as f64 / 1024.0));
    println!(
        "Ratios are against the baselines measured just before with the same request; \
         CPU ratios are baseline CPU per request ÷ ours (1.00 = as cheap as the baseline).\n"
    );
    println!(
        "| scenario | requests/s | × hyper | × nginx | CPU/request | hyper CPU ÷ ours | nginx CPU ÷ ours | p50 | p99 | p99 at half load | failed | RSS idle | RSS peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} µs | {:.2} | {:.2} | {:.3} ms | {:.3} ms | {} | {} | {} | {} |",
            r.name,
            r.ours.rps,
            r.ours.rps / r.hyper.rps,
            r.ours.rps / r.nginx.rps,
            r.ours.cpu_us,
            r.hyper.cpu_us / r.ours.cpu_us,
            r.nginx.cpu_us / r.ours.cpu_us,
            r.ours.p50_ms,
            r.ours.p99_ms,
            r.half_p99_ms
                .map_or("-".to_owned(), |v| format!("{v:.3} ms")),
            r.ours.failed,
            kb(r.rss_idle_kb),
            kb(r.rss_peak_kb),
        );
    }
    println!("\nThe baselines' own figures beside each row (requests/s, CPU per request):\n");
    println!(
        "| scenario | hyper requests/s | hyper CPU/request | nginx requests/s | nginx CPU/request |"
    );
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} µs | {:.0} | {:.2} µs |",
            r.name, r.hyper.rps, r.hyper.cpu_us, r.nginx.rps, r.nginx.cpu_us
        );
    }
    let p50 = |n: usize| {
        let name = request::request(Kind::Allow, App::OwnHost, n).name;
        rows.iter().find(|r| r.name == name).map(|r| r.ours.p50_ms)
    };
    if let (Some(small), Some(large)) = (p50(10), p50(10_000)) {
        println!(
            "\nallow p50 latency, 10,000 rules ÷ 10 rules: {:.2}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_reads_wrk_durations() {
        assert_eq!(millis("372.00us"), Some(0.372));
        assert_eq!(millis("1.45ms"), Some(1.45));
        assert_eq!(millis("2.00s"), Some(2000.0));
        assert_eq!(millis("3m"), None);
    }
}
