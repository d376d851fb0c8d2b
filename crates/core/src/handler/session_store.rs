//! The session-store config shared by `cookie_session` and `bearer_token`.
//!
//! Both call a session store (Kratos' `/sessions/whoami`) with the request's credential; the
//! keys are upstream's, plus `cache` (this server's session cache, off by default). `only` is
//! `cookie_session`'s, `token_from` and `prefix` are `bearer_token`'s. Durations are Go
//! duration text (`5s`, `1m30s`), parsed by the server.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{KeyError, present};

/// Default whole-call timeout.
pub const DEFAULT_TIMEOUT: &str = "5s";
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: &str = "1s";
/// Default GJSON path of the extra data.
pub const DEFAULT_EXTRA_FROM: &str = "extra";
/// Default GJSON path of the subject for `cookie_session`.
pub const COOKIE_SESSION_SUBJECT_FROM: &str = "subject";
/// Default GJSON path of the subject for `bearer_token`.
pub const BEARER_TOKEN_SUBJECT_FROM: &str = "sub";
/// Default longest life of a cache entry.
pub const DEFAULT_CACHE_TTL: &str = "10s";
/// Default most cache entries.
pub const DEFAULT_CACHE_MAX_ENTRIES: u64 = 10_000;

/// `authenticators.{cookie_session,bearer_token}.config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The session store, e.g. `http://kratos:4433/sessions/whoami`. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_session_url: Option<String>,
    /// `cookie_session` only: the cookies that make it responsible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// `bearer_token` only: where the token is (default `Authorization: Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_from: Option<TokenFrom>,
    /// `bearer_token` only: the token must start with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Keep `check_session_url`'s query (default true).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub preserve_query: Option<bool>,
    /// Keep `check_session_url`'s path (default false: the original path replaces it).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub preserve_path: Option<bool>,
    /// Send `X-Forwarded-Host: <original host>` (default false).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub preserve_host: Option<bool>,
    /// Method of the session-store call (default: the original method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_method: Option<String>,
    /// Request headers forwarded to the session store (default none).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub forward_http_headers: Option<Vec<String>>,
    /// Headers set on the session-store call (default none).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_headers: Option<BTreeMap<String, String>>,
    /// GJSON path of the extra data (default `extra`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_from: Option<String>,
    /// GJSON path of the subject (default `subject` for `cookie_session`, `sub` for
    /// `bearer_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_from: Option<String>,
    /// Whole-call timeout, a Go duration (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Connect timeout, a Go duration (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
    /// The session cache (default off).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache: Option<Cache>,
}

/// `bearer_token`'s `token_from`: exactly one of the three.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFrom {
    /// A request header holding the whole token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A query parameter of the original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_parameter: Option<String>,
    /// A cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// Where `bearer_token` finds the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource<'a> {
    /// `Authorization: Bearer <token>` (no `token_from`).
    Bearer,
    /// A request header.
    Header(&'a str),
    /// A query parameter.
    Query(&'a str),
    /// A cookie.
    Cookie(&'a str),
}

/// `cache`: this server's session cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Off by default: a drop-in keeps upstream's immediate revocation.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
    /// Longest life of an entry, a Go duration (default 10s).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<String>,
    /// Most entries kept (default 10000).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_entries: Option<u64>,
}

impl Cache {
    /// Whether the cache is on.
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(false)
    }

    /// The entry lifetime text.
    pub fn ttl(&self) -> &str {
        self.ttl.as_deref().unwrap_or(DEFAULT_CACHE_TTL)
    }

    /// The most entries kept; zero is refused.
    pub fn max_entries(&self) -> Result<u64, KeyError> {
        match self.max_entries.unwrap_or(DEFAULT_CACHE_MAX_ENTRIES) {
            0 => Err(KeyError::invalid(
                "cache.max_entries",
                0,
                "must be greater than zero",
            )),
            n => Ok(n),
        }
    }
}

impl Config {
    /// A config calling `url`, everything else unset.
    pub fn new(url: impl Into<String>) -> Config {
        Config {
            check_session_url: Some(url.into()),
            ..Config::default()
        }
    }

