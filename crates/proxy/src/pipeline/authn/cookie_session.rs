//! `cookie_session`: checks the request's cookies against a session store (Kratos).
//!
//! Responsible when `only` is empty and the request has a cookie, or when a cookie named in
//! `only` is present; otherwise not responsible, so the next authenticator is tried. `only`
//! decides responsibility only: like upstream, the store receives every `Cookie` line
//! unchanged, and the session cache is keyed on exactly those lines.

use std::sync::Arc;

use crate::pipeline::{Cx, Denial, OriginalRequest, Session};

use super::AuthnOutcome;
use super::session_store::{Config, SessionStore};

/// The compiled authenticator.
#[derive(Debug)]
pub struct CookieSession {
    only: Box<[String]>,
    store: Arc<SessionStore>,
}

impl CookieSession {
    /// Builds the authenticator around a compiled store (the config's `cookie_session`
    /// keys were checked when it was decoded).
    pub fn new(config: &Config, store: Arc<SessionStore>) -> CookieSession {
        CookieSession {
            only: config.only().into(),
            store,
        }
    }

    /// Whether a cookie makes it responsible: one named in `only`, or any without `only`.
    fn responsible(&self, request: &OriginalRequest<'_>) -> bool {
        cookies(request)
            .any(|(name, _)| self.only.is_empty() || self.only.iter().any(|o| o == name))
    }

    /// Authenticates with the session store, which receives every `Cookie` line as sent.
    pub async fn authenticate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        cx: &Cx<'_>,
    ) -> Result<AuthnOutcome, Denial> {
        if !self.responsible(request) {
            return Ok(AuthnOutcome::NotResponsible);
        }
        self.store.authenticate(request, session, cx).await
    }
}

/// The request's cookies as (name, value), in order.
pub(crate) fn cookies<'r>(
    request: &'r OriginalRequest<'_>,
) -> impl Iterator<Item = (&'r str, &'r str)> {
    request
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| {
            // `to_str` passed only visible ASCII, spaces and tabs: ASCII trimming is Unicode
            // trimming here, without its tables.
            let (name, value) = pair.trim_ascii().split_once('=')?;
            let name = name.trim_ascii();
            (!name.is_empty()).then(|| (name, value.trim_ascii().trim_matches('"')))
        })
}
