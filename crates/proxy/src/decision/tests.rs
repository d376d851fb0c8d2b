use http::{Request, StatusCode};
use oathkeeper_core::charm::config::HEADER_TEMPLATES;
use oathkeeper_core::charm::{ConfigInputs, app_rules, oathkeeper_config};
use oathkeeper_core::config::{Config, HandlerSwitch};
use oathkeeper_core::handler::header;

use super::*;
use crate::testing::{
    Case, RuleBuilder, ask, check, get, open_rule, rule, simple_config, snapshot,
};

/// Where our charm's config sends browsers and session checks: Kratos at a closed port.
const KRATOS: &str = "http://127.0.0.1:9";

const OK: StatusCode = StatusCode::OK;
const BAD_REQUEST: StatusCode = StatusCode::BAD_REQUEST;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;

/// What our charm deploys for the spec §6.4 requirer (`https://example.com`, allowed endpoints
/// `welcome` and `about/app`, the three identity headers), Kratos at [`KRATOS`]: its config and
/// its allow and deny rules files.
fn charm_snapshot() -> Snapshot {
    let login_url = format!("{KRATOS}/self-service/login/browser");
    let sessions_url = format!("{KRATOS}/sessions/whoami");
    let config = oathkeeper_config(&ConfigInputs {
        login_url: Some(&login_url),
        sessions_url: Some(&sessions_url),
        headers: HEADER_TEMPLATES.map(|(name, _)| name).to_vec(),
        ..ConfigInputs::default()
    });
    let rules = app_rules(
        "requirer",
        &["https://example.com"],
        &["welcome", "about/app"],
    )
    .unwrap();
    snapshot(&config, vec![rules.allow, rules.deny])
}

/// A config whose `header` mutator renders `headers`.
fn header_config(headers: &[(&str, &str)]) -> Config {
    let mut config = simple_config();
    config.mutators.header =
        HandlerSwitch::enabled_with(&header::Config::new(headers.iter().map(|(k, v)| (*k, *v))));
    config
}

#[tokio::test]
async fn url_rebuild_uses_forwarded_headers_first() {
    let https = snapshot(
        &simple_config(),
        vec![vec![
            rule("r", "https://foobar.ory/some/path").methods(&["POST"]),
        ]],
    );
    let http = snapshot(
        &simple_config(),
        vec![vec![
            rule("r", "http://foobar.ory/some/path").methods(&["POST"]),
        ]],
    );
    let forwarded = [
        ("X-Forwarded-Method", "POST"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "foobar.ory"),
        ("X-Forwarded-Uri", "/some/path?x=1"),
    ];
    let host = [("Host", "foobar.ory")];
    check(
        &https,
        &[
            get("http://oathkeeper:4456/decisions", &forwarded, OK),
            // Without them: the decision request's own method, http, Host and path suffix.
            get("/decisions/some/path", &host, NOT_FOUND)
                .method("POST")
                .why("scheme defaults to http"),
        ],
    )
    .await;
    check(
        &http,
        &[
            get("/decisions/some/path", &host, OK).method("POST"),
            get("/decisions/some/path", &host, NOT_FOUND),
        ],
    )
    .await;
}

#[tokio::test]
async fn host_keeps_its_port() {
    check(
        &open_rule("http://oathkeeper-api:4456/x"),
        &[
            get("/decisions/x", &[("Host", "oathkeeper-api:4456")], OK),
            get("/decisions/x", &[("Host", "oathkeeper-api")], NOT_FOUND),
        ],
    )
    .await;
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
    let forwarded = [
        "/public/../admin/secrets",
        "/admin//secrets/",
        "/admin/x/../../public",
        "/public/%2e%2e/admin",
        "/public/..%2fadmin",
        "/public/..;/admin",
        "/public%23/../admin",
        "/public\\..\\admin",
        "@attacker:8080/x",
    ]
    .map(h);
    let mut cases: Vec<Case<'_>> = forwarded
        .iter()
        .map(|headers| get("/decisions", headers, BAD_REQUEST))
        .collect();
    let localhost = [("Host", "localhost")];
    cases.extend(
        [
            "/decisions/public/../admin",
            "/decisions/public/%2e%2e/admin",
            "/decisions/public/%2f/admin",
        ]
        .map(|uri| get(uri, &localhost, BAD_REQUEST)),
    );
    // A trailing slash is tolerated and matched as sent.
    let trailing = h("/admin/secrets/");
    cases.push(get("/decisions", &trailing, OK));
    check(&s, &cases).await;
}

