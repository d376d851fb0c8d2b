//! What the harness's State document holds for one container, modelled on Scenario's
//! `Container` (spec/juju-runtime.md §5.1). Every field defaults, so `{}` is a connectable
//! container with nothing in it.

use std::collections::BTreeMap;

use juju::pebble::api::{CheckInfo, Notice};
use juju::pebble::layer::{Layer, Layers};
use serde::{Deserialize, Serialize};

/// One container as the charm sees it through Pebble.
///
/// ```json
/// {
///   "can_connect": true,
///   "layers": {"oathkeeper": {"services": {"oathkeeper": {"override": "replace", "command": "oathkeeper serve"}}}},
///   "service_statuses": {"oathkeeper": "active"},
///   "files": {"/etc/config/oathkeeper/oathkeeper.yaml": "serve: {}\n",
///             "/bin/tool": {"base64": "AAE=", "permissions": "755"}},
///   "check_infos": [{"name": "alive", "status": "down", "failures": 3}],
///   "notices": [{"type": "custom", "key": "example.com/reload"}],
///   "execs": [{"command_prefix": ["oathkeeper", "rules", "list"], "stdout": "[]"}]
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerState {
    /// Whether Pebble answers. `false`: no socket at all, so connecting fails as it does
    /// before the container is up (the rest of the state is kept as is). Default `true`.
    pub can_connect: bool,
    /// The layers, by label, in the order they were added (JSON object order). Each is a
    /// Pebble layer in JSON form (`services`, `checks`, `log-targets`, with `override`).
    #[serde(with = "layers_as_map")]
    pub layers: Layers,
    /// Service name → `active`, `inactive`, `error` or `backoff`. A plan service not listed
    /// is `inactive`. On output: the status of every service of the plan.
    pub service_statuses: BTreeMap<String, ServiceStatus>,
    /// The container's filesystem as the charm sees it: absolute path → content. A string is
    /// UTF-8 content with permissions `644`; an object gives `content` or `base64`, and
    /// `permissions` (octal text). Directories are created as needed. On output: every
    /// regular file under the container root.
    pub files: BTreeMap<String, File>,
    /// Check states (Pebble's `GET /v1/checks` items). A check of the plan not listed here is
    /// `up`, as Scenario reports it; on output, every check of the plan plus the ones given.
    pub check_infos: Vec<CheckInfo>,
    /// Notices (`type` and `key` are enough; ids are assigned when empty).
    pub notices: Vec<Notice>,
    /// Canned `exec` results; a command runs the one with the longest matching prefix, and
    /// exits 127 when none matches (as Scenario does).
    pub execs: Vec<Exec>,
}

impl Default for ContainerState {
    fn default() -> ContainerState {
        ContainerState {
            can_connect: true,
            layers: Layers::default(),
            service_statuses: BTreeMap::new(),
            files: BTreeMap::new(),
            check_infos: Vec::new(),
            notices: Vec::new(),
            execs: Vec::new(),
        }
    }
}

impl ContainerState {
    /// Adds layer `label` (test fixture builder); merges into an existing label.
    pub fn with_layer(mut self, label: &str, layer: Layer) -> ContainerState {
        match self.layers.layers.iter_mut().find(|(l, _)| l == label) {
            Some((_, existing)) => existing.combine(&layer),
            None => self.layers.layers.push((label.to_owned(), layer)),
        }
        self
    }

    /// Adds a UTF-8 file (test fixture builder).
    pub fn with_file(mut self, path: &str, content: &str) -> ContainerState {
        self.files
            .insert(path.to_owned(), File::Text(content.to_owned()));
        self
    }

    /// Adds a canned exec result (test fixture builder).
    pub fn with_exec(mut self, exec: Exec) -> ContainerState {
        self.execs.push(exec);
        self
    }

    /// The combined plan of [`ContainerState::layers`].
    pub fn plan(&self) -> Layer {
        self.layers.plan()
    }
}

/// A service's `current` status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    /// Running.
    Active,
    /// Not running (never started, or stopped).
    #[default]
    Inactive,
    /// Exited and failed to restart, or could not start.
    Error,
    /// Exited; waits to be restarted.
    Backoff,
}

impl ServiceStatus {
    /// Pebble's text (`active`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Active => "active",
            ServiceStatus::Inactive => "inactive",
            ServiceStatus::Error => "error",
            ServiceStatus::Backoff => "backoff",
        }
    }
}

/// A file of [`ContainerState::files`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum File {
    /// UTF-8 content, permissions `644`.
    Text(String),
    /// Content and permissions spelled out.
    Detailed(FileSpec),
}

/// A file with explicit encoding and permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileSpec {
    /// UTF-8 content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Binary content, standard base64 (used instead of `content` when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// Octal permissions, e.g. `600` (default `644`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
}

/// A canned exec result (Scenario's `Exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Exec {
    /// The argv prefix this result answers, e.g. `["oathkeeper", "rules", "list"]`.
    pub command_prefix: Vec<String>,
    /// Exit code (default 0).
    pub return_code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Exec {
    /// A command that succeeds printing `stdout`, e.g. the workload binary's identity:
    /// `Exec::answering(&["oathkeeper", "version"], "Version:    v0.40.6\n...")`.
    pub fn answering(command_prefix: &[&str], stdout: &str) -> Exec {
        Exec {
            command_prefix: command_prefix.iter().map(|&arg| arg.to_owned()).collect(),
            stdout: stdout.to_owned(),
            ..Exec::default()
        }
    }
}

/// Serialises [`Layers`] as a JSON object label → layer, keeping the order of the labels.
mod layers_as_map {
    use std::fmt;

    use juju::pebble::layer::{Layer, Layers};
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(layers: &Layers, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(layers.layers.len()))?;
        for (label, layer) in &layers.layers {
            map.serialize_entry(label, layer)?;
        }
        map.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Layers, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Layers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of layers by label")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Layers, A::Error> {
                let mut layers = Layers::default();
                while let Some((label, layer)) = map.next_entry::<String, Layer>()? {
                    layers.layers.push((label, layer));
                }
                Ok(layers)
            }
        }
        d.deserialize_map(Ordered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_written_state_keeps_layer_order_and_reads_both_file_forms() {
        let state: ContainerState = serde_json::from_str(
            r#"{
              "layers": {"z": {"summary": "first"}, "a": {"summary": "second"}},
              "service_statuses": {"s": "backoff"},
              "files": {"/a": "text", "/b": {"base64": "AAE=", "permissions": "600"}},
              "check_infos": [{"name": "alive", "status": "down"}],
              "notices": [{"type": "custom", "key": "example.com/x"}],
              "execs": [{"command_prefix": ["ls"], "return_code": 2}]
            }"#,
        )
        .unwrap();
        assert!(state.can_connect);
        let labels: Vec<_> = state.layers.labels().collect();
        assert_eq!(labels, ["z", "a"]);
        assert_eq!(state.service_statuses["s"], ServiceStatus::Backoff);
        assert_eq!(state.files["/a"], File::Text("text".into()));
        assert!(
            matches!(&state.files["/b"], File::Detailed(spec) if spec.permissions.as_deref() == Some("600"))
        );
        assert_eq!(state.execs[0].return_code, 2);
        let round_trip: ContainerState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(round_trip, state);
    }

    #[test]
    fn an_empty_document_is_a_connectable_empty_container() {
        let state: ContainerState = serde_json::from_str("{}").unwrap();
        assert_eq!(state, ContainerState::default());
        assert!(state.can_connect);
    }
}
