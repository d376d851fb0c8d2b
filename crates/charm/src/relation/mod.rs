//! Relation databags: a typed parse of what the remote side wrote, with field-level errors, and
//! a render of what we write, byte-compatible with the Python libraries (spec/charm-parity.md §5).
//!
//! All databag values are strings. Where a Python library `json.dumps` a value, we write the
//! same bytes ([`json_dumps`]: `", "` and `": "` separators, ASCII-only); where it writes a
//! plain string, so do we.

pub mod auth_proxy;
pub mod certificates;
pub mod forward_auth;
pub mod grafana_dashboard;
pub mod ingress;
pub mod kratos_info;
pub mod logging;
pub mod metrics_endpoint;
pub mod oathkeeper_info;
pub mod peer;
pub mod tracing;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// One databag: key → string value.
pub type Databag = BTreeMap<String, String>;

/// A field of a remote databag that could not be used: which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The databag key.
    pub field: String,
    /// What is wrong with it, e.g. `missing` or `invalid URL "x"`.
    pub problem: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: &str, problem: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Serialises `value` as Python's `json.dumps(value)` does with default arguments: `", "`
/// between items, `": "` after keys, non-ASCII as `\uXXXX` escapes, keys in map order.
pub fn json_dumps(value: &Value) -> String {
    let mut out = String::new();
    dump_into(&mut out, value);
    out
}

/// [`json_dumps`] of a list of strings, the most common databag value.
pub fn json_dumps_strings<S: AsRef<str>>(items: &[S]) -> String {
    json_dumps(&Value::Array(
        items
            .iter()
            .map(|s| Value::String(s.as_ref().to_owned()))
            .collect(),
    ))
}

fn dump_into(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => dump_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_into(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_str(out, key);
                out.push_str(": ");
                dump_into(out, item);
            }
            out.push('}');
        }
    }
}

fn dump_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads a databag value that a Python library wrote with `json.dumps` of a list of strings.
fn parse_string_list(bag: &Databag, field: &str) -> Result<Vec<String>, FieldError> {
    let raw = bag
        .get(field)
        .ok_or_else(|| FieldError::new(field, "missing"))?;
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(FieldError::new(
                    field,
                    format!("expected a JSON array of strings, found an item {other}"),
                )),
            })
            .collect(),
        _ => Err(FieldError::new(
            field,
            format!("expected a JSON array of strings, found {raw:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_dumps_matches_python_default_separators() {
        assert_eq!(json_dumps_strings(&["a", "b"]), r#"["a", "b"]"#);
        assert_eq!(json_dumps_strings::<&str>(&[]), "[]");
        assert_eq!(
            json_dumps(&json!({"access_rules_filenames": ["x.json", "y.json"]})),
            r#"{"access_rules_filenames": ["x.json", "y.json"]}"#
        );
    }

    #[test]
    fn json_dumps_escapes_like_python_ensure_ascii() {
        assert_eq!(
            json_dumps(&json!("é\"\\\n\u{1}😀")),
            r#""\u00e9\"\\\n\u0001\ud83d\ude00""#
        );
    }

    #[test]
    fn string_list_errors_name_the_field() {
        let bag: Databag = [("headers".to_owned(), "X-User".to_owned())].into();
        let err = parse_string_list(&bag, "headers").unwrap_err();
        assert_eq!(err.field, "headers");
        assert_eq!(
            parse_string_list(&Databag::new(), "protected_urls")
                .unwrap_err()
                .to_string(),
            "protected_urls: missing"
        );
    }
}
