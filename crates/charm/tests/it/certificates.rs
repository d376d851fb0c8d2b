//! The `certificates` relation (issue 18) through the harness, against its fake tls-certificates
//! v4 provider: joined → request published → certificate → https everywhere; renewal at 90 %;
//! revocation; dev; a non-leader; broken → http everywhere; the actions over https.

use harness::certificates::{CertificateProvider, Validity};
use harness::live::{FixedHttps, eventually, free_port};
use harness::pebble::{ContainerState, File, ServiceStatus};
use harness::state::SecretOwner;
use harness::{Event, Outcome, Relation, State};
use oathkeeper_charm::tls;
use serde_json::{Map, Value, json};

use crate::support::*;

const HOST: &str = "oathkeeper.iam.svc.cluster.local";
const PROVIDER: &str = "self-signed-certificates";
const CERTS_ID: u64 = 7;
const FORWARD_AUTH_ID: u64 = 3;
const INFO_ID: u64 = 4;

/// A unit that went through the startup hooks, with Traefik (forward-auth) and the admin UI
/// (oathkeeper-info) related, so every published address is visible.
fn start(dir: &std::path::Path, leader: bool, state: State) -> State {
    let mut state = state
        .leader(leader)
        .relation(
            Relation::new("forward-auth", FORWARD_AUTH_ID, "traefik-public")
                .remote_app_data([("ingress_app_names", "[]")]),
        )
        .relation(Relation::new("oathkeeper-info", INFO_ID, "admin-ui"));
    for hook in ["install", "leader-elected", "config-changed"] {
        if hook == "leader-elected" && !leader {
            continue;
        }
        state = run_ok(dir, &state, &Event::hook(hook)).state;
    }
    run_ok(dir, &state, &Event::pebble_ready("oathkeeper")).state
}

/// Relates the provider and runs `certificates-relation-joined`.
fn relate(dir: &std::path::Path, state: State, provider: &CertificateProvider) -> Outcome {
    let state = state.relation(provider.relation(CERTS_ID));
    run_ok(
        dir,
        &state,
        &Event::relation("certificates", "joined", CERTS_ID).remote_unit(&format!("{PROVIDER}/0")),
    )
}

/// The provider answers what the unit published, then `certificates-relation-changed` runs.
fn answer(
    dir: &std::path::Path,
    mut state: State,
    provider: &mut CertificateProvider,
    validity: Validity,
) -> Outcome {
    provider.answer(&mut state, validity).unwrap();
    changed(dir, &state)
}

fn changed(dir: &std::path::Path, state: &State) -> Outcome {
    run_ok(
        dir,
        state,
        &Event::relation("certificates", "changed", CERTS_ID),
    )
}

