//! The tutorial, end to end: deploy, connect Kratos, integrate Traefik's forward-auth, protect a
//! Spark-History-Server-like app over auth-proxy; then a browser without a session is sent to
//! the login page, and with one reaches the app with its identity headers. Real Caddy and nginx
//! sit in front; the real server runs from the charm's own layer and reloads the ConfigMaps the
//! charm writes through kubelet-style mounts.

use std::time::Duration;

use e2e::deployment::{Deployment, MOUNTED_VOLUMES};
use e2e::http::{free_port, get};
use e2e::kratos::{self, FakeKratos};
use e2e::{eventually, proxies, upstream};
use harness::Event;

use crate::flow::*;

#[test]
fn the_tutorial_protects_an_app_behind_caddy_and_nginx_and_fails_closed() {
    let mut kratos = FakeKratos::start();
    let app = upstream::start();
    let deployment = Deployment::new();
    let mut leader = deployment.unit(0, true, MOUNTED_VOLUMES);
    // The requirers' protected URLs name the proxies' ports, so they are chosen first; the
    // proxies start once the charm has published the decisions address.
    let caddy_port = free_port();
    let nginx_port = free_port();
    let ports = [caddy_port, nginx_port];
    deploy(
        &deployment,
        &mut leader,
        &kratos,
        vec![spark_relation(&ports), docs_relation(&ports)],
    );
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
    let mut second = deployment.unit(1, false, MOUNTED_VOLUMES);
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
