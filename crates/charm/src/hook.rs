//! One dispatch: the four steps for hooks (`observe → reconcile → plan → apply`), teardown for
//! `remove`, nothing for `stop`, and the actions.
//!
//! Expected failures never reach here: missing inputs, bad relation data and missing trust are
//! statuses, a failed action is `action-fail`. What does is a [`HookError`], logged with
//! `juju-log`; [`HookError::exit_code`] decides how the process exits.

use std::collections::BTreeMap;

use juju::env::JujuEnv;
use juju::event::Event;
use juju::tool::log::LogLevel;
use serde_json::Value;

use crate::action;
use crate::apply::{apply, log};
use crate::error::HookError;
use crate::io::{ApiTls, Io};
use crate::observe::observe;
use crate::plan::{plan, teardown};
use crate::reconcile::reconcile;
use crate::report;

/// Reads the Juju context of this process and runs the dispatched hook or action.
pub fn run_in_process() -> Result<(), HookError> {
    let env = JujuEnv::from_process().map_err(HookError::NotUnderJuju)?;
    let io = Io::from_process(env).map_err(HookError::Runtime)?;
    run(&io)
}

/// Runs the dispatched hook or action; an unexpected failure is also logged with `juju-log`.
pub fn run(io: &Io) -> Result<(), HookError> {
    let result = match &io.env.event {
        Event::Action { name, .. } => run_action(io, name),
        Event::Stop => Ok(()),
        Event::Remove => observe(io).and_then(|snapshot| {
            log(io, LogLevel::Debug, &report::observed(&snapshot));
            apply(io, &teardown(&snapshot), snapshot.leader)
        }),
        _ => observe(io).and_then(|snapshot| {
            log(io, LogLevel::Debug, &report::observed(&snapshot));
            let desired = reconcile(&snapshot);
            let effects = plan(&snapshot, &desired);
            apply(io, &effects, snapshot.leader)
        }),
    };
    if let Err(error) = &result {
        log(io, LogLevel::Error, &error.to_string());
    }
    result
}

/// How the actions reach the API: over https when the running plan serves it (the service
/// reads a certificate), trusting exactly the CA the charm installed from the relation.
// Differs from upstream: upstream's actions use `http://localhost:4456` and fail under TLS.
fn action_tls(io: &Io) -> Option<ApiTls> {
    let plan = io.pebble.plan().ok()?;
    if !crate::workload::serves_https(&plan) {
        return None;
    }
    // A CA that cannot be read trusts nothing: the request fails rather than going to http.
    let ca = io.pebble.pull(crate::tls::CA_FILE).unwrap_or_default();
    Some(io.api_tls(&String::from_utf8_lossy(&ca)))
}

fn run_action(io: &Io, name: &str) -> Result<(), HookError> {
    let params = Value::Object(io.tools.action_get()?);
    let tls = action_tls(io);
    let action_log = |message: &str| io.tools.action_log(message);
    // Upstream's order: the not-ready guard first, then its log lines (spec §3).
    let outcome = match name {
        action::LIST_RULES => match action::limit(&params) {
            Err(message) => Err(message),
            Ok(_) if !io.service_running() => Err(action::NOT_READY.to_owned()),
            Ok(limit) => {
                action_log(action::LOG_FETCHING)?;
                let response = io.api_get(&action::list_rules_path(limit), tls.as_ref());
                let outcome = action::list_rules(true, Some(response));
                if outcome.is_ok() {
                    action_log(action::LOG_LISTED)?;
                }
                outcome
            }
        },
        action::GET_RULE => match action::rule_id(&params) {
            Err(message) => Err(message),
            Ok(_) if !io.service_running() => Err(action::NOT_READY.to_owned()),
            Ok(rule_id) => {
                action_log(&action::log_getting(&rule_id))?;
                let response = io.api_get(&action::get_rule_path(&rule_id), tls.as_ref());
                let outcome = action::get_rule(true, Some(response));
                match &outcome {
                    Ok(_) => action_log(&action::log_fetched(&rule_id))?,
                    Err(message) if message == action::RULE_NOT_FOUND => {
                        action_log(&action::log_no_such_rule(&rule_id))?;
                    }
                    Err(_) => {}
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
            io.tools.action_set(&results).map_err(HookError::from)
        }
        // An expected failure: the action fails, the hook does not.
        Err(message) => io.tools.action_fail(&message).map_err(HookError::from),
    }
}
