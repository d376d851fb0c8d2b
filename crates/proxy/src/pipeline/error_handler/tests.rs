use http::{HeaderMap, HeaderValue, StatusCode};
use oathkeeper_core::candidate::Candidate;
use oathkeeper_core::handler::Family;
use serde_json::json;

use super::*;
use crate::pipeline::{CompileError, Denial};

fn request<'a>(headers: &'a HeaderMap, forwarded_uri: Option<&'a str>) -> OriginalRequest<'a> {
    OriginalRequest {
        candidate: Candidate {
            method: "GET",
            scheme: "https",
            host: "app.example",
            path: "/private/page",
            forwarded_uri,
        },
        query: None,
        headers,
        remote_ip: Some("10.0.0.7".parse().unwrap()),
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(*n, HeaderValue::from_static(v));
    }
    h
}

fn handler(id: &str, config: &serde_json::Value) -> ErrorHandler {
    ErrorHandler::compile(id, config).unwrap()
}

#[test]
fn when_error_names_follow_the_status() {
    let h = handler(
        "json",
        &json!({"when": [{"error": ["unauthorized", "forbidden"]}]}),
    );
    let hm = HeaderMap::new();
    let r = request(&hm, None);
    assert!(h.responsible(&Denial::unauthorized("x"), &r));
    assert!(h.responsible(&Denial::forbidden("x"), &r));
    assert!(!h.responsible(&Denial::no_rule(), &r));
    assert!(!h.responsible(&Denial::internal("x"), &r));
    let h = handler(
        "json",
        &json!({"when": [{"error": ["not_found", "internal_server_error"]}]}),
    );
    assert!(h.responsible(&Denial::no_rule(), &r));
    assert!(h.responsible(&Denial::ambiguous(), &r));
}

#[test]
fn empty_when_is_always_responsible() {
    let h = handler("json", &json!({}));
    let hm = HeaderMap::new();
    assert!(h.responsible(&Denial::no_rule(), &request(&hm, None)));
}

#[test]
fn accept_patterns_may_be_wildcards_but_request_wildcards_are_literal() {
    let html = handler(
        "json",
        &json!({"when": [{"request": {"header": {"accept": ["text/html"]}}}]}),
    );
    let text_any = handler(
        "json",
        &json!({"when": [{"request": {"header": {"accept": ["text/*"]}}}]}),
    );
    let d = Denial::unauthorized("x");
    let browser = headers(&[(
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    )]);
    let curl = headers(&[("accept", "*/*")]);
    let none = HeaderMap::new();
    assert!(html.responsible(&d, &request(&browser, None)));
    assert!(
        !html.responsible(&d, &request(&curl, None)),
        "a client's */* does not match text/html (#323)"
    );
    assert!(
        !html.responsible(&d, &request(&none, None)),
        "no Accept means application/octet-stream"
    );
    assert!(text_any.responsible(&d, &request(&browser, None)));
    let any = handler(
        "json",
        &json!({"when": [{"request": {"header": {"accept": ["*/*"]}}}]}),
    );
    assert!(any.responsible(&d, &request(&none, None)));
}

#[test]
fn content_type_conditions_ignore_parameters() {
    let h = handler(
        "json",
        &json!({"when": [{"request": {"header": {"content_type": ["application/json"]}}}]}),
    );
    let d = Denial::unauthorized("x");
    let json_ct = headers(&[("content-type", "application/json; charset=utf-8")]);
    let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
    assert!(h.responsible(&d, &request(&json_ct, None)));
    assert!(!h.responsible(&d, &request(&form, None)));
}

#[test]
fn remote_ip_conditions_match_the_peer_and_optionally_x_forwarded_for() {
    let peer = handler(
        "json",
        &json!({"when": [{"request": {"remote_ip": {"match": ["10.0.0.0/8"]}}}]}),
    );
    let xff = handler(
        "json",
        &json!({"when": [{"request": {"remote_ip": {"match": ["192.168.1.1"], "respect_forwarded_for_header": true}}}]}),
    );
    let strict = handler(
        "json",
        &json!({"when": [{"request": {"remote_ip": {"match": ["192.168.1.1"]}}}]}),
    );
    let d = Denial::unauthorized("x");
    let forwarded = headers(&[("x-forwarded-for", "172.16.0.1, 192.168.1.1")]);
    assert!(peer.responsible(&d, &request(&forwarded, None)));
    assert!(xff.responsible(&d, &request(&forwarded, None)));
    assert!(!strict.responsible(&d, &request(&forwarded, None)));
}