#[tokio::test]
async fn paths_are_matched_raw_in_both_modes() {
    check(
        &open_rule("http://h/a%20b+c"),
        &[
            get("/decisions/a%20b+c", &[("Host", "h")], OK),
            get(
                "/decisions",
                &[("Host", "h"), ("X-Forwarded-Uri", "/a%20b+c")],
                OK,
            ),
        ],
    )
    .await;
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
    let (response, outcome) = decide(&s, &parts, Peer::default(), &Cx::new(&metrics)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome.url, "http://h/caf\u{e9}");
}

/// Spec oathkeeper-workload.md §1.2 (scheme): without `X-Forwarded-Proto`, `https` when the
/// decision request came over TLS, else `http`; a forwarded scheme wins over the connection's.
#[tokio::test]
async fn the_scheme_follows_the_connection_when_no_x_forwarded_proto_is_sent() {
    let s = open_rule("https://h/x");
    let metrics = crate::metrics::Metrics::new("");
    let table = [
        (None, true, OK, "https://h/x"),
        (None, false, NOT_FOUND, "http://h/x"),
        (Some(""), true, OK, "https://h/x"),
        (Some("http"), true, NOT_FOUND, "http://h/x"),
        (Some("https"), false, OK, "https://h/x"),
    ];
    for (proto, tls, status, url) in table {
        let mut request = Request::builder().uri("/decisions/x").header("Host", "h");
        if let Some(proto) = proto {
            request = request.header("X-Forwarded-Proto", proto);
        }
        let (parts, ()) = request.body(()).unwrap().into_parts();
        let peer = Peer { ip: None, tls };
        let (response, outcome) = decide(&s, &parts, peer, &Cx::new(&metrics)).await;
        assert_eq!(response.status(), status, "{proto:?} tls={tls}");
        assert_eq!(outcome.url, url, "{proto:?} tls={tls}");
    }
}

#[tokio::test]
async fn forwarded_hosts_schemes_and_methods_are_validated() {
    check(
        &open_rule("<.*>"),
        &[
            get(
                "/decisions",
                &[("X-Forwarded-Host", "h/admin"), ("X-Forwarded-Uri", "/x")],
                BAD_REQUEST,
            ),
            get(
                "/decisions",
                &[("X-Forwarded-Host", "h@evil"), ("X-Forwarded-Uri", "/x")],
                BAD_REQUEST,
            ),
            get(
                "/decisions",
                &[("X-Forwarded-Proto", "ftp"), ("X-Forwarded-Uri", "/x")],
                BAD_REQUEST,
            ),
            get(
                "/decisions",
                &[("X-Forwarded-Method", "G ET"), ("X-Forwarded-Uri", "/x")],
                BAD_REQUEST,
            ),
            get("/decisions/x", &[("Host", "h/admin")], BAD_REQUEST).why("Host is validated too"),
        ],
    )
    .await;
}

#[tokio::test]
async fn empty_forwarded_headers_count_as_absent() {
    let empty = [
        ("Host", "h"),
        ("X-Forwarded-Method", ""),
        ("X-Forwarded-Proto", ""),
        ("X-Forwarded-Host", ""),
        ("X-Forwarded-Uri", ""),
    ];
    check(&open_rule("http://h/x"), &[get("/decisions/x", &empty, OK)]).await;
}

#[tokio::test]
async fn a_forwarded_header_sent_twice_is_refused() {
    let twice = [
        ("Host", "h"),
        ("X-Forwarded-Uri", "/public"),
        ("X-Forwarded-Uri", "/admin"),
    ];
    check(
        &open_rule("http://<.*>"),
        &[get("/decisions", &twice, BAD_REQUEST)],
    )
    .await;
}

