//! `authenticators.jwt.config`: a JSON Web Token verified with keys from JSON Web Key Sets.
//!
//! Keys and defaults are upstream's (`AuthenticatorOAuth2JWTConfiguration` and the
//! `jwks_max_wait` / `jwks_ttl` fetcher settings): `allowed_algorithms` defaults to `RS256`,
//! `scope_strategy` to `none`, `jwks_max_wait` to 1s and `jwks_ttl` to 30s. Upstream reads the
//! two fetcher durations from the global config only; here a rule may set them too, and the
//! server keeps one key source per distinct URL and durations.
//!
//! `jwks_urls` take `http://`, `https://`, `file://` (or an absolute path) and `base64://`
//! (the JSON of the set, base64-encoded). Upstream's cloud buckets (`s3://`, `gs://`,
//! `azblob://`) are refused as not supported by this server.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::scope::ScopeStrategy;
use super::session_store::{TokenFrom, TokenSource, token_source};
use super::{KeyError, positive_duration, present};

/// Default `allowed_algorithms`.
pub const DEFAULT_ALGORITHM: &str = "RS256";
/// Default `jwks_max_wait`: the longest a request waits for a key set being fetched.
pub const DEFAULT_JWKS_MAX_WAIT: &str = "1s";
/// Default `jwks_ttl`: how long fetched keys are fresh.
pub const DEFAULT_JWKS_TTL: &str = "30s";

/// The signing algorithms this server verifies (`alg` names, RFC 7518). `none` is never one of
/// them; `HS*` verify only with a symmetric (`oct`) key of the set, never with a public key.
pub const SUPPORTED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    "HS384", "HS512",
];

/// Algorithms upstream knows that this server does not verify.
const UNSUPPORTED_ALGORITHMS: &[&str] = &["ES512"];

/// The `jwks_urls` schemes this server reads.
pub const JWKS_SCHEMES: &[&str] = &["http", "https", "file", "base64"];

/// Upstream's cloud-bucket schemes, refused here.
const BUCKET_SCHEMES: &[&str] = &["s3", "gs", "azblob"];

/// Wire config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the verifying keys are. Required, at least one.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub jwks_urls: Option<Vec<String>>,
    /// Scopes the token must grant (per `scope_strategy`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub required_scope: Option<Vec<String>>,
    /// Audiences that must all be in the token's `aud`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_audience: Option<Vec<String>>,
    /// When set, the token's `iss` must be one of them.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub trusted_issuers: Option<Vec<String>>,
    /// The `alg` values accepted (default `["RS256"]`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_algorithms: Option<Vec<String>>,
    /// How `required_scope` is matched (default `none`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub scope_strategy: Option<ScopeStrategy>,
    /// Where the token is (default `Authorization: Bearer`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_from: Option<TokenFrom>,
    /// The longest a request waits for keys being fetched, a Go duration (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_max_wait: Option<String>,
    /// How long fetched keys are fresh, a Go duration (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_ttl: Option<String>,
}

/// A `jwks_urls` entry, by scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksLocation<'a> {
    /// `http://` or `https://`: the whole URL.
    Http(&'a str),
    /// `file://<path>` or an absolute path: the path.
    File(&'a str),
    /// `base64://<data>`: the data.
    Base64(&'a str),
}

impl Config {
    /// A config reading keys from `urls`, everything else unset.
    pub fn new<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Config {
        Config {
            jwks_urls: Some(urls.into_iter().map(Into::into).collect()),
            ..Config::default()
        }
    }

    /// The key-set locations: at least one, each of a supported scheme.
    pub fn jwks_urls(&self) -> Result<Vec<JwksLocation<'_>>, KeyError> {
        let urls = self
            .jwks_urls
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or(KeyError::Missing { key: "jwks_urls" })?;
        urls.iter().map(|u| jwks_location(u)).collect()
    }

    /// The required scopes.
    pub fn required_scope(&self) -> &[String] {
        self.required_scope.as_deref().unwrap_or_default()
    }

    /// The audiences that must all be in `aud`.
    pub fn target_audience(&self) -> &[String] {
        self.target_audience.as_deref().unwrap_or_default()
    }

    /// The trusted issuers (any issuer when empty).
    pub fn trusted_issuers(&self) -> &[String] {
        self.trusted_issuers.as_deref().unwrap_or_default()
    }

    /// The accepted algorithms, each supported; the default when unset or empty (as
    /// upstream, which treats an empty list as unset).
    pub fn allowed_algorithms(&self) -> Result<Vec<&str>, KeyError> {
        let configured = self.allowed_algorithms.as_deref().unwrap_or_default();
        if configured.is_empty() {
            return Ok(vec![DEFAULT_ALGORITHM]);
        }
        configured
            .iter()
            .map(|alg| {
                if SUPPORTED_ALGORITHMS.contains(&alg.as_str()) {
                    Ok(alg.as_str())
                } else if UNSUPPORTED_ALGORITHMS.contains(&alg.as_str()) {
                    Err(KeyError::invalid(
                        "allowed_algorithms",
                        alg,
                        "not supported by this server",
                    ))
                } else {
                    Err(KeyError::invalid(
                        "allowed_algorithms",
                        alg,
                        format!(
                            "not a signing algorithm, expected one of {SUPPORTED_ALGORITHMS:?}"
                        ),
                    ))
                }
            })
            .collect()
    }

    /// The scope strategy.
    pub fn scope_strategy(&self) -> ScopeStrategy {
        self.scope_strategy.unwrap_or_default()
    }

    /// Where the token is: exactly one of `token_from`'s keys, or the bearer `Authorization`
    /// header without `token_from`.
    pub fn token_source(&self) -> Result<TokenSource<'_>, KeyError> {
        token_source(self.token_from.as_ref())
    }

    /// `jwks_max_wait`, greater than zero.
    pub fn jwks_max_wait(&self) -> Result<Duration, KeyError> {
        positive_duration(
            "jwks_max_wait",
            self.jwks_max_wait
                .as_deref()
                .unwrap_or(DEFAULT_JWKS_MAX_WAIT),
        )
    }

    /// `jwks_ttl`, greater than zero.
    pub fn jwks_ttl(&self) -> Result<Duration, KeyError> {
        positive_duration(
            "jwks_ttl",
            self.jwks_ttl.as_deref().unwrap_or(DEFAULT_JWKS_TTL),
        )
    }

    /// Every key checked at once (what decoding runs): a missing `jwks_urls` is reported as
    /// [`KeyError::Missing`] only after the keys that are set were found usable.
    pub fn check(&self) -> Result<(), KeyError> {
        self.allowed_algorithms()?;
        self.token_source()?;
        self.jwks_max_wait()?;
        self.jwks_ttl()?;
        self.jwks_urls().map(drop)
    }
}