#[test]
fn when_clauses_or_together_and_error_and_request_and_together() {
    let h = handler(
        "json",
        &json!({"when": [
            {"error": ["unauthorized"], "request": {"header": {"accept": ["text/html"]}}},
            {"error": ["not_found"]}
        ]}),
    );
    let html = headers(&[("accept", "text/html")]);
    let api = headers(&[("accept", "application/json")]);
    assert!(h.responsible(&Denial::unauthorized("x"), &request(&html, None)));
    assert!(!h.responsible(&Denial::unauthorized("x"), &request(&api, None)));
    assert!(h.responsible(&Denial::no_rule(), &request(&api, None)));
}

#[test]
fn invalid_when_is_a_compile_error() {
    assert!(
        ErrorHandler::compile(
            "json",
            &json!({"when": [{"request": {"header": {"accept": ["nope"]}}}]})
        )
        .is_err()
    );
    assert!(
        ErrorHandler::compile(
            "json",
            &json!({"when": [{"request": {"remote_ip": {"match": ["x"]}}}]})
        )
        .is_err()
    );
    assert!(ErrorHandler::compile("json", &json!({"when": [{"bogus": 1}]})).is_err());
}

#[test]
fn selection_prefers_one_responsible_rule_handler_then_fallback_order() {
    let hm = headers(&[("accept", "text/html")]);
    let r = request(&hm, None);
    let d = Denial::unauthorized("x");
    let redirect = handler(
        "redirect",
        &json!({"to": "https://login/", "when": [{"request": {"header": {"accept": ["text/html"]}}}]}),
    );
    let json_h = handler("json", &json!({}));
    let www = handler(
        "www_authenticate",
        &json!({"when": [{"error": ["not_found"]}]}),
    );
    // The rule's own handler wins.
    let rule = [redirect];
    let fallback: Vec<Fallback> = vec![Ok(json_h)];
    assert!(matches!(
        select(&rule, &fallback, &d, &r),
        Ok(ErrorHandler::Redirect(_))
    ));
    // Two responsible rule handlers: 500.
    let two = [handler("json", &json!({})), handler("json", &json!({}))];
    let e = select(&two, &fallback, &d, &r).unwrap_err();
    assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
    // Nothing responsible in the rule: the first responsible fallback.
    let fallback: Vec<Fallback> = vec![Ok(www), Ok(handler("json", &json!({})))];
    assert!(matches!(
        select(&[], &fallback, &d, &r),
        Ok(ErrorHandler::Json(_))
    ));
    // A disabled fallback met on the way: 500.
    let fallback: Vec<Fallback> = vec![Err(CompileError::DisabledHandler {
        family: Family::ErrorHandler,
        id: "redirect".into(),
    })];
    assert_eq!(
        select(&[], &fallback, &d, &r).unwrap_err().status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // Nothing at all: 500.
    let only_www: Vec<Fallback> = vec![Ok(handler(
        "www_authenticate",
        &json!({"when": [{"error": ["not_found"]}]}),
    ))];
    assert_eq!(
        select(&[], &only_www, &d, &r).unwrap_err().reason,
        "no matching error handling strategy was found"
    );
}

fn location(config: &serde_json::Value, forwarded_uri: Option<&str>) -> String {
    let hm = HeaderMap::new();
    let r = request(&hm, forwarded_uri);
    let response = handler("redirect", config).handle(&Denial::unauthorized("x"), &r);
    assert_eq!(response.status(), StatusCode::FOUND);
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[test]
fn redirect_appends_the_original_url_as_go_encodes_it() {
    assert_eq!(
        location(
            &json!({"to": "https://login.example/ui/login", "return_to_query_param": "return_to"}),
            Some("/private/page?a=1 2")
        ),
        "https://login.example/ui/login?return_to=https%3A%2F%2Fapp.example%2Fprivate%2Fpage%3Fa%3D1+2"
    );
    // Existing parameters are kept and sorted by key, as url.Values.Encode does.
    assert_eq!(
        location(
            &json!({"to": "https://l/x?z=1&flow=a b", "return_to_query_param": "rt"}),
            None
        ),
        "https://l/x?flow=a+b&rt=https%3A%2F%2Fapp.example%2Fprivate%2Fpage&z=1"
    );
    assert_eq!(
        location(&json!({"to": "https://l/x"}), None),
        "https://l/x",
        "no parameter without return_to_query_param"
    );
}

#[test]
fn redirect_location_is_always_absolute() {
    assert_eq!(
        location(&json!({"to": "/login"}), None),
        "https://app.example/login"
    );
    assert_eq!(
        location(&json!({"to": "//idp.example/login"}), None),
        "https://idp.example/login"
    );
}

#[test]
fn redirect_code_is_302_unless_301() {
    let hm = HeaderMap::new();
    let r = request(&hm, None);
    let d = Denial::unauthorized("x");
    assert_eq!(
        handler("redirect", &json!({"to": "https://l", "code": 301}))
            .handle(&d, &r)
            .status(),
        301
    );
    assert_eq!(
        handler("redirect", &json!({"to": "https://l", "code": 307}))
            .handle(&d, &r)
            .status(),
        302
    );
    assert!(
        ErrorHandler::compile("redirect", &json!({})).is_err(),
        "to is required"
    );
    assert!(
        ErrorHandler::compile(
            "redirect",
            &json!({"to": "https://l", "return_to_query_param": "a b"})
        )
        .is_err()
    );
}

#[test]
fn www_authenticate_challenges_with_the_realm() {
    let hm = HeaderMap::new();
    let r = request(&hm, None);
    let response = handler("www_authenticate", &json!({"realm": "unauthorized"}))
        .handle(&Denial::no_rule(), &r);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=unauthorized"
    );
    let response = handler("www_authenticate", &json!({})).handle(&Denial::no_rule(), &r);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=Please authenticate."
    );
}

