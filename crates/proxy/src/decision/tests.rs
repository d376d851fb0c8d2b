use http::{Request, StatusCode};
use oathkeeper_core::config::{NoEnv, parse_config};
use oathkeeper_core::rule::parse_rules;

use super::*;
use crate::snapshot::{RuleFile, compile};

pub(crate) const CHARM_CONFIG: &str = include_str!("../../tests/fixtures/charm-oathkeeper.yaml");
const CHARM_ALLOW: &str = include_str!("../../tests/fixtures/access-rules-requirer-allow.json");
const CHARM_DENY: &str = include_str!("../../tests/fixtures/access-rules-requirer-deny.json");

fn snapshot(config: &str, files: &[&str]) -> Snapshot {
    let config = parse_config(&config.replace("__KRATOS__", "http://127.0.0.1:9"), &NoEnv).unwrap();
    let files: Vec<RuleFile> = files
        .iter()
        .enumerate()
        .map(|(i, text)| RuleFile {
            repository: format!("test-{i}"),
            rules: parse_rules(text.as_bytes()).unwrap(),
        })
        .collect();
    compile(&config, &files, Default::default())
}

async fn ask(
    snapshot: &Snapshot,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Response<ResponseBody> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    decide(
        snapshot,
        &parts,
        Some("127.0.0.1".parse().unwrap()),
        &Cx {
            metrics: &crate::metrics::Metrics::new(""),
        },
    )
    .await
    .0
}

const SIMPLE_CONFIG: &str = r#"
authenticators: {anonymous: {enabled: true}, noop: {enabled: true}, unauthorized: {enabled: true}}
authorizers: {allow: {enabled: true}, deny: {enabled: true}}
mutators: {noop: {enabled: true}, header: {enabled: true}}
errors:
  handlers:
    www_authenticate: {enabled: true}
"#;

fn rule(id: &str, url: &str, methods: &str, authn: &str, authz: &str, mutator: &str) -> String {
    format!(
        r#"{{"id":"{id}","match":{{"url":"{url}","methods":{methods}}},"authenticators":[{{"handler":"{authn}"}}],"authorizer":{{"handler":"{authz}"}},"mutators":[{{"handler":"{mutator}"}}]}}"#
    )
}

/// A snapshot with one rule `r` letting `GET url` through (noop, allow, noop).
fn open_rule(url: &str) -> Snapshot {
    snapshot(
        SIMPLE_CONFIG,
        &[&rules(&[rule(
            "r",
            url,
            r#"["GET"]"#,
            "noop",
            "allow",
            "noop",
        )])],
    )
}

fn rules(list: &[String]) -> String {
    format!("[{}]", list.join(","))
}

