//! Charm unit state on the controller: `state-get`, `state-set`, `state-delete`
//! (spec/juju-runtime.md §2.2). Survives pod churn; writes are buffered by Juju until the
//! hook exits 0.

use std::collections::BTreeMap;

use super::relation::{DASH, FILE_FLAG};
use super::{Error, FORMAT_JSON, argv, parse_json};

/// `state-get`.
pub const STATE_GET: &str = "state-get";
/// `state-set`.
pub const STATE_SET: &str = "state-set";
/// `state-delete`.
pub const STATE_DELETE: &str = "state-delete";

/// `state-get --format=json`.
pub fn state_get_args() -> Vec<String> {
    argv(STATE_GET, [FORMAT_JSON])
}

/// Parses the state: an object of strings, or `null` when empty.
pub fn parse_state_get(stdout: &[u8]) -> Result<BTreeMap<String, String>, Error> {
    parse_json::<Option<BTreeMap<String, String>>>(STATE_GET, stdout).map(Option::unwrap_or_default)
}

/// `state-set --file -`; the data goes on stdin as a JSON object, see [`state_set_stdin`].
pub fn state_set_args() -> Vec<String> {
    argv(STATE_SET, [FILE_FLAG, DASH])
}

/// The stdin of `state-set --file -`.
pub fn state_set_stdin(data: &BTreeMap<String, String>) -> Vec<u8> {
    // invariant: a map of strings always serialises.
    serde_json::to_vec(data).unwrap_or_default()
}

/// `state-delete <key>`.
pub fn state_delete_args(key: &str) -> Vec<String> {
    argv(STATE_DELETE, [key])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_argv_and_stdin() {
        assert_eq!(state_get_args(), ["state-get", "--format=json"]);
        assert_eq!(state_set_args(), ["state-set", "--file", "-"]);
        assert_eq!(state_delete_args("k"), ["state-delete", "k"]);
        let data = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
        assert_eq!(state_set_stdin(&data), br#"{"k":"v"}"#);
    }

    #[test]
    fn empty_state_is_null_or_an_empty_object() {
        assert!(parse_state_get(b"null\n").unwrap().is_empty());
        assert!(parse_state_get(b"{}\n").unwrap().is_empty());
        assert_eq!(parse_state_get(br#"{"k":"v"}"#).unwrap()["k"], "v");
    }
}
