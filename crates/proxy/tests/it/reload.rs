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
            // The series is there at 0 from the start: wait for the count.
            m.body.lines().any(|l| {
                l.starts_with("ory_oathkeeper_reload_errors_total{source=\"file://")
                    && l.ends_with("} 1")
            })
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

/// The value of the first metric line starting with `name`, or 0 when there is none.
fn metric(s: &Server, name: &str) -> f64 {
    let text = http_get(s.metrics, "/metrics", &[]).unwrap().body;
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn an_idle_server_reads_no_file_and_still_applies_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, rule("r", "allow")).unwrap();
    let config = write_config(dir.path(), &[format!("file://{}", rules.display())]);
    let s = Server::start(&config);
    // Files written within the last second or two are read once more at the next poll (2 s):
    // their stamps could hide a second write.
    std::thread::sleep(Duration::from_millis(2500));
    let before = metric(&s, "ory_oathkeeper_reloads_total");
    // Requests, API reads and reads of the files by others are not changes.
    for _ in 0..20 {
        assert_eq!(
            s.get("/decisions/x", &[("Host", "app.example")]).status,
            200
        );
        assert_eq!(s.get("/rules", &[]).status, 200);
        std::fs::read(&rules).unwrap();
        std::fs::read(&config).unwrap();
    }
    std::thread::sleep(Duration::from_millis(2500));
    let after = metric(&s, "ory_oathkeeper_reloads_total");
    assert_eq!(
        before, after,
        "no reload in 2.5 s of idling (before the fix: one every ~50 ms)"
    );
    std::fs::write(&rules, rule("r", "deny")).unwrap();
    assert!(eventually(Duration::from_secs(2), || s
        .get("/decisions/x", &[("Host", "app.example")])
        .status
        == 403));
    assert_eq!(
        metric(&s, "ory_oathkeeper_reloads_total{result=\"applied\"}"),
        1.0
    );
}

/// Puts something that is not a readable rules file at a path.
type Make = fn(&std::path::Path);

#[test]
fn a_fifo_a_device_or_a_huge_file_keeps_the_last_good_rules_and_shows_in_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, rule("r", "allow")).unwrap();
    let config = write_config(dir.path(), &[format!("file://{}", rules.display())]);
    let s = Server::start(&config);
    let at = || s.get("/decisions/x", &[("Host", "app.example")]).status;
    let stale = format!(
        "ory_oathkeeper_source_stale{{source=\"file://{}\"}}",
        rules.display()
    );
    let cases: [(&str, Make); 3] = [
        ("is not a regular file but a FIFO", |p| {
            let made = std::process::Command::new("mkfifo").arg(p).status();
            assert!(made.unwrap().success());
        }),
        ("is not a regular file but a character device", |p| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap();
        }),
        ("is larger than 64 MiB", |p| {
            let file = std::fs::File::create(p).unwrap();
            file.set_len(64 * 1024 * 1024 + 1).unwrap();
        }),
    ];
    for (i, (problem, make)) in cases.into_iter().enumerate() {
        std::fs::remove_file(&rules).unwrap();
        make(&rules);
        let expected = format!("rules file {} {problem}", rules.display());
        assert!(
            eventually(Duration::from_secs(3), || s
                .get("/health/ready", &[])
                .body
                .contains(&expected)),
            "readiness names the file and the problem: {}",
            s.get("/health/ready", &[]).body
        );
        assert_eq!(
            s.get("/health/ready", &[]).status,
            200,
            "the last good rules serve"
        );
        assert_eq!(at(), if i % 2 == 0 { 200 } else { 403 });
        assert_eq!(metric(&s, &stale), 1.0);
        // A regular file again: it applies, and nothing is stale any more.
        std::fs::remove_file(&rules).unwrap();
        std::fs::write(&rules, rule("r", if i % 2 == 0 { "deny" } else { "allow" })).unwrap();
        assert!(eventually(Duration::from_secs(3), || at()
            == if i % 2 == 0 { 403 } else { 200 }));
        assert!(!s.get("/health/ready", &[]).body.contains("stale"));
        assert_eq!(metric(&s, &stale), 0.0);
    }
}

