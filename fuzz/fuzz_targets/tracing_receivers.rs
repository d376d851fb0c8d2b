//! The charm reads Tempo's `receivers` (untrusted relation data) to name the collector in the
//! workload's config. Input: the value of the provider's `receivers` key, any bytes (a databag
//! value is text, so non-UTF-8 input is dropped); `relation::tracing::parse_provider`.
//!
//! Properties of an accepted receiver: its URL, rendered back alone as a provider would write
//! it, parses to the same receiver; the URL is `http(s)://host[:port][/]` read independently
//! (`http::Uri`): scheme `http` exactly when `insecure`, no path but `/`, no query, no user
//! info, a bracketed host is an IPv6 address, and `server_url` is that host and port (the
//! scheme's default when none, never 0).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oathkeeper_charm::relation::Databag;
use oathkeeper_charm::relation::tracing::{RECEIVERS, parse_provider};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let bag: Databag = [(RECEIVERS.to_owned(), value.to_owned())].into();
    let Ok(receiver) = parse_provider(&bag) else {
        return;
    };
    let receiver = receiver.expect("written receivers are never nothing");
    let rendered = serde_json::json!([{
        "protocol": {"name": "otlp_http", "type": "http"},
        "url": receiver.url,
    }])
    .to_string();
    let again: Databag = [(RECEIVERS.to_owned(), rendered)].into();
    assert_eq!(
        parse_provider(&again),
        Ok(Some(receiver.clone())),
        "rendered back"
    );
    let uri: http::Uri = receiver
        .url
        .parse()
        .unwrap_or_else(|e| panic!("{:?} accepted: {e}", receiver.url));
    let scheme = uri.scheme_str().expect("a scheme");
    assert_eq!(receiver.insecure, scheme == "http", "{scheme}");
    assert!(scheme == "http" || scheme == "https", "{scheme}");
    assert_eq!(uri.path(), "/", "{:?} has a path", receiver.url);
    assert!(uri.query().is_none(), "{:?} has a query", receiver.url);
    let authority = uri.authority().expect("an authority");
    assert!(
        !authority.as_str().contains('@'),
        "user info in {authority}"
    );
    let host = uri.host().expect("a host");
    assert!(!host.is_empty());
    if let Some(v6) = host.strip_prefix('[') {
        let v6 = v6.strip_suffix(']').expect("a closed bracket");
        v6.parse::<std::net::Ipv6Addr>()
            .unwrap_or_else(|e| panic!("{host} accepted: {e}"));
    }
    let port = uri
        .port_u16()
        .unwrap_or(if receiver.insecure { 80 } else { 443 });
    assert_ne!(port, 0);
    assert_eq!(receiver.server_url, format!("{host}:{port}"));
});
