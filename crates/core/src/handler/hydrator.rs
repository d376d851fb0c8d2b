//! `mutators.hydrator.config`: an API that receives the authentication session and answers
//! it back, enriched.
//!
//! Keys and defaults are upstream's (`MutatorHydratorConfig`): `api.url` is required,
//! `api.auth.basic.{username,password}` optional, `api.retry.max_delay` 100ms and
//! `api.retry.give_up_after` 1s, `cache.enabled` false and `cache.ttl` 1m.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::Retry;
use super::{KeyError, positive_duration, present};

/// Default `api.retry.max_delay`: the connect timeout and the longest pause between attempts.
pub const DEFAULT_MAX_DELAY: &str = "100ms";
/// Default `api.retry.give_up_after`: the whole budget of one call, retries included.
pub const DEFAULT_GIVE_UP_AFTER: &str = "1s";
/// Default `cache.ttl`.
pub const DEFAULT_CACHE_TTL: &str = "1m";

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The API. Required (`api.url`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub api: Option<Api>,
    /// Answers kept per session.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache: Option<Cache>,
}

/// `api`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Where the session is posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Credentials for the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Timeouts and retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}

/// `api.auth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// HTTP Basic credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<Basic>,
}

/// `api.auth.basic`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basic {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The password.
    #[serde(default)]
    pub password: String,
}

/// `cache`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Whether answers are kept (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How long (default 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

impl Config {
    /// A config posting to `url`, everything else unset.
    pub fn new(url: impl Into<String>) -> Config {
        Config {
            api: Some(Api {
                url: Some(url.into()),
                ..Api::default()
            }),
            cache: None,
        }
    }

    /// `api.url`, set and not empty.
    pub fn url(&self) -> Result<&str, KeyError> {
        self.api
            .as_ref()
            .and_then(|a| a.url.as_deref())
            .filter(|u| !u.is_empty())
            .ok_or(KeyError::Missing { key: "api.url" })
    }

    /// `api.auth.basic`, when set.
    pub fn basic(&self) -> Option<&Basic> {
        self.api.as_ref()?.auth.as_ref()?.basic.as_ref()
    }

    fn retry(&self) -> Option<&Retry> {
        self.api.as_ref()?.retry.as_ref()
    }

    /// `api.retry.max_delay`, greater than zero.
    pub fn max_delay(&self) -> Result<Duration, KeyError> {
        Retry::max_delay(self.retry(), "api.retry.max_delay", DEFAULT_MAX_DELAY)
    }

    /// `api.retry.give_up_after`, greater than zero.
    pub fn give_up_after(&self) -> Result<Duration, KeyError> {
        Retry::give_up_after(
            self.retry(),
            "api.retry.give_up_after",
            DEFAULT_GIVE_UP_AFTER,
        )
    }

    /// How long answers are kept: `None` when the cache is off.
    pub fn cache_ttl(&self) -> Result<Option<Duration>, KeyError> {
        let Some(cache) = self.cache.as_ref().filter(|c| c.enabled == Some(true)) else {
            return Ok(None);
        };
        positive_duration(
            "cache.ttl",
            cache.ttl.as_deref().unwrap_or(DEFAULT_CACHE_TTL),
        )
        .map(Some)
    }

    /// Every key checked at once (what decoding runs).
    pub fn check(&self) -> Result<(), KeyError> {
        self.max_delay()?;
        self.give_up_after()?;
        self.cache_ttl()?;
        self.url().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::handler::{ConfigError, MutatorConfig};

    fn decode(config: &serde_json::Value) -> Result<Config, ConfigError> {
        match MutatorConfig::decode("hydrator", config)? {
            MutatorConfig::Hydrator(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upstream_keys_decode_with_their_defaults() {
        let c = decode(&json!({"api": {"url": "http://hydra:4000/hydrate"}})).unwrap();
        assert_eq!(c.url().unwrap(), "http://hydra:4000/hydrate");
        assert_eq!(c.max_delay().unwrap(), Duration::from_millis(100));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(1));
        assert_eq!(c.cache_ttl().unwrap(), None);
        assert!(c.basic().is_none());

        let c = decode(&json!({
            "api": {
                "url": "https://h/x",
                "auth": {"basic": {"username": "u", "password": "p"}},
                "retry": {"max_delay": "50ms", "give_up_after": "3s"},
            },
            "cache": {"enabled": true},
        }))
        .unwrap();
        assert_eq!(c.basic().unwrap().username, "u");
        assert_eq!(c.max_delay().unwrap(), Duration::from_millis(50));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(3));
        assert_eq!(c.cache_ttl().unwrap(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn errors_name_the_key() {
        let err = |c: serde_json::Value| decode(&c).unwrap_err().to_string();
        assert_eq!(err(json!({})), "api.url is required");
        assert!(
            err(json!({"api": {"url": "http://h", "retry": {"max_delay": "x"}}}))
                .starts_with("invalid api.retry.max_delay \"x\"")
        );
        assert!(
            err(json!({"api": {"url": "http://h"}, "cache": {"enabled": true, "ttl": "0s"}}))
                .starts_with("invalid cache.ttl")
        );
        assert!(err(json!({"api": {"url": "http://h", "other": 1}})).contains("other"));
    }
}
