//! Secret tools, the basics (spec/juju-runtime.md §2.2): `secret-add`, `secret-get`,
//! `secret-set`, `secret-remove`, `secret-grant`, `secret-revoke`, `secret-ids`,
//! `secret-info-get`. Writes are buffered; app-owned secrets are the leader's to manage.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::flags::{FORMAT, boolean, value};
use super::{Outcome, Reply, at_most, parse, print, read_file_flag};
use crate::session::Session;
use crate::state::{Bag, Secret, SecretOwner};

const LABEL: super::Flag = value(&["label"]);
const DESCRIPTION: super::Flag = value(&["description"]);
const EXPIRE: super::Flag = value(&["expire"]);
const ROTATE: super::Flag = value(&["rotate"]);
const OWNER: super::Flag = value(&["owner"]);
const FILE: super::Flag = value(&["file"]);

const ROTATIONS: [&str; 7] = [
    "never",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
];

/// Juju's secret key rule: `^[a-z](?:-?[a-z0-9]){2,}$`.
fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    if bytes.len() < 3 || !bytes[0].is_ascii_lowercase() || bytes.ends_with(b"-") {
        return false;
    }
    let mut previous_dash = false;
    let mut counted = 0;
    for byte in &bytes[1..] {
        match byte {
            b'-' if previous_dash => return false,
            b'-' => previous_dash = true,
            b if b.is_ascii_lowercase() || b.is_ascii_digit() => {
                previous_dash = false;
                counted += 1;
            }
            _ => return false,
        }
    }
    counted >= 2
}

/// The content given as `key=value`, `key#base64=...`, `key#file=<path>` and `--file`.
fn content(args: &super::Args, stdin: Option<&[u8]>, skip: usize) -> Result<Bag, Reply> {
    let mut bag = read_file_flag(args, stdin)?.unwrap_or_default();
    for arg in args.positionals.iter().skip(skip) {
        let Some((spec, value)) = arg.split_once('=') else {
            return Err(Reply::usage(&format!(
                "key value {arg:?} not valid, expected key=value"
            )));
        };
        let (key, value) = match spec.split_once('#') {
            None => (spec, value.to_owned()),
            Some((key, "base64")) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .map_err(|error| {
                        Reply::usage(&format!("invalid base64 for {key:?}: {error}"))
                    })?;
                (key, String::from_utf8_lossy(&bytes).into_owned())
            }
            Some((key, "file")) => {
                let text = std::fs::read_to_string(value).map_err(|error| {
                    Reply::usage(&format!("cannot read secret file {value:?}: {error}"))
                })?;
                (key, text)
            }
            Some((_, other)) => {
                return Err(Reply::usage(&format!("invalid key suffix {other:?}")));
            }
        };
        if !valid_key(key) {
            return Err(Reply::usage(&format!("key {key:?} not valid")));
        }
        bag.insert(key.to_owned(), value);
    }
    Ok(bag)
}

fn check_rotate(args: &super::Args) -> Result<(), Reply> {
    match args.value("rotate") {
        Some(policy) if !ROTATIONS.contains(&policy) => {
            Err(Reply::usage(&format!("rotate policy {policy:?} not valid")))
        }
        _ => Ok(()),
    }
}

/// The position of the secret named by URI or label.
fn find(session: &Session, uri: Option<&str>, label: Option<&str>) -> Result<usize, Reply> {
    let secrets = &session.working.secrets;
    let found = match uri {
        Some(uri) => {
            let short = uri.rsplit(['/', ':']).next().unwrap_or(uri);
            secrets
                .iter()
                .position(|secret| secret.id == uri || secret.id.ends_with(short))
        }
        None => secrets
            .iter()
            .position(|secret| label.is_some() && secret.label.as_deref() == label),
    };
    found.ok_or_else(|| {
        Reply::fail(&format!(
            "secret {:?} not found",
            uri.or(label).unwrap_or_default()
        ))
    })
}

