//! Every handler's wire config: the `config` block of an authenticator, authorizer, mutator or
//! error handler, in `oathkeeper.yaml` (global) or in a rule.
//!
//! One file per handler, named as its config id (`session_store` serves both `cookie_session`
//! and `bearer_token`). Each `Config` decodes exactly what the server accepts and serialises to
//! only the keys that were set, so a value built in code (by the charm) writes a minimal block.
//! A key with an upstream default is an `Option` here: unset means "the global config, else the
//! default", which is what lets a rule supply it over a partial global config. Accessors give
//! the effective value; validation that names a key lives with the type ([`KeyError`]).
//!
//! The per-family enums ([`AuthenticatorConfig`], [`AuthorizerConfig`], [`MutatorConfig`],
//! [`ErrorHandlerConfig`]) decode a merged block by handler id. A new handler is one file here
//! plus one arm in its family's `decode`.

pub mod anonymous;
pub mod cookie;
pub mod header;
pub mod hydrator;
pub mod id_token;
pub mod json;
pub mod jwt;
pub mod oauth2_client_credentials;
pub mod oauth2_introspection;
pub mod redirect;
pub mod remote;
pub mod remote_json;
pub mod scope;
pub mod session_store;
pub mod when;
pub mod www_authenticate;

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The four handler families, as a rule names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `authenticators`.
    Authenticator,
    /// `authorizer`.
    Authorizer,
    /// `mutators`.
    Mutator,
    /// `errors`.
    ErrorHandler,
}

impl Family {
    /// The key of the family's switches in `oathkeeper.yaml`.
    pub fn config_key(self) -> &'static str {
        match self {
            Family::Authenticator => "authenticators",
            Family::Authorizer => "authorizers",
            Family::Mutator => "mutators",
            Family::ErrorHandler => "errors.handlers",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Authenticator => "authenticator",
            Family::Authorizer => "authorizer",
            Family::Mutator => "mutator",
            Family::ErrorHandler => "error handler",
        })
    }
}

/// A decoded config whose key is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A required key is unset or empty. A global config may leave it to the rules, so this is
    /// not a problem of the global config on its own.
    #[error("{key} is required")]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A key's value cannot be used.
    #[error("invalid {key} \"{value}\": {reason}")]
    Invalid {
        /// The key (dotted for nested keys, e.g. `cache.ttl`).
        key: String,
        /// The value as configured.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key that only another handler reads.
    #[error("{key} belongs to {owner}")]
    Foreign {
        /// The key.
        key: &'static str,
        /// The handler that reads it.
        owner: &'static str,
    },
}

