//! The decision: rebuild the original request, find its rule, run the pipeline, answer.
//!
//! The original request is rebuilt as upstream's decision API does (table in
//! [`oathkeeper_core::candidate::rebuild`]), except that the path is taken **raw**, exactly as the
//! proxy forwards it to the app, and any part that is not in canonical form (a dot or empty
//! segment, an encoded separator, a host with a `/`, ...) is refused with a 400 before any rule is
//! looked at: the decision is never made on a repaired copy of what the app receives. An
//! `X-Forwarded-*` header sent more than once is refused too: the proxy and the app could read
//! different copies. Without `X-Forwarded-Proto` the scheme is the decision request's own:
//! `https` when its connection is TLS ([`Peer::tls`]), as upstream.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header, request::Parts};
use oathkeeper_core::candidate::{Candidate, Forwarded, connection_scheme, match_url, rebuild};
use oathkeeper_core::matcher::Strategy;

use crate::matching::Matching;
use crate::pipeline::error_handler::{json::json_error, respond};
use crate::pipeline::{Cx, Denial, OriginalRequest, ResponseBody, Session};
use crate::snapshot::Snapshot;

/// The route prefix of the decision API.
pub const DECISIONS_PATH: &str = "/decisions";

/// What the decision request's connection says, known once per connection: copied into each
/// request, it costs a request nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peer {
    /// The peer's address.
    pub ip: Option<IpAddr>,
    /// Whether the connection is TLS: the original request's scheme is then `https` when no
    /// `X-Forwarded-Proto` is sent.
    pub tls: bool,
}

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
    peer: Peer,
    cx: &Cx<'_>,
) -> (Response<ResponseBody>, Outcome<'a>) {
    let headers = &parts.headers;
    let candidate = candidate(parts, peer.tls);
    let candidate = match candidate {
        Ok(candidate) => candidate,
        Err(denial) => {
            let request = fallback_request(parts, peer);
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
        remote_ip: peer.ip,
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
            // The rule's error handlers answer every failure, the internal ones included (a
            // step that cannot run), as upstream; error handlers that cannot be built are a 500.
            let errors = rule.map_or(Ok(&[][..]), |p| snapshot.compiled[p].errors.as_deref());
            let response = match errors {
                Ok(errors) => respond(errors, &snapshot.fallback, &denial, &request),
                Err(broken) => {
                    tracing::warn!(reason = broken.reason(), "no error handler could answer");
                    json_error(&broken.denial(), false)
                }
            };
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
    let pipeline = &snapshot.compiled[position].pipeline;
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

/// Rebuilds the original request from the decision request's parts; `tls` says whether it came
/// over TLS.
fn candidate(parts: &Parts, tls: bool) -> Result<Candidate<'_>, Denial> {
    let read = read_headers(&parts.headers)?;
    rebuild(&Forwarded {
        method: read.forwarded[METHOD],
        proto: read.forwarded[PROTO],
        host: read.forwarded[HOST],
        uri: read.forwarded[URI],
        request_method: parts.method.as_str(),
        request_host: read
            .host
            .or_else(|| parts.uri.authority().map(|a| a.as_str().as_bytes())),
        suffix: parts.uri.path().strip_prefix(DECISIONS_PATH).unwrap_or(""),
        tls,
    })
    .map_err(|refusal| Denial::malformed(refusal.to_string()))
}

/// Slots of the forwarded headers in [`ReadHeaders::forwarded`].
const METHOD: usize = 0;
const PROTO: usize = 1;
const HOST: usize = 2;
const URI: usize = 3;

/// The headers a rebuild reads, as bytes.
struct ReadHeaders<'a> {
    /// `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`.
    forwarded: [Option<&'a [u8]>; 4],
    /// The first `Host`.
    host: Option<&'a [u8]>,
}

/// Reads the forwarded headers and `Host` in one pass over the request's headers (four hashed
/// lookups cost more than comparing the few names a decision request has). A forwarded header
/// that comes more than once is refused: the proxy and the app could read different copies.
fn read_headers(headers: &HeaderMap) -> Result<ReadHeaders<'_>, Denial> {
    let mut read = ReadHeaders {
        forwarded: [None; 4],
        host: None,
    };
    for (name, value) in headers {
        if let Some(which) = name.as_str().strip_prefix("x-forwarded-") {
            let slot = match which {
                "method" => METHOD,
                "proto" => PROTO,
                "host" => HOST,
                "uri" => URI,
                _ => continue,
            };
            if read.forwarded[slot].replace(value.as_bytes()).is_some() {
                return Err(Denial::malformed(
                    "an X-Forwarded-* header was sent more than once",
                ));
            }
        } else if read.host.is_none() && name == header::HOST {
            read.host = Some(value.as_bytes());
        }
    }
    Ok(read)
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
fn fallback_request(parts: &Parts, peer: Peer) -> OriginalRequest<'_> {
    OriginalRequest {
        candidate: Candidate {
            method: parts.method.as_str(),
            scheme: connection_scheme(peer.tls),
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
        remote_ip: peer.ip,
    }
}

#[cfg(test)]
mod tests;