#[test]
fn a_fifo_as_rules_file_at_start_neither_blocks_startup_nor_hides_in_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, rule("r", "allow")).unwrap();
    let config = write_config(
        dir.path(),
        &[
            format!("file://{}", fifo.display()),
            format!("file://{}", rules.display()),
        ],
    );
    // Before the fix, the first read of the FIFO waited for a writer forever.
    let s = Server::start(&config);
    let ready = s.get("/health/ready", &[]);
    assert_eq!(ready.status, 200);
    assert!(
        ready.body.contains(&format!(
            "rules file {} is not a regular file but a FIFO",
            fifo.display()
        )),
        "{}",
        ready.body
    );
    assert_eq!(
        s.get("/decisions/x", &[("Host", "app.example")]).status,
        200
    );
}

#[test]
fn a_rule_that_stops_compiling_keeps_its_file_whole_so_an_overlapping_allow_does_not_decide_alone()
{
    let dir = tempfile::tempdir().unwrap();
    let allow = dir.path().join("allow.json");
    let admin = dir.path().join("admin.json");
    std::fs::write(&allow, rule("everything", "allow")).unwrap();
    let deny_admin = |url: &str| {
        format!(
            r#"[{{"id":"admin","match":{{"url":"{url}","methods":["GET"]}},"authenticators":[{{"handler":"anonymous"}}],"authorizer":{{"handler":"deny"}},"mutators":[{{"handler":"noop"}}]}},
                {{"id":"other","match":{{"url":"http://other.example/<.*>","methods":["GET"]}},"authenticators":[{{"handler":"anonymous"}}],"authorizer":{{"handler":"deny"}},"mutators":[{{"handler":"noop"}}]}}]"#
        )
    };
    std::fs::write(&admin, deny_admin("http://app.example/admin<.*>")).unwrap();
    let config = write_config(
        dir.path(),
        &[
            format!("file://{}", allow.display()),
            format!("file://{}", admin.display()),
        ],
    );
    let s = Server::start(&config);
    let at = |path: &str| s.get(path, &[("Host", "app.example")]).status;
    // Both rules match /admin: ambiguous, so it fails closed.
    assert_eq!(at("/decisions/admin"), 500);
    assert_eq!(at("/decisions/x"), 200);
    // The deny rule's pattern breaks. Dropping it alone would let the allow rule decide.
    std::fs::write(&admin, deny_admin("http://app.example/admin<(>")).unwrap();
    let expected = "rule \\\"admin\\\": ";
    assert!(
        eventually(Duration::from_secs(3), || s
            .get("/health/ready", &[])
            .body
            .contains(expected)),
        "readiness names the rule: {}",
        s.get("/health/ready", &[]).body
    );
    assert_eq!(
        at("/decisions/admin"),
        500,
        "the whole last good file serves"
    );
    assert_eq!(
        s.get("/rules", &[]).body.matches("\"id\"").count(),
        3,
        "/rules lists what serves"
    );
}

#[test]
fn a_truncated_rules_file_keeps_its_rules_until_it_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, rule("r", "allow")).unwrap();
    let config = write_config(dir.path(), &[format!("file://{}", rules.display())]);
    let s = Server::start(&config);
    // A writer truncates, then writes later.
    std::fs::File::create(&rules).unwrap();
    assert!(
        eventually(Duration::from_secs(3), || s
            .get("/health/ready", &[])
            .body
            .contains("is empty")),
        "{}",
        s.get("/health/ready", &[]).body
    );
    assert_eq!(
        s.get("/decisions/x", &[("Host", "app.example")]).status,
        200,
        "the rules of the file still serve"
    );
    std::fs::write(&rules, rule("r", "deny")).unwrap();
    assert!(eventually(Duration::from_secs(3), || s
        .get("/decisions/x", &[("Host", "app.example")])
        .status
        == 403));
    assert!(!s.get("/health/ready", &[]).body.contains("stale"));
}

#[test]
fn a_fifo_as_config_file_is_a_clear_startup_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("oathkeeper.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let mut child = std::process::Command::new(crate::support::BIN)
        .arg("serve")
        .arg("-c")
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve still waits on the FIFO after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!(
            "config file {} is not a regular file but a FIFO",
            fifo.display()
        )),
        "{stderr}"
    );
}
