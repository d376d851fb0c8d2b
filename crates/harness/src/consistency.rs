//! Rejects a state and event Juju could never produce, before the charm runs (like Scenario's
//! consistency checker): every problem is listed, naming the field.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::charm::{Charm, Role};
use crate::event::Event;
use crate::state::State;

/// Hooks that need no context.
const LIFECYCLE: [&str; 14] = [
    "install",
    "start",
    "stop",
    "remove",
    "config-changed",
    "upgrade-charm",
    "update-status",
    "leader-elected",
    "leader-settings-changed",
    "leader-deposed",
    "collect-metrics",
    "meter-status-changed",
    "pre-series-upgrade",
    "post-series-upgrade",
];

/// Every problem with `state` and `event` for `charm` (empty when consistent).
pub fn check(charm: &Charm, state: &State, event: &Event) -> Vec<String> {
    let mut problems = Vec::new();
    check_config(charm, state, &mut problems);
    check_relations(charm, state, &mut problems);
    for name in state.containers.keys() {
        if !charm.containers.contains(name) {
            problems.push(format!("container {name:?} is not in the charm's metadata"));
        }
    }
    check_event(charm, state, event, &mut problems);
    problems
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "string" | "secret" => value.is_string(),
        "int" => value.is_i64() || value.is_u64(),
        "float" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn check_config(charm: &Charm, state: &State, problems: &mut Vec<String>) {
    for (key, value) in &state.config {
        match charm.config.get(key) {
            None => problems.push(format!("config option {key:?} is not in config.yaml")),
            Some(option) if !type_matches(&option.kind, value) => problems.push(format!(
                "config option {key:?} must be of type {}, got {value}",
                option.kind
            )),
            Some(_) => {}
        }
    }
}

fn check_relations(charm: &Charm, state: &State, problems: &mut Vec<String>) {
    let mut ids = BTreeSet::new();
    for relation in &state.relations {
        if !ids.insert(relation.id) {
            problems.push(format!("relation id {} is used twice", relation.id));
        }
        match charm.endpoints.get(&relation.endpoint) {
            None => problems.push(format!(
                "relation {} is on endpoint {:?}, which the charm does not declare",
                relation.id, relation.endpoint
            )),
            Some((Role::Peers, _)) if relation.remote_app != charm.name => {
                problems.push(format!(
                    "peer relation {} must have remote_app {:?} (this app)",
                    relation.id, charm.name
                ));
            }
            Some((_, endpoint)) => {
                let count = state.relations_on(&relation.endpoint).count();
                if let Some(limit) = endpoint.limit
                    && count > limit as usize
                {
                    problems.push(format!(
                        "endpoint {:?} has {count} relations, more than its limit {limit}",
                        relation.endpoint
                    ));
                }
            }
        }
        if relation
            .remote_units
            .keys()
            .any(|unit| relation.remote_app == charm.name && *unit == state.unit_id)
        {
            problems.push(format!(
                "peer relation {} lists this unit among its remote units",
                relation.id
            ));
        }
    }
}

fn check_event(charm: &Charm, state: &State, event: &Event, problems: &mut Vec<String>) {
    if let Some(call) = &event.action {
        check_action(charm, &event.name, &call.params, problems);
        return;
    }
    if let Some((endpoint, kind)) = event.relation_kind() {
        check_relation_event(charm, state, event, endpoint, kind, problems);
        return;
    }
    if let Some(container) = event.workload() {
        if !charm.containers.iter().any(|name| name == container) {
            problems.push(format!(
                "container {container:?} is not in the charm's metadata"
            ));
        } else if !state.containers.contains_key(container) {
            problems.push(format!(
                "event {} needs container {container:?} in the state",
                event.name
            ));
        }
        if event.name.ends_with("-pebble-custom-notice") && event.notice.is_none() {
            problems.push(format!("event {} needs a notice", event.name));
        }
        if event.name.contains("-pebble-check-") && event.check.is_none() {
            problems.push(format!("event {} needs a check name", event.name));
        }
        return;
    }
    if let Some(kind) = event.name.strip_prefix("secret-") {
        if !matches!(kind, "changed" | "expired" | "remove" | "rotate") {
            problems.push(format!("unknown hook {:?}", event.name));
        }
        match &event.secret {
            None => problems.push(format!("event {} needs a secret", event.name)),
            Some(id) if !state.secrets.iter().any(|secret| secret.id == *id) => {
                problems.push(format!("secret {id:?} is not in the state"));
            }
            Some(_) => {}
        }
        if matches!(kind, "expired" | "remove") && event.secret_revision.is_none() {
            problems.push(format!("event {} needs a secret revision", event.name));
        }
        return;
    }
    if !LIFECYCLE.contains(&event.name.as_str()) {
        problems.push(format!("unknown hook {:?}", event.name));
    }
    if event.name == "leader-elected" && !state.leader {
        problems.push("leader-elected fires only on the leader: set leader to true".to_owned());
    }
}

fn check_relation_event(
    charm: &Charm,
    state: &State,
    event: &Event,
    endpoint: &str,
    kind: &str,
    problems: &mut Vec<String>,
) {
    let Some(id) = event.relation else {
        problems.push(format!("event {} needs a relation id", event.name));
        return;
    };
    let Some(relation) = state.find_relation(id) else {
        problems.push(format!("relation {id} is not in the state"));
        return;
    };
    if relation.endpoint != endpoint {
        problems.push(format!(
            "relation {id} is on endpoint {:?}, not {endpoint:?}",
            relation.endpoint
        ));
    }
    if kind == "broken" && charm.is_peer(endpoint) {
        problems.push("relation-broken never fires for a peer relation".to_owned());
    }
    let known = relation.remote_unit_names();
    if let Some(unit) = &event.remote_unit
        && !known.contains(unit)
    {
        problems.push(format!(
            "remote unit {unit:?} is not among relation {id}'s remote units {known:?}"
        ));
    }
    if matches!(kind, "created" | "broken")
        && let Some(unit) = &event.remote_unit
    {
        problems.push(format!(
            "{} has no remote unit (Juju leaves JUJU_REMOTE_UNIT empty), got {unit:?}",
            event.name
        ));
    }
    // Juju fires joined and departed once per remote unit: without one the event cannot
    // happen. The single remote unit of a relation is taken when none is named.
    if matches!(kind, "joined" | "departed")
        && event.juju_remote_unit(state).unwrap_or_default().is_empty()
    {
        problems.push(format!(
            "{} cannot happen without a remote unit: relation {id} has {} remote units {known:?}; \
             name the one that {} (--remote-unit, Event::remote_unit)",
            event.name,
            known.len(),
            if kind == "joined" {
                "joined"
            } else {
                "departs or sees this unit depart"
            },
        ));
    }
    if kind == "departed"
        && event
            .juju_departing_unit(state)
            .unwrap_or_default()
            .is_empty()
    {
        problems.push(format!(
            "{} cannot happen without a departing unit: name it (--departing-unit, \
             Event::departing_unit; a remote unit or this unit)",
            event.name
        ));
    }
    if kind == "departed" {
        let own = format!("{}/{}", charm.name, state.unit_id);
        if let Some(unit) = &event.departing_unit
            && !known.contains(unit)
            && *unit != own
        {
            problems.push(format!("departing unit {unit:?} is not in relation {id}"));
        }
    }
}

fn check_action(
    charm: &Charm,
    name: &str,
    params: &serde_json::Map<String, Value>,
    problems: &mut Vec<String>,
) {
    let Some(action) = charm.actions.get(name) else {
        problems.push(format!("action {name:?} is not in actions.yaml"));
        return;
    };
    for required in &action.required {
        if !params.contains_key(required) {
            problems.push(format!("action {name:?} needs parameter {required:?}"));
        }
    }
    for (key, value) in params {
        match action.params.get(key) {
            None if !action.additional_properties => {
                problems.push(format!("action {name:?} has no parameter {key:?}"));
            }
            None => {}
            Some(schema) => {
                let expected = schema.get("type").and_then(Value::as_str).unwrap_or("");
                let ok = match expected {
                    "string" => value.is_string(),
                    "integer" => value.is_i64() || value.is_u64(),
                    "number" => value.is_number(),
                    "boolean" => value.is_boolean(),
                    "object" => value.is_object(),
                    "array" => value.is_array(),
                    _ => true,
                };
                if !ok {
                    problems.push(format!(
                        "action {name:?} parameter {key:?} must be of type {expected}, got {value}"
                    ));
                }
            }
        }
    }
}
