//! Live mode: the plan's services run as child processes on the host, and checks run for
//! real (spec/juju-runtime.md §3.4; restart-on-replan as in §8).
//!
//! A layer names container paths and programs, so [`LiveOptions`] maps them to the host:
//! programs to host binaries, path prefixes to host directories (or into the container root),
//! and extra environment. Each service runs in its own process group (so a shell's children
//! stop with it), logs stdout and stderr to `<log dir>/<service>.log`, and is stopped with
//! SIGTERM then SIGKILL after the kill delay, through the `kill` command (no unsafe code).
//! User and group settings are ignored: everything runs as the test's user.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use juju::pebble::layer::{Check, Service};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};

use super::{CheckRuntime, Process, Shared};
use crate::pebble::files;
use crate::pebble::state::ServiceStatus;
use crate::pebble::util;

/// Pebble's default `kill-delay`.
const DEFAULT_KILL_DELAY: Duration = Duration::from_secs(5);
/// Pebble's default check `period`.
const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
/// Pebble's default check `timeout`.
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Pebble's default check `threshold`.
pub(crate) const DEFAULT_THRESHOLD: u32 = 3;
/// Pebble's default `backoff-delay`.
const DEFAULT_BACKOFF_DELAY: Duration = Duration::from_millis(500);
/// Pebble's default `backoff-factor`.
const DEFAULT_BACKOFF_FACTOR: f64 = 2.0;
/// Pebble's default `backoff-limit`.
const DEFAULT_BACKOFF_LIMIT: Duration = Duration::from_secs(30);
/// The host command that sends signals.
const KILL: &str = "kill";
/// The container's CA bundle: what Pebble's https checks trust (Go's default on Linux), read
/// under the container root.
pub(crate) const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How live mode maps the container onto the host.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveOptions {
    /// Program name (a command's first word, or its base name) → host binary, e.g.
    /// `oathkeeper` → `target/debug/oathkeeper`. Unmapped programs run as named (through
    /// `PATH`).
    pub programs: BTreeMap<String, PathBuf>,
    /// Prefix rewrites `(from, to)` applied to each argument (also after a `--flag=`),
    /// environment value, working dir and check URL, longest `from` first: e.g.
    /// `/etc/config/oathkeeper` → a temp dir, or `http://localhost:4456` →
    /// `http://127.0.0.1:<port>`.
    pub rewrites: Vec<(String, String)>,
    /// Container path prefixes that map into the container root (where pushed files are),
    /// e.g. `/etc/config/oathkeeper` → `<root>/etc/config/oathkeeper`.
    pub root_prefixes: Vec<String>,
    /// Environment added over the layer's (the process also inherits the test's).
    pub environment: BTreeMap<String, String>,
    /// `host:port` → the address to connect to instead, keeping the name for TLS (SNI and
    /// verification) and the `Host` header, like `curl --resolve`: e.g. an https check of
    /// `https://app.model.svc.cluster.local:4456/...` reaching `127.0.0.1:<port>`.
    pub resolve: BTreeMap<String, String>,
    /// Where service logs go (default: a temp dir owned by the fake).
    pub log_dir: Option<PathBuf>,
    /// How long a started service must stay up for the start to succeed (Pebble: 1 s).
    pub okay_delay: Duration,
    /// Kill delay for services whose layer sets none (Pebble: 5 s).
    pub kill_delay: Duration,
}

impl Default for LiveOptions {
    fn default() -> LiveOptions {
        LiveOptions {
            programs: BTreeMap::new(),
            rewrites: Vec::new(),
            root_prefixes: Vec::new(),
            environment: BTreeMap::new(),
            resolve: BTreeMap::new(),
            log_dir: None,
            okay_delay: Duration::from_secs(1),
            kill_delay: DEFAULT_KILL_DELAY,
        }
    }
}

impl LiveOptions {
    /// Maps program `name` to the host binary `path`.
    pub fn program(mut self, name: &str, path: impl Into<PathBuf>) -> LiveOptions {
        self.programs.insert(name.to_owned(), path.into());
        self
    }

    /// Rewrites the prefix `from` to `to`.
    pub fn rewrite(mut self, from: &str, to: impl Into<String>) -> LiveOptions {
        self.rewrites.push((from.to_owned(), to.into()));
        self
    }

