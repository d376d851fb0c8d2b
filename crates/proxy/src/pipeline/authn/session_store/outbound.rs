//! The session-store request, encoded once: the cache key is a hash of these bytes, and on a
//! miss the request that is sent is decoded from the same bytes. So the cache can only answer
//! for a request the store received (issue 12), and a cache hit builds no `http::Request` at
//! all: the encoding is one buffer and the key one BLAKE3 call over it.
//!
//! The bytes are length-prefixed parts: method, scheme, authority, path and query, then each
//! header operation in the order it is applied (`append` or `insert`, name, value). Applying
//! the operations to an empty `HeaderMap` gives exactly the headers that are sent, in the
//! order they are sent. Two different encodings never share a key (the prefixes make every
//! encoding unambiguous, a cryptographic hash makes collisions infeasible), and the key holds
//! no credential in clear. BLAKE3 rather than SHA-256: a session-store request is one or two
//! 64-byte blocks, which SHA-256 hashes in ~2k instructions each on CPUs without SHA
//! extensions, BLAKE3 in a few hundred.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

/// A cache key: BLAKE3 over an encoded session-store request.
pub type Key = [u8; 32];

/// How a header is added to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `HeaderMap::append`: after the values the name already has.
    Append,
    /// `HeaderMap::insert`: instead of them, at the name's first position.
    Insert,
}

impl Op {
    fn tag(self) -> u8 {
        match self {
            Op::Append => b'a',
            Op::Insert => b'i',
        }
    }
}

/// Why an encoded request does not decode to a request (never for one built by
/// [`Outbound::start`] and its methods from valid parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(&'static str);

impl DecodeError {
    /// What did not decode, as a phrase.
    pub fn reason(self) -> &'static str {
        self.0
    }
}

/// An encoded session-store request (its body is always empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    bytes: Vec<u8>,
}

/// Typical size of an encoded request: a URL and a few headers, one cookie line among them.
const TYPICAL: usize = 384;

impl Outbound {
    /// Starts a request: its method, and the scheme and authority of its URL.
    pub fn start(method: &str, scheme: &str, authority: &str) -> Outbound {
        let mut outbound = Outbound {
            bytes: Vec::with_capacity(TYPICAL),
        };
        outbound.part(method.as_bytes());
        outbound.part(scheme.as_bytes());
        outbound.part(authority.as_bytes());
        outbound
    }

    /// Sets the path and query, written by `write` (which appends their bytes); call once,
    /// before any header.
    pub fn path_and_query(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        write(&mut self.bytes);
        let len = self.bytes.len() - at - 4;
        self.bytes[at..at + 4].copy_from_slice(&prefix(len));
    }

    /// Adds header `name: value` with `op`.
    pub fn header(&mut self, op: Op, name: &HeaderName, value: &[u8]) {
        self.bytes.push(op.tag());
        self.part(name.as_str().as_bytes());
        self.part(value);
    }

    fn part(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(&prefix(bytes.len()));
        self.bytes.extend_from_slice(bytes);
    }

    /// The cache key of this request.
    pub fn key(&self) -> Key {
        *blake3::hash(&self.bytes).as_bytes()
    }

    /// The request these bytes describe, ready to send.
    pub fn to_request(&self) -> Result<http::request::Parts, DecodeError> {
        let mut reader = Reader(&self.bytes);
        let (mut request, ()) = http::Request::new(()).into_parts();
        request.method = Method::from_bytes(reader.part()?)
            .map_err(|_| DecodeError("invalid session-store method"))?;
        let scheme = reader.part()?;
        let authority = reader.part()?;
        let path_and_query = reader.part()?;
        request.uri = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| DecodeError("invalid session-store URL"))?;
        let headers: &mut HeaderMap = &mut request.headers;
        while let Some((&tag, rest)) = reader.0.split_first() {
            reader.0 = rest;
            let name = HeaderName::from_bytes(reader.part()?)
                .map_err(|_| DecodeError("invalid session-store header name"))?;
            let value = HeaderValue::from_bytes(reader.part()?)
                .map_err(|_| DecodeError("invalid session-store header value"))?;
            if tag == Op::Append.tag() {
                headers.append(name, value);
            } else if tag == Op::Insert.tag() {
                headers.insert(name, value);
            } else {
                return Err(DecodeError("unknown session-store header operation"));
            }
        }
        Ok(request)
    }
}

