//! Real reverse proxies from Debian, configured as forward-auth proxies in front of an
//! upstream: Caddy (`forward_auth`) and nginx (`auth_request`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::eventually;
use crate::http::is_listening;

/// The only host the proxies serve (clients reach them on `127.0.0.1:<port>`).
pub const SERVER_NAME: &str = "127.0.0.1";
/// The status nginx answers a request for any other host with (Misdirected Request).
pub const MISDIRECTED: u16 = 421;

/// A running proxy process; killed when dropped.
pub struct Proxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(mut child: Child, port: u16, dir: tempfile::TempDir, what: &str) -> Proxy {
    let mut exited = false;
    let up = eventually(Duration::from_secs(15), || {
        exited = matches!(child.try_wait(), Ok(Some(_)));
        exited || is_listening(port)
    });
    if !up || exited {
        let _ = child.kill();
        let output = child.wait_with_output().ok();
        let stderr = output
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default();
        panic!("{what} did not listen on {port} (exited: {exited}): {stderr}");
    }
    Proxy {
        child,
        port,
        _dir: dir,
    }
}

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
    let dir = tempfile::tempdir().expect("tempdir");
    let caddyfile = format!(
        "{{\n\tadmin off\n\tauto_https off\n}}\n\
         http://{SERVER_NAME}:{port} {{\n\
         \tforward_auth 127.0.0.1:{decisions_port} {{\n\
         \t\turi {decisions_path}\n\
         \t\tcopy_headers {headers}\n\
         \t}}\n\
         \treverse_proxy 127.0.0.1:{upstream_port}\n}}\n",
        headers = copy_headers.join(" "),
    );
    let config = dir.path().join("Caddyfile");
    std::fs::write(&config, caddyfile).expect("write Caddyfile");
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("caddy is installed (apt install caddy; ./test.sh does)");
    wait_listening(child, port, dir, "caddy")
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
    let dir = tempfile::tempdir().expect("tempdir");
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
           server {{\n    listen 127.0.0.1:{port} default_server;\n    server_name _;\n    return {MISDIRECTED};\n  }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    server_name {SERVER_NAME};\n\
             location / {{\n      auth_request /_decisions;\n{sets}      proxy_pass http://127.0.0.1:{upstream_port};\n    }}\n\
             location = /_decisions {{\n      internal;\n\
               proxy_pass http://127.0.0.1:{decisions_port}{decisions_path}$request_uri;\n\
               proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n\
               proxy_set_header X-Forwarded-Method $request_method;\n\
               proxy_set_header X-Forwarded-Proto $scheme;\n\
               proxy_set_header X-Forwarded-Host $host:$server_port;\n\
               proxy_set_header X-Forwarded-Uri $request_uri;\n    }}\n  }}\n}}\n"
    );
    let config = dir.path().join("nginx.conf");
    std::fs::write(&config, conf).expect("write nginx.conf");
    let child = Command::new(nginx_binary())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx is installed (apt install nginx; ./test.sh does)");
    wait_listening(child, port, dir, "nginx")
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}
