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
//! The cache key is computed from the very request value that is sent (see
//! [`crate::session_cache`]), so the cache never answers for a request the store did not see.
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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty, Limited};
use oathkeeper_core::duration::parse_duration;
use oathkeeper_core::gjson;
use serde::Deserialize;
use serde_json::Value;

use crate::http::client::{OutboundClient, build};
use crate::metrics::SessionStoreOutcome;
use crate::pipeline::{Cx, Denial, OriginalRequest, Session};

use super::AuthnOutcome;
use crate::session_cache::{self, Lookup, SessionCache, Verdict};

/// Largest session-store answer read.
const MAX_BODY: usize = 1 << 20;

/// Wire config of both authenticators (family-specific keys are checked by each).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The session store, e.g. `http://kratos:4433/sessions/whoami`. Required.
    pub check_session_url: Option<String>,
    /// `cookie_session` only: the cookies that make it responsible.
    #[serde(default)]
    pub only: Option<Vec<String>>,
    /// `bearer_token` only: where the token is.
    #[serde(default)]
    pub token_from: Option<TokenFrom>,
    /// `bearer_token` only: the token must start with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Keep `check_session_url`'s query (default true).
    #[serde(default = "yes")]
    pub preserve_query: bool,
    /// Keep `check_session_url`'s path (default false: the original path replaces it).
    #[serde(default)]
    pub preserve_path: bool,
    /// Send `X-Forwarded-Host: <original host>`.
    #[serde(default)]
    pub preserve_host: bool,
    /// Method of the session-store call (default: the original method).
    #[serde(default)]
    pub force_method: Option<String>,
    /// Request headers forwarded to the session store.
    #[serde(default)]
    pub forward_http_headers: Vec<String>,
    /// Headers set on the session-store call.
    #[serde(default)]
    pub additional_headers: BTreeMap<String, String>,
    /// GJSON path of the extra data.
    #[serde(default)]
    pub extra_from: Option<String>,
    /// GJSON path of the subject.
    #[serde(default)]
    pub subject_from: Option<String>,
    /// Whole-call timeout, a Go duration (default 5s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Connect timeout, a Go duration (default 1s).
    #[serde(default)]
    pub connect_timeout: Option<String>,
    /// The session cache.
    #[serde(default)]
    pub cache: session_cache::Config,
}

/// `bearer_token.token_from`: exactly one of the three.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenFrom {
    /// A request header holding the whole token.
    #[serde(default)]
    pub header: Option<String>,
    /// A query parameter of the original request.
    #[serde(default)]
    pub query_parameter: Option<String>,
    /// A cookie.
    #[serde(default)]
    pub cookie: Option<String>,
}

