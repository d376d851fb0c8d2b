//! The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) and the retrying form POST, shared by
//! `oauth2_introspection` (its `pre_authorization` token, and the introspection call itself)
//! and `oauth2_client_credentials` (the grant is the check).
//!
//! The grant is sent as Go's x/oauth2 sends it with `AuthStyleInHeader`, which upstream uses:
//! `POST token_url`, `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749
//! §2.3.1), form `grant_type=client_credentials`, then `scope=<scopes joined by spaces>` and
//! `audience` when set.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;

use crate::outbound::{self, Answer, CallError, Target};

/// Shortest pause between two attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// A client with upstream's `retry` semantics: `max_delay` is the connect timeout and the
/// longest pause between attempts, `give_up_after` the budget of a whole call, retries included.
#[derive(Debug, Clone)]
pub(super) struct Retrying {
    /// The pooled client (its total timeout is `give_up_after`).
    pub(super) client: outbound::Client,
    /// Connect timeout and longest pause.
    pub(super) max_delay: Duration,
    /// The budget of one call.
    pub(super) give_up_after: Duration,
}

impl Retrying {
    /// Sends `POST target` with `form` until an answer that is not a 5xx, retrying transport
    /// failures and 5xx answers while the budget (ending at `deadline`) lasts.
    pub(super) async fn post_form(
        &self,
        target: &Target,
        headers: &HeaderMap,
        form: &str,
        deadline: Instant,
    ) -> Result<Answer, CallError> {
        let policy = outbound::RetryPolicy {
            first_pause: FIRST_BACKOFF,
            max_delay: self.max_delay,
            give_up_after: self.give_up_after,
            max_attempts: u32::MAX,
            retries: outbound::server_error_or_transport,
        };
        self.client
            .post_retrying(
                target,
                target.uri(),
                headers,
                Bytes::from(form.to_owned()),
                &policy,
                deadline,
            )
            .await
    }
}

/// The `Authorization: Basic` value for a client (id and secret form-encoded first), `None`
/// when it is not a header value.
pub(super) fn basic_authorization(client_id: &str, client_secret: &str) -> Option<HeaderValue> {
    let credentials = format!("{}:{}", encode(client_id), encode(client_secret));
    HeaderValue::try_from(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    ))
    .ok()
}

/// The grant's form: `grant_type`, then `scope` and `audience` when set.
pub(super) fn grant_form(scope: &[String], audience: Option<&str>) -> String {
    let mut form = form_pair("grant_type", "client_credentials");
    if !scope.is_empty() {
        form.push('&');
        form.push_str(&form_pair("scope", &scope.join(" ")));
    }
    if let Some(audience) = audience {
        form.push('&');
        form.push_str(&form_pair("audience", audience));
    }
    form
}

/// What a token endpoint granted.
#[derive(Debug, Clone)]
pub(super) struct Token {
    /// The access token (may be empty: the caller judges).
    pub(super) access_token: String,
    /// `expires_in`, when given, positive and finite.
    pub(super) expires_in: Option<Duration>,
}

/// Why a grant gave no token.
#[derive(Debug)]
pub(super) enum GrantError {
    /// No answer (transport failure, timeout, redirect, oversized body).
    Call(CallError),
    /// The endpoint answered with a status other than 200.
    Status(StatusCode, HeaderMap),
    /// A 200 whose body is not a token answer.
    Decode,
}

/// Runs the grant: `POST target` with `authorization` and `form`, within `deadline`.
pub(super) async fn request_token(
    retrying: &Retrying,
    target: &Target,
    authorization: &HeaderValue,
    form: &str,
    deadline: Instant,
) -> Result<Token, GrantError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(http::header::AUTHORIZATION, authorization.clone());
    let answer = retrying
        .post_form(target, &headers, form, deadline)
        .await
        .map_err(GrantError::Call)?;
    if answer.status != StatusCode::OK {
        return Err(GrantError::Status(answer.status, answer.headers));
    }
    read_token(&answer.body)
}

/// Reads a token endpoint's 200 answer.
pub(super) fn read_token(body: &[u8]) -> Result<Token, GrantError> {
    #[derive(Deserialize)]
    struct TokenAnswer {
        #[serde(default)]
        access_token: Option<String>,
        #[serde(default)]
        expires_in: Option<f64>,
    }
    if !is_json_object(body) {
        return Err(GrantError::Decode);
    }
    let token: TokenAnswer = serde_json::from_slice(body).map_err(|_| GrantError::Decode)?;
    Ok(Token {
        access_token: token.access_token.unwrap_or_default(),
        expires_in: token
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.min(1e9))),
    })
}

/// Whether `body` starts (after JSON whitespace) as a JSON object: serde would also read a
/// struct from an array, by position (`[]`, `["token", 3600]`), which no answer is.
pub(super) fn is_json_object(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&b| b == b'{')
}

/// `name=value`, form-encoded.
pub(super) fn form_pair(name: &str, value: &str) -> String {
    format!("{}={}", encode(name), encode(value))
}

/// `application/x-www-form-urlencoded` text of `text`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded() {
        assert_eq!(
            form_pair("token", "a b+c&d=é"),
            "token=a+b%2Bc%26d%3D%C3%A9"
        );
        assert_eq!(
            grant_form(&["a".into(), "b".into()], Some("x y")),
            "grant_type=client_credentials&scope=a+b&audience=x+y"
        );
    }

    /// Found by the `oauth2_answers` fuzz target: `[]` was read as a token answer.
    #[test]
    fn a_token_answer_that_is_not_a_json_object_does_not_decode() {
        for body in [&b"[]"[..], b"[\"t\", 3600]", b"\n[]", b"null"] {
            assert!(matches!(read_token(body), Err(GrantError::Decode)));
        }
        let token = read_token(b"\r\n {\"access_token\":\"t\",\"expires_in\":60}").unwrap();
        assert_eq!(token.access_token, "t");
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        let value = basic_authorization("my client", "s:e/c").unwrap();
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"my+client:s%3Ae%2Fc");
    }
}
