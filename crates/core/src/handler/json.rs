//! `errors.handlers.json.config`: the herodot JSON error body.

use serde::{Deserialize, Serialize};

use super::present;
use super::when::Clause;

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Add the denial's reason to the body (default false).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub verbose: Option<bool>,
    /// When responsible (default: always).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub when: Option<Vec<Clause>>,
}

impl Config {
    /// Whether the reason is shown.
    pub fn verbose(&self) -> bool {
        self.verbose.unwrap_or(false)
    }

    /// The `when` clauses.
    pub fn when(&self) -> &[Clause] {
        self.when.as_deref().unwrap_or_default()
    }
}
