//! Authorizers: may this subject do this? Exactly one per rule.

pub mod remote;

use oathkeeper_core::handler::{AuthorizerConfig, Family};

use super::{CompileCx, CompileError, Denial, OriginalRequest, Session};

/// A compiled authorizer.
#[derive(Debug)]
pub enum Authorizer {
    /// `allow`: lets every authenticated request through.
    Allow,
    /// `deny`: refuses every request with 403.
    Deny,
    /// `remote` or `remote_json`: asks another service.
    Remote(Box<remote::Remote>),
}

impl Authorizer {
    /// Compiles authorizer `id` from its merged config.
    pub fn compile(
        id: &str,
        config: &serde_json::Value,
        cx: &mut CompileCx,
    ) -> Result<Self, CompileError> {
        let typed = AuthorizerConfig::decode(id, config)
            .map_err(|e| CompileError::config(Family::Authorizer, id, e))?;
        Ok(match typed {
            AuthorizerConfig::Allow => Authorizer::Allow,
            AuthorizerConfig::Deny => Authorizer::Deny,
            AuthorizerConfig::Remote(c) => {
                Authorizer::Remote(Box::new(remote::Remote::compile("remote", &c, None, cx)?))
            }
            AuthorizerConfig::RemoteJson(c) => Authorizer::Remote(Box::new(
                remote::Remote::compile("remote_json", &c.call(), c.payload.as_deref(), cx)?,
            )),
        })
    }

    /// Authorizes the session's request; a remote authorizer may add answer headers to the
    /// session.
    pub async fn authorize(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
    ) -> Result<(), Denial> {
        match self {
            Authorizer::Allow => Ok(()),
            Authorizer::Deny => Err(Denial::forbidden(
                "Access credentials are not sufficient to access this resource",
            )),
            // Boxed: the call's future is large and only remote rules carry it.
            Authorizer::Remote(remote) => Box::pin(remote.authorize(request, session)).await,
        }
    }
}
