//! The tutorial over HTTPS, driven by the charm (issue 18): the application is deployed and
//! protects an app over http; `self-signed-certificates` (the harness's fake provider, signing
//! with a CA made for the test) is related; until the certificate arrives everything stays on
//! http; once it does, the unit serves https, Traefik is told `https://…/decisions`, real Caddy
//! or nginx ask over HTTPS trusting only the provider's CA, and the tutorial's flow passes.
//! Then the provider re-issues the certificate three times while kept-alive clients load the
//! proxy: the charm pushes the new files, the server picks them up live, and no request fails.
//! The `list-rules` action reaches the API over https. Finally the relation is removed and
//! everything is back on http.

use std::time::Duration;

use e2e::deployment::{Deployment, KUBERNETES_API, SERVICE_API, Unit};
use e2e::http::{Message, free_port, get};
use e2e::kratos::FakeKratos;
use e2e::proxies::{self, DecisionsTls, Proxy};
use e2e::tls::{SERVER_NAME, client_trusting, https_get, served_certificate};
use e2e::{eventually, upstream};
use harness::Event;
use harness::certificates::{CertificateProvider, Validity};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::flow::*;
use crate::tls::{CLIENTS, Load, LoadResult};

/// The certificates relation.
const CERTS_ID: u64 = 20;
/// The provider application.
const PROVIDER: &str = "self-signed-certificates";
/// Certificates re-issued during the load.
const ROTATIONS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Caddy,
    Nginx,
}

/// The forward-auth databag's decisions address, as Traefik reads it.
fn decisions_address(unit: &Unit) -> String {
    unit.state.find_relation(TRAEFIK_ID).unwrap().local_app_data["decisions_address"].clone()
}

/// The DER of the certificate `provider` issued last (what the unit should serve).
fn latest_certificate(provider: &CertificateProvider) -> Vec<u8> {
    let issued = provider.issued().last().expect("a certificate issued");
    CertificateDer::from_pem_slice(issued.certificate.as_bytes())
        .expect("the provider's certificate is PEM")
        .to_vec()
}

