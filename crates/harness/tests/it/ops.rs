//! Fidelity against the real client: a charm written with Python `ops` (from PyPI) runs under
//! the harness and sees its config, relation data and leadership as ops expects; what it
//! writes through ops lands in the output State.
//!
//! The interpreter is `$OPS_PYTHON` (`./test.sh` creates a venv with ops), else `python3`.

use std::path::Path;
use std::process::Command;

use harness::{Event, Relation, State, Status};

use crate::support::{context, greet, write_dispatch};
use serde_json::{Value, json};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ops-charm");

fn python() -> String {
    let python = std::env::var("OPS_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python)
        .args(["-c", "import ops"])
        .output()
        .unwrap_or_else(|error| panic!("cannot run {python}: {error}"));
    assert!(
        probe.status.success(),
        "{python} cannot import ops: install it (`pip install ops==3.9.0`; ./test.sh does) \
         or point OPS_PYTHON at an interpreter that has it"
    );
    python
}

/// The fixture copied to a scratch directory (ops keeps its state database in the charm
/// directory), with a dispatch like charmcraft's that execs the given interpreter.
fn ops_charm() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new(FIXTURE), dir.path());
    write_dispatch(
        dir.path(),
        &format!(
            "#!/bin/sh\nJUJU_DISPATCH_PATH=\"${{JUJU_DISPATCH_PATH:-$0}}\" PYTHONPATH=lib:venv \\\n  exec {} ./src/charm.py\n",
            python()
        ),
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn assert_no_tool_failed(outcome: &harness::Outcome) {
    let failed: Vec<_> = outcome
        .effects
        .tool_calls
        .iter()
        .filter(|call| call.code != 0)
        .collect();
    assert!(failed.is_empty(), "tool calls failed: {failed:#?}");
}

#[test]
fn ops_reads_config_sets_statuses_version_and_ports() {
    let dir = ops_charm();
    let state = State::default().leader(true).config("port", 9090);
    let outcome = context(dir.path())
        .run(&state, &Event::hook("config-changed"))
        .unwrap();
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    assert_no_tool_failed(&outcome);
    assert_eq!(
        outcome.state.unit_status,
        Status::new("active", "hello on 9090")
    );
    assert_eq!(outcome.state.app_status, Status::new("active", "leading"));
    assert_eq!(outcome.state.workload_version, "1.0");
    assert_eq!(outcome.state.opened_ports, ["9090/tcp"]);
    assert!(
        outcome
            .effects
            .juju_log
            .iter()
            .any(|line| line.level == "INFO" && line.message == "configured hello on 9090"),
        "{:#?}",
        outcome.effects.juju_log
    );
}

fn db_state(leader: bool) -> State {
    State::default()
        .leader(leader)
        .relation(
            Relation::new("db", 4, "pg")
                .remote_app_data([("host", "pg.local")])
                .remote_unit(0, [("user", "alice")]),
        )
        .relation(Relation {
            remote_units: [(1, Default::default()), (2, Default::default())].into(),
            ..Relation::new("replicas", 1, "probe")
        })
}

#[test]
fn ops_sees_relation_data_units_and_peers_and_writes_its_bags() {
    let dir = ops_charm();
    let event = Event::relation("db", "changed", 4).remote_unit("pg/0");
    let outcome = context(dir.path()).run(&db_state(true), &event).unwrap();
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    assert_no_tool_failed(&outcome);
    let relation = outcome.state.find_relation(4).unwrap();
    assert_eq!(relation.local_unit_data["seen"], "pg.local/alice");
    assert_eq!(relation.local_app_data["database"], "app-db");
    assert_eq!(
        outcome.state.unit_status,
        Status::new("waiting", "peers: ['probe/1', 'probe/2']; db units: 1")
    );
}

#[test]
fn ops_refuses_a_non_leader_app_write_and_nothing_lands() {
    let dir = ops_charm();
    let event = Event::relation("replicas", "changed", 1).remote_unit("probe/1");
    let outcome = context(dir.path()).run(&db_state(false), &event).unwrap();
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    assert_eq!(
        outcome.state.unit_status,
        Status::new("blocked", "refused: RelationDataAccessError")
    );
    assert!(
        outcome
            .state
            .find_relation(1)
            .unwrap()
            .local_app_data
            .is_empty()
    );
    let outcome = context(dir.path()).run(&db_state(true), &event).unwrap();
    assert_eq!(
        outcome.state.find_relation(1).unwrap().local_app_data["leader-says"],
        "hi"
    );
}

#[test]
fn ops_actions_get_params_log_results_and_failures() {
    let dir = ops_charm();
    let outcome = greet(dir.path(), "ana");
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    assert_no_tool_failed(&outcome);
    assert_eq!(
        Value::Object(outcome.effects.action_results.clone()),
        json!({"greeting": {"text": "hello ana"}})
    );
    assert_eq!(outcome.effects.action_logs, ["greeting ana"]);
    let outcome = greet(dir.path(), "nobody");
    assert_eq!(
        outcome.effects.action_failure.as_deref(),
        Some("no one to greet")
    );
}

#[test]
fn ops_pushes_files_adds_a_layer_replans_and_reads_back_through_the_fake_pebble() {
    let dir = ops_charm();
    let state = State::default().container("web", harness::pebble::ContainerState::default());
    let outcome = context(dir.path())
        .run(&state, &Event::pebble_ready("web"))
        .unwrap();
    assert!(outcome.succeeded(), "{:#?}", outcome.effects.juju_log);
    assert_no_tool_failed(&outcome);
    assert_eq!(
        outcome.state.unit_status,
        Status::new("active", "web running=True port=8080")
    );
    let container = &outcome.state.containers["web"];
    assert_eq!(
        container.plan().services["web"].command.as_deref(),
        Some("/bin/web --port 8080")
    );
    assert_eq!(container.service_statuses["web"].as_str(), "active");
    let pushed = match container
        .files
        .get("/etc/web/config.txt")
        .expect("the pushed file")
    {
        harness::pebble::File::Text(text) => text.clone(),
        harness::pebble::File::Detailed(spec) => spec.content.clone().unwrap_or_default(),
    };
    assert_eq!(pushed, "port=8080\n");
    let calls: Vec<String> = outcome.pebble_calls["web"]
        .iter()
        .map(|call| format!("{} {}", call.method, call.path))
        .collect();
    assert!(calls.iter().any(|c| c == "POST /v1/layers"), "{calls:?}");
}

#[test]
fn ops_sees_an_unreachable_container_as_not_connectable() {
    let dir = ops_charm();
    let container = harness::pebble::ContainerState {
        can_connect: false,
        ..Default::default()
    };
    let state = State::default().container("web", container);
    let outcome = context(dir.path())
        .run(&state, &Event::pebble_ready("web"))
        .unwrap();
    // ops raises on a push to a container it cannot reach: the hook fails, as on Juju.
    assert!(!outcome.succeeded());
    let crash = outcome
        .effects
        .juju_log
        .iter()
        .find(|line| line.level == "ERROR")
        .map(|line| line.message.as_str())
        .unwrap_or_default();
    assert!(crash.contains("ops.pebble.ConnectionError"), "{crash}");
}

const POD_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ops-pod-charm");

/// The pod fixture (lightkube, `socket.getfqdn()`), unmodified, with charmcraft's dispatch.
fn pod_charm() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new(POD_FIXTURE), dir.path());
    let python = python();
    let probe = Command::new(&python)
        .args(["-c", "import lightkube"])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{python} cannot import lightkube: `pip install lightkube==0.17.2` (./test.sh does)"
    );
    write_dispatch(
        dir.path(),
        &format!(
            "#!/bin/sh\nJUJU_DISPATCH_PATH=\"${{JUJU_DISPATCH_PATH:-$0}}\" PYTHONPATH=lib:venv \\\n  exec {python} ./src/charm.py\n"
        ),
    );
    dir
}

