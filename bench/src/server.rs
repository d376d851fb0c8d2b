//! The servers a measurement starts (the bare hyper baseline, nginx, the fake Kratos and
//! `oathkeeper serve`), each pinned to CPU 0 and killed on drop, and what is read from them:
//! readiness, memory and CPU time.

use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oathkeeper_core::config::{Config, LogLevel, Tls};
use oathkeeper_core::testing::{bench_config, many_rules};

/// The interface every server of a run listens on.
pub(crate) const LOOPBACK: &str = "127.0.0.1";

/// Debian's nginx.
pub(crate) const NGINX: &str = "/usr/sbin/nginx";

/// A port nobody listens on right now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind((LOOPBACK, 0))?.local_addr()?.port())
}

/// `127.0.0.1:port`.
pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Fails naming the package when `tool` is not on the `PATH`.
pub(crate) fn require(tool: &str, package: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("{tool} is not installed: apt-get install {package}");
    }
    Ok(())
}

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU times (`getconf CLK_TCK`).
pub(crate) fn clock_ticks_per_second() -> anyhow::Result<u64> {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("cannot run getconf")?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .context("getconf CLK_TCK printed no number")
}

/// A server process pinned to CPU 0 (`taskset -c 0 program args…`), killed on drop.
///
/// `taskset` execs the program, so the child's pid is the server's: its `/proc/<pid>` files
/// describe the server once it runs ([`Pinned::cpu_ticks`] checks it).
pub(crate) struct Pinned {
    child: Child,
    name: String,
}

