//! Secrets, the basics: `secret-get`, `secret-ids`, `secret-info-get`, `secret-add`,
//! `secret-set`, `secret-remove`, `secret-grant`, `secret-revoke` (spec/juju-runtime.md
//! §2.2). Writes are buffered by Juju until the hook exits 0.
//!
//! Content is never put on the command line: `secret-add` and `secret-set` take
//! `key#file=<path>` arguments, and the caller writes each value to a private file first.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::relation::RelationId;
use super::{Error, FORMAT_JSON, argv, parse_json};

/// `secret-get`.
pub const SECRET_GET: &str = "secret-get";
/// `secret-ids`.
pub const SECRET_IDS: &str = "secret-ids";
/// `secret-info-get`.
pub const SECRET_INFO_GET: &str = "secret-info-get";
/// `secret-add`.
pub const SECRET_ADD: &str = "secret-add";
/// `secret-set`.
pub const SECRET_SET: &str = "secret-set";
/// `secret-remove`.
pub const SECRET_REMOVE: &str = "secret-remove";
/// `secret-grant`.
pub const SECRET_GRANT: &str = "secret-grant";
/// `secret-revoke`.
pub const SECRET_REVOKE: &str = "secret-revoke";
/// `--label`.
pub const LABEL_FLAG: &str = "--label";
/// `--description`.
pub const DESCRIPTION_FLAG: &str = "--description";
/// `--expire`.
pub const EXPIRE_FLAG: &str = "--expire";
/// `--rotate`.
pub const ROTATE_FLAG: &str = "--rotate";
/// `--owner`.
pub const OWNER_FLAG: &str = "--owner";
/// `--revision`.
pub const REVISION_FLAG: &str = "--revision";
/// `--relation` (secret tools spell it out).
pub const RELATION_LONG_FLAG: &str = "--relation";
/// `--unit`.
pub const UNIT_FLAG: &str = "--unit";
/// `--peek`: the latest revision, once.
pub const PEEK_FLAG: &str = "--peek";
/// `--refresh`: the latest revision, and track it.
pub const REFRESH_FLAG: &str = "--refresh";

/// Which secret: by URI, by label, or by URI while (re)setting its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// By URI, e.g. `secret:d0j8m7...`.
    Id(String),
    /// By label.
    Label(String),
    /// By URI, (re)setting the label (consumers).
    IdAndLabel {
        /// The URI.
        id: String,
        /// The label to set.
        label: String,
    },
}

impl SecretRef {
    fn push_args(&self, args: &mut Vec<String>) {
        match self {
            SecretRef::Id(id) => args.push(id.clone()),
            SecretRef::Label(label) => args.extend([LABEL_FLAG.to_owned(), label.clone()]),
            SecretRef::IdAndLabel { id, label } => {
                args.extend([id.clone(), LABEL_FLAG.to_owned(), label.clone()]);
            }
        }
    }
}

/// Which revision `secret-get` returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Revision {
    /// The tracked revision (the default for consumers).
    #[default]
    Tracked,
    /// The latest revision, without tracking it (`--peek`).
    Peek,
    /// The latest revision, and track it from now on (`--refresh`).
    Refresh,
}

/// Who owns a new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The application; only the leader may manage it.
    Application,
    /// This unit.
    Unit,
}

impl Owner {
    /// As `--owner` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Application => "application",
            Owner::Unit => "unit",
        }
    }
}

/// Optional metadata of `secret-add` / `secret-set`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretMeta {
    /// `--label`.
    pub label: Option<String>,
    /// `--description`.
    pub description: Option<String>,
    /// `--expire`: an RFC 3339 time or a duration.
    pub expire: Option<String>,
    /// `--rotate`: never, hourly, daily, weekly, monthly, quarterly or yearly.
    pub rotate: Option<String>,
}

impl SecretMeta {
    fn push_args(&self, args: &mut Vec<String>) {
        for (flag, value) in [
            (LABEL_FLAG, &self.label),
            (DESCRIPTION_FLAG, &self.description),
            (EXPIRE_FLAG, &self.expire),
            (ROTATE_FLAG, &self.rotate),
        ] {
            if let Some(value) = value {
                args.extend([flag.to_owned(), value.clone()]);
            }
        }
    }
}

/// `key#file=<path>` for each key, in key order.
fn content_args(files: &BTreeMap<String, PathBuf>) -> impl Iterator<Item = String> + '_ {
    files
        .iter()
        .map(|(key, path)| format!("{key}#file={}", path.display()))
}

/// `secret-get --format=json [<uri>] [--label L] [--refresh | --peek]`.
pub fn secret_get_args(secret: &SecretRef, revision: Revision) -> Vec<String> {
    let mut args = argv(SECRET_GET, [FORMAT_JSON]);
    secret.push_args(&mut args);
    match revision {
        Revision::Tracked => {}
        Revision::Peek => args.push(PEEK_FLAG.to_owned()),
        Revision::Refresh => args.push(REFRESH_FLAG.to_owned()),
    }
    args
}

