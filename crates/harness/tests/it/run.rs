//! A shell-script charm run through the real `fake-hook-tool` binary and agent socket: the
//! environment Juju sets, tool calls over the socket, the transaction rule, actions, the CLI.

use harness::event::ActionCall;
use harness::{Event, Relation, State, Status};

use crate::support::{assert_succeeded, context, greet, harness_cli, write_dispatch};
use serde_json::{Map, Value, json};

const METADATA: &str = "name: demo
containers: {web: {resource: img}}
provides: {api: {interface: http}}
requires: {db: {interface: pg, limit: 1}}
";
const CONFIG: &str = "options:\n  greeting: {type: string, default: hello}\n";
const ACTIONS: &str = "greet: {params: {name: {type: string}}, required: [name]}\n";

/// A charm whose dispatch is a shell script using the hook tools as any charm would.
const DISPATCH: &str = r#"#!/bin/sh
set -e
case "$JUJU_DISPATCH_PATH" in
hooks/install)
    env | grep -E '^(JUJU_|CHARM_DIR)' | sort > env.txt
    juju-log --log-level INFO -- "installing $JUJU_UNIT_NAME"
    status-set --application=False maintenance -- installing
    status-set --application=False active
    ;;
hooks/db-relation-changed)
    host=$(relation-get --format=json --app - | sed 's/.*"host":"\([^"]*\)".*/\1/')
    greeting=$(config-get greeting)
    relation-set -r "$JUJU_RELATION_ID" --file - <<JSON
{"seen-host": "$host", "greeting": "$greeting", "remote-unit": "$JUJU_REMOTE_UNIT"}
JSON
    if [ "$(is-leader --format=json)" = "true" ]; then
        relation-set -r "$JUJU_RELATION_ID" --app database=app-db
    fi
    ;;
hooks/config-changed)
    relation-set -r db:1 --app lost=yes
    open-port 8080/tcp
    status-set --application=False blocked -- "failing on purpose"
    exit 3
    ;;
actions/greet)
    name=$(action-get name)
    action-log -- "greeting $name"
    action-set greeting.text="$(config-get greeting) $name" greeting.len=2
    ;;
esac
"#;

fn charm_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_charm(dir.path());
    dir
}

/// Writes the test charm (metadata, config, actions, dispatch) into `dir`.
fn write_charm(dir: &std::path::Path) {
    std::fs::write(dir.join("metadata.yaml"), METADATA).unwrap();
    std::fs::write(dir.join("config.yaml"), CONFIG).unwrap();
    std::fs::write(dir.join("actions.yaml"), ACTIONS).unwrap();
    write_dispatch(dir, DISPATCH);
}

fn db_state() -> State {
    State::default()
        .leader(true)
        .relation(Relation::new("db", 1, "pg").remote_app_data([("host", "pg.local")]))
}

#[test]
fn install_sees_jujus_environment_and_sets_statuses_in_order() {
    let dir = charm_dir();
    let outcome = context(dir.path())
        .run(&State::default().unit_id(3), &Event::hook("install"))
        .unwrap();
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    for line in [
        "JUJU_DISPATCH_PATH=hooks/install",
        "JUJU_HOOK_NAME=install",
        "JUJU_UNIT_NAME=demo/3",
        "JUJU_MODEL_NAME=test-model",
        "JUJU_VERSION=3.6.8",
        "JUJU_AGENT_SOCKET_NETWORK=unix",
        &format!("JUJU_CHARM_DIR={}", dir.path().display()),
    ] {
        assert!(env.lines().any(|l| l == line), "missing {line} in\n{env}");
    }
    assert_eq!(
        outcome.effects.unit_status_history,
        [
            Status::new("maintenance", "installing"),
            Status::new("active", "")
        ]
    );
    assert_eq!(outcome.state.unit_status, Status::new("active", ""));
    assert_eq!(outcome.effects.juju_log[0].message, "installing demo/3");
}

#[test]
fn relation_changed_reads_remote_data_and_writes_ours_on_success() {
    let dir = charm_dir();
    let event = Event::relation("db", "changed", 1);
    let outcome = context(dir.path()).run(&db_state(), &event).unwrap();
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    let relation = outcome.state.find_relation(1).unwrap();
    assert_eq!(relation.local_unit_data["seen-host"], "pg.local");
    assert_eq!(relation.local_unit_data["greeting"], "hello");
    assert_eq!(relation.local_unit_data["remote-unit"], "pg/0");
    assert_eq!(relation.local_app_data["database"], "app-db");
    let set = outcome
        .effects
        .tool_calls
        .iter()
        .find(|call| call.tool == "relation-set")
        .unwrap();
    assert_eq!(set.args, ["-r", "db:1", "--file", "-"]);
    assert!(
        set.stdin
            .as_deref()
            .unwrap()
            .contains("\"seen-host\": \"pg.local\"")
    );
}

