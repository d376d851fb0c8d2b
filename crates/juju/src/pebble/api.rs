//! Pebble's HTTP API bodies (spec/juju-runtime.md §3.2, §3.3): envelopes, changes, services,
//! checks, files, notices. Plain serde types shared by the client and the harness's fake Pebble.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every answer is one of three envelopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// `sync`, `async` or `error`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The HTTP status, repeated.
    #[serde(rename = "status-code")]
    pub status_code: u16,
    /// The status text (`OK`, `Accepted`, `Bad Request`).
    pub status: String,
    /// The change id of an `async` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// The result (`null` for `async`; `{"message","kind","value"}` for `error`).
    #[serde(default)]
    pub result: Value,
}

impl Envelope {
    /// A `sync` 200 envelope around `result`.
    pub fn sync(result: Value) -> Envelope {
        Envelope {
            type_: "sync".into(),
            status_code: 200,
            status: "OK".into(),
            change: None,
            result,
        }
    }

    /// An `async` 202 envelope for change `id`.
    pub fn accepted(id: &str) -> Envelope {
        Envelope {
            type_: "async".into(),
            status_code: 202,
            status: "Accepted".into(),
            change: Some(id.to_owned()),
            result: Value::Null,
        }
    }

    /// An `error` envelope.
    pub fn error(status_code: u16, status: &str, message: &str, kind: Option<&str>) -> Envelope {
        let mut result = serde_json::json!({ "message": message });
        if let Some(kind) = kind {
            result["kind"] = Value::String(kind.to_owned());
        }
        Envelope {
            type_: "error".into(),
            status_code,
            status: status.to_owned(),
            change: None,
            result,
        }
    }
}

/// A change (`/v1/changes/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Id.
    pub id: String,
    /// Kind, e.g. `start`, `replan`.
    pub kind: String,
    /// Summary.
    pub summary: String,
    /// `Do`, `Doing`, `Done`, `Error`, ...
    pub status: String,
    /// Whether it finished.
    pub ready: bool,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// Tasks: `{"id","kind","summary","status","log","progress","spawn-time","ready-time","data"}`.
    /// An exec change carries the exit code in `tasks[0].data["exit-code"]`.
    #[serde(default)]
    pub tasks: Vec<Value>,
    /// When the change was created (RFC 3339).
    #[serde(default, rename = "spawn-time")]
    pub spawn_time: String,
    /// When the change finished (RFC 3339).
    #[serde(
        default,
        rename = "ready-time",
        skip_serializing_if = "Option::is_none"
    )]
    pub ready_time: Option<String>,
    /// Change data.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

/// One service of `GET /v1/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Name.
    pub name: String,
    /// `enabled` or `disabled`.
    pub startup: String,
    /// `active`, `inactive`, `backoff` or `error`.
    pub current: String,
    /// Since when (RFC 3339).
    #[serde(
        default,
        rename = "current-since",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_since: Option<String>,
}

impl ServiceInfo {
    /// Whether the service runs.
    pub fn is_running(&self) -> bool {
        self.current == "active"
    }
}

/// One check of `GET /v1/checks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckInfo {
    /// Name.
    pub name: String,
    /// `alive` or `ready` (empty when unset).
    #[serde(default)]
    pub level: String,
    /// `enabled` or `disabled` (empty when the server does not say).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub startup: String,
    /// `up`, `down` or `inactive`.
    pub status: String,
    /// Successful runs since the check started.
    #[serde(default)]
    pub successes: u32,
    /// Consecutive failures.
    #[serde(default)]
    pub failures: u32,
    /// Failures before down.
    #[serde(default)]
    pub threshold: u32,
    /// The change running the check, if the server reports one.
    #[serde(default, rename = "change-id", skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
}

/// `GET /v1/system-info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// Pebble's version.
    pub version: String,
    /// Boot id.
    #[serde(default, rename = "boot-id")]
    pub boot_id: String,
}

/// One entry of `GET /v1/files?action=list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Full path.
    pub path: String,
    /// Base name.
    pub name: String,
    /// `file`, `directory`, `symlink`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// Size in bytes (files).
    #[serde(default)]
    pub size: Option<u64>,
    /// Octal permissions, e.g. `644`.
    #[serde(default)]
    pub permissions: String,
    /// Last modification (RFC 3339).
    #[serde(default, rename = "last-modified")]
    pub last_modified: String,
    /// Owner's user id.
    #[serde(default, rename = "user-id", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    /// Owner's user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Group id.
    #[serde(default, rename = "group-id", skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A per-path result of a files call (HTTP 200 even when a path failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathResult {
    /// The path.
    pub path: String,
    /// Why it failed, if it did: `{"kind","message"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// A notice (`GET /v1/notices`, `GET /v1/notices/{id}`).
///
/// Every field but `type` and `key` defaults, so a test state can name just those.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Notice {
    /// Id, unique per Pebble daemon.
    #[serde(default)]
    pub id: String,
    /// The user the notice is visible to (absent: every user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    /// `custom`, `change-update`, `warning`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// For `custom` notices, a domain-prefixed key such as `example.com/reload`.
    pub key: String,
    /// First occurrence (RFC 3339).
    #[serde(default)]
    pub first_occurred: String,
    /// Last occurrence (RFC 3339).
    #[serde(default)]
    pub last_occurred: String,
    /// Last time the notice was repeated (RFC 3339).
    #[serde(default)]
    pub last_repeated: String,
    /// How many times it occurred.
    #[serde(default)]
    pub occurrences: u32,
    /// Data of the last occurrence.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_data: BTreeMap<String, String>,
    /// Go duration: occurrences within it do not count as repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_after: Option<String>,
    /// Go duration after which the notice expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_after: Option<String>,
}
