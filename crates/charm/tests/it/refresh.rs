//! `juju refresh` from the Python charm 1.0.2: `upgrade-charm` on the States it leaves after
//! the tutorial (`tests/fixtures/python-charm/`, recorded under the harness), loaded as they are.

use std::collections::BTreeSet;

use harness::{Event, State};

use crate::support::{
    ORY_VERSION_OUTPUT, OUR_VERSION_OUTPUT, charm_dir, config_map, run_ok, with_image,
};

/// The recorded States, by file name.
const FIXTURES: [&str; 3] = [
    "deployed.json",
    "tutorial.json",
    "tutorial-mounted-volumes.json",
];

/// The fixture `name`, as the Python charm left it.
fn fixture(name: &str) -> State {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/python-charm/");
    let text = std::fs::read_to_string(format!("{path}{name}")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// The rule ids of an access-rules ConfigMap: our JSON, or the Python charm's `str(list)`.
fn rule_ids(state: &State) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for text in config_map(state, "access-rules").values() {
        for piece in text.split("'id': '").skip(1) {
            ids.insert(piece.split('\'').next().unwrap().to_owned());
        }
        if let Ok(serde_json::Value::Array(rules)) = serde_json::from_str(text) {
            for rule in rules {
                ids.insert(rule["id"].as_str().unwrap().to_owned());
            }
        }
    }
    ids
}

#[test]
fn each_python_charm_state_loads_and_upgrade_charm_runs_with_our_charm() {
    let dir = charm_dir();
    for name in FIXTURES {
        let before = fixture(name);
        let old_ids = rule_ids(&before);
        let outcome = run_ok(dir.path(), &before, &Event::hook("upgrade-charm"));
        let after = &outcome.state;
        assert_eq!(
            after.unit_status.name, "active",
            "{name}: {:?}",
            after.unit_status
        );
        // Every rule the Python charm served is served after the refresh, as JSON.
        let new_ids = rule_ids(after);
        assert!(
            new_ids.is_superset(&old_ids),
            "{name}: {old_ids:?} -> {new_ids:?}"
        );
        for text in config_map(after, "access-rules").values() {
            assert!(
                text.is_empty() || serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "{name}: not JSON: {text}"
            );
        }
    }
}

/// The `volumeMounts` of the `oathkeeper` container of the StatefulSet, by mount path.
fn mounts(state: &State) -> Vec<String> {
    let statefulset = state
        .kubernetes
        .object("StatefulSet", "oathkeeper")
        .unwrap();
    statefulset["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "oathkeeper")
        .flat_map(|c| c["volumeMounts"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["mountPath"].as_str().map(str::to_owned))
        .filter(|path| path.starts_with("/etc/config/"))
        .collect()
}

/// The `oathkeeper` service command of the container's plan.
fn command(state: &State) -> String {
    let plan = state.containers["oathkeeper"].plan();
    plan.services["oathkeeper"].command.clone().unwrap()
}

#[test]
fn issue_16_a_refresh_keeping_orys_image_serves_mounted_files_and_says_so() {
    let dir = charm_dir();
    for name in FIXTURES {
        let before = with_image(fixture(name), ORY_VERSION_OUTPUT);
        let old_ids = rule_ids(&before);
        let outcome = run_ok(dir.path(), &before, &Event::hook("upgrade-charm"));
        let after = &outcome.state;
        assert_eq!(
            after.unit_status.message,
            "running Ory Oathkeeper v0.40.6; refresh the oci-image resource for live rule updates",
            "{name}"
        );
        assert_eq!(after.unit_status.name, "active", "{name}");
        assert_eq!(
            command(after),
            "oathkeeper serve -c /etc/config/oathkeeper/oathkeeper.yaml",
            "{name}"
        );
        assert_eq!(
            mounts(after),
            ["/etc/config/oathkeeper", "/etc/config/access-rules"],
            "{name}"
        );
        let config = &config_map(after, "oathkeeper-config")["oathkeeper.yaml"];
        assert!(!config.contains("k8s://"), "{name}: {config}");
        assert!(rule_ids(after).is_superset(&old_ids), "{name}");
        // Where the State shows the mounted files, kubelet's sync hands Ory the JSON rules.
        for (key, text) in config_map(after, "access-rules") {
            let path = format!("/etc/config/access-rules/{key}");
            if let Some(file) = after.containers["oathkeeper"].files.get(&path) {
                assert_eq!(*file, harness::pebble::File::Text(text), "{name}: {path}");
            }
        }
        assert_eq!(
            after.unit_state.get("workload-server").map(String::as_str),
            Some("ory v0.40.6"),
            "{name}"
        );
    }
}

#[test]
fn issue_16_a_refresh_to_our_image_watches_the_configmaps_and_leaves_the_mounts() {
    let dir = charm_dir();
    for name in FIXTURES {
        let before = with_image(fixture(name), OUR_VERSION_OUTPUT);
        let outcome = run_ok(dir.path(), &before, &Event::hook("upgrade-charm"));
        let after = &outcome.state;
        assert_eq!(
            command(after),
            "oathkeeper serve -c k8s://iam/oathkeeper-config"
        );
        // The Python charm's mounts stay: inert for a server watching the API, and removing
        // them would restart the pod during the refresh.
        assert_eq!(mounts(after), mounts(&before), "{name}");
        assert_eq!(
            after.unit_state.get("workload-server").map(String::as_str),
            Some("oathkeeper-rs 0.1.0"),
            "{name}"
        );
        assert!(!after.unit_status.message.contains("Ory"), "{name}");
    }
}

/// The position of the first juju-log line containing `text`.
fn logged_at(outcome: &harness::Outcome, text: &str) -> usize {
    outcome
        .effects
        .juju_log
        .iter()
        .position(|line| line.message.contains(text))
        .unwrap_or_else(|| panic!("no log line with {text:?}"))
}

#[test]
fn issue_16_the_refresh_writes_the_new_rules_first_and_keeps_every_relation_bag() {
    let dir = charm_dir();
    for (image, output) in [("ours", OUR_VERSION_OUTPUT), ("ory", ORY_VERSION_OUTPUT)] {
        let before = with_image(fixture("tutorial.json"), output);
        let outcome = run_ok(dir.path(), &before, &Event::hook("upgrade-charm"));
        // No window with a missing rule: the rules (same key, JSON, one PATCH replacing the
        // Python repr) land before the config naming them and before the new layer runs.
        let rules = logged_at(&outcome, "ConfigMap access-rules:");
        let config = logged_at(&outcome, "ConfigMap oathkeeper-config:");
        assert!(rules < config, "{image}");
        // Ory's server keeps the Python charm's layer: its service and check are ours
        // already (`oathkeeper serve -c <mounted file>`, `alive`), so nothing restarts.
        if image == "ours" {
            let layer = logged_at(&outcome, "Pebble layer oathkeeper added");
            assert!(config < layer, "{image}");
        }
        // The Python charm's bags are what ours writes: the peer bookkeeping
        // (`auth_proxy_4` = {"access_rules_filenames": [...]}) is adopted as it is, and
        // forward-auth, ingress and oathkeeper-info are left as they were.
        for (old, new) in before.relations.iter().zip(&outcome.state.relations) {
            assert_eq!(
                old.local_app_data, new.local_app_data,
                "{image}: {}",
                old.endpoint
            );
            assert_eq!(
                old.local_unit_data, new.local_unit_data,
                "{image}: {}",
                old.endpoint
            );
        }
    }
}

/// The rules of every file of the access-rules ConfigMap as our server parses them.
fn served_rules(state: &State) -> Vec<oathkeeper_core::rule::Rule> {
    config_map(state, "access-rules")
        .iter()
        .flat_map(|(key, text)| {
            oathkeeper_core::rule::parse_rules(text.as_bytes())
                .unwrap_or_else(|error| panic!("{key}: {error:?}"))
        })
        .collect()
}

#[test]
fn issue_16_our_server_reads_the_rules_before_and_after_the_refresh() {
    let dir = charm_dir();
    let before = with_image(fixture("tutorial.json"), OUR_VERSION_OUTPUT);
    // The Python repr is a YAML flow sequence: our server's lenient YAML reading takes it,
    // so a unit still holding the old ConfigMap is not left without its rules.
    let old = served_rules(&before);
    let outcome = run_ok(dir.path(), &before, &Event::hook("upgrade-charm"));
    let new = served_rules(&outcome.state);
    let ids = |rules: &[oathkeeper_core::rule::Rule]| {
        rules.iter().map(|r| r.id.clone()).collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&old), ids(&new));
    assert_eq!(
        ids(&new),
        BTreeSet::from(["spark-history-server-k8s:0:deny".to_owned()])
    );
    for rule in &new {
        assert_eq!(rule.authorizer.handler, "allow", "{}", rule.id);
        assert_eq!(
            rule.authenticators[0].handler, "cookie_session",
            "{}",
            rule.id
        );
    }
}

#[test]
fn issue_16_attaching_our_image_after_a_refresh_that_kept_orys_moves_to_live_rules() {
    let dir = charm_dir();
    let kept = with_image(fixture("tutorial.json"), ORY_VERSION_OUTPUT);
    let refreshed = run_ok(dir.path(), &kept, &Event::hook("upgrade-charm")).state;
    // Only a probe hook looks again: update-status trusts the recorded server.
    let ours = with_image(refreshed, OUR_VERSION_OUTPUT);
    let later = run_ok(dir.path(), &ours, &Event::hook("update-status")).state;
    assert_eq!(
        later.unit_state["workload-server"], "ory v0.40.6",
        "update-status probed"
    );
    // `juju attach-resource oathkeeper oci-image=...` restarts the pod: pebble-ready.
    let after = run_ok(dir.path(), &later, &Event::hook("oathkeeper-pebble-ready")).state;
    assert_eq!(after.unit_state["workload-server"], "oathkeeper-rs 0.1.0");
    assert_eq!(
        command(&after),
        "oathkeeper serve -c k8s://iam/oathkeeper-config"
    );
    assert!(
        config_map(&after, "oathkeeper-config")["oathkeeper.yaml"]
            .contains("k8s://iam/access-rules")
    );
    assert!(
        !after.unit_status.message.contains("Ory"),
        "{:?}",
        after.unit_status
    );
}

#[test]
fn issue_16_the_refreshed_rules_decide_the_apps_paths_as_the_old_ones_did() {
    use oathkeeper_core::index::{IndexEntry, RuleIndex};
    use oathkeeper_core::matcher::{Strategy, UrlMatcher};
    let index = |rules: &[oathkeeper_core::rule::Rule]| {
        RuleIndex::build(
            rules
                .iter()
                .map(|rule| IndexEntry {
                    methods: rule.matcher.methods.clone(),
                    matcher: UrlMatcher::compile(&rule.matcher.url, Strategy::Regexp).unwrap(),
                })
                .collect(),
        )
    };
    let dir = charm_dir();
    let before = with_image(fixture("tutorial.json"), OUR_VERSION_OUTPUT);
    let old = served_rules(&before);
    let outcome = run_ok(dir.path(), &before, &Event::hook("upgrade-charm"));
    let new = served_rules(&outcome.state);
    let (old_index, new_index) = (index(&old), index(&new));
    let app = "http://10.64.140.43/spark-spark-history-server-k8s";
    for path in [
        "",
        "/",
        "/history/app-1/jobs",
        "/api/v1/applications?status=running",
    ] {
        let url = format!("{app}{path}");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let was = old_index.find(method, &url).map(|i| old[i].id.clone());
            let is = new_index.find(method, &url).map(|i| new[i].id.clone());
            assert!(was.is_ok(), "{method} {url}: {was:?}");
            assert_eq!(was, is, "{method} {url}");
        }
    }
    // The Python charm's `OPTION` matched no preflight; ours names `OPTIONS` (and `HEAD`).
    let preflight = new_index.find("OPTIONS", &format!("{app}/"));
    assert!(preflight.is_ok(), "{preflight:?}");
}

/// After a refresh from each recorded Python-charm State, with our image or Ory's kept, the
/// server's own compiler loads the config and rules the charm left, with no error or warning:
/// every rule it writes is served, none answers 500.
#[test]
fn issue_16_the_server_compiles_what_each_refresh_leaves_without_a_diagnostic() {
    use oathkeeper::snapshot::{RuleFile, compile};
    use oathkeeper_core::config::{NoEnv, parse_config};
    let dir = charm_dir();
    for name in FIXTURES {
        for image in [OUR_VERSION_OUTPUT, ORY_VERSION_OUTPUT] {
            let before = with_image(fixture(name), image);
            let outcome = run_ok(dir.path(), &before, &Event::hook("upgrade-charm"));
            let text = &config_map(&outcome.state, "oathkeeper-config")["oathkeeper.yaml"];
            let config = parse_config(text, &NoEnv)
                .unwrap_or_else(|error| panic!("{name}: {error}\n{text}"));
            let files: Vec<RuleFile> = config_map(&outcome.state, "access-rules")
                .into_iter()
                .map(|(key, text)| RuleFile {
                    rules: oathkeeper_core::rule::parse_rules(text.as_bytes())
                        .unwrap_or_else(|error| panic!("{name} {key}: {error:?}")),
                    repository: key,
                })
                .collect();
            let snapshot = compile(&config, &files, Default::default());
            assert!(
                snapshot.diagnostics.is_empty(),
                "{name}: {:#?}",
                snapshot.diagnostics
            );
            let served: usize = files.iter().map(|f| f.rules.len()).sum();
            assert_eq!(snapshot.rule_count(), served, "{name}");
            assert!(
                snapshot.compiled.iter().all(|rule| rule.problem.is_none()),
                "{name}: a rule has a step that cannot run"
            );
        }
    }
}