#[test]
fn a_failing_hook_loses_buffered_writes_but_keeps_its_status() {
    let dir = charm_dir();
    let outcome = context(dir.path())
        .run(&db_state(), &Event::hook("config-changed"))
        .unwrap();
    assert_eq!(outcome.exit_code, 3);
    assert!(
        outcome
            .state
            .find_relation(1)
            .unwrap()
            .local_app_data
            .is_empty()
    );
    assert!(outcome.state.opened_ports.is_empty());
    assert_eq!(
        outcome.state.unit_status,
        Status::new("blocked", "failing on purpose")
    );
}

#[test]
fn an_action_gets_its_params_and_reports_nested_results() {
    let dir = charm_dir();
    let outcome = greet(dir.path(), "ana");
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    assert_eq!(
        Value::Object(outcome.effects.action_results.clone()),
        json!({"greeting": {"text": "hello ana", "len": "2"}})
    );
    assert_eq!(outcome.effects.action_logs, ["greeting ana"]);
}

#[test]
fn impossible_inputs_are_rejected_before_the_charm_runs() {
    let dir = charm_dir();
    let ctx = context(dir.path());
    let unknown_endpoint = State::default().relation(Relation::new("cache", 4, "redis"));
    let error = ctx
        .run(&unknown_endpoint, &Event::hook("install"))
        .unwrap_err();
    assert!(error.to_string().contains("endpoint \"cache\""), "{error}");
    let error = ctx
        .run(
            &State::default().config("greeting", 5),
            &Event::hook("install"),
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("must be of type string"),
        "{error}"
    );
    let error = ctx
        .run(&State::default(), &Event::action("greet", Map::new()))
        .unwrap_err();
    assert!(
        error.to_string().contains("needs parameter \"name\""),
        "{error}"
    );
    let error = ctx
        .run(&State::default(), &Event::relation("db", "changed", 9))
        .unwrap_err();
    assert!(
        error.to_string().contains("relation 9 is not in the state"),
        "{error}"
    );
    let error = ctx
        .run(&State::default(), &Event::hook("leader-elected"))
        .unwrap_err();
    assert!(error.to_string().contains("leader"), "{error}");
    let _ = ActionCall::default();
    let nobody = State::default().relation(Relation {
        remote_units: Default::default(),
        ..Relation::new("db", 1, "pg")
    });
    let error = ctx
        .run(&nobody, &Event::relation("db", "joined", 1))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("db-relation-joined cannot happen without a remote unit"),
        "{error}"
    );
    let two = State::default().relation(Relation {
        remote_units: [(0, Default::default()), (1, Default::default())].into(),
        ..Relation::new("db", 1, "pg")
    });
    let error = ctx
        .run(&two, &Event::relation("db", "departed", 1))
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("without a remote unit"), "{text}");
    assert!(text.contains("without a departing unit"), "{text}");
    let error = ctx
        .run(
            &two,
            &Event::relation("db", "broken", 1).remote_unit("pg/0"),
        )
        .unwrap_err();
    assert!(error.to_string().contains("has no remote unit"), "{error}");
    // Named, they run.
    for event in [
        Event::relation("db", "joined", 1).remote_unit("pg/1"),
        Event::relation("db", "departed", 1)
            .remote_unit("pg/1")
            .departing_unit("pg/1"),
    ] {
        let outcome = ctx.run(&two, &event).unwrap();
        assert!(outcome.succeeded(), "{}", outcome.stderr);
    }
}

