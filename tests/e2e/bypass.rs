//! Issue 12: requests that a proxy and an app could read differently from the decision server,
//! sent through real Traefik (path mode, as the Traefik charm renders it), nginx and Caddy in
//! front of an app that reports the raw request target it received.
//!
//! The charm renders the rules of one requirer with an allowed endpoint: `/spark/allowed` and
//! below need no session, everything else under `/spark` needs a Kratos session. Every bypass
//! below once matched the allow rule (after the server cleaned the path, or as raw text with
//! encoded dots) while the proxy forwarded the raw target, which an app then served as a
//! protected path. The assertion that matters to an operator comes first: the app never serves
//! a target without a session unless that target is, under any reading, the allowed endpoint.
//! Then the reason: each one reached the decision server, which refused it as malformed (a path
//! not in canonical form is denied, never repaired). What the proxy asked the decision server
//! (seen through a recording relay) and what the app received are printed per case (run with
//! `--nocapture`): Caddy re-encodes a raw `#`, `\` and non-ASCII bytes (to the server and the
//! app alike), nginx passes every target through raw; both refuse a raw space or tab, a bad
//! percent escape and `%u`, and nginx an encoded NUL, before asking for a decision.
//!
//! Traefik (issue 13) is different in kind: before routing it resolves dot segments (also
//! `%2e%2e`) and merges `//`, so it asks about the cleaned path and forwards that same path
//! (minus its `/<model>-<app>` prefix) to the app. A bypass is then either refused as malformed
//! (what survives the cleaning: `%2f`, `%5c`, `..;`, a raw `\`), refused by Traefik itself (a
//! raw `#`: 400 without asking), or decided on the cleaned path — denied when that is a
//! protected path, served as exactly the path asked about when it is the allowed one; never
//! served without a session unless it is plainly the allowed endpoint. The Traefik rows run with the prefix in place of
//! `/spark`.

use e2e::deployment::{Deployment, KUBERNETES_API, Unit};
use e2e::http::{Message, free_port};
use e2e::kratos::{self, FakeKratos};
use e2e::proxies::{self, Proxy};
use e2e::relay::{Head, Relay};
use e2e::traefik::{ForwardAuth, Ingress, Routing, Traefik, render};
use e2e::upstream::{self, Report, escape};
use harness::Relation;

use crate::flow::*;

/// The protected app's path behind nginx and Caddy (Traefik: [`TRAEFIK_PATH`]).
const APP_PATH: &str = "/spark";
/// The protected app's path behind Traefik in path mode: `/<model>-<app>`.
const TRAEFIK_PATH: &str = "/demo-spark-history-server";
/// The allowed endpoint under it, as the requirer sends it.
const ALLOWED: &str = "allowed";
/// A host another requirer made public: `http://evil.example/spark/x` needs no session.
const OTHER_HOST: &str = "evil.example";

/// Which real proxy sits in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Nginx,
    Caddy,
    Traefik,
}

impl Front {
    /// The app's path behind this proxy.
    fn base(self) -> &'static str {
        match self {
            Front::Nginx | Front::Caddy => APP_PATH,
            Front::Traefik => TRAEFIK_PATH,
        }
    }

    /// A table target written for `/spark`, with this proxy's app path in its place.
    fn at(self, target: &str) -> String {
        target.replacen(APP_PATH, self.base(), 1).replacen(
            &APP_PATH.to_uppercase(),
            &self.base().to_uppercase(),
            1,
        )
    }

    /// The allowed endpoint as the app sees it: Traefik strips its prefix first.
    fn served_allowed(self) -> String {
        match self {
            Front::Nginx | Front::Caddy => format!("{APP_PATH}/{ALLOWED}"),
            Front::Traefik => format!("/{ALLOWED}"),
        }
    }

    /// What the client gets when the decision server refuses a request as malformed (400):
    /// Caddy relays the answer; nginx takes only 2xx, 401 and 403 from `auth_request` and
    /// turns any other answer into its own 500.
    fn refused_status(self) -> u16 {
        match self {
            Front::Nginx => 500,
            Front::Caddy | Front::Traefik => 400,
        }
    }
}