impl Pinned {
    /// Starts `program args…` on CPU 0, its standard error to `log`.
    pub(crate) fn spawn(
        program: impl AsRef<Path>,
        args: &[OsString],
        log: &Path,
    ) -> anyhow::Result<Pinned> {
        let program = program.as_ref();
        let child = Command::new("taskset")
            .arg("-c")
            .arg("0")
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Pinned {
            child,
            name: program.display().to_string(),
        })
    }

    /// The server's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `/proc/<pid>/status` field in kB (`VmRSS:`, `VmHWM:`).
    pub(crate) fn rss_kb(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// User plus system CPU time of every thread of the server so far, in clock ticks
    /// (`utime` + `stime` of `/proc/<pid>/stat`).
    pub(crate) fn cpu_ticks(&self) -> anyhow::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .with_context(|| format!("{} is gone", self.name))?;
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split at the last `)`.
        let (head, rest) = stat
            .rsplit_once(')')
            .context("unexpected /proc/<pid>/stat")?;
        if head.ends_with("(taskset") {
            bail!("pid {} is still taskset, not {}", self.pid(), self.name);
        }
        // Fields 14 and 15 (utime, stime); `rest` starts at field 3.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| -> anyhow::Result<u64> {
            fields
                .get(i - 3)
                .and_then(|v| v.parse().ok())
                .context("unexpected /proc/<pid>/stat")
        };
        Ok(field(14)? + field(15)?)
    }

    /// Bytes the server read through `read`-like system calls so far (`rchar` of
    /// `/proc/<pid>/io`): a server re-reading its rules shows here.
    pub(crate) fn read_bytes(&self) -> anyhow::Result<u64> {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.pid()))
            .with_context(|| format!("{} is gone", self.name))?;
        io.lines()
            .find_map(|l| l.strip_prefix("rchar:"))
            .and_then(|v| v.trim().parse().ok())
            .context("no rchar in /proc/<pid>/io")
    }

    /// Fails with the end of `log` when the server exited.
    pub(crate) fn check_alive(&mut self, log: &Path) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{} exited ({status}): {}", self.name, tail(&text));
        }
        Ok(())
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs `path` once; the status, if any answer came.
pub(crate) fn status_of(addr: SocketAddr, path: &str) -> Option<u16> {
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

/// How a readiness path is asked: its status, if any answer came ([`status_of`] for plain
/// HTTP).
pub(crate) type Probe = dyn Fn(SocketAddr, &str) -> Option<u16>;

/// Waits up to `timeout` until `path` answers 200 to `probe`; the time since `started`.
pub(crate) fn wait_for(
    server: &mut Pinned,
    log: &Path,
    addr: SocketAddr,
    (path, probe): (&str, &Probe),
    started: Instant,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    while started.elapsed() < timeout {
        if probe(addr, path) == Some(200) {
            return Ok(started.elapsed());
        }
        server.check_alive(log)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!(
        "{addr}{path} did not answer 200 within {} s",
        timeout.as_secs()
    )
}

/// A started server: the process, where it listens and its log.
pub(crate) struct Server {
    pub(crate) process: Pinned,
    pub(crate) addr: SocketAddr,
    pub(crate) log: PathBuf,
    /// From exec to the first 200 of its readiness path.
    pub(crate) ready: Duration,
    /// The rules file it reads (oathkeeper only).
    pub(crate) rules: Option<PathBuf>,
    /// Where its metrics are served (oathkeeper only).
    pub(crate) metrics: Option<SocketAddr>,
}

impl Server {
    /// The end of its log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

/// The last 2,000 characters of `text`.
fn tail(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(2000)..].iter().collect()
}

/// How a server is started: directly, or under a wrapper such as valgrind.
#[derive(Clone, Debug, Default)]
pub(crate) struct Launch {
    /// The wrapper's program and arguments, before the server's own.
    pub(crate) wrapper: Vec<OsString>,
    /// How long to wait for readiness.
    pub(crate) timeout: Duration,
}

impl Launch {
    /// Starts the server directly, waiting up to 60 s.
    pub(crate) fn direct() -> Launch {
        Launch {
            wrapper: Vec::new(),
            timeout: Duration::from_secs(60),
        }
    }

    fn start(
        &self,
        program: &Path,
        args: Vec<OsString>,
        log: PathBuf,
        addr: SocketAddr,
        ready: (&str, &Probe),
    ) -> anyhow::Result<Server> {
        let started = Instant::now();
        let mut process = match self.wrapper.split_first() {
            None => Pinned::spawn(program, &args, &log)?,
            Some((wrapper, wrapper_args)) => {
                let mut all = wrapper_args.to_vec();
                all.push(program.into());
                all.extend(args);
                Pinned::spawn(wrapper, &all, &log)?
            }
        };
        let ready = wait_for(&mut process, &log, addr, ready, started, self.timeout)
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Server {
            process,
            addr,
            log,
            ready,
            rules: None,
            metrics: None,
        })
    }

    /// `loadbench baseline` (bare hyper) or `loadbench kratos`, by `subcommand`.
    pub(crate) fn helper(&self, dir: &Path, subcommand: &str) -> anyhow::Result<Server> {
        let me = std::env::current_exe()?;
        let port = free_port()?;
        let args = vec![subcommand.into(), "--port".into(), port.to_string().into()];
        let log = dir.join(format!("{subcommand}-{port}.log"));
        self.start(&me, args, log, loopback(port), ("/", &status_of))
    }

    /// Debian's nginx answering `return 200` (one process, no master).
    pub(crate) fn nginx(&self, dir: &Path) -> anyhow::Result<Server> {
        let port = free_port()?;
        let prefix = dir.join(format!("nginx-{port}"));
        std::fs::create_dir_all(&prefix)?;
        let config = prefix.join("nginx.conf");
        std::fs::write(&config, nginx_config(&prefix, port))?;
        let log = prefix.join("stderr.log");
        let args = vec![
            "-p".into(),
            prefix.clone().into(),
            "-c".into(),
            config.into(),
            "-e".into(),
            prefix.join("error.log").into(),
        ];
        self.start(
            Path::new(NGINX),
            args,
            log,
            loopback(port),
            ("/", &status_of),
        )
    }

    /// `oathkeeper serve` on `n` rules (see [`write_rules`]) with Kratos at `kratos`.
    pub(crate) fn oathkeeper(
        &self,
        binary: &Path,
        dir: &Path,
        n: usize,
        kratos: &str,
    ) -> anyhow::Result<Server> {
        self.oathkeeper_with(binary, dir, n, kratos, None)
    }

    /// [`Launch::oathkeeper`], serving the API over TLS when `tls` is given (its
    /// `serve.api.tls`, and the probe that asks its readiness over TLS).
    pub(crate) fn oathkeeper_with(
        &self,
        binary: &Path,
        dir: &Path,
        n: usize,
        kratos: &str,
        tls: Option<(Tls, &Probe)>,
    ) -> anyhow::Result<Server> {
        let (tls, probe): (Option<Tls>, &Probe) = match tls {
            Some((tls, probe)) => (Some(tls), probe),
            None => (None, &status_of),
        };
        self.oathkeeper_edited(binary, dir, n, kratos, probe, |config| {
            config.serve.api.tls = tls;
        })
    }

    /// [`Launch::oathkeeper`] with the config changed by `edit` (after the benchmark's
    /// settings), its readiness asked with `probe`.
    pub(crate) fn oathkeeper_edited(
        &self,
        binary: &Path,
        dir: &Path,
        n: usize,
        kratos: &str,
        probe: &Probe,
        edit: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Server> {
        let (api, metrics) = (free_port()?, free_port()?);
        let rules = dir.join(format!("rules-{n}-{api}.json"));
        write_rules(&rules, n)?;
        let config = dir.join(format!("oathkeeper-{api}.yaml"));
        write_config_edited(&config, &rules, api, metrics, kratos, edit)?;
        let args = vec!["serve".into(), "-c".into(), config.into()];
        let log = dir.join(format!("oathkeeper-{n}-{api}.log"));
        let mut server = self.start(binary, args, log, loopback(api), ("/health/ready", probe))?;
        server.rules = Some(rules);
        server.metrics = Some(loopback(metrics));
        Ok(server)
    }
}

/// The smallest nginx that answers 200 like the bare hyper baseline: one process (no master,
/// so the pid `taskset` starts is the one serving), no logs, keep-alive connections that last.
fn nginx_config(prefix: &Path, port: u16) -> String {
    let p = prefix.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log error;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen {LOOPBACK}:{port};
        location / {{
            return 200;
        }}
    }}
}}
"
    )
}

