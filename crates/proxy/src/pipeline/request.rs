//! The original request, rebuilt from the decision request, and the authentication session.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use http::HeaderMap;
use oathkeeper_core::candidate::Candidate;
use serde_json::Value;

use crate::template::{Data, Value as TValue};

/// The request a decision is about: what the reverse proxy forwarded to `/decisions`.
#[derive(Debug)]
pub struct OriginalRequest<'a> {
    /// Method, scheme, host, path and `X-Forwarded-Uri`, as the rule matched them: validated by
    /// [`oathkeeper_core::candidate::rebuild`] (or read as far as they can be when it refused
    /// them).
    pub candidate: Candidate<'a>,
    /// The decision request's own query (upstream drops `X-Forwarded-Uri`'s), without `?`.
    pub query: Option<&'a str>,
    /// The decision request's headers (the client's, as the proxy copied them).
    pub headers: &'a HeaderMap,
    /// The peer address of the decision request.
    pub remote_ip: Option<IpAddr>,
}

impl OriginalRequest<'_> {
    /// The first value of header `name`, if it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the authenticators learnt and the mutators turn into headers (upstream's
/// `AuthenticationSession`).
#[derive(Debug, Default)]
pub struct Session {
    /// Who the request is from; empty when unknown.
    pub subject: String,
    /// Anything else the authenticator learnt (e.g. the Kratos session); shared with the
    /// session cache, so a cache hit copies nothing.
    pub extra: Option<Arc<Value>>,
    /// Headers for the 200 answer.
    pub header: HeaderMap,
    /// The capture groups of the matched rule (`MatchContext.RegexpCaptureGroups`).
    pub captures: Vec<String>,
    /// Where header mutators may keep what they render from `subject` and `extra` alone, set
    /// by an authenticator whose subject and extra repeat: a cached session, a constant
    /// anonymous subject.
    pub rendered: Option<Arc<RenderedHeaders>>,
}

/// Headers rendered once for one subject and extra (a cached session, an anonymous subject),
/// by the first header mutator that asks; later requests with the same subject and extra and a
/// mutator with the same templates reuse them instead of rendering again. Written once, then
/// read without a lock.
#[derive(Debug, Default)]
pub struct RenderedHeaders(OnceLock<(Box<str>, HeaderMap)>);

impl RenderedHeaders {
    /// The headers rendered by a mutator whose templates are `key`, if they were.
    pub fn get(&self, key: &str) -> Option<&HeaderMap> {
        self.0
            .get()
            .filter(|(k, _)| **k == *key)
            .map(|(_, headers)| headers)
    }

    /// Keeps `headers`, rendered by a mutator whose templates are `key`, unless some
    /// mutator's headers are kept already.
    pub fn remember(&self, key: &str, headers: HeaderMap) {
        let _ = self.0.set((key.into(), headers));
    }
}

/// The dot of a mutator template: `.Subject`, `.Extra`, `.Header`, `.MatchContext`.
pub struct TemplateView<'a> {
    session: &'a Session,
    match_context: MatchContextView<'a>,
}

impl<'a> TemplateView<'a> {
    /// A view of `session` for a request to `request`.
    pub fn new(session: &'a Session, request: &'a OriginalRequest<'a>) -> TemplateView<'a> {
        TemplateView {
            session,
            match_context: MatchContextView {
                session,
                request,
                url: UrlView(request),
            },
        }
    }
}

/// `.MatchContext`: `RegexpCaptureGroups`, `URL`, `Method`, `Header`.
struct MatchContextView<'a> {
    session: &'a Session,
    request: &'a OriginalRequest<'a>,
    url: UrlView<'a>,
}

/// `.MatchContext.URL`: Go's `url.URL` fields and `String`.
struct UrlView<'a>(&'a OriginalRequest<'a>);

impl Data for TemplateView<'_> {
    fn field(&self, name: &str) -> TValue<'_> {
        match name {
            "Subject" => TValue::Str(self.session.subject.as_str().into()),
            "Extra" => match &self.session.extra {
                None => TValue::Null,
                Some(extra) => TValue::Json(extra),
            },
            "Header" => TValue::Header(&self.session.header),
            "MatchContext" => TValue::Object(&self.match_context),
            _ => TValue::Missing,
        }
    }
}

impl Data for MatchContextView<'_> {
    fn field(&self, name: &str) -> TValue<'_> {
        match name {
            "RegexpCaptureGroups" => TValue::Strings(&self.session.captures),
            "URL" => TValue::Object(&self.url),
            "Method" => TValue::Str(self.request.candidate.method.into()),
            "Header" => TValue::Header(self.request.headers),
            _ => TValue::Missing,
        }
    }
}

impl Data for UrlView<'_> {
    fn field(&self, name: &str) -> TValue<'_> {
        let r = self.0;
        let c = &r.candidate;
        match name {
            "Scheme" => TValue::Str(c.scheme.into()),
            "Host" => TValue::Str(c.host.into()),
            // Go's `URL.Path` is decoded and `RawPath` holds the encoded form when they differ.
            "Path" => TValue::Str(percent_encoding::percent_decode_str(c.path).decode_utf8_lossy()),
            "RawPath" => match percent_encoding::percent_decode_str(c.path).decode_utf8_lossy() {
                std::borrow::Cow::Borrowed(_) => TValue::Str("".into()),
                std::borrow::Cow::Owned(_) => TValue::Str(c.path.into()),
            },
            "RawQuery" => TValue::Str(r.query.unwrap_or("").into()),
            "Fragment" | "Opaque" => TValue::Str("".into()),
            "String" => {
                let mut s = format!("{}://{}{}", c.scheme, c.host, c.path);
                if let Some(q) = r.query {
                    s.push('?');
                    s.push_str(q);
                }
                TValue::Str(s.into())
            }
            _ => TValue::Missing,
        }
    }
}