/// One deployment: fake Kratos, the reporting app, the charm's rules in the real server, a
/// recording relay in front of the server and one real proxy in front of the app.
struct Stack {
    front: Front,
    port: u16,
    _proxy: Option<Proxy>,
    _traefik: Option<Traefik>,
    decisions: Relay,
    _app: e2e::http::Server,
    _unit: Unit,
    _deployment: Deployment,
    _kratos: FakeKratos,
}

/// What the requirer sends: its URL behind the proxy, one allowed endpoint, two headers.
fn spark_with_allowed_endpoint(proxy_port: u16, base: &str) -> Relation {
    let urls = [format!("http://127.0.0.1:{proxy_port}{base}")];
    Relation::new("auth-proxy", SPARK_ID, "spark-history-server").remote_app_data([
        ("protected_urls", serde_json::to_string(&urls).unwrap()),
        ("headers", r#"["X-User", "X-Email"]"#.to_owned()),
        ("allowed_endpoints", format!(r#"["{ALLOWED}"]"#)),
    ])
}

/// Another requirer on another host, whose `/spark/x` is public: a decision about that host
/// lets `/spark/x` through.
fn other_host_relation(base: &str) -> Relation {
    let urls = [format!("http://{OTHER_HOST}{base}")];
    Relation::new("auth-proxy", DOCS_ID, "docs").remote_app_data([
        ("protected_urls", serde_json::to_string(&urls).unwrap()),
        ("headers", r#"["X-User"]"#.to_owned()),
        ("allowed_endpoints", r#"["x"]"#.to_owned()),
    ])
}

impl Stack {
    fn start(front: Front) -> Stack {
        let kratos = FakeKratos::start();
        let app = upstream::start_reporting();
        let deployment = Deployment::new();
        let mut unit = deployment.unit(0, true, KUBERNETES_API);
        let traefik = (front == Front::Traefik).then(Traefik::start);
        let port = traefik.as_ref().map_or_else(free_port, Traefik::port);
        deploy(
            &deployment,
            &mut unit,
            &kratos,
            vec![
                spark_with_allowed_endpoint(port, front.base()),
                other_host_relation(front.base()),
            ],
        );
        wait_for_rules(&unit, |body| {
            body.contains("spark-history-server") && body.contains(OTHER_HOST)
        });
        let decisions = Relay::start(unit.api_port);
        let headers = ["X-Email".to_owned(), "X-User".to_owned()];
        let proxy = match front {
            Front::Nginx => Some(proxies::nginx(
                port,
                decisions.port(),
                "/decisions",
                &headers,
                app.port(),
            )),
            Front::Caddy => Some(proxies::caddy(
                port,
                decisions.port(),
                "/decisions",
                &headers,
                app.port(),
            )),
            Front::Traefik => None,
        };
        if let Some(traefik) = &traefik {
            let ingress = Ingress {
                model: "demo".to_owned(),
                app: "spark-history-server".to_owned(),
                upstream: format!("http://127.0.0.1:{}", app.port()),
            };
            let auth = ForwardAuth {
                decisions_address: format!("http://127.0.0.1:{}/decisions", decisions.port()),
                app_names: vec![ingress.app.clone()],
                headers: headers.to_vec(),
            };
            let config = render(
                &ingress,
                Routing::Path,
                &traefik.external_host(),
                Some(&auth),
            );
            traefik.apply(&ingress, &config);
        }
        Stack {
            front,
            port,
            _proxy: proxy,
            _traefik: traefik,
            decisions,
            _app: app,
            _unit: unit,
            _deployment: deployment,
            _kratos: kratos,
        }
    }

    /// Sends `GET <target>` raw, returns the answer, what the proxy asked the decision server
    /// and what the app served, if it did.
    fn send(&mut self, target: &str, headers: &[(&str, &str)]) -> Exchange {
        self.decisions.take();
        let answer = e2e::http::get(self.port, target, headers)
            .unwrap_or_else(|e| panic!("{:?}: GET {target}: {e}", self.front));
        let served = upstream::report(&answer);
        Exchange {
            answer,
            asked: self.decisions.take(),
            served,
        }
    }
}

/// One request through the stack.
struct Exchange {
    answer: Message,
    asked: Vec<Head>,
    served: Option<Report>,
}

impl Exchange {
    /// Whether the proxy asked once, about exactly the path the app then served under `base`
    /// (Traefik: the cleaned path, its prefix stripped before the app).
    fn decided_on_what_was_served(&self, base: &str) -> bool {
        let [head] = self.asked.as_slice() else {
            return false;
        };
        let (Some(uri), Some(report)) = (head.header("x-forwarded-uri"), &self.served) else {
            return false;
        };
        escape(uri) == format!("{base}{}", report.target)
    }

    /// One line for the log: status, what the decision server was asked, what the app got.
    fn describe(&self) -> String {
        let asked: Vec<String> = self
            .asked
            .iter()
            .map(|head| {
                let uri = head.header("x-forwarded-uri").map(escape);
                let host = head.header("x-forwarded-host").map(escape);
                format!(
                    "{} (X-Forwarded-Host {host:?}, X-Forwarded-Uri {uri:?})",
                    escape(&head.request_line)
                )
            })
            .collect();
        let served = self
            .served
            .as_ref()
            .map_or("nothing".to_owned(), |report| report.target.clone());
        format!(
            "client got {}; decision server asked: {}; app served: {served}",
            self.answer.status,
            if asked.is_empty() {
                "nothing".to_owned()
            } else {
                asked.join(" | ")
            }
        )
    }
}

/// Whether `target` is, under any reading an app may apply (percent-decoding, `;` parameters,
/// `\` as `/`, dot segments, merged slashes, a fragment), exactly the allowed endpoint or a path
/// below it: canonical form, and under `/spark/allowed`.
fn plainly_allowed(target: &str, allowed: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let bytes = path.as_bytes();
    let raw_ok = bytes
        .iter()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'#'));
    let encoded_ok = bytes.windows(3).all(|window| {
        window[0] != b'%'
            || !matches!(
                std::str::from_utf8(&window[1..])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok()),
                Some(b'.' | b'/' | b'\\' | b'#' | b'?' | b';' | b'%' | 0)
            )
    });
    let segments: Vec<&str> = rest.split('/').collect();
    let segments_ok = segments.iter().enumerate().all(|(n, segment)| {
        let name = segment.split(';').next().unwrap_or_default();
        let last = n + 1 == segments.len();
        (last || !segment.is_empty()) && name != "." && name != ".."
    });
    raw_ok
        && encoded_ok
        && segments_ok
        && (path == allowed || path.starts_with(&format!("{allowed}/")))
}

/// Each bypass from issue 12, and a few of their cousins: (what it tries, raw target).
const BYPASSES: &[(&str, &str)] = &[
    (
        "a dot-dot segment climbing from a protected path into the allowed one",
        "/spark/admin/../allowed",
    ),
    (
        "the same with a query string",
        "/spark/admin/../allowed?page=1",
    ),
    (
        "an empty segment before the dot-dot",
        "/spark/admin//../allowed",
    ),
    (
        "a raw # that a proxy may cut before the dot-dot",
        "/spark/admin#/../allowed",
    ),
    (
        "a ; parameter before the dot-dot",
        "/spark/admin;/../allowed",
    ),
    (
        "an encoded # before the dot-dot",
        "/spark/admin%23/../allowed",
    ),
    (
        "an encoded ? before the dot-dot",
        "/spark/admin%3f/../allowed",
    ),
    (
        "an encoded dot-dot out of the allowed endpoint",
        "/spark/allowed/%2e%2e/admin/secret",
    ),
    (
        "an upper-case encoded dot-dot",
        "/spark/allowed/%2E%2E/admin/secret",
    ),
    ("a half-encoded dot-dot", "/spark/allowed/.%2e/admin/secret"),
    (
        "a dot-dot ended by an encoded slash",
        "/spark/allowed/..%2fadmin/secret",
    ),
    (
        "a dot-dot with a ; parameter (Tomcat reads it as a dot segment)",
        "/spark/allowed/..;/admin/secret",
    ),
    (
        "a dot-dot with a named ; parameter",
        "/spark/allowed/..;x/admin/secret",
    ),
    (
        "a dot-dot ended by a backslash",
        "/spark/allowed/..\\admin/secret",
    ),
    (
        "a dot-dot ended by an encoded backslash",
        "/spark/allowed/..%5cadmin/secret",
    ),
    (
        "a double-encoded dot-dot",
        "/spark/allowed/%252e%252e/admin/secret",
    ),
    (
        "a trailing dot-dot climbing to the app's protected root",
        "/spark/allowed/..",
    ),
    (
        "a trailing encoded dot-dot climbing to the app's protected root",
        "/spark/allowed/%2e%2e",
    ),
];

/// Targets some proxies refuse themselves, or that no rule allows: whoever refuses them, the app
/// never serves them without a session.
const ODD: &[(&str, &str)] = &[
    (
        "an overlong UTF-8 dot-dot (old decoders read %c0%ae as .)",
        "/spark/allowed/%c0%ae%c0%ae/admin/secret",
    ),
    (
        "an IIS-style %u dot-dot",
        "/spark/allowed/%u002e%u002e/admin/secret",
    ),
    ("a raw space before a dot-dot", "/spark/admin /../allowed"),
    ("a raw tab before a dot-dot", "/spark/admin\t/../allowed"),
    ("a bad percent escape", "/spark/allowed/%zz/../admin"),
    ("a lone percent sign", "/spark/allowed/%"),
    ("an encoded NUL", "/spark/allowed/%00"),
    ("an empty first segment", "//spark/allowed"),
    ("an empty last segment", "/spark/allowed//"),
    ("a single-dot segment", "/spark/allowed/./x"),
    (
        "encoded slashes around a dot-dot",
        "/spark/allowed%2f..%2fadmin",
    ),
    ("a ; parameter on the allowed endpoint", "/spark/allowed;x"),
    ("the protected path in upper case", "/SPARK/admin"),
];

fn every_bypass_is_refused_and_never_served(front: Front) {
    let mut stack = Stack::start(front);
    // The control: a protected path without a session is denied, so a served bypass below
    // could only come from the bypass itself.
    let control = stack.send(&front.at("/spark/admin/secret"), &[API_CLIENT]);
    assert!(
        control.served.is_none() && control.answer.status == 401,
        "{front:?}: a protected path without a session: {}",
        control.describe()
    );
    // Each bypass in origin form, then in absolute form naming this very host.
    let absolute = format!("http://127.0.0.1:{}", stack.port);
    let allowed = front.served_allowed();
    let targets = BYPASSES
        .iter()
        .map(|(what, target)| ((*what).to_owned(), front.at(target)))
        .chain(BYPASSES.iter().map(|(what, target)| {
            (
                format!("{what}, in an absolute-form request line"),
                format!("{absolute}{}", front.at(target)),
            )
        }));
    let mut bypassed = Vec::new();
    let mut not_refused = Vec::new();
    for (what, target) in targets {
        let exchange = stack.send(&target, &[API_CLIENT]);
        eprintln!("{front:?} {target:<40} {}", exchange.describe());
        let through = match &exchange.served {
            Some(report) => !plainly_allowed(&report.target, &allowed),
            None => (200..300).contains(&exchange.answer.status),
        };
        let refused = (exchange.served.is_none()
            && !exchange.asked.is_empty()
            && exchange.answer.status == front.refused_status())
            || (front == Front::Traefik
                && match exchange.served {
                    // Traefik refused it itself (a raw `#`: 400), or asked about the cleaned
                    // path, a protected one, and relayed the denial.
                    None => (400..500).contains(&exchange.answer.status),
                    Some(_) => exchange.decided_on_what_was_served(front.base()),
                });
        if through {
            bypassed.push(format!("{what}: {target}: {}", exchange.describe()));
        } else if !refused {
            not_refused.push(format!("{what}: {target}: {}", exchange.describe()));
        }
    }
    for (what, target) in ODD {
        let target = &front.at(target);
        let exchange = stack.send(target, &[API_CLIENT]);
        eprintln!("{front:?} {target:<40} {}", exchange.describe());
        let through = match &exchange.served {
            Some(report) => !plainly_allowed(&report.target, &allowed),
            None => (200..300).contains(&exchange.answer.status),
        };
        if through {
            bypassed.push(format!("{what}: {target}: {}", exchange.describe()));
        }
    }
    assert!(
        bypassed.is_empty(),
        "{front:?} let bypasses through to the app without a session:\n{}",
        bypassed.join("\n")
    );
    assert!(
        not_refused.is_empty(),
        "{front:?}: the decision server did not refuse these as malformed (client {} expected):\n{}",
        front.refused_status(),
        not_refused.join("\n")
    );
}

#[test]
fn through_nginx_every_bypass_is_refused_as_malformed_and_never_served_by_the_app() {
    every_bypass_is_refused_and_never_served(Front::Nginx);
}

#[test]
fn through_caddy_every_bypass_is_refused_as_malformed_and_never_served_by_the_app() {
    every_bypass_is_refused_and_never_served(Front::Caddy);
}

#[test]
fn through_traefik_every_bypass_is_refused_or_decided_on_what_the_app_serves_never_served_without_a_session()
 {
    every_bypass_is_refused_and_never_served(Front::Traefik);
}

/// A valid request and what the app must receive.
struct Valid {
    what: &'static str,
    target: &'static str,
    with_session: bool,
    /// What Caddy forwards instead of `target`, when it re-encodes it (Go escapes raw bytes
    /// outside ASCII); nginx always forwards `target` as sent.
    caddy_forwards: Option<&'static str>,
}

const fn valid(what: &'static str, target: &'static str) -> Valid {
    Valid {
        what,
        target,
        with_session: false,
        caddy_forwards: None,
    }
}

const VALID: &[Valid] = &[
    Valid {
        with_session: true,
        ..valid(
            "a valid session on a protected path with a query string",
            "/spark/jobs/?status=running&limit=2",
        )
    },
    valid("the allowed endpoint itself", "/spark/allowed"),
    valid(
        "a page below the allowed endpoint",
        "/spark/allowed/page.html",
    ),
    valid("a trailing slash, matched as sent", "/spark/allowed/dir/"),
    valid("%20 in an allowed path", "/spark/allowed/a%20b"),
    valid("+ in an allowed path", "/spark/allowed/a+b"),
    valid(
        "%20 and + in an allowed path's query",
        "/spark/allowed/search?q=a+b%20c",
    ),
    valid(
        "percent-encoded UTF-8 in an allowed path",
        "/spark/allowed/caf%C3%A9",
    ),
    Valid {
        caddy_forwards: Some("/spark/allowed/caf%C3%A9"),
        ..valid(
            "raw UTF-8 in an allowed path, matched as bytes",
            "/spark/allowed/caf\u{e9}",
        )
    },
];

fn valid_traffic_reaches_the_app_as_sent(front: Front) {
    let mut stack = Stack::start(front);
    let (cookie_name, cookie) = session_cookie();
    let mut failures = Vec::new();
    for case in VALID {
        let mut headers = vec![API_CLIENT];
        if case.with_session {
            headers.push((cookie_name, &cookie));
        }
        let target = front.at(case.target);
        let exchange = stack.send(&target, &headers);
        eprintln!("{front:?} {target:<40} {}", exchange.describe());
        // Caddy and Traefik (both Go) re-encode raw bytes; Traefik strips its prefix.
        let forwarded = match (front, case.caddy_forwards) {
            (Front::Caddy | Front::Traefik, Some(forwarded)) => forwarded,
            _ => case.target,
        };
        let forwarded = match front {
            Front::Traefik => forwarded.strip_prefix(APP_PATH).unwrap_or(forwarded),
            Front::Nginx | Front::Caddy => forwarded,
        };
        let ok = exchange.answer.status == 200
            && exchange.served.as_ref().is_some_and(|report| {
                report.target == escape(forwarded.as_bytes())
                    && (!case.with_session || report.header("x-user") == Some(kratos::IDENTITY_ID))
            });
        if !ok {
            failures.push(format!(
                "{}: {}: {}",
                case.what,
                case.target,
                exchange.describe()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{front:?} did not let valid traffic through as sent:\n{}",
        failures.join("\n")
    );
}

#[test]
fn through_nginx_valid_traffic_reaches_the_app_as_sent() {
    valid_traffic_reaches_the_app_as_sent(Front::Nginx);
}

#[test]
fn through_caddy_valid_traffic_reaches_the_app_as_sent() {
    valid_traffic_reaches_the_app_as_sent(Front::Caddy);
}

#[test]
fn through_traefik_valid_traffic_reaches_the_app_as_sent_without_its_prefix() {
    valid_traffic_reaches_the_app_as_sent(Front::Traefik);
}

fn decides_about_the_host_it_serves(front: Front) {
    let mut stack = Stack::start(front);
    let port = stack.port;
    let here = format!("127.0.0.1:{port}");
    let here_url = format!("http://{here}/spark/x");
    let other_url = format!("http://{OTHER_HOST}/spark/x");
    // (what the client tries, request target, Host header)
    let cases = [
        (
            "an absolute-form request line naming the other host",
            other_url.as_str(),
            OTHER_HOST,
        ),
        (
            "an absolute-form request line naming the other host, Host naming this one",
            other_url.as_str(),
            here.as_str(),
        ),
        (
            "an absolute-form request line naming this host, Host naming the other",
            here_url.as_str(),
            OTHER_HOST,
        ),
        ("Host naming the other host", "/spark/x", OTHER_HOST),
    ];
    let mut failures = Vec::new();
    for (what, target, host) in cases {
        let exchange = stack.send(target, &[API_CLIENT, ("Host", host)]);
        eprintln!("{front:?} {target} Host {host}: {}", exchange.describe());
        let other_decided = exchange.asked.iter().any(|head| {
            head.header("x-forwarded-host")
                .is_some_and(|h| h.starts_with(OTHER_HOST.as_bytes()))
        });
        if exchange.served.is_some() || other_decided {
            failures.push(format!("{what}: {}", exchange.describe()));
        }
        if front == Front::Nginx && exchange.asked.is_empty() {
            assert_eq!(
                exchange.answer.status,
                proxies::MISDIRECTED,
                "{what}: {}",
                exchange.describe()
            );
        }
    }
    // The control: absolute form is served for this host, with a session, decided about it.
    let (cookie_name, cookie) = session_cookie();
    let exchange = stack.send(
        &here_url,
        &[API_CLIENT, ("Host", &here), (cookie_name, &cookie)],
    );
    let decided_here = exchange.asked.iter().all(|head| {
        head.header("x-forwarded-host")
            .is_none_or(|h| h == here.as_bytes())
    });
    assert!(
        exchange
            .served
            .as_ref()
            .is_some_and(|r| r.header("x-user") == Some(kratos::IDENTITY_ID))
            && decided_here,
        "{front:?}: absolute form for this host with a session: {}",
        exchange.describe()
    );
    assert!(
        failures.is_empty(),
        "{front:?} decided about a host the client named:\n{}",
        failures.join("\n")
    );
}

#[test]
fn nginx_decides_about_the_host_it_serves_never_one_the_client_names() {
    decides_about_the_host_it_serves(Front::Nginx);
}

#[test]
fn caddy_decides_about_the_host_it_serves_never_one_the_client_names() {
    decides_about_the_host_it_serves(Front::Caddy);
}

/// A finding pinned, not a property we want: the Traefik charm's path-mode router matches
/// ``PathPrefix`` alone, so Traefik routes any `Host` (or absolute-form host) and asks about
/// that host. A rule another requirer registered for another host with the same path then
/// decides: here `evil.example`'s public `/<prefix>/x` lets a session-less client through to
/// the app. Subdomain mode routes by `Host` and asks nothing for other hosts (`traefik.rs`).
#[test]
fn in_path_mode_traefik_decides_about_the_host_the_client_names() {
    let mut stack = Stack::start(Front::Traefik);
    let target = format!("{TRAEFIK_PATH}/x");
    let exchange = stack.send(&target, &[API_CLIENT, ("Host", OTHER_HOST)]);
    eprintln!(
        "Traefik {target} Host {OTHER_HOST}: {}",
        exchange.describe()
    );
    let asked_about: Vec<&[u8]> = exchange
        .asked
        .iter()
        .filter_map(|head| head.header("x-forwarded-host"))
        .collect();
    assert_eq!(
        asked_about,
        [OTHER_HOST.as_bytes()],
        "{}",
        exchange.describe()
    );
    assert!(
        exchange.served.is_some(),
        "the other host's public rule no longer lets it through: {}",
        exchange.describe()
    );
    // The same path on the host Traefik serves needs a session.
    let here = stack.send(&target, &[API_CLIENT]);
    assert!(here.served.is_none(), "{}", here.describe());
}
