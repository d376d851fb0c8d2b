//! `bearer_token`: checks a token against a session store.
//!
//! The token comes from `token_from` (a header, a query parameter of the original request or
//! a cookie), by default from `Authorization: Bearer <token>`. Responsible when a token is
//! found and starts with `prefix`. `Authorization` is always forwarded to the session store;
//! as upstream, a token found elsewhere reaches it only through a header named in
//! `forward_http_headers` (`Cookie` for a cookie) or the query (`preserve_query: false`).
//! The session cache is keyed on what the store receives, not on the token found here.

use std::sync::Arc;

use oathkeeper_core::handler::Family;
use oathkeeper_core::handler::session_store::TokenSource;
use percent_encoding::percent_decode_str;

use crate::pipeline::{CompileError, Cx, Denial, OriginalRequest, Session};

use super::AuthnOutcome;
use super::cookie_session::cookies;
use super::session_store::{Config, SessionStore};

/// Where the token is.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Bearer,
    Header(http::HeaderName),
    Query(String),
    Cookie(String),
}

/// The compiled authenticator.
#[derive(Debug)]
pub struct BearerToken {
    source: Source,
    prefix: String,
    store: Arc<SessionStore>,
}

/// The `bearer_token`-specific part of the config.
#[derive(Debug)]
pub struct Specific {
    source: Source,
    prefix: String,
}

impl BearerToken {
    /// Reads the `bearer_token`-specific keys (checked when the config was decoded); the
    /// header in `token_from.header` must be a header name.
    pub fn config_specific(config: &Config) -> Result<Specific, CompileError> {
        let token_from = config
            .token_source()
            .map_err(|e| CompileError::config(Family::Authenticator, "bearer_token", e.into()))?;
        let source = match token_from {
            TokenSource::Bearer => Source::Bearer,
            TokenSource::Header(h) => {
                Source::Header(http::HeaderName::try_from(h).map_err(|_| {
                    CompileError::invalid_key(
                        Family::Authenticator,
                        "bearer_token",
                        "token_from.header",
                        h,
                        "not a header name",
                    )
                })?)
            }
            TokenSource::Query(q) => Source::Query(q.to_owned()),
            TokenSource::Cookie(c) => Source::Cookie(c.to_owned()),
        };
        Ok(Specific {
            source,
            prefix: config.prefix().to_owned(),
        })
    }

    /// Builds the authenticator around a compiled store.
    pub fn new(specific: Specific, store: Arc<SessionStore>) -> BearerToken {
        BearerToken {
            source: specific.source,
            prefix: specific.prefix,
            store,
        }
    }

    fn token<'r>(&self, request: &'r OriginalRequest<'_>) -> Option<std::borrow::Cow<'r, str>> {
        use std::borrow::Cow;
        match &self.source {
            Source::Bearer => {
                let value = request.header("authorization")?;
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(Cow::Borrowed(token))
            }
            Source::Header(name) => request.headers.get(name)?.to_str().ok().map(Cow::Borrowed),
            Source::Query(name) => request.query?.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode_str(&k.replace('+', " ")).decode_utf8_lossy() == name.as_str())
                    .then(|| {
                        Cow::Owned(
                            percent_decode_str(&v.replace('+', " "))
                                .decode_utf8_lossy()
                                .into_owned(),
                        )
                    })
            }),
            Source::Cookie(name) => cookies(request)
                .find(|(n, _)| n == name)
                .map(|(_, v)| Cow::Borrowed(v)),
        }
        .filter(|t| !t.is_empty())
    }

    /// Authenticates with the session store.
    pub async fn authenticate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        cx: &Cx<'_>,
    ) -> Result<AuthnOutcome, Denial> {
        let Some(token) = self.token(request) else {
            return Ok(AuthnOutcome::NotResponsible);
        };
        if !token.starts_with(&self.prefix) {
            return Ok(AuthnOutcome::NotResponsible);
        }
        self.store.authenticate(request, session, cx).await
    }
}