    /// Maps container paths under `prefix` into the container root.
    pub fn in_root(mut self, prefix: &str) -> LiveOptions {
        self.root_prefixes.push(prefix.to_owned());
        self
    }

    /// Sets environment variable `key` for every service.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> LiveOptions {
        self.environment.insert(key.to_owned(), value.into());
        self
    }

    /// Connects to `address` (`ip:port`) whenever a check names `host_port` (`name:port`),
    /// keeping `name` for TLS and the `Host` header.
    pub fn resolve(mut self, host_port: &str, address: impl Into<String>) -> LiveOptions {
        self.resolve.insert(host_port.to_owned(), address.into());
        self
    }

    /// Sets the start delay.
    pub fn okay_delay(mut self, delay: Duration) -> LiveOptions {
        self.okay_delay = delay;
        self
    }

    /// The rewrite rules with the root prefixes resolved, longest `from` first.
    fn rules(&self, root: &Path) -> Vec<(String, String)> {
        let mut rules = self.rewrites.clone();
        for prefix in &self.root_prefixes {
            let to = files::host_path(root, prefix)
                .map_or_else(|_| prefix.clone(), |p| p.to_string_lossy().into_owned());
            rules.push((prefix.clone(), to));
        }
        rules.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        rules
    }

    /// `text` with the first matching rule applied (at the start, or after the first `=`).
    pub(crate) fn rewrite_text(&self, root: &Path, text: &str) -> Option<String> {
        for (from, to) in self.rules(root) {
            if let Some(rest) = text.strip_prefix(&from) {
                return Some(format!("{to}{rest}"));
            }
            let flag_value = text
                .split_once('=')
                .and_then(|(flag, value)| Some((flag, value.strip_prefix(&from)?)));
            if let Some((flag, rest)) = flag_value {
                return Some(format!("{flag}={to}{rest}"));
            }
        }
        None
    }

    fn rewritten(&self, root: &Path, text: &str) -> String {
        self.rewrite_text(root, text)
            .unwrap_or_else(|| text.to_owned())
    }

    /// The host argv of a layer command.
    fn argv(&self, root: &Path, command: &str) -> Result<(PathBuf, Vec<String>), String> {
        let words = util::split_command(command)?;
        let Some((program, args)) = words.split_first() else {
            return Err("empty command".to_owned());
        };
        let base = Path::new(program)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        let host = self
            .programs
            .get(program)
            .or_else(|| self.programs.get(&base))
            .cloned()
            .unwrap_or_else(|| PathBuf::from(self.rewritten(root, program)));
        let args = args.iter().map(|a| self.rewritten(root, a)).collect();
        Ok((host, args))
    }
}

/// How one service runs.
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    environment: BTreeMap<String, String>,
    working_dir: PathBuf,
    log: PathBuf,
    kill_delay: Duration,
    okay_delay: Duration,
    backoff_delay: Duration,
    backoff_factor: f64,
    backoff_limit: Duration,
    on_success: String,
    on_failure: String,
}

impl Launch {
    fn new(
        shared: &Shared,
        options: &LiveOptions,
        name: &str,
        service: &Service,
    ) -> Result<Launch, String> {
        let root = &shared.root;
        let command = service.command.as_deref().unwrap_or_default();
        let (program, args) = options.argv(root, command)?;
        let mut environment: BTreeMap<String, String> = service
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), options.rewritten(root, v)))
            .collect();
        environment.extend(options.environment.clone());
        let working_dir = match &service.working_dir {
            None => root.clone(),
            Some(dir) => match options.rewrite_text(root, dir) {
                Some(host) => PathBuf::from(host),
                None => {
                    let host = files::host_path(root, dir).map_err(|e| e.message)?;
                    std::fs::create_dir_all(&host)
                        .map_err(|e| format!("cannot create working dir {dir}: {e}"))?;
                    host
                }
            },
        };
        let duration = |value: &Option<String>, default| {
            value
                .as_deref()
                .and_then(|text| envconf::parse_duration(text).ok())
                .unwrap_or(default)
        };
        Ok(Launch {
            program,
            args,
            environment,
            working_dir,
            log: shared.log_dir.join(format!("{name}.log")),
            kill_delay: duration(&service.kill_delay, options.kill_delay),
            okay_delay: options.okay_delay,
            backoff_delay: duration(&service.backoff_delay, DEFAULT_BACKOFF_DELAY),
            backoff_factor: service.backoff_factor.unwrap_or(DEFAULT_BACKOFF_FACTOR),
            backoff_limit: duration(&service.backoff_limit, DEFAULT_BACKOFF_LIMIT),
            on_success: service
                .on_success
                .clone()
                .unwrap_or_else(|| "restart".into()),
            on_failure: service
                .on_failure
                .clone()
                .unwrap_or_else(|| "restart".into()),
        })
    }

    fn spawn(&self) -> Result<Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open log {}: {e}", self.log.display()))?;
        let err_log = log
            .try_clone()
            .map_err(|e| format!("cannot open log {}: {e}", self.log.display()))?;
        Command::new(&self.program)
            .args(&self.args)
            .envs(&self.environment)
            .current_dir(&self.working_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start service: {}: {e}", self.program.display()))
    }
}