fn shop_state() -> State {
    let mut state = State::default().unit_id(2);
    state.model.name = "shop".to_owned();
    state.kubernetes = harness::k8s::KubernetesState::default()
        .trusted(true)
        .with_config_map("settings", &[("mode", "fast")]);
    state
}

#[test]
fn an_unmodified_ops_charm_uses_lightkubes_in_cluster_config_and_sees_its_pods_fqdn() {
    let dir = pod_charm();
    let namespaced = harness::pod::namespaces_available();
    // In the pod's namespaces only the in-cluster config can reach the API: no kubeconfig.
    let mut ctx = context(dir.path());
    if namespaced {
        ctx = ctx.env("KUBECONFIG", "/nonexistent/kubeconfig");
    }
    let outcome = ctx
        .run(&shop_state(), &Event::hook("config-changed"))
        .unwrap();
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    assert_no_tool_failed(&outcome);
    let server = outcome
        .effects
        .juju_log
        .iter()
        .find_map(|line| line.message.strip_prefix("namespace shop, server "))
        .unwrap_or_else(|| panic!("{:#?}", outcome.effects.juju_log));
    let reads: Vec<_> = outcome
        .kubernetes_requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        reads
            .iter()
            .any(|r| r == "GET /api/v1/namespaces/shop/configmaps/settings"),
        "{reads:?}"
    );
    if namespaced {
        assert!(server.starts_with("https://127.0.0.1:"), "{server}");
        assert_eq!(
            outcome.state.unit_status,
            Status::new(
                "active",
                "host=podprobe-2 fqdn=podprobe-2.podprobe-endpoints.shop.svc.cluster.local \
                 namespace=shop mode=fast"
            )
        );
    } else {
        // Without namespaces lightkube falls back to $KUBECONFIG, as outside a cluster.
        assert!(server.starts_with("http://127.0.0.1:"), "{server}");
        eprintln!("no mount/UTS namespaces here: hostname and in-cluster files not checked");
    }
}

#[test]
fn an_ops_charm_that_deletes_jujus_unit_keys_finds_them_deleted_in_the_next_hook() {
    let dir = pod_charm();
    let state = shop_state().relation(Relation::new("db", 3, "pg"));
    let event = Event::relation("db", "changed", 3).remote_unit("pg/0");
    let first = context(dir.path()).run(&state, &event).unwrap();
    assert!(first.succeeded(), "{}", first.stderr);
    assert_eq!(
        first.state.unit_status,
        Status::new(
            "waiting",
            "bag had ['egress-subnets', 'ingress-address', 'private-address']"
        )
    );
    let bag = &first.state.find_relation(3).unwrap().local_unit_data;
    assert_eq!(*bag, [("owner".to_owned(), "podprobe".to_owned())].into());
    let second = context(dir.path()).run(&first.state, &event).unwrap();
    assert!(second.succeeded(), "{}", second.stderr);
    assert_eq!(
        second.state.unit_status,
        Status::new("waiting", "bag had ['owner']")
    );
}