/// The request this unit published: checks the v4 format (a JSON list of one entry with
/// `"ca": false`) and returns the CSR.
fn published_request(state: &State) -> String {
    let bag = &state.find_relation(CERTS_ID).unwrap().local_unit_data;
    let list: Value = serde_json::from_str(&bag["certificate_signing_requests"]).unwrap();
    let entries = list.as_array().expect("a JSON list");
    assert_eq!(entries.len(), 1, "{list}");
    assert_eq!(entries[0]["ca"], json!(false), "{list}");
    entries[0]["certificate_signing_request"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn file(state: &State, path: &str) -> Option<(String, String)> {
    match state.containers["oathkeeper"].files.get(path)? {
        File::Text(text) => Some((text.clone(), "644".to_owned())),
        File::Detailed(spec) => Some((
            spec.content.clone().unwrap_or_default(),
            spec.permissions.clone().unwrap_or_else(|| "644".to_owned()),
        )),
    }
}

fn service_env(state: &State) -> std::collections::BTreeMap<String, String> {
    state.containers["oathkeeper"].plan().services["oathkeeper"]
        .environment
        .clone()
}

fn alive_url(state: &State) -> String {
    state.containers["oathkeeper"].plan().checks["alive"]
        .http
        .as_ref()
        .unwrap()
        .url
        .clone()
        .unwrap()
}

fn decisions_address(state: &State) -> String {
    state.find_relation(FORWARD_AUTH_ID).unwrap().local_app_data["decisions_address"].clone()
}

fn public_endpoint(state: &State) -> String {
    state.find_relation(INFO_ID).unwrap().local_app_data["public_endpoint"].clone()
}

/// This unit's secret holding the private key.
fn key_secret(state: &State) -> &harness::state::Secret {
    let secret = state
        .secrets
        .iter()
        .find(|s| s.label.as_deref() == Some(tls::KEY_SECRET_LABEL))
        .expect("the key's secret");
    assert_eq!(secret.owner, Some(SecretOwner::Unit));
    secret
}

/// The private key kept in this unit's secret.
fn private_key(state: &State) -> String {
    let secret = key_secret(state);
    secret.revisions[&secret.latest()][tls::KEY_SECRET_FIELD].clone()
}

/// Everything says https (leader: the published addresses too), and the workload holds the
/// files the provider issued.
fn assert_https(state: &State, provider: &CertificateProvider, leader: bool) {
    let env = service_env(state);
    assert_eq!(env[tls::CERT_PATH_ENV], tls::CERT_FILE);
    assert_eq!(env[tls::KEY_PATH_ENV], tls::KEY_FILE);
    assert_eq!(
        alive_url(state),
        format!("https://{HOST}:4456/health/alive")
    );
    if leader {
        assert_eq!(
            decisions_address(state),
            format!("https://{HOST}:4456/decisions")
        );
        assert_eq!(public_endpoint(state), format!("https://{HOST}:4456"));
    }
    let (chain, _) = file(state, tls::CERT_FILE).expect("the certificate chain");
    let issued = provider
        .issued()
        .iter()
        .find(|i| !i.revoked && chain.starts_with(i.certificate.trim()))
        .expect("the chain starts with an unrevoked certificate the provider issued");
    assert!(
        chain.contains(provider.ca_pem().trim()),
        "chain ends with the CA"
    );
    assert!(!issued.certificate.is_empty());
    let (key, mode) = file(state, tls::KEY_FILE).expect("the key");
    assert_eq!(mode, "600");
    assert_eq!(key, private_key(state));
    let (ca, _) = file(state, tls::CA_FILE).expect("the CA");
    assert_eq!(ca.trim(), provider.ca_pem().trim());
    let (bundle, _) = file(state, tls::CA_BUNDLE).expect("the CA bundle");
    assert!(bundle.contains(provider.ca_pem().trim()), "{bundle}");
}

fn assert_http(state: &State, leader: bool) {
    assert!(!service_env(state).contains_key(tls::CERT_PATH_ENV));
    assert_eq!(alive_url(state), "http://localhost:4456/health/alive");
    if leader {
        assert_eq!(
            decisions_address(state),
            format!("http://{HOST}:4456/decisions")
        );
        assert_eq!(public_endpoint(state), format!("http://{HOST}:4456"));
    }
    assert_eq!(file(state, tls::CERT_FILE), None);
    assert_eq!(file(state, tls::KEY_FILE), None);
}

/// No hook-tool argument or input, Pebble request summary or log line carries the private key
/// (only `secret-get`'s answer does).
fn assert_key_never_shown(outcome: &Outcome) {
    let sent: Vec<(&Vec<String>, &Option<String>)> = outcome
        .effects
        .tool_calls
        .iter()
        .map(|c| (&c.args, &c.stdin))
        .collect();
    let shown = format!(
        "{sent:?}{:?}{:?}{}",
        outcome.pebble_calls, outcome.effects.juju_log, outcome.stderr
    );
    assert!(!shown.contains("PRIVATE KEY"), "the key leaked: {shown}");
}

#[test]
fn joined_publishes_a_request_and_the_certificate_switches_everything_to_https() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    assert_http(&state, true);
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider);
    assert_key_never_shown(&joined);
    let csr = published_request(&joined.state);
    let info = tls::request_info(&csr).expect("a parsable CSR");
    assert_eq!(info.common_names, [HOST]);
    assert_eq!(info.dns_names, [HOST]);
    assert_eq!(
        info.public_key,
        tls::public_key(&private_key(&joined.state)).unwrap()
    );
    // Until the provider answers: http everywhere, and the status says why.
    assert_http(&joined.state, true);
    assert_eq!(joined.state.unit_status.name, "waiting");
    assert_eq!(
        joined.state.unit_status.message,
        format!("Waiting for a certificate from {PROVIDER}; serving http meanwhile")
    );

    let out = answer(dir.path(), joined.state, &mut provider, Validity::days(90));
    assert_key_never_shown(&out);
    assert_https(&out.state, &provider, true);
    // The key's secret expires when renewal is due (81 days in), which runs a hook then.
    let expire = key_secret(&out.state).expire.clone().unwrap();
    let seconds: i64 = expire.strip_suffix('s').unwrap().parse().unwrap();
    assert!((80 * 86_400..81 * 86_400).contains(&seconds), "{expire}");
    assert_eq!(out.state.unit_status.name, "active");
    // The request stays: no renewal before 90 %.
    assert_eq!(published_request(&out.state), csr);
    // A repeated hook only reads.
    let again = run_ok(dir.path(), &out.state, &Event::hook("update-status"));
    assert_eq!(again.state.containers, out.state.containers);
    assert!(
        !again
            .effects
            .tool_calls
            .iter()
            .any(|c| c.tool == "relation-set" || c.tool == "secret-add"),
        "{:#?}",
        again.effects.tool_calls
    );
}

