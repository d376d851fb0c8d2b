//! Relations: `relation-ids`, `relation-list`, `relation-get`, `relation-set`,
//! `relation-model-get` (spec/juju-runtime.md §2.2).
//!
//! A relation is named by a [`RelationId`] and passed as `-r <endpoint>:<id>`, as ops does.
//! `relation-set` writes are buffered by Juju until the hook exits 0.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::{Error, FORMAT_JSON, argv, parse_json};

/// `relation-ids`.
pub const RELATION_IDS: &str = "relation-ids";
/// `relation-list`.
pub const RELATION_LIST: &str = "relation-list";
/// `relation-get`.
pub const RELATION_GET: &str = "relation-get";
/// `relation-set`.
pub const RELATION_SET: &str = "relation-set";
/// `relation-model-get` (Juju 3.6.2+).
pub const RELATION_MODEL_GET: &str = "relation-model-get";
/// `-r`, the relation flag.
pub const RELATION_FLAG: &str = "-r";
/// `--app`: the application databag instead of a unit's.
pub const APP_FLAG: &str = "--app";
/// `--file`, followed by `-` for stdin.
pub const FILE_FLAG: &str = "--file";
/// `-`: stdin for `--file`, "all keys" for `relation-get`.
pub const DASH: &str = "-";

/// A relation: its endpoint and Juju's numeric id, written `<endpoint>:<id>` (`db:7`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelationId {
    /// The endpoint (this charm's side).
    pub endpoint: String,
    /// The number after the last `:`.
    pub id: u64,
}

impl RelationId {
    /// The relation `id` on `endpoint`.
    pub fn new(endpoint: impl Into<String>, id: u64) -> RelationId {
        RelationId {
            endpoint: endpoint.into(),
            id,
        }
    }
}

impl fmt::Display for RelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.endpoint, self.id)
    }
}

/// Why text is not a relation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid relation id \"{0}\": expected <endpoint>:<number>")]
pub struct RelationIdError(pub String);

impl FromStr for RelationId {
    type Err = RelationIdError;

    /// Parses `<endpoint>:<id>`; the id is the text after the last `:`.
    fn from_str(text: &str) -> Result<RelationId, RelationIdError> {
        let (endpoint, id) = text
            .rsplit_once(':')
            .ok_or_else(|| RelationIdError(text.to_owned()))?;
        let id = id.parse().map_err(|_| RelationIdError(text.to_owned()))?;
        if endpoint.is_empty() {
            return Err(RelationIdError(text.to_owned()));
        }
        Ok(RelationId::new(endpoint, id))
    }
}

/// True when `name` names an application (`spark`), false for a unit (`spark/0`).
pub fn is_app_name(name: &str) -> bool {
    !name.contains('/')
}

/// `relation-ids <endpoint> --format=json`.
pub fn relation_ids_args(endpoint: &str) -> Vec<String> {
    argv(RELATION_IDS, [endpoint, FORMAT_JSON])
}

/// Parses `["db:3","db:7"]` (a broken relation is already left out by Juju).
pub fn parse_relation_ids(stdout: &[u8]) -> Result<Vec<RelationId>, Error> {
    let ids: Option<Vec<String>> = parse_json(RELATION_IDS, stdout)?;
    ids.unwrap_or_default()
        .iter()
        .map(|id| {
            id.parse()
                .map_err(|e| Error::invalid_output(RELATION_IDS, e))
        })
        .collect()
}

/// `relation-list --format=json -r <endpoint>:<id>`: the remote units in scope.
pub fn relation_list_args(relation: &RelationId) -> Vec<String> {
    argv(
        RELATION_LIST,
        [FORMAT_JSON, RELATION_FLAG, &relation.to_string()],
    )
}

/// `relation-list --format=json --app -r <endpoint>:<id>`: the remote application.
pub fn relation_list_app_args(relation: &RelationId) -> Vec<String> {
    argv(
        RELATION_LIST,
        [FORMAT_JSON, APP_FLAG, RELATION_FLAG, &relation.to_string()],
    )
}

/// Parses `["remote/0","remote/1"]` (`[]` or `null` when none).
pub fn parse_relation_list(stdout: &[u8]) -> Result<Vec<String>, Error> {
    parse_json::<Option<Vec<String>>>(RELATION_LIST, stdout).map(Option::unwrap_or_default)
}

/// Parses the remote application of `relation-list --app`: a JSON string.
pub fn parse_relation_list_app(stdout: &[u8]) -> Result<String, Error> {
    parse_json(RELATION_LIST, stdout)
}

/// `relation-get --format=json -r <endpoint>:<id> [--app] - <unit-or-app>`: the whole databag
/// of `unit_or_app`, with `--app` when it names an application (see [`is_app_name`]).
pub fn relation_get_args(relation: &RelationId, unit_or_app: &str) -> Vec<String> {
    let mut args = argv(
        RELATION_GET,
        [FORMAT_JSON, RELATION_FLAG, &relation.to_string()],
    );
    if is_app_name(unit_or_app) {
        args.push(APP_FLAG.to_owned());
    }
    args.extend([DASH.to_owned(), unit_or_app.to_owned()]);
    args
}

/// Parses a databag: a JSON object of strings (`{}` or `null` when empty).
pub fn parse_relation_get(stdout: &[u8]) -> Result<BTreeMap<String, String>, Error> {
    parse_json::<Option<BTreeMap<String, String>>>(RELATION_GET, stdout)
        .map(Option::unwrap_or_default)
}

