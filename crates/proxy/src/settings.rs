//! Where the config and rules come from: a config file (`-c`) or the embedded example, plus
//! the process environment for overrides.

use std::path::PathBuf;

/// The example config served when `oathkeeper serve` runs without `-c`.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../examples/oathkeeper.yaml");
/// The example rules served with [`EXAMPLE_CONFIG`].
pub const EXAMPLE_RULES: &str = include_str!("../../../examples/rules.json");
/// The repository name the example rules are listed under.
pub const EXAMPLE_RULES_SOURCE: &str = "embedded://examples/rules.json";

/// The config source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file, watched for changes.
    File(PathBuf),
    /// Key [`CONFIG_KEY`] of a ConfigMap (`k8s://<namespace>/<configmap>`), watched through
    /// the Kubernetes API.
    Kubernetes(String, crate::k8s::Target),
    /// The embedded example config and rules.
    Example,
}

/// The ConfigMap key holding the config, for a `k8s://` config source.
pub const CONFIG_KEY: &str = "oathkeeper.yaml";

impl ConfigSource {
    /// The source `-c <value>` names: a `k8s://` URL or a file path.
    pub fn parse(value: &std::path::Path) -> Result<ConfigSource, String> {
        let text = value.to_string_lossy();
        match crate::k8s::Target::parse(&text) {
            Some(target) => Ok(ConfigSource::Kubernetes(text.into_owned(), target?)),
            None => Ok(ConfigSource::File(value.to_owned())),
        }
    }
}
