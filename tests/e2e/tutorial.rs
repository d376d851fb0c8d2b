//! The tutorial, end to end: deploy, connect Kratos, integrate Traefik's forward-auth, protect a
//! Spark-History-Server-like app over auth-proxy; then a browser without a session is sent to
//! the login page, and with one reaches the app with its identity headers. Real Caddy and nginx
//! sit in front; the real server runs from the charm's own layer and reloads the ConfigMaps the
//! charm writes through kubelet-style mounts.

use std::time::Duration;

use e2e::deployment::{Deployment, Unit};
use e2e::http::{Message, free_port, get};
use e2e::kratos::{self, FakeKratos};
use e2e::{eventually, proxies, upstream};
use harness::{Event, Relation};

/// The protected app's path behind each proxy.
const SPARK: &str = "/spark-history-server";
/// The second app: everything under it is public except `/admin`.
const DOCS: &str = "/docs";
const SPARK_ID: u64 = 10;
const DOCS_ID: u64 = 11;
const KRATOS_ID: u64 = 2;
const TRAEFIK_ID: u64 = 3;

fn kratos_relation(kratos: &FakeKratos) -> Relation {
    Relation::new("kratos-info", KRATOS_ID, "kratos").remote_app_data([
        ("admin_endpoint", format!("{}/admin", kratos.url())),
        ("public_endpoint", kratos.url()),
        (
            "sessions_endpoint",
            format!("{}/sessions/whoami", kratos.url()),
        ),
        (
            "login_browser_endpoint",
            format!("{}{}", kratos.url(), kratos::LOGIN_PATH),
        ),
        ("providers_configmap_name", "providers".to_owned()),
        ("schemas_configmap_name", "identity-schemas".to_owned()),
        ("configmaps_namespace", "iam".to_owned()),
    ])
}

