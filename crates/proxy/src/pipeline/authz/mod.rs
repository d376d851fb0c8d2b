//! Authorizers: may this subject do this? Exactly one per rule.

use oathkeeper_core::handler::{AuthorizerConfig, Family};

use super::{CompileCx, CompileError, Denial};

/// A compiled authorizer.
#[derive(Debug)]
pub enum Authorizer {
    /// `allow`: lets every authenticated request through.
    Allow,
    /// `deny`: refuses every request with 403.
    Deny,
}

impl Authorizer {
    /// Compiles authorizer `id` from its merged config.
    pub fn compile(
        id: &str,
        config: &serde_json::Value,
        _cx: &mut CompileCx,
    ) -> Result<Self, CompileError> {
        let typed = AuthorizerConfig::decode(id, config)
            .map_err(|e| CompileError::config(Family::Authorizer, id, e))?;
        Ok(match typed {
            AuthorizerConfig::Allow => Authorizer::Allow,
            AuthorizerConfig::Deny => Authorizer::Deny,
            AuthorizerConfig::Remote(_) | AuthorizerConfig::RemoteJson(_) => {
                return Err(CompileError::UnsupportedHandler {
                    family: Family::Authorizer,
                    id: id.to_owned(),
                });
            }
        })
    }

    /// Authorizes the session.
    pub fn authorize(&self) -> Result<(), Denial> {
        match self {
            Authorizer::Allow => Ok(()),
            Authorizer::Deny => Err(Denial::forbidden(
                "Access credentials are not sufficient to access this resource",
            )),
        }
    }
}
