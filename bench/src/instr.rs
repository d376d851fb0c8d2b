//! `loadbench instr` and `loadbench idle`: what does not move with the machine's load.
//!
//! `instr` counts the user-space instructions each server executes per request under
//! valgrind's callgrind (all threads; the kernel's work is not counted): each server is started
//! under `valgrind --tool=callgrind`, and once ready, for each kind of request, keep-alive
//! connections are opened and warmed up, the counters zeroed (`callgrind_control -z`), an
//! exact number of requests sent (every answer's status checked), and the counters dumped
//! (`callgrind_control -d`) and read. Startup, connection setup and warm-up are excluded. The
//! instructions a server spends without traffic over the same span are measured too (idle
//! instructions per second), and subtracted in the "minus idle" column; "oathkeeper − bare
//! hyper" is what the decision adds to serving HTTP. The counts repeat within ~1 % from run to
//! run, whatever else the machine runs. `--keep DIR` keeps every dump: `callgrind_annotate
//! --threshold=100 DIR/<file>` lists the functions by their own instructions (its first lines
//! are the frames that were running when the counters were zeroed).
//!
//! `idle` starts `oathkeeper serve` natively with the rules loaded and reads its CPU time
//! (`/proc/<pid>/stat`) over a span without traffic: a server without periodic work uses 0.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::request::{self, Connection, Request};
use crate::server::{Launch, NGINX, Server, clock_ticks_per_second, require, status_of};

/// What `loadbench instr` measures (its command-line options).
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// The oathkeeper binary.
    #[arg(long, default_value = "target/release/oathkeeper")]
    pub(crate) oathkeeper: PathBuf,
    /// Rules loaded.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) rules: usize,
    /// Keep-alive connections sending in parallel.
    #[arg(long, default_value_t = 4)]
    pub(crate) connections: usize,
    /// Requests per connection and kind of request (after 20 of warm-up).
    #[arg(long, default_value_t = 1000)]
    pub(crate) requests: usize,
    /// Seconds of the measurement without traffic.
    #[arg(long, default_value_t = 10)]
    pub(crate) idle_seconds: u64,
    /// Only the kinds of request whose name contains this text, e.g. "401".
    #[arg(long)]
    pub(crate) only: Option<String>,
    /// Keep every callgrind dump in this directory as `<server>-<request>.callgrind.out`,
    /// to read with `callgrind_annotate`.
    #[arg(long)]
    pub(crate) keep: Option<PathBuf>,
    /// Export OpenTelemetry spans at this sampling ratio (0 to 1) to a sink (the bare hyper
    /// baseline, outside callgrind): the export thread's work counts too.
    #[arg(long)]
    pub(crate) tracing_ratio: Option<f64>,
}

/// A server under callgrind and the dumps read from it so far.
struct Callgrind {
    /// `bare-hyper`, `nginx`, `oathkeeper`.
    label: String,
    server: Server,
    out: PathBuf,
    dumps: usize,
    /// Where to copy each dump.
    keep: Option<PathBuf>,
}