fn traefik_relation() -> Relation {
    Relation::new("forward-auth", TRAEFIK_ID, "traefik-public")
        .remote_app_data([("ingress_app_names", r#"["spark-history-server", "docs"]"#)])
}

/// What Spark History Server sends (forward-auth-interop §6): its URL behind each proxy,
/// X-User and X-Email, no allowed endpoints.
fn spark_relation(proxy_ports: &[u16]) -> Relation {
    let urls: Vec<String> = proxy_ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}{SPARK}"))
        .collect();
    Relation::new("auth-proxy", SPARK_ID, "spark-history-server").remote_app_data([
        ("protected_urls", serde_json::to_string(&urls).unwrap()),
        ("headers", r#"["X-User", "X-Email"]"#.to_owned()),
        ("allowed_endpoints", "[]".to_owned()),
    ])
}

/// A second app with public endpoints.
fn docs_relation(proxy_ports: &[u16]) -> Relation {
    let urls: Vec<String> = proxy_ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}{DOCS}"))
        .collect();
    Relation::new("auth-proxy", DOCS_ID, "docs").remote_app_data([
        ("protected_urls", serde_json::to_string(&urls).unwrap()),
        ("headers", r#"["X-User"]"#.to_owned()),
        ("allowed_endpoints", r#"["public"]"#.to_owned()),
    ])
}

const BROWSER: (&str, &str) = ("Accept", "text/html,application/xhtml+xml");
const API_CLIENT: (&str, &str) = ("Accept", "application/json");

fn session_cookie() -> (&'static str, String) {
    (
        "Cookie",
        format!("{}={}", kratos::SESSION_COOKIE, kratos::TOKEN),
    )
}

fn fetch(port: u16, path: &str, headers: &[(&str, &str)]) -> Message {
    get(port, path, headers).unwrap_or_else(|e| panic!("GET 127.0.0.1:{port}{path}: {e}"))
}

/// Drives the tutorial's hooks on `unit` (the leader first, then others).
fn deploy(deployment: &Deployment, unit: &mut Unit, kratos: &FakeKratos, ports: &[u16]) {
    for hook in ["install", "leader-elected", "config-changed"] {
        if hook == "leader-elected" && !unit.state.leader {
            continue;
        }
        deployment.run(unit, &Event::hook(hook));
    }
    deployment.run(unit, &Event::pebble_ready("oathkeeper"));
    unit.state = unit.state.clone().relation(kratos_relation(kratos));
    deployment.run(unit, &Event::relation("kratos-info", "changed", KRATOS_ID));
    unit.state = unit.state.clone().relation(traefik_relation());
    deployment.run(
        unit,
        &Event::relation("forward-auth", "created", TRAEFIK_ID),
    );
    deployment.run(
        unit,
        &Event::relation("forward-auth", "changed", TRAEFIK_ID),
    );
    for relation in [spark_relation(ports), docs_relation(ports)] {
        let id = relation.id;
        unit.state = unit.state.clone().relation(relation);
        deployment.run(unit, &Event::relation("auth-proxy", "created", id));
        deployment.run(unit, &Event::relation("auth-proxy", "changed", id));
    }
}

fn wait_for_rules(unit: &Unit, wanted: impl Fn(&str) -> bool) {
    let ok = eventually(Duration::from_secs(10), || {
        get(unit.api_port, "/rules", &[]).is_ok_and(|r| r.status == 200 && wanted(&r.body))
    });
    assert!(
        ok,
        "the server never served the expected rules:\n{}",
        Deployment::server_log(unit)
    );
}

#[test]
fn the_tutorial_protects_an_app_behind_caddy_and_nginx_and_fails_closed() {
    let mut kratos = FakeKratos::start();
    let app = upstream::start();
    let deployment = Deployment::new();
    let mut leader = deployment.unit(0, true, "mounted-volumes");
    // The requirers' protected URLs name the proxies' ports, so they are chosen first; the
    // proxies start once the charm has published the decisions address.
    let caddy_port = free_port();
    let nginx_port = free_port();
    deploy(&deployment, &mut leader, &kratos, &[caddy_port, nginx_port]);
    wait_for_rules(&leader, |body| {
        body.contains("spark-history-server") && body.contains("docs")
    });

    assert_eq!(
        leader.state.unit_status,
        harness::Status::new("active", "Identity and Access Proxy is ready")
    );
    // The forward-auth databag Traefik would read.
    let bag = &leader
        .state
        .find_relation(TRAEFIK_ID)
        .unwrap()
        .local_app_data;
    assert_eq!(
        bag["decisions_address"],
        "http://oathkeeper.iam.svc.cluster.local:4456/decisions"
    );
    let headers: Vec<String> = serde_json::from_str(&bag["headers"]).unwrap();
    assert_eq!(headers, ["X-Email", "X-User"]);
    let path = bag["decisions_address"]
        .rsplit_once(":4456")
        .unwrap()
        .1
        .to_owned();

    let caddy = proxies::caddy(caddy_port, leader.api_port, &path, &headers, app.port());
    let nginx = proxies::nginx(nginx_port, leader.api_port, &path, &headers, app.port());

    // A browser without a session is sent to Kratos' login page, with return_to.
    let answer = fetch(caddy.port(), &format!("{SPARK}/jobs/"), &[BROWSER]);
    assert_eq!(answer.status, 302, "{answer:?}");
    let location = answer.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{}{}", kratos.url(), kratos::LOGIN_PATH)),
        "{location}"
    );
    assert!(
        location.contains(&format!(
            "return_to=http%3A%2F%2F127.0.0.1%3A{caddy_port}%2Fspark-history-server%2Fjobs%2F"
        )) || location.contains(&format!(
            "return_to=http://127.0.0.1:{caddy_port}{SPARK}/jobs/"
        )),
        "{location}"
    );

    // An API client without a session gets 401 with a JSON body.
    for port in [caddy.port(), nginx.port()] {
        let answer = fetch(port, &format!("{SPARK}/api/v1/applications"), &[API_CLIENT]);
        assert_eq!(answer.status, 401, "port {port}: {answer:?}");
        if port == caddy.port() {
            let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
            assert_eq!(body["error"]["code"], 401, "{}", answer.body);
        }
    }

    // With the session cookie the app is reached with the identity headers.
    let (cookie_name, cookie) = session_cookie();
    for port in [caddy.port(), nginx.port()] {
        let answer = fetch(
            port,
            &format!("{SPARK}/jobs/"),
            &[BROWSER, (cookie_name, &cookie)],
        );
        assert_eq!(answer.status, 200, "port {port}: {answer:?}");
        let seen = upstream::seen(&answer.body);
        assert_eq!(seen["x-user"], kratos::IDENTITY_ID, "port {port}: {seen:?}");
        assert_eq!(seen["x-email"], kratos::EMAIL, "port {port}: {seen:?}");
    }

    // An allowed endpoint needs no session, and a client's own X-User never reaches the app.
    for port in [caddy.port(), nginx.port()] {
        let answer = fetch(
            port,
            &format!("{DOCS}/public/index.html"),
            &[("X-User", "admin")],
        );
        assert_eq!(answer.status, 200, "port {port}: {answer:?}");
        let seen = upstream::seen(&answer.body);
        assert!(
            seen.get("x-user").is_none_or(|v| v != "admin"),
            "port {port}: {seen:?}"
        );
        let protected = fetch(port, &format!("{DOCS}/admin"), &[API_CLIENT]);
        assert_eq!(protected.status, 401, "port {port}: {protected:?}");
    }

    // A second unit shares the cluster: same ConfigMaps, same decisions.
    let mut second = deployment.unit(1, false, "mounted-volumes");
    second.state = leader.state.clone().unit_id(1).leader(false);
    deployment.run(&mut second, &Event::pebble_ready("oathkeeper"));
    wait_for_rules(&second, |body| body.contains("spark-history-server"));
    for unit in [&leader, &second] {
        let decide = |headers: &[(&str, &str)]| {
            let mut all = vec![
                ("X-Forwarded-Method", "GET"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Uri", "/spark-history-server/jobs/"),
            ];
            all.extend_from_slice(headers);
            let host = format!("127.0.0.1:{caddy_port}");
            let mut with_host: Vec<(&str, &str)> = all.clone();
            with_host.push(("X-Forwarded-Host", &host));
            fetch(unit.api_port, "/decisions", &with_host).status
        };
        assert_eq!(decide(&[API_CLIENT]), 401);
        assert_eq!(decide(&[API_CLIENT, (cookie_name, &cookie)]), 200);
    }

    // The auth-proxy relation removed: within 2 s its rules are gone from the ConfigMap and
    // the server, and the path is no longer let through.
    deployment.run(
        &mut leader,
        &Event::relation("auth-proxy", "broken", SPARK_ID),
    );
    let rules = deployment
        .api()
        .state()
        .config_map_data("access-rules")
        .unwrap();
    assert!(rules.keys().all(|key| !key.contains("spark")), "{rules:?}");
    let gone = eventually(Duration::from_secs(2), || {
        get(leader.api_port, "/rules", &[]).is_ok_and(|r| !r.body.contains("spark-history-server"))
    });
    assert!(gone, "the server still serves the removed app's rules");
    let answer = fetch(
        caddy.port(),
        &format!("{SPARK}/jobs/"),
        &[(cookie_name, &cookie)],
    );
    assert_ne!(answer.status, 200, "{answer:?}");

    // Kratos down: protected requests are denied, never allowed.
    kratos.stop();
    for port in [caddy.port(), nginx.port()] {
        let answer = fetch(
            port,
            &format!("{DOCS}/admin"),
            &[API_CLIENT, (cookie_name, &cookie)],
        );
        assert!(
            answer.status == 401 || answer.status == 403 || answer.status >= 500,
            "port {port}: {answer:?}"
        );
    }
}
