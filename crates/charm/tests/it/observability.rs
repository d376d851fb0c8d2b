//! The COS relations through the harness: `metrics-endpoint` (Prometheus) and `logging`
//! (Loki), joined, changed, with units gone and broken, in the COS libraries' wire formats
//! (spec/charm-parity.md §5.8 and the Addendum).

use harness::state::Network;
use harness::{Event, Relation, State, Status};
use serde_json::{Value, json};

use crate::support::{
    assert_changed_then_broken_write_nothing, charm_dir, deployed, relation_sets, run_ok,
};

const UUID: &str = "0b4a7c1e-0000-4000-8000-000000000000";
const LOKI_0: &str = "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push";
const LOKI_1: &str = "http://loki-1.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push";

fn unit() -> State {
    let mut state = deployed(true);
    state.model.uuid = UUID.to_owned();
    state
}

fn prometheus(id: u64) -> Relation {
    Relation::new("metrics-endpoint", id, "prometheus")
}

fn endpoint(url: &str) -> [(&'static str, String); 1] {
    [("endpoint", format!(r#"{{"url": "{url}"}}"#))]
}

fn loki(id: u64) -> Relation {
    Relation::new("logging", id, "loki")
        .remote_unit(0, endpoint(LOKI_0))
        .remote_unit(1, endpoint(LOKI_1))
}

fn topology(unit: &str) -> Value {
    json!({"model": "iam", "model_uuid": UUID, "application": "oathkeeper", "unit": unit,
           "charm_name": "oathkeeper"})
}

/// Every rule of an `alert_rules` value carries the topology labels and expressions select
/// this application only.
fn assert_topology_in_rules(alert_rules: &str, selector_part: &str) -> Vec<String> {
    let rules: Value = serde_json::from_str(alert_rules).unwrap();
    let mut names = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        assert!(
            group["name"]
                .as_str()
                .unwrap()
                .starts_with("iam_0b4a7c1e_oathkeeper_"),
            "{group}"
        );
        for rule in group["rules"].as_array().unwrap() {
            let labels = &rule["labels"];
            assert_eq!(labels["juju_model"], "iam");
            assert_eq!(labels["juju_model_uuid"], UUID);
            assert_eq!(labels["juju_application"], "oathkeeper");
            assert_eq!(labels["juju_charm"], "oathkeeper");
            let expr = rule["expr"].as_str().unwrap();
            assert!(expr.contains(selector_part), "{expr}");
            names.push(rule["alert"].as_str().unwrap().to_owned());
        }
    }
    names
}

#[test]
fn metrics_endpoint_publishes_the_scrape_job_rules_and_unit_address_once() {
    let dir = charm_dir();
    let mut state = unit().relation(prometheus(8));
    state.networks.insert(
        "metrics-endpoint".into(),
        Network {
            address: "10.1.0.7".into(),
            ..Network::default()
        },
    );
    let joined = run_ok(
        dir.path(),
        &state,
        &Event::relation("metrics-endpoint", "joined", 8),
    );
    let relation = joined.state.find_relation(8).unwrap();
    let app = &relation.local_app_data;
    let metadata: Value = serde_json::from_str(&app["scrape_metadata"]).unwrap();
    assert_eq!(metadata, topology("oathkeeper/0"));
    assert_eq!(
        app["scrape_jobs"],
        r#"[{"metrics_path": "/metrics/prometheus", "static_configs": [{"targets": ["*:9000"]}]}]"#
    );
    let alerts = assert_topology_in_rules(
        &app["alert_rules"],
        &format!(r#"juju_model_uuid="{UUID}",juju_application="oathkeeper""#),
    );
    for alert in [
        "OathkeeperProcessTooManyRestarts",
        "OathkeeperUnavailable-multiple",
        "OathkeeperUnavailable-all",
        "OathkeeperDenialRateSpike",
        "OathkeeperDecisionLatencyHigh",
        "OathkeeperSessionStoreErrors",
        "OathkeeperReloadFailed",
        "OathkeeperSourceStale",
    ] {
        assert!(alerts.iter().any(|a| a == alert), "{alert}: {alerts:?}");
    }
    assert_eq!(app.len(), 3, "{app:?}");
    let unit_bag = &relation.local_unit_data;
    assert_eq!(unit_bag["prometheus_scrape_unit_address"], "10.1.0.7");
    assert_eq!(unit_bag["prometheus_scrape_unit_name"], "oathkeeper/0");
    assert!(!unit_bag.contains_key("prometheus_scrape_unit_path"));
    // Juju's own keys stay.
    assert!(unit_bag.contains_key("ingress-address"), "{unit_bag:?}");

    assert_changed_then_broken_write_nothing(dir.path(), &joined.state, "metrics-endpoint", 8);
}

#[test]
fn a_non_leader_publishes_only_its_unit_address() {
    let dir = charm_dir();
    let mut state = unit().relation(prometheus(8));
    state.leader = false;
    state.unit_id = 1;
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("metrics-endpoint", "joined", 8),
    );
    let relation = out.state.find_relation(8).unwrap();
    assert!(relation.local_app_data.is_empty());
    assert_eq!(
        relation.local_unit_data["prometheus_scrape_unit_name"],
        "oathkeeper/1"
    );
    assert!(!relation.local_unit_data["prometheus_scrape_unit_address"].is_empty());
}

/// The log targets of the `oathkeeper` container's plan.
fn log_targets(state: &State) -> Value {
    let plan = state.containers["oathkeeper"].plan();
    serde_json::to_value(plan.log_targets).unwrap()
}

fn target(url: &str, unit: &str) -> Value {
    json!({"override": "replace", "type": "loki", "location": url, "services": ["all"],
           "labels": {"product": "Juju", "charm": "oathkeeper", "juju_model": "iam",
                      "juju_model_uuid": UUID, "juju_application": "oathkeeper",
                      "juju_unit": unit}})
}

fn disabled(url: &str) -> Value {
    json!({"override": "replace", "type": "loki", "location": url, "services": ["-all"]})
}

#[test]
fn logging_forwards_to_every_loki_unit_and_stops_for_the_ones_gone() {
    let dir = charm_dir();
    let state = unit().relation(loki(9));
    let joined = run_ok(
        dir.path(),
        &state,
        &Event::relation("logging", "joined", 9).remote_unit("loki/1"),
    );
    assert_eq!(
        log_targets(&joined.state),
        json!({"loki/0": target(LOKI_0, "oathkeeper/0"), "loki/1": target(LOKI_1, "oathkeeper/0")})
    );
    assert!(
        joined.state.containers["oathkeeper"]
            .layers
            .layers
            .iter()
            .any(|(label, _)| label == "oathkeeper-log-forwarding")
    );
    let app = &joined.state.find_relation(9).unwrap().local_app_data;
    let metadata: Value = serde_json::from_str(&app["metadata"]).unwrap();
    assert_eq!(metadata, topology("oathkeeper/0"));
    let alerts = assert_topology_in_rules(
        &app["alert_rules"],
        &format!(
            r#"{{job=~".+",juju_model="iam",juju_model_uuid="{UUID}",juju_application="oathkeeper"}}"#
        ),
    );
    assert_eq!(alerts, ["HighFrequencyHighSeverityLog"]);
    assert_eq!(app.len(), 2);
    assert_eq!(joined.state.unit_status, Status::new("active", ""));

    let again = run_ok(
        dir.path(),
        &joined.state,
        &Event::relation("logging", "changed", 9).remote_unit("loki/0"),
    );
    assert_eq!(relation_sets(&again), 0);
    assert_eq!(again.state.containers, joined.state.containers);

    // loki/1 leaves (relation-list no longer names it in its departed hook).
    let departed = run_ok(
        dir.path(),
        &again.state,
        &Event::relation("logging", "departed", 9)
            .remote_unit("loki/1")
            .departing_unit("loki/1"),
    );
    assert_eq!(
        log_targets(&departed.state),
        json!({"loki/0": target(LOKI_0, "oathkeeper/0"), "loki/1": disabled(LOKI_1)})
    );

    let broken = run_ok(
        dir.path(),
        &departed.state,
        &Event::relation("logging", "broken", 9),
    );
    assert_eq!(
        log_targets(&broken.state),
        json!({"loki/0": disabled(LOKI_0), "loki/1": disabled(LOKI_1)})
    );
    assert!(broken.state.find_relation(9).is_none());
    let after = run_ok(dir.path(), &broken.state, &Event::hook("update-status"));
    assert_eq!(after.state.containers, broken.state.containers);
}

#[test]
fn bad_loki_data_blocks_naming_app_unit_and_field_and_the_other_units_still_get_logs() {
    let dir = charm_dir();
    let state = unit().relation(
        Relation::new("logging", 9, "loki")
            .remote_unit(0, [("endpoint", "not json")])
            .remote_unit(1, endpoint(LOKI_1)),
    );
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("logging", "changed", 9),
    );
    assert_eq!(
        out.state.unit_status,
        Status::new(
            "blocked",
            r#"Invalid logging data from loki: endpoint of loki/0: expected a JSON object with a url, found "not json""#
        )
    );
    assert_eq!(
        log_targets(&out.state),
        json!({"loki/1": target(LOKI_1, "oathkeeper/0")})
    );
}

#[test]
fn a_loki_unit_without_an_endpoint_yet_is_waited_for_silently() {
    let dir = charm_dir();
    let state = unit().relation(Relation::new("logging", 9, "loki"));
    let out = run_ok(dir.path(), &state, &Event::relation("logging", "joined", 9));
    assert_eq!(out.state.unit_status, Status::new("active", ""));
    assert_eq!(log_targets(&out.state), json!({}));
    let app = &out.state.find_relation(9).unwrap().local_app_data;
    assert!(app.contains_key("metadata") && app.contains_key("alert_rules"));
}
