//! `authenticators.oauth2_client_credentials.config`: HTTP Basic credentials checked by running
//! an OAuth 2.0 client-credentials grant with them at a token endpoint.
//!
//! Keys and defaults are upstream's (`AuthenticatorOAuth2Configuration` in
//! `authenticator_oauth2_client_credentials.go`): `token_url` required, `required_scope` (the
//! scopes asked for in the grant), `retry.max_delay` 1s and `retry.give_up_after` 2s (the code's
//! defaults; the schema says 100ms and 1s), `cache.enabled` false, `cache.ttl` unset and
//! `cache.max_tokens` 1000 (0 means the default, as upstream). Durations are Go duration text.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::Retry;
use super::{KeyError, positive_duration, present};

/// Default `retry.max_delay`: the connect timeout and the longest pause between attempts.
pub const DEFAULT_MAX_DELAY: &str = "1s";
/// Default `retry.give_up_after`: the whole budget of one grant, retries included.
pub const DEFAULT_GIVE_UP_AFTER: &str = "2s";
/// Default `cache.max_tokens`: the most cached grants.
pub const DEFAULT_CACHE_MAX_TOKENS: u64 = 1000;

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The token endpoint. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Scopes asked for in the grant (sent as `scope`, space-separated).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub required_scope: Option<Vec<String>>,
    /// Timeouts and retries (`max_delay`, `give_up_after`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry: Option<Retry>,
    /// The cache of successful grants (default off).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache: Option<Cache>,
}

/// `cache`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Off by default.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
    /// Longest life of an entry, a Go duration (default: until the token expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Most entries (default 1000; 0 means the default).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tokens: Option<u64>,
}

impl Config {
    /// A config granting at `token_url`, everything else unset.
    pub fn new(token_url: impl Into<String>) -> Config {
        Config {
            token_url: Some(token_url.into()),
            ..Config::default()
        }
    }

    /// `token_url`, set and not empty.
    pub fn token_url(&self) -> Result<&str, KeyError> {
        self.token_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or(KeyError::Missing { key: "token_url" })
    }

    /// The scopes asked for.
    pub fn required_scope(&self) -> &[String] {
        self.required_scope.as_deref().unwrap_or_default()
    }

    /// `retry.max_delay`, greater than zero.
    pub fn max_delay(&self) -> Result<Duration, KeyError> {
        Retry::max_delay(self.retry.as_ref(), "retry.max_delay", DEFAULT_MAX_DELAY)
    }

    /// `retry.give_up_after`, greater than zero.
    pub fn give_up_after(&self) -> Result<Duration, KeyError> {
        Retry::give_up_after(
            self.retry.as_ref(),
            "retry.give_up_after",
            DEFAULT_GIVE_UP_AFTER,
        )
    }

    /// Whether successful grants are cached.
    pub fn cache_enabled(&self) -> bool {
        self.cache.as_ref().and_then(|c| c.enabled).unwrap_or(false)
    }

    /// `cache.ttl`, when set (greater than zero).
    pub fn cache_ttl(&self) -> Result<Option<Duration>, KeyError> {
        self.cache
            .as_ref()
            .and_then(|c| c.ttl.as_deref())
            .map(|t| positive_duration("cache.ttl", t))
            .transpose()
    }

    /// `cache.max_tokens` (0 or unset: 1000).
    pub fn cache_max_tokens(&self) -> u64 {
        match self.cache.as_ref().and_then(|c| c.max_tokens) {
            None | Some(0) => DEFAULT_CACHE_MAX_TOKENS,
            Some(n) => n,
        }
    }

