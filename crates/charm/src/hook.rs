//! One dispatch: the four steps for hooks (`observe → reconcile → plan → apply`), teardown for
//! `remove`, nothing for `stop`, and the actions. Decides, in one place, when the process exits
//! non-zero: only for failures a Juju retry can fix (a hook tool or the API server failing).

use std::collections::BTreeMap;

use juju::event::Event;
use juju::tool::log::LogLevel;
use serde_json::Value;

use crate::action::{self, ApiResponse};
use crate::apply::apply;
use crate::io::Io;
use crate::observe::observe;
use crate::plan::{plan, teardown};
use crate::reconcile::reconcile;
use crate::workload::SERVICE;

/// What the process should exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The hook succeeded (statuses say what is missing, if anything).
    Success,
    /// An unexpected failure: Juju retries the hook.
    Retry,
}

/// Runs the dispatched hook or action.
pub fn run(io: &Io) -> Exit {
    let result = match &io.env.event {
        Event::Action { name, .. } => run_action(io, name),
        Event::Stop => Ok(()),
        Event::Remove => observe(io).map_err(|e| e.to_string()).and_then(|snapshot| {
            apply(io, &teardown(&snapshot), snapshot.leader).map_err(|e| e.to_string())
        }),
        _ => observe(io).map_err(|e| e.to_string()).and_then(|snapshot| {
            let desired = reconcile(&snapshot);
            let effects = plan(&snapshot, &desired);
            apply(io, &effects, snapshot.leader).map_err(|e| e.to_string())
        }),
    };
    match result {
        Ok(()) => Exit::Success,
        Err(message) => {
            let _ = io.tools.juju_log(LogLevel::Error, &message);
            eprintln!("oathkeeper-charm: {message}");
            Exit::Retry
        }
    }
}

fn service_running(io: &Io) -> bool {
    io.pebble
        .services(&[SERVICE])
        .ok()
        .and_then(|services| services.into_iter().find(|s| s.name == SERVICE))
        .is_some_and(|service| service.is_running())
}

fn run_action(io: &Io, name: &str) -> Result<(), String> {
    let params = Value::Object(io.tools.action_get().map_err(|e| e.to_string())?);
    let log = |message: &str| io.tools.action_log(message).map_err(|e| e.to_string());
    let outcome = match name {
        action::LIST_RULES => match action::limit(&params) {
            Err(message) => Err(message),
            Ok(limit) => {
                log(action::LOG_FETCHING)?;
                let running = service_running(io);
                let response = running.then(|| io.api_get(&action::list_rules_path(limit)));
                let outcome = action::list_rules(running, response);
                if outcome.is_ok() {
                    log(action::LOG_LISTED)?;
                }
                outcome
            }
        },
        action::GET_RULE => match action::rule_id(&params) {
            Err(message) => Err(message),
            Ok(rule_id) => {
                log(&action::log_getting(&rule_id))?;
                let running = service_running(io);
                let response: Option<ApiResponse> =
                    running.then(|| io.api_get(&action::get_rule_path(&rule_id)));
                let outcome = action::get_rule(running, response);
                if outcome.is_ok() {
                    log(&action::log_fetched(&rule_id))?;
                }
                outcome
            }
        },
        other => Err(format!("unknown action {other:?}")),
    };
    match outcome {
        Ok(results) => {
            let results: serde_json::Map<String, Value> = results
                .into_iter()
                .map(|(key, value)| (key, Value::String(value)))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect();
            io.tools.action_set(&results).map_err(|e| e.to_string())
        }
        // An expected failure: the action fails, the hook does not.
        Err(message) => io.tools.action_fail(&message).map_err(|e| e.to_string()),
    }
}
