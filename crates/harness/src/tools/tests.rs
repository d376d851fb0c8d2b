//! Every tool's happy path, and every error text and exit code of spec §2.3, in process.

use serde_json::{Map, Value, json};

use super::*;
use crate::charm::Charm;
use crate::event::Event;
use crate::state::{Relation, State, Status};

const METADATA: &str = "name: demo
containers: {web: {resource: img}}
provides: {api: {interface: http}}
requires: {db: {interface: pg}}
peers: {replicas: {interface: demo_peers}}
";
const CONFIG: &str = "options:
  port: {type: int, default: 8080}
  name: {type: string}
";
const ACTIONS: &str = "list: {params: {limit: {type: integer, default: 10}}}\n";

fn charm() -> Charm {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metadata.yaml"), METADATA).unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    std::fs::write(dir.path().join("actions.yaml"), ACTIONS).unwrap();
    Charm::load(dir.path()).unwrap()
}

fn state() -> State {
    State::default()
        .relation(
            Relation::new("db", 7, "pg")
                .remote_app_data([("host", "pg.local")])
                .remote_unit(0, [("user", "u0")]),
        )
        .relation(Relation {
            remote_units: [(1, [("k".to_owned(), "v".to_owned())].into())].into(),
            ..Relation::new("replicas", 2, "demo")
        })
}

fn session(state: State, event: Event) -> Session {
    Session::new(charm(), event, state)
}

fn call(session: &mut Session, tool: &str, args: &[&str]) -> Reply {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    run(session, tool, &args, None)
}

fn call_stdin(session: &mut Session, tool: &str, args: &[&str], stdin: &str) -> Reply {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    run(session, tool, &args, Some(stdin.as_bytes()))
}

fn json_out(reply: &Reply) -> Value {
    assert_eq!(reply.code, 0, "{reply:?}");
    serde_json::from_str(&reply.stdout).unwrap()
}

fn error(reply: &Reply, code: i32, message: &str) {
    assert_eq!(
        (reply.code, reply.stderr.as_str(), reply.stdout.as_str()),
        (code, format!("ERROR {message}\n").as_str(), ""),
        "{reply:?}"
    );
}

#[test]
fn is_leader_prints_json_bool() {
    let mut s = session(state().leader(true), Event::hook("install"));
    assert_eq!(
        call(&mut s, "is-leader", &["--format=json"]).stdout,
        "true\n"
    );
    let mut s = session(state(), Event::hook("install"));
    assert_eq!(
        call(&mut s, "is-leader", &["--format=json"]).stdout,
        "false\n"
    );
    assert_eq!(call(&mut s, "is-leader", &[]).stdout, "False\n");
}

#[test]
fn config_get_merges_defaults_and_set_values() {
    let mut s = session(state().config("name", "x"), Event::hook("config-changed"));
    assert_eq!(
        json_out(&call(&mut s, "config-get", &["--format=json"])),
        json!({"port": 8080, "name": "x"})
    );
    assert_eq!(
        json_out(&call(&mut s, "config-get", &["--format=json", "port"])),
        json!(8080)
    );
    assert_eq!(
        json_out(&call(&mut s, "config-get", &["--format=json", "nope"])),
        json!(null)
    );
    let mut s = session(state(), Event::hook("config-changed"));
    assert_eq!(
        json_out(&call(&mut s, "config-get", &["--format=json", "--all"])),
        json!({"port": 8080, "name": null})
    );
    error(
        &call(&mut s, "config-get", &["--all", "port"]),
        2,
        "cannot use argument --all together with key \"port\"",
    );
}

#[test]
fn relation_ids_lists_sorted_and_hides_the_broken_relation() {
    let with_two = state().relation(Relation::new("db", 3, "pg2"));
    let mut s = session(with_two.clone(), Event::hook("install"));
    assert_eq!(
        json_out(&call(&mut s, "relation-ids", &["db", "--format=json"])),
        json!(["db:3", "db:7"])
    );
    let mut s = session(with_two, Event::relation("db", "broken", 7));
    assert_eq!(
        json_out(&call(&mut s, "relation-ids", &["db", "--format=json"])),
        json!(["db:3"])
    );
    let mut s = session(state(), Event::hook("install"));
    error(
        &call(&mut s, "relation-ids", &[]),
        2,
        "no endpoint name specified",
    );
}

