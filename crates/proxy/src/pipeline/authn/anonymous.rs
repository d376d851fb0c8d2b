//! `anonymous`: responsible when the request has no `Authorization` header (or an empty one).

use std::sync::Arc;

pub use oathkeeper_core::handler::anonymous::Config;

use crate::pipeline::request::RenderedHeaders;
use crate::pipeline::{OriginalRequest, Session};

use super::AuthnOutcome;

/// The compiled authenticator.
#[derive(Debug)]
pub struct Anonymous {
    subject: String,
    /// The subject is constant: header mutators render it once.
    rendered: Arc<RenderedHeaders>,
}

impl Anonymous {
    /// Builds from the decoded config.
    pub fn compile(config: &Config) -> Anonymous {
        Anonymous {
            subject: config.subject().to_owned(),
            rendered: Arc::default(),
        }
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
        session.rendered = Some(Arc::clone(&self.rendered));
        AuthnOutcome::Authenticated
    }
}
