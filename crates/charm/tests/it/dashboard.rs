//! `grafana-dashboard` through the harness, in the `grafana_dashboard` library's wire format
//! (spec/charm-parity.md §5.8 and the Addendum), and the dashboard itself: what Grafana reads
//! back with Python's `lzma` is the file in the repository, and every panel queries what our
//! server really exposes.
//!
//! Python is `$OPS_PYTHON` (`./test.sh` points it at its venv), else `python3`: only the
//! standard library's `lzma`, `base64` and `hashlib` are used.

use std::io::Write as _;
use std::process::{Command, Stdio};

use harness::{Event, Relation, State};
use oathkeeper_charm::alert_rules::promql_selectors;
use oathkeeper_charm::relation::grafana_dashboard::{
    DASHBOARD, DASHBOARD_ALT_UID, TEMPLATE_ID, decode_content, encode_content,
};
use serde_json::{Value, json};

use crate::scrape::{BUILT_IN, metrics_of_our_server};
use crate::support::{
    assert_changed_then_broken_write_nothing, charm_dir, deployed, relation_sets, run_ok,
};

const UUID: &str = "0b4a7c1e-0000-4000-8000-000000000000";
/// The dashboard as reviewed.
const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../charm/grafana_dashboards/oathkeeper.json"
);

fn unit(leader: bool) -> State {
    let mut state = deployed(leader).relation(Relation::new("grafana-dashboard", 11, "grafana"));
    state.model.uuid = UUID.to_owned();
    state
}

/// The `dashboards` value a leader publishes on joined.
fn published() -> String {
    let dir = charm_dir();
    let out = run_ok(
        dir.path(),
        &unit(true),
        &Event::relation("grafana-dashboard", "joined", 11),
    );
    out.state.find_relation(11).unwrap().local_app_data["dashboards"].clone()
}

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

#[test]
fn grafana_dashboard_publishes_once_and_changed_and_broken_write_nothing() {
    let dir = charm_dir();
    let joined = run_ok(
        dir.path(),
        &unit(true),
        &Event::relation("grafana-dashboard", "joined", 11),
    );
    let app = &joined.state.find_relation(11).unwrap().local_app_data;
    assert_eq!(app.len(), 1, "{app:?}");
    let value = &app["dashboards"];
    let dashboards: Value = serde_json::from_str(value).unwrap();
    let template = &dashboards["templates"][TEMPLATE_ID];
    assert_eq!(template["charm"], "oathkeeper");
    assert_eq!(
        template["juju_topology"],
        json!({"model": "iam", "model_uuid": UUID, "application": "oathkeeper",
               "unit": "oathkeeper/0"})
    );
    assert_eq!(template["inject_dropdowns"], true);
    assert_eq!(template["dashboard_alt_uid"], DASHBOARD_ALT_UID);
    assert_eq!(
        dashboards["templates"].as_object().unwrap().len(),
        1,
        "one dashboard"
    );
    let uuid = dashboards["uuid"].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4", "a version-4 shape: {uuid}");
    // json.dumps' separators and the library's key order.
    assert!(
        value.starts_with(
            r#"{"templates": {"file:oathkeeper": {"charm": "oathkeeper", "content": ""#
        ),
        "{value}"
    );
    assert!(
        value.ends_with(&format!(
            r#""inject_dropdowns": true, "dashboard_alt_uid": "{DASHBOARD_ALT_UID}"}}}}, "uuid": "{uuid}"}}"#
        )),
        "{value}"
    );

    assert_changed_then_broken_write_nothing(dir.path(), &joined.state, "grafana-dashboard", 11);
}

#[test]
fn a_non_leader_publishes_no_dashboard() {
    let dir = charm_dir();
    let mut state = unit(false);
    state.unit_id = 1;
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("grafana-dashboard", "joined", 11),
    );
    assert!(
        out.state
            .find_relation(11)
            .unwrap()
            .local_app_data
            .is_empty()
    );
    assert_eq!(relation_sets(&out), 0);
}

