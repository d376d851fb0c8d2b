//! `authenticators.oauth2_introspection.config`: an opaque token checked at an RFC 7662
//! introspection endpoint.
//!
//! Keys and defaults are upstream's (`AuthenticatorOAuth2IntrospectionConfiguration`):
//! `scope_strategy` `none`, `prefix` empty, `preserve_host` false, `retry.max_delay` 500ms and
//! `retry.give_up_after` 1s (the code's defaults; the schema says 100ms), `cache.enabled` false
//! and `cache.max_cost` 100000000 (one per entry). Durations are Go duration text.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::Retry;
use super::scope::ScopeStrategy;
use super::session_store::{TokenFrom, TokenSource, token_source};
use super::{KeyError, positive_duration, present};

/// Default `retry.max_delay`: the connect timeout and the longest pause between attempts.
pub const DEFAULT_MAX_DELAY: &str = "500ms";
/// Default `retry.give_up_after`: the whole budget of one introspection, retries included.
pub const DEFAULT_GIVE_UP_AFTER: &str = "1s";
/// Default `cache.max_cost`: the most cached results (each costs one).
pub const DEFAULT_CACHE_MAX_COST: u64 = 100_000_000;

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The RFC 7662 endpoint. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_url: Option<String>,
    /// How `required_scope` is matched (default `none`: the endpoint is sent the scopes).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub scope_strategy: Option<ScopeStrategy>,
    /// Scopes the token must grant.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub required_scope: Option<Vec<String>>,
    /// Audiences that must all be in the result's `aud`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_audience: Option<Vec<String>>,
    /// When set, the result's `iss` must be one of them.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub trusted_issuers: Option<Vec<String>>,
    /// The token must start with this to be this authenticator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Send `X-Forwarded-Host: <original host>` (default false).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub preserve_host: Option<bool>,
    /// Headers set on the introspection request.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub introspection_request_headers: Option<BTreeMap<String, String>>,
    /// Where the token is (default `Authorization: Bearer`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_from: Option<TokenFrom>,
    /// A client-credentials grant whose token authorizes the introspection request.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_authorization: Option<PreAuthorization>,
    /// Timeouts and retries.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry: Option<Retry>,
    /// The result cache (default off).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache: Option<Cache>,
}

/// `pre_authorization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreAuthorization {
    /// Whether the grant is used (default false).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
    /// The client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Sent as the `audience` parameter when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Scopes asked for.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub scope: Option<Vec<String>>,
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
    /// Longest life of an entry, a Go duration (default: until the token's `exp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Most entries (default 100000000).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_cost: Option<u64>,
}

/// The client-credentials grant, when enabled, with its required keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The client secret.
    pub client_secret: &'a str,
    /// The token endpoint.
    pub token_url: &'a str,
    /// The `audience` parameter, when set.
    pub audience: Option<&'a str>,
    /// The scopes asked for.
    pub scope: &'a [String],
}

impl Config {
    /// A config calling `url`, everything else unset.
    pub fn new(url: impl Into<String>) -> Config {
        Config {
            introspection_url: Some(url.into()),
            ..Config::default()
        }
    }

    /// `introspection_url`, set and not empty.
    pub fn introspection_url(&self) -> Result<&str, KeyError> {
        self.introspection_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or(KeyError::Missing {
                key: "introspection_url",
            })
    }

    /// The scope strategy.
    pub fn scope_strategy(&self) -> ScopeStrategy {
        self.scope_strategy.unwrap_or_default()
    }

    /// The required scopes.
    pub fn required_scope(&self) -> &[String] {
        self.required_scope.as_deref().unwrap_or_default()
    }

    /// The audiences that must all be in `aud`.
    pub fn target_audience(&self) -> &[String] {
        self.target_audience.as_deref().unwrap_or_default()
    }

    /// The trusted issuers (any when empty).
    pub fn trusted_issuers(&self) -> &[String] {
        self.trusted_issuers.as_deref().unwrap_or_default()
    }

    /// The prefix a token must have.
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or_default()
    }

    /// Whether `X-Forwarded-Host` is sent.
    pub fn preserve_host(&self) -> bool {
        self.preserve_host.unwrap_or(false)
    }

    /// The headers set on the introspection request.
    pub fn introspection_request_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.introspection_request_headers
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Where the token is.
    pub fn token_source(&self) -> Result<TokenSource<'_>, KeyError> {
        token_source(self.token_from.as_ref())
    }

    /// The grant, when `pre_authorization.enabled`; its `client_id`, `client_secret` and
    /// `token_url` are then required.
    pub fn grant(&self) -> Result<Option<Grant<'_>>, KeyError> {
        let Some(p) = self
            .pre_authorization
            .as_ref()
            .filter(|p| p.enabled == Some(true))
        else {
            return Ok(None);
        };
        Ok(Some(Grant {
            client_id: required(&p.client_id, "pre_authorization.client_id")?,
            client_secret: required(&p.client_secret, "pre_authorization.client_secret")?,
            token_url: required(&p.token_url, "pre_authorization.token_url")?,
            audience: p.audience.as_deref().filter(|a| !a.is_empty()),
            scope: p.scope.as_deref().unwrap_or_default(),
        }))
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

    /// Whether results are cached.
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

    /// `cache.max_cost`, greater than zero.
    pub fn cache_max_cost(&self) -> Result<u64, KeyError> {
        match self
            .cache
            .as_ref()
            .and_then(|c| c.max_cost)
            .unwrap_or(DEFAULT_CACHE_MAX_COST)
        {
            0 => Err(KeyError::invalid(
                "cache.max_cost",
                0,
                "must be greater than zero",
            )),
            n => Ok(n),
        }
    }

    /// Every key checked (what decoding runs); a missing required key is reported last.
    pub fn check(&self) -> Result<(), KeyError> {
        self.token_source()?;
        self.max_delay()?;
        self.give_up_after()?;
        self.cache_ttl()?;
        self.cache_max_cost()?;
        self.grant()?;
        self.introspection_url().map(drop)
    }
}