/// The length prefix of a part.
fn prefix(len: usize) -> [u8; 4] {
    // invariant: parts are URL pieces and header values, far below 4 GiB (the decision
    // request's head is capped by hyper, the URL by the matcher).
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

/// Reads length-prefixed parts.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn part(&mut self) -> Result<&'a [u8], DecodeError> {
        let truncated = DecodeError("truncated session-store request");
        let (len, rest) = self.0.split_first_chunk::<4>().ok_or(truncated)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| truncated)?;
        if rest.len() < len {
            return Err(truncated);
        }
        let (part, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(part)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A request built with `http`'s own types and the same operations.
    fn expected(
        method: &str,
        url: &str,
        headers: &[(Op, &str, Vec<u8>)],
    ) -> (Method, Uri, HeaderMap) {
        let mut map = HeaderMap::new();
        for (op, name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            let value = HeaderValue::from_bytes(value).unwrap();
            match op {
                Op::Append => map.append(name, value),
                Op::Insert => map.insert(name, value).is_some(),
            };
        }
        (
            Method::from_bytes(method.as_bytes()).unwrap(),
            url.parse().unwrap(),
            map,
        )
    }

    fn encode(method: &str, path: &str, headers: &[(Op, &str, Vec<u8>)]) -> Outbound {
        encode_at("http", "kratos:4433", method, path, headers)
    }

    fn encode_at(
        scheme: &str,
        authority: &str,
        method: &str,
        path: &str,
        headers: &[(Op, &str, Vec<u8>)],
    ) -> Outbound {
        let mut outbound = Outbound::start(method, scheme, authority);
        outbound.path_and_query(|out| out.extend_from_slice(path.as_bytes()));
        for (op, name, value) in headers {
            outbound.header(
                *op,
                &HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value,
            );
        }
        outbound
    }

    fn header() -> impl Strategy<Value = (Op, &'static str, Vec<u8>)> {
        (
            prop_oneof![Just(Op::Append), Just(Op::Insert)],
            prop_oneof![
                Just("cookie"),
                Just("authorization"),
                Just("x-forwarded-host"),
                Just("x-a")
            ],
            // Header value bytes: visible ASCII, space, tab and obs-text.
            proptest::collection::vec(prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff], 0..12),
        )
    }

    proptest! {
        /// What is sent on a miss is exactly the request the operations describe, headers in
        /// the order `http` sends them.
        #[test]
        fn decoding_gives_the_request_the_operations_build(
            method in prop_oneof![Just("GET"), Just("POST"), Just("PROPFIND")],
            path in "(/[a-z%0-9]{0,6}){1,3}(\\?[a-z=&]{0,8})?",
            headers in proptest::collection::vec(header(), 0..8),
        ) {
            let request = encode(method, &path, &headers).to_request().unwrap();
            let (method, uri, map) = expected(method, &format!("http://kratos:4433{path}"), &headers);
            prop_assert_eq!(&request.method, &method);
            prop_assert_eq!(&request.uri, &uri);
            let sent: Vec<_> = request.headers.iter().collect();
            let built: Vec<_> = map.iter().collect();
            prop_assert_eq!(sent, built);
        }

        /// Two requests share a key only when they encode alike: no part can spill into its
        /// neighbour (`a` + `bc` against `ab` + `c`).
        #[test]
        fn different_requests_never_share_a_key(
            a in proptest::collection::vec(header(), 0..4),
            b in proptest::collection::vec(header(), 0..4),
            path_a in "/[a-z]{0,3}",
            path_b in "/[a-z]{0,3}",
        ) {
            let (x, y) = (encode("GET", &path_a, &a), encode("GET", &path_b, &b));
            prop_assert_eq!(x.key() == y.key(), a == b && path_a == path_b);
        }
    }

    #[test]
    fn issue_12_every_part_that_is_sent_changes_the_key() {
        let cookie = |v: &[u8]| (Op::Append, "cookie", v.to_vec());
        let base = encode(
            "GET",
            "/whoami?a=1",
            &[cookie(b"s=1"), cookie(b"t=2; x=\xff")],
        );
        let key = base.key();
        let mut others = vec![
            encode(
                "POST",
                "/whoami?a=1",
                &[cookie(b"s=1"), cookie(b"t=2; x=\xff")],
            ),
            encode(
                "GET",
                "/whoami?a=2",
                &[cookie(b"s=1"), cookie(b"t=2; x=\xff")],
            ),
            encode(
                "GET",
                "/whoami?a=1",
                &[cookie(b"s=1"), cookie(b"t=2; x=\xfe")],
            ),
            encode("GET", "/whoami?a=1", &[cookie(b"s=1")]),
            encode("GET", "/whoami?a=1", &[cookie(b"s=1t=2; x=\xff")]),
            encode(
                "GET",
                "/whoami?a=1",
                &[
                    cookie(b"s=1"),
                    (Op::Insert, "cookie", b"t=2; x=\xff".to_vec()),
                ],
            ),
        ];
        let cookies = [cookie(b"s=1"), cookie(b"t=2; x=\xff")];
        others.push(encode_at(
            "https",
            "kratos:4433",
            "GET",
            "/whoami?a=1",
            &cookies,
        ));
        others.push(encode_at(
            "http",
            "kratos:4434",
            "GET",
            "/whoami?a=1",
            &cookies,
        ));
        for other in &others {
            assert_ne!(other.key(), key, "{other:?}");
        }
        assert_eq!(
            encode(
                "GET",
                "/whoami?a=1",
                &[cookie(b"s=1"), cookie(b"t=2; x=\xff")]
            )
            .key(),
            key,
            "the same request, the same key"
        );
    }

    #[test]
    fn truncated_or_corrupt_bytes_do_not_decode() {
        let whole = encode("GET", "/x", &[(Op::Append, "cookie", b"s=1".to_vec())]);
        for len in 0..whole.bytes.len() {
            let cut = Outbound {
                bytes: whole.bytes[..len].to_vec(),
            };
            // A cut between two headers is a valid shorter request; anything else is refused.
            if let Ok(request) = cut.to_request() {
                assert!(request.headers.is_empty(), "{len}");
            }
        }
        let mut bad_op = whole;
        let at = encode("GET", "/x", &[]).bytes.len();
        assert_eq!(bad_op.bytes[at], Op::Append.tag());
        bad_op.bytes[at] = b'z';
        assert!(bad_op.to_request().is_err());
    }
}
