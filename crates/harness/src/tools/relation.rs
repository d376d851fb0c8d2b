//! `relation-ids`, `relation-list`, `relation-get`, `relation-set`, `relation-model-get`,
//! `goal-state` (spec/juju-runtime.md §2.2, §2.3).
//!
//! Writes land in the session's working state (buffered: committed only if the hook exits 0);
//! reads of our own bags see them.

use serde_json::{Map, Value, json};

use super::flags::{FORMAT, boolean, value};
use super::{Outcome, Reply, at_most, key_values, parse, print, read_file_flag};
use crate::session::Session;
use crate::state::{Bag, Relation, juju_unit_bag};

const RELATION: super::Flag = value(&["r", "relation"]);
const APP: super::Flag = boolean(&["app"]);

/// The relation named by `-r`, or the hook's relation.
fn relation_id(session: &Session, args: &super::Args) -> Result<u64, Reply> {
    match args.value("r") {
        Some(text) => {
            // Juju strips everything up to the last `:` (`db:7` → 7).
            let number = text.rsplit(':').next().unwrap_or_default();
            number
                .parse::<u64>()
                .ok()
                .filter(|id| session.working.find_relation(*id).is_some())
                .ok_or_else(|| {
                    Reply::usage(&format!(
                        "invalid value {text:?} for option -r: relation not found"
                    ))
                })
        }
        None => session
            .event
            .relation
            .filter(|_| session.event.relation_kind().is_some())
            .ok_or_else(|| Reply::usage("no relation id specified")),
    }
}

fn relation(session: &Session, id: u64) -> &Relation {
    // invariant: `relation_id` only returns ids of relations in the working state, and no tool
    // removes a relation.
    session
        .working
        .find_relation(id)
        .unwrap_or_else(|| unreachable!("relation {id} vanished"))
}

/// Whether the running hook is relation-broken for `id` (Juju hides it from relation-ids and
/// its remote units are gone).
fn is_broken(session: &Session, id: u64) -> bool {
    session.event.relation == Some(id)
        && matches!(session.event.relation_kind(), Some((_, "broken")))
}

/// The unit leaving, when the running hook is relation-departed for `id`.
fn departing(session: &Session, id: u64) -> Option<String> {
    match session.event.relation_kind() {
        Some((_, "departed")) if session.event.relation == Some(id) => {
            session.event.juju_departing_unit(&session.committed)
        }
        _ => None,
    }
}

pub(super) fn relation_ids(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT])?;
    at_most(&args, 1)?;
    let endpoint = match args.positionals.first() {
        Some(endpoint) => endpoint.clone(),
        None => match session.event.relation_kind() {
            Some((endpoint, _)) => endpoint.to_owned(),
            None => return Err(Reply::usage("no endpoint name specified")),
        },
    };
    let mut ids: Vec<u64> = session
        .working
        .relations_on(&endpoint)
        .map(|relation| relation.id)
        .filter(|id| !is_broken(session, *id))
        .collect();
    ids.sort_unstable();
    let ids: Vec<Value> = ids
        .into_iter()
        .map(|id| Value::String(format!("{endpoint}:{id}")))
        .collect();
    print(format, &Value::Array(ids))
}

pub(super) fn relation_list(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT, RELATION, APP])?;
    at_most(&args, 0)?;
    let id = relation_id(session, &args)?;
    let relation = relation(session, id);
    if args.flag("app") {
        return print(format, &Value::String(relation.remote_app.clone()));
    }
    let units: Vec<Value> = if is_broken(session, id) {
        Vec::new()
    } else {
        relation
            .remote_unit_names()
            .into_iter()
            .filter(|unit| Some(unit) != departing(session, id).as_ref())
            .map(Value::String)
            .collect()
    };
    print(format, &Value::Array(units))
}

/// Whose databag a `relation-get` or `relation-set` addresses.
enum Target {
    LocalUnit,
    LocalApp,
    RemoteUnit(u32),
    RemoteApp,
}

fn is_unit_name(name: &str) -> bool {
    match name.split_once('/') {
        Some((app, number)) => {
            !app.is_empty()
                && app
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && number.parse::<u32>().is_ok()
        }
        None => false,
    }
}

fn is_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The default target from the hook context: `$JUJU_REMOTE_APP` with `--app`, else
/// `$JUJU_REMOTE_UNIT`, else the remote app (with `--app` implied).
fn default_target(session: &Session, app: bool) -> Option<(String, bool)> {
    let hook_relation = session
        .event
        .relation
        .filter(|_| session.event.relation_kind().is_some())?;
    let remote_app = session
        .working
        .find_relation(hook_relation)?
        .remote_app
        .clone();
    if app {
        return Some((remote_app, true));
    }
    match session.event.juju_remote_unit(&session.working) {
        Some(unit) if !unit.is_empty() => Some((unit, false)),
        _ => Some((remote_app, true)),
    }
}

fn resolve(
    session: &Session,
    relation: &Relation,
    name: &str,
    app: bool,
    id_text: &str,
) -> Result<Target, Reply> {
    let own_unit = session.unit();
    if app {
        let app_name = name.split('/').next().unwrap_or_default();
        if app_name == session.app() {
            return Ok(Target::LocalApp);
        }
        if app_name == relation.remote_app {
            return Ok(Target::RemoteApp);
        }
        return Err(Reply::fail(&format!(
            "cannot read settings for application {app_name:?} in relation {id_text:?}: \
             application {app_name:?}: settings not found"
        )));
    }
    if name == own_unit {
        return Ok(Target::LocalUnit);
    }
    let not_found = || {
        Reply::fail(&format!(
            "cannot read settings for unit {name:?} in relation {id_text:?}: \
             unit {name:?}: settings not found"
        ))
    };
    let (app_name, number) = name.split_once('/').ok_or_else(not_found)?;
    let number: u32 = number.parse().map_err(|_| not_found())?;
    if app_name == relation.remote_app && relation.remote_units.contains_key(&number) {
        Ok(Target::RemoteUnit(number))
    } else {
        Err(not_found())
    }
}

