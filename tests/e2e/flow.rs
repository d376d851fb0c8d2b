//! The tutorial's moves, shared by the end-to-end tests: the relations the other charms would
//! write, the hook sequence, and requests as a browser or an API client makes them.

use std::time::Duration;

use e2e::deployment::{Deployment, Unit};
use e2e::http::{Message, get};
use e2e::kratos::{self, FakeKratos};
use e2e::{eventually, upstream};
use harness::{Event, Relation};

/// The protected app.
pub(crate) const SPARK_APP: &str = "spark-history-server";
/// The second app: everything under it is public except `/admin`.
pub(crate) const DOCS_APP: &str = "docs";
pub(crate) const SPARK_ID: u64 = 10;
pub(crate) const DOCS_ID: u64 = 11;
pub(crate) const KRATOS_ID: u64 = 2;
pub(crate) const TRAEFIK_ID: u64 = 3;

pub(crate) fn kratos_relation(kratos: &FakeKratos) -> Relation {
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

pub(crate) fn traefik_relation() -> Relation {
    Relation::new("forward-auth", TRAEFIK_ID, "traefik-public")
        .remote_app_data([("ingress_app_names", r#"["spark-history-server", "docs"]"#)])
}

/// What Spark History Server sends (forward-auth-interop §6): its URL behind the proxy,
/// X-User and X-Email, no allowed endpoints.
pub(crate) fn spark_relation(url: &str) -> Relation {
    Relation::new("auth-proxy", SPARK_ID, "spark-history-server").remote_app_data([
        ("protected_urls", serde_json::to_string(&[url]).unwrap()),
        ("headers", r#"["X-User", "X-Email"]"#.to_owned()),
        ("allowed_endpoints", "[]".to_owned()),
    ])
}

/// A second app with public endpoints.
pub(crate) fn docs_relation(url: &str) -> Relation {
    Relation::new("auth-proxy", DOCS_ID, "docs").remote_app_data([
        ("protected_urls", serde_json::to_string(&[url]).unwrap()),
        ("headers", r#"["X-User"]"#.to_owned()),
        ("allowed_endpoints", r#"["public"]"#.to_owned()),
    ])
}

pub(crate) const BROWSER: (&str, &str) = ("Accept", "text/html,application/xhtml+xml");
pub(crate) const API_CLIENT: (&str, &str) = ("Accept", "application/json");

pub(crate) fn session_cookie() -> (&'static str, String) {
    (
        "Cookie",
        format!("{}={}", kratos::SESSION_COOKIE, kratos::TOKEN),
    )
}

pub(crate) fn fetch(port: u16, path: &str, headers: &[(&str, &str)]) -> Message {
    get(port, path, headers).unwrap_or_else(|e| panic!("GET 127.0.0.1:{port}{path}: {e}"))
}

/// Drives the tutorial's hooks on `unit`: startup, Kratos, Traefik, then each requirer.
pub(crate) fn deploy(
    deployment: &Deployment,
    unit: &mut Unit,
    kratos: &FakeKratos,
    requirers: Vec<Relation>,
) {
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
    for relation in requirers {
        add_requirer(deployment, unit, relation);
    }
}

/// An auth-proxy requirer joins: relation-created, then relation-changed with its data.
pub(crate) fn add_requirer(deployment: &Deployment, unit: &mut Unit, relation: Relation) {
    let id = relation.id;
    unit.state = unit.state.clone().relation(relation);
    deployment.run(unit, &Event::relation("auth-proxy", "created", id));
    deployment.run(unit, &Event::relation("auth-proxy", "changed", id));
}

pub(crate) fn wait_for_rules(unit: &Unit, wanted: impl Fn(&str) -> bool) {
    let ok = eventually(Duration::from_secs(10), || {
        get(unit.api_port, "/rules", &[]).is_ok_and(|r| r.status == 200 && wanted(&r.body))
    });
    assert!(
        ok,
        "the server never served the expected rules:\n{}",
        Deployment::server_log(unit)
    );
}

/// The tutorial's three requests through a proxy (`get(path under the app, headers)`): a
/// browser without a session is sent to Kratos' login page (only where the proxy relays a
/// redirect: nginx's `auth_request` cannot), an API client without one gets 401, and with the
/// session cookie (and a forged `X-User`) the app is reached with the session's identity.
pub(crate) fn assert_the_flow(
    what: &dyn std::fmt::Debug,
    relays_redirect: bool,
    kratos: &FakeKratos,
    get: impl Fn(&str, &[(&str, &str)]) -> Message,
) {
    if relays_redirect {
        let answer = get("/jobs/", &[BROWSER]);
        assert_eq!(answer.status, 302, "{what:?}: {answer:?}");
        let location = answer.header("location").unwrap();
        assert!(
            location.starts_with(&format!("{}{}?", kratos.url(), kratos::LOGIN_PATH)),
            "{what:?}: {location}"
        );
    }
    let answer = get("/api/v1/applications", &[API_CLIENT]);
    assert_eq!(answer.status, 401, "{what:?}: {answer:?}");
    let (name, cookie) = session_cookie();
    let answer = get("/jobs/", &[BROWSER, (name, &cookie), ("X-User", "admin")]);
    assert_a_session_reaches_the_app(what, &answer);
}

/// `answer` is the app's, reached with the session's identity headers (not a forged one).
pub(crate) fn assert_a_session_reaches_the_app(what: &dyn std::fmt::Debug, answer: &Message) {
    assert_eq!(answer.status, 200, "{what:?}: {answer:?}");
    let seen = upstream::seen(&answer.body);
    assert_eq!(seen["x-user"], kratos::IDENTITY_ID, "{what:?}: {seen:?}");
    assert_eq!(seen["x-email"], kratos::EMAIL, "{what:?}: {seen:?}");
}