#[tokio::test]
async fn url_rebuild_uses_forwarded_headers_first() {
    let s = snapshot(
        SIMPLE_CONFIG,
        &[&rules(&[rule(
            "r",
            "https://foobar.ory/some/path",
            r#"["POST"]"#,
            "noop",
            "allow",
            "noop",
        )])],
    );
    let forwarded = [
        ("X-Forwarded-Method", "POST"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "foobar.ory"),
        ("X-Forwarded-Uri", "/some/path?x=1"),
    ];
    assert_eq!(
        ask(&s, "GET", "http://oathkeeper:4456/decisions", &forwarded)
            .await
            .status(),
        StatusCode::OK
    );
    // Without them: the decision request's own method, http, Host and path suffix.
    let r = ask(
        &s,
        "POST",
        "/decisions/some/path",
        &[("Host", "foobar.ory")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "scheme defaults to http");
    let s = snapshot(
        SIMPLE_CONFIG,
        &[&rules(&[rule(
            "r",
            "http://foobar.ory/some/path",
            r#"["POST"]"#,
            "noop",
            "allow",
            "noop",
        )])],
    );
    assert_eq!(
        ask(
            &s,
            "POST",
            "/decisions/some/path",
            &[("Host", "foobar.ory")]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(&s, "GET", "/decisions/some/path", &[("Host", "foobar.ory")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn host_keeps_its_port() {
    let s = open_rule("http://oathkeeper-api:4456/x");
    assert_eq!(
        ask(
            &s,
            "GET",
            "/decisions/x",
            &[("Host", "oathkeeper-api:4456")]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(&s, "GET", "/decisions/x", &[("Host", "oathkeeper-api")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// Issue 12: the proxy forwards the raw path to the app, so a path a cleaned copy would match
/// differently is refused (400, before any rule is looked at), never repaired.
#[tokio::test]
async fn issue_12_non_canonical_paths_are_refused_not_cleaned() {
    let s = open_rule("https://localhost/<.*>");
    let h = |uri| {
        [
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "localhost"),
            ("X-Forwarded-Uri", uri),
        ]
    };
    for uri in [
        "/public/../admin/secrets",
        "/admin//secrets/",
        "/admin/x/../../public",
        "/public/%2e%2e/admin",
        "/public/..%2fadmin",
        "/public/..;/admin",
        "/public%23/../admin",
        "/public\\..\\admin",
        "@attacker:8080/x",
    ] {
        let response = ask(&s, "GET", "/decisions", &h(uri)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri:?}");
    }
    for uri in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2f/admin",
    ] {
        let suffix = format!("/decisions{uri}");
        let response = ask(&s, "GET", &suffix, &[("Host", "localhost")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{suffix:?}");
    }
    // A trailing slash is tolerated and matched as sent.
    assert_eq!(
        ask(&s, "GET", "/decisions", &h("/admin/secrets/"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn paths_are_matched_raw_in_both_modes() {
    let s = open_rule("http://h/a%20b+c");
    assert_eq!(
        ask(&s, "GET", "/decisions/a%20b+c", &[("Host", "h")])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(
            &s,
            "GET",
            "/decisions",
            &[("Host", "h"), ("X-Forwarded-Uri", "/a%20b+c")]
        )
        .await
        .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn raw_utf8_in_a_forwarded_path_is_matched_as_sent() {
    let s = open_rule("http://h/caf\u{e9}");
    let mut request = Request::builder().uri("/decisions").header("Host", "h");
    request = request.header(
        "X-Forwarded-Uri",
        http::HeaderValue::from_bytes("/caf\u{e9}".as_bytes()).unwrap(),
    );
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let metrics = crate::metrics::Metrics::new("");
    let (response, outcome) = decide(&s, &parts, None, &Cx { metrics: &metrics }).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome.url, "http://h/caf\u{e9}");
}

#[tokio::test]
async fn forwarded_hosts_schemes_and_methods_are_validated() {
    let s = open_rule("<.*>");
    for headers in [
        [("X-Forwarded-Host", "h/admin"), ("X-Forwarded-Uri", "/x")],
        [("X-Forwarded-Host", "h@evil"), ("X-Forwarded-Uri", "/x")],
        [("X-Forwarded-Proto", "ftp"), ("X-Forwarded-Uri", "/x")],
        [("X-Forwarded-Method", "G ET"), ("X-Forwarded-Uri", "/x")],
    ] {
        let response = ask(&s, "GET", "/decisions", &headers).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{headers:?}");
    }
    let r = ask(&s, "GET", "/decisions/x", &[("Host", "h/admin")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "Host is validated too");
}

#[tokio::test]
async fn empty_forwarded_headers_count_as_absent() {
    let s = open_rule("http://h/x");
    let empty = [
        ("Host", "h"),
        ("X-Forwarded-Method", ""),
        ("X-Forwarded-Proto", ""),
        ("X-Forwarded-Host", ""),
        ("X-Forwarded-Uri", ""),
    ];
    assert_eq!(
        ask(&s, "GET", "/decisions/x", &empty).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_forwarded_header_sent_twice_is_refused() {
    let s = open_rule("http://<.*>");
    let twice = [
        ("Host", "h"),
        ("X-Forwarded-Uri", "/public"),
        ("X-Forwarded-Uri", "/admin"),
    ];
    assert_eq!(
        ask(&s, "GET", "/decisions", &twice).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn query_is_ignored_for_matching() {
    let s = open_rule("http://h/users/<[0-9]+>");
    assert_eq!(
        ask(
            &s,
            "GET",
            "/decisions/users/1234?key=value",
            &[("Host", "h")]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(
            &s,
            "GET",
            "/decisions",
            &[("Host", "h"), ("X-Forwarded-Uri", "/users/1234?key=value")]
        )
        .await
        .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn bare_decisions_matches_an_empty_path() {
    let s = open_rule("http://h");
    assert_eq!(
        ask(&s, "GET", "/decisions", &[("Host", "h")])
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn no_rule_is_404_and_two_rules_are_500() {
    let s = snapshot(
        SIMPLE_CONFIG,
        &[&rules(&[
            rule("a", "http://h/<.*>", r#"["GET"]"#, "noop", "allow", "noop"),
            rule("b", "http://h/x", r#"["GET"]"#, "noop", "allow", "noop"),
        ])],
    );
    assert_eq!(
        ask(&s, "GET", "/decisions/y", &[("Host", "other")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ask(&s, "GET", "/decisions/x", &[("Host", "h")])
            .await
            .status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        ask(&s, "GET", "/decisions/y", &[("Host", "h")])
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn handler_outcomes_map_to_upstream_statuses() {
    let s = snapshot(
        SIMPLE_CONFIG,
        &[&rules(&[
            rule(
                "anon",
                "http://h/anon",
                r#"["GET"]"#,
                "anonymous",
                "allow",
                "noop",
            ),
            rule(
                "deny",
                "http://h/deny",
                r#"["GET"]"#,
                "anonymous",
                "deny",
                "noop",
            ),
            rule(
                "unauth",
                "http://h/unauth",
                r#"["GET"]"#,
                "unauthorized",
                "allow",
                "noop",
            ),
            rule(
                "disabled",
                "http://h/disabled",
                r#"["GET"]"#,
                "anonymous",
                "allow",
                "cookie",
            ),
        ])],
    );
    let h = [("Host", "h")];
    assert_eq!(
        ask(&s, "GET", "/decisions/anon", &h).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(
            &s,
            "GET",
            "/decisions/anon",
            &[("Host", "h"), ("Authorization", "Basic x")]
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED,
        "anonymous is not responsible when Authorization is sent"
    );
    assert_eq!(
        ask(&s, "GET", "/decisions/deny", &h).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ask(&s, "GET", "/decisions/unauth", &h).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ask(&s, "GET", "/decisions/disabled", &h).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "a rule using a disabled handler answers 500"
    );
}

#[tokio::test]
async fn json_errors_use_the_herodot_envelope() {
    let s = snapshot(
        SIMPLE_CONFIG,
        &[&rules(&[rule(
            "u",
            "http://h/u",
            r#"["GET"]"#,
            "unauthorized",
            "allow",
            "noop",
        )])],
    );
    let r = ask(&s, "GET", "/decisions/u", &[("Host", "h")]).await;
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body = http_body_util::BodyExt::collect(r.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(
        &body[..],
        br#"{"error":{"code":401,"status":"Unauthorized","message":"The request could not be authorized"}}"#
    );
}

#[tokio::test]
async fn noop_mutator_does_not_echo_client_headers() {
    let s = open_rule("http://h/x");
    let r = ask(
        &s,
        "GET",
        "/decisions/x",
        &[
            ("Host", "h"),
            ("X-User", "admin"),
            ("Cookie", "a=b"),
            ("Content-Length", "0"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().get("x-user").is_none(),
        "a client's X-User must not come back"
    );
    assert!(r.headers().get("cookie").is_none());
    assert!(r.headers().get("content-length").is_none());
}

#[tokio::test]
async fn charm_rules_decide_per_path() {
    // spec/charm-parity.md §6.4 with the §6.6 config: allowed endpoints pass without a
    // session; everything else under the URL needs one.
    let s = snapshot(CHARM_CONFIG, &[CHARM_ALLOW, CHARM_DENY]);
    assert!(
        s.diagnostics
            .iter()
            .all(|d| d.severity != crate::snapshot::Severity::Error),
        "{:?}",
        s.diagnostics
    );
    let ask_path = |uri: &'static str, accept: &'static str| {
        let s = &s;
        async move {
            ask(
                s,
                "GET",
                "/decisions",
                &[
                    ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-Host", "example.com"),
                    ("X-Forwarded-Uri", uri),
                    ("Accept", accept),
                ],
            )
            .await
        }
    };
    for allowed in [
        "/welcome",
        "/welcome/",
        "/welcome/page",
        "/about/app",
        "/about/app/x?y=1",
    ] {
        assert_eq!(
            ask_path(allowed, "*/*").await.status(),
            StatusCode::OK,
            "{allowed}"
        );
    }
    for protected in ["/", "/private", "/welcomeX", "/about", "/about/other"] {
        let r = ask_path(protected, "text/html").await;
        assert_eq!(
            r.status(),
            StatusCode::FOUND,
            "{protected}: browsers go to the login page"
        );
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(
                "http://127.0.0.1:9/self-service/login/browser?return_to=https%3A%2F%2Fexample.com"
            ),
            "{location}"
        );
        let r = ask_path(protected, "*/*").await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{protected}: API clients get 401"
        );
        assert_eq!(
            r.headers()["content-type"],
            "application/json; charset=utf-8"
        );
    }
    let r = ask(
        &s,
        "GET",
        "/decisions",
        &[("X-Forwarded-Host", "other.com"), ("X-Forwarded-Uri", "/")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "no rule: www_authenticate answers"
    );
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=unauthorized");
}

#[tokio::test]
async fn return_to_keeps_the_original_query() {
    let s = snapshot(CHARM_CONFIG, &[CHARM_ALLOW, CHARM_DENY]);
    let r = ask(
        &s,
        "GET",
        "/decisions",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "example.com"),
            ("X-Forwarded-Uri", "/private/page?a=1&b=2"),
            ("Accept", "text/html,application/xhtml+xml"),
        ],
    )
    .await;
    assert_eq!(
        r.headers()["location"],
        "http://127.0.0.1:9/self-service/login/browser?return_to=https%3A%2F%2Fexample.com%2Fprivate%2Fpage%3Fa%3D1%26b%3D2"
    );
}

#[tokio::test]
async fn templates_read_the_match_context_and_capture_groups() {
    let config = r#"
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators:
  header:
    enabled: true
    config:
      headers:
        X-Scheme: "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}"
        X-Page: "{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}"
        X-Method: "{{ .MatchContext.Method }}"
        X-Path: "{{ .MatchContext.URL.Path }}"
        X-Foo: '{{ .MatchContext.Header.Get "X-Foo" }}'
"#;
    let s = snapshot(
        config,
        &[&rules(&[rule(
            "r",
            "<https|http>://h/<.*>",
            r#"["GET"]"#,
            "anonymous",
            "allow",
            "header",
        )])],
    );
    let r = ask(
        &s,
        "GET",
        "/decisions/docs/page?q=1",
        &[("Host", "h"), ("X-Foo", "bar")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-scheme"], "http");
    assert_eq!(r.headers()["x-page"], "docs/page");
    assert_eq!(r.headers()["x-method"], "GET");
    assert_eq!(r.headers()["x-path"], "/docs/page");
    assert_eq!(r.headers()["x-foo"], "bar");
}

#[tokio::test]
async fn edited_templates_apply_on_reload_oathkeeper_272() {
    let rules_text = rules(&[rule(
        "r",
        "http://h/x",
        r#"["GET"]"#,
        "anonymous",
        "allow",
        "header",
    )]);
    let config = |template: &str| {
        format!(
            "authenticators: {{anonymous: {{enabled: true}}}}\nauthorizers: {{allow: {{enabled: true}}}}\nmutators: {{header: {{enabled: true, config: {{headers: {{X-User: '{template}'}}}}}}}}\n"
        )
    };
    let before = snapshot(&config("{{ print .Subject }}"), &[&rules_text]);
    let after = snapshot(&config("user-{{ print .Subject }}"), &[&rules_text]);
    assert_eq!(
        ask(&before, "GET", "/decisions/x", &[("Host", "h")])
            .await
            .headers()["x-user"],
        "anonymous"
    );
    assert_eq!(
        ask(&after, "GET", "/decisions/x", &[("Host", "h")])
            .await
            .headers()["x-user"],
        "user-anonymous"
    );
}

#[test]
fn the_decision_future_stays_small() {
    // Session-store calls are boxed so that the common path does not carry (and copy) them.
    let s = Snapshot::default();
    let (parts, ()) = Request::builder()
        .uri("/decisions")
        .body(())
        .unwrap()
        .into_parts();
    let metrics = crate::metrics::Metrics::new("");
    let cx = Cx { metrics: &metrics };
    let future = decide(&s, &parts, None, &cx);
    let size = std::mem::size_of_val(&future);
    assert!(size < 2048, "the decision future is {size} bytes");
}
