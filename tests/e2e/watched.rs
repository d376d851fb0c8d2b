//! The tutorial with the charm's default `config-source=kubernetes-api`: no kubelet mounts, no
//! StatefulSet patch; the server watches the ConfigMaps through the (fake) API, so a new
//! auth-proxy relation protects its app within 2 s, on every unit at once.

use std::time::{Duration, Instant};

use e2e::deployment::{Deployment, KUBERNETES_API};
use e2e::http::free_port;
use e2e::kratos::{self, FakeKratos};
use e2e::{eventually, proxies, upstream};
use harness::Event;

use crate::flow::*;

#[test]
fn watched_through_the_api_a_new_requirer_is_protected_within_two_seconds_on_every_unit() {
    let kratos = FakeKratos::start();
    let app = upstream::start();
    let deployment = Deployment::new();
    let mut leader = deployment.unit(0, true, KUBERNETES_API);
    let caddy_port = free_port();
    let ports = [caddy_port];
    deploy(
        &deployment,
        &mut leader,
        &kratos,
        vec![spark_relation(&ports)],
    );
    wait_for_rules(&leader, |body| body.contains("spark-history-server"));
    // No StatefulSet patch: the pod keeps the template Juju created.
    let set = deployment.api().state();
    let template = &set.stateful_set("oathkeeper").unwrap()["spec"]["template"]["spec"];
    assert!(template["volumes"].is_null(), "{template}");

    let bag = &leader
        .state
        .find_relation(TRAEFIK_ID)
        .unwrap()
        .local_app_data;
    let headers: Vec<String> = serde_json::from_str(&bag["headers"]).unwrap();
    let caddy = proxies::caddy(
        caddy_port,
        leader.api_port,
        "/decisions",
        &headers,
        app.port(),
    );
    let (cookie_name, cookie) = session_cookie();
    let answer = fetch(caddy.port(), &format!("{SPARK}/jobs/"), &[BROWSER]);
    assert_eq!(answer.status, 302, "{answer:?}");
    let answer = fetch(
        caddy.port(),
        &format!("{SPARK}/jobs/"),
        &[(cookie_name, &cookie)],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(upstream::seen(&answer.body)["x-user"], kratos::IDENTITY_ID);

    // A second unit, started now, serves the same rules from the same ConfigMaps.
    let mut second = deployment.unit(1, false, KUBERNETES_API);
    second.state = leader.state.clone().unit_id(1).leader(false);
    deployment.run(&mut second, &Event::pebble_ready("oathkeeper"));
    wait_for_rules(&second, |body| body.contains("spark-history-server"));

    // Before the docs app joins, nothing protects its path: no rule matches (401 Basic).
    let docs_admin = format!("{DOCS}/admin");
    let unprotected = fetch(caddy.port(), &docs_admin, &[API_CLIENT]);
    assert_eq!(
        unprotected.header("www-authenticate"),
        Some("Basic realm=unauthorized")
    );
    add_requirer(&deployment, &mut leader, docs_relation(&ports));
    let joined = Instant::now();
    for unit in [&leader, &second] {
        let protected = eventually(Duration::from_secs(2), || {
            let decision = e2e::http::get(
                unit.api_port,
                "/decisions/docs/admin",
                &[
                    API_CLIENT,
                    ("X-Forwarded-Host", &format!("127.0.0.1:{caddy_port}")),
                ],
            );
            decision.is_ok_and(|d| d.status == 401 && d.header("www-authenticate").is_none())
        });
        assert!(
            protected,
            "unit {} did not protect the new app within 2 s:\n{}",
            unit.state.unit_id,
            Deployment::server_log(unit)
        );
    }
    eprintln!(
        "a new requirer was protected on both units {:?} after its hook",
        joined.elapsed()
    );
    let public = fetch(caddy.port(), &format!("{DOCS}/public/page"), &[]);
    assert_eq!(public.status, 200, "{public:?}");
}
