//! `redirect`: 302 (or 301) to `to`, with the original URL in `return_to_query_param`.
//!
//! The original URL is rebuilt from `X-Forwarded-Proto`/`-Host`/`-Uri`, query included.
//! The `Location` is always absolute: a relative `to` is resolved against the original URL,
//! because Traefik resolves a relative `Location` against the decision server's own address.

use std::fmt::Write as _;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use oathkeeper_core::candidate::Candidate;
use oathkeeper_core::handler::Family;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

pub use oathkeeper_core::handler::redirect::Config;

use super::when::When;
use crate::pipeline::{CompileError, Denial, OriginalRequest, ResponseBody};

/// The compiled handler.
#[derive(Debug)]
pub struct Redirect {
    to: String,
    status: StatusCode,
    return_to: String,
    /// When responsible.
    pub when: When,
}

impl Redirect {
    /// Compiles from the decoded config; `to` is required.
    pub fn compile(config: &Config) -> Result<Redirect, CompileError> {
        let key = |e: oathkeeper_core::handler::KeyError| {
            CompileError::config(Family::ErrorHandler, "redirect", e.into())
        };
        let to = config.to().map_err(key)?;
        let return_to = config.return_to_query_param().map_err(key)?;
        // Upstream: any code other than 301 becomes 302.
        let status = if config.permanent() {
            StatusCode::MOVED_PERMANENTLY
        } else {
            StatusCode::FOUND
        };
        Ok(Redirect {
            to: to.to_owned(),
            status,
            return_to: return_to.to_owned(),
            when: When::compile("redirect", config.when())?,
        })
    }

    /// Writes the redirect.
    pub fn handle(&self, request: &OriginalRequest<'_>) -> Result<Response<ResponseBody>, Denial> {
        let location = self.location(request);
        let value = HeaderValue::try_from(location).map_err(|_| {
            Denial::internal("error handler \"redirect\": location is not a valid header")
        })?;
        let mut response = Response::new(ResponseBody::from(Bytes::new()));
        *response.status_mut() = self.status;
        response.headers_mut().insert(header::LOCATION, value);
        Ok(response)
    }

    fn location(&self, request: &OriginalRequest<'_>) -> String {
        let target = absolute(&self.to, &request.candidate);
        if self.return_to.is_empty() {
            return target;
        }
        let (rest, fragment) = match target.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (target.as_str(), None),
        };
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (query_unescape(k), query_unescape(v))
            })
            .filter(|(k, _)| *k != self.return_to)
            .collect();
        params.push((self.return_to.clone(), request.original_url()));
        // Go's url.Values.Encode sorts by key.
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::from(base);
        for (i, (k, v)) in params.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            let _ = write!(out, "{}={}", query_escape(k), query_escape(v));
        }
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }
}

/// Resolves `to` against the original request's scheme and host when it is not absolute.
fn absolute(to: &str, request: &Candidate<'_>) -> String {
    let has_scheme = to.split_once("://").is_some_and(|(s, _)| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    if has_scheme {
        to.to_owned()
    } else if let Some(rest) = to.strip_prefix("//") {
        format!("{}://{rest}", request.scheme)
    } else if to.starts_with('/') {
        format!("{}://{}{to}", request.scheme, request.host)
    } else {
        let dir = request.path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{}://{}{dir}/{to}", request.scheme, request.host)
    }
}

/// Go's `url.QueryEscape`: unreserved characters stay, space becomes `+`, the rest `%XX`.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn query_escape(text: &str) -> String {
    utf8_percent_encode(text, QUERY)
        .to_string()
        .replace("%20", "+")
}

fn query_unescape(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}
