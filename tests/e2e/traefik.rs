//! Traefik's side of forward auth, pinned on the real binary (`e2e::traefik::VERSION`) with the
//! configuration the Traefik charm renders, in front of a scripted decision server: what Traefik
//! asks (`X-Forwarded-*`, method, body), what it does with each answer (headers and body of a
//! 401/403/302 relayed, a relative `Location` resolved against the decision address, only
//! `authResponseHeaders` copied to the app), and how it treats odd paths before asking. Where
//! Traefik 2.11, which the charm ships, could differ is noted in `e2e::traefik`'s module docs.
//!
//! The decision server here answers by the last path segment of `X-Forwarded-Uri`, so each
//! case picks its answer; the tutorial and the bypass table run Traefik in front of the real
//! server.

use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use e2e::http::{Message, Server, send};
use e2e::proxies::{self, Stopped};
use e2e::traefik::{ForwardAuth, Ingress, Routing, Traefik, render};
use e2e::upstream::{self, Report};

/// The requirer's model in Traefik's names.
const MODEL: &str = "demo";
/// The protected app.
const APP: &str = "app";
/// Its path prefix in path mode.
const PREFIX: &str = "/demo-app";

/// Traefik in front of the reporting app, asking a scripted decision server.
struct Scripted {
    traefik: Traefik,
    decisions: Server,
    asked: Receiver<Message>,
    _app: Server,
}

/// The scripted answer for a request whose `X-Forwarded-Uri` ends in `case`.
fn answer(case: &str) -> e2e::http::Response {
    let header = |name: &str, value: &str| (name.to_owned(), value.to_owned());
    let cookie = header("Set-Cookie", "decision=1; Path=/");
    match case {
        "relative" => (
            302,
            vec![header("Location", "/login?x=1"), cookie],
            String::new(),
        ),
        "absolute" => (
            302,
            vec![header("Location", "http://login.example/in"), cookie],
            String::new(),
        ),
        "forbidden" => (
            403,
            vec![header("Content-Type", "application/json"), cookie],
            r#"{"error":{"code":403}}"#.to_owned(),
        ),
        "bad" => (
            400,
            vec![header("X-Reason", "malformed")],
            "no\n".to_owned(),
        ),
        denied if denied.starts_with("unauthorized") => (
            401,
            vec![
                header("WWW-Authenticate", "Basic realm=unauthorized"),
                header("Content-Type", "application/json"),
                cookie,
            ],
            r#"{"error":{"code":401}}"#.to_owned(),
        ),
        _ => (
            200,
            vec![
                header("X-User", "ann"),
                header("X-Email", "ann@example.com"),
                header("X-Other", "not listed"),
                cookie,
            ],
            String::new(),
        ),
    }
}

impl Scripted {
    fn start(routing: Routing) -> Scripted {
        let (tell, asked) = channel();
        let decisions = Server::start(move |request| {
            let _ = tell.send(request.clone());
            let uri = request.header("x-forwarded-uri").unwrap_or_default();
            let path = uri.split('?').next().unwrap_or_default();
            answer(path.rsplit('/').next().unwrap_or_default())
        });
        let app = upstream::start_reporting();
        let traefik = Traefik::start();
        let auth = ForwardAuth {
            decisions_address: format!("http://127.0.0.1:{}/decisions", decisions.port()),
            app_names: vec![APP.to_owned()],
            headers: vec!["X-Email".to_owned(), "X-User".to_owned()],
        };
        let ingress = Ingress {
            model: MODEL.to_owned(),
            app: APP.to_owned(),
            upstream: format!("http://127.0.0.1:{}", app.port()),
        };
        let host = match routing {
            Routing::Path => traefik.external_host(),
            Routing::Subdomain => format!("example.test:{}", traefik.port()),
        };
        traefik.apply(&ingress, &render(&ingress, routing, &host, Some(&auth)));
        Scripted {
            traefik,
            decisions,
            asked,
            _app: app,
        }
    }