#[test]
fn the_cli_writes_the_output_state_and_prints_the_log() {
    let dir = charm_dir();
    let scratch = tempfile::tempdir().unwrap();
    let input = scratch.path().join("in.json");
    std::fs::write(&input, serde_json::to_string(&db_state()).unwrap()).unwrap();
    let out = scratch.path().join("out.json");
    let result = harness_cli()
        .args(["run", "--charm-dir"])
        .arg(dir.path())
        .arg("--state")
        .arg(&input)
        .args(["--event", "db-relation-changed", "--relation", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_succeeded(&result);
    let log: Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(log["exit_code"], json!(0));
    let state: State = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        state.find_relation(1).unwrap().local_app_data["database"],
        "app-db"
    );
}

#[test]
fn the_cli_takes_a_relative_charm_dir_env_and_timeout() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("demo");
    std::fs::create_dir(&dir).unwrap();
    write_charm(&dir);
    let cli = || {
        let mut command = harness_cli();
        command.current_dir(parent.path());
        command
    };
    let result = cli()
        .args(["run", "--charm-dir", "demo", "--event", "install"])
        .args(["--env", "JUJU_EXTRA=a=b", "--env", "JUJU_DEBUG=1"])
        .args(["--timeout", "30s"])
        .output()
        .unwrap();
    assert_succeeded(&result);
    let env = std::fs::read_to_string(dir.join("env.txt")).unwrap();
    for line in [
        "JUJU_EXTRA=a=b",
        "JUJU_DEBUG=1",
        &format!("JUJU_CHARM_DIR={}", dir.display()),
    ] {
        assert!(env.lines().any(|l| l == line), "missing {line} in\n{env}");
    }
    // A missing directory is reported once, with the path.
    let result = cli()
        .args(["run", "--charm-dir", "nowhere", "--event", "install"])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("nowhere"), "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 0, "{stderr}");
    let result = cli()
        .args(["run", "--charm-dir", "demo", "--event", "install"])
        .args(["--timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    // A hook past its timeout is killed.
    write_dispatch(&dir, "#!/bin/sh\nexec sleep 30\n");
    let result = cli()
        .args(["run", "--charm-dir", "demo", "--event", "install"])
        .args(["--timeout", "300ms"])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&result.stdout).unwrap();
    assert!(
        log["stderr"].as_str().unwrap().contains("timeout"),
        "{log:#}"
    );
}

#[test]
fn pack_dir_assembles_a_charm_directory_the_cli_runs() {
    let source = charm_dir();
    let binary = source.path().join("dispatch");
    std::fs::remove_file(source.path().join("actions.yaml")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("packed");
    let cli = harness_cli;
    let result = cli()
        .args(["pack-dir", "--from"])
        .arg(source.path())
        .arg("--dispatch")
        .arg(&binary)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_succeeded(&result);
    assert!(out.join("metadata.yaml").is_file() && out.join("config.yaml").is_file());
    assert!(!out.join("actions.yaml").exists());
    assert_eq!(std::fs::read_link(out.join("dispatch")).unwrap(), binary);
    let result = cli()
        .args(["run", "--event", "install", "--charm-dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert_succeeded(&result);
    let result = cli()
        .args(["pack-dir", "--from"])
        .arg(scratch.path())
        .arg("--dispatch")
        .arg(&binary)
        .arg("--out")
        .arg(scratch.path().join("empty"))
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&result.stderr).contains("no metadata.yaml"));
}

#[test]
fn kubernetes_objects_without_a_namespace_live_in_the_models() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metadata.yaml"), METADATA).unwrap();
    write_dispatch(
        dir.path(),
        "#!/bin/sh\nset -e\nkubectl --kubeconfig \"$KUBECONFIG\" get configmap settings -o jsonpath='{.data.mode}' > seen.txt\n",
    );
    let mut state = State::default();
    state.model.name = "shop".to_owned();
    state.kubernetes = harness::k8s::KubernetesState::default()
        .trusted(true)
        .with_config_map("settings", &[("mode", "fast")]);
    let outcome = context(dir.path())
        .run(&state, &Event::hook("install"))
        .unwrap();
    assert!(outcome.succeeded(), "{}", outcome.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("seen.txt")).unwrap(),
        "fast"
    );
    assert_eq!(outcome.state.kubernetes.namespace, "shop");
}

#[test]
fn the_cli_gives_a_recorded_state_a_workload_identity_with_exec() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("demo");
    std::fs::create_dir(&dir).unwrap();
    write_charm(&dir);
    // A State recorded elsewhere: the container answers `app version` with an old identity.
    let recorded = parent.path().join("recorded.json");
    std::fs::write(
        &recorded,
        r#"{"containers": {"web": {"execs": [
            {"command_prefix": ["app", "version"], "stdout": "old\n"},
            {"command_prefix": ["app", "rules"], "stdout": "[]"}]}}}"#,
    )
    .unwrap();
    let out = parent.path().join("out.json");
    let cli = |exec: &str| {
        harness_cli()
            .args(["run", "--charm-dir"])
            .arg(&dir)
            .arg("--state")
            .arg(&recorded)
            .args(["--event", "upgrade-charm", "--exec", exec, "--out"])
            .arg(&out)
            .output()
            .unwrap()
    };
    let result = cli(r#"web={"command_prefix": ["app", "version"], "stdout": "Version: 2\n"}"#);
    assert_succeeded(&result);
    let state: State = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let execs = &state.containers["web"].execs;
    assert_eq!(execs.len(), 2, "{execs:?}");
    let version = execs
        .iter()
        .find(|e| e.command_prefix == ["app", "version"])
        .unwrap();
    assert_eq!(version.stdout, "Version: 2\n");
    // A container the State does not have, or text that is not an exec, is refused.
    let result = cli(r#"db={"command_prefix": ["x"]}"#);
    assert_eq!(result.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&result.stderr).contains("\"db\""));
    let result = cli("web=[1]");
    assert_eq!(result.status.code(), Some(2));
}