#[test]
fn relation_list_shows_remote_units_or_the_remote_app() {
    let mut s = session(state(), Event::hook("install"));
    assert_eq!(
        json_out(&call(
            &mut s,
            "relation-list",
            &["--format=json", "-r", "db:7"]
        )),
        json!(["pg/0"])
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "relation-list",
            &["--format=json", "--app", "-r", "7"]
        )),
        json!("pg")
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "relation-list",
            &["--format=json", "-r", "replicas:2"]
        )),
        json!(["demo/1"])
    );
    let departed = Event::relation("db", "departed", 7).remote_unit("pg/0");
    let mut s = session(state(), departed);
    assert_eq!(
        json_out(&call(&mut s, "relation-list", &["--format=json"])),
        json!([])
    );
}

#[test]
fn relation_flag_errors_are_usage_errors_with_jujus_text() {
    let mut s = session(state(), Event::hook("install"));
    error(
        &call(&mut s, "relation-get", &["-r", "db:9", "-", "pg/0"]),
        2,
        "invalid value \"db:9\" for option -r: relation not found",
    );
    error(
        &call(&mut s, "relation-list", &[]),
        2,
        "no relation id specified",
    );
    error(
        &call(&mut s, "relation-set", &["a=b"]),
        2,
        "no relation id specified",
    );
    error(
        &call(&mut s, "relation-list", &["--bogus"]),
        2,
        "option provided but not defined: --bogus",
    );
}

#[test]
fn relation_get_reads_every_bag_with_jujus_default_keys() {
    let event = Event::relation("db", "changed", 7).remote_unit("pg/0");
    let mut s = session(state().leader(true), event);
    assert_eq!(
        json_out(&call(&mut s, "relation-get", &["--format=json", "-"])),
        json!({"user": "u0", "egress-subnets": "192.0.2.0/24",
               "ingress-address": "192.0.2.0", "private-address": "192.0.2.0"})
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "relation-get",
            &["--format=json", "--app", "-", "pg"]
        )),
        json!({"host": "pg.local"})
    );
    assert_eq!(
        json_out(&call(&mut s, "relation-get", &["--format=json", "--app"])),
        json!({"host": "pg.local"})
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "relation-get",
            &["--format=json", "host", "--app", "pg/0"]
        )),
        json!("pg.local")
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "relation-get",
            &["--format=json", "-r", "db:7", "-", "demo/0"]
        ))["private-address"],
        json!("192.0.2.0")
    );
    error(
        &call(&mut s, "relation-get", &["-r", "db:7", "-", "pg"]),
        2,
        "expected unit name, got application name \"pg\"",
    );
    error(
        &call(&mut s, "relation-get", &["-r", "db:7", "-", "pg/5"]),
        1,
        "cannot read settings for unit \"pg/5\" in relation \"db:7\": unit \"pg/5\": settings not found",
    );
    let mut s = session(state(), Event::hook("install"));
    error(
        &call(&mut s, "relation-get", &["-r", "db:7"]),
        2,
        "no unit or application specified",
    );
}

#[test]
fn a_non_leader_cannot_read_or_write_its_own_app_bag_but_peers_share_theirs() {
    let mut s = session(state(), Event::hook("install"));
    error(
        &call(
            &mut s,
            "relation-get",
            &["-r", "db:7", "--app", "-", "demo"],
        ),
        1,
        "permission denied",
    );
    error(
        &call_stdin(
            &mut s,
            "relation-set",
            &["-r", "db:7", "--app", "--file", "-"],
            "{\"a\":\"b\"}",
        ),
        1,
        "cannot write relation settings",
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "relation-get",
            &["--format=json", "-r", "replicas:2", "--app", "-", "demo"]
        )),
        json!({})
    );
}

