//! The request a decision is about, rebuilt from what the reverse proxy forwarded, and the URL it
//! is matched as: `scheme://host[:port]/path`, query dropped.
//!
//! The proxy forwards the **raw** request target to the app, so the decision is made on exactly
//! that text. A part that is not in canonical form is refused, never repaired: a cleaned or
//! decoded copy can match an allow rule while the app, reading the raw text its own way, serves a
//! protected path (`/app/admin/../allowed`, `/app/allowed/%2e%2e/admin`). [`rebuild`] is pure and
//! allocation-free on success; the caller turns a [`Refusal`] into a 400.
//!
//! Differs from upstream: Ory Oathkeeper 0.40 matches the raw `X-Forwarded-Uri` but lets encoded
//! dot segments through, and its main branch cleans the path (`path.Clean`) before matching, so
//! both allow requests the app serves as a protected path. Here both are refused.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The parts of a decision request a rebuild reads, as raw bytes (header values may carry
/// obs-text). Empty `X-Forwarded-*` values count as absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Forwarded<'a> {
    /// `X-Forwarded-Method`.
    pub method: Option<&'a [u8]>,
    /// `X-Forwarded-Proto`.
    pub proto: Option<&'a [u8]>,
    /// `X-Forwarded-Host`.
    pub host: Option<&'a [u8]>,
    /// `X-Forwarded-Uri`: path and query as the client sent them.
    pub uri: Option<&'a [u8]>,
    /// The decision request's own method.
    pub request_method: &'a str,
    /// The decision request's `Host` header (or the authority of an absolute-form target).
    pub request_host: Option<&'a [u8]>,
    /// The decision request's raw path after `/decisions` (not decoded): the original path when
    /// no `X-Forwarded-Uri` is sent.
    pub suffix: &'a str,
    /// Whether the decision request came over TLS: the scheme is then `https` when no
    /// `X-Forwarded-Proto` is sent (upstream's `r.TLS != nil`).
    pub tls: bool,
}

/// The original request, every part validated, borrowed from the decision request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// An HTTP method token.
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// A DNS name, IPv4 address or `[IPv6]` address, with an optional port.
    pub host: &'a str,
    /// The path exactly as the proxy forwarded it, in canonical form (or empty for a bare
    /// `/decisions`).
    pub path: &'a str,
    /// `X-Forwarded-Uri` as received (path and query), for `return_to`.
    pub forwarded_uri: Option<&'a str>,
}

/// Which forwarded part a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `X-Forwarded-Method` (or the decision request's method).
    Method,
    /// `X-Forwarded-Proto`.
    Scheme,
    /// `X-Forwarded-Host` (or `Host`).
    Host,
    /// `X-Forwarded-Uri` (or the path after `/decisions`).
    Path,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Method => "method",
            Part::Scheme => "scheme",
            Part::Host => "host",
            Part::Path => "path",
        }
    }
}

/// Why a forwarded request is refused. Every variant is a client error (400): the proxy passes it
/// to the client as a denial, and the app never sees the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A part is not UTF-8 text.
    #[error("the forwarded {} is not UTF-8", .0.name())]
    NotUtf8(Part),
    /// The method is not an HTTP token.
    #[error("the forwarded method is not an HTTP method token")]
    Method,
    /// The scheme is neither `http` nor `https`.
    #[error("the forwarded scheme is neither http nor https")]
    Scheme,
    /// No host was forwarded and the decision request has none.
    #[error("no host: neither X-Forwarded-Host nor Host is set")]
    NoHost,
    /// The host is not a DNS name, IPv4 or `[IPv6]` address with an optional port.
    #[error("the forwarded host is not a DNS name or IP address with an optional port")]
    Host,
    /// The path is not in canonical form.
    #[error("the forwarded path is not in canonical form: {0}")]
    Path(PathFault),
}

