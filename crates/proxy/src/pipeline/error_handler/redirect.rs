//! `redirect`: 302 (or 301) to `to`, with the original URL in `return_to_query_param`.
//!
//! The original URL is rebuilt from `X-Forwarded-Proto`/`-Host`/`-Uri`, query included.
//! The `Location` is always absolute: a relative `to` is resolved against the original URL,
//! because Traefik resolves a relative `Location` against the decision server's own address.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use oathkeeper_core::candidate::Candidate;
use oathkeeper_core::handler::Family;
use percent_encoding::percent_decode_str;

pub use oathkeeper_core::handler::redirect::Config;

use super::when::When;
use crate::pipeline::{CompileError, Denial, OriginalRequest, ResponseBody};
use crate::template::url_query_escape;

/// The compiled handler.
#[derive(Debug)]
pub struct Redirect {
    to: String,
    status: StatusCode,
    return_to: String,
    /// The location around the original URL, when `to` has a scheme (it then does not depend
    /// on the request): built once.
    fixed: Option<Split>,
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
            fixed: has_scheme(to).then(|| Split::new(to, return_to)),
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
        let resolved;
        let split = match &self.fixed {
            Some(split) => split,
            None => {
                resolved = Split::new(&absolute(&self.to, &request.candidate), &self.return_to);
                &resolved
            }
        };
        let c = &request.candidate;
        let mut out = String::with_capacity(
            split.before.len() + split.after.len() + 3 * (c.host.len() + c.path.len()) + 24,
        );
        out.push_str(&split.before);
        if split.with_original {
            // The original URL: scheme, host, and `X-Forwarded-Uri` with its query, else the
            // matched path with the decision query.
            url_query_escape(&mut out, c.scheme);
            out.push_str("%3A%2F%2F");
            url_query_escape(&mut out, c.host);
            match c.forwarded_uri {
                Some(uri) => url_query_escape(&mut out, uri),
                None => {
                    url_query_escape(&mut out, c.path);
                    if let Some(q) = request.query {
                        out.push_str("%3F");
                        url_query_escape(&mut out, q);
                    }
                }
            }
        }
        out.push_str(&split.after);
        out
    }
}

/// An absolute `to` as Go's `url.Values.Encode` writes it with the original URL added under
/// `return_to_query_param`: its own parameters but that one, sorted by key, and the text
/// before and after the original URL's place.
#[derive(Debug, Clone)]
struct Split {
    before: String,
    after: String,
    /// False without `return_to_query_param`: `before` is the whole location.
    with_original: bool,
}

impl Split {
    fn new(target: &str, return_to: &str) -> Split {
        if return_to.is_empty() {
            return Split {
                before: target.to_owned(),
                after: String::new(),
                with_original: false,
            };
        }
        let (rest, fragment) = match target.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (target, None),
        };
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (query_unescape(k), query_unescape(v))
            })
            .filter(|(k, _)| k != return_to)
            .collect();
        // Go's url.Values.Encode sorts by key (stable: equal keys keep their order); the
        // original URL's key sorts among them.
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let at = params.partition_point(|(k, _)| k.as_str() < return_to);
        let mut before = String::from(base);
        let pair = |out: &mut String, k: &str, v: &str| {
            url_query_escape(out, k);
            out.push('=');
            url_query_escape(out, v);
        };
        for (i, (k, v)) in params[..at].iter().enumerate() {
            before.push(if i == 0 { '?' } else { '&' });
            pair(&mut before, k, v);
        }
        before.push(if at == 0 { '?' } else { '&' });
        url_query_escape(&mut before, return_to);
        before.push('=');
        let mut after = String::new();
        for (k, v) in &params[at..] {
            after.push('&');
            pair(&mut after, k, v);
        }
        if let Some(f) = fragment {
            after.push('#');
            after.push_str(f);
        }
        Split {
            before,
            after,
            with_original: true,
        }
    }
}

/// Whether `to` starts with a scheme (`https://`).
fn has_scheme(to: &str) -> bool {
    to.split_once("://").is_some_and(|(s, _)| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    })
}

/// Resolves `to` against the original request's scheme and host when it is not absolute.
fn absolute(to: &str, request: &Candidate<'_>) -> String {
    if has_scheme(to) {
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

fn query_unescape(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}