#[test]
fn relation_set_merges_deletes_on_empty_and_reads_back_pending_writes() {
    let mut s = session(state().leader(true), Event::hook("install"));
    let reply = call_stdin(
        &mut s,
        "relation-set",
        &["-r", "db:7", "--app", "--file", "-"],
        "{\"a\": \"1\", \"b\": \"2\"}",
    );
    assert_eq!(reply, Reply::ok(""));
    assert_eq!(reply.code, 0);
    call(
        &mut s,
        "relation-set",
        &["-r", "db:7", "--app", "b=", "c=3"],
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "relation-get",
            &["--format=json", "-r", "db:7", "--app", "-", "demo"]
        )),
        json!({"a": "1", "c": "3"})
    );
    call(&mut s, "relation-set", &["-r", "db:7", "mine=yes"]);
    let (state, _) = s.finish(true);
    let relation = state.find_relation(7).unwrap();
    assert_eq!(relation.local_unit_data["mine"], "yes");
    assert_eq!(relation.local_app_data.len(), 2);
}

#[test]
fn deleting_jujus_own_unit_keys_persists_and_the_output_state_shows_it() {
    let event = Event::relation("db", "changed", 7).remote_unit("pg/0");
    let mut s = session(state(), event.clone());
    let own = ["--format=json", "-r", "db:7", "-", "demo/0"];
    assert_eq!(
        json_out(&call(&mut s, "relation-get", &own)),
        json!({"egress-subnets": "192.0.2.0/24", "ingress-address": "192.0.2.0",
               "private-address": "192.0.2.0"})
    );
    let reply = call_stdin(
        &mut s,
        "relation-set",
        &["-r", "db:7", "--file", "-"],
        r#"{"egress-subnets": "", "ingress-address": "", "private-address": "", "a": "1"}"#,
    );
    assert_eq!(reply.code, 0, "{reply:?}");
    assert_eq!(
        json_out(&call(&mut s, "relation-get", &own)),
        json!({"a": "1"})
    );
    let (state, _) = s.finish(true);
    let bag = &state.find_relation(7).unwrap().local_unit_data;
    assert_eq!(*bag, [("a".to_owned(), "1".to_owned())].into());
    // The next hook reads what Juju stored: the keys are not re-added.
    let mut s = session(state, event);
    assert_eq!(
        json_out(&call(&mut s, "relation-get", &own)),
        json!({"a": "1"})
    );
}

#[test]
fn buffered_writes_are_dropped_when_the_hook_fails_but_statuses_stay() {
    let mut s = session(state().leader(true), Event::hook("install"));
    call(&mut s, "relation-set", &["-r", "db:7", "--app", "a=1"]);
    call(&mut s, "open-port", &["8080/tcp"]);
    call(&mut s, "state-set", &["k=v"]);
    call(
        &mut s,
        "status-set",
        &["--application=True", "blocked", "--", "stuck"],
    );
    call(
        &mut s,
        "status-set",
        &["--application=False", "waiting", "--", "wait"],
    );
    call(&mut s, "application-version-set", &["--", "1.2"]);
    let (state, effects) = s.finish(false);
    assert!(state.find_relation(7).unwrap().local_app_data.is_empty());
    assert!(state.opened_ports.is_empty());
    assert!(state.unit_state.is_empty());
    assert_eq!(state.app_status, Status::new("blocked", "stuck"));
    assert_eq!(state.unit_status, Status::new("waiting", "wait"));
    assert_eq!(state.workload_version, "1.2");
    assert_eq!(
        effects.unit_status_history,
        [Status::new("waiting", "wait")]
    );
}

