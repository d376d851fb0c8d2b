//! `state-get`, `state-set`, `state-delete` (spec/juju-runtime.md §2.2): the unit state the
//! controller keeps; writes are buffered.

use serde_json::{Map, Value};

use super::flags::{FORMAT, boolean, value};
use super::{Outcome, Reply, at_most, key_values, parse, print, read_file_flag};
use crate::session::Session;

pub(super) fn state_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT, boolean(&["strict"])])?;
    at_most(&args, 1)?;
    let state = &session.working.unit_state;
    match args.positionals.first() {
        Some(key) => match state.get(key) {
            Some(value) => print(format, &Value::String(value.clone())),
            None if args.flag("strict") => Err(Reply::fail(&format!("{key:?} not found"))),
            None => print(format, &Value::String(String::new())),
        },
        None => {
            let map: Map<String, Value> = state
                .iter()
                .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                .collect();
            print(format, &Value::Object(map))
        }
    }
}

pub(super) fn state_set(session: &mut Session, args: &[String], stdin: Option<&[u8]>) -> Outcome {
    let (args, _) = parse(args, &[FORMAT, value(&["file"])])?;
    let mut changes = read_file_flag(&args, stdin)?.unwrap_or_default();
    changes.extend(key_values(&args.positionals)?);
    for (key, value) in changes {
        if value.is_empty() {
            session.working.unit_state.remove(&key);
        } else {
            session.working.unit_state.insert(key, value);
        }
    }
    Ok(String::new())
}

pub(super) fn state_delete(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(args, &[FORMAT])?;
    at_most(&args, 1)?;
    let Some(key) = args.positionals.first() else {
        return Err(Reply::usage("missing key to delete"));
    };
    session.working.unit_state.remove(key);
    Ok(String::new())
}
