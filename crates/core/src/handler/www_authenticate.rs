//! `errors.handlers.www_authenticate.config`: a 401 Basic challenge.

use serde::{Deserialize, Serialize};

use super::present;
use super::when::Clause;

/// The realm when none is configured.
pub const DEFAULT_REALM: &str = "Please authenticate.";

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The realm (default `Please authenticate.`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub realm: Option<String>,
    /// When responsible (default: always).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub when: Option<Vec<Clause>>,
}

impl Config {
    /// The realm.
    pub fn realm(&self) -> &str {
        self.realm.as_deref().unwrap_or(DEFAULT_REALM)
    }

    /// The `when` clauses.
    pub fn when(&self) -> &[Clause] {
        self.when.as_deref().unwrap_or_default()
    }
}
