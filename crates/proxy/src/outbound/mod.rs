//! The outbound HTTP client policy every handler that calls another service builds its client
//! with (issue 20): JWKS fetches now; introspection, token endpoints, remote authorizers and
//! hydrators next. The session store predates it and keeps its own client for now.
//!
//! - **Bounded waits**: a connect timeout and a total timeout over the whole exchange (connect,
//!   TLS, request, answer head and body); a handler with an upstream `timeout`/`retry` option
//!   maps it onto these, others use the defaults.
//! - **Bounded size**: the answer body is read up to [`Policy::max_body`] bytes; a longer body
//!   is an error, never truncated.
//! - **No redirects**: a 3xx answer is an error naming its status. Following redirects,
//!   even same-origin ones, would let the called service (or whoever answers on its address)
//!   send a credential-carrying call elsewhere, so none is followed.
//! - **TLS**: the system roots (as the session store's client), plus the PEM certificates of
//!   [`Policy::extra_ca_files`] for services behind a private CA. `http` stays allowed: the
//!   URL's scheme is the operator's choice.
//! - **URLs** are validated once when the handler compiles ([`Target`]): absolute `http(s)`,
//!   with a host and without user info; calls build requests from the parsed parts with
//!   `http`'s builders, never by joining text.
//! - **Errors** name the method, the URL without its query (which may hold secrets) and the
//!   problem: `GET https://idp/jwks: timed out after 5s`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default total timeout of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest answer body read.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// What a client may do: timeouts, size cap, trusted CAs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for the whole exchange, body included.
    pub timeout: Duration,
    /// Largest answer body read, in bytes.
    pub max_body: usize,
    /// PEM files whose certificates are trusted besides the system roots.
    pub extra_ca_files: Vec<PathBuf>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            extra_ca_files: Vec::new(),
        }
    }
}

/// Why a client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An extra CA file cannot be read or holds no certificate.
    #[error("extra CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Why a URL is not an outbound target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URL \"{url}\": {reason}")]
pub struct UrlError {
    /// The URL as configured, without its query.
    pub url: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// A validated outbound URL: absolute `http` or `https`, with a host, without user info.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    uri: Uri,
}

impl Target {
    /// Parses and validates `url`.
    pub fn parse(url: &str) -> Result<Target, UrlError> {
        let error = |reason| UrlError {
            url: redact(url),
            reason,
        };
        let uri: Uri = url.parse().map_err(|_| error("not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(error("the scheme must be http or https"));
        }
        let Some(authority) = uri.authority() else {
            return Err(error("no host"));
        };
        if authority.as_str().contains('@') {
            return Err(error("user info in the URL is not supported"));
        }
        if authority.host().is_empty() {
            return Err(error("no host"));
        }
        if url.contains('#') {
            return Err(error("a fragment is not sent"));
        }
        Ok(Target { uri })
    }

    /// The URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The URL with its query replaced by `query` (pairs form-encoded), built from parts.
    pub fn with_query<'a>(
        &self,
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Uri, UrlError> {
        let mut encoded = String::new();
        for (k, v) in query {
            if !encoded.is_empty() {
                encoded.push('&');
            }
            encoded.extend(form_urlencoded(k));
            encoded.push('=');
            encoded.extend(form_urlencoded(v));
        }
        let path = self.uri.path();
        let path_and_query = if encoded.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{encoded}")
        };
        let mut parts = self.uri.clone().into_parts();
        parts.path_and_query = Some(path_and_query.parse().map_err(|_| UrlError {
            url: self.to_string(),
            reason: "the query does not fit in a URL",
        })?);
        Uri::from_parts(parts).map_err(|_| UrlError {
            url: self.to_string(),
            reason: "the query does not fit in a URL",
        })
    }
}

/// Shown without the query: it may hold secrets.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.uri.scheme_str().unwrap_or_default();
        let authority = self.uri.authority().map_or("", |a| a.as_str());
        write!(f, "{scheme}://{authority}{}", self.uri.path())
    }
}

/// `url` without its query, fragment and user info (they may hold secrets).
fn redact(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// `application/x-www-form-urlencoded` bytes of `text`.
fn form_urlencoded(text: &str) -> impl Iterator<Item = char> + '_ {
    text.bytes().flat_map(|b| {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*');
        let hex = |n: u8| char::from(b"0123456789ABCDEF"[usize::from(n)]);
        let chars: [Option<char>; 3] = if keep {
            [Some(char::from(b)), None, None]
        } else if b == b' ' {
            [Some('+'), None, None]
        } else {
            [Some('%'), Some(hex(b >> 4)), Some(hex(b & 0xf))]
        };
        chars.into_iter().flatten()
    })
}

