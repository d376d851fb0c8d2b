//! What the harness reads of a charm directory: `metadata.yaml`, `config.yaml`, `actions.yaml`
//! (or the same sections of `charmcraft.yaml`), and the `dispatch` entry point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// `metadata.yaml`.
pub const METADATA_YAML: &str = "metadata.yaml";
/// `config.yaml`.
pub const CONFIG_YAML: &str = "config.yaml";
/// `actions.yaml`.
pub const ACTIONS_YAML: &str = "actions.yaml";
/// `charmcraft.yaml`, read when `metadata.yaml` is absent.
pub const CHARMCRAFT_YAML: &str = "charmcraft.yaml";
/// The entry point Juju runs for every hook and action.
pub const DISPATCH: &str = "dispatch";

/// Why a charm directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CharmError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not the YAML Juju expects.
    #[error("invalid {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_norway::Error,
    },
    /// Neither `metadata.yaml` nor `charmcraft.yaml` has a `name`.
    #[error("no charm metadata in {0}: expected metadata.yaml or charmcraft.yaml with a name")]
    NoMetadata(PathBuf),
}

/// How an endpoint is declared.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Endpoint {
    /// The interface name.
    pub interface: String,
    /// The maximum number of relations, if limited.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Whether the relation is optional.
    #[serde(default)]
    pub optional: bool,
}

/// Which side of a relation an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `provides`.
    Provides,
    /// `requires`.
    Requires,
    /// `peers`.
    Peers,
}

/// One config option of `config.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConfigOption {
    /// `string`, `int`, `float`, `boolean` or `secret`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The default, absent when unset.
    #[serde(default)]
    pub default: Option<Value>,
    /// The description.
    #[serde(default)]
    pub description: String,
}

/// One action of `actions.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Action {
    /// The description.
    #[serde(default)]
    pub description: String,
    /// Parameters as JSON-schema properties.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Required parameter names.
    #[serde(default)]
    pub required: Vec<String>,
    /// Whether parameters not in `params` are accepted (Juju's default: true).
    #[serde(default = "yes", rename = "additionalProperties")]
    pub additional_properties: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
struct MetadataFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    provides: BTreeMap<String, Endpoint>,
    #[serde(default)]
    requires: BTreeMap<String, Endpoint>,
    #[serde(default)]
    peers: BTreeMap<String, Endpoint>,
    #[serde(default)]
    containers: BTreeMap<String, Value>,
    #[serde(default, rename = "extra-bindings")]
    extra_bindings: BTreeMap<String, Value>,
    // charmcraft.yaml carries these two inline.
    #[serde(default)]
    config: Option<ConfigFile>,
    #[serde(default)]
    actions: Option<BTreeMap<String, Action>>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    options: BTreeMap<String, ConfigOption>,
}

/// A charm as the harness sees it.
#[derive(Debug, Clone)]
pub struct Charm {
    /// The charm directory.
    pub dir: PathBuf,
    /// The app name (`name` in the metadata).
    pub name: String,
    /// Endpoints by name, with their role.
    pub endpoints: BTreeMap<String, (Role, Endpoint)>,
    /// Workload container names.
    pub containers: Vec<String>,
    /// Extra bindings (valid `network-get` bindings besides endpoints and `juju-info`).
    pub extra_bindings: Vec<String>,
    /// Config options.
    pub config: BTreeMap<String, ConfigOption>,
    /// Actions.
    pub actions: BTreeMap<String, Action>,
}

