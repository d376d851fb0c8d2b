//! `json`: the herodot JSON error envelope with the error's status.
//!
//! Not verbose (the default), the body is the generic error for the status, e.g.
//! `{"error":{"code":401,"status":"Unauthorized","message":"The request could not be authorized"}}`;
//! verbose adds the reason. `Retry-After` and `X-Ratelimit-*` are passed on.

use std::sync::LazyLock;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

pub use oathkeeper_core::handler::json::Config;

use super::when::When;
use crate::pipeline::{CompileError, Denial, ResponseBody};

/// The compiled handler.
#[derive(Debug)]
pub struct Json {
    verbose: bool,
    /// When responsible.
    pub when: When,
}

impl Json {
    /// Compiles from the decoded config.
    pub fn compile(config: &Config) -> Result<Json, CompileError> {
        Ok(Json {
            verbose: config.verbose(),
            when: When::compile("json", config.when())?,
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
        StatusCode::METHOD_NOT_ALLOWED => "The requested method is not allowed",
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

/// A herodot JSON error answer for `denial`, with its reason when `verbose` (also used where
/// no error handler can be chosen). `Retry-After` and `X-Ratelimit-*` are passed on.
pub fn json_error(denial: &Denial, verbose: bool) -> Response<ResponseBody> {
    let mut response = herodot_error(denial.status, verbose.then_some(&denial.reason));
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

/// The herodot envelope for `status`, with `reason` if given, as JSON.
fn envelope(status: StatusCode, reason: Option<&std::borrow::Cow<'static, str>>) -> Bytes {
    let body = Envelope {
        error: Error {
            code: status.as_u16(),
            status: status.canonical_reason().unwrap_or(""),
            reason,
            message: message(status),
        },
    };
    // invariant: these fields serialise infallibly.
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// The envelope without a reason (the common, non-verbose answer): the same bytes for every
/// denial with that status, so the statuses denials have are serialised once.
fn generic_body(status: StatusCode) -> Bytes {
    static COMMON: LazyLock<Vec<(StatusCode, Bytes)>> = LazyLock::new(|| {
        [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::INTERNAL_SERVER_ERROR,
        ]
        .into_iter()
        .map(|status| (status, envelope(status, None)))
        .collect()
    });
    COMMON
        .iter()
        .find(|(s, _)| *s == status)
        .map_or_else(|| envelope(status, None), |(_, body)| body.clone())
}

/// herodot's JSON error answer for `status`: code, reason phrase, `reason` when given, and
/// herodot's message for the status (the API's own 404 and 405 too).
pub fn herodot_error(
    status: StatusCode,
    reason: Option<&std::borrow::Cow<'static, str>>,
) -> Response<ResponseBody> {
    let body = match reason {
        None => generic_body(status),
        // invariant: these fields serialise infallibly.
        Some(_) => envelope(status, reason),
    };
    let mut response = Response::new(ResponseBody::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