/// What makes a path non-canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathFault {
    /// It does not start with `/` (e.g. an absolute-form or authority-form target).
    #[error("it does not start with /")]
    NotRooted,
    /// A `.` or `..` segment, also with `;` parameters (`..;x`) or behind an encoding.
    #[error("it has a dot segment")]
    DotSegment,
    /// An empty segment (`//`), or one that is empty but for `;` parameters.
    #[error("it has an empty segment")]
    EmptySegment,
    /// A backslash, which some servers read as a separator.
    #[error("it has a backslash")]
    Backslash,
    /// A raw `#`.
    #[error("it has a #")]
    Fragment,
    /// A control byte, space or DEL.
    #[error("it has a control byte or space")]
    Control,
    /// A `%` not followed by two hex digits.
    #[error("it has an invalid percent-escape")]
    InvalidEscape,
    /// A percent-encoded `.`, `/`, `\`, `#`, `?`, NUL, or an overlong UTF-8 lead byte
    /// (`%c0`, `%c1`), at any depth of decoding.
    #[error("it has an encoded separator, dot or NUL")]
    EncodedSeparator,
}

/// Rebuilds the original request as upstream's decision API does, refusing any part that is not
/// in canonical form.
///
/// | part   | source, in order |
/// |--------|------------------|
/// | method | `X-Forwarded-Method`, the decision request's method |
/// | scheme | `X-Forwarded-Proto`, `https` if the decision request came over TLS, `http` |
/// | host   | `X-Forwarded-Host`, `Host` (port kept) |
/// | path   | `X-Forwarded-Uri` up to `?`, else the raw suffix after `/decisions` |
pub fn rebuild<'a>(forwarded: &Forwarded<'a>) -> Result<Candidate<'a>, Refusal> {
    let present = |v: Option<&'a [u8]>| v.filter(|v| !v.is_empty());
    let text = |v: &'a [u8], part| std::str::from_utf8(v).map_err(|_| Refusal::NotUtf8(part));

    let method = match present(forwarded.method) {
        Some(m) => text(m, Part::Method)?,
        None => forwarded.request_method,
    };
    if !is_token(method) {
        return Err(Refusal::Method);
    }
    let scheme = match present(forwarded.proto) {
        Some(p) => text(p, Part::Scheme)?,
        None => connection_scheme(forwarded.tls),
    };
    if scheme != "http" && scheme != "https" {
        return Err(Refusal::Scheme);
    }
    let host = present(forwarded.host)
        .or(present(forwarded.request_host))
        .ok_or(Refusal::NoHost)?;
    let host = text(host, Part::Host)?;
    if !is_host(host) {
        return Err(Refusal::Host);
    }
    let (path, forwarded_uri) = match present(forwarded.uri) {
        Some(uri) => {
            let uri = text(uri, Part::Path)?;
            if uri.bytes().any(is_control) {
                return Err(Refusal::Path(PathFault::Control));
            }
            let path_end = uri.bytes().position(|b| b == b'?').unwrap_or(uri.len());
            (&uri[..path_end], Some(uri))
        }
        None => (forwarded.suffix, None),
    };
    // A bare `/decisions` asks about the empty path, as upstream; anything else must be rooted.
    if !(path.is_empty() && forwarded_uri.is_none()) {
        check_path(path.as_bytes()).map_err(Refusal::Path)?;
    }
    Ok(Candidate {
        method,
        scheme,
        host,
        path,
        forwarded_uri,
    })
}

/// The scheme of the decision request's own connection: what the original request is taken to
/// have used when no `X-Forwarded-Proto` says otherwise.
pub fn connection_scheme(tls: bool) -> &'static str {
    if tls { "https" } else { "http" }
}

/// Builds the string rules are matched against from validated parts.
pub fn match_url(scheme: &str, host: &str, path: &str) -> String {
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + path.len());
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(host);
    url.push_str(path);
    url
}

/// Checks that `path` is in canonical form: rooted, no dot or empty segments (a trailing `/` is
/// allowed), no `\`, `#`, control bytes or space, every `%` a valid escape, and no escape of a
/// separator, dot or NUL — and no dot or empty segment at any depth of percent-decoding, so
/// `%252e` and `..%3bx` are refused as well as `%2e`. Raw UTF-8 is allowed and matched as sent.
pub fn check_path(path: &[u8]) -> Result<(), PathFault> {
    if path.first() != Some(&b'/') {
        return Err(PathFault::NotRooted);
    }
    check_level(path, true)?;
    // An app may decode any number of times: check every decoded level until decoding changes
    // nothing. An escape can hide a segment parameter (`..%3bx` is `..;x` once decoded) or, next
    // to a bare `%`, another escape (`%252%2565` is `%2e` twice decoded). Each round that changes
    // the text shortens it, so this ends; a path without `%` is not copied.
    if !path.contains(&b'%') {
        return Ok(());
    }
    let mut level = percent_decode(path);
    while level.as_slice() != path {
        check_level(&level, false)?;
        let next = percent_decode(&level);
        if next == level {
            break;
        }
        level = next;
    }
    Ok(())
}

