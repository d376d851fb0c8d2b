//! `when`: the conditions under which an error handler is responsible, in every error
//! handler's config.
//!
//! A list of clauses combined with OR; an empty list is always responsible. Within a clause,
//! `error` (an OR-list of error names) and `request` must both hold. Lists replace each other
//! whole when configs merge, so the fields here need no "unset" state beyond empty.

use serde::{Deserialize, Serialize};

/// One clause.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// Error names, e.g. `unauthorized` (empty: any error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<String>,
    /// Request conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
}

/// `request`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Header conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Header>,
    /// Client address conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<RemoteIp>,
}

/// `request.header`: media types, wildcards allowed (`text/*`, `*/*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Types the request's `Accept` must list one of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
    /// Types the request's `Content-Type` must be one of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_type: Vec<String>,
}

/// `request.remote_ip`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteIp {
    /// Networks (CIDR) or addresses the client must be in.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// Also look at `X-Forwarded-For`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub respect_forwarded_for_header: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Clause {
    /// A clause on error names only.
    pub fn errors<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Clause {
        Clause {
            error: names.into_iter().map(Into::into).collect(),
            request: None,
        }
    }

    /// This clause, also requiring the request to accept one of `types`.
    pub fn accepting<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Clause {
        let request = self.request.get_or_insert_with(Request::default);
        request
            .header
            .get_or_insert_with(Header::default)
            .accept
            .extend(types.into_iter().map(Into::into));
        self
    }

    /// The `accept` types.
    pub fn accept(&self) -> &[String] {
        self.header().map_or(&[], |h| &h.accept)
    }

    /// The `content_type` types.
    pub fn content_type(&self) -> &[String] {
        self.header().map_or(&[], |h| &h.content_type)
    }

    /// The `remote_ip` condition.
    pub fn remote_ip(&self) -> Option<&RemoteIp> {
        self.request.as_ref()?.remote_ip.as_ref()
    }

    fn header(&self) -> Option<&Header> {
        self.request.as_ref()?.header.as_ref()
    }
}