/// `value`, set and not empty, else [`KeyError::Missing`] for `key`.
fn required<'a>(value: &'a Option<String>, key: &'static str) -> Result<&'a str, KeyError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or(KeyError::Missing { key })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::handler::{AuthenticatorConfig, ConfigError};

    fn decode(config: &serde_json::Value) -> Result<Config, ConfigError> {
        match AuthenticatorConfig::decode("oauth2_introspection", config)? {
            AuthenticatorConfig::OAuth2Introspection(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_option_decodes() {
        let c = decode(&json!({
            "introspection_url": "https://hydra/oauth2/introspect",
            "scope_strategy": "hierarchic",
            "required_scope": ["photos.read"],
            "target_audience": ["api"],
            "trusted_issuers": ["https://hydra/"],
            "prefix": "ory_at_",
            "preserve_host": true,
            "introspection_request_headers": {"x-api-key": "k"},
            "token_from": {"cookie": "token"},
            "pre_authorization": {"enabled": true, "client_id": "c", "client_secret": "s",
                                  "token_url": "https://hydra/oauth2/token", "audience": "a",
                                  "scope": ["introspect"]},
            "retry": {"max_delay": "200ms", "give_up_after": "3s"},
            "cache": {"enabled": true, "ttl": "30s", "max_cost": 500},
        }))
        .unwrap();
        assert_eq!(
            c.introspection_url().unwrap(),
            "https://hydra/oauth2/introspect"
        );
        assert_eq!(c.scope_strategy(), ScopeStrategy::Hierarchic);
        assert_eq!(c.required_scope(), ["photos.read"]);
        assert_eq!(c.target_audience(), ["api"]);
        assert_eq!(c.trusted_issuers(), ["https://hydra/"]);
        assert_eq!(c.prefix(), "ory_at_");
        assert!(c.preserve_host());
        assert_eq!(
            c.introspection_request_headers().collect::<Vec<_>>(),
            [("x-api-key", "k")]
        );
        assert_eq!(c.token_source().unwrap(), TokenSource::Cookie("token"));
        let grant = c.grant().unwrap().unwrap();
        assert_eq!(
            (grant.client_id, grant.client_secret, grant.audience),
            ("c", "s", Some("a"))
        );
        assert_eq!(grant.scope, ["introspect"]);
        assert_eq!(c.max_delay().unwrap(), Duration::from_millis(200));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(3));
        assert!(c.cache_enabled());
        assert_eq!(c.cache_ttl().unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(c.cache_max_cost().unwrap(), 500);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(decode(&back).unwrap(), c);
    }

    #[test]
    fn defaults_are_upstreams() {
        let c = decode(&json!({"introspection_url": "http://hydra/introspect"})).unwrap();
        assert_eq!(c.scope_strategy(), ScopeStrategy::None);
        assert_eq!(c.prefix(), "");
        assert!(!c.preserve_host());
        assert_eq!(c.token_source().unwrap(), TokenSource::Bearer);
        assert_eq!(c.grant().unwrap(), None);
        assert_eq!(c.max_delay().unwrap(), Duration::from_millis(500));
        assert_eq!(c.give_up_after().unwrap(), Duration::from_secs(1));
        assert!(!c.cache_enabled());
        assert_eq!(c.cache_ttl().unwrap(), None);
        assert_eq!(c.cache_max_cost().unwrap(), 100_000_000);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(matches!(
            decode(&json!({})),
            Err(ConfigError::Key(KeyError::Missing {
                key: "introspection_url"
            }))
        ));
        assert!(matches!(
            decode(
                &json!({"introspection_url": "http://h", "pre_authorization": {"enabled": true, "client_id": "c"}})
            ),
            Err(ConfigError::Key(KeyError::Missing {
                key: "pre_authorization.client_secret"
            }))
        ));
        for (key, config) in [
            ("retry.max_delay", json!({"retry": {"max_delay": "0s"}})),
            (
                "retry.give_up_after",
                json!({"retry": {"give_up_after": "x"}}),
            ),
            ("cache.ttl", json!({"cache": {"ttl": "-1s"}})),
            ("cache.max_cost", json!({"cache": {"max_cost": 0}})),
            ("token_from", json!({"token_from": {}})),
        ] {
            let mut config = config;
            config["introspection_url"] = json!("http://h");
            match decode(&config) {
                Err(ConfigError::Key(KeyError::Invalid { key: k, .. })) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
        let e = decode(&json!({"introspection_url": "http://h", "scope_strategy": "regexp"}))
            .unwrap_err();
        assert!(e.to_string().contains("scope_strategy"), "{e}");
    }
}