#[test]
fn status_tools_check_the_status_word_and_leadership() {
    let mut s = session(state(), Event::hook("install"));
    error(
        &call(&mut s, "status-set", &["--application=False", "happy"]),
        2,
        "invalid status \"happy\", expected one of [maintenance blocked waiting active]",
    );
    error(
        &call(&mut s, "status-set", &["--application=True", "active"]),
        1,
        "this unit is not the leader",
    );
    error(
        &call(
            &mut s,
            "status-get",
            &["--include-data", "--format=json", "--application=true"],
        ),
        1,
        "finding application status: this unit is not the leader",
    );
    call(
        &mut s,
        "status-set",
        &["--application=False", "active", "--", "ok"],
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "status-get",
            &["--include-data", "--format=json", "--application=false"]
        )),
        json!({"status": "active", "message": "ok", "status-data": {}})
    );
    let mut s = session(state().leader(true), Event::hook("install"));
    assert_eq!(
        json_out(&call(
            &mut s,
            "status-get",
            &["--include-data", "--format=json", "--application=true"]
        )),
        json!({"application-status": {"status": "unknown", "message": "", "status-data": {},
               "units": {"demo/0": {"status": "unknown", "message": "", "status-data": {}}}}})
    );
}

#[test]
fn juju_log_records_level_and_message() {
    let mut s = session(state(), Event::hook("install"));
    call(
        &mut s,
        "juju-log",
        &["--log-level", "WARNING", "--", "careful"],
    );
    call(&mut s, "juju-log", &["--", "plain"]);
    call(
        &mut s,
        "juju-log",
        &["--log-level", "LOUD", "--", "odd level"],
    );
    let levels: Vec<_> = s
        .effects
        .juju_log
        .iter()
        .map(|line| (line.level.as_str(), line.message.as_str()))
        .collect();
    assert_eq!(
        levels,
        [
            ("WARNING", "careful"),
            ("INFO", "plain"),
            ("INFO", "odd level")
        ]
    );
}

#[test]
fn action_tools_work_only_in_actions() {
    let mut s = session(state(), Event::hook("install"));
    for tool in ["action-get", "action-set", "action-fail", "action-log"] {
        let args: &[&str] = if tool == "action-set" {
            &["a=b"]
        } else {
            &["--", "m"]
        };
        let args = if tool == "action-get" { &[][..] } else { args };
        error(&call(&mut s, tool, args), 1, "not running an action");
    }
    let mut params = Map::new();
    params.insert("extra".to_owned(), json!("x"));
    let mut s = session(state(), Event::action("list", params));
    assert_eq!(
        json_out(&call(&mut s, "action-get", &["--format=json"])),
        json!({"limit": 10, "extra": "x"})
    );
    assert_eq!(
        json_out(&call(&mut s, "action-get", &["--format=json", "limit"])),
        json!(10)
    );
    call(
        &mut s,
        "action-set",
        &["rules.count=2", "rules.first=a", "ok=yes"],
    );
    assert_eq!(
        Value::Object(s.effects.action_results.clone()),
        json!({"rules": {"count": "2", "first": "a"}, "ok": "yes"})
    );
    error(
        &call(&mut s, "action-set", &["stdout=x"]),
        2,
        "cannot set reserved action key \"stdout\"",
    );
    error(
        &call(&mut s, "action-set", &["Bad=x"]),
        2,
        "key \"Bad\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods",
    );
    error(
        &call(&mut s, "action-set", &["novalue"]),
        2,
        "argument \"novalue\" must be of the form key...=value",
    );
    call(&mut s, "action-log", &["--", "halfway"]);
    call(&mut s, "action-fail", &["--", "no such rule"]);
    assert_eq!(s.effects.action_logs, ["halfway"]);
    assert_eq!(s.effects.action_failure.as_deref(), Some("no such rule"));
}

#[test]
fn ports_open_on_commit_and_opened_ports_shows_committed_ones() {
    let mut s = session(state(), Event::hook("install"));
    call(&mut s, "open-port", &["8080/tcp"]);
    call(&mut s, "open-port", &["9000"]);
    assert_eq!(
        json_out(&call(&mut s, "opened-ports", &["--format=json"])),
        json!([])
    );
    error(
        &call(&mut s, "open-port", &[]),
        2,
        "no port or range specified",
    );
    let (state, _) = s.finish(true);
    assert_eq!(state.opened_ports, ["8080/tcp", "9000/tcp"]);
    let mut s = session(state, Event::hook("update-status"));
    assert_eq!(
        json_out(&call(
            &mut s,
            "opened-ports",
            &["--format=json", "--endpoints"]
        )),
        json!(["8080/tcp (*)", "9000/tcp (*)"])
    );
    call(&mut s, "close-port", &["8080/tcp"]);
    let (state, _) = s.finish(true);
    assert_eq!(state.opened_ports, ["9000/tcp"]);
}

