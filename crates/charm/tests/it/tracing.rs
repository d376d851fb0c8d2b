//! `tracing` (Tempo) through the harness, in the wire format of the `tracing` libraries
//! (`tempo_coordinator_k8s` v0 and `tempo_k8s` v2 agree; spec/charm-parity.md §5.7 and the
//! Addendum): joined, answered, moved, invalid, broken; with our server (the config applies
//! live: no restart, no replan) and with Ory's (upstream's `TRACING_*` environment, applied by
//! a replan at once).
//!
//! The libraries write their databags with Python's `json.dumps`; the provider's answer here is
//! made by `$OPS_PYTHON` (else `python3`) the same way, and our request is compared with what
//! it makes of `["otlp_http"]` (the tempo libraries themselves are not available offline).
//!
//! Last, our server runs in the test with the config the charm rendered, exports to the
//! receiver Tempo announced, and follows it when it moves, in the same process.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use harness::live::{eventually, free_port};
use harness::pebble::File;
use harness::{Event, Outcome, Relation, State, Status};
use oathkeeper_core::config::{Config, NoEnv, Tracing, parse_config};

use crate::scrape::get;
use crate::support::{
    HttpStub, ORY_VERSION_OUTPUT, assert_changed_then_broken_write_nothing, charm_dir, config_map,
    deployed, relation_sets, run_ok, with_image,
};

const ID: u64 = 12;
const TEMPO_0: &str = "http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318";
const TEMPO_1: &str = "http://tempo-1.tempo-endpoints.cos.svc.cluster.local:4318";
/// The config file where the mounted ConfigMap puts it (Ory's server reads it there).
const CONFIG_FILE: &str = "/etc/config/oathkeeper/oathkeeper.yaml";

