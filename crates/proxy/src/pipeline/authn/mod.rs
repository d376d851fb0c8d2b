//! Authenticators: who is the request from?
//!
//! Tried in rule order; the first one that is responsible decides. "Not responsible" is a
//! value ([`AuthnOutcome::NotResponsible`]), not an error: any error aborts the chain.

pub mod anonymous;
pub mod bearer_token;
pub mod cookie_session;
mod grant;
pub mod jwt;
pub mod oauth2_client_credentials;
pub mod oauth2_introspection;
pub mod session_store;

use oathkeeper_core::handler::session_store::{
    BEARER_TOKEN_SUBJECT_FROM, COOKIE_SESSION_SUBJECT_FROM,
};
use oathkeeper_core::handler::{AuthenticatorConfig, Family};

use super::{CompileCx, CompileError, Cx, Denial, OriginalRequest, Session};

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
    /// `noop`: always responsible, lets the request through with an empty subject.
    Noop,
    /// `anonymous`.
    Anonymous(anonymous::Anonymous),
    /// `unauthorized`: always responsible, always 401 "Access credentials are invalid".
    Unauthorized,
    /// `cookie_session`.
    CookieSession(cookie_session::CookieSession),
    /// `bearer_token`.
    BearerToken(bearer_token::BearerToken),
    /// `jwt`.
    Jwt(jwt::Jwt),
    /// `oauth2_introspection`.
    OAuth2Introspection(oauth2_introspection::OAuth2Introspection),
    /// `oauth2_client_credentials`.
    OAuth2ClientCredentials(oauth2_client_credentials::OAuth2ClientCredentials),
}

impl Authenticator {
    /// Compiles authenticator `id` from its merged config.
    pub fn compile(
        id: &str,
        config: &serde_json::Value,
        cx: &mut CompileCx,
    ) -> Result<Self, CompileError> {
        let family = Family::Authenticator;
        let typed = AuthenticatorConfig::decode(id, config)
            .map_err(|e| CompileError::config(family, id, e))?;
        Ok(match typed {
            AuthenticatorConfig::Noop => Authenticator::Noop,
            AuthenticatorConfig::Unauthorized => Authenticator::Unauthorized,
            AuthenticatorConfig::Anonymous(c) => {
                Authenticator::Anonymous(anonymous::Anonymous::compile(&c))
            }
            AuthenticatorConfig::CookieSession(c) => {
                let store = cx.session_store(id, config, || {
                    session_store::SessionStore::compile(
                        id,
                        &c,
                        session_store::Credential::Cookie,
                        COOKIE_SESSION_SUBJECT_FROM,
                    )
                })?;
                Authenticator::CookieSession(cookie_session::CookieSession::new(&c, store))
            }
            AuthenticatorConfig::BearerToken(c) => {
                let specific = bearer_token::BearerToken::config_specific(&c)?;
                let store = cx.session_store(id, config, || {
                    session_store::SessionStore::compile(
                        id,
                        &c,
                        session_store::Credential::Authorization,
                        BEARER_TOKEN_SUBJECT_FROM,
                    )
                })?;
                Authenticator::BearerToken(bearer_token::BearerToken::new(specific, store))
            }
            AuthenticatorConfig::Jwt(c) => Authenticator::Jwt(jwt::Jwt::compile(&c)?),
            AuthenticatorConfig::OAuth2Introspection(c) => Authenticator::OAuth2Introspection(
                oauth2_introspection::OAuth2Introspection::compile(&c)?,
            ),
            AuthenticatorConfig::OAuth2ClientCredentials(c) => {
                Authenticator::OAuth2ClientCredentials(
                    oauth2_client_credentials::OAuth2ClientCredentials::compile(&c)?,
                )
            }
        })
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
            Authenticator::Jwt(a) => Box::pin(a.authenticate(request, session)).await,
            Authenticator::OAuth2Introspection(a) => {
                Box::pin(a.authenticate(request, session)).await
            }
            Authenticator::OAuth2ClientCredentials(a) => {
                Box::pin(a.authenticate(request, session)).await
            }
            Authenticator::Noop => Ok(AuthnOutcome::Authenticated),
            Authenticator::Anonymous(a) => Ok(a.authenticate(request, session)),
            Authenticator::Unauthorized => {
                Err(Denial::unauthorized("Access credentials are invalid"))
            }
        }
    }
}
