//! The alert rules the charm ships (`charm/prometheus_alert_rules/`): promtool accepts them as
//! written and as published (with the Juju topology), its unit tests of every rule pass, and
//! every metric they query is one our server exposes with the config the charm renders.
//!
//! promtool comes with Debian's `prometheus` package (test.sh installs it and fails without
//! it); a local run without it skips these tests with a message.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use oathkeeper_charm::alert_rules::{self, Language, PROMETHEUS_RULES, promql_selectors};
use oathkeeper_charm::relation::metrics_endpoint;
use oathkeeper_charm::topology::{CHARM_NAME, Topology};
use oathkeeper_charm::workload;

use crate::scrape::{BUILT_IN, metrics_of_our_server};

/// The workspace root.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// promtool on the PATH, or `None` with a loud message.
fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!(
            "\n*** SKIPPED: promtool not found; install Debian's prometheus package \
             (test.sh does, and fails without it) ***\n"
        );
    }
    found
}

fn run(promtool: &Path, args: &[&str], dir: &Path) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn topology() -> Topology {
    Topology {
        model: "iam".into(),
        model_uuid: "0b4a7c1e-0000-4000-8000-000000000000".into(),
        application: "oathkeeper".into(),
        unit: "oathkeeper/0".into(),
        charm_name: CHARM_NAME.into(),
    }
}

#[test]
fn promtool_accepts_every_rule_file_as_shipped_and_as_published() {
    let Some(promtool) = promtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    for file in PROMETHEUS_RULES {
        std::fs::write(dir.path().join(file.name), file.text).unwrap();
        run(&promtool, &["check", "rules", file.name], dir.path());
    }
    // What Prometheus gets: the databag's JSON, which is YAML.
    let bag = metrics_endpoint::render_app(&topology(), workload::METRICS_PATH, 9000);
    std::fs::write(
        dir.path().join("published.rules"),
        &bag[metrics_endpoint::ALERT_RULES],
    )
    .unwrap();
    run(
        &promtool,
        &["check", "rules", "published.rules"],
        dir.path(),
    );
}

#[test]
fn published_rules_see_only_this_application() {
    let Some(promtool) = promtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bag = metrics_endpoint::render_app(&topology(), workload::METRICS_PATH, 9000);
    let published = &bag[metrics_endpoint::ALERT_RULES];
    std::fs::write(dir.path().join("published.rules"), published).unwrap();
    let rule = serde_json::from_str::<serde_json::Value>(published).unwrap()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .find(|r| r["alert"] == "OathkeeperUnavailable-all")
        .unwrap();
    let t = topology();
    let up = |app: &str| {
        format!(
            r#"up{{juju_model="iam",juju_model_uuid="{}",juju_application="{app}",juju_unit="{app}/0"}}"#,
            t.model_uuid
        )
    };
    // Ours down and Kratos up: ours fires (without the topology, sum(up) would be 1); ours
    // up and Kratos down: nothing.
    let case = |ours: &str, kratos: &str, alerts: serde_json::Value| {
        serde_json::json!({
            "interval": "1m",
            "input_series": [
                {"series": up("oathkeeper"), "values": ours},
                {"series": up("kratos"), "values": kratos},
            ],
            "alert_rule_test": [{
                "eval_time": "5m",
                "alertname": "OathkeeperUnavailable-all",
                "exp_alerts": alerts,
            }],
        })
    };
    let fired = serde_json::json!([{
        "exp_labels": rule["labels"],
        "exp_annotations": rule["annotations"],
    }]);
    let tests = serde_json::json!({
        "rule_files": ["published.rules"],
        "evaluation_interval": "1m",
        "tests": [case("0x10", "1x10", fired), case("1x10", "0x10", serde_json::json!([]))],
    });
    std::fs::write(dir.path().join("published.test.yaml"), tests.to_string()).unwrap();
    run(
        &promtool,
        &["test", "rules", "published.test.yaml"],
        dir.path(),
    );
}

/// The alert names of the shipped rules.
fn alerts() -> BTreeSet<String> {
    PROMETHEUS_RULES
        .iter()
        .flat_map(|file| alert_rules::render_file(file, Language::PromQl, &topology()).unwrap())
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|rule| rule["alert"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn promtool_unit_tests_cover_and_pass_for_every_rule() {
    let tests_dir = Path::new(ROOT)
        .join(alert_rules::PROMETHEUS_RULES_DIR)
        .join("tests");
    let mut tested = BTreeSet::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&tests_dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".test.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(tests_dir.join(&name)).unwrap();
        for line in text.lines() {
            if let Some(alert) = line.trim().strip_prefix("alertname: ") {
                tested.insert(alert.to_owned());
            }
        }
        files.push(name);
    }
    assert_eq!(tested, alerts(), "every rule has promtool unit tests");
    let Some(promtool) = promtool() else { return };
    for name in files {
        run(&promtool, &["test", "rules", &name], &tests_dir);
    }
}

#[test]
fn every_metric_the_rules_query_is_exposed_by_our_server() {
    let exposed = metrics_of_our_server();
    let mut missing = Vec::new();
    for file in PROMETHEUS_RULES {
        for group in alert_rules::render_file(file, Language::PromQl, &topology()).unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                let expr = rule["expr"].as_str().unwrap();
                for selector in promql_selectors(expr) {
                    let Some(name) = selector.name.map(|r| &expr[r]) else {
                        continue;
                    };
                    if !exposed.contains(name) && !BUILT_IN.contains(&name) {
                        missing.push(format!("{} in {}: {name}", rule["alert"], file.name));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "metrics the server does not expose:\n{}\nexposed: {exposed:#?}",
        missing.join("\n")
    );
}
