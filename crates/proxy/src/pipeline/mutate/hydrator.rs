//! `hydrator`: posts the authentication session to an API and takes back what it answers.
//!
//! As upstream (`mutator_hydrator.go`): `POST api.url` with the session as JSON (`subject`,
//! `extra`, `header`, `match_context`), the original request's headers and query copied,
//! `Content-Type: application/json`, and HTTP Basic credentials when configured. A 200 must be
//! a session with the same subject; its `extra` and `header` replace the session's. A 401 is an
//! error about the credentials, any other status or a failed call an error: every error is a
//! 500 (fail closed). The call goes through the shared outbound policy: `api.retry.max_delay`
//! is the connect timeout and the longest pause between attempts, `api.retry.give_up_after` the
//! budget of the whole mutation; transport failures and 5xx are retried within it, at most
//! [`MAX_ATTEMPTS`] times. With `cache.enabled`, answers are kept by a BLAKE3 of the posted
//! session for `cache.ttl`, at most [`MAX_CACHED`] of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use oathkeeper_core::handler::Family;
use oathkeeper_core::handler::hydrator::Config;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::outbound::{self, Problem, Target};
use crate::pipeline::{CompileError, Denial, OriginalRequest, Session};

const ID: &str = "hydrator";

/// Most attempts of one call.
pub const MAX_ATTEMPTS: u32 = 5;
/// The first pause between two attempts (then doubled, up to `api.retry.max_delay`).
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// Most answers kept per mutator.
pub const MAX_CACHED: u64 = 10_000;
/// Largest answer read.
const MAX_BODY: usize = 1 << 20;

/// What the API answered, as the session takes it.
#[derive(Debug)]
struct Hydrated {
    extra: Option<Arc<Value>>,
    header: HeaderMap,
}

/// The compiled mutator.
#[derive(Debug)]
pub struct Hydrator {
    target: Target,
    client: outbound::Client,
    basic: Option<HeaderValue>,
    max_delay: Duration,
    give_up_after: Duration,
    cache: Option<moka::future::Cache<[u8; 32], Arc<Hydrated>>>,
}