/// `relation-set -r <endpoint>:<id> [--app] --file -`; the data goes on stdin, see
/// [`relation_set_stdin`].
pub fn relation_set_args(relation: &RelationId, app: bool) -> Vec<String> {
    let mut args = argv(RELATION_SET, [RELATION_FLAG, &relation.to_string()]);
    if app {
        args.push(APP_FLAG.to_owned());
    }
    args.extend([FILE_FLAG.to_owned(), DASH.to_owned()]);
    args
}

/// The stdin of `relation-set --file -`: the data as a JSON object (Juju reads it as a YAML
/// map). Juju merges it into the databag; an empty value deletes that key.
pub fn relation_set_stdin(data: &BTreeMap<String, String>) -> Vec<u8> {
    // invariant: a map of strings always serialises.
    serde_json::to_vec(data).unwrap_or_default()
}

/// `relation-model-get --format=json -r <endpoint>:<id>`.
pub fn relation_model_get_args(relation: &RelationId) -> Vec<String> {
    argv(
        RELATION_MODEL_GET,
        [FORMAT_JSON, RELATION_FLAG, &relation.to_string()],
    )
}

/// Parses `{"uuid":"<remote model uuid>"}` into the UUID.
pub fn parse_relation_model_get(stdout: &[u8]) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Model {
        uuid: String,
    }
    parse_json::<Model>(RELATION_MODEL_GET, stdout).map(|m| m.uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db7() -> RelationId {
        RelationId::new("db", 7)
    }

    #[test]
    fn relation_ids_read_and_print_as_endpoint_colon_number() {
        assert_eq!("db:7".parse::<RelationId>().unwrap(), db7());
        assert_eq!(db7().to_string(), "db:7");
        assert_eq!(
            "a:b:3".parse::<RelationId>().unwrap(),
            RelationId::new("a:b", 3)
        );
        for bad in ["7", ":7", "db:", "db:x", ""] {
            assert!(bad.parse::<RelationId>().is_err(), "{bad}");
        }
        assert_eq!(
            "db:x".parse::<RelationId>().unwrap_err().to_string(),
            "invalid relation id \"db:x\": expected <endpoint>:<number>"
        );
    }

    #[test]
    fn argv_is_what_ops_sends() {
        assert_eq!(
            relation_ids_args("db"),
            ["relation-ids", "db", "--format=json"]
        );
        assert_eq!(
            relation_list_args(&db7()),
            ["relation-list", "--format=json", "-r", "db:7"]
        );
        assert_eq!(
            relation_list_app_args(&db7()),
            ["relation-list", "--format=json", "--app", "-r", "db:7"]
        );
        assert_eq!(
            relation_get_args(&db7(), "pg/0"),
            ["relation-get", "--format=json", "-r", "db:7", "-", "pg/0"]
        );
        assert_eq!(
            relation_get_args(&db7(), "pg"),
            [
                "relation-get",
                "--format=json",
                "-r",
                "db:7",
                "--app",
                "-",
                "pg"
            ]
        );
        assert_eq!(
            relation_set_args(&db7(), false),
            ["relation-set", "-r", "db:7", "--file", "-"]
        );
        assert_eq!(
            relation_set_args(&db7(), true),
            ["relation-set", "-r", "db:7", "--app", "--file", "-"]
        );
        assert_eq!(
            relation_model_get_args(&db7()),
            ["relation-model-get", "--format=json", "-r", "db:7"]
        );
    }

    #[test]
    fn relation_set_sends_the_data_as_a_json_object() {
        let data = BTreeMap::from([
            ("url".to_owned(), "http://x".to_owned()),
            ("gone".to_owned(), String::new()),
        ]);
        assert_eq!(
            relation_set_stdin(&data),
            br#"{"gone":"","url":"http://x"}"#
        );
    }

    #[test]
    fn outputs_parse_from_juju_json() {
        assert_eq!(
            parse_relation_ids(b"[\"db:3\",\"db:7\"]\n").unwrap(),
            [RelationId::new("db", 3), db7()]
        );
        assert!(parse_relation_ids(b"[]\n").unwrap().is_empty());
        assert!(matches!(
            parse_relation_ids(b"[\"db\"]"),
            Err(Error::InvalidOutput { .. })
        ));
        assert_eq!(
            parse_relation_list(b"[\"remote/0\",\"remote/1\"]\n").unwrap(),
            ["remote/0", "remote/1"]
        );
        assert!(parse_relation_list(b"[]\n").unwrap().is_empty());
        assert_eq!(
            parse_relation_list_app(b"\"remoteapp\"\n").unwrap(),
            "remoteapp"
        );
        let bag = parse_relation_get(
            br#"{"egress-subnets":"10.1.2.3/32","ingress-address":"10.1.2.3","private-address":"10.1.2.3","url":"x"}"#,
        )
        .unwrap();
        assert_eq!(bag["ingress-address"], "10.1.2.3");
        assert_eq!(bag["url"], "x");
        assert!(parse_relation_get(b"{}\n").unwrap().is_empty());
        assert!(
            parse_relation_get(br#"{"n":1}"#).is_err(),
            "values are strings"
        );
        assert_eq!(
            parse_relation_model_get(br#"{"uuid":"abc"}"#).unwrap(),
            "abc"
        );
    }
}