#[test]
fn renewal_at_ninety_percent_requests_a_new_csr_for_the_same_key_and_keeps_serving_https() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    let first = published_request(&joined);
    let key = private_key(&joined);
    // 95 % of its validity has passed: the hook that receives it asks for the next one.
    let out = answer(
        dir.path(),
        joined,
        &mut provider,
        Validity::elapsed_percent(95),
    );
    assert_https(&out.state, &provider, true);
    let renewal = published_request(&out.state);
    assert_ne!(renewal, first);
    assert_eq!(
        tls::request_info(&renewal).unwrap().public_key,
        tls::request_info(&first).unwrap().public_key,
        "same key"
    );
    let old_chain = file(&out.state, tls::CERT_FILE).unwrap().0;
    // While the provider has not answered, the valid certificate keeps being served.
    let pending = run_ok(dir.path(), &out.state, &Event::hook("update-status")).state;
    assert_https(&pending, &provider, true);
    assert_eq!(published_request(&pending), renewal, "no second request");

    let renewed = answer(dir.path(), pending, &mut provider, Validity::days(90));
    assert_https(&renewed.state, &provider, true);
    assert_ne!(file(&renewed.state, tls::CERT_FILE).unwrap().0, old_chain);
    assert_eq!(private_key(&renewed.state), key);
    // Our server reloads the files: no restart, no replan.
    let restarted = renewed.pebble_calls["oathkeeper"]
        .iter()
        .any(|c| c.path.starts_with("/v1/services") && c.method == "POST");
    assert!(!restarted, "{:#?}", renewed.pebble_calls["oathkeeper"]);
}

#[test]
fn the_key_secret_expiring_at_renewal_time_runs_the_renewal() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    let first = published_request(&joined);
    let mut served = answer(dir.path(), joined, &mut provider, Validity::days(90)).state;
    // Time passes: the certificate the unit serves is now 95 % through its validity (moved
    // back in time rather than the clock forward), and Juju runs secret-expired.
    provider.reissue(Validity::elapsed_percent(95)).unwrap();
    provider.write(&mut served);
    let secret = key_secret(&served).clone();
    let out = run_ok(
        dir.path(),
        &served,
        &Event::secret("expired", &secret.id, Some(secret.latest())),
    );
    assert_https(&out.state, &provider, true);
    let renewal = published_request(&out.state);
    assert_ne!(renewal, first);
}