    /// Sends a request; returns the answer, what the decision server was asked, what the app
    /// served.
    fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (Message, Vec<Message>, Option<Report>) {
        while self.asked.try_recv().is_ok() {}
        let answer = send(self.traefik.port(), method, target, headers, body)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}"));
        let mut asked = Vec::new();
        while let Ok(request) = self.asked.recv_timeout(Duration::from_millis(50)) {
            asked.push(request);
        }
        let served = upstream::report(&answer);
        (answer, asked, served)
    }
}

#[test]
fn traefik_asks_with_get_no_body_and_the_original_request_in_x_forwarded_headers() {
    let stack = Scripted::start(Routing::Path);
    let port = stack.traefik.port();
    for (target, forwarded) in [
        (
            "/demo-app/jobs/ok?status=running&x=%20",
            "/jobs/ok?status=running&x=%20",
        ),
        ("/demo-app/jobs/ok", "/jobs/ok"),
    ] {
        let spoofed = [
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Uri", "/public"),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", "https"),
            ("X-User", "admin"),
            ("Cookie", "ory_kratos_session=abc"),
        ];
        let (answer, asked, served) = stack.send("POST", target, &spoofed, Some("a=1&b=2"));
        assert_eq!(answer.status, 200, "{target}: {answer:?}");
        let [decision] = asked.as_slice() else {
            panic!("{target}: asked {asked:?}")
        };
        // The auth request: GET to the address as written, no body, the original in
        // X-Forwarded-*; the client's own X-Forwarded-* never reach it (the entrypoint strips
        // them, no forwardedHeaders trust), its other headers do.
        assert_eq!(decision.method, "GET");
        assert_eq!(decision.target, "/decisions");
        assert_eq!(decision.body, "");
        assert_eq!(decision.header("content-length"), None, "{decision:?}");
        assert_eq!(decision.header("x-forwarded-method"), Some("POST"));
        assert_eq!(decision.header("x-forwarded-proto"), Some("http"));
        assert_eq!(
            decision.header("x-forwarded-host"),
            Some(format!("127.0.0.1:{port}").as_str())
        );
        // With the prefix (forward auth runs before stripPrefix) and the raw query.
        assert_eq!(decision.header("x-forwarded-uri"), Some(target));
        assert_eq!(
            decision.header("cookie"),
            Some("ory_kratos_session=abc"),
            "{decision:?}"
        );
        // The app: the method, the body, the path without the prefix; X-User and X-Email
        // from the answer only, nothing else of it.
        let served = served.unwrap_or_else(|| panic!("{target}: not served: {answer:?}"));
        assert_eq!(served.method, "POST");
        assert_eq!(served.body, "a=1&b=2");
        assert_eq!(served.target, forwarded);
        assert_eq!(served.header("x-user"), Some("ann"), "{served:?}");
        assert_eq!(served.header("x-email"), Some("ann@example.com"));
        assert_eq!(served.header("x-other"), None, "{served:?}");
        assert_eq!(served.header("x-forwarded-prefix"), Some(PREFIX));
        // The allowed answer's Set-Cookie is dropped (no addAuthCookiesToResponse).
        assert_eq!(answer.header("set-cookie"), None, "{answer:?}");
    }
}