impl KeyError {
    /// An [`KeyError::Invalid`] for `key` holding `value`.
    pub fn invalid(
        key: impl Into<String>,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> KeyError {
        KeyError::Invalid {
            key: key.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Why a merged config block is not a handler's config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// This server does not implement the handler (its switch exists for compatibility).
    #[error("not supported by this server")]
    Unsupported,
    /// The block does not decode: an unknown key, a value of the wrong type.
    #[error("{0}")]
    Decode(#[source] serde_json::Error),
    /// A handler without config was given keys.
    #[error("it takes no config, got keys {keys:?}")]
    TakesNoConfig {
        /// The keys given.
        keys: Vec<String>,
    },
    /// A key is missing or unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Decodes a merged block into a handler's `Config`.
fn decode<T: DeserializeOwned>(config: &Value) -> Result<T, ConfigError> {
    T::deserialize(config).map_err(ConfigError::Decode)
}

/// Decodes a merged block into a handler's `Config`, a type error naming the key's path
/// (`scope_strategy: unknown variant ...`) as an unknown key already does.
fn decode_named<T: DeserializeOwned>(config: &Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || inner.to_string().contains("unknown field") {
            ConfigError::Decode(inner)
        } else {
            ConfigError::Decode(serde::de::Error::custom(format!("{path}: {inner}")))
        }
    })
}

/// Handlers without config accept only an empty object (or nothing).
fn no_config(config: &Value) -> Result<(), ConfigError> {
    match config {
        Value::Object(map) if !map.is_empty() => Err(ConfigError::TakesNoConfig {
            keys: map.keys().cloned().collect(),
        }),
        _ => Ok(()),
    }
}

/// An authenticator's config, by handler id.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthenticatorConfig {
    /// `noop`.
    Noop,
    /// `anonymous`.
    Anonymous(anonymous::Config),
    /// `unauthorized`.
    Unauthorized,
    /// `cookie_session`.
    CookieSession(session_store::Config),
    /// `bearer_token`.
    BearerToken(session_store::Config),
    /// `jwt`.
    Jwt(jwt::Config),
    /// `oauth2_introspection`.
    OAuth2Introspection(oauth2_introspection::Config),
    /// `oauth2_client_credentials`.
    OAuth2ClientCredentials(oauth2_client_credentials::Config),
}

impl AuthenticatorConfig {
    /// Decodes authenticator `id`'s merged config.
    pub fn decode(id: &str, config: &Value) -> Result<Self, ConfigError> {
        Ok(match id {
            "noop" => no_config(config).map(|()| Self::Noop)?,
            "anonymous" => Self::Anonymous(decode(config)?),
            "unauthorized" => no_config(config).map(|()| Self::Unauthorized)?,
            "cookie_session" => {
                let c: session_store::Config = decode(config)?;
                c.check_cookie_session()?;
                Self::CookieSession(c)
            }
            "bearer_token" => {
                let c: session_store::Config = decode(config)?;
                c.check_bearer_token()?;
                Self::BearerToken(c)
            }
            "jwt" => {
                let c: jwt::Config = decode_named(config)?;
                c.check()?;
                Self::Jwt(c)
            }
            "oauth2_introspection" => {
                let c: oauth2_introspection::Config = decode_named(config)?;
                c.check()?;
                Self::OAuth2Introspection(c)
            }
            "oauth2_client_credentials" => {
                let c: oauth2_client_credentials::Config = decode_named(config)?;
                c.check()?;
                Self::OAuth2ClientCredentials(c)
            }
            _ => return Err(ConfigError::Unsupported),
        })
    }
}

/// An authorizer's config, by handler id.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizerConfig {
    /// `allow`: lets every authenticated request through.
    Allow,
    /// `deny`: refuses every request with 403.
    Deny,
    /// `remote`: asks another service, sending the original request's headers.
    Remote(remote::Config),
    /// `remote_json`: asks another service with a JSON payload.
    RemoteJson(remote_json::Config),
}

impl AuthorizerConfig {
    /// Decodes authorizer `id`'s merged config.
    pub fn decode(id: &str, config: &Value) -> Result<Self, ConfigError> {
        match id {
            "allow" => no_config(config).map(|()| Self::Allow),
            "deny" => no_config(config).map(|()| Self::Deny),
            "remote" => {
                let c: remote::Config = decode_named(config)?;
                c.check()?;
                Ok(Self::Remote(c))
            }
            "remote_json" => {
                let c: remote_json::Config = decode_named(config)?;
                c.check()?;
                Ok(Self::RemoteJson(c))
            }
            _ => Err(ConfigError::Unsupported),
        }
    }
}

/// A mutator's config, by handler id.
#[derive(Debug, Clone, PartialEq)]
pub enum MutatorConfig {
    /// `noop`.
    Noop,
    /// `header`.
    Header(header::Config),
    /// `cookie`.
    Cookie(cookie::Config),
    /// `id_token`.
    IdToken(id_token::Config),
    /// `hydrator`.
    Hydrator(hydrator::Config),
}

impl MutatorConfig {
    /// Decodes mutator `id`'s merged config.
    pub fn decode(id: &str, config: &Value) -> Result<Self, ConfigError> {
        match id {
            "noop" => no_config(config).map(|()| Self::Noop),
            "header" => Ok(Self::Header(decode(config)?)),
            "cookie" => Ok(Self::Cookie(decode(config)?)),
            "id_token" => {
                let c: id_token::Config = decode_named(config)?;
                c.check()?;
                Ok(Self::IdToken(c))
            }
            "hydrator" => {
                let c: hydrator::Config = decode_named(config)?;
                c.check()?;
                Ok(Self::Hydrator(c))
            }
            _ => Err(ConfigError::Unsupported),
        }
    }
}

/// An error handler's config, by handler id.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorHandlerConfig {
    /// `json`.
    Json(json::Config),
    /// `redirect`.
    Redirect(redirect::Config),
    /// `www_authenticate`.
    WwwAuthenticate(www_authenticate::Config),
}

impl ErrorHandlerConfig {
    /// Decodes error handler `id`'s merged config.
    pub fn decode(id: &str, config: &Value) -> Result<Self, ConfigError> {
        match id {
            "json" => Ok(Self::Json(decode(config)?)),
            "redirect" => Ok(Self::Redirect(decode(config)?)),
            "www_authenticate" => Ok(Self::WwwAuthenticate(decode(config)?)),
            _ => Err(ConfigError::Unsupported),
        }
    }
}

/// Deserialises an `Option` field that may be absent but, when present, must hold a value:
/// `null` is refused as the plain type refuses it (use with `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `text` as a Go duration greater than zero, else an error naming `key`.
fn positive_duration(key: &'static str, text: &str) -> Result<Duration, KeyError> {
    let d =
        envconf::parse_duration(text).map_err(|e| KeyError::invalid(key, text, e.to_string()))?;
    if d.is_zero() {
        return Err(KeyError::invalid(key, text, "must be greater than zero"));
    }
    Ok(d)
}

/// A handler's `retry` block (`api.retry` for the hydrator): the same two keys everywhere, with
/// each handler's own defaults (its `DEFAULT_MAX_DELAY` and `DEFAULT_GIVE_UP_AFTER`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Connect timeout and longest pause between attempts (default: the handler's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<String>,
    /// The whole budget of one call, retries included (default: the handler's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub give_up_after: Option<String>,
}

impl Retry {
    /// `max_delay` of `retry`, else `default`, greater than zero; an error names `key`.
    pub fn max_delay(
        retry: Option<&Retry>,
        key: &'static str,
        default: &str,
    ) -> Result<Duration, KeyError> {
        let text = retry.and_then(|r| r.max_delay.as_deref());
        positive_duration(key, text.unwrap_or(default))
    }

    /// `give_up_after` of `retry`, else `default`, greater than zero; an error names `key`.
    pub fn give_up_after(
        retry: Option<&Retry>,
        key: &'static str,
        default: &str,
    ) -> Result<Duration, KeyError> {
        let text = retry.and_then(|r| r.give_up_after.as_deref());
        positive_duration(key, text.unwrap_or(default))
    }
}

#[cfg(test)]
mod tests;
