use proptest::prelude::*;

use super::*;

fn via_uri(uri: &str) -> Forwarded<'_> {
    Forwarded {
        uri: Some(uri.as_bytes()),
        host: Some(b"app.example.com"),
        proto: Some(b"https"),
        method: Some(b"GET"),
        request_method: "GET",
        ..Forwarded::default()
    }
}

/// Every bypass of issue 12: the proxy forwards these raw, and an app reading them its own way
/// serves a protected path while a cleaned or decoded copy matched an allow rule.
#[test]
fn issue_12_bypass_paths_are_refused() {
    let table = [
        ("/spark/admin/../allowed", PathFault::DotSegment),
        ("/spark/admin//../allowed", PathFault::EmptySegment),
        ("/spark/admin#/../allowed", PathFault::Fragment),
        ("/spark/admin;/../allowed", PathFault::DotSegment),
        ("/spark/admin%23/../allowed", PathFault::EncodedSeparator),
        ("/spark/admin%3f/../allowed", PathFault::EncodedSeparator),
        (
            "/spark/allowed/%2e%2e/admin/secret",
            PathFault::EncodedSeparator,
        ),
        (
            "/spark/allowed/%2E%2E/admin/secret",
            PathFault::EncodedSeparator,
        ),
        (
            "/spark/allowed/.%2e/admin/secret",
            PathFault::EncodedSeparator,
        ),
        (
            "/spark/allowed/..%2fadmin/secret",
            PathFault::EncodedSeparator,
        ),
        ("/spark/allowed/..;/admin/secret", PathFault::DotSegment),
        (
            "/spark/allowed/..;jsessionid=x/admin",
            PathFault::DotSegment,
        ),
        ("/spark/allowed/.;x/admin", PathFault::DotSegment),
        ("/spark/allowed/..\\admin", PathFault::Backslash),
        ("/spark/allowed/%5c..%5cadmin", PathFault::EncodedSeparator),
        (
            "/spark/allowed/%252e%252e/admin",
            PathFault::EncodedSeparator,
        ),
        (
            "/spark/allowed/%25%32%65%25%32%65/admin",
            PathFault::EncodedSeparator,
        ),
        (
            "/spark/allowed/%c0%ae%c0%ae/admin",
            PathFault::EncodedSeparator,
        ),
        // Found by fuzzing (fuzz/regressions/request): an encoded `;` hides a parameter, and a
        // bare `%` beside escaped hex digits rebuilds an escape one decoding later.
        ("/spark/allowed/..%3bx/admin", PathFault::DotSegment),
        ("/spark/allowed/%3b/admin", PathFault::EmptySegment),
        ("/spark/allowed/%252%2566admin", PathFault::EncodedSeparator),
        (
            "/spark/allowed/%252%2565%252%2565/admin",
            PathFault::EncodedSeparator,
        ),
        ("/spark/allowed%00/x", PathFault::EncodedSeparator),
        ("/spark/allowed/./x", PathFault::DotSegment),
        ("/spark/allowed/..", PathFault::DotSegment),
        ("/spark/allowed/.", PathFault::DotSegment),
        ("/spark/allowed/;x/y", PathFault::EmptySegment),
        ("/spark/allowed/%zz", PathFault::InvalidEscape),
        ("/spark/allowed/%", PathFault::InvalidEscape),
        ("/spark/allowed/%u002e", PathFault::InvalidEscape),
        ("/spark/allowed\t/x", PathFault::Control),
        ("/spark/allowed x", PathFault::Control),
        ("//attacker.example/x", PathFault::EmptySegment),
        ("@attacker:8080/x", PathFault::NotRooted),
        ("http://evil.example/spark/x", PathFault::NotRooted),
        ("spark/x", PathFault::NotRooted),
    ];
    for (path, fault) in table {
        assert_eq!(
            rebuild(&via_uri(path)),
            Err(Refusal::Path(fault)),
            "X-Forwarded-Uri {path:?}"
        );
    }
}

#[test]
fn valid_paths_are_matched_exactly_as_sent() {
    let table = [
        "/",
        "/spark/allowed",
        "/spark/allowed/",
        "/spark/allowed/a%20b",
        "/spark/allowed/a+b",
        "/spark/allowed/caf\u{e9}",
        "/spark/allowed/a%C3%A9",
        "/spark/allowed;jsessionid=1/x",
        "/spark/allowed/...",
        "/spark/allowed/.well-known",
        "/spark/50%25off",
        "/spark/%2525",
        "/spark/~user/a-b_c",
    ];
    for path in table {
        let candidate = rebuild(&via_uri(path)).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(candidate.path, path);
    }
}

#[test]
fn the_query_is_split_off_and_not_validated_as_a_path() {
    let candidate = rebuild(&via_uri("/spark/x?next=/../admin&a=%2e#frag")).unwrap();
    assert_eq!(candidate.path, "/spark/x");
    assert_eq!(
        candidate.forwarded_uri,
        Some("/spark/x?next=/../admin&a=%2e#frag")
    );
}