/// Reads one `jwks_urls` entry (also `id_token`'s `jwks_url`; errors name `jwks_urls`).
pub fn jwks_location(url: &str) -> Result<JwksLocation<'_>, KeyError> {
    let invalid = |reason: &str| KeyError::invalid("jwks_urls", url, reason);
    if url.starts_with('/') {
        return Ok(JwksLocation::File(url));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("expected an http(s)://, file:// or base64:// URL"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => Ok(JwksLocation::Http(url)),
        "file" => {
            // `file:///etc/jwks.json` (empty host) or `file://localhost/etc/jwks.json`.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if path.starts_with('/') {
                Ok(JwksLocation::File(path))
            } else {
                Err(invalid("a file URL needs an absolute path"))
            }
        }
        "base64" if !rest.is_empty() => Ok(JwksLocation::Base64(rest)),
        "base64" => Err(invalid("no data after base64://")),
        s if BUCKET_SCHEMES.contains(&s) => {
            Err(invalid("cloud buckets are not supported by this server"))
        }
        _ => Err(invalid(&format!(
            "unsupported scheme, expected one of {JWKS_SCHEMES:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::handler::{AuthenticatorConfig, ConfigError};

    fn decode(config: impl std::borrow::Borrow<serde_json::Value>) -> Result<Config, ConfigError> {
        match AuthenticatorConfig::decode("jwt", config.borrow())? {
            AuthenticatorConfig::Jwt(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    fn invalid_key(config: impl std::borrow::Borrow<serde_json::Value>) -> String {
        let config = config.borrow();
        match decode(config) {
            Err(ConfigError::Key(KeyError::Invalid { key, .. })) => key,
            other => panic!("{config}: {other:?}"),
        }
    }

    #[test]
    fn every_option_decodes() {
        let c = decode(json!({
            "jwks_urls": ["https://idp/.well-known/jwks.json", "file:///etc/jwks.json",
                          "/etc/other.json", "base64://e30=", "file://localhost/x.json"],
            "required_scope": ["a", "b.c"],
            "target_audience": ["api"],
            "trusted_issuers": ["https://idp/"],
            "allowed_algorithms": ["RS256", "ES256", "EdDSA", "PS512"],
            "scope_strategy": "wildcard",
            "token_from": {"query_parameter": "token"},
            "jwks_max_wait": "250ms",
            "jwks_ttl": "1m",
        }))
        .unwrap();
        assert_eq!(
            c.jwks_urls().unwrap(),
            vec![
                JwksLocation::Http("https://idp/.well-known/jwks.json"),
                JwksLocation::File("/etc/jwks.json"),
                JwksLocation::File("/etc/other.json"),
                JwksLocation::Base64("e30="),
                JwksLocation::File("/x.json"),
            ]
        );
        assert_eq!(c.required_scope(), ["a", "b.c"]);
        assert_eq!(c.target_audience(), ["api"]);
        assert_eq!(c.trusted_issuers(), ["https://idp/"]);
        assert_eq!(
            c.allowed_algorithms().unwrap(),
            ["RS256", "ES256", "EdDSA", "PS512"]
        );
        assert_eq!(c.scope_strategy(), ScopeStrategy::Wildcard);
        assert_eq!(c.token_source().unwrap(), TokenSource::Query("token"));
        assert_eq!(c.jwks_max_wait().unwrap(), Duration::from_millis(250));
        assert_eq!(c.jwks_ttl().unwrap(), Duration::from_secs(60));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(decode(back).unwrap(), c, "serialises to what decodes back");
    }

    #[test]
    fn defaults_are_upstreams() {
        let c = decode(json!({"jwks_urls": ["http://idp/jwks"]})).unwrap();
        assert_eq!(c.allowed_algorithms().unwrap(), ["RS256"]);
        assert_eq!(c.scope_strategy(), ScopeStrategy::None);
        assert_eq!(c.token_source().unwrap(), TokenSource::Bearer);
        assert_eq!(c.jwks_max_wait().unwrap(), Duration::from_secs(1));
        assert_eq!(c.jwks_ttl().unwrap(), Duration::from_secs(30));
        assert!(c.required_scope().is_empty());
        assert!(c.target_audience().is_empty());
        assert!(c.trusted_issuers().is_empty());
        let empty = decode(json!({"jwks_urls": ["http://idp/jwks"], "allowed_algorithms": []}));
        assert_eq!(empty.unwrap().allowed_algorithms().unwrap(), ["RS256"]);
    }

    #[test]
    fn keys_come_from_the_environment_as_upstream_names_them() {
        use std::collections::BTreeMap;

        let env: BTreeMap<String, String> = [
            (
                "AUTHENTICATORS_JWT_CONFIG_JWKS_URLS",
                "https://a/jwks, file:///etc/b.json",
            ),
            (
                "AUTHENTICATORS_JWT_CONFIG_ALLOWED_ALGORITHMS",
                "[\"ES256\"]",
            ),
            ("AUTHENTICATORS_JWT_CONFIG_JWKS_TTL", "5m"),
            (
                "AUTHENTICATORS_OAUTH2_INTROSPECTION_CONFIG_PRE_AUTHORIZATION_CLIENT_SECRET",
                "s3cret",
            ),
            (
                "AUTHENTICATORS_OAUTH2_INTROSPECTION_CONFIG_CACHE_MAX_COST",
                "10",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = crate::config::parse_config("{}", &env).unwrap();
        let jwt = config.authenticators.jwt.config.unwrap();
        let AuthenticatorConfig::Jwt(c) = AuthenticatorConfig::decode("jwt", &jwt).unwrap() else {
            panic!()
        };
        assert_eq!(c.jwks_urls().unwrap().len(), 2);
        assert_eq!(c.allowed_algorithms().unwrap(), ["ES256"]);
        assert_eq!(c.jwks_ttl().unwrap(), Duration::from_secs(300));
        let introspection = config.authenticators.oauth2_introspection.config.unwrap();
        assert_eq!(
            introspection,
            json!({"pre_authorization": {"client_secret": "s3cret"}, "cache": {"max_cost": 10}})
        );
    }

    #[test]
    fn jwks_urls_are_required_and_reported_by_name() {
        for config in [json!({}), json!({"jwks_urls": []})] {
            assert!(matches!(
                decode(config),
                Err(ConfigError::Key(KeyError::Missing { key: "jwks_urls" }))
            ));
        }
    }

    #[test]
    fn errors_name_the_key() {
        let url = |u: &str| json!({"jwks_urls": [u]});
        for bad in [
            url("s3://bucket/jwks.json"),
            url("gs://bucket/jwks.json"),
            url("ftp://host/jwks.json"),
            url("jwks.json"),
            url("file://relative/jwks.json"),
            url("base64://"),
        ] {
            assert_eq!(invalid_key(bad), "jwks_urls");
        }
        let with = |key: &str, value: serde_json::Value| {
            let mut c = url("http://idp/jwks");
            c[key] = value;
            c
        };
        for alg in ["none", "ES512", "rs256", "HS257", ""] {
            assert_eq!(
                invalid_key(with("allowed_algorithms", json!([alg]))),
                "allowed_algorithms",
                "{alg}"
            );
        }
        assert_eq!(
            invalid_key(with(
                "token_from",
                json!({"header": "x", "query_parameter": "y"})
            )),
            "token_from"
        );
        for key in ["jwks_max_wait", "jwks_ttl"] {
            assert_eq!(invalid_key(with(key, json!("0s"))), key);
            assert_eq!(invalid_key(with(key, json!("soon"))), key);
        }
        for (key, value) in [
            ("scope_strategy", json!("regexp")),
            ("scope_strategy", json!(null)),
            ("required_scope", json!("a")),
            ("target_audience", json!(null)),
            ("jwks_url", json!(["http://x"])),
        ] {
            let error = decode(with(key, value.clone())).unwrap_err();
            let ConfigError::Decode(e) = error else {
                panic!("{key} {value}: {error:?}")
            };
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }
}