/// Writes the rules of a run to `path`: `n` rules as the charm renders them
/// ([`many_rules`]).
pub(crate) fn write_rules(path: &Path, n: usize) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec(&many_rules(n))?)?;
    Ok(())
}

/// Writes the `oathkeeper.yaml` of a run to `path`: the benchmark config reading `rules`,
/// listening on `api` and `metrics`, with Kratos at `kratos` (a base URL).
pub(crate) fn write_config(
    path: &Path,
    rules: &Path,
    api: u16,
    metrics: u16,
    kratos: &str,
) -> anyhow::Result<()> {
    write_config_with(path, rules, api, metrics, kratos, None)
}

/// [`write_config`] with `serve.api.tls` set to `tls`.
pub(crate) fn write_config_with(
    path: &Path,
    rules: &Path,
    api: u16,
    metrics: u16,
    kratos: &str,
    tls: Option<Tls>,
) -> anyhow::Result<()> {
    write_config_edited(path, rules, api, metrics, kratos, |config| {
        config.serve.api.tls = tls;
    })
}

/// [`write_config`] with the config changed by `edit` last.
pub(crate) fn write_config_edited(
    path: &Path,
    rules: &Path,
    api: u16,
    metrics: u16,
    kratos: &str,
    edit: impl FnOnce(&mut Config),
) -> anyhow::Result<()> {
    let mut config = bench_config(kratos);
    config.log.level = LogLevel::Error;
    config.serve.api.host = LOOPBACK.to_owned();
    config.serve.api.port = Some(api);
    config.serve.prometheus.host = LOOPBACK.to_owned();
    config.serve.prometheus.port = metrics;
    config.access_rules.repositories = vec![format!("file://{}", rules.display())];
    edit(&mut config);
    std::fs::write(path, config.to_yaml())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_config_is_one_process_on_loopback_answering_200() {
        let config = nginx_config(Path::new("/tmp/x"), 8081);
        for line in [
            "daemon off;",
            "master_process off;",
            "listen 127.0.0.1:8081;",
            "return 200;",
            "access_log off;",
            "pid /tmp/x/nginx.pid;",
        ] {
            assert!(config.contains(line), "{line} missing from {config}");
        }
    }

    #[test]
    fn the_fixture_rules_are_the_charms() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.json");
        write_rules(&rules, 100).unwrap();
        let parsed: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&rules).unwrap()).unwrap();
        assert_eq!(parsed.len(), 100);
        assert!(parsed.iter().any(|r| r["id"] == "app16:welcome:0:allow"));
        assert!(parsed.iter().any(|r| r["id"] == "app17:0:deny"));
    }
}