#[test]
fn revocation_goes_back_to_http_and_requests_a_new_certificate() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    let first = published_request(&joined);
    let served = answer(dir.path(), joined, &mut provider, Validity::days(90)).state;
    assert_https(&served, &provider, true);

    let mut revoked = served;
    provider.revoke_all();
    provider.write(&mut revoked);
    let out = changed(dir.path(), &revoked);
    // A revoked certificate is never served: http everywhere, consistently.
    assert_http(&out.state, true);
    assert_ne!(published_request(&out.state), first);
    assert_eq!(
        out.state.unit_status.message,
        format!(
            "Certificate revoked by {PROVIDER}, a new one is requested; serving http meanwhile"
        )
    );
    let reissued = answer(dir.path(), out.state, &mut provider, Validity::days(90));
    assert_https(&reissued.state, &provider, true);
}

#[test]
fn broken_goes_back_to_http_and_removes_the_files_and_the_key() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    let served = answer(dir.path(), joined, &mut provider, Validity::days(90)).state;
    assert_https(&served, &provider, true);
    let out = run_ok(
        dir.path(),
        &served,
        &Event::relation("certificates", "broken", CERTS_ID),
    );
    let mut after = out.state;
    // Juju drops the relation once broken has run.
    after.relations.retain(|r| r.id != CERTS_ID);
    assert_http(&after, true);
    assert_eq!(file(&after, tls::CA_FILE), None);
    let (bundle, _) = file(&after, tls::CA_BUNDLE).unwrap_or_default();
    assert!(!bundle.contains(provider.ca_pem().trim()));
    assert!(
        after
            .secrets
            .iter()
            .all(|s| s.label.as_deref() != Some(tls::KEY_SECRET_LABEL)),
        "{:#?}",
        after.secrets
    );
    assert!(!after.unit_state.contains_key(tls::KEY_SECRET_STATE_KEY));
    assert_eq!(after.unit_status.name, "active");
}

#[test]
fn dev_keeps_everything_on_http_even_with_a_certificate() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true).config("dev", true));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    published_request(&joined);
    let out = answer(dir.path(), joined, &mut provider, Validity::days(90));
    assert_http(&out.state, true);
    assert_eq!(out.state.unit_status.name, "active");
    // Turning dev off switches everything at once.
    let mut production = out.state;
    production
        .config
        .insert("dev".to_owned(), Value::Bool(false));
    let out = run_ok(dir.path(), &production, &Event::hook("config-changed"));
    assert_https(&out.state, &provider, true);
}

#[test]
fn a_non_leader_publishes_its_own_request_and_serves_https() {
    let dir = charm_dir();
    let state = start(dir.path(), false, deployed(false));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    published_request(&joined);
    let out = answer(dir.path(), joined, &mut provider, Validity::days(90));
    assert_https(&out.state, &provider, false);
    assert!(
        out.state
            .find_relation(FORWARD_AUTH_ID)
            .unwrap()
            .local_app_data
            .is_empty()
    );
}

#[test]
fn bad_provider_data_is_a_status_naming_the_app_and_field_and_http_stays() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    let provider = CertificateProvider::new(PROVIDER);
    let mut joined = relate(dir.path(), state, &provider).state;
    joined.find_relation_mut(CERTS_ID).unwrap().remote_app_data =
        [("certificates".to_owned(), "not json".to_owned())].into();
    let out = changed(dir.path(), &joined);
    assert_http(&out.state, true);
    assert_eq!(out.state.unit_status.name, "blocked");
    assert_eq!(
        out.state.unit_status.message,
        format!(
            "Invalid certificates data from {PROVIDER}: certificates: expected a JSON list of certificates"
        )
    );
}

