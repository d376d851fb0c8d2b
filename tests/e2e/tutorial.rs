//! The tutorial, end to end, through each real proxy: deploy, connect Kratos, integrate
//! Traefik's forward-auth, protect a Spark-History-Server-like app over auth-proxy; then a
//! browser without a session is sent to the login page, and with one reaches the app with its
//! identity headers; a second app joins and is protected within 2 s on both units; the first
//! leaves; Kratos goes down and protected requests are denied.
//!
//! One flow, parameterised by the proxy in front and the charm's `config-source`. Traefik, the
//! tutorial's own proxy, runs in both of the Traefik charm's routing modes with the dynamic
//! configuration the charm renders from our forward-auth databag (`e2e::traefik`), re-rendered
//! whenever the databag changes, as the Traefik charm does on `relation-changed`: so an app
//! leaving `app_names` is routed without forward auth again. Caddy and nginx are configured
//! once by hand, as an operator would, and keep asking about every request. The real server
//! runs from the charm's own layer and reloads the ConfigMaps the charm writes.

use std::time::{Duration, Instant};

use e2e::deployment::{Deployment, KUBERNETES_API, MOUNTED_VOLUMES, SERVICE_API, Unit};
use e2e::http::{Message, free_port, get};
use e2e::kratos::{self, FakeKratos};
use e2e::proxies::{self, Proxy};
use e2e::traefik::{ForwardAuth, Ingress, Routing, Traefik, render};
use e2e::{eventually, upstream};
use harness::Event;

use crate::flow::*;

/// The requirers' model, in Traefik's router names and path prefixes.
const APPS_MODEL: &str = "demo";
/// Traefik's external host in subdomain mode (clients name it in `Host`; no DNS involved).
const DOMAIN: &str = "example.test";
/// The decisions address's host and port in the databag: the Service, which kube-proxy would
/// route to a unit; here it is the leader unit's port.
const SERVICE: &str = SERVICE_API;

/// The proxy in front of the apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Traefik(Routing),
    Caddy,
    Nginx,
}

/// Where an app is reached through the proxy: the `Host` clients send and the path prefix.
struct Site {
    port: u16,
    host: String,
    base: String,
}

impl Site {
    fn url(&self) -> String {
        format!("http://{}{}", self.host, self.base)
    }

    fn get(&self, rest: &str, headers: &[(&str, &str)]) -> Message {
        let mut all = vec![("Host", self.host.as_str())];
        all.extend_from_slice(headers);
        fetch(self.port, &format!("{}{rest}", self.base), &all)
    }

    /// Asks `unit` directly, as the proxy would, about `rest` on this site.
    fn decide(&self, unit: &Unit, rest: &str, headers: &[(&str, &str)]) -> Message {
        let uri = format!("{}{rest}", self.base);
        let mut all = vec![
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Host", self.host.as_str()),
            ("X-Forwarded-Uri", uri.as_str()),
        ];
        all.extend_from_slice(headers);
        fetch(unit.api_port, "/decisions", &all)
    }
}

/// Where `app` is reached through `front` listening on `port`.
fn site(front: Front, port: u16, app: &str) -> Site {
    let (host, base) = match front {
        Front::Traefik(routing) => {
            let ingress = ingress(app, 0);
            let external = external_host(routing, port);
            (ingress.host(routing, &external), ingress.base_path(routing))
        }
        Front::Caddy | Front::Nginx => (format!("127.0.0.1:{port}"), format!("/{app}")),
    };
    Site { port, host, base }
}

fn external_host(routing: Routing, port: u16) -> String {
    match routing {
        Routing::Path => format!("127.0.0.1:{port}"),
        Routing::Subdomain => format!("{DOMAIN}:{port}"),
    }
}

fn ingress(app: &str, upstream_port: u16) -> Ingress {
    Ingress {
        model: APPS_MODEL.to_owned(),
        app: app.to_owned(),
        upstream: format!("http://127.0.0.1:{upstream_port}"),
    }
}

/// What the Traefik charm does on a forward-auth `relation-changed`: re-renders every ingress
/// route from the databag, with the Service address resolved to `unit`.
fn render_traefik(traefik: &Traefik, routing: Routing, unit: &Unit, upstream_port: u16) {
    let bag = &unit.state.find_relation(TRAEFIK_ID).unwrap().local_app_data;
    let auth = ForwardAuth::from_databag(bag).map(|auth| ForwardAuth {
        decisions_address: auth
            .decisions_address
            .replace(SERVICE, &format!("127.0.0.1:{}", unit.api_port)),
        ..auth
    });
    let external = external_host(routing, traefik.port());
    for app in [SPARK_APP, DOCS_APP] {
        let ingress = ingress(app, upstream_port);
        traefik.apply(
            &ingress,
            &render(&ingress, routing, &external, auth.as_ref()),
        );
    }
}

