//! Actions: `action-get`, `action-set`, `action-fail`, `action-log`
//! (spec/juju-runtime.md §2.2). Outside an action each fails with `not running an action`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{END_OF_FLAGS, Error, FORMAT_JSON, argv, parse_json};

/// `action-get`.
pub const ACTION_GET: &str = "action-get";
/// `action-set`.
pub const ACTION_SET: &str = "action-set";
/// `action-fail`.
pub const ACTION_FAIL: &str = "action-fail";
/// `action-log`.
pub const ACTION_LOG: &str = "action-log";
/// Result keys Juju reserves for the hook's own output.
pub const RESERVED_KEYS: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

/// `action-get --format=json`: every parameter, with schema defaults filled in by Juju.
pub fn action_get_args() -> Vec<String> {
    argv(ACTION_GET, [FORMAT_JSON])
}

/// Parses the parameters object (types preserved).
pub fn parse_action_get(stdout: &[u8]) -> Result<Map<String, Value>, Error> {
    parse_json::<Option<Map<String, Value>>>(ACTION_GET, stdout).map(Option::unwrap_or_default)
}

/// Flattens nested results into dotted keys (`{"a":{"b":"c"}}` → `a.b = c`), as ops does.
///
/// Strings are kept as they are; other leaves become their JSON text (`true`, `3`, `[1,2]`),
/// and `null` an empty string. An empty nested object contributes nothing.
// Differs from upstream: ops writes Python's `str()` of non-string leaves (`True`); JSON text
// is the portable spelling.
pub fn flatten_results(results: &Map<String, Value>) -> BTreeMap<String, String> {
    fn walk(prefix: &str, map: &Map<String, Value>, out: &mut BTreeMap<String, String>) {
        for (key, value) in map {
            let key = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                Value::Object(inner) => walk(&key, inner, out),
                Value::String(s) => {
                    out.insert(key, s.clone());
                }
                Value::Null => {
                    out.insert(key, String::new());
                }
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", results, &mut out);
    out
}

/// True when `segment` matches `^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`.
fn valid_segment(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            edge(first) && edge(last) && bytes.iter().all(|b| edge(b) || *b == b'-')
        }
        _ => false,
    }
}

/// Checks one flattened key as Juju would, with Juju's texts.
pub fn check_result_key(key: &str) -> Result<(), Error> {
    if RESERVED_KEYS.contains(&key) {
        return Err(Error::invalid_argument(
            ACTION_SET,
            format!("cannot set reserved action key \"{key}\""),
        ));
    }
    if !key.split('.').all(valid_segment) {
        return Err(Error::invalid_argument(
            ACTION_SET,
            format!(
                "key \"{key}\" must start and end with lowercase alphanumeric, and contain only \
                 lowercase alphanumeric, hyphens and periods"
            ),
        ));
    }
    Ok(())
}

/// `action-set k1=v1 k2.sub=v2 ...` with the results flattened (see [`flatten_results`]),
/// keys sorted.
///
/// Fails with [`Error::InvalidArgument`] on a reserved or malformed key, before anything runs.
pub fn action_set_args(results: &Map<String, Value>) -> Result<Vec<String>, Error> {
    let flat = flatten_results(results);
    let mut args = vec![ACTION_SET.to_owned()];
    for (key, value) in flat {
        check_result_key(&key)?;
        args.push(format!("{key}={value}"));
    }
    Ok(args)
}

/// `action-fail [-- <message>]`: marks the action failed; the hook should still exit 0.
pub fn action_fail_args(message: &str) -> Vec<String> {
    if message.is_empty() {
        argv(ACTION_FAIL, [])
    } else {
        argv(ACTION_FAIL, [END_OF_FLAGS, message])
    }
}

/// `action-log -- <message>`: a progress message, shown immediately.
pub fn action_log_args(message: &str) -> Vec<String> {
    argv(ACTION_LOG, [END_OF_FLAGS, message])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn action_get_asks_for_json_and_keeps_types() {
        assert_eq!(action_get_args(), ["action-get", "--format=json"]);
        let params = parse_action_get(br#"{"rule-id":"r1","verbose":true,"n":2}"#).unwrap();
        assert_eq!(params["rule-id"], json!("r1"));
        assert_eq!(params["verbose"], json!(true));
        assert_eq!(params["n"], json!(2));
        assert!(parse_action_get(b"{}").unwrap().is_empty());
    }

    #[test]
    fn action_set_flattens_nested_results_with_dots() {
        let results = map(json!({
            "rules": "r1,r2",
            "rule": {"id": "r1", "match": {"url": "http://x/<.*>"}},
            "count": 2,
            "ok": true,
            "none": null,
            "empty": {}
        }));
        assert_eq!(
            action_set_args(&results).unwrap(),
            [
                "action-set",
                "count=2",
                "none=",
                "ok=true",
                "rule.id=r1",
                "rule.match.url=http://x/<.*>",
                "rules=r1,r2",
            ]
        );
        assert_eq!(action_set_args(&Map::new()).unwrap(), ["action-set"]);
    }

    #[test]
    fn action_set_refuses_reserved_keys_with_juju_text() {
        for key in RESERVED_KEYS {
            let err = action_set_args(&map(json!({ key: "x" }))).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
            assert!(
                err.to_string()
                    .contains(&format!("cannot set reserved action key \"{key}\"")),
                "{err}"
            );
        }
        assert!(
            action_set_args(&map(json!({"stdout": {"x": "y"}}))).is_ok(),
            "only the whole key is reserved"
        );
    }

    #[test]
    fn action_set_refuses_malformed_keys_with_juju_text() {
        for key in [
            "Upper",
            "-lead",
            "trail-",
            "under_score",
            "a..b",
            "sp ace",
            "",
        ] {
            let err = action_set_args(&map(json!({ key: "x" }))).unwrap_err();
            assert!(
                err.to_string().contains(&format!(
                    "key \"{key}\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"
                )),
                "{key}: {err}"
            );
        }
        for key in ["a", "0", "rule-id", "a-1-b"] {
            assert!(check_result_key(key).is_ok(), "{key}");
        }
        assert!(action_set_args(&map(json!({"Rule": {"id": "x"}}))).is_err());
    }

    #[test]
    fn action_fail_and_log_put_the_message_after_end_of_flags() {
        assert_eq!(action_fail_args(""), ["action-fail"]);
        assert_eq!(
            action_fail_args("no such rule"),
            ["action-fail", "--", "no such rule"]
        );
        assert_eq!(action_log_args("-step 1"), ["action-log", "--", "-step 1"]);
    }
}