/// Whether this unit may manage the secret (owner; leader for app-owned).
fn manage(session: &Session, index: usize) -> Result<(), Reply> {
    match session.working.secrets[index].owner {
        Some(SecretOwner::Unit) => Ok(()),
        Some(SecretOwner::App) if session.working.leader => Ok(()),
        _ => Err(Reply::fail("permission denied")),
    }
}

fn bag_json(bag: &Bag) -> Value {
    Value::Object(
        bag.iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect::<Map<_, _>>(),
    )
}

pub(super) fn secret_add(session: &mut Session, args: &[String], stdin: Option<&[u8]>) -> Outcome {
    let (args, _) = parse(
        args,
        &[FORMAT, LABEL, DESCRIPTION, EXPIRE, ROTATE, OWNER, FILE],
    )?;
    check_rotate(&args)?;
    let owner = match args.value("owner").unwrap_or("application") {
        "application" => SecretOwner::App,
        "unit" => SecretOwner::Unit,
        other => {
            return Err(Reply::usage(&format!(
                "secret owner {other:?} not valid, expected application or unit"
            )));
        }
    };
    let data = content(&args, stdin, 0)?;
    if data.is_empty() {
        return Err(Reply::usage("missing secret value"));
    }
    if owner == SecretOwner::App && !session.working.leader {
        return Err(Reply::fail("this unit is not the leader"));
    }
    let id = format!("secret:cs{:018x}", session.working.secrets.len() + 1);
    session.working.secrets.push(Secret {
        id: id.clone(),
        owner: Some(owner),
        label: args.value("label").map(str::to_owned),
        description: args.value("description").map(str::to_owned),
        expire: args.value("expire").map(str::to_owned),
        rotate: args.value("rotate").map(str::to_owned),
        revisions: BTreeMap::from([(1, data)]),
        tracked: None,
        grants: BTreeMap::new(),
    });
    Ok(format!("{id}\n"))
}

pub(super) fn secret_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(
        args,
        &[FORMAT, LABEL, boolean(&["refresh"]), boolean(&["peek"])],
    )?;
    at_most(&args, 1)?;
    if args.flag("refresh") && args.flag("peek") {
        return Err(Reply::usage(
            "specify one of --peek or --refresh but not both",
        ));
    }
    let uri = args.positionals.first().map(String::as_str);
    let label = args.value("label");
    if uri.is_none() && label.is_none() {
        return Err(Reply::usage("require either a secret URI or label"));
    }
    let index = find(session, uri, label)?;
    let secret = &mut session.working.secrets[index];
    if uri.is_some()
        && let Some(label) = label
    {
        secret.label = Some(label.to_owned());
    }
    let latest = secret.latest();
    let revision = if secret.owner.is_some() || args.flag("peek") {
        latest
    } else {
        if args.flag("refresh") {
            secret.tracked = Some(latest);
        }
        secret.tracked.unwrap_or(latest)
    };
    let bag = secret.revisions.get(&revision).cloned().unwrap_or_default();
    print(format, &bag_json(&bag))
}

pub(super) fn secret_set(session: &mut Session, args: &[String], stdin: Option<&[u8]>) -> Outcome {
    let (args, _) = parse(
        args,
        &[FORMAT, LABEL, DESCRIPTION, EXPIRE, ROTATE, OWNER, FILE],
    )?;
    check_rotate(&args)?;
    let Some(uri) = args.positionals.first().cloned() else {
        return Err(Reply::usage("missing secret URI"));
    };
    let data = content(&args, stdin, 1)?;
    let index = find(session, Some(&uri), None)?;
    manage(session, index)?;
    let secret = &mut session.working.secrets[index];
    for (field, flag) in [
        (&mut secret.label, "label"),
        (&mut secret.description, "description"),
        (&mut secret.expire, "expire"),
        (&mut secret.rotate, "rotate"),
    ] {
        if let Some(value) = args.value(flag) {
            *field = Some(value.to_owned());
        }
    }
    if !data.is_empty() {
        let next = secret.latest() + 1;
        secret.revisions.insert(next, data);
    }
    Ok(String::new())
}

