//! The fake Pebble driven through our own `juju::pebble::Client`: every endpoint in emulated
//! mode, and live mode running a real process from a layer.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use harness::live::{eventually, free_port};
use harness::pebble::{ContainerState, Exec, FakePebble, File, LiveOptions, Mode, ServiceStatus};
use juju::pebble::client::{
    CONTAINERS_DIR_ENV, Client, Error, ExecOptions, NoticesQuery, containers_dir,
};
use juju::pebble::layer::Layer;

const WAIT: Duration = Duration::from_secs(20);

fn layer(yaml: &str) -> Layer {
    Layer::parse_yaml(yaml).unwrap()
}

fn start(state: ContainerState, mode: Mode) -> (tempfile::TempDir, FakePebble) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakePebble::start(dir.path().join("workload/pebble.socket"), state, mode).unwrap();
    (dir, fake)
}

fn api_message<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result.unwrap_err() {
        Error::Api { message, .. } => message,
        other => panic!("not an API error: {other}"),
    }
}

fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie has exited; only its parent's bookkeeping remains.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split("\r\n\r\n").nth(1).map(str::to_owned)
}

const WEB: &str = "
services:
  web:
    override: replace
    command: web serve
    startup: enabled
  tool:
    override: replace
    command: tool
checks:
  alive:
    override: replace
    level: alive
    http: {url: 'http://localhost:8080/health'}
  ready:
    override: replace
    level: ready
    startup: disabled
    tcp: {port: 8080}
";

#[test]
fn the_client_connects_and_reads_system_info_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakePebble::start_container(
        dir.path(),
        "workload",
        ContainerState::default(),
        Mode::Emulated,
    )
    .unwrap();
    // What `Client::for_container_in_env` builds when JUJU_CONTAINERS_DIR names `dir`.
    let env = BTreeMap::from([(
        CONTAINERS_DIR_ENV.to_owned(),
        dir.path().display().to_string(),
    )]);
    let client = Client::for_container(&containers_dir(&env), "workload");
    assert_eq!(client.socket(), fake.socket());
    let info = client.system_info().unwrap();
    assert!(!info.version.is_empty());
    assert_eq!(info.boot_id.len(), 36);
    assert!(client.can_connect());
    assert!(client.health(None).unwrap());
    assert!(client.health(Some("ready")).unwrap());
}

#[test]
fn layers_plan_services_and_changes_through_the_client() {
    let (_dir, fake) = start(ContainerState::default(), Mode::Emulated);
    let client = fake.client();
    client.add_layer("web", &layer(WEB), false).unwrap();
    assert_eq!(client.plan().unwrap(), layer(WEB).tap_plan());
    let replan = client.services_action("replan", &[], WAIT).unwrap();
    assert!(replan.ready);
    assert_eq!(client.services(&["web"]).unwrap()[0].current, "active");
    let restart = client.services_action("restart", &["web"], WAIT).unwrap();
    assert_eq!(restart.kind, "restart");
    let kinds: Vec<_> = restart
        .tasks
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["stop", "start"]);
    client.services_action("stop", &["web"], WAIT).unwrap();
    assert_eq!(client.services(&["web"]).unwrap()[0].current, "inactive");
    client.services_action("autostart", &[], WAIT).unwrap();
    client.services_action("start", &["tool"], WAIT).unwrap();
    let services = client.services(&[]).unwrap();
    assert!(services.iter().all(|s| s.is_running()), "{services:?}");
    let waited = client.wait_change(&replan.id, WAIT).unwrap();
    assert_eq!(waited.id, replan.id);
    assert!(matches!(
        client.wait_change("12345", WAIT),
        Err(Error::Api { status: 404, .. })
    ));
}

trait TapPlan {
    fn tap_plan(self) -> Layer;
}

impl TapPlan for Layer {
    /// The plan of this single layer.
    fn tap_plan(self) -> Layer {
        let mut layers = juju::pebble::layer::Layers::default();
        layers.add("l", self, false).unwrap();
        layers.plan()
    }
}