/// Parses the secret's content: a JSON object of decoded strings.
pub fn parse_secret_get(stdout: &[u8]) -> Result<BTreeMap<String, String>, Error> {
    parse_json::<Option<BTreeMap<String, String>>>(SECRET_GET, stdout)
        .map(Option::unwrap_or_default)
}

/// `secret-ids --format=json`: the secrets this unit or app owns.
pub fn secret_ids_args() -> Vec<String> {
    argv(SECRET_IDS, [FORMAT_JSON])
}

/// Parses `["secret:..."]`.
pub fn parse_secret_ids(stdout: &[u8]) -> Result<Vec<String>, Error> {
    parse_json::<Option<Vec<String>>>(SECRET_IDS, stdout).map(Option::unwrap_or_default)
}

/// `secret-info-get --format=json <uri>` or `secret-info-get --format=json --label L`.
/// An [`SecretRef::IdAndLabel`] asks by URI (the tool takes one or the other).
pub fn secret_info_get_args(secret: &SecretRef) -> Vec<String> {
    let mut args = argv(SECRET_INFO_GET, [FORMAT_JSON]);
    match secret {
        SecretRef::IdAndLabel { id, .. } => args.push(id.clone()),
        other => other.push_args(&mut args),
    }
    args
}

/// What the owner knows about a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SecretInfo {
    /// The secret's URI (the key of Juju's answer).
    #[serde(skip)]
    pub id: String,
    /// The latest revision.
    pub revision: u64,
    /// Its label, if any.
    #[serde(default)]
    pub label: Option<String>,
    /// `application` or `unit`.
    #[serde(default)]
    pub owner: String,
    /// Its description, if any.
    #[serde(default)]
    pub description: Option<String>,
    /// The rotation policy, if any.
    #[serde(default)]
    pub rotation: Option<String>,
    /// When the latest revision expires (RFC 3339), if ever.
    #[serde(default)]
    pub expiry: Option<String>,
    /// When it is next due for rotation (RFC 3339), if ever.
    #[serde(default)]
    pub rotates: Option<String>,
}

/// Parses `{"<id>":{"revision":3,"label":..,"owner":..,...}}`.
pub fn parse_secret_info_get(stdout: &[u8]) -> Result<SecretInfo, Error> {
    let by_id: BTreeMap<String, SecretInfo> = parse_json(SECRET_INFO_GET, stdout)?;
    let (id, mut info) = by_id
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid_output(SECRET_INFO_GET, "no secret in the answer"))?;
    info.id = id;
    Ok(info)
}

/// `secret-add [--label L] [--description D] [--expire E] [--rotate R] --owner <owner>
/// key#file=<path> ...`; `files` maps each key to the file holding its value.
pub fn secret_add_args(
    owner: Owner,
    meta: &SecretMeta,
    files: &BTreeMap<String, PathBuf>,
) -> Vec<String> {
    let mut args = vec![SECRET_ADD.to_owned()];
    meta.push_args(&mut args);
    args.extend([OWNER_FLAG.to_owned(), owner.as_str().to_owned()]);
    args.extend(content_args(files));
    args
}

/// Parses the new secret's URI from `secret-add`'s stdout.
pub fn parse_secret_add(stdout: &[u8]) -> Result<String, Error> {
    let uri = String::from_utf8_lossy(stdout).trim().to_owned();
    if uri.is_empty() {
        return Err(Error::invalid_output(SECRET_ADD, "no secret URI printed"));
    }
    Ok(uri)
}

/// `secret-set [--label L] [--description D] [--expire E] [--rotate R] --owner <owner> <uri>
/// key#file=<path> ...`; no files means metadata only (no new revision).
pub fn secret_set_args(
    uri: &str,
    owner: Owner,
    meta: &SecretMeta,
    files: &BTreeMap<String, PathBuf>,
) -> Vec<String> {
    let mut args = vec![SECRET_SET.to_owned()];
    meta.push_args(&mut args);
    args.extend([
        OWNER_FLAG.to_owned(),
        owner.as_str().to_owned(),
        uri.to_owned(),
    ]);
    args.extend(content_args(files));
    args
}

/// `secret-remove <uri> [--revision N]`.
pub fn secret_remove_args(uri: &str, revision: Option<u64>) -> Vec<String> {
    let mut args = argv(SECRET_REMOVE, [uri]);
    if let Some(revision) = revision {
        args.extend([REVISION_FLAG.to_owned(), revision.to_string()]);
    }
    args
}

/// `secret-grant --relation <id> [--unit <unit>] <uri>`.
pub fn secret_grant_args(uri: &str, relation: &RelationId, unit: Option<&str>) -> Vec<String> {
    let mut args = argv(SECRET_GRANT, [RELATION_LONG_FLAG, &relation.id.to_string()]);
    if let Some(unit) = unit {
        args.extend([UNIT_FLAG.to_owned(), unit.to_owned()]);
    }
    args.push(uri.to_owned());
    args
}

