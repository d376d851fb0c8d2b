//! `mutators.header.config`: one answer header per template.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{KeyError, present};

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Header name → template, e.g. `X-User: "{{ print .Subject }}"`. Required (a rule may
    /// supply it).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub headers: Option<BTreeMap<String, String>>,
}

impl Config {
    /// A config setting `headers`.
    pub fn new<K: Into<String>, V: Into<String>>(
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Config {
        Config {
            headers: Some(
                headers
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The headers, which must be set.
    pub fn headers(&self) -> Result<&BTreeMap<String, String>, KeyError> {
        self.headers
            .as_ref()
            .ok_or(KeyError::Missing { key: "headers" })
    }
}