fn the_tutorial(front: Front, source: &str) {
    let mut kratos = FakeKratos::start();
    let app = upstream::start();
    let deployment = Deployment::new();
    let mut leader = deployment.unit(0, true, source);
    // Traefik starts first: the requirers' URLs name its port. Caddy and nginx start once
    // the charm has published the decisions address.
    let (traefik, port) = match front {
        Front::Traefik(routing) => {
            let traefik = Traefik::start();
            let port = traefik.port();
            (Some((traefik, routing)), port)
        }
        Front::Caddy | Front::Nginx => (None, free_port()),
    };
    let spark = site(front, port, SPARK_APP);
    let docs = site(front, port, DOCS_APP);
    deploy(
        &deployment,
        &mut leader,
        &kratos,
        vec![spark_relation(&spark.url())],
    );
    wait_for_rules(&leader, |body| body.contains(SPARK_APP));
    assert_eq!(
        leader.state.unit_status,
        harness::Status::new("active", "Identity and Access Proxy is ready")
    );
    // The forward-auth databag Traefik reads.
    let bag = &leader
        .state
        .find_relation(TRAEFIK_ID)
        .unwrap()
        .local_app_data;
    assert_eq!(
        bag["decisions_address"],
        format!("http://{SERVICE}/decisions")
    );
    let headers: Vec<String> = serde_json::from_str(&bag["headers"]).unwrap();
    assert_eq!(headers, ["X-Email", "X-User"]);
    if source == KUBERNETES_API {
        // No StatefulSet patch: the pod keeps the template Juju created.
        let set = deployment.api().state();
        let template = &set.stateful_set("oathkeeper").unwrap()["spec"]["template"]["spec"];
        assert!(template["volumes"].is_null(), "{template}");
    }
    let (decisions, upstream_port) = (leader.api_port, app.port());
    let _proxy: Option<Proxy> = match front {
        Front::Caddy => Some(proxies::caddy(
            port,
            decisions,
            "/decisions",
            &headers,
            upstream_port,
        )),
        Front::Nginx => Some(proxies::nginx(
            port,
            decisions,
            "/decisions",
            &headers,
            upstream_port,
        )),
        Front::Traefik(_) => None,
    };
    if let Some((traefik, routing)) = &traefik {
        render_traefik(traefik, *routing, &leader, app.port());
    }

    // A browser without a session is sent to Kratos' login page, with return_to bringing it
    // back to the app's URL. nginx's auth_request cannot relay a redirect.
    if front != Front::Nginx {
        let answer = spark.get("/jobs/", &[BROWSER]);
        assert_eq!(answer.status, 302, "{front:?}: {answer:?}");
        let location = answer.header("location").unwrap();
        assert!(
            location.starts_with(&format!("{}{}?", kratos.url(), kratos::LOGIN_PATH)),
            "{front:?}: {location}"
        );
        let back = format!("{}/jobs/", spark.url());
        let encoded = back.replace(':', "%3A").replace('/', "%2F");
        assert!(
            location.ends_with(&format!("return_to={encoded}"))
                || location.ends_with(&format!("return_to={back}")),
            "{front:?}: {location} does not return to {back}"
        );
    }

    // An API client without a session gets 401; Traefik and Caddy relay its JSON body.
    let answer = spark.get("/api/v1/applications", &[API_CLIENT]);
    assert_eq!(answer.status, 401, "{front:?}: {answer:?}");
    if front != Front::Nginx {
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["error"]["code"], 401, "{}", answer.body);
    }

    // With the session cookie the app is reached with the identity headers, whatever
    // X-User the client sent.
    let (cookie_name, cookie) = session_cookie();
    let answer = spark.get(
        "/jobs/",
        &[BROWSER, (cookie_name, &cookie), ("X-User", "admin")],
    );
    assert_a_session_reaches_the_app(&front, &answer);

    // A second unit shares the cluster: same ConfigMaps, same decisions.
    let mut second = deployment.unit(1, false, source);
    second.state = leader.state.clone().unit_id(1).leader(false);
    deployment.run(&mut second, &Event::pebble_ready("oathkeeper"));
    wait_for_rules(&second, |body| body.contains(SPARK_APP));
    for unit in [&leader, &second] {
        assert_eq!(spark.decide(unit, "/jobs/", &[API_CLIENT]).status, 401);
        let with_session = spark.decide(unit, "/jobs/", &[API_CLIENT, (cookie_name, &cookie)]);
        assert_eq!(with_session.status, 200, "{with_session:?}");
    }

    // Before the docs app joins, nothing protects it: Traefik routes it without forward auth
    // (it is not in app_names); Caddy and nginx ask, and no rule matches (401 Basic).
    let before = docs.get("/admin", &[API_CLIENT]);
    match front {
        Front::Traefik(_) => assert_eq!(before.status, 200, "{front:?}: {before:?}"),
        Front::Caddy | Front::Nginx => {
            assert_eq!(before.status, 401, "{front:?}: {before:?}");
            assert_eq!(
                before.header("www-authenticate"),
                Some("Basic realm=unauthorized")
            );
        }
    }

    // The docs app joins: within 2 s both units protect it.
    add_requirer(&deployment, &mut leader, docs_relation(&docs.url()));
    let joined = Instant::now();
    for unit in [&leader, &second] {
        let protected = eventually(Duration::from_secs(2), || {
            let decision = docs.decide(unit, "/admin", &[API_CLIENT]);
            decision.status == 401 && decision.header("www-authenticate").is_none()
        });
        assert!(
            protected,
            "{front:?}: unit {} did not protect the new app within 2 s:\n{}",
            unit.state.unit_id,
            Deployment::server_log(unit)
        );
    }
    eprintln!(
        "{front:?} {source}: a new requirer was protected on both units {:?} after its hook",
        joined.elapsed()
    );
    if let Some((traefik, routing)) = &traefik {
        render_traefik(traefik, *routing, &leader, app.port());
    }
    let protected = docs.get("/admin", &[API_CLIENT]);
    assert_eq!(protected.status, 401, "{front:?}: {protected:?}");

    // An allowed endpoint needs no session, and a client's own X-User never reaches the app.
    let public = docs.get("/public/index.html", &[("X-User", "admin")]);
    assert_eq!(public.status, 200, "{front:?}: {public:?}");
    let seen = upstream::seen(&public.body);
    assert!(
        seen.get("x-user").is_none_or(|v| v != "admin"),
        "{front:?}: {seen:?}"
    );

    // The Spark relation removed: within 2 s its rules are gone from the ConfigMap and the
    // server. Traefik, re-rendered from the databag without Spark in app_names, routes it
    // without forward auth again; Caddy and nginx still ask, and nothing lets it through.
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
        get(leader.api_port, "/rules", &[]).is_ok_and(|r| !r.body.contains(SPARK_APP))
    });
    assert!(gone, "the server still serves the removed app's rules");
    let bag = &leader
        .state
        .find_relation(TRAEFIK_ID)
        .unwrap()
        .local_app_data;
    let app_names: Vec<String> = serde_json::from_str(&bag["app_names"]).unwrap();
    assert_eq!(app_names, [DOCS_APP]);
    let answer = match &traefik {
        Some((traefik, routing)) => {
            render_traefik(traefik, *routing, &leader, app.port());
            let answer = spark.get("/jobs/", &[("X-User", "admin")]);
            assert_eq!(answer.status, 200, "{front:?}: {answer:?}");
            // Open, and unprotected: nothing removes a client's own X-User any more.
            assert_eq!(upstream::seen(&answer.body)["x-user"], "admin");
            answer
        }
        _ => {
            let answer = spark.get("/jobs/", &[(cookie_name, &cookie)]);
            assert_ne!(answer.status, 200, "{front:?}: {answer:?}");
            answer
        }
    };
    eprintln!("{front:?}: the removed app answers {}", answer.status);

    // Kratos down: protected requests are denied, never allowed.
    kratos.stop();
    let answer = docs.get("/admin", &[API_CLIENT, (cookie_name, &cookie)]);
    assert!(
        answer.status == 401 || answer.status == 403 || answer.status >= 500,
        "{front:?}: {answer:?}"
    );
}