/// `script` run by the test's Python with `input` on stdin: its stdout.
fn python(script: &str, input: &str) -> String {
    let python = std::env::var("OPS_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python}: {e}; set OPS_PYTHON to a Python 3"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{python} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Tempo's `receivers`, as the library's `json.dumps` writes it: an `otlp_http` receiver at
/// `url`.
fn receivers(url: &str) -> String {
    let text = python(
        "import json, sys\nurl = sys.stdin.read()\n\
         print(json.dumps([{'protocol': {'name': 'otlp_http', 'type': 'http'}, 'url': url}]), end='')",
        url,
    );
    // spec §5.7's literal.
    assert_eq!(
        text,
        format!(r#"[{{"protocol": {{"name": "otlp_http", "type": "http"}}, "url": "{url}"}}]"#)
    );
    text
}

/// A unit whose workload runs (our image, or Ory's with `ory`), then related to Tempo, which
/// has written nothing yet.
fn started(dir: &Path, leader: bool, ory: bool) -> State {
    let mut state = deployed(leader);
    if ory {
        state = with_image(state, ORY_VERSION_OUTPUT);
        // The mounted ConfigMap shows in the container: kubelet's sync keeps it current.
        state
            .containers
            .get_mut("oathkeeper")
            .unwrap()
            .files
            .insert(CONFIG_FILE.to_owned(), File::Text(String::new()));
    }
    let state = run_ok(dir, &state, &Event::pebble_ready("oathkeeper")).state;
    let state = run_ok(dir, &state, &Event::hook("update-status")).state;
    state.relation(Relation::new("tracing", ID, "tempo"))
}

/// Tempo answers (or takes its answer back with `None`).
fn answer(state: &State, url: Option<&str>) -> State {
    let mut state = state.clone();
    let bag = &mut state.find_relation_mut(ID).unwrap().remote_app_data;
    bag.clear();
    if let Some(url) = url {
        bag.insert("receivers".to_owned(), receivers(url));
    }
    state
}

/// The config our server reads (the ConfigMap, watched through the API).
fn config(state: &State) -> Config {
    parse_config(
        &config_map(state, "oathkeeper-config")["oathkeeper.yaml"],
        &NoEnv,
    )
    .unwrap()
}

/// The config file as the container shows it.
fn config_file(state: &State) -> Config {
    match &state.containers["oathkeeper"].files[CONFIG_FILE] {
        File::Text(text) => parse_config(text, &NoEnv).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn assert_exports_to(tracing: &Tracing, host_port: &str) {
    assert_eq!(tracing.provider, "otel");
    let otlp = &tracing.providers.otlp;
    assert_eq!(otlp.server_url, host_port);
    assert!(otlp.insecure);
    assert_eq!(otlp.sampling.sampling_ratio, Some(1.0));
}

/// The service's environment in the plan.
fn service_env(state: &State) -> std::collections::BTreeMap<String, String> {
    state.containers["oathkeeper"].plan().services["oathkeeper"]
        .environment
        .clone()
}

/// The Pebble writes of a hook: layers added and service actions.
fn pebble_writes(outcome: &Outcome) -> Vec<String> {
    outcome.pebble_calls["oathkeeper"]
        .iter()
        .filter(|c| c.method == "POST" && (c.path == "/v1/layers" || c.path == "/v1/services"))
        .map(|c| format!("{} {}", c.path, c.body))
        .collect()
}

/// Whether a hook replanned or restarted the service.
fn restarted(outcome: &Outcome) -> bool {
    pebble_writes(outcome)
        .iter()
        .any(|w| w.starts_with("/v1/services"))
}

fn host_port(url: &str) -> &str {
    url.strip_prefix("http://").unwrap()
}

#[test]
fn joined_the_leader_requests_otlp_http_as_the_library_does_and_a_non_leader_writes_nothing() {
    let dir = charm_dir();
    let state = started(dir.path(), true, false);
    let joined = run_ok(
        dir.path(),
        &state,
        &Event::relation("tracing", "joined", ID),
    );
    let bag = &joined.state.find_relation(ID).unwrap().local_app_data;
    let expected = python("import json\nprint(json.dumps(['otlp_http']), end='')", "");
    assert_eq!(expected, r#"["otlp_http"]"#);
    assert_eq!(bag.len(), 1, "{bag:?}");
    assert_eq!(bag["receivers"], expected);
    // Nothing to export to yet: no tracing, no status.
    assert_eq!(config(&joined.state).tracing, Tracing::default());
    assert_eq!(joined.state.unit_status, Status::new("active", ""));
    assert!(!restarted(&joined));
    assert_changed_then_broken_write_nothing(dir.path(), &joined.state, "tracing", ID);

    let follower = started(dir.path(), false, false);
    let out = run_ok(
        dir.path(),
        &answer(&follower, Some(TEMPO_0)),
        &Event::relation("tracing", "joined", ID),
    );
    let relation = out.state.find_relation(ID).unwrap();
    assert!(relation.local_app_data.is_empty());
    assert_eq!(relation_sets(&out), 0);
    assert!(!restarted(&out));
}

#[test]
fn tempos_answer_configures_our_server_live_and_a_new_url_too_without_a_restart() {
    let dir = charm_dir();
    let joined = run_ok(
        dir.path(),
        &started(dir.path(), true, false),
        &Event::relation("tracing", "joined", ID),
    )
    .state;
    let env_before = service_env(&joined);

    let answered = run_ok(
        dir.path(),
        &answer(&joined, Some(TEMPO_0)),
        &Event::relation("tracing", "changed", ID),
    );
    assert_exports_to(&config(&answered.state).tracing, host_port(TEMPO_0));
    assert_eq!(answered.state.unit_status, Status::new("active", ""));
    // Our server reloads its config: no layer, no replan, no restart, no variable.
    assert_eq!(pebble_writes(&answered), Vec::<String>::new());
    assert_eq!(service_env(&answered.state), env_before);

    let again = run_ok(
        dir.path(),
        &answered.state,
        &Event::relation("tracing", "changed", ID),
    );
    assert_eq!(relation_sets(&again), 0);
    assert_eq!(pebble_writes(&again), Vec::<String>::new());
    assert_eq!(again.state.kubernetes, answered.state.kubernetes);

    let moved = run_ok(
        dir.path(),
        &answer(&again.state, Some(TEMPO_1)),
        &Event::relation("tracing", "changed", ID),
    );
    assert_exports_to(&config(&moved.state).tracing, host_port(TEMPO_1));
    assert_eq!(pebble_writes(&moved), Vec::<String>::new());

    // Tempo takes its answer back: nothing refers to it any more.
    let withdrawn = run_ok(
        dir.path(),
        &answer(&moved.state, None),
        &Event::relation("tracing", "changed", ID),
    );
    assert_eq!(config(&withdrawn.state).tracing, Tracing::default());
    assert_eq!(pebble_writes(&withdrawn), Vec::<String>::new());

    let broken = run_ok(
        dir.path(),
        &moved.state,
        &Event::relation("tracing", "broken", ID),
    );
    assert!(broken.state.find_relation(ID).is_none());
    assert_eq!(config(&broken.state).tracing, Tracing::default());
    let text = &config_map(&broken.state, "oathkeeper-config")["oathkeeper.yaml"];
    assert!(!text.contains("tempo"), "{text}");
    assert_eq!(pebble_writes(&broken), Vec::<String>::new());
    assert_eq!(broken.state.unit_status, Status::new("active", ""));
}

#[test]
fn with_orys_server_upstreams_variables_are_set_and_the_service_restarted_at_once() {
    let dir = charm_dir();
    let joined = run_ok(
        dir.path(),
        &started(dir.path(), true, true),
        &Event::relation("tracing", "joined", ID),
    )
    .state;
    assert!(
        service_env(&joined).is_empty(),
        "{:?}",
        service_env(&joined)
    );

    let answered = run_ok(
        dir.path(),
        &answer(&joined, Some(TEMPO_0)),
        &Event::relation("tracing", "changed", ID),
    );
    let env = service_env(&answered.state);
    let expected: std::collections::BTreeMap<String, String> = [
        ("TRACING_ENABLED", "true"),
        ("TRACING_PROVIDER", "otel"),
        ("TRACING_PROVIDERS_OTLP_SERVER_URL", host_port(TEMPO_0)),
        ("TRACING_PROVIDERS_OTLP_INSECURE", "true"),
        ("TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(env, expected);
    let writes = pebble_writes(&answered);
    assert_eq!(writes.len(), 2, "{writes:#?}");
    assert!(writes[1].contains("replan"), "{writes:#?}");
    // The mounted file says the same (Ory reads it at start too).
    assert_exports_to(&config_file(&answered.state).tracing, host_port(TEMPO_0));
    assert_eq!(
        answered.state.unit_status.message,
        "running Ory Oathkeeper v0.40.6; refresh the oci-image resource for live rule updates"
    );

    let moved = run_ok(
        dir.path(),
        &answer(&answered.state, Some(TEMPO_1)),
        &Event::relation("tracing", "changed", ID),
    );
    assert_eq!(
        service_env(&moved.state)["TRACING_PROVIDERS_OTLP_SERVER_URL"],
        host_port(TEMPO_1)
    );
    assert!(restarted(&moved));

    let broken = run_ok(
        dir.path(),
        &moved.state,
        &Event::relation("tracing", "broken", ID),
    );
    assert!(service_env(&broken.state).is_empty());
    assert!(restarted(&broken));
    assert_eq!(config_file(&broken.state).tracing, Tracing::default());
}

#[test]
fn invalid_tempo_data_configures_nothing_and_blocks_naming_app_and_field() {
    let dir = charm_dir();
    for ory in [false, true] {
        let mut state = started(dir.path(), true, ory);
        state.find_relation_mut(ID).unwrap().remote_app_data.insert(
            "receivers".to_owned(),
            receivers("http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318/v1/traces"),
        );
        let out = run_ok(
            dir.path(),
            &state,
            &Event::relation("tracing", "changed", ID),
        );
        assert_eq!(
            out.state.unit_status,
            Status::new(
                "blocked",
                r#"Invalid tracing data from tempo: receivers: the otlp_http URL "http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318/v1/traces" has a path, query or fragment (the receiver is the URL's root)"#
            ),
            "ory {ory}"
        );
        assert_eq!(config(&out.state).tracing, Tracing::default());
        assert!(service_env(&out.state).is_empty());
        assert!(!restarted(&out), "ory {ory}");
        // The status is logged, as every status change.
        assert!(
            out.effects
                .juju_log
                .iter()
                .any(|line| line.message.contains("Invalid tracing data from tempo")),
            "{:#?}",
            out.effects.juju_log
        );
        // Fixed: configured, and active again.
        let fixed = run_ok(
            dir.path(),
            &answer(&out.state, Some(TEMPO_0)),
            &Event::relation("tracing", "changed", ID),
        );
        assert_eq!(fixed.state.unit_status.name, "active");
        assert_exports_to(&config(&fixed.state).tracing, host_port(TEMPO_0));
    }
}

/// An OTLP/HTTP receiver on 127.0.0.1: counts the requests to `/v1/traces`.
fn receiver() -> (HttpStub, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let stub = HttpStub::start(move |target| {
        if target == "/v1/traces" {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        (200, "{}".to_owned())
    });
    (stub, hits)
}

/// The config the charm rendered in `state`, with the listeners on 127.0.0.1 and the rules
/// read from `rules` (the test has no Kubernetes API for the server).
fn local_config(state: &State, ports: (u16, u16, u16), rules: &Path) -> String {
    let mut config = config(state);
    config.serve.api.host = "127.0.0.1".into();
    config.serve.api.port = Some(ports.0);
    config.serve.proxy.host = "127.0.0.1".into();
    config.serve.proxy.port = Some(ports.1);
    config.serve.prometheus.host = "127.0.0.1".into();
    config.serve.prometheus.port = ports.2;
    config.access_rules.repositories = vec![format!("file://{}", rules.display())];
    config.to_yaml()
}

/// Decisions on our server's API until `hits` grows.
fn decide_until_exported(api: u16, hits: &AtomicUsize, what: &str) {
    let headers = "X-Forwarded-Method: GET\r\nX-Forwarded-Proto: http\r\n\
                   X-Forwarded-Host: app.example.com\r\nX-Forwarded-Uri: /x\r\n";
    let before = hits.load(Ordering::SeqCst);
    eventually(what, || {
        let (status, _) = get(api, "/decisions", headers).unwrap_or_default();
        assert!(status.is_empty() || status.contains(" 200 "), "{status}");
        hits.load(Ordering::SeqCst) > before
    });
}

#[test]
fn our_server_as_the_charm_configures_it_exports_to_tempo_and_follows_a_move_live() {
    let dir = charm_dir();
    let (tempo_0, hits_0) = receiver();
    let (tempo_1, hits_1) = receiver();
    let url = |stub: &HttpStub| format!("http://127.0.0.1:{}", stub.port());
    let joined = run_ok(
        dir.path(),
        &started(dir.path(), true, false),
        &Event::relation("tracing", "joined", ID),
    )
    .state;
    let answered = run_ok(
        dir.path(),
        &answer(&joined, Some(&url(&tempo_0))),
        &Event::relation("tracing", "changed", ID),
    )
    .state;

    let scratch = tempfile::tempdir().unwrap();
    let rules = scratch.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"[{"id": "a", "match": {"url": "http://app.example.com/<.*>", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}]}]"#,
    )
    .unwrap();
    let ports = (free_port(), free_port(), free_port());
    let config_file = scratch.path().join("oathkeeper.yaml");
    std::fs::write(&config_file, local_config(&answered, ports, &rules)).unwrap();
    let server_file = config_file.clone();
    // One server process for the whole test: a restart would be a new one.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(oathkeeper::serve::run(
            oathkeeper::settings::ConfigSource::File(server_file),
            Box::new(NoEnv),
        ));
        eprintln!("server stopped: {result:?}");
    });
    let api = ports.0;
    eventually("the API", || get(api, "/health/ready", "").is_some());
    decide_until_exported(api, &hits_0, "spans at tempo-0's receiver");
    assert_eq!(hits_1.load(Ordering::SeqCst), 0);

    // Tempo moves: the charm renders the new receiver and the running server follows it.
    let moved = run_ok(
        dir.path(),
        &answer(&answered, Some(&url(&tempo_1))),
        &Event::relation("tracing", "changed", ID),
    );
    assert_eq!(pebble_writes(&moved), Vec::<String>::new());
    std::fs::write(&config_file, local_config(&moved.state, ports, &rules)).unwrap();
    decide_until_exported(api, &hits_1, "spans at tempo-1's receiver");
}