#[test]
fn network_get_answers_known_bindings_only() {
    let mut s = session(state(), Event::hook("install"));
    let out = json_out(&call(&mut s, "network-get", &["--format=json", "db"]));
    assert_eq!(out["ingress-addresses"], json!(["192.0.2.0"]));
    assert_eq!(
        out["bind-addresses"][0]["addresses"][0]["value"],
        json!("192.0.2.0")
    );
    assert_eq!(
        json_out(&call(
            &mut s,
            "network-get",
            &["--format=json", "juju-info", "--bind-address"]
        )),
        json!("192.0.2.0")
    );
    error(
        &call(&mut s, "network-get", &["nowhere"]),
        1,
        "no network config found for binding \"nowhere\"",
    );
    error(
        &call(&mut s, "network-get", &[]),
        2,
        "no arguments specified",
    );
}

#[test]
fn unit_state_round_trips() {
    let mut s = session(state(), Event::hook("install"));
    call_stdin(&mut s, "state-set", &["--file", "-"], "{\"a\": \"1\"}");
    call(&mut s, "state-set", &["b=2"]);
    call(&mut s, "state-delete", &["a"]);
    assert_eq!(
        json_out(&call(&mut s, "state-get", &["--format=json"])),
        json!({"b": "2"})
    );
    assert_eq!(
        json_out(&call(&mut s, "state-get", &["--format=json", "a"])),
        json!("")
    );
    error(
        &call(&mut s, "state-get", &["--strict", "a"]),
        1,
        "\"a\" not found",
    );
}

#[test]
fn secrets_are_added_read_revised_and_guarded_by_leadership() {
    let mut s = session(state(), Event::hook("install"));
    error(
        &call(
            &mut s,
            "secret-add",
            &["--owner", "application", "password=x1y"],
        ),
        1,
        "this unit is not the leader",
    );
    let mut s = session(state().leader(true), Event::hook("install"));
    let uri = call(
        &mut s,
        "secret-add",
        &[
            "--label",
            "db-pass",
            "--owner",
            "application",
            "password=one",
        ],
    )
    .stdout
    .trim()
    .to_owned();
    assert!(uri.starts_with("secret:"), "{uri}");
    assert_eq!(
        json_out(&call(
            &mut s,
            "secret-get",
            &["--format=json", "--label", "db-pass"]
        )),
        json!({"password": "one"})
    );
    call(&mut s, "secret-set", &[&uri, "password=two"]);
    assert_eq!(
        json_out(&call(&mut s, "secret-get", &["--format=json", &uri])),
        json!({"password": "two"})
    );
    let info = json_out(&call(&mut s, "secret-info-get", &["--format=json", &uri]));
    assert_eq!(
        info.as_object().unwrap().values().next().unwrap()["revision"],
        json!(2)
    );
    assert_eq!(
        json_out(&call(&mut s, "secret-ids", &["--format=json"])),
        json!([uri])
    );
    error(
        &call(&mut s, "secret-get", &["--peek", "--refresh", &uri]),
        2,
        "specify one of --peek or --refresh but not both",
    );
    error(
        &call(&mut s, "secret-get", &["secret:nope"]),
        1,
        "secret \"secret:nope\" not found",
    );
    let (state, _) = s.finish(true);
    let mut s = session(state.leader(false), Event::hook("update-status"));
    error(
        &call(&mut s, "secret-remove", &[&uri]),
        1,
        "permission denied",
    );
}

#[test]
fn every_call_is_recorded_with_its_answer() {
    let mut s = session(state(), Event::hook("install"));
    call(&mut s, "is-leader", &["--format=json"]);
    call(&mut s, "no-such-tool", &[]);
    let calls = &s.effects.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].tool.as_str(), calls[0].code), ("is-leader", 0));
    assert_eq!(calls[1].code, 1);
}
