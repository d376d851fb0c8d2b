use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::log::LogLevel;
use super::port::Port;
use super::relation::RelationId;
use super::status::{Status, Target};
use super::*;

/// One recorded call: argv (tool first) and stdin.
type Call = (Vec<String>, Option<Vec<u8>>);

/// A hand-written fake: answers by tool name, records every call in order.
#[derive(Default)]
struct Fake {
    answers: BTreeMap<String, Output>,
    calls: RefCell<Vec<Call>>,
}

impl Fake {
    fn answer(mut self, tool: &str, output: Output) -> Fake {
        self.answers.insert(tool.to_owned(), output);
        self
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn argvs(&self) -> Vec<Vec<String>> {
        self.calls().into_iter().map(|(argv, _)| argv).collect()
    }
}

impl Runner for Fake {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> std::io::Result<Output> {
        let argv = std::iter::once(tool.to_owned())
            .chain(args.iter().cloned())
            .collect();
        self.calls
            .borrow_mut()
            .push((argv, stdin.map(<[u8]>::to_vec)));
        self.answers.get(tool).cloned().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no such tool {tool}"))
        })
    }
}

fn ok(stdout: &str) -> Output {
    Output::success(stdout)
}

fn db7() -> RelationId {
    RelationId::new("db", 7)
}

#[test]
fn error_message_is_the_last_error_line_without_its_prefix() {
    assert_eq!(
        error_message(b"ERROR permission denied\n"),
        "permission denied"
    );
    assert_eq!(
        error_message(
            b"--format flag deprecated for command \"relation-set\"\nERROR cannot write relation settings\n"
        ),
        "cannot write relation settings"
    );
    assert_eq!(error_message(b"  something odd \n"), "something odd");
    assert_eq!(error_message(b""), "");
}

/// Spec §2.3, row by row, plus §2.2 texts.
#[test]
fn failures_classify_from_juju_error_texts_and_exit_codes() {
    type Check = fn(&Error) -> bool;
    let cases: [(&str, i32, &str, Check); 17] = [
        ("relation-get", 2, "ERROR no relation id specified\n", |e| {
            matches!(e, Error::NoRelationId { .. })
        }),
        (
            "relation-set",
            2,
            "ERROR invalid value \"db:9\" for option -r: relation not found\n",
            |e| matches!(e, Error::RelationNotFound { .. }),
        ),
        (
            "relation-list",
            2,
            "ERROR invalid value \"db:9\" for flag -r: relation not found\n",
            |e| matches!(e, Error::RelationNotFound { .. }),
        ),
        ("relation-get", 1, "ERROR permission denied\n", |e| {
            matches!(e, Error::PermissionDenied { .. })
        }),
        (
            "relation-set",
            1,
            "ERROR cannot write relation settings\n",
            |e| matches!(e, Error::NotLeader { .. }),
        ),
        (
            "status-set",
            1,
            "ERROR this unit is not the leader\n",
            |e| matches!(e, Error::NotLeader { .. }),
        ),
        (
            "status-set",
            1,
            "ERROR setting application status: this unit is not the leader\n",
            |e| matches!(e, Error::NotLeader { .. }),
        ),
        (
            "status-get",
            1,
            "ERROR finding application status: this unit is not the leader\n",
            |e| matches!(e, Error::NotLeader { .. }),
        ),
        ("action-get", 1, "ERROR not running an action\n", |e| {
            matches!(e, Error::NotInAction { .. })
        }),
        ("action-set", 1, "ERROR not running an action\n", |e| {
            matches!(e, Error::NotInAction { .. })
        }),
        (
            "secret-add",
            1,
            "ERROR this unit is not the leader\n",
            |e| matches!(e, Error::NotLeader { .. }),
        ),
        ("secret-info-get", 1, "ERROR permission denied\n", |e| {
            matches!(e, Error::PermissionDenied { .. })
        }),
        ("secret-get", 1, "ERROR secret \"x\" not found\n", |e| {
            matches!(e, Error::SecretNotFound { .. })
        }),
        (
            "credential-get",
            1,
            "ERROR cannot access cloud credentials: not trusted\n",
            |e| matches!(e, Error::Untrusted { .. }),
        ),
        (
            "relation-get",
            1,
            "ERROR cannot read settings for unit \"x\" in relation \"db:7\": unit \"x\": settings not found\n",
            |e| matches!(e, Error::Failed { status: 1, .. }),
        ),
        (
            "status-set",
            2,
            "ERROR invalid status \"x\", expected one of [maintenance blocked waiting active]\n",
            |e| matches!(e, Error::Failed { status: 2, .. }),
        ),
        (
            "network-get",
            1,
            "ERROR no network config found for binding \"x\"\n",
            |e| matches!(e, Error::Failed { status: 1, .. }),
        ),
    ];
    for (tool, status, stderr, check) in cases {
        let err = classify(tool, &Output::failure(status, stderr));
        assert!(check(&err), "{tool} {stderr:?} -> {err:?}");
        assert_eq!(err.tool(), tool);
    }
}