    /// `check_session_url`, which must be set and not empty.
    pub fn check_session_url(&self) -> Result<&str, KeyError> {
        self.check_session_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or(KeyError::Missing {
                key: "check_session_url",
            })
    }

    /// Whether the query of `check_session_url` is kept.
    pub fn preserve_query(&self) -> bool {
        self.preserve_query.unwrap_or(true)
    }

    /// Whether the path of `check_session_url` is kept.
    pub fn preserve_path(&self) -> bool {
        self.preserve_path.unwrap_or(false)
    }

    /// Whether `X-Forwarded-Host` is sent.
    pub fn preserve_host(&self) -> bool {
        self.preserve_host.unwrap_or(false)
    }

    /// The forced method, when set and not empty.
    pub fn force_method(&self) -> Option<&str> {
        self.force_method.as_deref().filter(|m| !m.is_empty())
    }

    /// The forwarded request headers.
    pub fn forward_http_headers(&self) -> &[String] {
        self.forward_http_headers.as_deref().unwrap_or_default()
    }

    /// The headers set on the call.
    pub fn additional_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.additional_headers
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The GJSON path of the extra data.
    pub fn extra_from(&self) -> &str {
        self.extra_from.as_deref().unwrap_or(DEFAULT_EXTRA_FROM)
    }

    /// The GJSON path of the subject, `default` when unset.
    pub fn subject_from<'a>(&'a self, default: &'a str) -> &'a str {
        self.subject_from.as_deref().unwrap_or(default)
    }

    /// The whole-call timeout text.
    pub fn timeout(&self) -> &str {
        self.timeout.as_deref().unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The connect timeout text.
    pub fn connect_timeout(&self) -> &str {
        self.connect_timeout
            .as_deref()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// The cache config (off when unset).
    pub fn cache(&self) -> Cache {
        self.cache.clone().unwrap_or_default()
    }

    /// `cookie_session`'s view: no `bearer_token` key is set.
    pub fn check_cookie_session(&self) -> Result<(), KeyError> {
        if self.token_from.is_some() {
            return Err(KeyError::Foreign {
                key: "token_from",
                owner: "bearer_token",
            });
        }
        if self.prefix.is_some() {
            return Err(KeyError::Foreign {
                key: "prefix",
                owner: "bearer_token",
            });
        }
        Ok(())
    }

    /// `bearer_token`'s view: no `cookie_session` key, and a usable `token_from`.
    pub fn check_bearer_token(&self) -> Result<(), KeyError> {
        if self.only.is_some() {
            return Err(KeyError::Foreign {
                key: "only",
                owner: "cookie_session",
            });
        }
        self.token_source().map(drop)
    }

    /// The cookies that make `cookie_session` responsible (any cookie when empty).
    pub fn only(&self) -> &[String] {
        self.only.as_deref().unwrap_or_default()
    }

    /// The token prefix `bearer_token` requires (empty: any).
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or_default()
    }

    /// Where `bearer_token` finds the token: exactly one of `token_from`'s keys, or the bearer
    /// `Authorization` header without `token_from`.
    pub fn token_source(&self) -> Result<TokenSource<'_>, KeyError> {
        token_source(self.token_from.as_ref())
    }
}

/// Where a token is: exactly one of `token_from`'s keys, or the bearer `Authorization` header
/// without `token_from` (`bearer_token`, `jwt`, `oauth2_introspection`).
pub fn token_source(token_from: Option<&TokenFrom>) -> Result<TokenSource<'_>, KeyError> {
    match token_from {
        None => Ok(TokenSource::Bearer),
        Some(TokenFrom {
            header: Some(h),
            query_parameter: None,
            cookie: None,
        }) => Ok(TokenSource::Header(h)),
        Some(TokenFrom {
            header: None,
            query_parameter: Some(q),
            cookie: None,
        }) => Ok(TokenSource::Query(q)),
        Some(TokenFrom {
            header: None,
            query_parameter: None,
            cookie: Some(c),
        }) => Ok(TokenSource::Cookie(c)),
        Some(other) => Err(KeyError::invalid(
            "token_from",
            serde_json::to_string(other).unwrap_or_default(),
            "needs exactly one of header, query_parameter, cookie",
        )),
    }
}