#[test]
fn the_tutorial_through_traefik_in_path_mode_watching_the_kubernetes_api() {
    the_tutorial(Front::Traefik(Routing::Path), KUBERNETES_API);
}

#[test]
fn the_tutorial_through_traefik_in_path_mode_with_mounted_volumes() {
    the_tutorial(Front::Traefik(Routing::Path), MOUNTED_VOLUMES);
}

#[test]
fn the_tutorial_through_traefik_in_subdomain_mode_watching_the_kubernetes_api() {
    the_tutorial(Front::Traefik(Routing::Subdomain), KUBERNETES_API);
}

#[test]
fn the_tutorial_through_traefik_in_subdomain_mode_with_mounted_volumes() {
    the_tutorial(Front::Traefik(Routing::Subdomain), MOUNTED_VOLUMES);
}

#[test]
fn the_tutorial_through_caddy_watching_the_kubernetes_api() {
    the_tutorial(Front::Caddy, KUBERNETES_API);
}

#[test]
fn the_tutorial_through_caddy_with_mounted_volumes() {
    the_tutorial(Front::Caddy, MOUNTED_VOLUMES);
}

#[test]
fn the_tutorial_through_nginx_watching_the_kubernetes_api() {
    the_tutorial(Front::Nginx, KUBERNETES_API);
}

#[test]
fn the_tutorial_through_nginx_with_mounted_volumes() {
    the_tutorial(Front::Nginx, MOUNTED_VOLUMES);
}
