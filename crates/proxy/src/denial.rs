//! Denials: why a request is not let through, as data.
//!
//! Every failure on the request path becomes a [`Denial`] with a [`Kind`] (a metric label),
//! the HTTP status upstream would give, and a reason shown only to operators (logs, verbose
//! JSON). Common denials carry `&'static str` reasons and allocate nothing.

use std::borrow::Cow;

use http::{HeaderMap, StatusCode};

/// What kind of denial this is (metric label `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No authenticator accepted the credentials (401).
    Authentication,
    /// The authorizer refused (403).
    Authorization,
    /// No rule matches the URL (404).
    NoRule,
    /// More than one rule matches the URL (500).
    AmbiguousRule,
    /// The request cannot be understood (400).
    MalformedRequest,
    /// A service we call failed or refused (403, 429 or 500 as upstream maps it).
    UpstreamFailure,
    /// Our own configuration or a bug (500).
    Internal,
}

impl Kind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Authentication => "authentication",
            Kind::Authorization => "authorization",
            Kind::NoRule => "no_rule",
            Kind::AmbiguousRule => "ambiguous_rule",
            Kind::MalformedRequest => "malformed_request",
            Kind::UpstreamFailure => "upstream_failure",
            Kind::Internal => "internal",
        }
    }
}

/// A request that is not let through.
#[derive(Debug, Clone)]
pub struct Denial {
    /// The kind.
    pub kind: Kind,
    /// The status the error carries (the `json` handler answers with it).
    pub status: StatusCode,
    /// Why, for operators.
    pub reason: Cow<'static, str>,
    /// Headers to pass on (`Retry-After`, `X-Ratelimit-*` on 429).
    pub headers: Option<Box<HeaderMap>>,
}

impl Denial {
    fn new(kind: Kind, status: StatusCode, reason: impl Into<Cow<'static, str>>) -> Denial {
        Denial {
            kind,
            status,
            reason: reason.into(),
            headers: None,
        }
    }

    /// 401: credentials missing or invalid.
    pub fn unauthorized(reason: impl Into<Cow<'static, str>>) -> Denial {
        Denial::new(Kind::Authentication, StatusCode::UNAUTHORIZED, reason)
    }

    /// 403: the authorizer refused.
    pub fn forbidden(reason: impl Into<Cow<'static, str>>) -> Denial {
        Denial::new(Kind::Authorization, StatusCode::FORBIDDEN, reason)
    }

    /// 404: no rule matches.
    pub fn no_rule() -> Denial {
        Denial::new(
            Kind::NoRule,
            StatusCode::NOT_FOUND,
            "Requested url does not match any rules",
        )
    }

    /// 500: several rules match.
    pub fn ambiguous() -> Denial {
        Denial::new(
            Kind::AmbiguousRule,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Expected exactly one rule but found multiple rules",
        )
    }

    /// 400: the request cannot be read.
    pub fn malformed(reason: impl Into<Cow<'static, str>>) -> Denial {
        Denial::new(Kind::MalformedRequest, StatusCode::BAD_REQUEST, reason)
    }

    /// A failure of a service we call, with the status upstream gives it.
    pub fn upstream(status: StatusCode, reason: impl Into<Cow<'static, str>>) -> Denial {
        Denial::new(Kind::UpstreamFailure, status, reason)
    }

    /// 500: misconfiguration or a bug.
    pub fn internal(reason: impl Into<Cow<'static, str>>) -> Denial {
        Denial::new(Kind::Internal, StatusCode::INTERNAL_SERVER_ERROR, reason)
    }

    /// The error name error-handler `when.error` lists use: the lower-case status text with
    /// `_` for spaces (`unauthorized`, `forbidden`, `not_found`, `internal_server_error`).
    pub fn error_name(&self) -> &'static str {
        match self.status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
            StatusCode::GATEWAY_TIMEOUT => "gateway_timeout",
            _ => "internal_server_error",
        }
    }
}