impl Charm {
    /// Reads the charm in `dir`. A relative `dir` is made absolute first: Juju runs
    /// `dispatch` from inside the charm directory with `JUJU_CHARM_DIR` absolute.
    pub fn load(dir: &Path) -> Result<Charm, CharmError> {
        let dir = &std::path::absolute(dir).map_err(|source| CharmError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let metadata_path = dir.join(METADATA_YAML);
        let (metadata, inline) = if metadata_path.exists() {
            (read_yaml::<MetadataFile>(&metadata_path)?, false)
        } else {
            let path = dir.join(CHARMCRAFT_YAML);
            if !path.exists() {
                return Err(CharmError::NoMetadata(dir.to_owned()));
            }
            (read_yaml::<MetadataFile>(&path)?, true)
        };
        let name = metadata
            .name
            .clone()
            .ok_or_else(|| CharmError::NoMetadata(dir.to_owned()))?;
        let config = match (inline, metadata.config) {
            (true, Some(config)) => config.options,
            _ => {
                optional_yaml::<ConfigFile>(&dir.join(CONFIG_YAML))?
                    .unwrap_or_default()
                    .options
            }
        };
        let actions = match (inline, metadata.actions) {
            (true, Some(actions)) => actions,
            _ => optional_yaml(&dir.join(ACTIONS_YAML))?.unwrap_or_default(),
        };
        let mut endpoints = BTreeMap::new();
        for (role, map) in [
            (Role::Provides, metadata.provides),
            (Role::Requires, metadata.requires),
            (Role::Peers, metadata.peers),
        ] {
            for (name, endpoint) in map {
                endpoints.insert(name, (role, endpoint));
            }
        }
        Ok(Charm {
            dir: dir.to_owned(),
            name,
            endpoints,
            containers: metadata.containers.into_keys().collect(),
            extra_bindings: metadata.extra_bindings.into_keys().collect(),
            config,
            actions,
        })
    }

    /// The `dispatch` file.
    pub fn dispatch(&self) -> PathBuf {
        self.dir.join(DISPATCH)
    }

    /// Whether `endpoint` is a peer endpoint.
    pub fn is_peer(&self, endpoint: &str) -> bool {
        matches!(self.endpoints.get(endpoint), Some((Role::Peers, _)))
    }

    /// The config as `config-get` shows it: set values over defaults (unset options without a
    /// default are absent).
    pub fn effective_config(&self, set: &Map<String, Value>) -> Map<String, Value> {
        let mut config: Map<String, Value> = self
            .config
            .iter()
            .filter_map(|(key, option)| Some((key.clone(), option.default.clone()?)))
            .filter(|(_, value)| !value.is_null())
            .collect();
        for (key, value) in set {
            config.insert(key.clone(), value.clone());
        }
        config
    }

    /// An action's parameters as `action-get` shows them: given values over the schema's
    /// defaults.
    pub fn action_params(&self, action: &str, given: &Map<String, Value>) -> Map<String, Value> {
        let mut params = Map::new();
        if let Some(action) = self.actions.get(action) {
            for (key, schema) in &action.params {
                if let Some(default) = schema.get("default") {
                    params.insert(key.clone(), default.clone());
                }
            }
        }
        for (key, value) in given {
            params.insert(key.clone(), value.clone());
        }
        params
    }
}

fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CharmError> {
    let text = std::fs::read_to_string(path).map_err(|source| CharmError::Read {
        path: path.to_owned(),
        source,
    })?;
    if text.trim().is_empty() {
        return serde_norway::from_str("{}").map_err(|source| CharmError::Parse {
            path: path.to_owned(),
            source,
        });
    }
    serde_norway::from_str(&text).map_err(|source| CharmError::Parse {
        path: path.to_owned(),
        source,
    })
}

fn optional_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, CharmError> {
    if path.exists() {
        read_yaml(path).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_config_and_actions_are_read_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(METADATA_YAML),
            "name: demo\ncontainers: {web: {resource: img}}\nprovides: {api: {interface: http}}\n\
             requires: {db: {interface: pg, limit: 1}}\npeers: {replicas: {interface: demo_peers}}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(CONFIG_YAML),
            "options:\n  dev: {type: boolean, default: false}\n  name: {type: string}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(ACTIONS_YAML),
            "list: {params: {limit: {type: integer, default: 10}}}\n",
        )
        .unwrap();
        let charm = Charm::load(dir.path()).unwrap();
        assert_eq!(charm.name, "demo");
        assert_eq!(charm.containers, ["web"]);
        assert!(charm.is_peer("replicas"));
        assert!(!charm.is_peer("db"));
        assert_eq!(
            Value::Object(charm.effective_config(&Map::new())),
            serde_json::json!({"dev": false})
        );
        assert_eq!(
            Value::Object(charm.action_params("list", &Map::new())),
            serde_json::json!({"limit": 10})
        );
    }

    #[test]
    fn a_relative_directory_is_made_absolute() {
        let charm = Charm::load(Path::new("tests/fixtures/ops-charm")).unwrap();
        assert!(charm.dir.is_absolute(), "{}", charm.dir.display());
        assert!(charm.dispatch().is_absolute());
        assert_eq!(charm.name, "probe");
    }

    #[test]
    fn a_directory_without_metadata_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = Charm::load(dir.path()).unwrap_err();
        assert!(error.to_string().contains("no charm metadata"), "{error}");
    }
}