#[test]
fn with_orys_server_a_rotation_restarts_the_service() {
    let dir = charm_dir();
    let image = with_image(deployed(true), ORY_VERSION_OUTPUT);
    let state = start(dir.path(), true, image);
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    let mut served = answer(dir.path(), joined, &mut provider, Validity::days(90)).state;
    assert_https(&served, &provider, true);
    provider.reissue(Validity::days(90)).unwrap();
    provider.write(&mut served);
    let out = changed(dir.path(), &served);
    assert_https(&out.state, &provider, true);
    let restarts: Vec<&String> = out.pebble_calls["oathkeeper"]
        .iter()
        .filter(|c| c.path == "/v1/services" && c.body.contains("restart"))
        .map(|c| &c.body)
        .collect();
    assert_eq!(restarts.len(), 1, "{:#?}", out.pebble_calls["oathkeeper"]);
}

#[test]
fn actions_reach_the_api_over_https_trusting_exactly_the_relation_ca() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    let mut served = answer(dir.path(), joined, &mut provider, Validity::days(90)).state;
    served
        .containers
        .get_mut("oathkeeper")
        .unwrap()
        .service_statuses
        .insert("oathkeeper".to_owned(), ServiceStatus::Active);
    let chain = file(&served, tls::CERT_FILE).unwrap().0;
    let api = FixedHttps::start(&chain, &private_key(&served), r#"[{"id":"spark:0:deny"}]"#);
    // The pod-local address (as the e2e rewrites it), verified as the Service name.
    let ctx = context(dir.path()).env(
        "OATHKEEPER_CHARM_API_URL",
        &format!("http://127.0.0.1:{}", api.port()),
    );
    let out = ctx
        .run(&served, &Event::action("list-rules", Map::new()))
        .unwrap();
    assert!(out.succeeded(), "{}", out.stderr);
    assert_eq!(out.effects.action_failure, None, "{:#?}", out.effects);
    assert_eq!(
        Value::Object(out.effects.action_results),
        json!({"0": "spark:0:deny"})
    );

    // Another CA in the workload's file: the same server is not trusted.
    let mut other = served.clone();
    let stranger = CertificateProvider::new("stranger");
    other
        .containers
        .get_mut("oathkeeper")
        .unwrap()
        .files
        .insert(
            tls::CA_FILE.to_owned(),
            File::Text(stranger.ca_pem().to_owned()),
        );
    let out = ctx
        .run(&other, &Event::action("list-rules", Map::new()))
        .unwrap();
    let failure = out.effects.action_failure.unwrap_or_default();
    assert!(
        failure.starts_with("Something went wrong when trying to run the command"),
        "{failure}"
    );
}

#[test]
fn an_unreachable_container_keeps_the_published_scheme() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    let mut served = answer(dir.path(), joined, &mut provider, Validity::days(90)).state;
    served.containers.insert(
        "oathkeeper".to_owned(),
        ContainerState {
            can_connect: false,
            ..served.containers["oathkeeper"].clone()
        },
    );
    let out = run_ok(dir.path(), &served, &Event::hook("update-status"));
    assert_eq!(
        decisions_address(&out.state),
        format!("https://{HOST}:4456/decisions")
    );
    assert_eq!(public_endpoint(&out.state), format!("https://{HOST}:4456"));
}

/// A stand-in for the server as a live Pebble service: Python's HTTP server on `$PORT`,
/// wrapped in TLS when the layer names a certificate (`SERVE_API_TLS_CERT_PATH`/`_KEY_PATH`,
/// mapped into the container root), answering `/health/alive`, `/rules` and `/version`.
const STAND_IN: &str = r#"#!/bin/sh
exec python3 -c '
import http.server, json, os, ssl
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/rules"):
            body = json.dumps([{"id": "spark:0:deny"}])
        elif self.path.startswith("/version"):
            body = json.dumps({"version": "stand-in"})
        else:
            body = json.dumps({"status": "ok"})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