pub(super) fn secret_remove(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(args, &[FORMAT, value(&["revision"])])?;
    at_most(&args, 1)?;
    let Some(uri) = args.positionals.first().cloned() else {
        return Err(Reply::usage("missing secret URI"));
    };
    let index = find(session, Some(&uri), None)?;
    manage(session, index)?;
    match args.value("revision") {
        Some(text) => {
            let revision: u64 = text
                .parse()
                .map_err(|_| Reply::usage(&format!("revision {text:?} not valid")))?;
            let secret = &mut session.working.secrets[index];
            if secret.revisions.remove(&revision).is_none() {
                return Err(Reply::fail(&format!(
                    "secret revision {revision} for {uri:?} not found"
                )));
            }
        }
        None => {
            session.working.secrets.remove(index);
        }
    }
    Ok(String::new())
}

pub(super) fn secret_grant(session: &mut Session, args: &[String], grant: bool) -> Outcome {
    let (args, _) = parse(
        args,
        &[
            FORMAT,
            value(&["relation", "r"]),
            value(&["unit"]),
            value(&["app"]),
        ],
    )?;
    at_most(&args, 1)?;
    let Some(uri) = args.positionals.first().cloned() else {
        return Err(Reply::usage("missing secret URI"));
    };
    let index = find(session, Some(&uri), None)?;
    manage(session, index)?;
    let relation = match args.value("relation") {
        Some(text) => {
            let number = text.rsplit(':').next().unwrap_or_default();
            let id = number
                .parse::<u64>()
                .ok()
                .filter(|id| session.working.find_relation(*id).is_some())
                .ok_or_else(|| {
                    Reply::usage(&format!(
                        "invalid value {text:?} for option --relation: relation not found"
                    ))
                })?;
            Some(id)
        }
        None if grant => return Err(Reply::usage("missing relation")),
        None => None,
    };
    let grantee = args.value("unit").or(args.value("app")).map(str::to_owned);
    let secret = &mut session.working.secrets[index];
    if grant {
        if let Some(id) = relation {
            let remote = grantee.unwrap_or_else(|| "*".to_owned());
            let grantees = secret.grants.entry(id).or_default();
            if !grantees.contains(&remote) {
                grantees.push(remote);
            }
        }
    } else {
        match relation {
            Some(id) => {
                secret.grants.remove(&id);
            }
            None => {
                for grantees in secret.grants.values_mut() {
                    grantees.retain(|unit| Some(unit) != grantee.as_ref());
                }
            }
        }
    }
    Ok(String::new())
}

pub(super) fn secret_ids(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT])?;
    at_most(&args, 0)?;
    let ids = session
        .working
        .secrets
        .iter()
        .filter(|secret| secret.owner.is_some())
        .map(|secret| Value::String(secret.id.clone()))
        .collect();
    print(format, &Value::Array(ids))
}

pub(super) fn secret_info_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT, LABEL])?;
    at_most(&args, 1)?;
    let uri = args.positionals.first().map(String::as_str);
    let label = args.value("label");
    if uri.is_some() == label.is_some() {
        return Err(Reply::usage(
            "specify either a secret URI or label but not both",
        ));
    }
    let index = find(session, uri, label)?;
    manage(session, index)?;
    let secret = &session.working.secrets[index];
    let owner = match secret.owner {
        Some(SecretOwner::Unit) => "unit",
        _ => "application",
    };
    let mut info = json!({"revision": secret.latest(), "owner": owner});
    for (key, value) in [
        ("label", &secret.label),
        ("description", &secret.description),
        ("expiry", &secret.expire),
        ("rotation", &secret.rotate),
    ] {
        if let Some(value) = value {
            info[key] = Value::String(value.clone());
        }
    }
    let short = secret
        .id
        .rsplit(':')
        .next()
        .unwrap_or(&secret.id)
        .to_owned();
    print(format, &json!({ short: info }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_follow_jujus_rule() {
        for key in ["password", "tls-key", "a12"] {
            assert!(valid_key(key), "{key}");
        }
        for key in ["ab", "Password", "a--b", "key-", "1abc"] {
            assert!(!valid_key(key), "{key}");
        }
    }
}
