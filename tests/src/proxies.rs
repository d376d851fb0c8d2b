//! Real reverse proxies from Debian, configured as forward-auth proxies in front of an
//! upstream: Caddy (`forward_auth`) and nginx (`auth_request`); Traefik, from PyPI, is in
//! [`crate::traefik`].
//!
//! Every proxy runs in a process group of its own and stops the way an operator stops it: the
//! graceful signal to the master (nginx: SIGQUIT, which also ends its workers; Caddy and
//! Traefik: SIGTERM), a bounded wait, and only then SIGKILL to the whole group. Killing only
//! the master (what `Child::kill` does) left nginx's workers running after the suite, so the
//! stop also checks that nothing of the group outlives it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::eventually;
use crate::http::is_listening;

/// The only host the proxies serve (clients reach them on `127.0.0.1:<port>`).
pub const SERVER_NAME: &str = "127.0.0.1";
/// The status nginx answers a request for any other host with (Misdirected Request).
pub const MISDIRECTED: u16 = 421;

/// How long a proxy gets to stop after its graceful signal before its group is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy process, in a process group of its own; stopped gracefully when dropped.
pub struct Proxy {
    child: Option<Child>,
    port: u16,
    graceful: &'static str,
    what: &'static str,
    dir: tempfile::TempDir,
}

impl Proxy {
    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy's own directory (config, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the master, which is also its process group id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the proxy: its graceful signal to the master, a wait of up to 10 s, then SIGKILL
    /// to the whole group. Returns how it ended.
    ///
    /// # Panics
    /// When a process of its group is still alive afterwards.
    pub fn stop(&mut self) -> Stopped {
        let Some(mut child) = self.child.take() else {
            return Stopped::Already;
        };
        let group = child.id();
        signal(self.graceful, &group.to_string());
        let exited = eventually(STOP_TIMEOUT, || matches!(child.try_wait(), Ok(Some(_))));
        let how = if exited {
            Stopped::Gracefully
        } else {
            Stopped::Killed
        };
        // The group goes too: a worker the master failed to end would otherwise outlive it.
        signal("KILL", &format!("-{group}"));
        let _ = child.wait();
        let gone = eventually(STOP_TIMEOUT, || !group_alive(group));
        assert!(
            gone,
            "{} (process group {group}) outlived its stop",
            self.what
        );
        how
    }
}

/// How a proxy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It exited on its graceful signal.
    Gracefully,
    /// It ignored it for 10 s and was killed.
    Killed,
    /// It had been stopped before.
    Already,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Stop without the liveness assertion: a second panic would abort the test run.
            if let Some(mut child) = self.child.take() {
                signal("KILL", &format!("-{}", child.id()));
                let _ = child.wait();
            }
            return;
        }
        let how = self.stop();
        assert_ne!(
            how,
            Stopped::Killed,
            "{} ignored SIG{} for {STOP_TIMEOUT:?}",
            self.what,
            self.graceful
        );
    }
}