/// One level of [`check_path`]. The raw level also refuses what a proxy would not forward
/// verbatim (control bytes, space, invalid escapes); decoded levels may hold anything the raw
/// level's legal escapes produce.
///
/// One pass: bytes are checked as they come, and each segment (after a `/`) as it ends. A
/// byte fault anywhere wins over a segment fault, so the first segment fault is held until the
/// end of the text.
fn check_level(path: &[u8], raw: bool) -> Result<(), PathFault> {
    // Start of the current segment (just after its `/`), and where its name ends (`;`).
    let mut segment: Option<usize> = None;
    let mut name_end: Option<usize> = None;
    let mut segment_fault = None;
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'/' => {
                if let Some(start) = segment
                    && segment_fault.is_none()
                {
                    segment_fault = check_segment(path, start, name_end.unwrap_or(i), i, false);
                }
                segment = Some(i + 1);
                name_end = None;
            }
            b';' if name_end.is_none() => name_end = Some(i),
            b'\\' => return Err(PathFault::Backslash),
            b'#' => return Err(PathFault::Fragment),
            b if raw && (is_control(b) || b == b' ') => return Err(PathFault::Control),
            b'%' => match (path.get(i + 1), path.get(i + 2)) {
                (Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    let byte = hex(h) << 4 | hex(l);
                    if matches!(byte, b'.' | b'/' | b'\\' | b'#' | b'?' | 0 | 0xc0 | 0xc1) {
                        return Err(PathFault::EncodedSeparator);
                    }
                    i += 2;
                }
                _ if raw => return Err(PathFault::InvalidEscape),
                _ => {}
            },
            _ => {}
        }
        i += 1;
    }
    if let Some(start) = segment
        && segment_fault.is_none()
    {
        segment_fault = check_segment(
            path,
            start,
            name_end.unwrap_or(path.len()),
            path.len(),
            true,
        );
    }
    segment_fault.map_or(Ok(()), Err)
}

/// The fault of segment `path[start..end]` whose name (before any `;`) ends at `name_end`: an
/// empty name (but for an empty last segment, a trailing `/`), or `.` and `..`.
fn check_segment(
    path: &[u8],
    start: usize,
    name_end: usize,
    end: usize,
    last: bool,
) -> Option<PathFault> {
    match &path[start..name_end] {
        b"" if last && start == end => None,
        b"" => Some(PathFault::EmptySegment),
        b"." | b".." => Some(PathFault::DotSegment),
        _ => None,
    }
}

/// Decodes every valid escape once, leaving anything else as it is.
fn percent_decode(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        match (path[i], path.get(i + 1), path.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.push(hex(h) << 4 | hex(l));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A DNS name, IPv4 address or `[IPv6]` address, with an optional decimal port.
fn is_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => return is_port(port),
                None => return false,
            },
        }
    } else {
        // A byte scan: the port separator is within the last few bytes of a short text.
        match host.bytes().rposition(|b| b == b':') {
            Some(colon) => (&host[..colon], Some(&host[colon + 1..])),
            None => (host, None),
        }
    };
    if port.is_some_and(|p| !is_port(p)) {
        return false;
    }
    is_dns_name(name) || name.parse::<Ipv4Addr>().is_ok()
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.parse::<u16>().is_ok()
}

/// Letters, digits, `-` and `_` in non-empty labels of at most 63 bytes, at most 253 bytes in all;
/// one trailing dot allowed.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    // One pass: the length of the current label, which a `.` ends.
    let mut label = 0usize;
    for b in name.bytes() {
        match b {
            b'.' if label == 0 => return false,
            b'.' => label = 0,
            b if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' => {
                label += 1;
                if label > 63 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    label > 0
}

#[cfg(test)]
mod tests;
