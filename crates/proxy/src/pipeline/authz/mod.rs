//! Authorizers: may this subject do this? Exactly one per rule.

pub mod allow;
pub mod deny;

use super::{CompileCx, Denial};

/// A compiled authorizer.
#[derive(Debug)]
pub enum Authorizer {
    /// `allow`.
    Allow,
    /// `deny`.
    Deny,
}

/// Every authorizer id this server implements.
pub const IMPLEMENTED: &[&str] = &["allow", "deny"];

impl Authorizer {
    /// Compiles authorizer `id` from its merged config.
    pub fn compile(
        id: &str,
        config: &serde_json::Value,
        _cx: &mut CompileCx,
    ) -> Result<Self, String> {
        match id {
            "allow" => super::no_config(id, config).map(|()| Authorizer::Allow),
            "deny" => super::no_config(id, config).map(|()| Authorizer::Deny),
            other => Err(super::unsupported("authorizer", other)),
        }
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
