//! `status-set`, `status-get`, `application-version-set` (spec/juju-runtime.md §2.2):
//! immediate, not transactional.

use serde_json::{Value, json};

use super::flags::{FORMAT, boolean};
use super::{Outcome, Reply, at_most, parse, print};
use crate::session::Session;
use crate::state::Status;

const SETTABLE: [&str; 4] = ["maintenance", "blocked", "waiting", "active"];

pub(super) fn status_set(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(args, &[FORMAT, boolean(&["application"])])?;
    at_most(&args, 2)?;
    let Some(name) = args.positionals.first() else {
        return Err(Reply::usage(
            "invalid args, require <status> [message] [data]",
        ));
    };
    if !SETTABLE.contains(&name.as_str()) {
        return Err(Reply::usage(&format!(
            "invalid status {name:?}, expected one of [maintenance blocked waiting active]"
        )));
    }
    let status = Status::new(name, args.positionals.get(1).map_or("", String::as_str));
    if args.flag("application") {
        if !session.working.leader {
            return Err(Reply::fail("this unit is not the leader"));
        }
        session.effects.app_status_history.push(status.clone());
        session.apply_now(|state| state.app_status = status.clone());
    } else {
        session.effects.unit_status_history.push(status.clone());
        session.apply_now(|state| state.unit_status = status.clone());
    }
    Ok(String::new())
}

fn status_json(status: &Status) -> Value {
    json!({"status": status.name, "message": status.message, "status-data": {}})
}

pub(super) fn status_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(
        args,
        &[
            FORMAT,
            boolean(&["application"]),
            boolean(&["include-data"]),
        ],
    )?;
    at_most(&args, 0)?;
    let state = &session.working;
    if args.flag("application") {
        if !state.leader {
            return Err(Reply::fail(
                "finding application status: this unit is not the leader",
            ));
        }
        if !args.flag("include-data") {
            return print(format, &Value::String(state.app_status.name.clone()));
        }
        let mut units = serde_json::Map::new();
        units.insert(session.unit(), status_json(&state.unit_status));
        let mut app = status_json(&state.app_status);
        app["units"] = Value::Object(units);
        return print(format, &json!({ "application-status": app }));
    }
    if !args.flag("include-data") {
        return print(format, &Value::String(state.unit_status.name.clone()));
    }
    print(format, &status_json(&state.unit_status))
}

pub(super) fn application_version_set(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(args, &[FORMAT])?;
    at_most(&args, 1)?;
    let Some(version) = args.positionals.first().cloned() else {
        return Err(Reply::usage("no version specified"));
    };
    session
        .effects
        .workload_version_history
        .push(version.clone());
    session.apply_now(|state| state.workload_version = version.clone());
    Ok(String::new())
}