/// Why a call did not give an answer to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The exchange took longer than the total timeout.
    Timeout(Duration),
    /// No connection, TLS failure, or the connection broke.
    Transport(String),
    /// A redirect, not followed.
    Redirect(StatusCode),
    /// The body is larger than the cap.
    TooLarge(usize),
    /// The request could not be built (never for a [`Target`]).
    Request(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Timeout(d) => write!(f, "timed out after {d:?}"),
            Problem::Transport(e) => write!(f, "{e}"),
            Problem::Redirect(s) => write!(f, "answered {s}, and redirects are not followed"),
            Problem::TooLarge(max) => write!(f, "the answer is larger than {max} bytes"),
            Problem::Request(e) => write!(f, "cannot build the request: {e}"),
        }
    }
}

/// A failed call: the method, the URL without its query, and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} {url}: {problem}")]
pub struct CallError {
    /// The method.
    pub method: Method,
    /// The URL, without its query.
    pub url: String,
    /// What went wrong.
    pub problem: Problem,
}

/// An answer read in full (within the size cap).
#[derive(Debug)]
pub struct Answer {
    /// The status (never a redirect).
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// A client built from a [`Policy`]: pooled, HTTP/1.1.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// Clients by policy: every handler with the same policy shares one client (one pool, one
/// reading of the roots). Written only when handlers compile; the set of distinct policies is
/// the configuration's, so it stays small.
static SHARED: std::sync::LazyLock<arc_swap::ArcSwap<std::collections::HashMap<Policy, Client>>> =
    std::sync::LazyLock::new(arc_swap::ArcSwap::default);

impl Client {
    /// The client for `policy`, shared with every other caller of the same policy; built on
    /// first use.
    pub fn shared(policy: &Policy) -> Result<Client, BuildError> {
        if let Some(client) = SHARED.load().get(policy) {
            return Ok(client.clone());
        }
        let built = Client::build(policy)?;
        SHARED.rcu(|clients| {
            let mut clients = std::collections::HashMap::clone(clients);
            clients
                .entry(policy.clone())
                .or_insert_with(|| built.clone());
            clients
        });
        Ok(SHARED.load().get(policy).cloned().unwrap_or(built))
    }

    /// Builds a client following `policy`. Reads the system roots and the extra CA files.
    pub fn build(policy: &Policy) -> Result<Client, BuildError> {
        let roots = roots(&policy.extra_ca_files)?;
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(policy.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Client {
            inner: HyperClient::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .build(https),
            timeout: policy.timeout,
            max_body: policy.max_body,
        })
    }

    /// `GET target` with `headers`.
    pub async fn get(&self, target: &Target, headers: HeaderMap) -> Result<Answer, CallError> {
        let mut request = http::Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = target.uri().clone();
        *request.headers_mut() = headers;
        self.send(request, target).await
    }

    /// Sends `request` (whose URL is `target`'s or built from it) and reads the answer, all
    /// within the total timeout. A redirect, a transport failure or an oversized body is an
    /// error; any other status is the caller's to judge.
    pub async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
        target: &Target,
    ) -> Result<Answer, CallError> {
        let method = request.method().clone();
        let error = |problem| CallError {
            method: method.clone(),
            url: target.to_string(),
            problem,
        };
        let max_body = self.max_body;
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| Problem::Transport(transport_reason(&e)))?;
            let status = response.status();
            if status.is_redirection() {
                return Err(Problem::Redirect(status));
            }
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, max_body).collect().await.map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Problem::TooLarge(max_body)
                } else {
                    Problem::Transport(format!("reading the answer: {e}"))
                }
            })?;
            Ok(Answer {
                status,
                headers: parts.headers,
                body: body.to_bytes(),
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(problem)) => Err(error(problem)),
            Err(_) => Err(error(Problem::Timeout(self.timeout))),
        }
    }
}

/// The error and its causes, without the URL hyper may repeat.
fn transport_reason(error: &hyper_util::client::legacy::Error) -> String {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

/// The system roots plus every certificate of `extra`.
fn roots(extra: &[PathBuf]) -> Result<RootCertStore, BuildError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::debug!(errors = ?native.errors, "some system TLS roots could not be read");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::warn!(
            ignored,
            "no system TLS roots; https calls succeed only with an extra CA file"
        );
    }
    for path in extra {
        let error = |reason: String| BuildError::CaFile {
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error(e.to_string()))?;
        if certs.is_empty() {
            return Err(error("no certificate in the file".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| error(e.to_string()))?;
        }
    }
    Ok(roots)
}

mod retry;
mod shared;
pub use retry::{RetryPolicy, server_error_or_transport};
pub use shared::Registry;

#[cfg(test)]
mod tests;
