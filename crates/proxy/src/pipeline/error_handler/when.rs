//! `when`: the conditions under which an error handler is responsible.
//!
//! A list of clauses combined with OR; an empty list is always responsible. Within a clause,
//! `error` (an OR-list of error names) and `request` must both hold. Media types in
//! `request.header.accept` / `content_type` may use wildcards (`text/*`, `*/*`); the request's
//! own wildcards are taken literally, as upstream (#323): a browser's `*/*` does not match a
//! `text/html` condition.

use std::net::IpAddr;

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
    fn parse(text: &str) -> Option<MediaType> {
        let essence = text.split(';').next()?.trim().to_ascii_lowercase();
        let (main, sub) = essence.split_once('/')?;
        if main.is_empty() || sub.is_empty() {
            return None;
        }
        Some(MediaType {
            main: main.to_owned(),
            sub: sub.to_owned(),
        })
    }

    /// Whether this pattern (wildcards allowed) matches `text` (wildcards literal).
    fn matches(&self, main: &str, sub: &str) -> bool {
        (self.main == "*" || self.main.eq_ignore_ascii_case(main))
            && (self.sub == "*" || self.sub.eq_ignore_ascii_case(sub))
    }
}

const DEFAULT_MEDIA_TYPE: &str = "application/octet-stream";

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
            && !media_matches(
                &self.accept,
                request.header("accept").unwrap_or(DEFAULT_MEDIA_TYPE),
            )
        {
            return false;
        }
        if !self.content_type.is_empty() {
            let ct = request.header("content-type").unwrap_or(DEFAULT_MEDIA_TYPE);
            // Content-Type is one type: a comma is not a list separator there.
            let Some(actual) = MediaType::parse(ct) else {
                return false;
            };
            if !self
                .content_type
                .iter()
                .any(|p| p.matches(&actual.main, &actual.sub))
            {
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
            && request.headers.get_all("x-forwarded-for").iter().any(|v| {
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
        .filter_map(MediaType::parse)
        .any(|actual| {
            patterns
                .iter()
                .any(|p| p.matches(&actual.main, &actual.sub))
        })
}

/// A CIDR, or a bare address as a one-address network.
fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}