#[test]
fn files_push_pull_list_make_dirs_and_remove_through_the_client() {
    let state = ContainerState::default().with_file("/etc/app/seed.conf", "seed");
    let (_dir, fake) = start(state, Mode::Emulated);
    let client = fake.client();
    assert_eq!(client.pull("/etc/app/seed.conf").unwrap(), b"seed");
    let binary = [0u8, 255, 13, 10, 45, 45];
    client
        .push("/etc/app/bin.dat", &binary, false, Some("600"))
        .unwrap();
    assert_eq!(client.pull("/etc/app/bin.dat").unwrap(), binary);
    assert_eq!(
        api_message(client.push("/new/dir/x", b"x", false, None)),
        "open /new/dir/x: no such file or directory"
    );
    client.push("/new/dir/x", b"x", true, None).unwrap();
    let listed = client.list_files("/etc/app").unwrap();
    let names: Vec<_> = listed.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["bin.dat", "seed.conf"]);
    assert_eq!(listed[0].permissions, "600");
    assert_eq!(listed[0].size, Some(6));
    assert_eq!(
        api_message(client.list_files("/nope")),
        "stat /nope: no such file or directory"
    );
    assert_eq!(
        api_message(client.pull("/nope")),
        "stat /nope: no such file or directory"
    );
    client.make_dir("/var/lib/app", true).unwrap();
    assert_eq!(
        api_message(client.make_dir("/var/lib/app", false)),
        "mkdir /var/lib/app: file exists"
    );
    assert_eq!(client.list_files("/var/lib").unwrap()[0].type_, "directory");
    assert_eq!(
        api_message(client.remove("/new", false)),
        "remove /new: directory not empty"
    );
    client.remove("/new", true).unwrap();
    let files = fake.state().files;
    assert_eq!(files["/etc/app/seed.conf"], File::Text("seed".into()));
    assert!(
        matches!(&files["/etc/app/bin.dat"], File::Detailed(spec) if spec.base64.is_some() && spec.permissions.as_deref() == Some("600"))
    );
    assert!(!files.contains_key("/new/dir/x"));
    assert!(fake.root().join("etc/app/seed.conf").exists());
}

