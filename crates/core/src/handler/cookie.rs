//! `mutators.cookie.config`: cookies set on the answer's `Cookie` header.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{KeyError, present};

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Cookie name → template. Required (a rule may supply it).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub cookies: Option<BTreeMap<String, String>>,
}

impl Config {
    /// The cookies, which must be set.
    pub fn cookies(&self) -> Result<&BTreeMap<String, String>, KeyError> {
        self.cookies
            .as_ref()
            .ok_or(KeyError::Missing { key: "cookies" })
    }
}
