//! `www_authenticate`: 401 with `WWW-Authenticate: Basic realm=<realm>` (unquoted, as upstream)
//! and the body `Unauthorized`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use oathkeeper_core::handler::Family;

pub use oathkeeper_core::handler::www_authenticate::Config;

use super::when::When;
use crate::pipeline::{CompileError, ResponseBody};

/// The compiled handler.
#[derive(Debug)]
pub struct WwwAuthenticate {
    challenge: HeaderValue,
    /// When responsible.
    pub when: When,
}

impl WwwAuthenticate {
    /// Compiles from the decoded config.
    pub fn compile(config: &Config) -> Result<WwwAuthenticate, CompileError> {
        let realm = config.realm();
        let challenge = HeaderValue::try_from(format!("Basic realm={realm}")).map_err(|_| {
            CompileError::invalid_key(
                Family::ErrorHandler,
                "www_authenticate",
                "realm",
                realm,
                "not a header value",
            )
        })?;
        Ok(WwwAuthenticate {
            challenge,
            when: When::compile("www_authenticate", config.when())?,
        })
    }

    /// Writes the challenge.
    pub fn handle(&self) -> Response<ResponseBody> {
        let mut response = Response::new(ResponseBody::from(Bytes::from_static(b"Unauthorized\n")));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}
