//! The session-store call shared by `cookie_session` and `bearer_token` (upstream's
//! `PrepareRequest` and `forwardRequestToSessionStore`), with real timeouts and a cache.
//!
//! The request: `check_session_url`, whose path is replaced by the original path unless
//! `preserve_path`, and whose query is replaced by the original query unless `preserve_query`
//! (default true); the method is `force_method` or the original one; headers are only those in
//! `forward_http_headers` plus the credential header (`Cookie` or `Authorization`), then
//! `additional_headers`, then `X-Forwarded-Host` when `preserve_host`; no body.
//!
//! The URL is built from parts, never by joining text: scheme and authority only ever come
//! from `check_session_url`; the original path is set as a path (a leading `/` added when
//! missing, every byte a path may not hold percent-encoded, `%XX` escapes kept), the query as a
//! query. So no forwarded text (`@host:port/x`, `//host`, `\\host`, `?`, `#`) can send the call,
//! and the credential, to another host whose 200 would then authenticate (issue 12).
//!
//! The request is encoded once ([`outbound`]): the cache key is a hash of those bytes and the
//! request sent on a miss is decoded from them, so the cache never answers for a request the
//! store did not see, and a cache hit builds no request.
//!
//! The answer: 200 → subject and extra read with GJSON paths; 429 → 429 with `Retry-After` and
//! `X-Ratelimit-*`; any other status → 401; unreachable, timed out or garbage → 403. Fail
//! closed: nothing but a 200 with a readable, live session authenticates. Beyond upstream,
//! which takes any 200 (issue 12), a 200 denies with 401 when the subject is empty or missing
//! (`{}`, `identity.id` null or `""`), when `active` is present and not `true`, or when
//! `expires_at` is present and not in the future; an `expires_at` that is not an RFC 3339
//! timestamp is garbage (403). Kratos' whoami always sends `active: true`, a future
//! `expires_at` and `identity.id` for a session it vouches for; other stores may leave out
//! `active` and `expires_at`.

pub mod cache;
pub mod client;
pub mod outbound;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use envconf::parse_duration;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty, Limited};
use oathkeeper_core::gjson;
use oathkeeper_core::handler::Family;
use serde_json::Value;

pub use oathkeeper_core::handler::session_store::Config;

use crate::metrics::SessionStoreOutcome;
use crate::pipeline::{CompileError, Cx, Denial, OriginalRequest, Session};

use super::AuthnOutcome;
use cache::{Lookup, SessionCache, Verdict};
use client::{OutboundClient, build};
use outbound::{Op, Outbound};

/// Set on the session-store request when `preserve_host` is on.
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Largest session-store answer read.
const MAX_BODY: usize = 1 << 20;

/// Which credential header is always forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `Cookie` (cookie_session).
    Cookie,
    /// `Authorization` (bearer_token).
    Authorization,
}

/// A compiled session store: URL parts, prebuilt headers, client, cache.
#[derive(Debug)]
pub struct SessionStore {
    base: Uri,
    preserve_query: bool,
    preserve_path: bool,
    preserve_host: bool,
    force_method: Option<Method>,
    forward: Box<[HeaderName]>,
    additional: Box<[(HeaderName, HeaderValue)]>,
    credential: Credential,
    subject_from: String,
    extra_from: String,
    timeout: Duration,
    client: OutboundClient,
    cache: Option<SessionCache>,
}

