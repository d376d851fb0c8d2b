//! `www_authenticate`: 401 with `WWW-Authenticate: Basic realm=<realm>` (unquoted, as upstream)
//! and the body `Unauthorized`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Deserialize;

use super::when::{ClauseConfig, When};
use crate::pipeline::ResponseBody;

/// Wire config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_realm")]
    realm: String,
    #[serde(default)]
    when: Vec<ClauseConfig>,
}

fn default_realm() -> String {
    "Please authenticate.".to_owned()
}

/// The compiled handler.
#[derive(Debug)]
pub struct WwwAuthenticate {
    challenge: HeaderValue,
    /// When responsible.
    pub when: When,
}

impl WwwAuthenticate {
    /// Compiles from the merged config.
    pub fn compile(config: &serde_json::Value) -> Result<WwwAuthenticate, String> {
        let c: Config = crate::pipeline::decode("www_authenticate", config)?;
        let challenge =
            HeaderValue::try_from(format!("Basic realm={}", c.realm)).map_err(|_| {
                format!(
                    "error handler \"www_authenticate\": invalid realm \"{}\"",
                    c.realm
                )
            })?;
        Ok(WwwAuthenticate {
            challenge,
            when: When::compile(&c.when)?,
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
