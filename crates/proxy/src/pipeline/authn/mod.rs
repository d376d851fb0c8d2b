//! Authenticators: who is the request from?
//!
//! Tried in rule order; the first one that is responsible decides. "Not responsible" is a
//! value ([`AuthnOutcome::NotResponsible`]), not an error: any error aborts the chain.

pub mod anonymous;
pub mod noop;
pub mod unauthorized;

use super::{CompileCx, Denial, OriginalRequest, Session};

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
}

/// Every authenticator id this server implements.
pub const IMPLEMENTED: &[&str] = &["noop", "anonymous", "unauthorized"];

impl Authenticator {
    /// Compiles authenticator `id` from its merged config.
    pub fn compile(id: &str, config: &serde_json::Value, _cx: &mut CompileCx) -> Result<Self, String> {
        match id {
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
    ) -> Result<AuthnOutcome, Denial> {
        match self {
            Authenticator::Noop => Ok(AuthnOutcome::Authenticated),
            Authenticator::Anonymous(a) => Ok(a.authenticate(request, session)),
            Authenticator::Unauthorized => Err(Denial::unauthorized("Access credentials are invalid")),
        }
    }
}
