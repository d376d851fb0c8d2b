//! `juju refresh` from the Python charm 1.0.2: `upgrade-charm` on the States it leaves after
//! the tutorial (`tests/fixtures/python-charm/`, recorded under the harness), loaded as they are.

use std::collections::BTreeSet;

use harness::{Event, State};

use crate::support::{charm_dir, config_map, run_ok};

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