#[test]
fn traefik_relays_a_denial_with_its_headers_and_body_and_resolves_a_relative_location() {
    let stack = Scripted::start(Routing::Path);
    let decisions = stack.decisions.port();
    let (answer, _, served) = stack.send("GET", "/demo-app/x/unauthorized", &[], None);
    assert!(served.is_none());
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Basic realm=unauthorized")
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("set-cookie"), Some("decision=1; Path=/"));
    assert_eq!(answer.body, r#"{"error":{"code":401}}"#);

    let (answer, _, served) = stack.send("GET", "/demo-app/x/forbidden", &[], None);
    assert!(served.is_none());
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(answer.body, r#"{"error":{"code":403}}"#);
    assert_eq!(answer.header("set-cookie"), Some("decision=1; Path=/"));

    // The decision server's 400 for a non-canonical path reaches the client as is.
    let (answer, _, served) = stack.send("GET", "/demo-app/x/bad", &[], None);
    assert!(served.is_none());
    assert_eq!(
        (
            answer.status,
            answer.header("x-reason"),
            answer.body.as_str()
        ),
        (400, Some("malformed"), "no\n")
    );

    let (answer, _, _) = stack.send("GET", "/demo-app/x/absolute", &[], None);
    assert_eq!(answer.status, 302);
    assert_eq!(answer.header("location"), Some("http://login.example/in"));
    assert_eq!(answer.header("set-cookie"), Some("decision=1; Path=/"));

    // A relative Location points at the decision server, not at the site: the decision server
    // must answer with an absolute one (ours does).
    let (answer, _, _) = stack.send("GET", "/demo-app/x/relative", &[], None);
    assert_eq!(answer.status, 302);
    assert_eq!(
        answer.header("location"),
        Some(format!("http://127.0.0.1:{decisions}/login?x=1").as_str())
    );
}

/// (raw target, what Traefik asks about in X-Forwarded-Uri, what the app gets) in path mode;
/// `None`: not asked / not served.
const PATHS: &[(&str, Option<&str>, Option<&str>)] = &[
    // Dot segments are resolved and `//` merged before routing: both sides see the clean path.
    ("/demo-app/admin/../ok", Some("/demo-app/ok"), Some("/ok")),
    (
        "/demo-app/admin/%2e%2e/ok",
        Some("/demo-app/ok"),
        Some("/ok"),
    ),
    ("/demo-app/./ok", Some("/demo-app/ok"), Some("/ok")),
    (
        "/demo-app//admin//ok",
        Some("/demo-app/admin/ok"),
        Some("/admin/ok"),
    ),
    // A dot-dot above the prefix leaves the router: no route, never asked.
    ("/demo-app/../other/ok", None, None),
    // Encoded separators and odd escapes are passed on, the hex in upper case: the decision
    // server (ours refuses them with 400) sees exactly what the app gets after the prefix.
    (
        "/demo-app/x/..%2fadmin/ok",
        Some("/demo-app/x/..%2Fadmin/ok"),
        Some("/x/..%2Fadmin/ok"),
    ),
    (
        "/demo-app/x/%5cadmin/ok",
        Some("/demo-app/x/%5Cadmin/ok"),
        Some("/x/%5Cadmin/ok"),
    ),
    (
        "/demo-app/x/%00/ok",
        Some("/demo-app/x/%00/ok"),
        Some("/x/%00/ok"),
    ),
    (
        "/demo-app/x/%23/ok",
        Some("/demo-app/x/%23/ok"),
        Some("/x/%23/ok"),
    ),
    (
        "/demo-app/x;p/ok",
        Some("/demo-app/x;p/ok"),
        Some("/x;p/ok"),
    ),
    (
        "/demo-app/caf%c3%a9/ok",
        Some("/demo-app/caf%C3%A9/ok"),
        Some("/caf%C3%A9/ok"),
    ),
    (
        "/demo-app/a%20b/ok",
        Some("/demo-app/a%20b/ok"),
        Some("/a%20b/ok"),
    ),
    // The prefix is matched case-sensitively.
    ("/DEMO-APP/ok", None, None),
];

#[test]
fn traefik_cleans_dot_segments_before_asking_and_forwards_what_it_asked_about() {
    let stack = Scripted::start(Routing::Path);
    let mut wrong = Vec::new();
    for (target, asked_about, app_gets) in PATHS {
        let (answer, asked, served) = stack.send("GET", target, &[], None);
        let uris: Vec<&str> = asked
            .iter()
            .filter_map(|m| m.header("x-forwarded-uri"))
            .collect();
        let got = (
            uris.first().copied(),
            served.as_ref().map(|r| r.target.as_str()),
        );
        eprintln!(
            "{target:<32} asked {uris:?}, app got {:?}, client {}",
            got.1, answer.status
        );
        if got != (*asked_about, *app_gets) || uris.len() > 1 {
            wrong.push(format!(
                "{target}: asked {uris:?}, app got {:?} (status {}), expected {asked_about:?} / {app_gets:?}",
                got.1, answer.status
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn in_subdomain_mode_traefik_routes_by_host_ignoring_the_port_and_asks_nothing_for_others() {
    let stack = Scripted::start(Routing::Subdomain);
    let port = stack.traefik.port();
    let host = format!("demo-app.example.test:{port}");
    let (answer, asked, served) = stack.send("GET", "/jobs?x=1", &[("Host", &host)], None);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].header("x-forwarded-host"), Some(host.as_str()));
    assert_eq!(asked[0].header("x-forwarded-uri"), Some("/jobs?x=1"));
    assert_eq!(served.unwrap().target, "/jobs?x=1");
    for other in ["example.test", "evil.example", "127.0.0.1"] {
        let other = format!("{other}:{port}");
        let (answer, asked, served) = stack.send("GET", "/jobs", &[("Host", &other)], None);
        assert!(
            answer.status == 404 && asked.is_empty() && served.is_none(),
            "Host {other}: {answer:?} {asked:?}"
        );
    }
}

#[test]
fn an_app_not_in_app_names_is_routed_without_forward_auth() {
    let app = upstream::start_reporting();
    let traefik = Traefik::start();
    let auth = ForwardAuth {
        decisions_address: "http://127.0.0.1:9/decisions".to_owned(),
        app_names: vec!["someone-else".to_owned()],
        headers: vec!["X-User".to_owned()],
    };
    let ingress = Ingress {
        model: MODEL.to_owned(),
        app: APP.to_owned(),
        upstream: format!("http://127.0.0.1:{}", app.port()),
    };
    let config = render(
        &ingress,
        Routing::Path,
        &traefik.external_host(),
        Some(&auth),
    );
    assert!(
        config["http"]["middlewares"]
            .get("juju-sidecar-forward-auth-demo-app")
            .is_none()
    );
    traefik.apply(&ingress, &config);
    let answer = e2e::http::get(traefik.port(), "/demo-app/x", &[("X-User", "admin")]).unwrap();
    let served = upstream::report(&answer).unwrap();
    assert_eq!(served.target, "/x");
    // Nothing deletes a client's X-User on an unprotected route.
    assert_eq!(served.header("x-user"), Some("admin"));
}

#[test]
fn every_proxy_stops_gracefully_and_leaves_no_process_of_its_group_behind() {
    let app = upstream::start();
    let headers = ["X-User".to_owned()];
    let mut traefik = Traefik::start();
    let group = traefik.pid().unwrap();
    assert_eq!(traefik.stop(), Stopped::Gracefully);
    assert!(!proxies::group_alive(group), "traefik");
    for (what, mut proxy) in [
        (
            "nginx",
            proxies::nginx(
                e2e::http::free_port(),
                9,
                "/decisions",
                &headers,
                app.port(),
            ),
        ),
        (
            "caddy",
            proxies::caddy(
                e2e::http::free_port(),
                9,
                "/decisions",
                &headers,
                app.port(),
            ),
        ),
    ] {
        let group = proxy.pid().unwrap();
        assert!(proxies::group_alive(group));
        assert_eq!(proxy.stop(), Stopped::Gracefully, "{what}");
        assert!(!proxies::group_alive(group), "{what} left a process behind");
    }
}

#[test]
fn the_readme_shows_what_the_traefik_charm_renders_for_the_tutorials_spark_app() {
    let ingress = Ingress {
        model: MODEL.to_owned(),
        app: "spark-history-server".to_owned(),
        upstream: "http://spark-history-server.demo.svc.cluster.local:18080".to_owned(),
    };
    let auth = ForwardAuth {
        decisions_address: "http://oathkeeper.iam.svc.cluster.local:4456/decisions".to_owned(),
        app_names: vec![ingress.app.clone()],
        headers: vec!["X-Email".to_owned(), "X-User".to_owned()],
    };
    let rendered = e2e::traefik::to_yaml(&render(&ingress, Routing::Path, "10.0.0.1", Some(&auth)));
    // The README leaves out the services section.
    let shown = rendered.split("  services:\n").next().unwrap();
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(&format!("```yaml\n{shown}```")),
        "the README's Traefik example differs from the rendering:\n{rendered}"
    );
}