/// A remote unit's bag: Juju's keys (its agent wrote them) under the bag's own values. Our
/// own unit bag holds Juju's keys itself ([`crate::state::Relation::local_unit_data`]), so
/// that a deletion persists.
fn with_defaults(bag: &Bag) -> Bag {
    let mut full = juju_unit_bag();
    full.extend(bag.iter().map(|(key, value)| (key.clone(), value.clone())));
    full
}

pub(super) fn relation_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT, RELATION, APP])?;
    at_most(&args, 2)?;
    let id = relation_id(session, &args)?;
    let relation = relation(session, id);
    let id_text = format!("{}:{}", relation.endpoint, id);
    let app = args.flag("app");
    let key = args.positionals.first().filter(|key| *key != "-");
    let (name, app) = match args.positionals.get(1) {
        Some(name) => {
            if !app && !name.contains('/') && is_app_name(name) {
                return Err(Reply::usage(&format!(
                    "expected unit name, got application name {name:?}"
                )));
            }
            if !app && !is_unit_name(name) || app && !is_unit_name(name) && !is_app_name(name) {
                return Err(Reply::usage(&format!("invalid unit name {name:?}")));
            }
            (name.clone(), app)
        }
        None => default_target(session, app)
            .ok_or_else(|| Reply::usage("no unit or application specified"))?,
    };
    let bag = match resolve(session, relation, &name, app, &id_text)? {
        Target::LocalUnit => relation.local_unit_data.clone(),
        Target::LocalApp => {
            // Peers all read the peer app bag; otherwise only the leader reads its own.
            if !session.working.leader && !session.charm.is_peer(&relation.endpoint) {
                return Err(Reply::fail("permission denied"));
            }
            relation.local_app_data.clone()
        }
        Target::RemoteApp => relation.remote_app_data.clone(),
        Target::RemoteUnit(number) => {
            with_defaults(relation.remote_units.get(&number).unwrap_or(&Bag::new()))
        }
    };
    match key {
        Some(key) => print(
            format,
            &bag.get(key.as_str())
                .map_or(Value::Null, |value| Value::String(value.clone())),
        ),
        None => print(
            format,
            &Value::Object(
                bag.into_iter()
                    .map(|(key, value)| (key, Value::String(value)))
                    .collect::<Map<_, _>>(),
            ),
        ),
    }
}

pub(super) fn relation_set(
    session: &mut Session,
    args: &[String],
    stdin: Option<&[u8]>,
) -> Outcome {
    let (args, _) = parse(args, &[FORMAT, RELATION, APP, value(&["file"])])?;
    let id = relation_id(session, &args)?;
    let mut changes = read_file_flag(&args, stdin)?.unwrap_or_default();
    changes.extend(key_values(&args.positionals)?);
    let app = args.flag("app");
    if app && !session.working.leader {
        return Err(Reply::fail("cannot write relation settings"));
    }
    let Some(relation) = session.working.find_relation_mut(id) else {
        return Err(Reply::usage("relation not found"));
    };
    let bag = if app {
        &mut relation.local_app_data
    } else {
        &mut relation.local_unit_data
    };
    for (key, value) in changes {
        if value.is_empty() {
            bag.remove(&key);
        } else {
            bag.insert(key, value);
        }
    }
    let note = if args.value("format").is_some() {
        "--format flag deprecated for command \"relation-set\"\n"
    } else {
        ""
    };
    if note.is_empty() {
        Ok(String::new())
    } else {
        // Juju accepts the flag and only notes it on stderr; the exit code stays 0.
        Err(super::Reply {
            code: 0,
            stdout: String::new(),
            stderr: note.to_owned(),
        })
    }
}

pub(super) fn relation_model_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT, RELATION])?;
    at_most(&args, 0)?;
    let id = relation_id(session, &args)?;
    let uuid = relation(session, id)
        .remote_model_uuid
        .clone()
        .unwrap_or_else(|| session.working.model.uuid.clone());
    print(format, &json!({ "uuid": uuid }))
}

pub(super) fn goal_state(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT])?;
    at_most(&args, 0)?;
    let since = "2026-01-01T00:00:00Z";
    let peers: Vec<String> = session
        .working
        .relations
        .iter()
        .filter(|relation| session.charm.is_peer(&relation.endpoint))
        .flat_map(Relation::remote_unit_names)
        .collect();
    let mut units = Map::new();
    units.insert(session.unit(), json!({"status": "active", "since": since}));
    let planned = session
        .working
        .planned_units
        .map_or(usize::MAX, |n| n as usize);
    for unit in peers {
        if units.len() < planned {
            units.insert(unit, json!({"status": "active", "since": since}));
        }
    }
    let mut relations = Map::new();
    for relation in &session.working.relations {
        let entry = relations
            .entry(relation.endpoint.clone())
            .or_insert_with(|| json!({}));
        if let Value::Object(map) = entry {
            map.insert(
                relation.remote_app.clone(),
                json!({"status": "joined", "since": since}),
            );
            for unit in relation.remote_unit_names() {
                map.insert(unit, json!({"status": "active", "since": since}));
            }
        }
    }
    print(format, &json!({"units": units, "relations": relations}))
}