cert = os.environ.get("SERVE_API_TLS_CERT_PATH")
if cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, os.environ["SERVE_API_TLS_KEY_PATH"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
'
"#;

/// The e2e path: a live Pebble runs the workload from the charm's own layer; once the
/// certificate arrives it serves https, Pebble's `alive` check passes over https (trusting
/// the CA bundle the charm completed, reaching the Service name through `resolve`), and the
/// actions reach it over https.
#[test]
fn a_live_workload_serves_https_and_its_alive_check_passes_over_https() {
    use harness::pebble::{FakePebble, LiveOptions, Mode};
    let dir = charm_dir();
    let scratch = tempfile::tempdir().unwrap();
    let program = scratch.path().join("oathkeeper-stand-in");
    std::fs::write(&program, STAND_IN).unwrap();
    std::fs::set_permissions(
        &program,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let port = free_port();
    let options = LiveOptions::default()
        .program("oathkeeper", &program)
        .env("PORT", port.to_string())
        .rewrite("http://localhost:4456", format!("http://127.0.0.1:{port}"))
        .resolve(&format!("{HOST}:4456"), format!("127.0.0.1:{port}"))
        .in_root(tls::TLS_DIR)
        .okay_delay(std::time::Duration::from_millis(300));
    let socket = scratch.path().join("containers/oathkeeper/pebble.socket");
    let pebble = FakePebble::start(&socket, our_image(), Mode::Live(options)).unwrap();
    let ctx = context(dir.path())
        .attach_pebble("oathkeeper", pebble.socket())
        .env(
            "OATHKEEPER_CHARM_API_URL",
            &format!("http://127.0.0.1:{port}"),
        );
    let run = |state: &State, event: &Event| {
        let out = ctx.run(state, event).unwrap();
        assert!(out.succeeded(), "{}: {}", event.name, out.stderr);
        out.state
    };
    let mut state = deployed(true);
    for hook in ["install", "leader-elected", "config-changed"] {
        state = run(&state, &Event::hook(hook));
    }
    state = run(&state, &Event::pebble_ready("oathkeeper"));
    let client = pebble.client();
    // Pebble's check, run now rather than every 10 s: it names `url_prefix` and passes.
    let check_passes = |url_prefix: &str| {
        let plan = client.plan().unwrap();
        let url = plan.checks["alive"]
            .http
            .as_ref()
            .unwrap()
            .url
            .clone()
            .unwrap();
        assert!(url.starts_with(url_prefix), "{url}");
        eventually(&format!("the alive check of {url} to pass"), || {
            client.refresh_check("alive").unwrap().is_none()
        });
        true
    };
    assert!(check_passes("http://localhost:4456"));

    let mut provider = CertificateProvider::new(PROVIDER);
    state = run(
        &state.relation(provider.relation(CERTS_ID)),
        &Event::relation("certificates", "joined", CERTS_ID).remote_unit(&format!("{PROVIDER}/0")),
    );
    provider.answer(&mut state, Validity::days(90)).unwrap();
    state = run(
        &state,
        &Event::relation("certificates", "changed", CERTS_ID),
    );
    assert!(check_passes(&format!("https://{HOST}:4456")));
    let key = pebble.root().join(tls::KEY_FILE.trim_start_matches('/'));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let out = ctx
        .run(&state, &Event::action("list-rules", Map::new()))
        .unwrap();
    assert_eq!(out.effects.action_failure, None, "{:#?}", out.effects);
    assert_eq!(
        Value::Object(out.effects.action_results),
        json!({"0": "spark:0:deny"})
    );

    // Broken: back to http, and the check follows.
    state = run(&state, &Event::relation("certificates", "broken", CERTS_ID));
    state.relations.retain(|r| r.id != CERTS_ID);
    assert!(check_passes("http://localhost:4456"));
    assert!(!key.exists());
    let _ = state;
}

#[test]
fn a_replaced_key_gets_a_new_request_and_an_unusable_one_a_new_revision() {
    let dir = charm_dir();
    let state = start(dir.path(), true, deployed(true));
    let mut provider = CertificateProvider::new(PROVIDER);
    let joined = relate(dir.path(), state, &provider).state;
    let mut served = answer(dir.path(), joined, &mut provider, Validity::days(90)).state;
    let first = published_request(&served);
    // Someone put garbage in the key's secret.
    let secret = served
        .secrets
        .iter_mut()
        .find(|s| s.label.as_deref() == Some(tls::KEY_SECRET_LABEL))
        .unwrap();
    let next = secret.latest() + 1;
    secret.revisions.insert(
        next,
        [(tls::KEY_SECRET_FIELD.to_owned(), "garbage".to_owned())].into(),
    );
    let out = run_ok(dir.path(), &served, &Event::hook("update-status"));
    let keys: Vec<_> = out
        .state
        .secrets
        .iter()
        .filter(|s| s.label.as_deref() == Some(tls::KEY_SECRET_LABEL))
        .collect();
    assert_eq!(keys.len(), 1, "the same secret, a new revision");
    let key = private_key(&out.state);
    let public = tls::public_key(&key).unwrap();
    let request = published_request(&out.state);
    assert_ne!(request, first);
    assert_eq!(tls::request_info(&request).unwrap().public_key, public);
    // The old certificate is for the old key: not served until the new one comes.
    assert_http(&out.state, true);
    let renewed = answer(dir.path(), out.state, &mut provider, Validity::days(90));
    assert_https(&renewed.state, &provider, true);
}

#[test]
fn upstreams_private_key_in_the_peer_unit_databag_is_removed() {
    let dir = charm_dir();
    let mut state = deployed(true);
    let peer = state
        .relations
        .iter_mut()
        .find(|r| r.endpoint == "oathkeeper")
        .unwrap();
    for key in ["private_key", "csr", "ca", "certificate", "chain"] {
        peer.local_unit_data
            .insert(key.to_owned(), format!("upstream {key}"));
    }
    let out = run_ok(dir.path(), &state, &Event::hook("upgrade-charm"));
    let bag = &out
        .state
        .relations
        .iter()
        .find(|r| r.endpoint == "oathkeeper")
        .unwrap()
        .local_unit_data;
    assert_eq!(
        bag,
        &harness::state::juju_unit_bag(),
        "Juju's own keys stay"
    );
    // Once clean, nothing more is written.
    let again = run_ok(dir.path(), &out.state, &Event::hook("update-status"));
    assert!(
        !again
            .effects
            .tool_calls
            .iter()
            .any(|c| c.tool == "relation-set")
    );
}

#[test]
fn two_units_each_get_their_own_certificate_from_one_provider() {
    let dir = charm_dir();
    let mut provider = CertificateProvider::new(PROVIDER);
    let leader = relate(
        dir.path(),
        start(dir.path(), true, deployed(true)),
        &provider,
    )
    .state;
    let other = relate(
        dir.path(),
        start(dir.path(), false, deployed(false).unit_id(1)),
        &provider,
    )
    .state;
    let (mut leader, mut other) = (leader, other);
    provider.answer(&mut leader, Validity::days(90)).unwrap();
    provider.answer(&mut other, Validity::days(90)).unwrap();
    // Both see the provider's whole databag: two certificates, one per unit's request.
    provider.write(&mut leader);
    provider.write(&mut other);
    assert_eq!(provider.issued().len(), 2);
    let leader = changed(dir.path(), &leader).state;
    let other = changed(dir.path(), &other).state;
    assert_https(&leader, &provider, true);
    assert_https(&other, &provider, false);
    let served = |state: &State| file(state, tls::CERT_FILE).unwrap().0;
    assert_ne!(served(&leader), served(&other), "each unit serves its own");
    assert_ne!(private_key(&leader), private_key(&other));
}