#[test]
fn json_verbose_adds_the_reason_and_passes_rate_limit_headers() {
    let hm = HeaderMap::new();
    let r = request(&hm, None);
    let mut d = Denial::upstream(StatusCode::TOO_MANY_REQUESTS, "slow down");
    let mut extra = HeaderMap::new();
    extra.insert("retry-after", HeaderValue::from_static("3"));
    d.headers = Some(Box::new(extra));
    let response = handler("json", &json!({"verbose": true})).handle(&d, &r);
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "3");
}

/// Go's `url.QueryEscape`, byte by byte, for the reference below.
fn go_query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Upstream's location, step by step as Go builds it: parse the query of `to`, set
/// `return_to` to the original URL, `url.Values.Encode` (sorted by key, stable).
fn reference_location(to: &str, return_to: &str, original: &str) -> String {
    let (rest, fragment) = to.split_once('#').map_or((to, None), |(r, f)| (r, Some(f)));
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let unescape = |t: &str| {
        percent_encoding::percent_decode_str(&t.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .filter(|(k, _)| k != return_to)
        .collect();
    params.push((return_to.to_owned(), original.to_owned()));
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = base.to_owned();
    for (i, (k, v)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&format!("{}={}", go_query_escape(k), go_query_escape(v)));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

proptest::proptest! {
    /// The location built once per handler and completed per request is upstream's, for any
    /// parameters in `to` (the return_to key among them, escapes, `+`, a fragment) and any
    /// original URL.
    #[test]
    fn redirect_location_is_upstreams_for_any_to_and_original_url(
        params in proptest::collection::vec(("(a|rt|return_to|z|k k|%41)", "[a-z +%2F/é]{0,4}"), 0..4),
        fragment in proptest::option::of("[a-z]{0,3}"),
        return_to in "(a|rt|return_to|z)",
        uri in "/[a-z/ ?=&é%+]{0,12}",
    ) {
        let mut to = "https://login.example/ui".to_owned();
        for (i, (k, v)) in params.iter().enumerate() {
            to.push(if i == 0 { '?' } else { '&' });
            to.push_str(&format!("{k}={v}"));
        }
        if let Some(f) = &fragment {
            to.push('#');
            to.push_str(f);
        }
        let config = json!({"to": to, "return_to_query_param": return_to});
        let original = format!("https://app.example{uri}");
        proptest::prop_assert_eq!(
            location(&config, Some(&uri)),
            reference_location(&to, &return_to, &original)
        );
    }
}