#[test]
fn checks_start_and_stop_through_the_client() {
    let (_dir, fake) = start(
        ContainerState::default().with_layer("web", layer(WEB)),
        Mode::Emulated,
    );
    let client = fake.client();
    let checks = client.checks().unwrap();
    let status: BTreeMap<_, _> = checks
        .iter()
        .map(|c| (c.name.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        status,
        BTreeMap::from([("alive", "up"), ("ready", "inactive")])
    );
    assert_eq!(checks[0].threshold, 3);
    assert_eq!(
        client.checks_action("start", &["ready", "alive"]).unwrap(),
        ["ready"]
    );
    assert_eq!(client.checks_action("stop", &["alive"]).unwrap(), ["alive"]);
    let checks = client.checks().unwrap();
    assert_eq!(checks[0].status, "inactive");
    assert_eq!(checks[1].status, "up");
    // Pebble runs each active check in a change; ops reads one without as inactive.
    assert_eq!(checks[0].change_id, None);
    let change = checks[1]
        .change_id
        .clone()
        .expect("a running check has a change");
    let (status, body) = raw(
        fake.socket(),
        &format!("GET /v1/changes/{change} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200);
    assert_eq!(body["result"]["kind"], "perform-check");
    assert_eq!(
        api_message(client.checks_action("stop", &["nope"])),
        "cannot find check \"nope\""
    );
}

#[test]
fn notices_are_listed_filtered_and_repeated_through_the_client() {
    let state = ContainerState {
        notices: vec![juju::pebble::api::Notice {
            type_: "custom".into(),
            key: "example.com/seeded".into(),
            ..Default::default()
        }],
        ..ContainerState::default()
    };
    let (_dir, fake) = start(state, Mode::Emulated);
    let client = fake.client();
    let data = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
    let id = client.notify("example.com/reload", &data).unwrap();
    assert_eq!(client.notify("example.com/reload", &data).unwrap(), id);
    let all = client.notices(&NoticesQuery::default()).unwrap();
    assert_eq!(all.len(), 2);
    let reload = client
        .notices(&NoticesQuery {
            keys: vec!["example.com/reload".into()],
            ..NoticesQuery::default()
        })
        .unwrap();
    assert_eq!(reload.len(), 1);
    assert_eq!(reload[0].occurrences, 2);
    assert_eq!(reload[0].last_data["k"], "v");
    assert_eq!(client.notice(&id).unwrap().key, "example.com/reload");
    assert!(matches!(
        client.notice("999"),
        Err(Error::Api { status: 404, .. })
    ));
    assert_eq!(fake.state().notices.len(), 2);
}

#[test]
fn exec_answers_with_canned_results_and_127_without_one() {
    let state = ContainerState::default()
        .with_exec(Exec {
            command_prefix: vec!["oathkeeper".into(), "rules".into()],
            return_code: 0,
            stdout: "[]".into(),
            stderr: String::new(),
        })
        .with_exec(Exec {
            command_prefix: vec!["oathkeeper".into(), "rules".into(), "get".into()],
            return_code: 1,
            stdout: String::new(),
            stderr: "Could not get rule".into(),
        });
    let (_dir, fake) = start(state, Mode::Emulated);
    let client = fake.client();
    let list = client
        .exec(&["oathkeeper", "rules", "list"], &ExecOptions::default())
        .unwrap();
    assert_eq!((list.exit_code, list.stdout.as_str()), (0, "[]"));
    let get = client
        .exec(
            &["oathkeeper", "rules", "get", "x"],
            &ExecOptions::default(),
        )
        .unwrap();
    assert_eq!(
        (get.exit_code, get.stderr.as_str()),
        (1, "Could not get rule")
    );
    let none = client.exec(&["ls"], &ExecOptions::default()).unwrap();
    assert_eq!(none.exit_code, 127);
    assert!(none.stderr.contains("no exec result"), "{}", none.stderr);
    let big = "x".repeat(100_000);
    let (_dir2, big_fake) = start(
        ContainerState::default().with_exec(Exec {
            command_prefix: vec!["cat".into()],
            stdout: big.clone(),
            ..Exec::default()
        }),
        Mode::Emulated,
    );
    let output = big_fake
        .client()
        .exec(&["cat", "big"], &ExecOptions::default())
        .unwrap();
    assert_eq!(
        output.stdout, big,
        "large output crosses the websocket whole"
    );
    let execs: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.path == "/v1/exec")
        .collect();
    assert_eq!(execs.len(), 3);
    assert!(execs[0].body.contains("\"list\""));
}

#[test]
fn signals_go_to_running_services_only() {
    let (_dir, fake) = start(
        ContainerState::default().with_layer("web", layer(WEB)),
        Mode::Emulated,
    );
    let client = fake.client();
    assert_eq!(
        api_message(client.send_signal("SIGHUP", &["web"])),
        "cannot send signal to \"web\": service is not running"
    );
    client.services_action("replan", &[], WAIT).unwrap();
    client.send_signal("SIGHUP", &["web"]).unwrap();
    assert_eq!(
        api_message(client.send_signal("SIGHUP", &["nope"])),
        "service \"nope\" does not exist"
    );
}

fn raw(socket: &Path, request: &str) -> (u16, serde_json::Value) {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap(),
    )
}

/// A layer running Python's HTTP server on `$PORT` from `/srv`, with a fast HTTP check.
fn web_layer(greeting: &str) -> Layer {
    layer(&format!(
        r#"
services:
  web:
    override: replace
    command: sh -c 'exec python3 -m http.server "$PORT" --bind 127.0.0.1'
    startup: enabled
    working-dir: /srv
    kill-delay: 2s
    environment: {{GREETING: {greeting}}}
checks:
  up:
    override: replace
    period: 100ms
    timeout: 1s
    threshold: 1
    http: {{url: 'http://localhost:8080/index.html'}}
"#
    ))
}

#[test]
fn live_mode_runs_the_layer_restarts_on_changed_replan_and_stops_the_process() {
    let port = free_port();
    let options = LiveOptions::default()
        .env("PORT", port.to_string())
        .rewrite("http://localhost:8080", format!("http://127.0.0.1:{port}"))
        .okay_delay(Duration::from_millis(300));
    let (_dir, fake) = start(ContainerState::default(), Mode::Live(options));
    let client = fake.client();
    client
        .push("/srv/index.html", b"hello from the container", true, None)
        .unwrap();
    client.add_layer("web", &web_layer("one"), false).unwrap();

    // A start is a change in progress until the okay delay passed: /wait answers 504 first.
    let body = r#"{"action":"replan","services":[]}"#;
    let (status, accepted) = raw(
        fake.socket(),
        &format!(
            "POST /v1/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 202);
    let id = accepted["change"].as_str().unwrap().to_owned();
    let (status, timed_out) = raw(
        fake.socket(),
        &format!(
            "GET /v1/changes/{id}/wait?timeout=10ms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 504);
    assert_eq!(
        timed_out["result"]["message"],
        "timed out waiting for change after 10ms"
    );
    client.wait_change(&id, WAIT).unwrap();

    let first = fake.pid("web").expect("web runs");
    eventually("the HTTP check to go up", || {
        client.checks().unwrap()[0].successes >= 1
    });
    assert_eq!(client.checks().unwrap()[0].status, "up");
    assert_eq!(
        http_get(port, "/index.html").as_deref(),
        Some("hello from the container")
    );

    // Same definition: replan leaves it alone.
    client.services_action("replan", &[], WAIT).unwrap();
    assert_eq!(fake.pid("web"), Some(first));

    // Changed definition: replan restarts it.
    client.add_layer("web", &web_layer("two"), true).unwrap();
    client.services_action("replan", &[], WAIT).unwrap();
    let second = fake.pid("web").expect("web runs again");
    assert_ne!(second, first);
    eventually("the old process to be gone", || process_gone(first));
    eventually("the new server to answer", || {
        http_get(port, "/index.html").is_some()
    });

    client.services_action("stop", &["web"], WAIT).unwrap();
    assert_eq!(client.services(&["web"]).unwrap()[0].current, "inactive");
    assert_eq!(fake.pid("web"), None);
    eventually("the stopped process to be gone", || process_gone(second));
    eventually("the check to go down", || {
        client.checks().unwrap()[0].status == "down"
    });
    assert!(!client.health(None).unwrap());

    let log = std::fs::read_to_string(fake.log_path("web")).unwrap();
    assert!(log.contains("GET /index.html"), "{log}");
    let state = fake.stop();
    assert_eq!(state.service_statuses["web"], ServiceStatus::Inactive);
    assert_eq!(
        state.files["/srv/index.html"],
        File::Text("hello from the container".into())
    );
}

#[test]
fn live_mode_fails_a_start_that_exits_quickly_and_restarts_a_crashed_service() {
    let options = LiveOptions::default().okay_delay(Duration::from_millis(300));
    let (_dir, fake) = start(ContainerState::default(), Mode::Live(options));
    let client = fake.client();
    client
        .add_layer(
            "l",
            &layer(
                "services:\n  quick: {override: replace, command: sh -c 'exit 3'}\n  crashy: {override: replace, command: sh -c 'sleep 0.5; exit 1', backoff-delay: 100ms}\n  missing: {override: replace, command: /no/such/program}\n",
            ),
            false,
        )
        .unwrap();
    match client.services_action("start", &["quick"], WAIT) {
        Err(Error::Change { err, .. }) => assert_eq!(
            err,
            "cannot perform the following tasks:\n- Start service \"quick\" (cannot start service: exited quickly with code 3)"
        ),
        other => panic!("expected a failed change, got {other:?}"),
    }
    assert_eq!(client.services(&["quick"]).unwrap()[0].current, "error");
    assert!(matches!(
        client.services_action("start", &["missing"], WAIT),
        Err(Error::Change { .. })
    ));
    client.services_action("start", &["crashy"], WAIT).unwrap();
    let first = fake.pid("crashy").unwrap();
    eventually("a restart after the crash", || {
        fake.pid("crashy").is_some_and(|pid| pid != first)
    });
}

#[test]
fn dropping_a_live_fake_kills_its_services() {
    let state = ContainerState::default()
        .with_layer(
            "l",
            layer("services:\n  sleeper: {override: replace, command: sh -c 'sleep 1000; true', startup: enabled}\n"),
        );
    let mut statuses = state;
    statuses
        .service_statuses
        .insert("sleeper".into(), ServiceStatus::Active);
    let options = LiveOptions::default().okay_delay(Duration::from_millis(100));
    let (_dir, fake) = start(statuses, Mode::Live(options));
    let pid = fake
        .pid("sleeper")
        .expect("an active service in the state starts");
    assert!(!process_gone(pid));
    drop(fake);
    eventually("the service to be killed", || process_gone(pid));
}
