//! `authenticators.anonymous.config`.

use serde::{Deserialize, Serialize};

use super::present;

/// The subject given when none is configured.
pub const DEFAULT_SUBJECT: &str = "anonymous";

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The subject given to anonymous requests (default `anonymous`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject: Option<String>,
}

impl Config {
    /// The subject.
    pub fn subject(&self) -> &str {
        self.subject.as_deref().unwrap_or(DEFAULT_SUBJECT)
    }
}
