//! The fake certificates provider (tls-certificates v4 wire format) and the live fake Pebble's
//! https checks: a certificate it signs is served by a real TLS server, and Pebble's check
//! trusts it once the CA is in the container's bundle, reaching the service name through
//! `resolve`.

use harness::certificates::{
    CERTIFICATE_SIGNING_REQUESTS, CERTIFICATES, CertificateProvider, Validity,
};
use harness::live::{FixedHttps, eventually};
use harness::pebble::{ContainerState, FakePebble, LiveOptions, Mode};
use harness::state::Bag;
use juju::pebble::layer::Layer;
use serde_json::{Value, json};

const HOST: &str = "oathkeeper.iam.svc.cluster.local";

/// A key and a request for `HOST`, as the charm makes them.
fn request() -> (rcgen::KeyPair, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![HOST.to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, HOST);
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    (key, csr)
}

fn unit_bag(csr: &str, ca: Option<bool>) -> Bag {
    let mut entry = json!({"certificate_signing_request": csr});
    if let Some(ca) = ca {
        entry["ca"] = Value::Bool(ca);
    }
    Bag::from([(
        CERTIFICATE_SIGNING_REQUESTS.to_owned(),
        json!([entry]).to_string(),
    )])
}

fn entries(provider: &CertificateProvider) -> Vec<Value> {
    let data = provider.app_data();
    serde_json::from_str::<Vec<Value>>(&data[CERTIFICATES]).unwrap()
}

#[test]
fn the_provider_answers_a_request_in_the_v4_format_and_ignores_one_without_ca() {
    let mut provider = CertificateProvider::new("self-signed-certificates");
    let (key, csr) = request();
    assert_eq!(
        provider
            .sign_requests(&unit_bag(&csr, None), Validity::days(90))
            .unwrap(),
        0
    );
    assert_eq!(
        provider
            .sign_requests(&unit_bag(&csr, Some(false)), Validity::days(90))
            .unwrap(),
        1
    );
    // Answered once: the same request again signs nothing.
    assert_eq!(
        provider
            .sign_requests(&unit_bag(&csr, Some(false)), Validity::days(90))
            .unwrap(),
        0
    );
    let answered = entries(&provider);
    assert_eq!(answered.len(), 1);
    let entry = &answered[0];
    assert_eq!(entry["certificate_signing_request"], csr.trim_end());
    assert_eq!(entry["ca"], provider.ca_pem().trim());
    assert_eq!(entry["chain"][0], entry["certificate"]);
    assert_eq!(entry["chain"][1], entry["ca"]);
    assert_eq!(entry.get("revoked"), None);

    // A new request for the same key replaces its certificate (renewal).
    let key = rcgen::KeyPair::from_pem(&key.serialize_pem()).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![HOST.to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, HOST);
    let renewal = params.serialize_request(&key).unwrap().pem().unwrap();
    provider
        .sign_requests(&unit_bag(&renewal, Some(false)), Validity::days(90))
        .unwrap();
    let after = entries_of(&provider);
    assert_eq!(after, [renewal.trim_end().to_owned()]);

    provider.revoke_all();
    assert_eq!(entries(&provider)[0]["revoked"], true);
    let revoked = entries(&provider)[0]["certificate"].clone();
    provider.reissue(Validity::days(30)).unwrap();
    assert_eq!(entries(&provider)[0].get("revoked"), None);
    assert_ne!(entries(&provider)[0]["certificate"], revoked);
}

fn entries_of(provider: &CertificateProvider) -> Vec<String> {
    entries(provider)
        .iter()
        .map(|e| {
            e["certificate_signing_request"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_live_https_check_trusts_the_container_bundle_and_resolves_the_service_name() {
    let mut provider = CertificateProvider::new("self-signed-certificates");
    let (key, csr) = request();
    provider
        .sign_requests(&unit_bag(&csr, Some(false)), Validity::days(90))
        .unwrap();
    let entry = &entries(&provider)[0];
    let chain = format!(
        "{}\n{}\n",
        entry["chain"][0].as_str().unwrap(),
        entry["chain"][1].as_str().unwrap()
    );
    let server = FixedHttps::start(&chain, &key.serialize_pem(), "{}");
    let options = LiveOptions::default().resolve(&format!("{HOST}:4456"), server.address());
    let dir = tempfile::tempdir().unwrap();
    let layer = Layer::parse_yaml(&format!(
        "checks:\n  alive:\n    override: replace\n    period: 100ms\n    timeout: 2s\n    threshold: 1\n    http: {{url: 'https://{HOST}:4456/health/alive'}}\n"
    ))
    .unwrap();
    let fake = FakePebble::start(
        dir.path().join("workload/pebble.socket"),
        ContainerState::default().with_layer("tls", layer),
        Mode::Live(options),
    )
    .unwrap();
    let client = fake.client();
    // No CA in the container's bundle: the certificate is not trusted.
    eventually("the check to fail without the CA", || {
        client.checks().unwrap()[0].status == "down"
    });
    let bundle = format!("# system roots would be here\n{}", provider.ca_pem());
    client
        .push(
            "/etc/ssl/certs/ca-certificates.crt",
            bundle.as_bytes(),
            true,
            None,
        )
        .unwrap();
    eventually("the check to pass with the CA", || {
        let check = &client.checks().unwrap()[0];
        check.status == "up" && check.successes >= 1
    });
}