/// Sends `kill -<name> -- <target>` (a pid, or `-<pgid>` for a group); a target already gone
/// is not an error.
fn signal(name: &str, target: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether any process of group `group` is alive (`kill -0` to the group).
pub fn group_alive(group: u32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{group}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Starts `command` in a process group of its own and waits until it listens on `port`.
pub(crate) fn spawn(
    command: &mut Command,
    port: u16,
    dir: tempfile::TempDir,
    what: &'static str,
    graceful: &'static str,
) -> Proxy {
    use std::os::unix::process::CommandExt;
    let mut child = command
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what} ({e}): is it installed? ./test.sh installs it"));
    let mut exited = false;
    let up = eventually(Duration::from_secs(15), || {
        exited = matches!(child.try_wait(), Ok(Some(_)));
        exited || is_listening(port)
    });
    if !up || exited {
        signal("KILL", &format!("-{}", child.id()));
        let output = child.wait_with_output().ok();
        let stderr = output
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default();
        panic!("{what} did not listen on {port} (exited: {exited}): {stderr}");
    }
    Proxy {
        child: Some(child),
        port,
        graceful,
        what,
        dir,
    }
}

/// How a proxy reaches a decision server that serves HTTPS: the CA to trust (a PEM file) and
/// the name to ask for and verify (the certificate's, not the address's).
#[derive(Debug, Clone)]
pub struct DecisionsTls {
    /// The CA certificate (PEM) the proxy trusts for the decision server, and only it.
    pub ca: std::path::PathBuf,
    /// The server name sent (SNI) and verified.
    pub server_name: String,
}

/// [`caddy_with`] or [`nginx_with`]: `(port, decisions_port, decisions_path, copy_headers,
/// upstream_port, tls)`.
pub type StartWith = fn(u16, u16, &str, &[String], u16, Option<&DecisionsTls>) -> Proxy;

/// Caddy on `port` with `forward_auth` to the decision server at `127.0.0.1:<decisions_port>`
/// (`decisions_path`, e.g. `/decisions`), copying `copy_headers` to `upstream_port`.
///
/// The site serves only the host [`SERVER_NAME`] (Go takes it from an absolute-form request
/// line before `Host`, so the two cannot differ); Caddy answers other hosts with an empty 200
/// of its own, never proxied.
pub fn caddy(
    port: u16,
    decisions_port: u16,
    decisions_path: &str,
    copy_headers: &[String],
    upstream_port: u16,
) -> Proxy {
    caddy_with(
        port,
        decisions_port,
        decisions_path,
        copy_headers,
        upstream_port,
        None,
    )
}

/// [`caddy`], asking the decision server over HTTPS when `tls` is given: the `http` transport
/// with `tls`, trusting only `tls.ca`, verifying `tls.server_name`, keeping connections alive.
pub fn caddy_with(
    port: u16,
    decisions_port: u16,
    decisions_path: &str,
    copy_headers: &[String],
    upstream_port: u16,
    tls: Option<&DecisionsTls>,
) -> Proxy {
    let dir = tempfile::tempdir().expect("tempdir");
    // Caddy 2.6 (Debian): `tls_trusted_ca_certs` (2.9 renamed it `tls_trust_pool file`).
    let transport = tls.map_or_else(String::new, |tls| {
        format!(
            "\t\ttransport http {{\n\
             \t\t\ttls\n\
             \t\t\ttls_trusted_ca_certs {ca}\n\
             \t\t\ttls_server_name {name}\n\
             \t\t\tkeepalive 30s\n\
             \t\t}}\n",
            ca = tls.ca.display(),
            name = tls.server_name,
        )
    });
    let scheme = if tls.is_some() { "https://" } else { "" };
    let caddyfile = format!(
        "{{\n\tadmin off\n\tauto_https off\n}}\n\
         http://{SERVER_NAME}:{port} {{\n\
         \tforward_auth {scheme}127.0.0.1:{decisions_port} {{\n\
         \t\turi {decisions_path}\n\
         \t\tcopy_headers {headers}\n\
         {transport}\
         \t}}\n\
         \treverse_proxy 127.0.0.1:{upstream_port}\n}}\n",
        headers = copy_headers.join(" "),
    );
    let config = dir.path().join("Caddyfile");
    std::fs::write(&config, caddyfile).expect("write Caddyfile");
    let mut command = Command::new("caddy");
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"));
    spawn(&mut command, port, dir, "caddy", "TERM")
}

/// nginx on `port` with `auth_request` to the decision server at `127.0.0.1:<decisions_port>
/// <decisions_path>$request_uri`, setting `X-Forwarded-*` from nginx variables, and passing
/// `copy_headers` from the decision response to `upstream_port`.
///
/// It serves only the host [`SERVER_NAME`]; a default server answers any other host (named by
/// `Host`, or by an absolute-form request line, which nginx prefers) 421 without asking for a
/// decision. `X-Forwarded-Host` is `$host:$server_port`, the host nginx chose the server by;
/// never `$http_host`, the client's `Host` text, which an absolute-form request line (`GET
/// http://127.0.0.1/x` with `Host: other.example`) lets differ from it, so that the decision
/// would be made on another host's rules for a request proxied here. `$host` has no port and
/// the rules name one, hence `$server_port`.
pub fn nginx(
    port: u16,
    decisions_port: u16,
    decisions_path: &str,
    copy_headers: &[String],
    upstream_port: u16,
) -> Proxy {
    nginx_with(
        port,
        decisions_port,
        decisions_path,
        copy_headers,
        upstream_port,
        None,
    )
}

/// [`nginx`], asking the decision server over HTTPS when `tls` is given: `proxy_pass https://`
/// to a kept-alive upstream group, verifying the certificate against `tls.ca` only, with SNI
/// and verification on `tls.server_name`, and TLS sessions reused.
pub fn nginx_with(
    port: u16,
    decisions_port: u16,
    decisions_path: &str,
    copy_headers: &[String],
    upstream_port: u16,
    tls: Option<&DecisionsTls>,
) -> Proxy {
    let dir = tempfile::tempdir().expect("tempdir");
    // The group name `oathkeeper` is what proxy_pass names; nginx finds it before resolving.
    let (upstream_group, decisions_url, tls_directives) = match tls {
        None => (
            String::new(),
            format!("http://127.0.0.1:{decisions_port}"),
            String::new(),
        ),
        Some(tls) => (
            // A new upstream connection every 100 requests: handshakes (resumed) go on
            // under load, not only the first ones.
            format!(
                "  upstream oathkeeper {{ server 127.0.0.1:{decisions_port}; keepalive 16; \
                 keepalive_requests 100; }}\n"
            ),
            "https://oathkeeper".to_owned(),
            format!(
                "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
                 \x20     proxy_ssl_verify on;\n      proxy_ssl_verify_depth 2;\n\
                 \x20     proxy_ssl_trusted_certificate {ca};\n\
                 \x20     proxy_ssl_name {name};\n      proxy_ssl_server_name on;\n\
                 \x20     proxy_ssl_session_reuse on;\n",
                ca = tls.ca.display(),
                name = tls.server_name,
            ),
        ),
    };
    let mut sets = String::new();
    for (n, header) in copy_headers.iter().enumerate() {
        let variable = header.to_ascii_lowercase().replace('-', "_");
        sets.push_str(&format!(
            "      auth_request_set $auth_{n} $upstream_http_{variable};\n      proxy_set_header {header} $auth_{n};\n"
        ));
    }
    let prefix = dir.path().display();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n\
           client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
           fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
           {upstream_group}\
           server {{\n    listen 127.0.0.1:{port} default_server;\n    server_name _;\n    return {MISDIRECTED};\n  }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    server_name {SERVER_NAME};\n\
             location / {{\n      auth_request /_decisions;\n{sets}      proxy_pass http://127.0.0.1:{upstream_port};\n    }}\n\
             location = /_decisions {{\n      internal;\n\
               proxy_pass {decisions_url}{decisions_path}$request_uri;\n\
               {tls_directives}\
               proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n\
               proxy_set_header X-Forwarded-Method $request_method;\n\
               proxy_set_header X-Forwarded-Proto $scheme;\n\
               proxy_set_header X-Forwarded-Host $host:$server_port;\n\
               proxy_set_header X-Forwarded-Uri $request_uri;\n    }}\n  }}\n}}\n"
    );
    let config = dir.path().join("nginx.conf");
    std::fs::write(&config, conf).expect("write nginx.conf");
    let mut command = Command::new(nginx_binary());
    command
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&config);
    // SIGQUIT: nginx's graceful shutdown, which ends its workers before the master exits.
    spawn(&mut command, port, dir, "nginx", "QUIT")
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}
