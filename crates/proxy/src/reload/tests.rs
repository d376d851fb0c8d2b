use std::time::SystemTime;

use oathkeeper_core::config::NoEnv;

use super::*;

fn loader(dir: &Path) -> (Loader, PathBuf) {
    let config = dir.join("oathkeeper.yaml");
    (
        Loader::new(ConfigSource::File(config.clone()), Box::new(NoEnv)),
        config,
    )
}

/// A clock far enough ahead that files written by the test are not "recent".
fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

const CONFIG: &str = "
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}, deny: {enabled: true}}
mutators: {noop: {enabled: true}}
access_rules:
  repositories: [__REPOS__]
";

fn rule(id: &str, url: &str) -> String {
    format!(
        r#"{{"id":"{id}","match":{{"url":"{url}","methods":["GET"]}},"authenticators":[{{"handler":"anonymous"}}],"authorizer":{{"handler":"allow"}},"mutators":[{{"handler":"noop"}}]}}"#
    )
}

fn rules(list: &[(&str, &str)]) -> String {
    let rules: Vec<String> = list.iter().map(|(id, url)| rule(id, url)).collect();
    format!("[{}]", rules.join(","))
}

/// A loader over `oathkeeper.yaml` naming `files` (written by the caller) in a temp dir.
struct Setup {
    dir: tempfile::TempDir,
    loader: Loader,
    metrics: Metrics,
}