#[test]
fn the_decisions_suffix_is_used_raw_when_no_uri_is_forwarded() {
    let forwarded = Forwarded {
        request_method: "GET",
        request_host: Some(b"127.0.0.1:4456"),
        suffix: "/a%20b",
        ..Forwarded::default()
    };
    let candidate = rebuild(&forwarded).unwrap();
    assert_eq!(
        candidate,
        Candidate {
            method: "GET",
            scheme: "http",
            host: "127.0.0.1:4456",
            path: "/a%20b",
            forwarded_uri: None
        }
    );
    let encoded_slash = Forwarded {
        suffix: "/allowed%2f..%2fadmin",
        ..forwarded
    };
    assert_eq!(
        rebuild(&encoded_slash),
        Err(Refusal::Path(PathFault::EncodedSeparator))
    );
    let bare = Forwarded {
        suffix: "",
        ..forwarded
    };
    assert_eq!(rebuild(&bare).unwrap().path, "");
}

#[test]
fn empty_forwarded_values_count_as_absent() {
    let forwarded = Forwarded {
        method: Some(b""),
        proto: Some(b""),
        host: Some(b""),
        uri: Some(b""),
        request_method: "POST",
        request_host: Some(b"decider:4456"),
        suffix: "/x",
        tls: false,
    };
    assert_eq!(
        rebuild(&forwarded).unwrap(),
        Candidate {
            method: "POST",
            scheme: "http",
            host: "decider:4456",
            path: "/x",
            forwarded_uri: None
        }
    );
}

#[test]
fn hosts_are_dns_names_or_ip_addresses_with_an_optional_port() {
    let good = [
        "app.example.com",
        "app.example.com.",
        "localhost:8080",
        "127.0.0.1",
        "127.0.0.1:443",
        "[::1]",
        "[::1]:4456",
        "spark-history_server.model.svc.cluster.local",
    ];
    let bad = [
        "app.example.com/admin",
        "app.example.com:80/x",
        "user@app.example.com",
        "app..example.com",
        ".example.com",
        "app.example.com:",
        "app.example.com:99999",
        "app.example.com:8a",
        "[::1",
        "[::1]x",
        "[not-ip]:80",
        "app example",
        "app%2eexample",
        "app.example.com?x",
        "app.example.com#x",
    ];
    for host in good {
        let forwarded = Forwarded {
            host: Some(host.as_bytes()),
            ..via_uri("/x")
        };
        assert_eq!(rebuild(&forwarded).map(|c| c.host), Ok(host), "{host:?}");
    }
    for host in bad {
        let forwarded = Forwarded {
            host: Some(host.as_bytes()),
            ..via_uri("/x")
        };
        assert_eq!(rebuild(&forwarded), Err(Refusal::Host), "{host:?}");
    }
    let none = Forwarded {
        host: None,
        request_host: None,
        ..via_uri("/x")
    };
    assert_eq!(rebuild(&none), Err(Refusal::NoHost));
}

/// Spec oathkeeper-workload.md §1.2 (scheme): `X-Forwarded-Proto`, else `https` if the API
/// connection is TLS, else `http`.
#[test]
fn the_scheme_follows_the_connection_unless_x_forwarded_proto_is_sent() {
    let table: [(Option<&[u8]>, bool, &str); 6] = [
        (None, false, "http"),
        (None, true, "https"),
        (Some(b""), true, "https"),
        (Some(b"http"), true, "http"),
        (Some(b"https"), false, "https"),
        (Some(b"http"), false, "http"),
    ];
    for (proto, tls, scheme) in table {
        let forwarded = Forwarded {
            proto,
            tls,
            ..via_uri("/x")
        };
        assert_eq!(
            rebuild(&forwarded).map(|c| c.scheme),
            Ok(scheme),
            "{proto:?} tls={tls}"
        );
    }
    let suffix_only = Forwarded {
        request_method: "GET",
        request_host: Some(b"oathkeeper:4456"),
        suffix: "/x",
        tls: true,
        ..Forwarded::default()
    };
    assert_eq!(rebuild(&suffix_only).unwrap().scheme, "https");
}

#[test]
fn only_http_and_https_schemes_and_token_methods_pass() {
    for proto in ["ftp", "HTTP", "http:", "https://x", "javascript"] {
        let forwarded = Forwarded {
            proto: Some(proto.as_bytes()),
            ..via_uri("/x")
        };
        assert_eq!(rebuild(&forwarded), Err(Refusal::Scheme), "{proto:?}");
    }
    for method in ["GE T", "GET\t", "G(ET)", "GÉT"] {
        let forwarded = Forwarded {
            method: Some(method.as_bytes()),
            ..via_uri("/x")
        };
        assert!(rebuild(&forwarded).is_err(), "{method:?}");
    }
    let custom = Forwarded {
        method: Some(b"PROPFIND"),
        ..via_uri("/x")
    };
    assert_eq!(rebuild(&custom).unwrap().method, "PROPFIND");
}