impl Callgrind {
    fn control(&self, flag: &str) -> anyhow::Result<()> {
        let pid = self.server.process.pid().to_string();
        let output = Command::new("callgrind_control")
            .arg(flag)
            .arg(&pid)
            .output()
            .context("cannot run callgrind_control")?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !text.contains("OK") {
            bail!(
                "callgrind_control {flag} {pid} failed: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Zeroes the counters.
    fn zero(&self) -> anyhow::Result<()> {
        self.control("-z")
    }

    /// Dumps the counters and reads their total: the instructions since the last zero. The
    /// dump is kept as `<keep>/<server>-<what>.callgrind.out` when asked.
    fn dump(&mut self, what: &str) -> anyhow::Result<u64> {
        self.control("-d")?;
        self.dumps += 1;
        let file = PathBuf::from(format!("{}.{}", self.out.display(), self.dumps));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(total) = total(&text)
            {
                if let Some(keep) = &self.keep {
                    let slug: String = what
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                        .collect();
                    let kept = keep.join(format!("{}-{slug}.callgrind.out", self.label));
                    std::fs::copy(&file, &kept)
                        .with_context(|| format!("cannot keep {}", kept.display()))?;
                }
                return Ok(total);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("no totals in {} after 120 s", file.display())
    }
}

/// The `summary:` (or `totals:`) line of a callgrind dump with `events: Ir`.
fn total(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("summary:"))
        .or_else(|| text.lines().find(|l| l.starts_with("totals:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One kind of request measured on one server.
struct Count {
    /// Instructions per request.
    per_request: f64,
    /// Instructions per request minus the server's idle instructions over the same span.
    minus_idle: f64,
}

/// Measures `requests` on `server`: per request kind, the instructions per request.
fn count(
    cg: &mut Callgrind,
    requests: &[Request],
    expected: Option<u16>,
    options: &Options,
    idle_per_second: f64,
) -> anyhow::Result<Vec<Count>> {
    let addr = cg.server.addr;
    let timeout = Duration::from_secs(300);
    let mut counts = Vec::new();
    for request in requests {
        let request = Request {
            status: expected.unwrap_or(request.status),
            ..request.clone()
        };
        request::check(addr, &request)
            .with_context(|| format!("its log: {}", cg.server.log_tail()))?;
        let mut connections = (0..options.connections)
            .map(|_| Connection::open(addr, timeout))
            .collect::<anyhow::Result<Vec<_>>>()?;
        request::drive(addr, &mut connections, &request, 20)?;
        cg.zero()?;
        let started = Instant::now();
        request::drive(addr, &mut connections, &request, options.requests)?;
        let span = started.elapsed();
        let instructions = cg.dump(&request.name)?;
        let n = (options.connections * options.requests) as f64;
        let idle = idle_per_second * span.as_secs_f64();
        eprintln!(
            "  {}: {instructions} instructions for {n} requests in {:.1} s",
            request.name,
            span.as_secs_f64()
        );
        counts.push(Count {
            per_request: instructions as f64 / n,
            minus_idle: (instructions as f64 - idle) / n,
        });
    }
    Ok(counts)
}

/// The instructions per second `cg`'s server spends without traffic.
fn idle_rate(cg: &mut Callgrind, seconds: u64) -> anyhow::Result<f64> {
    cg.zero()?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let instructions = cg.dump("idle")?;
    Ok(instructions as f64 / started.elapsed().as_secs_f64())
}

/// `loadbench instr`.
pub(crate) fn instr(options: &Options) -> anyhow::Result<()> {
    for tool in ["valgrind", "callgrind_control"] {
        require(tool, "valgrind")?;
    }
    if !Path::new(NGINX).exists() {
        bail!("{NGINX} does not exist: apt-get install nginx-light");
    }
    if !options.oathkeeper.exists() {
        bail!("{} does not exist", options.oathkeeper.display());
    }
    let dir = tempfile::tempdir()?;
    let kratos = Launch::direct().helper(dir.path(), "kratos")?;
    let kratos_url = format!("http://{}", kratos.addr);
    let sink = match options.tracing_ratio {
        Some(_) => Some(Launch::direct().helper(dir.path(), "baseline")?),
        None => None,
    };
    let requests: Vec<Request> = request::all(options.rules)
        .into_iter()
        .filter(|r| {
            options
                .only
                .as_ref()
                .is_none_or(|only| r.name.contains(only.as_str()))
        })
        .collect();
    if requests.is_empty() {
        bail!("no kind of request matches {:?}", options.only);
    }
    if let Some(keep) = &options.keep {
        std::fs::create_dir_all(keep)
            .with_context(|| format!("cannot create {}", keep.display()))?;
    }

    let under_callgrind = |label: &str| -> (Launch, PathBuf) {
        let out = dir.path().join(format!("callgrind-{label}.out"));
        let mut file_arg = OsString::from("--callgrind-out-file=");
        file_arg.push(&out);
        let launch = Launch {
            wrapper: vec!["valgrind".into(), "--tool=callgrind".into(), file_arg],
            // Under callgrind everything runs ~50× slower: 10,000 rules load in a minute or more.
            timeout: Duration::from_secs(900),
        };
        (launch, out)
    };

    let mut columns = Vec::new();
    for label in ["bare hyper", "nginx", "oathkeeper"] {
        let (launch, out) = under_callgrind(&label.replace(' ', "-"));
        eprintln!("{label}: starting under callgrind");
        let server = match label {
            "bare hyper" => launch.helper(dir.path(), "baseline")?,
            "nginx" => launch.nginx(dir.path())?,
            _ => launch.oathkeeper_edited(
                &options.oathkeeper,
                dir.path(),
                options.rules,
                &kratos_url,
                &status_of,
                |config| {
                    if let (Some(ratio), Some(sink)) = (options.tracing_ratio, &sink) {
                        config.tracing = crate::traces::tracing_to(sink.addr, ratio);
                    }
                },
            )?,
        };
        eprintln!("{label}: ready after {:.1} s", server.ready.as_secs_f64());
        let mut cg = Callgrind {
            label: label.replace(' ', "-"),
            server,
            out,
            dumps: 0,
            keep: options.keep.clone(),
        };
        let quiet = settle(&cg.server, Duration::from_secs(60))?;
        eprintln!("{label}: quiet after {:.1} s", quiet.as_secs_f64());
        let idle = idle_rate(&mut cg, options.idle_seconds)?;
        eprintln!("{label}: {idle:.0} instructions/s without traffic");
        // The baselines answer 200 to everything.
        let expected = (label != "oathkeeper").then_some(200);
        let counts = count(&mut cg, &requests, expected, options, idle)?;
        columns.push((label, idle, counts));
    }

    println!(
        "User-space instructions per request under callgrind ({} rules, {} keep-alive connections × {} requests per kind, after warm-up; all threads).\n",
        options.rules, options.connections, options.requests
    );
    println!(
        "| request | bare hyper | nginx | oathkeeper | oathkeeper minus idle | oathkeeper − bare hyper | × bare hyper | × nginx |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let [(_, _, hyper), (_, _, nginx), (_, _, ours)] = columns.as_slice() else {
        bail!("three servers expected");
    };
    for (i, request) in requests.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            request.name,
            hyper[i].per_request,
            nginx[i].per_request,
            ours[i].per_request,
            ours[i].minus_idle,
            ours[i].per_request - hyper[i].per_request,
            ours[i].per_request / hyper[i].per_request,
            ours[i].per_request / nginx[i].per_request,
        );
    }
    println!("\n| server | instructions/s without traffic |");
    println!("|---|---|");
    for (label, idle, _) in &columns {
        println!("| {label} | {idle:.0} |");
    }
    Ok(())
}

/// Waits until `server` used no CPU for a whole second (its post-start work done), at most
/// `timeout`; how long it took.
fn settle(server: &Server, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last = server.process.cpu_ticks()?;
    while started.elapsed() < timeout {
        std::thread::sleep(Duration::from_secs(1));
        let now = server.process.cpu_ticks()?;
        if now == last {
            return Ok(started.elapsed());
        }
        last = now;
    }
    Ok(started.elapsed())
}

/// `loadbench idle`: CPU ticks of `oathkeeper serve` with `rules` loaded, right after ready
/// (`settle` seconds) and then over `seconds` without traffic.
pub(crate) fn idle(
    oathkeeper: &Path,
    rules: usize,
    settle_seconds: u64,
    seconds: u64,
) -> anyhow::Result<()> {
    let tick_ms = 1000.0 / clock_ticks_per_second()? as f64;
    let dir = tempfile::tempdir()?;
    let launch = Launch::direct();
    let kratos = launch.helper(dir.path(), "kratos")?;
    let server = launch.oathkeeper(
        oathkeeper,
        dir.path(),
        rules,
        &format!("http://{}", kratos.addr),
    )?;
    let sample = || -> anyhow::Result<(u64, u64)> {
        Ok((server.process.cpu_ticks()?, server.process.read_bytes()?))
    };
    let at_ready = sample()?;
    std::thread::sleep(Duration::from_secs(settle_seconds));
    let settled = sample()?;
    std::thread::sleep(Duration::from_secs(seconds));
    let end = sample()?;
    let ticks = |ticks: u64| format!("{ticks} ticks ({:.0} ms)", ticks as f64 * tick_ms);
    let bytes = |bytes: u64| format!("{:.1} kB", bytes as f64 / 1000.0);
    println!(
        "| oathkeeper, {rules} rules | until ready | first {settle_seconds} s after ready | next {seconds} s without traffic |"
    );
    println!("|---|---|---|---|");
    println!(
        "| CPU time | {} | {} | {} |",
        ticks(at_ready.0),
        ticks(settled.0 - at_ready.0),
        ticks(end.0 - settled.0),
    );
    println!(
        "| bytes read (rchar) | {} | {} | {} |",
        bytes(at_ready.1),
        bytes(settled.1 - at_ready.1),
        bytes(end.1 - settled.1),
    );
    println!(
        "\nready after {:.0} ms",
        server.ready.as_secs_f64() * 1000.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_reads_the_summary_of_a_dump() {
        let dump = "# callgrind format\nversion: 1\nevents: Ir\nsummary: 21932537\n\nfn=(1) main\n";
        assert_eq!(total(dump), Some(21_932_537));
        assert_eq!(total("events: Ir\ntotals: 42\n"), Some(42));
        assert_eq!(total("events: Ir\n"), None);
    }
}
