//! The request rebuild is where the proxy's reading of a request and the decision's reading
//! must agree: the proxy forwards the raw target to the app, so the decision must be about
//! exactly that text. Input: newline-separated fields `uri`, `suffix`, `host`, `proto`,
//! `method`, `request host` (a missing or empty field is absent).
//!
//! Property, for every accepted request: the path is byte for byte what was sent (up to `?`),
//! the match URL ends with it, and after any number of percent-decodings the path holds no
//! dot segment (`.`, `..`, also with `;` parameters), no empty segment but a trailing `/`, no
//! `\` or `#`, and no encoded separator, dot or NUL. The checks here are written
//! independently of `candidate.rs`, so they test it rather than repeat it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oathkeeper_core::candidate::{Forwarded, match_url, rebuild};

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// One round of lenient percent-decoding: valid escapes decoded, anything else kept.
fn decode(level: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(level.len());
    let mut i = 0;
    while i < level.len() {
        if level[i] == b'%' {
            if let (Some(h), Some(l)) = (
                level.get(i + 1).and_then(|&b| hex(b)),
                level.get(i + 2).and_then(|&b| hex(b)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(level[i]);
        i += 1;
    }
    out
}

/// What is wrong with one decoding level of an accepted path, if anything.
fn fault(level: &[u8]) -> Option<&'static str> {
    if level.contains(&b'\\') {
        return Some("a backslash");
    }
    if level.contains(&b'#') {
        return Some("a #");
    }
    for w in level.windows(3) {
        if let (b'%', Some(h), Some(l)) = (w[0], hex(w[1]), hex(w[2])) {
            if matches!(h << 4 | l, b'.' | b'/' | b'\\' | b'#' | b'?' | 0) {
                return Some("an encoded separator, dot or NUL");
            }
        }
    }
    let segments: Vec<&[u8]> = level.split(|&b| b == b'/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let name = segment.split(|&b| b == b';').next().unwrap_or(segment);
        if name == b"." || name == b".." {
            return Some("a dot segment");
        }
        if name.is_empty() && !(segment.is_empty() && i + 1 == segments.len()) {
            return Some("an empty segment");
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == b'\n');
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let uri = next();
    let suffix = String::from_utf8_lossy(next().unwrap_or(b""));
    let host = next();
    let proto = next();
    let method = next();
    let request_host = next().or(Some(b"auth.example.com"));
    let forwarded = Forwarded {
        method,
        proto,
        host,
        uri,
        request_method: "GET",
        request_host,
        suffix: &suffix,
        tls: false,
    };
    let Ok(candidate) = rebuild(&forwarded) else {
        return;
    };
    let sent: &[u8] = match uri {
        Some(uri) => uri.split(|&b| b == b'?').next().unwrap_or(uri),
        None => suffix.as_bytes(),
    };
    assert_eq!(
        candidate.path.as_bytes(),
        sent,
        "the accepted path is not the text sent"
    );
    let url = match_url(candidate.scheme, candidate.host, candidate.path);
    assert!(
        url.ends_with(candidate.path),
        "the match URL does not end with the path"
    );
    assert!(
        matches!(candidate.scheme, "http" | "https"),
        "accepted scheme {:?}",
        candidate.scheme
    );
    assert!(
        !candidate
            .host
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\') || b <= b' '),
        "accepted host {:?} could move the path",
        candidate.host
    );
    if candidate.path.is_empty() {
        return;
    }
    assert!(
        candidate.path.starts_with('/'),
        "accepted path {:?} is not rooted",
        candidate.path
    );
    let mut level = candidate.path.as_bytes().to_vec();
    for depth in 0.. {
        if let Some(fault) = fault(&level) {
            panic!(
                "accepted path {:?} has {fault} after {depth} percent-decoding(s): {:?}",
                candidate.path,
                String::from_utf8_lossy(&level)
            );
        }
        let decoded = decode(&level);
        if decoded == level {
            break;
        }
        level = decoded;
    }
});
