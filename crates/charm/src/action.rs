//! The actions `list-rules` and `get-rule` (spec §3), pure parts: parameters, the API request
//! path, and the results map or the failure message. The shell performs the one HTTP request
//! against the workload's API (not an exec of a CLI, so TLS is handled: https with the
//! relation's CA when the workload serves it) and calls these.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// The `list-rules` action.
pub const LIST_RULES: &str = "list-rules";
/// The `get-rule` action.
pub const GET_RULE: &str = "get-rule";
/// `list-rules` parameter: how many rules at most.
pub const LIMIT_PARAM: &str = "limit";
/// `get-rule` parameter: the rule id.
pub const RULE_ID_PARAM: &str = "rule-id";
/// The default of [`LIMIT_PARAM`] (actions.yaml).
pub const DEFAULT_LIMIT: u64 = 20;
/// The workload's API as the charm container reaches it (same pod). Upstream's CLI used the
/// same address, also under TLS, where it fails. Ours, when the workload serves https, asks the
/// same address over https, trusting only the relation's CA and verifying the certificate's
/// name `<app>.<model>.svc.cluster.local` (`crate::io::Io::api_get`).
pub const LOCAL_API: &str = "http://localhost:4456";
/// The API path of the rules.
pub const RULES_PATH: &str = "/rules";

/// Failure: the service is not running.
pub const NOT_READY: &str =
    "Service is not ready. Please re-run the action when the charm is active";
/// Failure: `get-rule` for an id the workload does not know.
pub const RULE_NOT_FOUND: &str = "Rule not found";
/// Log line before `list-rules` asks the API.
pub const LOG_FETCHING: &str = "Fetching access rules";
/// Log line after `list-rules` succeeded.
pub const LOG_LISTED: &str = "Successfully listed rules";

/// Failure: anything else went wrong asking the workload.
pub fn command_failed(error: &str) -> String {
    format!("Something went wrong when trying to run the command: {error}")
}

/// Log line before `get-rule` asks the API.
pub fn log_getting(rule_id: &str) -> String {
    format!("Getting rule: {rule_id}")
}

/// Log line when `get-rule` asked for an id the workload does not know (upstream's).
pub fn log_no_such_rule(rule_id: &str) -> String {
    format!("No such rule: {rule_id}")
}

/// Log line after `get-rule` succeeded.
pub fn log_fetched(rule_id: &str) -> String {
    format!("Successfully fetched rule: {rule_id}")
}

/// What the workload's API answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiResponse {
    /// 2xx with this body.
    Ok(Vec<u8>),
    /// A non-2xx status with its body.
    Status {
        /// The HTTP status.
        code: u16,
        /// The body, as text.
        body: String,
    },
    /// No answer (connection refused, timeout...).
    Transport(String),
}

/// An action's outcome: the results map for `action-set`, or the message for `action-fail`.
pub type Outcome = Result<BTreeMap<String, String>, String>;

/// `list-rules`' limit from the `action-get` parameters (Juju applies the schema; the default
/// covers a missing value).
pub fn limit(params: &Value) -> Result<u64, String> {
    match params.get(LIMIT_PARAM) {
        None | Some(Value::Null) => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{LIMIT_PARAM} must be an integer of at least 1, not {v}")),
    }
}

/// `get-rule`'s rule id from the `action-get` parameters.
pub fn rule_id(params: &Value) -> Result<String, String> {
    params
        .get(RULE_ID_PARAM)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("missing parameter {RULE_ID_PARAM}"))
}

/// The API path and query listing at most `limit` rules.
pub fn list_rules_path(limit: u64) -> String {
    format!("{RULES_PATH}?limit={limit}")
}

/// The API path of one rule, its id percent-encoded (ids contain `:` and `/`).
pub fn get_rule_path(rule_id: &str) -> String {
    let mut path = format!("{RULES_PATH}/");
    for byte in rule_id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            path.push(char::from(byte));
        } else {
            let _ = write!(path, "%{byte:02X}");
        }
    }
    path
}

/// `list-rules`: `{"0": id, "1": id, ...}` from the API's JSON array.
pub fn list_rules(service_running: bool, response: Option<ApiResponse>) -> Outcome {
    if !service_running {
        return Err(NOT_READY.to_owned());
    }
    let body = match response {
        Some(ApiResponse::Ok(body)) => body,
        Some(ApiResponse::Status { code, body }) => {
            return Err(command_failed(&format!("status {code}: {body}")));
        }
        Some(ApiResponse::Transport(e)) => return Err(command_failed(&e)),
        None => return Err(NOT_READY.to_owned()),
    };
    let rules: Vec<Value> =
        serde_json::from_slice(&body).map_err(|e| command_failed(&e.to_string()))?;
    Ok(rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let id = rule.get("id").and_then(Value::as_str).unwrap_or_default();
            (i.to_string(), id.to_owned())
        })
        .collect())
}