impl SessionStore {
    /// Compiles the shared part of the config. `handler` names the handler in errors.
    pub fn compile(
        handler: &str,
        config: &Config,
        credential: Credential,
        default_subject_from: &str,
    ) -> Result<SessionStore, CompileError> {
        let family = Family::Authenticator;
        let invalid = |key: &str, value: &str, reason: String| {
            CompileError::invalid_key(family, handler, key, value, reason)
        };
        let url = config
            .check_session_url()
            .map_err(|e| CompileError::config(family, handler, e.into()))?;
        let base: Uri = url
            .parse()
            .map_err(|e| invalid("check_session_url", url, format!("{e}")))?;
        if !matches!(base.scheme_str(), Some("http" | "https")) || base.authority().is_none() {
            return Err(invalid(
                "check_session_url",
                url,
                "must be an absolute http(s) URL".into(),
            ));
        }
        let force_method = config
            .force_method()
            .map(|m| {
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| invalid("force_method", m, "not a method".into()))
            })
            .transpose()?;
        let forward = config
            .forward_http_headers()
            .iter()
            .map(|h| {
                HeaderName::try_from(h.as_str())
                    .map_err(|_| invalid("forward_http_headers", h, "not a header name".into()))
            })
            .collect::<Result<_, _>>()?;
        let additional = config
            .additional_headers()
            .map(|(k, v)| {
                let name = HeaderName::try_from(k)
                    .map_err(|_| invalid("additional_headers", k, "not a header name".into()))?;
                let value = HeaderValue::try_from(v).map_err(|_| {
                    invalid(
                        &format!("additional_headers.{k}"),
                        v,
                        "not a header value".into(),
                    )
                })?;
                Ok((name, value))
            })
            .collect::<Result<_, CompileError>>()?;
        let duration = |key: &str, text: &str| -> Result<Duration, CompileError> {
            let d = parse_duration(text).map_err(|e| invalid(key, text, e.to_string()))?;
            if d.is_zero() {
                return Err(invalid(key, text, "must be greater than zero".into()));
            }
            Ok(d)
        };
        let timeout = duration("timeout", config.timeout())?;
        let connect_timeout = duration("connect_timeout", config.connect_timeout())?;
        let cache = config.cache();
        let cache = if cache.enabled() {
            let ttl = parse_duration(cache.ttl())
                .map_err(|e| invalid("cache.ttl", cache.ttl(), e.to_string()))?;
            let max_entries = cache
                .max_entries()
                .map_err(|e| CompileError::config(family, handler, e.into()))?;
            Some(SessionCache::new(ttl, max_entries))
        } else {
            None
        };
        Ok(SessionStore {
            base,
            preserve_query: config.preserve_query(),
            preserve_path: config.preserve_path(),
            preserve_host: config.preserve_host(),
            force_method,
            forward,
            additional,
            credential,
            subject_from: config.subject_from(default_subject_from).to_owned(),
            extra_from: config.extra_from().to_owned(),
            timeout,
            client: build(connect_timeout),
            cache,
        })
    }

    /// The session-store request for `request`, encoded ([`outbound`]): the method, the scheme
    /// and authority of `check_session_url`, the original path (or the configured one) set as a
    /// path and the query set as a query, then the headers: `forward_http_headers` and the
    /// credential appended, `additional_headers` and `X-Forwarded-Host` inserted.
    fn outbound(&self, request: &OriginalRequest<'_>) -> Outbound {
        let method = match &self.force_method {
            Some(m) => m.as_str(),
            // A method token: validated when the original request was rebuilt.
            None => request.candidate.method,
        };
        let mut outbound = Outbound::start(
            method,
            self.base.scheme_str().unwrap_or_default(),
            self.base.authority().map_or("", |a| a.as_str()),
        );
        let path = if self.preserve_path {
            self.base.path()
        } else {
            request.candidate.path
        };
        let query = if self.preserve_query {
            self.base.query()
        } else {
            request.query
        }
        .filter(|q| !q.is_empty());
        outbound.path_and_query(|target| {
            if !path.starts_with('/') {
                target.push(b'/');
            }
            push_encoded(target, path, is_path_byte);
            if let Some(query) = query {
                target.push(b'?');
                push_encoded(target, query, is_query_byte);
            }
        });
        for name in self.forward.iter() {
            for value in request.headers.get_all(name) {
                outbound.header(Op::Append, name, value.as_bytes());
            }
        }
        let always = match self.credential {
            Credential::Cookie => &http::header::COOKIE,
            Credential::Authorization => &http::header::AUTHORIZATION,
        };
        if !self.forward.contains(always) {
            for value in request.headers.get_all(always) {
                outbound.header(Op::Append, always, value.as_bytes());
            }
        }
        for (name, value) in self.additional.iter() {
            outbound.header(Op::Insert, name, value.as_bytes());
        }
        if self.preserve_host {
            outbound.header(
                Op::Insert,
                &X_FORWARDED_HOST,
                request.candidate.host.as_bytes(),
            );
        }
        outbound
    }

    /// Authenticates `request` and fills the session with the store's subject and extra.
    pub async fn authenticate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        cx: &Cx<'_>,
    ) -> Result<AuthnOutcome, Denial> {
        let verdict = self.check(request, cx).await?;
        session.subject.clone_from(&verdict.subject);
        session.extra.clone_from(&verdict.extra);
        if self.cache.is_some() {
            session.rendered = Some(Arc::clone(&verdict.rendered));
        }
        Ok(AuthnOutcome::Authenticated)
    }

    /// Checks `request`'s credential: from the cache when enabled, else from the session store.
    pub async fn check(
        &self,
        request: &OriginalRequest<'_>,
        cx: &Cx<'_>,
    ) -> Result<Arc<Verdict>, Denial> {
        let outbound = self.outbound(request);
        match &self.cache {
            None => self.fetch(&outbound, cx).await.map(Arc::new),
            Some(cache) => {
                let (result, lookup) = cache
                    .get_or_fetch(outbound.key(), self.fetch(&outbound, cx))
                    .await;
                cx.metrics.session_cache(lookup == Lookup::Hit);
                if let Some(trace) = cx.trace {
                    trace.session_cache(lookup == Lookup::Hit);
                }
                result
            }
        }
    }

    async fn fetch(&self, outbound: &Outbound, cx: &Cx<'_>) -> Result<Verdict, Denial> {
        let started = Instant::now();
        let result = match outbound.to_request() {
            Ok(mut request) => match cx.trace {
                None => self.call(request).await,
                Some(trace) => {
                    // A child span of the decision, whose `traceparent` Kratos joins.
                    let span =
                        trace.store_call(&request.method, &request.uri, &mut request.headers);
                    let result = self.call(request).await;
                    let (status, error) = match &result {
                        Ok(_) => (Some(200), None),
                        Err(Failure::Status(status, _)) => (Some(status.as_u16()), None),
                        Err(Failure::Timeout) => (None, Some("timeout")),
                        Err(Failure::Unreachable(_)) => (None, Some("unreachable")),
                        Err(Failure::Invalid(_)) => (None, Some("invalid")),
                    };
                    span.finish(status, error);
                    result
                }
            },
            Err(e) => Err(Failure::Invalid(e.reason())),
        };
        let outcome = match &result {
            Ok(_) => SessionStoreOutcome::Ok,
            Err(Failure::Timeout) => SessionStoreOutcome::Timeout,
            Err(Failure::Unreachable(_)) => SessionStoreOutcome::Unreachable,
            Err(Failure::Status(..)) => SessionStoreOutcome::Status,
            Err(Failure::Invalid(_)) => SessionStoreOutcome::Invalid,
        };
        cx.metrics.session_store(outcome, started.elapsed());
        match result {
            Ok(body) => self.read(&body, SystemTime::now()),
            Err(failure) => Err(failure.into_denial()),
        }
    }

    /// Sends `outbound` as it is; a 200 body or why not.
    async fn call(&self, outbound: http::request::Parts) -> Result<Bytes, Failure> {
        let outbound = http::Request::from_parts(outbound, Empty::<Bytes>::new());
        let exchange = async {
            let response = self
                .client
                .request(outbound)
                .await
                .map_err(|e| Failure::Unreachable(e.to_string()))?;
            let status = response.status();
            if status != StatusCode::OK {
                return Err(Failure::Status(
                    status,
                    Box::new(response.headers().clone()),
                ));
            }
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| Failure::Unreachable(format!("reading the answer: {e}")))?;
            Ok(body.to_bytes())
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Failure::Timeout)?
    }

    /// Reads subject and extra from a 200 answer received at `now`; denies unless it
    /// describes a live session with a subject (see the module doc).
    fn read(&self, body: &[u8], now: SystemTime) -> Result<Verdict, Denial> {
        let document: Value = serde_json::from_slice(body).map_err(|_| {
            Denial::upstream(
                StatusCode::FORBIDDEN,
                "the session store answered 200 with a body that is not JSON",
            )
        })?;
        if document
            .get("active")
            .is_some_and(|a| a != &Value::Bool(true))
        {
            return Err(Denial::unauthorized(
                "the session store reports the session as not active",
            ));
        }
        let expires_at = match document.get("expires_at") {
            None => None,
            Some(value) => match value.as_str().and_then(cache::parse_rfc3339) {
                Some(at) if at > now => Some(at),
                Some(_) => {
                    return Err(Denial::unauthorized(
                        "the session store answered with a session that has expired",
                    ));
                }
                None => {
                    return Err(Denial::upstream(
                        StatusCode::FORBIDDEN,
                        "the session store answered an expires_at that is not an RFC 3339 timestamp",
                    ));
                }
            },
        };
        let subject = match gjson::get(&document, &self.subject_from).as_deref() {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(Denial::upstream(
                    StatusCode::FORBIDDEN,
                    "The configured subject_from GJSON path returned an error on JSON output: it is not a string",
                ));
            }
        };
        if subject.is_empty() {
            return Err(Denial::unauthorized(
                "the session store answered 200 without a subject",
            ));
        }
        let extra = match gjson::get(&document, &self.extra_from) {
            None => None,
            Some(v) if v.is_null() => None,
            Some(v) if v.is_object() => Some(Arc::new(v.into_owned())),
            Some(_) => {
                return Err(Denial::upstream(
                    StatusCode::FORBIDDEN,
                    "The configured extra_from GJSON path returned an error on JSON output: it is not an object",
                ));
            }
        };
        Ok(Verdict {
            subject,
            extra,
            expires_at,
            rendered: Arc::default(),
        })
    }
}