#[test]
fn the_published_content_renders_back_to_the_file_in_python_and_rust() {
    let file = std::fs::read_to_string(FILE).unwrap();
    assert_eq!(file, DASHBOARD, "the binary embeds the file as it is");
    let published = published();
    // As Grafana's charm reads it: json.loads, b64decode (strictly), lzma.decompress; and the
    // library's alternative uid of the template id.
    let script = r#"
import base64, hashlib, json, lzma, sys
templates = json.loads(sys.stdin.read())["templates"]
content = templates["file:oathkeeper"]["content"]
sys.stdout.write(json.dumps({
    "dashboard": lzma.decompress(base64.b64decode(content, validate=True)).decode("utf-8"),
    "alt_uid": hashlib.shake_256("oathkeeper-file:oathkeeper".encode("utf-8")).hexdigest(8),
}))
"#;
    let read: Value = serde_json::from_str(&python(script, &published)).unwrap();
    assert_eq!(read["dashboard"].as_str().unwrap(), file, "Python's lzma");
    assert_eq!(read["alt_uid"], DASHBOARD_ALT_UID, "hashlib.shake_256");

    let dashboards: Value = serde_json::from_str(&published).unwrap();
    let content = dashboards["templates"][TEMPLATE_ID]["content"]
        .as_str()
        .unwrap();
    assert_eq!(decode_content(content).unwrap(), file, "lzma-rust2");
}

#[test]
fn content_that_is_not_base64_is_what_python_rejects() {
    // The failure the encoding avoids: Grafana's hook dies on it.
    let script = r#"
import base64, binascii, sys
try:
    base64.b64decode(sys.stdin.read(), validate=True)
    print("accepted")
except binascii.Error:
    print("rejected")
"#;
    assert_eq!(python(script, "not base64!").trim(), "rejected");
    let content = encode_content(DASHBOARD);
    assert_eq!(python(script, &content).trim(), "accepted");
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if let Some(nested) = panel["panels"].as_array() {
            out.extend(nested);
        }
        out.push(panel);
    }
    out
}

#[test]
fn every_panel_queries_only_what_our_server_exposes_and_loki_by_topology() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    let exposed = metrics_of_our_server();
    let mut problems = Vec::new();
    let mut queried = 0;
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        if panel["type"] == "row" {
            continue;
        }
        let datasource = &panel["datasource"];
        let kind = datasource["type"].as_str().unwrap_or_default();
        match (kind, datasource["uid"].as_str()) {
            ("prometheus", Some("${prometheusds}")) | ("loki", Some("${lokids}")) => {}
            _ => {
                problems.push(format!("{title}: datasource {datasource}"));
                continue;
            }
        }
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if targets.is_empty() {
            problems.push(format!("{title}: no targets"));
        }
        for target in targets {
            if target["refId"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{title}: a target without refId"));
            }
            let Some(expr) = target["expr"].as_str() else {
                problems.push(format!("{title}: a target without expr"));
                continue;
            };
            queried += 1;
            if kind == "prometheus" {
                let names: Vec<&str> = promql_selectors(expr)
                    .into_iter()
                    .filter_map(|s| s.name.map(|r| &expr[r]))
                    .collect();
                if names.is_empty() {
                    problems.push(format!("{title}: no metric in {expr}"));
                }
                for name in names {
                    if !exposed.contains(name) && !BUILT_IN.contains(&name) {
                        problems.push(format!("{title}: {name} is not exposed"));
                    }
                }
            } else {
                for needed in [
                    r#"juju_model=~"$juju_model""#,
                    r#"juju_application=~"$juju_application""#,
                    r#"juju_unit=~"$juju_unit""#,
                    "| json",
                ] {
                    if !expr.contains(needed) {
                        problems.push(format!("{title}: {expr} lacks {needed}"));
                    }
                }
            }
        }
    }
    assert!(queried > 10, "{queried} queries");
    assert!(
        problems.is_empty(),
        "{}\nexposed: {exposed:#?}",
        problems.join("\n")
    );
}
