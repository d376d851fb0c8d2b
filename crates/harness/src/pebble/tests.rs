//! The fake as a client sees it: Pebble's semantics, texts and status codes over the socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use juju::pebble::client::Error;
use juju::pebble::layer::Layer;
use serde_json::{Value, json};

use super::*;

const WAIT: Duration = Duration::from_secs(10);

fn layer(yaml: &str) -> Layer {
    Layer::parse_yaml(yaml).unwrap()
}

fn emulated(state: ContainerState) -> (tempfile::TempDir, FakePebble) {
    let dir = tempfile::tempdir().unwrap();
    let fake =
        FakePebble::start(dir.path().join("c/pebble.socket"), state, Mode::Emulated).unwrap();
    (dir, fake)
}

/// One raw request: (HTTP status, JSON body).
fn raw(fake: &FakePebble, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut stream = UnixStream::connect(fake.socket()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let json = answer.split("\r\n\r\n").nth(1).unwrap();
    (status, serde_json::from_str(json).unwrap())
}

fn api_error(result: Result<impl std::fmt::Debug, Error>) -> (u16, String, Option<String>) {
    match result.unwrap_err() {
        Error::Api {
            status,
            message,
            kind,
        } => (status, message, kind),
        other => panic!("not an API error: {other}"),
    }
}

const BASE: &str = "
services:
  web:
    override: replace
    command: web --port 80
    startup: enabled
    environment: {A: '1'}
  batch:
    override: replace
    command: batch
checks:
  alive:
    override: replace
    level: alive
    http: {url: 'http://localhost:80/health'}
";

#[test]
fn add_layer_errors_carry_pebbles_texts_with_status_400() {
    let (_dir, fake) = emulated(ContainerState::default());
    let client = fake.client();
    client.add_layer("base", &layer(BASE), false).unwrap();
    let add = |label: &str, yaml: &str, combine: bool| {
        raw(
            &fake,
            "POST",
            "/v1/layers",
            Some(
                json!({"action": "add", "combine": combine, "label": label, "format": "yaml", "layer": yaml}),
            ),
        )
    };
    for (label, yaml, combine, message) in [
        ("", "", false, "label must be set"),
        ("base", BASE, false, "layer \"base\" already exists"),
        (
            "pebble-x",
            "",
            false,
            "cannot use reserved label prefix \"pebble-\"",
        ),
        (
            "l",
            "services:\n  s: {command: x}\n",
            false,
            "layer \"l\" must define \"override\" for service \"s\"",
        ),
        (
            "l",
            "services:\n  s: {override: sometimes, command: x}\n",
            false,
            "layer \"l\" has invalid \"override\" value for service \"s\"",
        ),
        (
            "l",
            "services:\n  s: {override: merge, startup: enabled}\n",
            true,
            "plan must define \"command\" for service \"s\"",
        ),
    ] {
        let (status, body) = add(label, yaml, combine);
        assert_eq!(status, 400, "{message}");
        assert_eq!(body["type"], "error");
        assert_eq!(body["status-code"], 400);
        assert_eq!(body["status"], "Bad Request");
        assert_eq!(body["result"]["message"], message);
    }
    let (status, body) = add("l", "services: [", false);
    assert_eq!(status, 400);
    assert!(
        body["result"]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot parse layer YAML: "),
        "{body}"
    );
    let (status, body) = raw(
        &fake,
        "POST",
        "/v1/layers",
        Some(json!({"action": "remove", "label": "x", "format": "yaml"})),
    );
    assert_eq!(
        (status, body["result"]["message"].as_str()),
        (400, Some("invalid action \"remove\""))
    );
    assert_eq!(
        fake.state().layers.layers.len(),
        1,
        "failed adds change nothing"
    );
}

#[test]
fn combine_merges_into_the_label_and_the_plan_folds_layers_in_order() {
    let (_dir, fake) = emulated(ContainerState::default());
    let client = fake.client();
    client.add_layer("base", &layer(BASE), false).unwrap();
    client
        .add_layer(
            "base",
            &layer("services:\n  web: {override: merge, command: web --port 81, environment: {B: '2'}}\n"),
            true,
        )
        .unwrap();
    client
        .add_layer(
            "later",
            &layer("services:\n  batch: {override: replace, command: batch2}\n"),
            false,
        )
        .unwrap();
    let plan = client.plan().unwrap();
    let web = &plan.services["web"];
    assert_eq!(web.command.as_deref(), Some("web --port 81"));
    assert_eq!(web.environment["A"], "1");
    assert_eq!(web.environment["B"], "2");
    assert_eq!(plan.services["batch"].command.as_deref(), Some("batch2"));
    let state = fake.state();
    let labels: Vec<_> = state.layers.labels().collect();
    assert_eq!(labels, ["base", "later"]);
    let (status, body) = raw(&fake, "GET", "/v1/plan?format=json", None);
    assert_eq!(
        (status, body["result"]["message"].as_str()),
        (400, Some("invalid format \"json\""))
    );
}

#[test]
fn service_actions_validate_names_and_replan_starts_enabled_services() {
    let (_dir, fake) = emulated(ContainerState::default());
    let client = fake.client();
    assert_eq!(
        api_error(client.services_action("autostart", &[], WAIT)),
        (
            400,
            "no default services".to_owned(),
            Some("no-default-services".to_owned())
        )
    );
    client.add_layer("base", &layer(BASE), false).unwrap();
    assert_eq!(
        api_error(client.services_action("start", &[], WAIT)).1,
        "must specify services for start action"
    );
    assert_eq!(
        api_error(client.services_action("stop", &["nope"], WAIT)).1,
        "service \"nope\" does not exist"
    );
    let change = client.services_action("replan", &[], WAIT).unwrap();
    assert_eq!(
        (change.kind.as_str(), change.status.as_str()),
        ("replan", "Done")
    );
    assert_eq!(change.summary, "Replan service \"web\"");
    let current = |name: &str| client.services(&[name]).unwrap()[0].current.clone();
    assert_eq!(current("web"), "active");
    assert_eq!(current("batch"), "inactive");
    let again = client.services_action("replan", &[], WAIT).unwrap();
    assert_eq!(again.summary, "Replan - no services");
    assert!(again.tasks.is_empty());
    client.services_action("start", &["batch"], WAIT).unwrap();
    client.services_action("stop", &["web"], WAIT).unwrap();
    assert_eq!(
        (current("web").as_str(), current("batch").as_str()),
        ("inactive", "active")
    );
    let state = fake.state();
    assert_eq!(state.service_statuses["web"], ServiceStatus::Inactive);
    assert_eq!(state.service_statuses["batch"], ServiceStatus::Active);
    let services = client.services(&[]).unwrap();
    assert_eq!(services.len(), 2);
    assert_eq!(services[1].startup, "enabled");
    assert!(services[1].current_since.is_some());
}

#[test]
fn changes_are_found_by_id_and_unknown_ones_are_not_found() {
    let (_dir, fake) = emulated(ContainerState::default().with_layer("base", layer(BASE)));
    let (status, body) = raw(
        &fake,
        "POST",
        "/v1/services",
        Some(json!({"action": "replan", "services": []})),
    );
    assert_eq!(status, 202);
    assert_eq!(body["type"], "async");
    assert_eq!(body["status"], "Accepted");
    let id = body["change"].as_str().unwrap().to_owned();
    let (status, change) = raw(
        &fake,
        "GET",
        &format!("/v1/changes/{id}/wait?timeout=1s"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(change["result"]["ready"], true);
    assert!(
        change["result"]["spawn-time"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let task = &change["result"]["tasks"][0];
    assert_eq!(
        (task["kind"].as_str(), task["status"].as_str()),
        (Some("start"), Some("Done"))
    );
    assert_eq!(task["progress"]["total"], 1);
    let (status, body) = raw(&fake, "GET", "/v1/changes/999", None);
    assert_eq!(status, 404);
    assert_eq!(
        body["result"]["message"],
        "cannot find change with id \"999\""
    );
    assert_eq!(body["result"]["kind"], "not-found");
    let (status, _) = raw(&fake, "GET", "/v1/nothing", None);
    assert_eq!(status, 404);
    let (status, _) = raw(&fake, "DELETE", "/v1/services", None);
    assert_eq!(status, 405);
}

#[test]
fn a_state_round_trips_through_the_fake() {
    let state: ContainerState = serde_json::from_value(json!({
        "layers": {"base": Layer::parse_yaml(BASE).unwrap()},
        "service_statuses": {"web": "active"},
        "files": {"/etc/web.conf": "port: 80\n"},
        "check_infos": [{"name": "alive", "status": "down", "failures": 3, "threshold": 3, "level": "alive"}],
        "notices": [{"id": "1", "type": "custom", "key": "example.com/a", "first-occurred": "2024-01-01T00:00:00Z",
                     "last-occurred": "2024-01-01T00:00:00Z", "last-repeated": "2024-01-01T00:00:00Z", "occurrences": 1}],
        "execs": [{"command_prefix": ["web", "--version"], "stdout": "1.0\n"}]
    }))
    .unwrap();
    let (_dir, fake) = emulated(state.clone());
    let client = fake.client();
    assert_eq!(client.services(&["web"]).unwrap()[0].current, "active");
    assert_eq!(client.checks().unwrap()[0].status, "down");
    assert!(
        !client.health(Some("alive")).unwrap(),
        "a down alive check is unhealthy"
    );
    let mut expected = state;
    expected
        .service_statuses
        .insert("batch".into(), ServiceStatus::Inactive);
    expected.check_infos[0].startup = "enabled".into();
    assert_eq!(fake.stop(), expected);
}

#[test]
fn a_container_that_cannot_connect_has_no_socket_and_keeps_its_state() {
    let state = ContainerState {
        can_connect: false,
        ..ContainerState::default()
    }
    .with_layer("base", layer(BASE));
    let (_dir, fake) = emulated(state.clone());
    assert!(!fake.socket().exists());
    assert!(matches!(
        fake.client().system_info(),
        Err(Error::Connection { .. })
    ));
    let mut expected = state;
    expected
        .service_statuses
        .insert("web".into(), ServiceStatus::Inactive);
    expected
        .service_statuses
        .insert("batch".into(), ServiceStatus::Inactive);
    expected.check_infos = fake.state().check_infos;
    assert_eq!(fake.state(), expected);
}

#[test]
fn every_request_is_in_the_call_log() {
    let (_dir, fake) = emulated(ContainerState::default());
    let client = fake.client();
    client.system_info().unwrap();
    client.push("/etc/a", b"x", true, None).unwrap();
    let calls = fake.take_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("GET", "/v1/system-info")
    );
    assert_eq!(calls[1].method, "POST");
    assert!(
        calls[1].body.contains("\"action\":\"write\"") && calls[1].body.contains("/etc/a"),
        "{}",
        calls[1].body
    );
    assert!(fake.take_calls().is_empty());
}