impl Setup {
    fn new(files: &[(&str, &str)]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let repos: Vec<String> = files
            .iter()
            .map(|(name, _)| format!("file://{}", dir.path().join(name).display()))
            .collect();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (mut loader, config) = loader(dir.path());
        std::fs::write(&config, CONFIG.replace("__REPOS__", &repos.join(", "))).unwrap();
        loader.now = later;
        Setup {
            dir,
            loader,
            metrics: Metrics::new("t_"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn repo(&self, name: &str) -> String {
        format!("file://{}", self.path(name).display())
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn load(&mut self) -> Loaded {
        self.loader.load(&self.metrics).unwrap()
    }

    fn changed(&mut self) -> (Box<Snapshot>, LoadStatus) {
        match self.load() {
            Loaded::Changed(snapshot, status) => (snapshot, status),
            Loaded::Unchanged => panic!("expected a change"),
        }
    }

    fn metric(&self, line_start: &str) -> String {
        let text = self.metrics.encode();
        text.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in {text}"))
            .to_owned()
    }
}

/// The `(id, url)` of every rule that serves.
fn serving(snapshot: &Snapshot) -> Vec<(String, String)> {
    snapshot
        .rules
        .parsed()
        .into_iter()
        .map(|r| (r.id, r.matcher.url))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_broken_config_is_reported_once_not_on_every_poll() {
    let dir = tempfile::tempdir().unwrap();
    let (mut loader, config) = loader(dir.path());
    std::fs::write(&config, "log: {level: info}\n").unwrap();
    let metrics = Metrics::new("t_");
    assert!(matches!(
        loader.load(&metrics).unwrap(),
        Loaded::Changed(..)
    ));
    std::fs::write(&config, "log: [\n").unwrap();
    let Loaded::Changed(_, status) = loader.load(&metrics).unwrap() else {
        panic!("a changed config is a change")
    };
    assert!(status.config_error.is_some());
    for _ in 0..3 {
        assert!(
            matches!(loader.load(&metrics).unwrap(), Loaded::Unchanged),
            "same bytes, nothing to do"
        );
    }
    let errors = metrics.encode();
    assert!(
        errors.contains(&format!(
            "t_reload_errors_total{{source=\"{}\"}} 1",
            config.display()
        )),
        "{errors}"
    );
    // Fixed: the error goes away.
    std::fs::write(&config, "log: {level: debug}\n").unwrap();
    let Loaded::Changed(_, status) = loader.load(&metrics).unwrap() else {
        panic!("fixed config")
    };
    assert!(status.config_error.is_none());
}

#[test]
fn the_first_load_fails_on_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let (mut loader, config) = loader(dir.path());
    std::fs::write(&config, "serve: {api: {port: x}}\n").unwrap();
    let err = loader.load(&Metrics::new("")).unwrap_err();
    assert!(err.to_string().contains("serve.api.port"), "{err}");
}

#[test]
fn unchanged_sources_are_not_read_again_even_after_being_read_by_others() {
    let mut s = Setup::new(&[("rules.json", &rules(&[("a", "http://h/a")]))]);
    s.changed();
    for _ in 0..5 {
        std::fs::read(s.path("rules.json")).unwrap();
        assert!(matches!(s.load(), Loaded::Unchanged));
    }
    assert_eq!(
        s.metric("t_reloads_total{result=\"unchanged\"}"),
        "t_reloads_total{result=\"unchanged\"} 0",
        "nothing was read again"
    );
    assert_eq!(
        s.metric("t_reloads_total{result=\"applied\"}"),
        "t_reloads_total{result=\"applied\"} 1"
    );
    // A real change is read, and a rewrite with the same bytes is read but not applied.
    s.write("rules.json", &rules(&[("a", "http://h/b")]));
    let (snapshot, _) = s.changed();
    assert_eq!(serving(&snapshot), pairs(&[("a", "http://h/b")]));
    s.write("rules.json", &rules(&[("a", "http://h/b")]));
    assert!(matches!(s.load(), Loaded::Unchanged));
    assert_eq!(
        s.metric("t_reloads_total{result=\"unchanged\"}"),
        "t_reloads_total{result=\"unchanged\"} 1"
    );
}

#[test]
fn a_file_written_too_recently_is_read_again_at_the_next_check() {
    let mut s = Setup::new(&[("rules.json", &rules(&[("a", "http://h/a")]))]);
    s.loader.now = SystemTime::now;
    s.changed();
    // Same stamp, but within the timestamp granularity a same-size write could hide in it.
    assert!(matches!(s.load(), Loaded::Unchanged));
    assert_eq!(
        s.metric("t_reloads_total{result=\"unchanged\"}"),
        "t_reloads_total{result=\"unchanged\"} 1"
    );
}

#[test]
fn a_file_with_a_rule_that_cannot_compile_keeps_its_last_good_version_whole() {
    let good = rules(&[("admin", "http://h/admin<.*>"), ("a", "http://h/a")]);
    let mut s = Setup::new(&[("rules.json", &good)]);
    s.changed();
    // One rule breaks, another changes: neither change applies.
    s.write(
        "rules.json",
        &rules(&[("admin", "http://h/admin<(>"), ("a", "http://h/a2")]),
    );
    let (snapshot, status) = s.changed();
    assert_eq!(
        serving(&snapshot),
        pairs(&[("admin", "http://h/admin<.*>"), ("a", "http://h/a")])
    );
    assert_eq!(snapshot.rule_count(), 2);
    let repo = s.repo("rules.json");
    let error = &status.repository_errors[&repo];
    assert!(
        error.starts_with("rule \"admin\": ")
            && error.ends_with("the last good version of the file (2 rules) stays in use"),
        "{error}"
    );
    let errors = format!("t_reload_errors_total{{source=\"{repo}\"}}");
    assert_eq!(s.metric(&errors), format!("{errors} 1"));
    // Fixed: the new version applies whole.
    s.write("rules.json", &rules(&[("a", "http://h/a2")]));
    let (snapshot, status) = s.changed();
    assert_eq!(serving(&snapshot), pairs(&[("a", "http://h/a2")]));
    assert!(status.repository_errors.is_empty(), "{status:?}");
}

#[test]
fn on_a_first_load_a_file_with_a_rule_that_cannot_compile_contributes_no_rule() {
    let mut s = Setup::new(&[
        ("good.json", &rules(&[("g", "http://h/g")])),
        (
            "bad.json",
            &rules(&[("fine", "http://h/fine"), ("empty", "")]),
        ),
    ]);
    let (snapshot, status) = s.changed();
    assert_eq!(serving(&snapshot), pairs(&[("g", "http://h/g")]));
    let error = &status.repository_errors[&s.repo("bad.json")];
    assert_eq!(
        error,
        "rule \"empty\": match.url is empty; no rule of the file is loaded"
    );
    assert_eq!(status.repository_errors.len(), 1);
}

#[test]
fn a_file_that_turns_empty_keeps_its_last_good_rules_but_an_empty_list_applies() {
    let mut s = Setup::new(&[("rules.json", &rules(&[("a", "http://h/a")]))]);
    s.changed();
    let repo = s.repo("rules.json");
    for empty in ["", " \n\t\n"] {
        s.write("rules.json", empty);
        let (snapshot, status) = s.changed();
        assert_eq!(serving(&snapshot), pairs(&[("a", "http://h/a")]));
        assert_eq!(
            status.repository_errors[&repo],
            format!(
                "{repo} is empty; a rules file may be empty only while it has been empty from \
                 the start (write [] for no rules)"
            )
        );
    }
    s.write("rules.json", "[]");
    let (snapshot, status) = s.changed();
    assert!(serving(&snapshot).is_empty(), "[] means no rules");
    assert!(status.repository_errors.is_empty(), "{status:?}");
}

#[test]
fn a_file_empty_from_the_start_may_stay_empty_until_it_has_had_rules() {
    let mut s = Setup::new(&[
        ("empty.json", ""),
        ("other.json", &rules(&[("o", "http://h/o")])),
    ]);
    let (snapshot, status) = s.changed();
    assert_eq!(serving(&snapshot), pairs(&[("o", "http://h/o")]));
    assert!(status.repository_errors.is_empty(), "{status:?}");
    s.write("empty.json", "\n");
    let (_, status) = s.changed();
    assert!(
        status.repository_errors.is_empty(),
        "still empty: {status:?}"
    );
    s.write("empty.json", &rules(&[("e", "http://h/e")]));
    s.changed();
    s.write("empty.json", "");
    let (snapshot, status) = s.changed();
    assert_eq!(
        serving(&snapshot),
        pairs(&[("e", "http://h/e"), ("o", "http://h/o")])
    );
    assert!(
        status.repository_errors[&s.repo("empty.json")].contains("is empty"),
        "{status:?}"
    );
}

#[test]
fn a_config_that_turns_empty_keeps_the_last_good_config() {
    let mut s = Setup::new(&[("rules.json", &rules(&[("a", "http://h/a")]))]);
    s.changed();
    let config = s.path("oathkeeper.yaml");
    std::fs::write(&config, "").unwrap();
    let (snapshot, status) = s.changed();
    assert_eq!(
        serving(&snapshot),
        pairs(&[("a", "http://h/a")]),
        "the repositories of the last good config still serve"
    );
    assert_eq!(
        status.config_error.as_deref(),
        Some(
            format!(
                "config file {} is empty (accepted only while it has been empty from the start)",
                config.display()
            )
            .as_str()
        )
    );
}

/// Puts something that is not a readable rules file at a path.
type Make = fn(&Path);

#[test]
fn unreadable_files_keep_the_last_good_rules_with_a_clear_error() {
    let mut s = Setup::new(&[("rules.json", &rules(&[("a", "http://h/a")]))]);
    s.changed();
    let path = s.path("rules.json");
    let repo = s.repo("rules.json");
    let cases: [(&str, Make); 3] = [
        ("is not a regular file but a FIFO", |p| {
            assert!(
                std::process::Command::new("mkfifo")
                    .arg(p)
                    .status()
                    .unwrap()
                    .success()
            );
        }),
        ("is not a regular file but a character device", |p| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap();
        }),
        ("is larger than 64 MiB", |p| {
            let file = std::fs::File::create(p).unwrap();
            file.set_len(MAX_SOURCE_BYTES + 1).unwrap();
        }),
    ];
    for (problem, make) in cases {
        std::fs::remove_file(&path).unwrap();
        make(&path);
        let (snapshot, status) = s.changed();
        assert_eq!(
            serving(&snapshot),
            pairs(&[("a", "http://h/a")]),
            "{problem}"
        );
        assert_eq!(
            status.repository_errors[&repo],
            format!("rules file {} {problem}", path.display())
        );
    }
}

#[test]
fn stale_sources_are_flagged_in_a_gauge_until_they_recover() {
    let mut s = Setup::new(&[("rules.json", &rules(&[("a", "http://h/a")]))]);
    let (snapshot, status) = s.changed();
    let state = State::new(*snapshot, status, Metrics::new("t_"));
    let repo = s.repo("rules.json");
    let gauge = |state: &State| {
        state
            .metrics
            .encode()
            .lines()
            .find(|l| l.starts_with("t_source_stale{"))
            .map(str::to_owned)
    };
    assert_eq!(gauge(&state), None, "nothing stale yet");
    s.write("rules.json", "[oops");
    let (snapshot, status) = s.changed();
    state.install(*snapshot, status);
    assert_eq!(
        gauge(&state),
        Some(format!("t_source_stale{{source=\"{repo}\"}} 1"))
    );
    s.write("rules.json", &rules(&[("a", "http://h/b")]));
    let (snapshot, status) = s.changed();
    state.install(*snapshot, status);
    assert_eq!(
        gauge(&state),
        Some(format!("t_source_stale{{source=\"{repo}\"}} 0"))
    );
}

fn hangs(_: Role, _: &Path) -> Result<Vec<u8>, ReadError> {
    std::thread::sleep(Duration::from_millis(600));
    Ok(b"[]".to_vec())
}

#[tokio::test]
async fn a_reload_that_hangs_shows_in_readiness_until_it_ends() {
    let mut s = Setup::new(&[("rules.json", &rules(&[("a", "http://h/a")]))]);
    let (snapshot, status) = s.changed();
    let state = Arc::new(State::new(*snapshot, status, Metrics::new("t_")));
    let Setup {
        dir, mut loader, ..
    } = s;
    loader.reader = Reader::with_read(Duration::from_secs(5), hangs);
    std::fs::write(
        dir.path().join("oathkeeper.yaml"),
        CONFIG.replace("__REPOS__", ""),
    )
    .unwrap();
    let watcher = Arc::clone(&state);
    let reloading = tokio::spawn(async move {
        let (tls, _) = crate::tls::Reloader::start(None).unwrap();
        reload(loader, tls, &watcher, Duration::from_millis(100))
            .await
            .is_some()
    });
    let config = dir.path().join("oathkeeper.yaml").display().to_string();
    let mut seen = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if let Some(hang) = state.status.load().hang.clone() {
            seen = Some(hang);
            break;
        }
    }
    let hang = seen.expect("the hang shows while the reload runs");
    assert_eq!(hang.source.as_deref(), Some(config.as_str()));
    assert!(
        hang.message
            .starts_with(&format!("a reload has been reading {config} for 0 s")),
        "{}",
        hang.message
    );
    assert!(
        state
            .metrics
            .encode()
            .contains(&format!("t_source_stale{{source=\"{config}\"}} 1")),
        "{}",
        state.metrics.encode()
    );
    assert!(reloading.await.unwrap(), "the reload ends");
    assert_eq!(state.status.load().hang, None, "and the report goes away");
    assert!(
        state
            .metrics
            .encode()
            .contains(&format!("t_source_stale{{source=\"{config}\"}} 0"))
    );
}

#[test]
fn only_changes_to_the_watched_files_trigger_a_reload() {
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
    use notify::{Event, EventKind};
    let files: BTreeSet<PathBuf> = [PathBuf::from("/etc/config/rules.json")].into();
    let event = |kind, path: &str| Event::new(kind).add_path(PathBuf::from(path));
    for (kind, expected) in [
        (EventKind::Access(AccessKind::Open(AccessMode::Any)), false),
        (EventKind::Access(AccessKind::Read), false),
        (
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            false,
        ),
        (
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            true,
        ),
        (EventKind::Create(CreateKind::File), true),
        (EventKind::Modify(ModifyKind::Any), true),
        (EventKind::Modify(ModifyKind::Name(RenameMode::To)), true),
        (EventKind::Remove(RemoveKind::File), true),
        (EventKind::Other, true),
    ] {
        assert_eq!(is_change(&kind), expected, "{kind:?}");
    }
    let kind = EventKind::Create(CreateKind::Any);
    for (path, expected) in [
        ("/etc/config/rules.json", true),
        // A ConfigMap update: kubelet renames `..data_tmp` to `..data`.
        ("/etc/config/..data", true),
        ("/etc/config/..2026_11_28_000002", true),
        ("/etc/config", true),
        ("/etc/config/other.json", false),
        ("/etc/config/sub/..data", false),
        ("/etc/rules.json", false),
    ] {
        assert_eq!(concerns(&files, &event(kind, path)), expected, "{path}");
    }
    assert!(
        concerns(&files, &Event::new(EventKind::Other)),
        "an overflow has no path"
    );
}
