//! Charm config: `config-get` (spec/juju-runtime.md §2.2).

use serde_json::{Map, Value};

use super::{Error, FORMAT_JSON, argv, parse_json};

/// `config-get`.
pub const CONFIG_GET: &str = "config-get";

/// `config-get --format=json`: every option that is set or has a non-null default.
pub fn config_get_args() -> Vec<String> {
    argv(CONFIG_GET, [FORMAT_JSON])
}

/// `config-get --format=json <key>`: one option.
pub fn config_get_key_args(key: &str) -> Vec<String> {
    argv(CONFIG_GET, [FORMAT_JSON, key])
}

/// Parses the options object. Types are preserved (string, int, float, boolean; a
/// `secret`-typed option is its secret URI); unset options without a default are absent.
pub fn parse_config_get(stdout: &[u8]) -> Result<Map<String, Value>, Error> {
    parse_json::<Option<Map<String, Value>>>(CONFIG_GET, stdout).map(Option::unwrap_or_default)
}

/// Parses one option: `None` when Juju prints `null` (unset, not an error).
pub fn parse_config_get_key(stdout: &[u8]) -> Result<Option<Value>, Error> {
    parse_json::<Value>(CONFIG_GET, stdout).map(|v| Some(v).filter(|v| !v.is_null()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_get_asks_for_json() {
        assert_eq!(config_get_args(), ["config-get", "--format=json"]);
        assert_eq!(
            config_get_key_args("log-level"),
            ["config-get", "--format=json", "log-level"]
        );
    }

    #[test]
    fn config_get_keeps_option_types() {
        let map = parse_config_get(br#"{"dev":false,"log-level":"info","port":4456,"ratio":0.5}"#)
            .unwrap();
        assert_eq!(map["dev"], json!(false));
        assert_eq!(map["log-level"], json!("info"));
        assert_eq!(map["port"], json!(4456));
        assert_eq!(map["ratio"], json!(0.5));
        assert!(parse_config_get(b"{}\n").unwrap().is_empty());
        assert!(parse_config_get(b"[1]").is_err());
    }

    #[test]
    fn a_missing_key_is_none_not_an_error() {
        assert_eq!(parse_config_get_key(b"null\n").unwrap(), None);
        assert_eq!(
            parse_config_get_key(b"\"debug\"\n").unwrap(),
            Some(json!("debug"))
        );
    }
}
