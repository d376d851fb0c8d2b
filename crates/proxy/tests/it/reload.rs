//! Hot reload of rule files and the config, including a Kubernetes ConfigMap volume's atomic
//! `..data` symlink swap, with requests flowing throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{ConfigMapDir, Server, eventually, http_get};

fn rule(id: &str, authorizer: &str) -> String {
    format!(
        r#"[{{"id":"{id}","match":{{"url":"http://app.example/<.*>","methods":["GET"]}},"authenticators":[{{"handler":"anonymous"}}],"authorizer":{{"handler":"{authorizer}"}},"mutators":[{{"handler":"noop"}}]}}]"#
    )
}

const CONFIG: &str = "
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}, deny: {enabled: true}}
mutators: {noop: {enabled: true}}
access_rules:
  repositories: [__REPOS__]
";

fn write_config(dir: &std::path::Path, repos: &[String]) -> std::path::PathBuf {
    let path = dir.join("oathkeeper.yaml");
    std::fs::write(&path, CONFIG.replace("__REPOS__", &repos.join(", "))).unwrap();
    path
}

#[test]
fn configmap_symlink_swap_applies_within_a_second_without_failed_requests() {
    let mut volume = ConfigMapDir::new(&[("rules.json", &rule("r", "allow"))]);
    let config_dir = tempfile::tempdir().unwrap();
    let config = write_config(
        config_dir.path(),
        &[format!("file://{}", volume.path("rules.json").display())],
    );
    let s = Server::start(&config);
    let api = s.api;
    let ask = move || http_get(api, "/decisions/x", &[("Host", "app.example")]).map(|r| r.status);
    assert_eq!(ask().unwrap(), 200);

    // Requests flow while the volume is swapped; every one must be answered 200 or 403.
    let stop = Arc::new(AtomicBool::new(false));
    let flow = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                seen.push(ask());
            }
            seen
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let swapped = Instant::now();
    volume.update(&[("rules.json", &rule("r", "deny"))]);
    assert!(
        eventually(Duration::from_secs(1), || ask().is_ok_and(|s| s == 403)),
        "the new rule applies within 1 s"
    );
    let took = swapped.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    let seen = flow.join().unwrap();
    assert!(seen.len() > 10, "requests kept flowing: {}", seen.len());
    for status in &seen {
        assert!(
            matches!(status, Ok(200 | 403)),
            "a request failed during the swap: {status:?}"
        );
    }
    eprintln!(
        "swap applied after {took:?}; {} requests during the swap",
        seen.len()
    );
}

#[test]
fn broken_rule_file_keeps_the_last_good_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, rule("r", "allow")).unwrap();
    let config = write_config(dir.path(), &[format!("file://{}", rules.display())]);
    let s = Server::start(&config);
    assert_eq!(
        s.get("/decisions/x", &[("Host", "app.example")]).status,
        200
    );
    std::fs::write(&rules, "[{\"id\": \"r\",\n  \"match\": oops}]").unwrap();
    assert!(eventually(Duration::from_secs(2), || {
        http_get(s.metrics, "/metrics", &[]).is_ok_and(|m| {
            m.body
                .contains("ory_oathkeeper_reload_errors_total{source=\"file://")
        })
    }));
    assert_eq!(
        s.get("/decisions/x", &[("Host", "app.example")]).status,
        200,
        "the last good rules still serve"
    );
    let ready = s.get("/health/ready", &[]);
    assert_eq!(ready.status, 200);
    assert!(
        ready.body.contains(":2:"),
        "the readiness detail names the file and line: {}",
        ready.body
    );
    // A fixed file applies again.
    std::fs::write(&rules, rule("r", "deny")).unwrap();
    assert!(eventually(Duration::from_secs(2), || s
        .get("/decisions/x", &[("Host", "app.example")])
        .status
        == 403));
}

#[test]
fn config_changes_reload_handlers_and_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    std::fs::write(&first, rule("r", "allow")).unwrap();
    std::fs::write(
        &second,
        r#"[{"id":"s","match":{"url":"http://other.example/<.*>","methods":["GET"]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"deny"},"mutators":[{"handler":"noop"}]}]"#,
    )
    .unwrap();
    let config = write_config(dir.path(), &[format!("file://{}", first.display())]);
    let s = Server::start(&config);
    let at = |host: &str| s.get("/decisions/x", &[("Host", host)]).status;
    assert_eq!(at("app.example"), 200);
    assert_eq!(at("other.example"), 404);
    // A second repository.
    write_config(
        dir.path(),
        &[
            format!("file://{}", first.display()),
            second.display().to_string(),
        ],
    );
    assert!(eventually(Duration::from_secs(2), || at("other.example") == 403));
    // Disabling a handler in use makes its rule answer 500.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("deny: {enabled: true}", "deny: {enabled: false}");
    std::fs::write(&config, text).unwrap();
    assert!(eventually(Duration::from_secs(2), || at("other.example") == 500));
    // The matching strategy reloads too: as a glob, `<.*>` is a literal dot and a star.
    let text = std::fs::read_to_string(&config).unwrap() + "  matching_strategy: glob\n";
    std::fs::write(&config, text).unwrap();
    assert!(eventually(Duration::from_secs(2), || at("app.example") == 404));
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("  matching_strategy: glob\n", "");
    std::fs::write(&config, text).unwrap();
    assert!(eventually(Duration::from_secs(2), || at("app.example") == 200));
    // A broken config keeps the last good one.
    std::fs::write(&config, "access_rules: [").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(at("app.example"), 200);
    assert_eq!(at("other.example"), 500);
    assert!(
        s.get("/health/ready", &[]).body.contains("config"),
        "readiness says the config is stale"
    );
}