/// `secret-revoke --relation <id> [--unit <unit>] <uri>`.
pub fn secret_revoke_args(uri: &str, relation: &RelationId, unit: Option<&str>) -> Vec<String> {
    let mut args = argv(
        SECRET_REVOKE,
        [RELATION_LONG_FLAG, &relation.id.to_string()],
    );
    if let Some(unit) = unit {
        args.extend([UNIT_FLAG.to_owned(), unit.to_owned()]);
    }
    args.push(uri.to_owned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_get_argv_covers_id_label_and_revision() {
        let id = || SecretRef::Id("secret:abc".into());
        assert_eq!(
            secret_get_args(&id(), Revision::Tracked),
            ["secret-get", "--format=json", "secret:abc"]
        );
        assert_eq!(
            secret_get_args(&SecretRef::Label("creds".into()), Revision::Peek),
            ["secret-get", "--format=json", "--label", "creds", "--peek"]
        );
        assert_eq!(
            secret_get_args(
                &SecretRef::IdAndLabel {
                    id: "secret:abc".into(),
                    label: "creds".into()
                },
                Revision::Refresh
            ),
            [
                "secret-get",
                "--format=json",
                "secret:abc",
                "--label",
                "creds",
                "--refresh"
            ]
        );
    }

    #[test]
    fn secret_info_get_asks_by_id_or_by_label() {
        assert_eq!(
            secret_info_get_args(&SecretRef::Id("secret:abc".into())),
            ["secret-info-get", "--format=json", "secret:abc"]
        );
        assert_eq!(
            secret_info_get_args(&SecretRef::Label("creds".into())),
            ["secret-info-get", "--format=json", "--label", "creds"]
        );
        assert_eq!(
            secret_info_get_args(&SecretRef::IdAndLabel {
                id: "secret:abc".into(),
                label: "creds".into()
            }),
            ["secret-info-get", "--format=json", "secret:abc"]
        );
    }

    #[test]
    fn secret_writes_pass_content_as_files_never_values() {
        let files = BTreeMap::from([
            ("password".to_owned(), PathBuf::from("/tmp/s/password")),
            ("username".to_owned(), PathBuf::from("/tmp/s/username")),
        ]);
        let meta = SecretMeta {
            label: Some("creds".into()),
            rotate: Some("daily".into()),
            ..SecretMeta::default()
        };
        assert_eq!(
            secret_add_args(Owner::Application, &meta, &files),
            [
                "secret-add",
                "--label",
                "creds",
                "--rotate",
                "daily",
                "--owner",
                "application",
                "password#file=/tmp/s/password",
                "username#file=/tmp/s/username",
            ]
        );
        assert_eq!(
            secret_set_args("secret:abc", Owner::Unit, &SecretMeta::default(), &files),
            [
                "secret-set",
                "--owner",
                "unit",
                "secret:abc",
                "password#file=/tmp/s/password",
                "username#file=/tmp/s/username",
            ]
        );
    }

    #[test]
    fn secret_management_argv() {
        assert_eq!(secret_ids_args(), ["secret-ids", "--format=json"]);
        assert_eq!(
            secret_remove_args("secret:abc", None),
            ["secret-remove", "secret:abc"]
        );
        assert_eq!(
            secret_remove_args("secret:abc", Some(2)),
            ["secret-remove", "secret:abc", "--revision", "2"]
        );
        let rel = RelationId::new("db", 7);
        assert_eq!(
            secret_grant_args("secret:abc", &rel, None),
            ["secret-grant", "--relation", "7", "secret:abc"]
        );
        assert_eq!(
            secret_grant_args("secret:abc", &rel, Some("pg/0")),
            [
                "secret-grant",
                "--relation",
                "7",
                "--unit",
                "pg/0",
                "secret:abc"
            ]
        );
        assert_eq!(
            secret_revoke_args("secret:abc", &rel, None),
            ["secret-revoke", "--relation", "7", "secret:abc"]
        );
    }

    #[test]
    fn secret_outputs_parse_from_juju_json() {
        let content = parse_secret_get(br#"{"password":"p","username":"u"}"#).unwrap();
        assert_eq!(content["password"], "p");
        assert_eq!(
            parse_secret_ids(br#"["secret:a","secret:b"]"#).unwrap(),
            ["secret:a", "secret:b"]
        );
        assert_eq!(
            parse_secret_add(b"secret:cs2q8kbh7\n").unwrap(),
            "secret:cs2q8kbh7"
        );
        assert!(parse_secret_add(b"\n").is_err());
        let info = parse_secret_info_get(
            br#"{"secret:abc":{"revision":3,"label":"creds","owner":"application","description":"d","rotation":"daily","expiry":"2026-01-01T00:00:00Z","rotates":"2025-12-01T00:00:00Z"}}"#,
        )
        .unwrap();
        assert_eq!(
            info,
            SecretInfo {
                id: "secret:abc".into(),
                revision: 3,
                label: Some("creds".into()),
                owner: "application".into(),
                description: Some("d".into()),
                rotation: Some("daily".into()),
                expiry: Some("2026-01-01T00:00:00Z".into()),
                rotates: Some("2025-12-01T00:00:00Z".into()),
            }
        );
        assert!(parse_secret_info_get(b"{}").is_err());
    }
}
