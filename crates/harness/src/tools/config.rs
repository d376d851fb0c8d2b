//! `config-get`, and the trust-dependent `credential-get` and `resource-get`
//! (spec/juju-runtime.md §2.2).

use serde_json::{Value, json};

use super::flags::{FORMAT, boolean};
use super::{Outcome, Reply, at_most, parse, print};
use crate::session::Session;

pub(super) fn config_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT, boolean(&["all", "a"])])?;
    at_most(&args, 1)?;
    let mut config = session.charm.effective_config(&session.working.config);
    if args.flag("all") {
        if let Some(key) = args.positionals.first() {
            return Err(Reply::usage(&format!(
                "cannot use argument --all together with key {key:?}"
            )));
        }
        for key in session.charm.config.keys() {
            config.entry(key.clone()).or_insert(Value::Null);
        }
    }
    match args.positionals.first() {
        Some(key) => print(format, config.get(key).unwrap_or(&Value::Null)),
        None => print(format, &Value::Object(config)),
    }
}

pub(super) fn credential_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, format) = parse(args, &[FORMAT])?;
    at_most(&args, 0)?;
    if !session.working.kubernetes.trusted {
        return Err(Reply::fail(
            "cannot access cloud credentials: application is not trusted",
        ));
    }
    print(
        format,
        &json!({
            "type": "kubernetes",
            "name": "harness",
            "region": "default",
            "endpoint": "https://127.0.0.1",
            "identity-endpoint": "",
            "storage-endpoint": "",
            "credential": {"auth-type": "oauth2", "attrs": {}, "redacted": []},
            "cacertificates": [],
            "skip-tls-verify": true,
            "is-controller-cloud": false,
        }),
    )
}

pub(super) fn resource_get(session: &mut Session, args: &[String]) -> Outcome {
    let (args, _) = parse(args, &[FORMAT])?;
    at_most(&args, 1)?;
    let Some(name) = args.positionals.first() else {
        return Err(Reply::usage("missing required resource name"));
    };
    Err(Reply::fail(&format!(
        "could not download resource: HTTP request failed: resource#{}/{name} not found",
        session.app()
    )))
}