/// Sends `signal` to the process group `pid`.
pub(crate) async fn signal_group(pid: u32, signal: &str) -> bool {
    Command::new(KILL)
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// SIGKILLs the process groups `pids` now (from a destructor, without a runtime).
pub(crate) fn kill_groups_now(pids: &[u32]) {
    for pid in pids {
        // Best effort: a group that is gone already makes `kill` fail, which is fine.
        let _ = std::process::Command::new(KILL)
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{pid}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn describe(status: std::io::Result<ExitStatus>) -> (bool, String) {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => (code == 0, format!("code {code}")),
            (None, Some(signal)) => (false, format!("signal {signal}")),
            (None, None) => (false, "unknown status".to_owned()),
        },
        Err(e) => (false, e.to_string()),
    }
}

/// Starts service `name` from the plan: spawns it, waits the okay delay, and fails the start
/// if it exited by then.
pub(crate) async fn start(shared: &Arc<Shared>, name: &str) -> Result<(), String> {
    let Some(options) = &shared.live else {
        return Err("not in live mode".to_owned());
    };
    let (generation, okay_delay) = {
        let mut daemon = shared.daemon.lock().await;
        let definition = daemon.planned_service(name)?;
        if daemon.service(name).process.is_some() {
            return Ok(());
        }
        let launch = Launch::new(shared, options, name, &definition)?;
        let runtime = daemon.service(name);
        let child = match launch.spawn() {
            Ok(child) => child,
            Err(error) => {
                runtime.current = ServiceStatus::Error;
                runtime.since = util::now();
                return Err(error);
            }
        };
        runtime.generation += 1;
        let generation = runtime.generation;
        let (stop, stop_rx) = oneshot::channel();
        let pid = child.id();
        let okay_delay = launch.okay_delay;
        let task = tokio::spawn(supervise(
            Arc::clone(shared),
            name.to_owned(),
            launch,
            child,
            stop_rx,
            generation,
        ));
        runtime.process = Some(Process {
            pid,
            stop: Some(stop),
            task: Some(task),
        });
        runtime.current = ServiceStatus::Active;
        runtime.since = util::now();
        runtime.definition = Some(definition);
        runtime.exit = None;
        (generation, okay_delay)
    };
    tokio::time::sleep(okay_delay).await;
    let daemon = shared.daemon.lock().await;
    let runtime = daemon.services.get(name);
    match runtime {
        Some(r) if r.generation == generation && r.current == ServiceStatus::Error => Err(format!(
            "cannot start service: exited quickly with {}",
            r.exit.as_deref().unwrap_or("unknown status")
        )),
        _ => Ok(()),
    }
}

/// Stops service `name`: SIGTERM, SIGKILL after the kill delay.
pub(crate) async fn stop(shared: &Arc<Shared>, name: &str) {
    let process = {
        let mut daemon = shared.daemon.lock().await;
        daemon.service(name).process.take()
    };
    if let Some(mut process) = process {
        if let Some(stop) = process.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = process.task.take() {
            // The supervisor bounds its own wait by the kill delay.
            let _ = task.await;
        }
    }
    let mut daemon = shared.daemon.lock().await;
    let runtime = daemon.service(name);
    if runtime.process.is_none() {
        runtime.current = ServiceStatus::Inactive;
        runtime.since = util::now();
        runtime.definition = None;
    }
}

/// Stops every live service (when the fake stops).
pub(crate) async fn stop_all(shared: &Arc<Shared>) {
    let names: Vec<String> = shared
        .daemon
        .lock()
        .await
        .services
        .keys()
        .cloned()
        .collect();
    for name in names {
        stop(shared, &name).await;
    }
}

async fn terminate(child: &mut Child, kill_delay: Duration) {
    if let Some(pid) = child.id() {
        signal_group(pid, "TERM").await;
        if tokio::time::timeout(kill_delay, child.wait())
            .await
            .is_err()
        {
            signal_group(pid, "KILL").await;
            let _ = child.kill().await;
        }
        // Children of the service that ignored SIGTERM go with the group.
        signal_group(pid, "KILL").await;
    }
}

/// Owns one service's process: restarts it with backoff when it exits (per `on-success` /
/// `on-failure`), stops it when asked.
async fn supervise(
    shared: Arc<Shared>,
    name: String,
    launch: Launch,
    mut child: Child,
    mut stop_rx: oneshot::Receiver<()>,
    generation: u64,
) {
    let mut started = Instant::now();
    let mut backoff = launch.backoff_delay;
    loop {
        tokio::select! {
            status = child.wait() => {
                let (success, how) = describe(status);
                let action = if success { &launch.on_success } else { &launch.on_failure };
                let quick = started.elapsed() < launch.okay_delay;
                {
                    let mut daemon = shared.daemon.lock().await;
                    let runtime = daemon.service(&name);
                    if runtime.generation != generation {
                        return;
                    }
                    runtime.exit = Some(how);
                    runtime.since = util::now();
                    if quick || action != "restart" {
                        runtime.current = if quick || !success { ServiceStatus::Error } else { ServiceStatus::Inactive };
                        runtime.process = None;
                        return;
                    }
                    runtime.current = ServiceStatus::Backoff;
                    if let Some(process) = runtime.process.as_mut() {
                        process.pid = None;
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = &mut stop_rx => return,
                }
                backoff = backoff.mul_f64(launch.backoff_factor).min(launch.backoff_limit);
                let respawned = launch.spawn();
                let mut daemon = shared.daemon.lock().await;
                let runtime = daemon.service(&name);
                if runtime.generation != generation {
                    return;
                }
                match respawned {
                    Ok(new_child) => {
                        child = new_child;
                        started = Instant::now();
                        runtime.current = ServiceStatus::Active;
                        runtime.since = util::now();
                        if let Some(process) = runtime.process.as_mut() {
                            process.pid = child.id();
                        }
                    }
                    Err(error) => {
                        runtime.current = ServiceStatus::Error;
                        runtime.exit = Some(error);
                        runtime.process = None;
                        return;
                    }
                }
            }
            _ = &mut stop_rx => {
                terminate(&mut child, launch.kill_delay).await;
                return;
            }
        }
    }
}

/// Starts (or restarts) the runner of check `name` with `definition`.
pub(crate) fn start_check(shared: &Arc<Shared>, check: &mut CheckRuntime, name: &str) {
    if let Some(runner) = check.runner.take() {
        runner.abort();
    }
    let Some(definition) = check.definition.clone() else {
        return;
    };
    check.generation += 1;
    check.runner = Some(tokio::spawn(run_check(
        Arc::clone(shared),
        name.to_owned(),
        definition,
        check.generation,
    )));
}

async fn run_check(shared: Arc<Shared>, name: String, definition: Check, generation: u64) {
    let period = definition
        .period
        .as_deref()
        .and_then(|text| envconf::parse_duration(text).ok())
        .filter(|p| !p.is_zero())
        .unwrap_or(DEFAULT_PERIOD);
    let timeout = definition
        .timeout
        .as_deref()
        .and_then(|text| envconf::parse_duration(text).ok())
        .unwrap_or(DEFAULT_CHECK_TIMEOUT);
    let threshold = definition.threshold.unwrap_or(DEFAULT_THRESHOLD);
    loop {
        tokio::time::sleep(period).await;
        let ok = tokio::time::timeout(timeout, perform(&shared, &definition))
            .await
            .unwrap_or(false);
        let mut daemon = shared.daemon.lock().await;
        let Some(check) = daemon.checks.get_mut(&name) else {
            return;
        };
        if check.generation != generation {
            return;
        }
        check.record(ok, threshold);
        daemon.refresh_check_change(&name);
    }
}

/// The roots an https check trusts: the container's CA bundle, read now (the charm may have
/// just written it).
fn container_roots(root: &Path) -> Result<rustls::RootCertStore, String> {
    let path = files::host_path(root, CA_BUNDLE).map_err(|e| e.message)?;
    let pem = std::fs::read(&path).map_err(|e| format!("cannot read {CA_BUNDLE}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        // A certificate rustls cannot use is skipped, as Go skips it.
        let _ = roots.add(cert);
    }
    Ok(roots)
}

/// `GET url` as Pebble's http check does: 2xx is up. An `https` URL is verified against the
/// container's CA bundle under `root`; [`LiveOptions::resolve`] picks the address.
pub(crate) async fn http_get(
    options: &LiveOptions,
    root: &Path,
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<u16, String> {
    let uri = url
        .parse::<hyper::Uri>()
        .map_err(|e| format!("invalid URL {url}: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => return Err(format!("unsupported scheme {other:?}")),
    };
    let host = uri.host().ok_or_else(|| format!("no host in {url}"))?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let host_port = format!("{host}:{port}");
    let address = options
        .resolve
        .get(&host_port)
        .unwrap_or(&host_port)
        .clone();
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut request = hyper::Request::get(path).header(hyper::header::HOST, &host_port);
    for (key, value) in headers {
        request = request.header(key, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    if https {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(container_roots(root)?)
        .with_no_client_auth();
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| format!("invalid server name {host}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host_port}: {e}"))?;
        send(TokioIo::new(tls), request).await
    } else {
        send(TokioIo::new(tcp), request).await
    }
}

async fn send<T>(io: T, request: hyper::Request<Empty<Bytes>>) -> Result<u16, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let status = sender
        .send_request(request)
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string());
    driver.abort();
    status
}

/// Runs a check once: HTTP 2xx (https verified against the container's CA bundle), a TCP
/// connect, or an exec exiting 0.
pub(crate) async fn perform(shared: &Shared, definition: &Check) -> bool {
    let Some(options) = &shared.live else {
        return true;
    };
    let root = &shared.root;
    if let Some(http) = &definition.http {
        let Some(url) = &http.url else { return false };
        let url = options.rewritten(root, url);
        return http_get(options, root, &url, &http.headers)
            .await
            .is_ok_and(|status| (200..300).contains(&status));
    }
    if let Some(tcp) = &definition.tcp {
        let host = tcp.host.clone().unwrap_or_else(|| "localhost".to_owned());
        let Some(port) = tcp.port else { return false };
        let address = options.rewritten(root, &format!("{host}:{port}"));
        return tokio::net::TcpStream::connect(address).await.is_ok();
    }
    if let Some(exec) = &definition.exec {
        let Some(command) = &exec.command else {
            return false;
        };
        let Ok((program, args)) = options.argv(root, command) else {
            return false;
        };
        let mut environment = exec.environment.clone();
        environment.extend(options.environment.clone());
        return Command::new(program)
            .args(args)
            .envs(environment)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status()
            .await
            .is_ok_and(|s| s.success());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_programs_and_rewrite_paths_into_the_host() {
        let root = Path::new("/tmp/root");
        let options = LiveOptions::default()
            .program("oathkeeper", "/build/oathkeeper")
            .rewrite("/etc/config/oathkeeper", "/tmp/conf")
            .in_root("/etc/rules");
        let (program, args) = options
            .argv(root, "/usr/bin/oathkeeper serve -c /etc/config/oathkeeper/o.yaml --rules=/etc/rules/a.json /var/x")
            .unwrap();
        assert_eq!(program, PathBuf::from("/build/oathkeeper"));
        assert_eq!(
            args,
            [
                "serve",
                "-c",
                "/tmp/conf/o.yaml",
                "--rules=/tmp/root/etc/rules/a.json",
                "/var/x"
            ]
        );
        let (program, _) = options.argv(root, "python3 -m http.server").unwrap();
        assert_eq!(program, PathBuf::from("python3"));
    }
}
