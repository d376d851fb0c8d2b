//! `errors.handlers.redirect.config`: a redirect to a login page.

use serde::{Deserialize, Serialize};

use super::when::Clause;
use super::{KeyError, present};

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to. Required (a rule may supply it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// 301 or 302 (default; any other code is 302, as upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The query parameter that carries the original URL (default: none is added).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_to_query_param: Option<String>,
    /// When responsible (default: always).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub when: Option<Vec<Clause>>,
}

impl Config {
    /// A redirect to `to`, everything else unset.
    pub fn new(to: impl Into<String>) -> Config {
        Config {
            to: Some(to.into()),
            ..Config::default()
        }
    }

    /// `to`, which must be set and not empty.
    pub fn to(&self) -> Result<&str, KeyError> {
        self.to
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or(KeyError::Missing { key: "to" })
    }

    /// Whether the redirect is permanent (`code: 301`).
    pub fn permanent(&self) -> bool {
        self.code == Some(301)
    }

    /// The return-to parameter name (empty: none), which must be made of URL-safe characters.
    pub fn return_to_query_param(&self) -> Result<&str, KeyError> {
        let name = self.return_to_query_param.as_deref().unwrap_or_default();
        if name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b",._~-".contains(&b))
        {
            Ok(name)
        } else {
            Err(KeyError::invalid(
                "return_to_query_param",
                name,
                "only letters, digits and , . _ ~ - are allowed",
            ))
        }
    }

    /// The `when` clauses.
    pub fn when(&self) -> &[Clause] {
        self.when.as_deref().unwrap_or_default()
    }
}
