//! Where the config and rules come from: a config file (`-c`) or the embedded example, plus
//! the process environment for overrides.

use std::path::PathBuf;

use oathkeeper_core::config::Source;

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
    /// The embedded example config and rules.
    Example,
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}
