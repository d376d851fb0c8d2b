//! `anonymous`: responsible when the request has no `Authorization` header (or an empty one).

use serde::Deserialize;

use crate::pipeline::{OriginalRequest, Session};

use super::AuthnOutcome;

/// Wire config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The subject given to anonymous requests (default `anonymous`).
    #[serde(default = "anonymous")]
    subject: String,
}

fn anonymous() -> String {
    "anonymous".to_owned()
}

/// The compiled authenticator.
#[derive(Debug)]
pub struct Anonymous {
    subject: String,
}

impl Anonymous {
    /// Compiles from the merged config.
    pub fn compile(config: &serde_json::Value) -> Result<Anonymous, String> {
        let c: Config = crate::pipeline::decode("anonymous", config)?;
        Ok(Anonymous { subject: c.subject })
    }

    /// Any `Authorization` value, even a non-bearer one, makes this not responsible.
    pub fn authenticate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
    ) -> AuthnOutcome {
        let has_authorization = request
            .headers
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| !v.as_bytes().is_empty());
        if has_authorization {
            return AuthnOutcome::NotResponsible;
        }
        session.subject.clone_from(&self.subject);
        AuthnOutcome::Authenticated
    }
}
