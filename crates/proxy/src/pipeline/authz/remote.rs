//! `remote` and `remote_json`: the decision is asked of another service (Keto, say).
//!
//! As upstream (`authorizer_remote.go`, `authorizer_remote_json.go`): `POST remote` with the
//! original request's `Authorization` when it has one, and every `headers` template rendered
//! over the authentication session (a value that renders empty is not sent). `remote_json`
//! sends `Content-Type: application/json` and the `payload` template rendered over the
//! session (`.Subject`, `.Extra`, `.MatchContext`), which must be JSON (else a 500, nothing
//! sent); `remote` sends the original request's `Content-Type`. The answer: 200 allows, and the
//! `forward_response_headers_to_upstream` it carries are set on the 200 answer to the proxy
//! (mutators run after and may overwrite them); 403 denies (403); 429 is passed on with
//! `Retry-After` and `X-Ratelimit-*` (as the session store and introspection do); anything
//! else, a transport failure or a timeout is a 500 (fail closed).
//!
//! Differs from upstream:
//! - `remote` sends an **empty body**. Upstream streams the original request's body, but a
//!   decision request carries none: Traefik's `forwardAuth`, nginx's `auth_request` and
//!   Envoy's `ext_authz` (HTTP) do not forward it, and this server reads only the decision
//!   request's head. A service that needs the body cannot get it through a forward-auth
//!   deployment with upstream either.
//! - A forwarded header absent from the answer is not set (upstream sets it empty).
//! - A rendered header value that cannot be a header (a control byte) is a 500 rather than
//!   a call with a changed value.
//! - `retry`: `max_delay` is the connect timeout and the longest pause between attempts,
//!   `give_up_after` the budget of the whole authorization, retries included; a transport
//!   failure or a 5xx is retried (at most 5 attempts, as upstream's 4 retries) while the budget
//!   lasts. Upstream's `max_delay` is multiplied by a millisecond (a unit bug: no timeout at
//!   all) and `give_up_after` is its longest pause; here every wait is bounded.
//!
//! Templates are parsed when the rule compiles (keyed by content, so an edit applies on
//! reload: upstream keys header templates by rule id, #272); a request only renders them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use oathkeeper_core::handler::{Family, KeyError, remote};

use crate::outbound::{self, Answer, CallError, Target};
use crate::pipeline::{CompileCx, CompileError, Denial, OriginalRequest, Session, TemplateView};
use crate::template::Template;

/// Largest answer body read (the answer's body is not used; a status and headers are).
const MAX_BODY: usize = 64 * 1024;
/// Shortest pause between two attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Most attempts of one authorization (upstream: 1 + 4 retries).
const MAX_ATTEMPTS: u32 = 5;

/// What upstream's `helper.ErrForbidden` says.
const FORBIDDEN: &str = "Access credentials are not sufficient to access this resource";

/// A compiled `remote` or `remote_json` authorizer.
#[derive(Debug)]
pub struct Remote {
    /// `remote` or `remote_json`.
    id: &'static str,
    client: outbound::Client,
    target: Target,
    /// `remote_json`'s payload.
    payload: Option<Arc<Template>>,
    headers: Box<[(HeaderName, Arc<Template>)]>,
    forward: Box<[HeaderName]>,
    max_delay: Duration,
    give_up_after: Duration,
}

