//! `mutators.id_token.config`: a JSON Web Token signed per request for the upstream app.
//!
//! Keys and defaults are upstream's (`CredentialsIDTokenConfig`): `issuer_url` and `jwks_url`
//! are required, `ttl` defaults to 15m (upstream's code; its docs say 1m), `claims` is a
//! template that must render a JSON object. `jwks_url` takes `http(s)://`, `file://` (or an
//! absolute path) and `base64://`, as the `jwt` authenticator's `jwks_urls` do; cloud buckets
//! are refused.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::jwt::{JwksLocation, jwks_location};
use super::{KeyError, present};

/// `ttl` when unset.
pub const DEFAULT_TTL: &str = "15m";

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The `iss` claim. Required.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub issuer_url: Option<String>,
    /// The key set holding the private signing key. Required.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub jwks_url: Option<String>,
    /// How long a token is valid, a Go duration (default 15m).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<String>,
    /// A template rendering a JSON object of extra claims.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub claims: Option<String>,
}

impl Config {
    /// A config signing with the keys at `jwks_url` for `issuer_url`, everything else unset.
    pub fn new(issuer_url: impl Into<String>, jwks_url: impl Into<String>) -> Config {
        Config {
            issuer_url: Some(issuer_url.into()),
            jwks_url: Some(jwks_url.into()),
            ..Config::default()
        }
    }

    /// `issuer_url`, which must be set and not empty.
    pub fn issuer_url(&self) -> Result<&str, KeyError> {
        self.issuer_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or(KeyError::Missing { key: "issuer_url" })
    }

    /// `jwks_url`, which must be set, of a supported scheme.
    pub fn jwks_url(&self) -> Result<JwksLocation<'_>, KeyError> {
        let url = self
            .jwks_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or(KeyError::Missing { key: "jwks_url" })?;
        jwks_location(url).map_err(|e| match e {
            KeyError::Invalid { value, reason, .. } => KeyError::Invalid {
                key: "jwks_url".to_owned(),
                value,
                reason,
            },
            other => other,
        })
    }

    /// `ttl`, greater than zero.
    pub fn ttl(&self) -> Result<Duration, KeyError> {
        let text = self.ttl.as_deref().unwrap_or(DEFAULT_TTL);
        let d = envconf::parse_duration(text)
            .map_err(|e| KeyError::invalid("ttl", text, e.to_string()))?;
        if d.is_zero() {
            return Err(KeyError::invalid("ttl", text, "must be greater than zero"));
        }
        Ok(d)
    }

    /// The claims template, when set and not empty.
    pub fn claims(&self) -> Option<&str> {
        self.claims.as_deref().filter(|c| !c.trim().is_empty())
    }

    /// Every key checked at once (what decoding runs): the set keys first, then the required
    /// ones.
    pub fn check(&self) -> Result<(), KeyError> {
        self.ttl()?;
        if self.jwks_url.as_deref().is_some_and(|u| !u.is_empty()) {
            self.jwks_url()?;
        }
        self.issuer_url()?;
        self.jwks_url().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::handler::{ConfigError, MutatorConfig};

    fn decode(config: &serde_json::Value) -> Result<Config, ConfigError> {
        match MutatorConfig::decode("id_token", config)? {
            MutatorConfig::IdToken(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upstream_keys_decode_with_their_defaults() {
        let c = decode(&json!({
            "issuer_url": "https://gw.example",
            "jwks_url": "file:///etc/keys.json",
        }))
        .unwrap();
        assert_eq!(c.issuer_url().unwrap(), "https://gw.example");
        assert_eq!(c.jwks_url().unwrap(), JwksLocation::File("/etc/keys.json"));
        assert_eq!(c.ttl().unwrap(), Duration::from_secs(15 * 60));
        assert_eq!(c.claims(), None);

        let c = decode(&json!({
            "issuer_url": "https://gw.example",
            "jwks_url": "https://keys.example/jwks.json",
            "ttl": "90s",
            "claims": "{\"aud\": [\"app\"]}",
        }))
        .unwrap();
        assert_eq!(
            c.jwks_url().unwrap(),
            JwksLocation::Http("https://keys.example/jwks.json")
        );
        assert_eq!(c.ttl().unwrap(), Duration::from_secs(90));
        assert_eq!(c.claims(), Some("{\"aud\": [\"app\"]}"));
    }

    #[test]
    fn errors_name_the_key() {
        let err = |config: serde_json::Value| decode(&config).unwrap_err().to_string();
        assert_eq!(
            err(json!({"jwks_url": "file:///k.json"})),
            "issuer_url is required"
        );
        assert_eq!(
            err(json!({"issuer_url": "https://gw"})),
            "jwks_url is required"
        );
        assert!(
            err(json!({"issuer_url": "https://gw", "jwks_url": "s3://bucket/k"}))
                .starts_with("invalid jwks_url \"s3://bucket/k\""),
        );
        assert!(
            err(json!({"issuer_url": "i", "jwks_url": "/k", "ttl": "soon"}))
                .starts_with("invalid ttl \"soon\""),
        );
        assert!(
            err(json!({"issuer_url": "i", "jwks_url": "/k", "ttl": "0s"}))
                .contains("greater than zero"),
        );
        assert!(err(json!({"issuer_url": "i", "jwks_url": "/k", "cache": {}})).contains("cache"));
        assert!(err(json!({"issuer_url": null, "jwks_url": "/k"})).contains("issuer_url"));
    }
}