#[tokio::test]
async fn query_is_ignored_for_matching() {
    check(
        &open_rule("http://h/users/<[0-9]+>"),
        &[
            get("/decisions/users/1234?key=value", &[("Host", "h")], OK),
            get(
                "/decisions",
                &[("Host", "h"), ("X-Forwarded-Uri", "/users/1234?key=value")],
                OK,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn bare_decisions_matches_an_empty_path() {
    check(
        &open_rule("http://h"),
        &[get("/decisions", &[("Host", "h")], OK)],
    )
    .await;
}

#[tokio::test]
async fn no_rule_is_404_and_two_rules_are_500() {
    let s = snapshot(
        &simple_config(),
        vec![vec![rule("a", "http://h/<.*>"), rule("b", "http://h/x")]],
    );
    check(
        &s,
        &[
            get("/decisions/y", &[("Host", "other")], NOT_FOUND),
            get(
                "/decisions/x",
                &[("Host", "h")],
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            get("/decisions/y", &[("Host", "h")], OK),
        ],
    )
    .await;
}

#[tokio::test]
async fn handler_outcomes_map_to_upstream_statuses() {
    let s = snapshot(
        &simple_config(),
        vec![vec![
            rule("anon", "http://h/anon").authn("anonymous"),
            rule("deny", "http://h/deny")
                .authn("anonymous")
                .authz("deny"),
            rule("unauth", "http://h/unauth").authn("unauthorized"),
            rule("disabled", "http://h/disabled")
                .authn("anonymous")
                .mutator("cookie"),
        ]],
    );
    let h = [("Host", "h")];
    check(
        &s,
        &[
            get("/decisions/anon", &h, OK),
            get(
                "/decisions/anon",
                &[("Host", "h"), ("Authorization", "Basic x")],
                StatusCode::UNAUTHORIZED,
            )
            .why("anonymous is not responsible when Authorization is sent"),
            get("/decisions/deny", &h, StatusCode::FORBIDDEN),
            get("/decisions/unauth", &h, StatusCode::UNAUTHORIZED),
            get("/decisions/disabled", &h, StatusCode::INTERNAL_SERVER_ERROR)
                .why("a rule using a disabled handler answers 500 at that step"),
            get(
                "/decisions/disabled",
                &[("Host", "h"), ("Authorization", "Basic x")],
                StatusCode::UNAUTHORIZED,
            )
            .why("the authenticator answers before the disabled mutator is reached"),
        ],
    )
    .await;
}

#[tokio::test]
async fn json_errors_use_the_herodot_envelope() {
    let s = snapshot(
        &simple_config(),
        vec![vec![rule("u", "http://h/u").authn("unauthorized")]],
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
    let s = charm_snapshot();
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
    let s = charm_snapshot();
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
    let config = header_config(&[
        (
            "X-Scheme",
            "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}",
        ),
        (
            "X-Page",
            "{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}",
        ),
        ("X-Method", "{{ .MatchContext.Method }}"),
        ("X-Path", "{{ .MatchContext.URL.Path }}"),
        ("X-Foo", r#"{{ .MatchContext.Header.Get "X-Foo" }}"#),
    ]);
    let s = snapshot(
        &config,
        vec![vec![
            rule("r", "<https|http>://h/<.*>")
                .authn("anonymous")
                .mutator("header"),
        ]],
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
    let rules = || {
        vec![vec![
            rule("r", "http://h/x").authn("anonymous").mutator("header"),
        ]]
    };
    let before = snapshot(
        &header_config(&[("X-User", "{{ print .Subject }}")]),
        rules(),
    );
    let after = snapshot(
        &header_config(&[("X-User", "user-{{ print .Subject }}")]),
        rules(),
    );
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
    let cx = Cx::new(&metrics);
    let future = decide(&s, &parts, Peer::default(), &cx);
    let size = std::mem::size_of_val(&future);
    assert!(size < 2048, "the decision future is {size} bytes");
}

/// Upstream's step order and error flow (issue 20 item 5), case by case after upstream's
/// decision tests (`api/decision_test.go`: no authorizer, no mutator, failing authenticator,
/// failing mutator, `deny` answered by the rule's `www_authenticate`) and the issue's own: a
/// rule runs authenticate → authorize → mutate and fails at the step that fails, a step that
/// cannot run (missing, disabled, unknown handler) being a 500 there; and every failure, the
/// internal ones included, goes through the rule's error handlers.
#[tokio::test]
async fn steps_run_in_upstreams_order_and_fail_where_they_fail() {
    use oathkeeper_core::handler::redirect;
    use oathkeeper_core::handler::when::Clause;
    use oathkeeper_core::rule::Handler;

    let mut config = simple_config();
    let mut on_internal = redirect::Config::new("https://status.example/");
    on_internal.when = Some(vec![Clause {
        error: vec!["internal_server_error".to_owned()],
        request: None,
    }]);
    config.errors.handlers.redirect = HandlerSwitch::enabled_with(&on_internal);
    // `cookie` (mutator) and `cookie_session` (authenticator) stay disabled.
    let errors = |ids: &[&str]| -> Vec<Handler> {
        ids.iter().map(|id| crate::testing::handler(id)).collect()
    };
    let mut no_authz = rule("no-authz", "http://h/no-authz").authn("anonymous");
    no_authz.authorizer = crate::testing::handler("");
    let mut no_mutator = rule("no-mutator", "http://h/no-mutator").authn("anonymous");
    no_mutator.mutators.clear();
    let mut authn_fails = rule("authn-fails", "http://h/authn-fails").authn("unauthorized");
    authn_fails.authorizer = crate::testing::handler("");
    authn_fails.mutators.clear();
    let mut one_mutator_fails =
        rule("one-mutator-fails", "http://h/one-mutator-fails").authn("anonymous");
    one_mutator_fails.mutators = errors(&["noop", "cookie"]);
    let mut deny_www = rule("deny-www", "http://h/deny-www")
        .authn("anonymous")
        .authz("deny");
    deny_www.errors = errors(&["www_authenticate"]);
    let mut internal_redirect = rule("internal-redirect", "http://h/internal-redirect")
        .authn("anonymous")
        .mutator("cookie");
    internal_redirect.errors = errors(&["redirect"]);
    let mut unauth_redirect = rule("unauth-redirect", "http://h/unauth-redirect")
        .authn("unauthorized")
        .mutator("cookie");
    unauth_redirect.errors = errors(&["redirect"]);
    let mut later_authn_disabled = rule("later-authn", "http://h/later-authn");
    later_authn_disabled.authenticators = errors(&["anonymous", "cookie_session"]);
    let mut first_authn_disabled = rule("first-authn", "http://h/first-authn");
    first_authn_disabled.authenticators = errors(&["cookie_session", "anonymous"]);
    let mut broken_errors = rule("broken-errors", "http://h/broken-errors").authn("anonymous");
    broken_errors.errors = errors(&["magic"]);
    let s = snapshot(
        &config,
        vec![vec![
            no_authz,
            no_mutator,
            authn_fails,
            one_mutator_fails,
            deny_www,
            internal_redirect,
            unauth_redirect,
            rule("disabled-mutator", "http://h/disabled-mutator")
                .authn("anonymous")
                .mutator("cookie"),
            rule("deny-disabled-mutator", "http://h/deny-disabled-mutator")
                .authn("anonymous")
                .authz("deny")
                .mutator("cookie"),
            rule("unknown-authz", "http://h/unknown-authz")
                .authn("anonymous")
                .authz("magic"),
            later_authn_disabled,
            first_authn_disabled,
            broken_errors,
        ]],
    );
    // `anonymous` is not responsible when the request carries credentials.
    let anon = [("Host", "h")];
    let creds = [("Host", "h"), ("Authorization", "Basic x")];
    const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
    const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
    const FOUND: StatusCode = StatusCode::FOUND;
    const ERROR: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;
    check(
        &s,
        &[
            get("/decisions/no-authz", &creds, UNAUTHORIZED)
                .why("upstream: no authorizer, but the authenticator answers first"),
            get("/decisions/no-authz", &anon, ERROR).why("authenticated: no authorizer is a 500"),
            get("/decisions/no-mutator", &anon, ERROR).why("upstream: no mutator is a 500"),
            get("/decisions/authn-fails", &anon, UNAUTHORIZED)
                .why("upstream: the failing authenticator answers before the missing steps"),
            get("/decisions/one-mutator-fails", &anon, ERROR)
                .why("upstream: one failing mutator is a 500"),
            get("/decisions/deny-www", &anon, UNAUTHORIZED)
                .why("upstream: deny answered by the rule's www_authenticate"),
            get("/decisions/disabled-mutator", &creds, UNAUTHORIZED)
                .why("unauthenticated: the disabled mutator is never reached"),
            get("/decisions/disabled-mutator", &anon, ERROR)
                .why("authenticated and allowed: the disabled mutator is a 500"),
            get("/decisions/deny-disabled-mutator", &anon, FORBIDDEN)
                .why("deny answers before a disabled mutator matters"),
            get("/decisions/unknown-authz", &creds, UNAUTHORIZED),
            get("/decisions/unknown-authz", &anon, ERROR),
            get("/decisions/internal-redirect", &anon, FOUND)
                .why("an internal error goes through the rule's error handlers"),
            get("/decisions/unauth-redirect", &anon, UNAUTHORIZED)
                .why("redirect only answers internal errors: json answers the 401"),
            get("/decisions/later-authn", &anon, OK)
                .why("a responsible authenticator before a disabled one"),
            get("/decisions/later-authn", &creds, ERROR)
                .why("not responsible: the disabled authenticator is reached"),
            get("/decisions/first-authn", &anon, ERROR)
                .why("a disabled first authenticator fails before the next is tried"),
            get("/decisions/broken-errors", &anon, OK)
                .why("error handlers matter only when something fails"),
            get("/decisions/broken-errors", &creds, ERROR)
                .why("a failure with error handlers that cannot be built is a 500"),
        ],
    )
    .await;
    // The load-time report is unchanged: every rule with a step that cannot run is named.
    let reported: Vec<_> = s
        .diagnostics
        .iter()
        .filter_map(|d| d.rule.clone())
        .collect();
    for id in [
        "no-authz",
        "no-mutator",
        "authn-fails",
        "one-mutator-fails",
        "internal-redirect",
        "unauth-redirect",
        "disabled-mutator",
        "deny-disabled-mutator",
        "unknown-authz",
        "later-authn",
        "first-authn",
        "broken-errors",
    ] {
        assert!(reported.iter().any(|r| r == id), "{id}: {reported:?}");
    }
    assert!(!reported.iter().any(|r| r == "deny-www"), "{reported:?}");
}
