//! The decision: rebuild the original request, find its rule, run the pipeline, answer.
//!
//! The original request is rebuilt exactly as upstream's decision API does:
//!
//! | part   | source, in order |
//! |--------|------------------|
//! | method | `X-Forwarded-Method`, the decision request's method |
//! | scheme | `X-Forwarded-Proto` (raw), `http` |
//! | host   | `X-Forwarded-Host`, `Host` (port kept) |
//! | path   | `X-Forwarded-Uri` up to `?` (as received), else the percent-decoded suffix after `/decisions` |
//! | query  | the decision request's own query |
//!
//! The path is cleaned (`..`, `//`, trailing `/`) before matching.

use std::borrow::Cow;
use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header, request::Parts};
use oathkeeper_core::candidate::{clean_path, match_url};
use oathkeeper_core::index::FindError;
use oathkeeper_core::matcher::Strategy;
use percent_encoding::percent_decode_str;

use crate::pipeline::error_handler::respond;
use crate::pipeline::{Cx, Denial, OriginalRequest, ResponseBody, Session};
use crate::snapshot::Snapshot;

/// The route prefix of the decision API.
pub const DECISIONS_PATH: &str = "/decisions";

/// What happened, for metrics and logs.
#[derive(Debug)]
pub struct Outcome {
    /// The rule that matched, if any.
    pub rule: Option<usize>,
    /// The denial, if the request was not let through.
    pub denial: Option<Denial>,
}

/// Decides on one decision request.
pub async fn decide(
    snapshot: &Snapshot,
    parts: &Parts,
    remote_ip: Option<IpAddr>,
    cx: &Cx<'_>,
) -> (Response<ResponseBody>, Outcome) {
    let headers = &parts.headers;
    let forwarded = |name: &str| headers.get(name).map(|v| v.to_str());
    let (method, scheme, host, forwarded_uri) = match (
        forwarded("x-forwarded-method").transpose(),
        forwarded("x-forwarded-proto").transpose(),
        forwarded("x-forwarded-host").transpose(),
        forwarded("x-forwarded-uri").transpose(),
    ) {
        (Ok(m), Ok(p), Ok(h), Ok(u)) => (
            m.unwrap_or(parts.method.as_str()),
            p.unwrap_or("http"),
            h.or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
                .or_else(|| parts.uri.authority().map(|a| a.as_str()))
                .unwrap_or(""),
            u,
        ),
        _ => {
            let request = fallback_request(parts, remote_ip);
            let denial = Denial::malformed("X-Forwarded-* headers must be visible ASCII");
            let response = respond(&[], &snapshot.fallback, &denial, &request);
            return (
                response,
                Outcome {
                    rule: None,
                    denial: Some(denial),
                },
            );
        }
    };
    let raw_path: Cow<'_, str> = match forwarded_uri {
        Some(uri) => Cow::Borrowed(uri.split_once('?').map_or(uri, |(p, _)| p)),
        None => {
            let suffix = parts.uri.path().strip_prefix(DECISIONS_PATH).unwrap_or("");
            percent_decode_str(suffix).decode_utf8_lossy()
        }
    };
    let path = clean_path(&raw_path);
    let request = OriginalRequest {
        method,
        scheme,
        host,
        path: &path,
        query: parts.uri.query(),
        forwarded_uri,
        headers,
        remote_ip,
    };
    let url = match_url(scheme, host, &path);
    match judge(snapshot, &request, &url, cx).await {
        Ok((position, session)) => (
            allow(session.header),
            Outcome {
                rule: Some(position),
                denial: None,
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
    let position = snapshot.index.find(request.method, url).map_err(|e| {
        let denial = match e {
            FindError::NoMatch => Denial::no_rule(),
            FindError::Ambiguous { .. } => Denial::ambiguous(),
            FindError::Match(e) => Denial::internal(e.to_string()),
        };
        (None, denial)
    })?;
    let failed = |denial: Denial| (Some(position), denial);
    let pipeline = snapshot.compiled[position]
        .pipeline
        .as_ref()
        .map_err(|reason| failed(Denial::internal(reason.clone())))?;
    let mut captures = Vec::new();
    if snapshot.strategy == Strategy::Regexp {
        let matcher = &snapshot.index.entries()[position].matcher;
        matcher
            .captures_into(url, snapshot.strategy, &mut captures)
            .map_err(|e| failed(Denial::internal(e.to_string())))?;
    }
    let session = pipeline.run(request, captures, cx).await.map_err(failed)?;
    Ok((position, session))
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
        method: parts.method.as_str(),
        scheme: "http",
        host: parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        path: "",
        query: None,
        forwarded_uri: None,
        headers: &parts.headers,
        remote_ip,
    }
}

#[cfg(test)]
mod tests;
