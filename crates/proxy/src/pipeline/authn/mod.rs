//! Authenticators: who is the request from?
//!
//! Tried in rule order; the first one that is responsible decides. "Not responsible" is a
//! value ([`AuthnOutcome::NotResponsible`]), not an error: any error aborts the chain.

pub mod anonymous;
pub mod bearer_token;
pub mod cookie_session;
pub mod noop;
pub mod session_store;
pub mod unauthorized;

use super::{CompileCx, Cx, Denial, OriginalRequest, Session};

/// What an authenticator concluded.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthnOutcome {
    /// The session is filled in.
    Authenticated,
    /// Not this authenticator's business: try the next one.
    NotResponsible,
}

/// A compiled authenticator.
#[derive(Debug)]
pub enum Authenticator {
    /// `noop`.
    Noop,
    /// `anonymous`.
    Anonymous(anonymous::Anonymous),
    /// `unauthorized`.
    Unauthorized,
    /// `cookie_session`.
    CookieSession(cookie_session::CookieSession),
    /// `bearer_token`.
    BearerToken(bearer_token::BearerToken),
}

/// Every authenticator id this server implements.
pub const IMPLEMENTED: &[&str] = &[
    "noop",
    "anonymous",
    "unauthorized",
    "cookie_session",
    "bearer_token",
];

impl Authenticator {
    /// Compiles authenticator `id` from its merged config.
    pub fn compile(
        id: &str,
        config: &serde_json::Value,
        cx: &mut CompileCx,
    ) -> Result<Self, String> {
        match id {
            "cookie_session" => {
                let wire: session_store::Config = super::decode(id, config)?;
                let only = cookie_session::CookieSession::config_only(&wire)?;
                let store = cx.session_store(id, config, || {
                    session_store::SessionStore::compile(
                        id,
                        &wire,
                        session_store::Credential::Cookie,
                        "subject",
                    )
                })?;
                Ok(Authenticator::CookieSession(
                    cookie_session::CookieSession::new(only, store),
                ))
            }
            "bearer_token" => {
                let wire: session_store::Config = super::decode(id, config)?;
                let specific = bearer_token::BearerToken::config_specific(&wire)?;
                let store = cx.session_store(id, config, || {
                    session_store::SessionStore::compile(
                        id,
                        &wire,
                        session_store::Credential::Authorization,
                        "sub",
                    )
                })?;
                Ok(Authenticator::BearerToken(bearer_token::BearerToken::new(
                    specific, store,
                )))
            }
            "noop" => super::no_config(id, config).map(|()| Authenticator::Noop),
            "unauthorized" => super::no_config(id, config).map(|()| Authenticator::Unauthorized),
            "anonymous" => anonymous::Anonymous::compile(config).map(Authenticator::Anonymous),
            other => Err(super::unsupported("authenticator", other)),
        }
    }

    /// Authenticates `request`, filling `session` when responsible.
    pub async fn authenticate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        cx: &Cx<'_>,
    ) -> Result<AuthnOutcome, Denial> {
        match self {
            // Boxed: a session-store call is a large future (HTTP client, cache), and inlined it
            // would make every decision's future that large, copied on every request.
            Authenticator::CookieSession(a) => Box::pin(a.authenticate(request, session, cx)).await,
            Authenticator::BearerToken(a) => Box::pin(a.authenticate(request, session, cx)).await,
            Authenticator::Noop => Ok(AuthnOutcome::Authenticated),
            Authenticator::Anonymous(a) => Ok(a.authenticate(request, session)),
            Authenticator::Unauthorized => {
                Err(Denial::unauthorized("Access credentials are invalid"))
            }
        }
    }
}