fn yes() -> bool {
    true
}

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
    ) -> Result<SessionStore, String> {
        let bad = |what: String| format!("authenticator \"{handler}\": {what}");
        let url = config
            .check_session_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| bad("check_session_url is required".into()))?;
        let base: Uri = url
            .parse()
            .map_err(|e| bad(format!("invalid check_session_url \"{url}\": {e}")))?;
        if !matches!(base.scheme_str(), Some("http" | "https")) || base.authority().is_none() {
            return Err(bad(format!(
                "check_session_url \"{url}\" must be an absolute http(s) URL"
            )));
        }
        let force_method = config
            .force_method
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(|m| {
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| bad(format!("invalid force_method \"{m}\"")))
            })
            .transpose()?;
        let forward = config
            .forward_http_headers
            .iter()
            .map(|h| {
                HeaderName::try_from(h.as_str()).map_err(|_| {
                    bad(format!(
                        "invalid header name \"{h}\" in forward_http_headers"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let additional = config
            .additional_headers
            .iter()
            .map(|(k, v)| {
                let name = HeaderName::try_from(k.as_str()).map_err(|_| {
                    bad(format!("invalid header name \"{k}\" in additional_headers"))
                })?;
                let value = HeaderValue::try_from(v.as_str())
                    .map_err(|_| bad(format!("invalid value of additional header \"{k}\"")))?;
                Ok((name, value))
            })
            .collect::<Result<_, String>>()?;
        let duration =
            |text: Option<&str>, default: Duration, key: &str| -> Result<Duration, String> {
                match text {
                    None => Ok(default),
                    Some(t) => parse_duration(t).map_err(|e| bad(format!("{key}: {e}"))),
                }
            };
        let timeout = duration(config.timeout.as_deref(), Duration::from_secs(5), "timeout")?;
        let connect_timeout = duration(
            config.connect_timeout.as_deref(),
            Duration::from_secs(1),
            "connect_timeout",
        )?;
        if timeout.is_zero() || connect_timeout.is_zero() {
            return Err(bad("timeouts must be greater than zero".into()));
        }
        let cache = if config.cache.enabled {
            let ttl =
                parse_duration(&config.cache.ttl).map_err(|e| bad(format!("cache.ttl: {e}")))?;
            if config.cache.max_entries == 0 {
                return Err(bad("cache.max_entries must be greater than zero".into()));
            }
            Some(SessionCache::new(ttl, config.cache.max_entries))
        } else {
            None
        };
        Ok(SessionStore {
            base,
            preserve_query: config.preserve_query,
            preserve_path: config.preserve_path,
            preserve_host: config.preserve_host,
            force_method,
            forward,
            additional,
            credential,
            subject_from: config
                .subject_from
                .clone()
                .unwrap_or_else(|| default_subject_from.to_owned()),
            extra_from: config
                .extra_from
                .clone()
                .unwrap_or_else(|| "extra".to_owned()),
            timeout,
            client: build(connect_timeout),
            cache,
        })
    }

    /// The session-store URL for `request`: scheme and authority of `check_session_url`, the
    /// original path (or the configured one) set as a path, the query set as a query.
    fn uri(&self, request: &OriginalRequest<'_>) -> Result<Uri, Failure> {
        let path = if self.preserve_path {
            self.base.path()
        } else {
            request.path
        };
        let query = if self.preserve_query {
            self.base.query()
        } else {
            request.query
        }
        .filter(|q| !q.is_empty());
        let mut target = String::with_capacity(path.len() + query.map_or(0, str::len) + 2);
        if !path.starts_with('/') {
            target.push('/');
        }
        push_encoded(&mut target, path, is_path_byte);
        if let Some(query) = query {
            target.push('?');
            push_encoded(&mut target, query, is_query_byte);
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = self.base.scheme().cloned();
        parts.authority = self.base.authority().cloned();
        parts.path_and_query = Some(
            PathAndQuery::try_from(target)
                .map_err(|_| Failure::Invalid("invalid session-store URL"))?,
        );
        Uri::from_parts(parts).map_err(|_| Failure::Invalid("invalid session-store URL"))
    }

    /// The session-store request for `request`, without its (empty) body: what is sent and
    /// what the cache key is computed from.
    fn outbound(&self, request: &OriginalRequest<'_>) -> Result<http::request::Parts, Failure> {
        let (mut outbound, ()) = http::Request::new(()).into_parts();
        outbound.method = match &self.force_method {
            Some(m) => m.clone(),
            None => Method::from_bytes(request.method.as_bytes())
                .map_err(|_| Failure::Invalid("the original method is not a valid method"))?,
        };
        outbound.uri = self.uri(request)?;
        let headers = &mut outbound.headers;
        for name in self.forward.iter() {
            for value in request.headers.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let always = match self.credential {
            Credential::Cookie => http::header::COOKIE,
            Credential::Authorization => http::header::AUTHORIZATION,
        };
        if !self.forward.contains(&always) {
            for value in request.headers.get_all(&always) {
                headers.append(always.clone(), value.clone());
            }
        }
        for (name, value) in self.additional.iter() {
            headers.insert(name.clone(), value.clone());
        }
        if self.preserve_host {
            let host = HeaderValue::from_str(request.host)
                .map_err(|_| Failure::Invalid("invalid host"))?;
            headers.insert(HeaderName::from_static("x-forwarded-host"), host);
        }
        Ok(outbound)
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
        Ok(AuthnOutcome::Authenticated)
    }

    /// Checks `request`'s credential: from the cache when enabled, else from the session store.
    pub async fn check(
        &self,
        request: &OriginalRequest<'_>,
        cx: &Cx<'_>,
    ) -> Result<Arc<Verdict>, Denial> {
        let outbound = match self.outbound(request) {
            Ok(outbound) => outbound,
            Err(failure) => {
                cx.metrics
                    .session_store(SessionStoreOutcome::Invalid, Duration::ZERO);
                return Err(failure.into_denial());
            }
        };
        match &self.cache {
            None => self.fetch(outbound, cx).await.map(Arc::new),
            Some(cache) => {
                let key = session_cache::key(&outbound);
                let (result, lookup) = cache.get_or_fetch(key, self.fetch(outbound, cx)).await;
                cx.metrics.session_cache(lookup == Lookup::Hit);
                result
            }
        }
    }

    async fn fetch(&self, outbound: http::request::Parts, cx: &Cx<'_>) -> Result<Verdict, Denial> {
        let started = Instant::now();
        let result = self.call(outbound).await;
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
            Some(value) => match value.as_str().and_then(session_cache::parse_rfc3339) {
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
fn push_encoded(out: &mut String, text: &str, keep: fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = text.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        let escape = byte == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if keep(byte) || escape {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
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
                let mut passed = HeaderMap::new();
                for (name, value) in headers.iter() {
                    if name == http::header::RETRY_AFTER
                        || name.as_str().starts_with("x-ratelimit-")
                    {
                        passed.append(name.clone(), value.clone());
                    }
                }
                let mut denial = Denial::upstream(
                    StatusCode::TOO_MANY_REQUESTS,
                    "the session store is rate limiting",
                );
                denial.headers = Some(Box::new(passed));
                denial
            }
            Failure::Status(status, _) => {
                Denial::unauthorized(format!("the session store answered {status}"))
            }
        }
    }
}

#[cfg(test)]
mod tests;