/// The answer's session.
#[derive(Deserialize)]
struct Answered {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    extra: Option<Value>,
    #[serde(default)]
    header: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

impl Hydrator {
    /// Compiles from the decoded config: the target URL, the shared client, the credentials.
    pub fn compile(config: &Config) -> Result<Hydrator, CompileError> {
        let config_error = |e: oathkeeper_core::handler::KeyError| {
            CompileError::config(Family::Mutator, ID, e.into())
        };
        let url = config.url().map_err(config_error)?;
        let invalid = |key: &str, value: &str, reason: String| {
            CompileError::invalid_key(Family::Mutator, ID, key, value, reason)
        };
        let target = Target::parse(url).map_err(|e| invalid("api.url", &e.url, e.to_string()))?;
        let max_delay = config.max_delay().map_err(config_error)?;
        let give_up_after = config.give_up_after().map_err(config_error)?;
        let client = outbound::Client::shared(&outbound::Policy {
            connect_timeout: max_delay,
            timeout: give_up_after,
            max_body: MAX_BODY,
            extra_ca_files: Vec::new(),
        })
        .map_err(|e| invalid("api.url", url, e.to_string()))?;
        let basic = match config.basic() {
            None => None,
            Some(b) => {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", b.username, b.password));
                let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
                    .map_err(|e| invalid("api.auth.basic", "...", e.to_string()))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let cache = config.cache_ttl().map_err(config_error)?.map(|ttl| {
            moka::future::Cache::builder()
                .max_capacity(MAX_CACHED)
                .time_to_live(ttl)
                .build()
        });
        Ok(Hydrator {
            target,
            client,
            basic,
            max_delay,
            give_up_after,
            cache,
        })
    }

    /// Posts the session and replaces its extra and headers with the answer's.
    pub async fn mutate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
    ) -> Result<(), Denial> {
        let body = session_json(request, session).to_string();
        let key = self
            .cache
            .as_ref()
            .map(|_| *blake3::hash(body.as_bytes()).as_bytes());
        let cached = match (&self.cache, &key) {
            (Some(cache), Some(key)) => cache.get(key).await,
            _ => None,
        };
        let hydrated = match cached {
            Some(h) => h,
            None => {
                let h = Arc::new(self.call(request, &session.subject, body).await?);
                if let (Some(cache), Some(key)) = (&self.cache, key) {
                    cache.insert(key, Arc::clone(&h)).await;
                }
                h
            }
        };
        session.extra = hydrated.extra.clone();
        session.header = hydrated.header.clone();
        // Values rendered from the previous extra no longer hold.
        session.rendered = None;
        Ok(())
    }

    async fn call(
        &self,
        request: &OriginalRequest<'_>,
        subject: &str,
        body: String,
    ) -> Result<Hydrated, Denial> {
        let fail = |reason: String| Denial::internal(format!("mutator \"{ID}\": {reason}"));
        let uri = match request.query.filter(|q| !q.is_empty()) {
            None => self.target.uri().clone(),
            Some(query) => {
                let base = self.target.uri();
                let path = base.path();
                Uri::builder()
                    .scheme(base.scheme_str().unwrap_or("http"))
                    .authority(base.authority().map_or("", |a| a.as_str()))
                    .path_and_query(format!("{path}?{query}"))
                    .build()
                    .map_err(|e| fail(format!("the original query: {e}")))?
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in request.headers {
            if !is_hop_or_framing(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(basic) = &self.basic {
            headers.insert(http::header::AUTHORIZATION, basic.clone());
        }
        let body = Bytes::from(body);
        let policy = outbound::RetryPolicy {
            first_pause: FIRST_PAUSE,
            max_delay: self.max_delay,
            give_up_after: self.give_up_after,
            max_attempts: MAX_ATTEMPTS,
            // Every failed call and every 5xx is retried.
            retries: |outcome| !matches!(outcome, Ok(a) if !a.status.is_server_error()),
        };
        let answer = self
            .client
            .post_retrying(
                &self.target,
                &uri,
                &headers,
                body,
                &policy,
                Instant::now() + self.give_up_after,
            )
            .await
            .map_err(|e| match e.problem {
                Problem::Timeout(_) => fail(format!(
                    "{} gave no answer within {:?}",
                    self.target, self.give_up_after
                )),
                _ => fail(e.to_string()),
            })?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                return Err(fail(format!(
                    "{} refused the credentials (401)",
                    self.target
                )));
            }
            other => {
                return Err(fail(format!("{} answered {other}", self.target)));
            }
        }
        read_answer(&answer.body, subject).map_err(fail)
    }
}

/// What the mutator makes of the API's 200 answer `body` for a session of `subject`: the
/// extra (absent or `null`: none) and headers that replace the session's, or why the answer
/// is refused (it does not decode, names another subject, or a header name is invalid).
/// For the fuzz target.
#[doc(hidden)]
pub fn read_hydrator_answer(
    body: &[u8],
    subject: &str,
) -> Result<(Option<Arc<Value>>, HeaderMap), String> {
    read_answer(body, subject).map(|h| (h.extra, h.header))
}

/// Reads the API's 200 answer for a session of `subject`.
fn read_answer(body: &[u8], subject: &str) -> Result<Hydrated, String> {
    // A JSON object only: serde would also read a struct from an array (`["ann"]`, by position).
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err("the answer is not a session (not a JSON object)".to_owned());
    }
    let answered: Answered =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not a session: {e}"))?;
    if answered.subject != subject {
        return Err("the answer's subject is not the session's (invalid JSON object)".to_owned());
    }
    let mut header = HeaderMap::new();
    for (name, values) in answered.header.unwrap_or_default() {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        for value in values {
            header.append(name.clone(), super::header_value(&value));
        }
    }
    Ok(Hydrated {
        extra: answered.extra.filter(|e| !e.is_null()).map(Arc::new),
        header,
    })
}

/// Headers of the decision request that describe its own connection or body, not the client.
fn is_hop_or_framing(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "content-type"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-connection"
            | "expect"
    )
}

/// A header name as Go's `http.Header` keys it (`x-user-id` → `X-User-Id`).
fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// A header map as Go's `http.Header` marshals it: canonical name → values.
fn header_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        let entry = map
            .entry(canonical(name.as_str()))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::from(String::from_utf8_lossy(value.as_bytes())));
        }
    }
    Value::Object(map)
}

/// The session as upstream's `AuthenticationSession` marshals it.
fn session_json(request: &OriginalRequest<'_>, session: &Session) -> Value {
    let c = &request.candidate;
    json!({
        "subject": session.subject,
        "extra": session.extra.as_deref().cloned().unwrap_or(Value::Null),
        "header": header_json(&session.header),
        "match_context": {
            "regexp_capture_groups": session.captures,
            "url": {
                "Scheme": c.scheme,
                "Opaque": "",
                "User": null,
                "Host": c.host,
                "Path": c.path,
                "RawPath": "",
                "ForceQuery": false,
                "RawQuery": request.query.unwrap_or(""),
                "Fragment": "",
                "RawFragment": "",
            },
            "method": c.method,
            "header": header_json(request.headers),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `oauth2_answers` fuzz target (the same serde behaviour): a struct is also
    /// read from an array, by position, so `["ann"]` was a session for subject `ann`.
    #[test]
    fn an_answer_that_is_not_a_json_object_is_refused() {
        for body in [&b"[\"ann\"]"[..], b"[\"ann\", {\"x\": 1}]", b"[]", b"null"] {
            assert!(read_answer(body, "ann").is_err());
        }
        let ok = read_answer(b" {\"subject\":\"ann\",\"extra\":{\"x\":1}}", "ann").unwrap();
        assert_eq!(ok.extra.as_deref(), Some(&serde_json::json!({"x": 1})));
    }

    #[test]
    fn header_names_are_keyed_as_go_does() {
        assert_eq!(canonical("x-user-id"), "X-User-Id");
        assert_eq!(canonical("authorization"), "Authorization");
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        assert_eq!(header_json(&h), json!({"X-A": ["1", "2"]}));
    }
}