#[test]
fn non_utf8_parts_are_refused_and_name_the_part() {
    let forwarded = Forwarded {
        uri: Some(b"/a\xff"),
        ..via_uri("/x")
    };
    assert_eq!(rebuild(&forwarded), Err(Refusal::NotUtf8(Part::Path)));
    assert_eq!(
        Refusal::NotUtf8(Part::Host).to_string(),
        "the forwarded host is not UTF-8"
    );
}

#[test]
fn match_url_joins_scheme_host_and_path() {
    assert_eq!(
        match_url("https", "localhost:1234", "/x"),
        "https://localhost:1234/x"
    );
}

/// Decodes every valid escape, as a lenient app would.
fn decode(path: &[u8]) -> Vec<u8> {
    super::percent_decode(path)
}

/// What an app may see after decoding: a dot segment, an empty inner segment, or a separator.
fn dangerous(path: &[u8]) -> bool {
    if path.contains(&b'\\') || path.contains(&b'#') {
        return true;
    }
    let segments: Vec<&[u8]> = path.split(|&b| b == b'/').skip(1).collect();
    segments.iter().enumerate().any(|(i, s)| {
        let name = s.split(|&b| b == b';').next().unwrap_or(s);
        name == b"." || name == b".." || (name.is_empty() && i + 1 < segments.len())
    })
}

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "spark", ".", "..", "", "%2e", "%2E", "%2f", "%2F", "%5c", "%23", "%3f", "%00", "%25",
        "25", "2e", "2", "e", "%32", "%65", ";", ";x", "\\", "#", "%20", "+", "\u{e9}", "%", "%zz",
        "%c0", "%ae", "~", "%3b", "%3B", "%66", "6",
    ])
}

fn generated_path() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::collection::vec(piece(), 0..4), any::<bool>()), 0..6).prop_map(
        |segments| {
            let mut path = String::new();
            for (pieces, slash) in segments {
                if slash {
                    path.push('/');
                }
                for p in pieces {
                    path.push_str(p);
                }
            }
            path
        },
    )
}

fn safe_segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_~+-]{1,8}(%20|%C3%A9|\u{e9})?(;[a-z]=[0-9])?"
}

proptest! {
    /// The fuzz target's property, on generated paths: an accepted path is the text that was
    /// sent, and no number of percent-decodings turns it into a dot segment, an empty segment or
    /// a separator.
    #[test]
    fn no_accepted_path_hides_a_dot_segment_or_separator_at_any_decoding(path in generated_path()) {
        if let Ok(candidate) = rebuild(&via_uri(&path)) {
            prop_assert_eq!(candidate.path, path.split_once('?').map_or(path.as_str(), |(p, _)| p));
            let mut level = candidate.path.as_bytes().to_vec();
            loop {
                prop_assert!(!dangerous(&level), "{:?} decodes to {:?}", path, String::from_utf8_lossy(&level));
                let next = decode(&level);
                if next == level {
                    break;
                }
                level = next;
            }
        }
    }

    /// Ordinary paths (letters, digits, `%20`, `+`, UTF-8, `;` parameters, a trailing `/`) pass.
    #[test]
    fn ordinary_paths_pass(segments in prop::collection::vec(safe_segment(), 1..6), trailing in any::<bool>()) {
        let mut path = format!("/{}", segments.join("/"));
        if trailing {
            path.push('/');
        }
        prop_assert_eq!(rebuild(&via_uri(&path)).map(|c| c.path), Ok(path.as_str()));
    }
}

/// The two-pass [`check_level`] this one-pass version replaced (issue 17), kept as the oracle:
/// every byte first, then every segment.
fn two_pass_level(path: &[u8], raw: bool) -> Result<(), PathFault> {
    let mut i = 0;
    while i < path.len() {
        match path[i] {
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
    let mut segments = path.split(|&b| b == b'/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        let name = segment.split(|&b| b == b';').next().unwrap_or(segment);
        match name {
            b"" if last && segment.is_empty() => {}
            b"" => return Err(PathFault::EmptySegment),
            b"." | b".." => return Err(PathFault::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    /// The one-pass level check gives the two-pass one's answer, fault for fault, on generated
    /// paths (raw and decoded levels) and on arbitrary bytes.
    #[test]
    fn one_pass_level_check_gives_the_two_pass_answer(
        path in generated_path(),
        bytes in prop::collection::vec(prop::sample::select(b"/;.%2eE5cf\\#a \x01".to_vec()), 0..16),
        raw in any::<bool>(),
    ) {
        prop_assert_eq!(check_level(path.as_bytes(), raw), two_pass_level(path.as_bytes(), raw), "{:?}", path);
        prop_assert_eq!(check_level(&bytes, raw), two_pass_level(&bytes, raw), "{:?}", bytes);
    }
}
