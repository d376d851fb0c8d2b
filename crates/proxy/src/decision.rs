//! The decision: rebuild the original request, find its rule, run the pipeline, answer.
//!
//! The original request is rebuilt as upstream's decision API does (table in
//! [`oathkeeper_core::candidate::rebuild`]), except that the path is taken **raw**, exactly as the
//! proxy forwards it to the app, and any part that is not in canonical form (a dot or empty
//! segment, an encoded separator, a host with a `/`, ...) is refused with a 400 before any rule is
//! looked at: the decision is never made on a repaired copy of what the app receives. An
//! `X-Forwarded-*` header sent more than once is refused too: the proxy and the app could read
//! different copies.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header, request::Parts};
use oathkeeper_core::candidate::{Candidate, Forwarded, match_url, rebuild};
use oathkeeper_core::matcher::Strategy;

use crate::matching::Matching;
use crate::pipeline::error_handler::respond;
use crate::pipeline::{Cx, Denial, OriginalRequest, ResponseBody, Session};
use crate::snapshot::Snapshot;

/// The route prefix of the decision API.
pub const DECISIONS_PATH: &str = "/decisions";

/// The forwarded headers a decision reads; each may appear at most once. Prebuilt names: a
/// lookup by `&str` would parse the name on every request.
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");

/// What happened, for metrics and the audit log.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The rule that matched, if any.
    pub rule: Option<usize>,
    /// The denial, if the request was not let through.
    pub denial: Option<Denial>,
    /// The original method; empty when the forwarded parts were refused.
    pub method: &'a str,
    /// The URL the rules were matched against (`scheme://host/path`, query dropped); empty when
    /// the forwarded parts were refused.
    pub url: String,
    /// Who the request was let through as (the authenticated subject); empty otherwise.
    pub subject: String,
}

/// Decides on one decision request.
pub async fn decide<'a>(
    snapshot: &Snapshot,
    parts: &'a Parts,
    remote_ip: Option<IpAddr>,
    cx: &Cx<'_>,
) -> (Response<ResponseBody>, Outcome<'a>) {
    let headers = &parts.headers;
    let candidate = candidate(parts);
    let candidate = match candidate {
        Ok(candidate) => candidate,
        Err(denial) => {
            let request = fallback_request(parts, remote_ip);
            let response = respond(&[], &snapshot.fallback, &denial, &request);
            return (
                response,
                Outcome {
                    rule: None,
                    denial: Some(denial),
                    method: "",
                    url: String::new(),
                    subject: String::new(),
                },
            );
        }
    };
    let request = OriginalRequest {
        candidate,
        query: parts.uri.query(),
        headers,
        remote_ip,
    };
    let url = match_url(candidate.scheme, candidate.host, candidate.path);
    let method = candidate.method;
    match judge(snapshot, &request, &url, cx).await {
        Ok((position, session)) => (
            allow(session.header),
            Outcome {
                rule: Some(position),
                denial: None,
                method,
                url,
                subject: session.subject,
            },
        ),
        Err((rule, denial)) => {
            let errors = rule.map_or(&[][..], |p| &snapshot.compiled[p].errors[..]);
            let response = respond(errors, &snapshot.fallback, &denial, &request);
            (
                response,
                Outcome {
                    rule,
                    denial: Some(denial),
                    method,
                    url,
                    subject: String::new(),
                },
            )
        }
    }
}

/// Finds the rule and runs its pipeline: the rule and session, or the rule (if one matched)
/// and the denial.
async fn judge(
    snapshot: &Snapshot,
    request: &OriginalRequest<'_>,
    url: &str,
    cx: &Cx<'_>,
) -> Result<(usize, Session), (Option<usize>, Denial)> {
    // Inline when cheap; a backtracking match that needs more runs off the async workers.
    let matching = Matching::shared();
    let position = matching
        .find(&snapshot.index, request.candidate.method, url)
        .await
        .map_err(|denial| (None, denial))?;
    let failed = |denial: Denial| (Some(position), denial);
    let pipeline = snapshot.compiled[position]
        .pipeline
        .as_ref()
        .map_err(|error| failed(Denial::internal(error.to_string())))?;
    let mut captures = Vec::new();
    if snapshot.strategy == Strategy::Regexp {
        let matcher = &snapshot.index.entries()[position].matcher;
        captures = matching
            .captures(matcher, url, snapshot.strategy)
            .await
            .map_err(failed)?;
    }
    let session = pipeline.run(request, captures, cx).await.map_err(failed)?;
    Ok((position, session))
}

/// Rebuilds the original request from the decision request's parts.
fn candidate(parts: &Parts) -> Result<Candidate<'_>, Denial> {
    let headers = &parts.headers;
    rebuild(&Forwarded {
        method: forwarded(headers, &X_FORWARDED_METHOD)?,
        proto: forwarded(headers, &X_FORWARDED_PROTO)?,
        host: forwarded(headers, &X_FORWARDED_HOST)?,
        uri: forwarded(headers, &X_FORWARDED_URI)?,
        request_method: parts.method.as_str(),
        request_host: headers
            .get(header::HOST)
            .map(HeaderValue::as_bytes)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().as_bytes())),
        suffix: parts.uri.path().strip_prefix(DECISIONS_PATH).unwrap_or(""),
    })
    .map_err(|refusal| Denial::malformed(refusal.to_string()))
}

/// The one value of a forwarded header, as bytes; refused when it comes more than once (the
/// proxy and the app could read different copies).
fn forwarded<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a [u8]>, Denial> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().map(HeaderValue::as_bytes);
    match values.next() {
        None => Ok(first),
        Some(_) => Err(Denial::malformed(
            "an X-Forwarded-* header was sent more than once",
        )),
    }
}

/// 200 with the session headers, never `Content-Length` (upstream #422).
fn allow(mut headers: HeaderMap) -> Response<ResponseBody> {
    headers.remove(header::CONTENT_LENGTH);
    let mut response = Response::new(ResponseBody::from(Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    *response.headers_mut() = headers;
    response
}

/// The request as far as it can be read when the forwarded headers are unreadable.
fn fallback_request(parts: &Parts, remote_ip: Option<IpAddr>) -> OriginalRequest<'_> {
    OriginalRequest {
        candidate: Candidate {
            method: parts.method.as_str(),
            scheme: "http",
            host: parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            path: "",
            forwarded_uri: None,
        },
        query: None,
        headers: &parts.headers,
        remote_ip,
    }
}

#[cfg(test)]
mod tests;