#[test]
fn error_messages_name_the_tool_and_keep_juju_text() {
    let err = classify(
        "relation-get",
        &Output::failure(
            2,
            "ERROR invalid value \"db:9\" for option -r: relation not found\n",
        ),
    );
    assert_eq!(
        err.to_string(),
        "relation-get: relation not found: invalid value \"db:9\" for option -r: relation not found"
    );
    let err = classify(
        "open-port",
        &Output::failure(2, "ERROR no port or range specified\n"),
    );
    assert_eq!(
        err.to_string(),
        "open-port failed with exit code 2: no port or range specified"
    );
    assert_eq!(
        classify(
            "action-log",
            &Output::failure(1, "ERROR not running an action\n")
        )
        .to_string(),
        "action-log: not running an action"
    );
}

#[test]
fn hook_tools_run_the_argv_and_parse_the_output() {
    let fake = Fake::default()
        .answer("is-leader", ok("true\n"))
        .answer("config-get", ok(r#"{"log-level":"info"}"#))
        .answer("relation-ids", ok(r#"["db:7"]"#))
        .answer("relation-list", ok(r#"["pg/0"]"#))
        .answer("relation-get", ok(r#"{"url":"x"}"#))
        .answer("opened-ports", ok(r#"["4455/tcp"]"#))
        .answer("network-get", ok(r#"{"ingress-addresses":["10.0.0.9"]}"#));
    let tools = HookTools::new(&fake);
    assert!(tools.is_leader().unwrap());
    assert_eq!(tools.config_get().unwrap()["log-level"], json!("info"));
    assert_eq!(tools.relation_ids("db").unwrap(), [db7()]);
    assert_eq!(tools.relation_list(&db7()).unwrap(), ["pg/0"]);
    assert_eq!(tools.relation_get(&db7(), "pg").unwrap()["url"], "x");
    assert_eq!(tools.opened_ports().unwrap(), [Port::tcp(4455)]);
    assert_eq!(
        tools
            .network_get("juju-info", None)
            .unwrap()
            .ingress_address(),
        Some("10.0.0.9")
    );
    assert_eq!(
        fake.argvs(),
        [
            vec!["is-leader", "--format=json"],
            vec!["config-get", "--format=json"],
            vec!["relation-ids", "db", "--format=json"],
            vec!["relation-list", "--format=json", "-r", "db:7"],
            vec![
                "relation-get",
                "--format=json",
                "-r",
                "db:7",
                "--app",
                "-",
                "pg"
            ],
            vec!["opened-ports", "--format=json"],
            vec!["network-get", "--format=json", "juju-info"],
        ]
    );
}

#[test]
fn relation_set_app_sends_the_data_as_json_on_stdin() {
    let fake = Fake::default().answer("relation-set", ok(""));
    let tools = HookTools::new(&fake);
    let data = BTreeMap::from([("url".to_owned(), "https://x".to_owned())]);
    tools.relation_set_app(&db7(), &data).unwrap();
    tools.relation_set_unit(&db7(), &data).unwrap();
    tools.relation_set_app(&db7(), &BTreeMap::new()).unwrap();
    assert_eq!(
        fake.calls(),
        [
            (
                vec!["relation-set", "-r", "db:7", "--app", "--file", "-"]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>(),
                Some(br#"{"url":"https://x"}"#.to_vec())
            ),
            (
                vec!["relation-set", "-r", "db:7", "--file", "-"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                Some(br#"{"url":"https://x"}"#.to_vec())
            ),
        ],
        "an empty mapping is never sent"
    );
}

#[test]
fn non_leader_app_writes_surface_as_not_leader() {
    let fake = Fake::default()
        .answer(
            "relation-set",
            Output::failure(1, "ERROR cannot write relation settings\n"),
        )
        .answer(
            "status-set",
            Output::failure(1, "ERROR this unit is not the leader\n"),
        );
    let tools = HookTools::new(&fake);
    let data = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
    assert!(matches!(
        tools.relation_set_app(&db7(), &data),
        Err(Error::NotLeader { .. })
    ));
    assert!(matches!(
        tools.status_set(Target::Application, Status::Active, ""),
        Err(Error::NotLeader { .. })
    ));
}

#[test]
fn status_and_log_calls_use_ops_argv() {
    let fake = Fake::default()
        .answer("status-set", ok(""))
        .answer("juju-log", ok(""))
        .answer("application-version-set", ok(""));
    let tools = HookTools::new(&fake);
    tools
        .status_set(Target::Unit, Status::Waiting, "waiting for pebble")
        .unwrap();
    tools.juju_log(LogLevel::Info, "hello").unwrap();
    tools.application_version_set("v0.40.9").unwrap();
    assert!(matches!(
        tools.status_set(Target::Unit, Status::Error, ""),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(
        fake.argvs(),
        [
            vec![
                "status-set",
                "--application=False",
                "waiting",
                "--",
                "waiting for pebble"
            ],
            vec!["juju-log", "--log-level", "INFO", "--", "hello"],
            vec!["application-version-set", "--", "v0.40.9"],
        ],
        "a refused status runs nothing"
    );
}

#[test]
fn action_tools_flatten_results_and_report_outside_actions() {
    let fake = Fake::default().answer("action-set", ok("")).answer(
        "action-get",
        Output::failure(1, "ERROR not running an action\n"),
    );
    let tools = HookTools::new(&fake);
    let results = json!({"rule": {"id": "r1"}, "count": 1});
    let Value::Object(results) = results else {
        unreachable!()
    };
    tools.action_set(&results).unwrap();
    tools.action_set(&Map::new()).unwrap();
    assert!(matches!(tools.action_get(), Err(Error::NotInAction { .. })));
    assert_eq!(
        fake.argvs(),
        [
            vec!["action-set", "count=1", "rule.id=r1"],
            vec!["action-get", "--format=json"],
        ]
    );
}

#[test]
fn a_tool_that_cannot_start_is_a_spawn_error() {
    let tools = HookTools::new(Fake::default());
    let err = tools.is_leader().unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("cannot run is-leader: "),
        "{err}"
    );
}

#[test]
fn unreadable_output_is_an_invalid_output_error() {
    let fake = Fake::default().answer("is-leader", ok("maybe\n"));
    let err = HookTools::new(&fake).is_leader().unwrap_err();
    assert!(matches!(err, Error::InvalidOutput { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot read the output of is-leader: ")
    );
}

// The process runner, against ordinary system tools: no executables are written, so no
// "text file busy" races with parallel tests.

#[test]
fn process_runner_captures_stdout_and_exit_code() {
    let out = ProcessRunner::new()
        .run("echo", &["true".to_owned()], None)
        .unwrap();
    assert_eq!(out, Output::success("true\n"));
}

#[test]
fn process_runner_feeds_stdin() {
    let out = ProcessRunner::new()
        .run("cat", &[], Some(br#"{"k":"v"}"#))
        .unwrap();
    assert_eq!(out.stdout, br#"{"k":"v"}"#);
}

#[test]
fn process_runner_reports_failure_status_and_stderr() {
    let script = "echo 'ERROR no relation id specified' >&2; exit 2".to_owned();
    let out = ProcessRunner::in_dir("/bin")
        .run("sh", &["-c".to_owned(), script], None)
        .unwrap();
    assert_eq!(out.status, 2);
    assert!(out.stdout.is_empty());
    assert!(matches!(
        classify("relation-get", &out),
        Error::NoRelationId { .. }
    ));
}

#[test]
fn process_runner_reports_a_missing_tool_as_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = ProcessRunner::in_dir(dir.path())
        .run("is-leader", &[], None)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}
