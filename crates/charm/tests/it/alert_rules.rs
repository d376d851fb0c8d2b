//! The alert rules the charm ships (`charm/prometheus_alert_rules/`): promtool accepts them as
//! written and as published (with the Juju topology), its unit tests of every rule pass, and
//! every metric they query is one our server exposes with the config the charm renders.
//!
//! promtool comes with Debian's `prometheus` package (test.sh installs it and fails without
//! it); a local run without it skips these tests with a message.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::live::{eventually, free_port};
use oathkeeper_charm::alert_rules::{self, Language, PROMETHEUS_RULES, promql_selectors};
use oathkeeper_charm::relation::metrics_endpoint;
use oathkeeper_charm::topology::{CHARM_NAME, Topology};
use oathkeeper_charm::workload;

/// The workspace root.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Prometheus' own series every scrape adds, which no exporter exposes.
const BUILT_IN: &[&str] = &["up"];

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

/// `GET path` on 127.0.0.1:`port` over HTTP/1.1: the status line and the body.
fn get(port: u16, path: &str, headers: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_owned(), body.to_owned()))
}

/// The metric names of an exposition: every sample's name, and each family's with the
/// suffixes of its type.
fn exposed(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(family), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["", "_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{family}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

#[test]
fn every_metric_the_rules_query_is_exposed_by_our_server() {
    // The server as the charm configures it (prefix oathkeeper_, /metrics/prometheus), on
    // free ports, with one rules file.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"[{"id": "a", "match": {"url": "http://app.example.com/<.*>", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}]}]"#,
    )
    .unwrap();
    let mut config = workload::config(&workload::ConfigInputs::default());
    let (api, metrics) = (free_port(), free_port());
    config.serve.api.host = "127.0.0.1".into();
    config.serve.api.port = Some(api);
    config.serve.proxy.host = "127.0.0.1".into();
    config.serve.proxy.port = Some(free_port());
    config.serve.prometheus.host = "127.0.0.1".into();
    config.serve.prometheus.port = metrics;
    config.access_rules.repositories = vec![format!("file://{}", rules.display())];
    let config_file = dir.path().join("oathkeeper.yaml");
    std::fs::write(&config_file, config.to_yaml()).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(oathkeeper::serve::run(
            oathkeeper::settings::ConfigSource::File(config_file),
            Box::new(oathkeeper_core::config::NoEnv),
        ));
        eprintln!("server stopped: {result:?}");
    });
    eventually("the API", || get(api, "/health/ready", "").is_some());
    // One decision of each kind the rules look at: allowed, and a denial (no rule).
    for host in ["app.example.com", "other.example.com"] {
        let forwarded = format!(
            "X-Forwarded-Method: GET\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: {host}\r\nX-Forwarded-Uri: /x\r\n"
        );
        assert!(get(api, "/decisions", &forwarded).is_some());
    }
    let (status, body) = get(metrics, workload::METRICS_PATH, "").unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let mut exposed = exposed(&body);
    // And once a source failed (its series, whatever the server creates at start).
    std::fs::write(&rules, "[{").unwrap();
    eventually("the reload error", || {
        get(metrics, workload::METRICS_PATH, "")
            .is_some_and(|(_, body)| body.contains("reload_errors_total{"))
    });
    let (_, body) = get(metrics, workload::METRICS_PATH, "").unwrap();
    exposed.extend(self::exposed(&body));
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
