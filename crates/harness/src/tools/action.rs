//! `action-get`, `action-set`, `action-fail`, `action-log` (spec/juju-runtime.md §2.2): only
//! in actions; results are reported whatever the exit code.

use serde_json::{Map, Value};

use super::flags::FORMAT;
use super::{Outcome, Reply, at_most, parse, print};
use crate::session::Session;

const RESERVED: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

fn in_action(session: &Session) -> Result<(), Reply> {
    if session.in_action() {
        Ok(())
    } else {
        Err(Reply::fail("not running an action"))
    }
}

pub(super) fn action_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT])?;
    at_most(&args, 1)?;
    in_action(session)?;
    let given = session
        .event
        .action
        .as_ref()
        .map(|call| call.params.clone())
        .unwrap_or_default();
    let params = Value::Object(session.charm.action_params(&session.event.name, &given));
    match args.positionals.first() {
        None => print(format, &params),
        Some(path) => {
            let found = path
                .split('.')
                .try_fold(&params, |value, key| value.get(key));
            print(format, found.unwrap_or(&Value::Null))
        }
    }
}

fn valid_segment(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

pub(super) fn action_set(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(args, &[FORMAT])?;
    in_action(session)?;
    let mut pairs = Vec::new();
    for arg in &args.positionals {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(Reply::usage(&format!(
                "argument {arg:?} must be of the form key...=value"
            )));
        };
        if !key.split('.').all(valid_segment) {
            return Err(Reply::usage(&format!(
                "key {key:?} must start and end with lowercase alphanumeric, and contain only \
                 lowercase alphanumeric, hyphens and periods"
            )));
        }
        if RESERVED.contains(&key) {
            return Err(Reply::usage(&format!(
                "cannot set reserved action key {key:?}"
            )));
        }
        pairs.push((key.to_owned(), value.to_owned()));
    }
    for (key, value) in pairs {
        insert_dotted(&mut session.effects.action_results, &key, value);
    }
    Ok(String::new())
}

/// Nests `a.b=v` as `{"a": {"b": "v"}}`, as Juju reports results.
fn insert_dotted(results: &mut Map<String, Value>, key: &str, value: String) {
    let mut parts = key.split('.').peekable();
    let mut map = results;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            map.insert(part.to_owned(), Value::String(value));
            return;
        }
        let entry = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        map = next;
    }
}

pub(super) fn action_fail(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(args, &[FORMAT])?;
    at_most(&args, 1)?;
    in_action(session)?;
    let message = args.positionals.first().cloned().unwrap_or_else(|| {
        "action failed without reason given, check action for errors".to_owned()
    });
    session.effects.action_failure = Some(message);
    Ok(String::new())
}

pub(super) fn action_log(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(args, &[FORMAT])?;
    in_action(session)?;
    if args.positionals.is_empty() {
        return Err(Reply::usage("no message specified"));
    }
    session.effects.action_logs.push(args.positionals.join(" "));
    Ok(String::new())
}