fn the_tutorial_over_https(front: Front) {
    let kratos = FakeKratos::start();
    let app = upstream::start();
    let deployment = Deployment::new();
    let mut leader = deployment.unit(0, true, KUBERNETES_API);
    let port = free_port();
    let base = format!("/{SPARK_APP}");
    let spark_url = format!("http://127.0.0.1:{port}{base}");
    deploy(
        &deployment,
        &mut leader,
        &kratos,
        vec![spark_relation(&spark_url)],
    );
    wait_for_rules(&leader, |body| body.contains(SPARK_APP));
    assert_eq!(
        decisions_address(&leader),
        format!("http://{SERVICE_API}/decisions")
    );

    // Related: the unit asks for a certificate and stays on http meanwhile, consistently.
    let mut provider = CertificateProvider::new(PROVIDER);
    leader.state = leader.state.clone().relation(provider.relation(CERTS_ID));
    deployment.run(
        &mut leader,
        &Event::relation("certificates", "joined", CERTS_ID).remote_unit(&format!("{PROVIDER}/0")),
    );
    assert_eq!(
        decisions_address(&leader),
        format!("http://{SERVICE_API}/decisions")
    );
    assert_eq!(fetch(leader.api_port, "/health/alive", &[]).status, 200);

    // The certificate arrives: https everywhere, at once.
    provider
        .answer(&mut leader.state, Validity::days(90))
        .unwrap();
    deployment.run(
        &mut leader,
        &Event::relation("certificates", "changed", CERTS_ID),
    );
    assert_eq!(
        decisions_address(&leader),
        format!("https://{SERVICE_API}/decisions")
    );
    let client = client_trusting(provider.ca_pem());
    let serving = eventually(Duration::from_secs(5), || {
        https_get(leader.api_port, &client, "/health/alive").is_ok_and(|(status, _)| status == 200)
    });
    assert!(
        serving,
        "the unit does not serve https with the provider's certificate:\n{}",
        Deployment::server_log(&leader)
    );
    assert!(
        get(leader.api_port, "/health/alive", &[]).is_ok_and(|answer| answer.status == 400),
        "plain http is no longer served"
    );
    assert_eq!(
        served_certificate(leader.api_port, &client).unwrap(),
        latest_certificate(&provider)
    );

    // The proxy asks over https, trusting only the provider's CA, verifying the Service name.
    let scratch = tempfile::tempdir().unwrap();
    let ca_file = scratch.path().join("ca.pem");
    std::fs::write(&ca_file, provider.ca_pem()).unwrap();
    let decisions_tls = DecisionsTls {
        ca: ca_file,
        server_name: SERVER_NAME.to_owned(),
    };
    let bag = &leader
        .state
        .find_relation(TRAEFIK_ID)
        .unwrap()
        .local_app_data;
    let headers: Vec<String> = serde_json::from_str(&bag["headers"]).unwrap();
    let (api, upstream_port) = (leader.api_port, app.port());
    let start_proxy: proxies::StartWith = match front {
        Front::Caddy => proxies::caddy_with,
        Front::Nginx => proxies::nginx_with,
    };
    let _proxy: Proxy = start_proxy(
        port,
        api,
        "/decisions",
        &headers,
        upstream_port,
        Some(&decisions_tls),
    );
    let through_proxy = |rest: &str, headers: &[(&str, &str)]| -> Message {
        fetch(port, &format!("{base}{rest}"), headers)
    };
    assert_the_flow(&front, front != Front::Nginx, &kratos, through_proxy);

    // The provider re-issues the certificate under load: the charm pushes the new files, the
    // server serves them to new connections, and no request through the proxy fails.
    let load = Load::start(port, &format!("{base}/jobs/"), CLIENTS);
    for _ in 0..ROTATIONS {
        provider.reissue(Validity::days(90)).unwrap();
        provider.write(&mut leader.state);
        deployment.run(
            &mut leader,
            &Event::relation("certificates", "changed", CERTS_ID),
        );
        let wanted = latest_certificate(&provider);
        let applied = eventually(Duration::from_secs(5), || {
            served_certificate(leader.api_port, &client).is_ok_and(|der| der == wanted)
        });
        assert!(
            applied,
            "{front:?}: the re-issued certificate was not served\n{}",
            Deployment::server_log(&leader)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let LoadResult {
        ok,
        failed,
        first,
        elapsed,
    } = load.finish();
    eprintln!(
        "{front:?}: {ok} requests through the proxy over {elapsed:?} with {ROTATIONS} \
         certificates re-issued through the charm, {failed} failed"
    );
    assert_eq!(
        failed,
        0,
        "{front:?}: first failure: {:?}\nserver log:\n{}",
        first,
        Deployment::server_log(&leader)
    );
    assert!(ok > 50, "{front:?}: only {ok} requests were made");
    assert_eq!(
        decisions_address(&leader),
        format!("https://{SERVICE_API}/decisions")
    );

    // The action reaches the API over https (upstream's break here).
    let outcome = deployment.run(
        &mut leader,
        &Event::action("list-rules", serde_json::Map::new()),
    );
    assert_eq!(
        outcome.effects.action_failure, None,
        "{:#?}",
        outcome.effects
    );
    let results = serde_json::to_string(&outcome.effects.action_results).unwrap();
    assert!(results.contains(SPARK_APP), "{results}");

    // Removed: back on http everywhere.
    deployment.run(
        &mut leader,
        &Event::relation("certificates", "broken", CERTS_ID),
    );
    leader.state.relations.retain(|r| r.id != CERTS_ID);
    assert_eq!(
        decisions_address(&leader),
        format!("http://{SERVICE_API}/decisions")
    );
    let plain = eventually(Duration::from_secs(5), || {
        get(leader.api_port, "/health/alive", &[]).is_ok_and(|answer| answer.status == 200)
    });
    assert!(
        plain,
        "the unit does not serve http again:\n{}",
        Deployment::server_log(&leader)
    );
}

#[test]
fn the_tutorial_over_https_through_caddy_with_the_certificate_reissued_under_load() {
    the_tutorial_over_https(Front::Caddy);
}

#[test]
fn the_tutorial_over_https_through_nginx_with_the_certificate_reissued_under_load() {
    the_tutorial_over_https(Front::Nginx);
}
