//! `when`: the conditions under which an error handler is responsible.
//!
//! A list of clauses combined with OR; an empty list is always responsible. Within a clause,
//! `error` (an OR-list of error names) and `request` must both hold. Media types in
//! `request.header.accept` / `content_type` may use wildcards (`text/*`, `*/*`); the request's
//! own wildcards are taken literally, as upstream (#323): a browser's `*/*` does not match a
//! `text/html` condition.

use std::net::IpAddr;

use http::{HeaderName, header};
use ipnet::IpNet;
use oathkeeper_core::handler::Family;
use oathkeeper_core::handler::when::Clause as ClauseConfig;

use crate::pipeline::{CompileError, Denial, OriginalRequest};

/// Compiled `when`.
#[derive(Debug, Clone, Default)]
pub struct When {
    clauses: Box<[Clause]>,
}

#[derive(Debug, Clone)]
struct Clause {
    errors: Box<[String]>,
    accept: Box<[MediaType]>,
    content_type: Box<[MediaType]>,
    networks: Box<[IpNet]>,
    respect_forwarded_for: bool,
}

/// A `type/subtype` pattern, lower case.
#[derive(Debug, Clone, PartialEq)]
struct MediaType {
    main: String,
    sub: String,
}

impl MediaType {
    /// A pattern from the config: its essence, lower case.
    fn parse(text: &str) -> Option<MediaType> {
        let (main, sub) = essence(text)?;
        Some(MediaType {
            main: main.to_ascii_lowercase(),
            sub: sub.to_ascii_lowercase(),
        })
    }

    /// Whether this pattern (wildcards allowed) matches the essence `main/sub` of a request's
    /// type (wildcards literal, any case).
    fn matches(&self, (main, sub): (&str, &str)) -> bool {
        (self.main == "*" || self.main.eq_ignore_ascii_case(main))
            && (self.sub == "*" || self.sub.eq_ignore_ascii_case(sub))
    }
}

/// The `type/subtype` of a media type, parameters and surrounding ASCII whitespace dropped, as written (a request's types are read per request: nothing is
/// copied).
fn essence(text: &str) -> Option<(&str, &str)> {
    let end = text.bytes().position(|b| b == b';').unwrap_or(text.len());
    let essence = text[..end].trim_ascii();
    let slash = essence.bytes().position(|b| b == b'/')?;
    let (main, sub) = (&essence[..slash], &essence[slash + 1..]);
    (!main.is_empty() && !sub.is_empty()).then_some((main, sub))
}

const DEFAULT_MEDIA_TYPE: &str = "application/octet-stream";

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

impl When {
    /// Compiles the wire clauses of error handler `handler`.
    pub fn compile(handler: &str, clauses: &[ClauseConfig]) -> Result<When, CompileError> {
        let invalid = |key: &str, value: &str, reason: &str| {
            CompileError::invalid_key(Family::ErrorHandler, handler, key, value, reason)
        };
        let media = |key: &str, list: &[String]| -> Result<Box<[MediaType]>, CompileError> {
            list.iter()
                .map(|t| MediaType::parse(t).ok_or_else(|| invalid(key, t, "not a media type")))
                .collect()
        };
        let clauses = clauses
            .iter()
            .map(|c| {
                let remote = c.remote_ip();
                let networks = remote
                    .into_iter()
                    .flat_map(|r| r.networks.iter())
                    .map(|n| {
                        parse_network(n).ok_or_else(|| {
                            invalid("when.request.remote_ip.match", n, "not a network")
                        })
                    })
                    .collect::<Result<_, CompileError>>()?;
                Ok(Clause {
                    errors: c.error.clone().into_boxed_slice(),
                    accept: media("when.request.header.accept", c.accept())?,
                    content_type: media("when.request.header.content_type", c.content_type())?,
                    networks,
                    respect_forwarded_for: remote.is_some_and(|r| r.respect_forwarded_for_header),
                })
            })
            .collect::<Result<_, CompileError>>()?;
        Ok(When { clauses })
    }

    /// Whether the handler is responsible for `denial` on `request`.
    pub fn matches(&self, denial: &Denial, request: &OriginalRequest<'_>) -> bool {
        self.clauses.is_empty() || self.clauses.iter().any(|c| c.matches(denial, request))
    }
}

impl Clause {
    fn matches(&self, denial: &Denial, request: &OriginalRequest<'_>) -> bool {
        if !self.errors.is_empty() && !self.errors.iter().any(|e| e == denial.error_name()) {
            return false;
        }
        if !self.accept.is_empty()
            && !media_matches(&self.accept, header_text(request, &header::ACCEPT))
        {
            return false;
        }
        if !self.content_type.is_empty() {
            // Content-Type is one type: a comma is not a list separator there.
            let Some(actual) = essence(header_text(request, &header::CONTENT_TYPE)) else {
                return false;
            };
            if !self.content_type.iter().any(|p| p.matches(actual)) {
                return false;
            }
        }
        if !self.networks.is_empty() && !self.ip_matches(request) {
            return false;
        }
        true
    }

    fn ip_matches(&self, request: &OriginalRequest<'_>) -> bool {
        let in_networks = |ip: IpAddr| self.networks.iter().any(|n| n.contains(&ip));
        if request.remote_ip.is_some_and(in_networks) {
            return true;
        }
        self.respect_forwarded_for
            && request.headers.get_all(X_FORWARDED_FOR).iter().any(|v| {
                v.to_str().is_ok_and(|list| {
                    list.split(',')
                        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                        .any(in_networks)
                })
            })
    }
}

/// Whether any type of an `Accept` list matches any pattern.
fn media_matches(patterns: &[MediaType], accept: &str) -> bool {
    accept
        .split(',')
        .filter_map(essence)
        .any(|actual| patterns.iter().any(|p| p.matches(actual)))
}

/// The first value of header `name` as text, or [`DEFAULT_MEDIA_TYPE`] when it is absent or
/// not text.
fn header_text<'r>(request: &'r OriginalRequest<'_>, name: &HeaderName) -> &'r str {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(DEFAULT_MEDIA_TYPE)
}

/// A CIDR, or a bare address as a one-address network.
fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}