/// Whether `byte` stays as it is in a path: RFC 3986 `pchar` (unreserved, sub-delims, `:`,
/// `@`) and `/`. `%` is kept only as the start of a valid escape (see [`push_encoded`]).
fn is_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

/// Whether `byte` stays as it is in a query: a path byte or `?`.
fn is_query_byte(byte: u8) -> bool {
    is_path_byte(byte) || byte == b'?'
}

/// Appends `text`, keeping the bytes `keep` allows and valid `%XX` escapes as they are, and
/// percent-encoding every other byte (`?`, `#`, `\`, spaces, controls, a lone `%`, UTF-8).
fn push_encoded(out: &mut Vec<u8>, text: &str, keep: fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = text.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        let escape = byte == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if keep(byte) || escape {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
        }
    }
}

/// Why a session-store call did not return a 200 body.
enum Failure {
    Timeout,
    Unreachable(String),
    Status(StatusCode, Box<HeaderMap>),
    Invalid(&'static str),
}

impl Failure {
    fn into_denial(self) -> Denial {
        match self {
            Failure::Timeout => Denial::upstream(
                StatusCode::FORBIDDEN,
                "the session store did not answer in time",
            ),
            Failure::Unreachable(e) => Denial::upstream(
                StatusCode::FORBIDDEN,
                format!("the session store is unreachable: {e}"),
            ),
            Failure::Invalid(what) => Denial::malformed(what),
            Failure::Status(StatusCode::TOO_MANY_REQUESTS, headers) => {
                crate::pipeline::rate_limited(&headers, "the session store is rate limiting")
            }
            Failure::Status(status, _) => {
                Denial::unauthorized(format!("the session store answered {status}"))
            }
        }
    }
}

#[cfg(test)]
mod tests;
