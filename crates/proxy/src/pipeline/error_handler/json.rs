//! `json`: the herodot JSON error envelope with the error's status.
//!
//! Not verbose (the default), the body is the generic error for the status, e.g.
//! `{"error":{"code":401,"status":"Unauthorized","message":"The request could not be authorized"}}`;
//! verbose adds the reason. `Retry-After` and `X-Ratelimit-*` are passed on.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Deserialize;

use super::when::{ClauseConfig, When};
use crate::pipeline::{Denial, ResponseBody};

/// Wire config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    verbose: bool,
    #[serde(default)]
    when: Vec<ClauseConfig>,
}

/// The compiled handler.
#[derive(Debug)]
pub struct Json {
    verbose: bool,
    /// When responsible.
    pub when: When,
}

impl Json {
    /// Compiles from the merged config.
    pub fn compile(config: &serde_json::Value) -> Result<Json, String> {
        let c: Config = crate::pipeline::decode("json", config)?;
        Ok(Json {
            verbose: c.verbose,
            when: When::compile(&c.when)?,
        })
    }

    /// Writes the error.
    pub fn handle(&self, denial: &Denial) -> Response<ResponseBody> {
        json_error(denial, self.verbose)
    }
}

/// The herodot message for a status.
fn message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "The request could not be authorized",
        StatusCode::FORBIDDEN => "The requested action was forbidden",
        StatusCode::NOT_FOUND => "The requested resource could not be found",
        StatusCode::BAD_REQUEST => "The request was malformed or contained invalid parameters",
        StatusCode::TOO_MANY_REQUESTS => "The request was rate limited",
        _ => "An internal server error occurred, please contact the system administrator",
    }
}

/// herodot's envelope, fields in herodot's order.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    error: Error<'a>,
}

#[derive(serde::Serialize)]
struct Error<'a> {
    code: u16,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a std::borrow::Cow<'static, str>>,
    message: &'a str,
}

/// A herodot JSON error answer (also used where no error handler can be chosen).
pub fn json_error(denial: &Denial, verbose: bool) -> Response<ResponseBody> {
    let body = Envelope {
        error: Error {
            code: denial.status.as_u16(),
            status: denial.status.canonical_reason().unwrap_or(""),
            reason: verbose.then_some(&denial.reason),
            message: message(denial.status),
        },
    };
    // invariant: these fields serialise infallibly.
    let body = serde_json::to_string(&body).unwrap_or_default();
    let mut response = Response::new(ResponseBody::from(Bytes::from(body)));
    *response.status_mut() = denial.status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(extra) = &denial.headers {
        for (name, value) in extra.iter() {
            let n = name.as_str();
            if n == "retry-after" || n.starts_with("x-ratelimit-") {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
    }
    response
}