/// `get-rule`: the rule flattened as ops flattens nested results (`match.url`, ...), other
/// values rendered as Python's `str()` would.
pub fn get_rule(service_running: bool, response: Option<ApiResponse>) -> Outcome {
    if !service_running {
        return Err(NOT_READY.to_owned());
    }
    let body = match response {
        Some(ApiResponse::Ok(body)) => body,
        Some(ApiResponse::Status { code: 404, .. }) => return Err(RULE_NOT_FOUND.to_owned()),
        Some(ApiResponse::Status { code, body }) => {
            return Err(command_failed(&format!("status {code}: {body}")));
        }
        Some(ApiResponse::Transport(e)) => return Err(command_failed(&e)),
        None => return Err(NOT_READY.to_owned()),
    };
    let rule: Value = serde_json::from_slice(&body).map_err(|e| command_failed(&e.to_string()))?;
    let mut results = BTreeMap::new();
    flatten("", &rule, &mut results);
    Ok(results)
}

/// Flattens objects into dotted keys.
// Differs from upstream: `_` in keys becomes `-` (`upstream.preserve-host`), since action-set
// accepts only lower-case letters, digits, `-` and `.` in keys.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let key = key.to_ascii_lowercase().replace('_', "-");
                let key = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, item, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), python_str(other));
        }
    }
}

/// Python's `str()` of a decoded JSON value (`repr` inside containers).
fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        let _ = write!(out, "\\x{:02x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        python_repr(&Value::from(k.as_str())),
                        python_repr(v)
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_fail_when_the_service_is_not_running() {
        // spec §3, test_actions_when_cannot_connect.
        assert_eq!(list_rules(false, None), Err(NOT_READY.to_owned()));
        assert_eq!(get_rule(false, None), Err(NOT_READY.to_owned()));
    }

    #[test]
    fn list_rules_results_map_index_to_id() {
        let body = json!([{"id": "rule-0"}, {"id": "rule-1"}])
            .to_string()
            .into_bytes();
        let results = list_rules(true, Some(ApiResponse::Ok(body))).unwrap();
        assert_eq!(
            results,
            BTreeMap::from([
                ("0".to_owned(), "rule-0".to_owned()),
                ("1".to_owned(), "rule-1".to_owned())
            ])
        );
    }

    #[test]
    fn unknown_rule_is_rule_not_found() {
        let response = ApiResponse::Status {
            code: 404,
            body: "{}".into(),
        };
        assert_eq!(
            get_rule(true, Some(response)),
            Err(RULE_NOT_FOUND.to_owned())
        );
    }

    #[test]
    fn api_errors_are_reported_with_upstreams_prefix() {
        let err = list_rules(
            true,
            Some(ApiResponse::Transport("connection refused".into())),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "Something went wrong when trying to run the command: connection refused"
        );
        let err = get_rule(
            true,
            Some(ApiResponse::Status {
                code: 500,
                body: "boom".into(),
            }),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "Something went wrong when trying to run the command: status 500: boom"
        );
    }

    #[test]
    fn get_rule_results_are_flattened_like_ops() {
        let rule = json!({
            "id": "requirer:0:deny",
            "match": {"url": "<^(https|http)>://example.com<(/.*)?>", "methods": ["GET", "HEAD"]},
            "authenticators": [{"handler": "cookie_session", "config": null}],
            "authorizer": {"handler": "allow", "config": null},
            "upstream": {"preserve_host": false, "strip_path": "", "url": ""}
        });
        let results = get_rule(true, Some(ApiResponse::Ok(rule.to_string().into_bytes()))).unwrap();
        assert_eq!(results["id"], "requirer:0:deny");
        assert_eq!(
            results["match.url"],
            "<^(https|http)>://example.com<(/.*)?>"
        );
        assert_eq!(results["match.methods"], "['GET', 'HEAD']");
        assert_eq!(
            results["authenticators"],
            "[{'config': None, 'handler': 'cookie_session'}]"
        );
        assert_eq!(results["authorizer.handler"], "allow");
        assert_eq!(results["authorizer.config"], "None");
        assert_eq!(results["upstream.preserve-host"], "False");
        assert_eq!(results["upstream.strip-path"], "");
    }

    #[test]
    fn parameters_and_paths() {
        assert_eq!(limit(&json!({})), Ok(20));
        assert_eq!(limit(&json!({"limit": 5})), Ok(5));
        assert!(limit(&json!({"limit": 0})).is_err());
        assert_eq!(
            rule_id(&json!({"rule-id": "a:0:deny"})),
            Ok("a:0:deny".to_owned())
        );
        assert!(rule_id(&json!({})).is_err());
        assert_eq!(list_rules_path(20), "/rules?limit=20");
        assert_eq!(
            get_rule_path("app:about/app:0:allow"),
            "/rules/app%3Aabout%2Fapp%3A0%3Aallow"
        );
    }
}