    /// Every key checked (what decoding runs); a missing required key is reported last.
    pub fn check(&self) -> Result<(), KeyError> {
        self.max_delay()?;
        self.give_up_after()?;
        self.cache_ttl()?;
        self.token_url().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::handler::{AuthenticatorConfig, ConfigError};

    fn decode(config: &serde_json::Value) -> Result<Config, ConfigError> {
        match AuthenticatorConfig::decode("oauth2_client_credentials", config)? {
            AuthenticatorConfig::OAuth2ClientCredentials(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_option_decodes() {
        let c = decode(&json!({
            "token_url": "https://hydra/oauth2/token",
            "required_scope": ["a", "b"],
            "retry": {"max_delay": "300ms", "give_up_after": "3s"},
            "cache": {"enabled": true, "ttl": "30s", "max_tokens": 5},
        }))
        .unwrap();
        assert_eq!(c.token_url().unwrap(), "https://hydra/oauth2/token");
        assert_eq!(c.required_scope(), ["a", "b"]);
        assert_eq!(c.max_delay().unwrap(), Duration::from_millis(300));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(3));
        assert!(c.cache_enabled());
        assert_eq!(c.cache_ttl().unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(c.cache_max_tokens(), 5);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(decode(&back).unwrap(), c);
    }

    #[test]
    fn defaults_are_upstreams() {
        let c = decode(&json!({"token_url": "http://hydra/token"})).unwrap();
        assert!(c.required_scope().is_empty());
        assert_eq!(c.max_delay().unwrap(), Duration::from_secs(1));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(2));
        assert!(!c.cache_enabled());
        assert_eq!(c.cache_ttl().unwrap(), None);
        assert_eq!(c.cache_max_tokens(), 1000);
        let zero = decode(&json!({"token_url": "http://h", "cache": {"max_tokens": 0}})).unwrap();
        assert_eq!(zero.cache_max_tokens(), 1000);
    }

    #[test]
    fn keys_come_from_the_environment_as_upstream_names_them() {
        use std::collections::BTreeMap;

        let env: BTreeMap<String, String> = [
            (
                "AUTHENTICATORS_OAUTH2_CLIENT_CREDENTIALS_CONFIG_TOKEN_URL",
                "https://hydra/oauth2/token",
            ),
            (
                "AUTHENTICATORS_OAUTH2_CLIENT_CREDENTIALS_CONFIG_REQUIRED_SCOPE",
                "a,b",
            ),
            (
                "AUTHENTICATORS_OAUTH2_CLIENT_CREDENTIALS_CONFIG_CACHE_ENABLED",
                "true",
            ),
            (
                "AUTHENTICATORS_OAUTH2_CLIENT_CREDENTIALS_CONFIG_RETRY_GIVE_UP_AFTER",
                "3s",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = crate::config::parse_config("{}", &env).unwrap();
        let block = config
            .authenticators
            .oauth2_client_credentials
            .config
            .unwrap();
        let c = decode(&block).unwrap();
        assert_eq!(c.token_url().unwrap(), "https://hydra/oauth2/token");
        assert_eq!(c.required_scope(), ["a", "b"]);
        assert!(c.cache_enabled());
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(3));
    }

    #[test]
    fn errors_name_the_key() {
        assert!(matches!(
            decode(&json!({})),
            Err(ConfigError::Key(KeyError::Missing { key: "token_url" }))
        ));
        for (key, config) in [
            ("retry.max_delay", json!({"retry": {"max_delay": "0s"}})),
            (
                "retry.give_up_after",
                json!({"retry": {"give_up_after": "x"}}),
            ),
            ("cache.ttl", json!({"cache": {"ttl": "-1s"}})),
        ] {
            let mut config = config;
            config["token_url"] = json!("http://h");
            match decode(&config) {
                Err(ConfigError::Key(KeyError::Invalid { key: k, .. })) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
        let e = decode(&json!({"token_url": "http://h", "cache": {"max_tokens": -1}})).unwrap_err();
        assert!(e.to_string().contains("max_tokens"), "{e}");
        let e = decode(&json!({"token_url": "http://h", "scopes": ["a"]})).unwrap_err();
        assert!(e.to_string().contains("scopes"), "{e}");
    }
}