impl Remote {
    /// Compiles authorizer `id` (`remote` or `remote_json`) from the keys they share and, for
    /// `remote_json`, its payload template.
    pub fn compile(
        id: &'static str,
        config: &remote::Config,
        payload: Option<&str>,
        cx: &mut CompileCx,
    ) -> Result<Remote, CompileError> {
        let key_error = |e: KeyError| CompileError::config(Family::Authorizer, id, e.into());
        let invalid = |key: &str, value: &str, reason: &str| {
            CompileError::invalid_key(Family::Authorizer, id, key, value, reason)
        };
        let url = config.remote().map_err(key_error)?;
        let target = Target::parse(url).map_err(|e| invalid("remote", &e.url, e.reason))?;
        let template = |cx: &mut CompileCx, name: &str, source: &str| {
            cx.template(source).map_err(|e| CompileError::Template {
                family: Family::Authorizer,
                id: id.to_owned(),
                name: name.to_owned(),
                template: source.to_owned(),
                source: Box::new(e),
            })
        };
        let payload = payload
            .map(|source| template(cx, "payload", source))
            .transpose()?;
        let headers = config
            .headers()
            .map(|(name, source)| {
                let header = HeaderName::try_from(name)
                    .map_err(|_| invalid("headers", name, "not a header name"))?;
                Ok((header, template(cx, name, source)?))
            })
            .collect::<Result<_, CompileError>>()?;
        let forward = config
            .forward_response_headers_to_upstream()
            .iter()
            .map(|name| {
                HeaderName::try_from(name.as_str()).map_err(|_| {
                    invalid(
                        "forward_response_headers_to_upstream",
                        name,
                        "not a header name",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let max_delay = config.max_delay().map_err(key_error)?;
        let give_up_after = config.give_up_after().map_err(key_error)?;
        let client = outbound::Client::shared(&outbound::Policy {
            connect_timeout: max_delay,
            timeout: give_up_after,
            max_body: MAX_BODY,
            extra_ca_files: Vec::new(),
        })
        .map_err(|e| invalid("remote", url, &e.to_string()))?;
        Ok(Remote {
            id,
            client,
            target,
            payload,
            headers,
            forward,
            max_delay,
            give_up_after,
        })
    }

    /// Asks the remote about `session`'s request: `Ok` when it answers 200 (its forwarded
    /// headers then set on the session).
    pub async fn authorize(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
    ) -> Result<(), Denial> {
        let mut headers = HeaderMap::new();
        let body = match &self.payload {
            Some(payload) => {
                let body = self.render("payload", payload, request, session)?;
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&body) {
                    return Err(Denial::internal(format!(
                        "authorizer \"{}\": the payload is not a JSON text: {e}",
                        self.id
                    )));
                }
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Bytes::from(body)
            }
            None => {
                if let Some(content_type) = request.headers.get(header::CONTENT_TYPE) {
                    headers.insert(header::CONTENT_TYPE, content_type.clone());
                }
                Bytes::new()
            }
        };
        if let Some(authorization) = request.headers.get(header::AUTHORIZATION) {
            headers.insert(header::AUTHORIZATION, authorization.clone());
        }
        for (name, template) in self.headers.iter() {
            let value = self.render(name.as_str(), template, request, session)?;
            if value.is_empty() {
                continue;
            }
            let value = HeaderValue::try_from(value).map_err(|_| {
                Denial::internal(format!(
                    "authorizer \"{}\": header {name} renders a value that is not a header value",
                    self.id
                ))
            })?;
            headers.insert(name.clone(), value);
        }
        let answer = self
            .send(&headers, body)
            .await
            .map_err(|e| Denial::upstream(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        match answer.status {
            StatusCode::OK => {
                for name in self.forward.iter() {
                    if let Some(value) = answer.headers.get(name) {
                        session.header.insert(name.clone(), value.clone());
                    }
                }
                Ok(())
            }
            StatusCode::FORBIDDEN => Err(Denial::forbidden(FORBIDDEN)),
            StatusCode::TOO_MANY_REQUESTS => Err(crate::pipeline::rate_limited(
                &answer.headers,
                "the remote authorizer is rate limiting",
            )),
            status => Err(Denial::upstream(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "authorizer \"{}\": expected status code 200 but got {}",
                    self.id,
                    status.as_u16()
                ),
            )),
        }
    }

    /// Renders `template` over the session.
    fn render(
        &self,
        name: &str,
        template: &Template,
        request: &OriginalRequest<'_>,
        session: &Session,
    ) -> Result<String, Denial> {
        let mut out = String::new();
        template
            .render(&TemplateView::new(session, request), &mut out)
            .map_err(|e| Denial::internal(format!("authorizer \"{}\": {name}: {e}", self.id)))?;
        Ok(out)
    }

    /// `POST remote` until an answer that is not a 5xx, retrying transport failures and 5xx
    /// answers while the budget and the attempts last.
    async fn send(&self, headers: &HeaderMap, body: Bytes) -> Result<Answer, CallError> {
        let policy = outbound::RetryPolicy {
            first_pause: FIRST_BACKOFF,
            max_delay: self.max_delay,
            give_up_after: self.give_up_after,
            max_attempts: MAX_ATTEMPTS,
            retries: outbound::server_error_or_transport,
        };
        self.client
            .post_retrying(
                &self.target,
                self.target.uri(),
                headers,
                body,
                &policy,
                Instant::now() + self.give_up_after,
            )
            .await
    }
}
