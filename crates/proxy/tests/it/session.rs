//! `cookie_session` and `bearer_token` against a fake Kratos that counts calls
//! (spec/oathkeeper-workload.md §3.1, §3.1.1), through the library's decision function.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use oathkeeper::decision::{Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::{Cx, ResponseBody};
use oathkeeper::snapshot::{RuleFile, Severity, Snapshot, compile};
use oathkeeper_core::charm::app_rules;
use oathkeeper_core::charm::config::cookie_session;
use oathkeeper_core::config::{HandlerSwitch, NoEnv, parse_config};
use oathkeeper_core::handler::session_store;
use oathkeeper_core::rule::parse_rules;

use crate::server::charm_config;
use crate::support::{Answer, FakeKratos, free_port, kratos_session, rfc3339_in};

/// Our charm's config with `cookie_session` settings replaced by `session_config` (YAML flow)
/// and `bearer_token` enabled with them too, and one deny-style rule over
/// `https://example.com<.*>` with the given authenticators.
fn snapshot(kratos: &str, session_config: &str, authenticators: &str) -> Snapshot {
    let mut config = charm_config(kratos);
    let sessions = parse_config(
        &format!(
            "authenticators:\n  cookie_session: {{enabled: true, config: {session_config}}}\n  bearer_token: {{enabled: true, config: {session_config}}}\n"
        ),
        &NoEnv,
    )
    .unwrap()
    .authenticators;
    config.authenticators.cookie_session = sessions.cookie_session;
    config.authenticators.bearer_token = sessions.bearer_token;
    let rules = format!(
        r#"[{{"id":"protected","match":{{"url":"<^(https|http)>://example.com<.*>","methods":["GET","POST","DELETE"]}},
        "authenticators":{authenticators},"authorizer":{{"handler":"allow"}},"mutators":[{{"handler":"header"}}],
        "errors":[{{"handler":"redirect"}}]}}]"#
    );
    let files = [RuleFile {
        repository: "test".into(),
        rules: parse_rules(rules.as_bytes()).unwrap(),
    }];
    let snapshot = compile(&config, &files, Default::default());
    let errors: Vec<_> = snapshot
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    snapshot
}

const COOKIE_ONLY: &str = r#"[{"handler":"cookie_session"}]"#;

/// Our charm's `cookie_session` config against `kratos` with `extra` keys (`, key: value`), as a
/// YAML flow mapping.
fn charm_session(kratos: &FakeKratos, extra: &str) -> String {
    let config = cookie_session(&format!("{}/sessions/whoami", kratos.url()));
    // JSON, spaced as `serde_json` pretty-prints it, is a YAML flow mapping.
    let json = serde_json::to_string_pretty(&config).unwrap();
    format!("{}{extra}}}", json.strip_suffix('}').unwrap())
}

async fn ask(snapshot: &Snapshot, uri: &str, headers: &[(&str, &str)]) -> Response<ResponseBody> {
    let metrics = Metrics::new("");
    ask_with(snapshot, &metrics, uri, headers).await
}

async fn ask_with(
    snapshot: &Snapshot,
    metrics: &Metrics,
    uri: &str,
    headers: &[(&str, &str)],
) -> Response<ResponseBody> {
    let raw: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    ask_raw(snapshot, metrics, uri, &raw).await
}

/// `ask_with` with header values as bytes (obs-text allowed).
async fn ask_raw(
    snapshot: &Snapshot,
    metrics: &Metrics,
    uri: &str,
    headers: &[(&str, &[u8])],
) -> Response<ResponseBody> {
    let (scheme, rest) = uri.split_once("://").unwrap();
    let (host, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let mut request = Request::builder()
        .uri("/decisions")
        .header("X-Forwarded-Proto", scheme)
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", path);
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-method"))
    {
        request = request.header("X-Forwarded-Method", "GET");
    }
    for (n, v) in headers {
        request = request.header(*n, http::HeaderValue::from_bytes(v).unwrap());
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    decide(snapshot, &parts, Peer::default(), &Cx::new(metrics))
        .await
        .0
}

const SESSION_COOKIE: (&str, &str) = ("Cookie", "theme=dark; ory_kratos_session=secret-1");

fn valid_session() -> String {
    kratos_session("u1", "ann@example.com", "Ann", &rfc3339_in(3600))
}

#[tokio::test]
async fn charm_headers_come_from_the_kratos_session() {
    let kratos = FakeKratos::start(|_| Answer::ok(valid_session())).await;
    let s = snapshot(&kratos.url(), &charm_session(&kratos, ""), COOKIE_ONLY);
    let r = ask(
        &s,
        "https://example.com/app/page",
        &[SESSION_COOKIE, ("Accept", "text/html")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-user"], "u1");
    assert_eq!(r.headers()["x-email"], "ann@example.com");
    assert_eq!(r.headers()["x-name"], "Ann");
    let seen = kratos.last().await;
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.path, "/sessions/whoami",
        "preserve_path keeps the whoami path"
    );
    assert_eq!(
        seen.headers["cookie"], "theme=dark; ory_kratos_session=secret-1",
        "Cookie is always forwarded"
    );
    assert_eq!(seen.body_len, 0, "no body is forwarded");
}

#[tokio::test]
async fn without_preserve_path_the_original_path_is_sent() {
    let kratos = FakeKratos::start(|_| Answer::ok(valid_session())).await;
    let config = format!(
        r#"{{check_session_url: "{}/sessions/whoami?a=1", subject_from: "identity.id"}}"#,
        kratos.url()
    );
    let s = snapshot(&kratos.url(), &config, COOKIE_ONLY);
    assert_eq!(
        ask(&s, "https://example.com/app/page?b=2", &[SESSION_COOKIE])
            .await
            .status(),
        200
    );
    let seen = kratos.last().await;
    assert_eq!(seen.path, "/app/page");
    assert_eq!(
        seen.query.as_deref(),
        Some("a=1"),
        "preserve_query defaults to true"
    );
}

#[tokio::test]
async fn preserve_query_off_sends_the_decision_query() {
    let kratos = FakeKratos::start(|_| Answer::ok(valid_session())).await;
    let config = format!(
        r#"{{check_session_url: "{}/whoami?a=1", preserve_path: true, preserve_query: false, subject_from: "identity.id"}}"#,
        kratos.url()
    );
    let s = snapshot(&kratos.url(), &config, COOKIE_ONLY);
    let metrics = Metrics::new("");
    let (parts, ()) = Request::builder()
        .uri("/decisions?token=t")
        .header("X-Forwarded-Host", "example.com")
        .header("X-Forwarded-Uri", "/x")
        .header("Cookie", "s=1")
        .body(())
        .unwrap()
        .into_parts();
    assert_eq!(
        decide(&s, &parts, Peer::default(), &Cx::new(&metrics))
            .await
            .0
            .status(),
        200
    );
    assert_eq!(kratos.last().await.query.as_deref(), Some("token=t"));
}

#[tokio::test]
async fn only_names_the_cookies_that_make_it_responsible() {
    let kratos = FakeKratos::start(|_| Answer::ok(valid_session())).await;
    let s = snapshot(
        &kratos.url(),
        &charm_session(&kratos, ""),
        r#"[{"handler":"cookie_session"},{"handler":"anonymous"}]"#,
    );
    let r = ask(&s, "https://example.com/x", &[("Cookie", "theme=dark")]).await;
    assert_eq!(r.status(), 200, "falls through to anonymous");
    assert_eq!(r.headers()["x-user"], "anonymous");
    assert_eq!(kratos.calls(), 0);
    let r = ask(&s, "https://example.com/x", &[]).await;
    assert_eq!(r.headers()["x-user"], "anonymous");
    let r = ask(&s, "https://example.com/x", &[SESSION_COOKIE]).await;
    assert_eq!(r.headers()["x-user"], "u1");
    assert_eq!(kratos.calls(), 1);
}

#[tokio::test]
async fn failing_session_check_does_not_fall_through() {
    let kratos = FakeKratos::start(|_| Answer::status(401)).await;
    let s = snapshot(
        &kratos.url(),
        &charm_session(&kratos, ""),
        r#"[{"handler":"cookie_session"},{"handler":"anonymous"}]"#,
    );
    assert_eq!(
        ask(&s, "https://example.com/x", &[SESSION_COOKIE])
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn method_is_forwarded_unless_forced() {
    let kratos = FakeKratos::start(|_| Answer::ok(valid_session())).await;
    let s = snapshot(&kratos.url(), &charm_session(&kratos, ""), COOKIE_ONLY);
    ask(
        &s,
        "https://example.com/x",
        &[SESSION_COOKIE, ("X-Forwarded-Method", "DELETE")],
    )
    .await;
    assert_eq!(kratos.last().await.method, "DELETE");
    let s = snapshot(
        &kratos.url(),
        &charm_session(&kratos, ", force_method: GET"),
        COOKIE_ONLY,
    );
    ask(
        &s,
        "https://example.com/x",
        &[SESSION_COOKIE, ("X-Forwarded-Method", "DELETE")],
    )
    .await;
    assert_eq!(kratos.last().await.method, "GET");
}

#[tokio::test]
async fn only_listed_headers_are_forwarded() {
    let kratos = FakeKratos::start(|_| Answer::ok(valid_session())).await;
    let extra = r#", forward_http_headers: [X-Request-Id], additional_headers: {X-Added: yes, X-Forwarded-Host: spoof}, preserve_host: true"#;
    let s = snapshot(&kratos.url(), &charm_session(&kratos, extra), COOKIE_ONLY);
    ask(
        &s,
        "https://example.com/x",
        &[
            SESSION_COOKIE,
            ("X-Request-Id", "r1"),
            ("Authorization", "Bearer t"),
            ("X-Other", "o"),
        ],
    )
    .await;
    let seen = kratos.last().await;
    assert_eq!(seen.headers["x-request-id"], "r1");
    assert_eq!(seen.headers["x-added"], "yes");
    assert_eq!(
        seen.headers["x-forwarded-host"], "example.com",
        "preserve_host wins over additional_headers"
    );
    assert!(seen.headers.get("authorization").is_none());
    assert!(seen.headers.get("x-other").is_none());
}

#[tokio::test]
async fn session_store_statuses_map_like_upstream() {
    let kratos = FakeKratos::start(|seen| {
        let cookie = seen.headers["cookie"].to_str().unwrap().to_owned();
        if cookie.contains("=limited") {
            Answer {
                status: 429,
                headers: vec![
                    ("retry-after", "7".into()),
                    ("x-ratelimit-limit", "10".into()),
                    ("x-other", "no".into()),
                ],
                body: "{}".into(),
                delay: Duration::ZERO,
            }
        } else if cookie.contains("=broken") {
            Answer::status(500)
        } else if cookie.contains("=numeric") {
            Answer::ok(r#"{"identity": {"id": 42}}"#)
        } else if cookie.contains("=garbage") {
            Answer::ok("<html>not json")
        } else if cookie.contains("=inactive") {
            Answer::ok(r#"{"active": false, "identity": {"id": "u1"}}"#)
        } else {
            Answer::status(401)
        }
    })
    .await;
    let s = snapshot(&kratos.url(), &charm_session(&kratos, ""), COOKIE_ONLY);
    let status = |v: &'static str| {
        let s = &s;
        async move {
            let cookie = format!("ory_kratos_session={v}");
            ask(s, "https://example.com/x", &[("Cookie", &cookie)]).await
        }
    };
    assert_eq!(status("expired").await.status(), 401);
    assert_eq!(
        status("broken").await.status(),
        401,
        "any other status is 401"
    );
    let r = status("limited").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.headers()["x-ratelimit-limit"], "10");
    assert!(r.headers().get("x-other").is_none());
    assert_eq!(
        status("numeric").await.status(),
        403,
        "subject_from type error"
    );
    assert_eq!(status("garbage").await.status(), 403, "garbage JSON denies");
    assert_eq!(
        status("inactive").await.status(),
        401,
        "an inactive session denies"
    );
}

#[tokio::test]
async fn slow_session_store_denies_after_the_timeout() {
    let kratos = FakeKratos::start(|_| Answer {
        delay: Duration::from_secs(10),
        ..Answer::ok(valid_session())
    })
    .await;
    let s = snapshot(
        &kratos.url(),
        &charm_session(&kratos, ", timeout: 200ms"),
        COOKIE_ONLY,
    );
    let started = Instant::now();
    let r = ask(&s, "https://example.com/x", &[SESSION_COOKIE]).await;
    assert_eq!(r.status(), 403);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout, not the store, ended the call"
    );
    assert_eq!(kratos.calls(), 1);
}

#[tokio::test]
async fn unreachable_session_store_denies_with_403() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let config = format!(r#"{{check_session_url: "{url}/sessions/whoami", preserve_path: true}}"#);
    let s = snapshot(&url, &config, COOKIE_ONLY);
    assert_eq!(
        ask(&s, "https://example.com/x", &[SESSION_COOKIE])
            .await
            .status(),
        403
    );
    let html = ask(
        &s,
        "https://example.com/x",
        &[SESSION_COOKIE, ("Accept", "text/html")],
    )
    .await;
    assert_eq!(
        html.status(),
        302,
        "browsers are still sent to the login page, never let through"
    );
}

fn cached(ttl: &str) -> String {
    format!(", cache: {{enabled: true, ttl: {ttl}}}")
}

#[tokio::test]
async fn cache_hit_avoids_a_call() {
    let kratos = FakeKratos::start(|_| Answer::ok(valid_session())).await;
    let s = snapshot(
        &kratos.url(),
        &charm_session(&kratos, &cached("60s")),
        COOKIE_ONLY,
    );
    let metrics = Metrics::new("t_");
    for _ in 0..3 {
        let r = ask_with(&s, &metrics, "https://example.com/x", &[SESSION_COOKIE]).await;
        assert_eq!(r.headers()["x-user"], "u1");
    }
    assert_eq!(kratos.calls(), 1);
    let text = metrics.encode();
    assert!(
        text.contains(r#"t_session_cache_lookups_total{result="hit"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"t_session_store_requests_total{outcome="ok"} 1"#),
        "{text}"
    );
    // Another credential is another entry; another path is the same entry when the store
    // is not sent the path (preserve_path).
    ask(
        &s,
        "https://example.com/x",
        &[("Cookie", "ory_kratos_session=secret-2")],
    )
    .await;
    assert_eq!(kratos.calls(), 2);
    ask(&s, "https://example.com/y", &[SESSION_COOKIE]).await;
    assert_eq!(kratos.calls(), 2);
    // The key is exactly what the store is sent: the whole Cookie line, other cookies included
    // (issue 12).
    ask(
        &s,
        "https://example.com/x",
        &[("Cookie", "ory_kratos_session=secret-1; theme=light")],
    )
    .await;
    assert_eq!(kratos.calls(), 3);
}

#[tokio::test]
async fn concurrent_identical_checks_make_one_call() {
    let kratos = FakeKratos::start(|_| Answer {
        delay: Duration::from_millis(300),
        ..Answer::ok(valid_session())
    })
    .await;
    let s = Arc::new(snapshot(
        &kratos.url(),
        &charm_session(&kratos, &cached("60s")),
        COOKIE_ONLY,
    ));
    let metrics = Arc::new(Metrics::new(""));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (s, metrics) = (Arc::clone(&s), Arc::clone(&metrics));
        tasks.spawn(async move {
            ask_with(&s, &metrics, "https://example.com/x", &[SESSION_COOKIE])
                .await
                .status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(kratos.calls(), 1);
}

#[tokio::test]
async fn cached_sessions_end_at_expires_at() {
    let kratos =
        FakeKratos::start(|_| Answer::ok(kratos_session("u1", "a@b", "A", &rfc3339_in(2)))).await;
    let s = snapshot(
        &kratos.url(),
        &charm_session(&kratos, &cached("1h")),
        COOKIE_ONLY,
    );
    ask(&s, "https://example.com/x", &[SESSION_COOKIE]).await;
    ask(&s, "https://example.com/x", &[SESSION_COOKIE]).await;
    assert_eq!(kratos.calls(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ask(&s, "https://example.com/x", &[SESSION_COOKIE]).await;
    assert_eq!(
        kratos.calls(),
        2,
        "the session expired, so the store is asked again"
    );
}

#[tokio::test]
async fn disabled_cache_calls_every_time() {
    let kratos = FakeKratos::start(|_| Answer::ok(valid_session())).await;
    let s = snapshot(&kratos.url(), &charm_session(&kratos, ""), COOKIE_ONLY);
    for _ in 0..3 {
        assert_eq!(
            ask(&s, "https://example.com/x", &[SESSION_COOKIE])
                .await
                .status(),
            200
        );
    }
    assert_eq!(kratos.calls(), 3);
}

#[tokio::test]
async fn denials_are_not_cached() {
    let kratos = FakeKratos::start(|_| Answer::status(401)).await;
    let s = snapshot(
        &kratos.url(),
        &charm_session(&kratos, &cached("60s")),
        COOKIE_ONLY,
    );
    for _ in 0..2 {
        assert_eq!(
            ask(&s, "https://example.com/x", &[SESSION_COOKIE])
                .await
                .status(),
            401
        );
    }
    assert_eq!(kratos.calls(), 2);
}

#[tokio::test]
async fn bearer_token_reads_the_authorization_header() {
    let kratos = FakeKratos::start(|_| {
        Answer::ok(r#"{"sub": "client-1", "extra": {"identity": {"traits": {"email": "c@d"}}}}"#)
    })
    .await;
    let config = format!(
        r#"{{check_session_url: "{}/check", preserve_path: true, prefix: "ory_"}}"#,
        kratos.url()
    );
    let s = snapshot(
        &kratos.url(),
        &config,
        r#"[{"handler":"bearer_token"},{"handler":"anonymous"}]"#,
    );
    let r = ask(
        &s,
        "https://example.com/x",
        &[("Authorization", "Bearer ory_abc")],
    )
    .await;
    assert_eq!(
        r.headers()["x-user"],
        "client-1",
        "subject_from defaults to sub"
    );
    assert_eq!(
        r.headers()["x-email"],
        "c@d",
        "extra_from defaults to extra"
    );
    assert_eq!(
        kratos.last().await.headers["authorization"],
        "Bearer ory_abc"
    );
    let r = ask(
        &s,
        "https://example.com/x",
        &[("Authorization", "Bearer other")],
    )
    .await;
    assert_eq!(
        r.status(),
        401,
        "wrong prefix: not responsible, and anonymous refuses an Authorization header"
    );
    assert_eq!(kratos.calls(), 1);
}

#[tokio::test]
async fn bearer_token_from_a_query_parameter() {
    let kratos = FakeKratos::start(|_| Answer::ok(r#"{"sub": "q"}"#)).await;
    let config = format!(
        r#"{{check_session_url: "{}/check", preserve_path: true, preserve_query: false, token_from: {{query_parameter: token}}}}"#,
        kratos.url()
    );
    let s = snapshot(&kratos.url(), &config, r#"[{"handler":"bearer_token"}]"#);
    let metrics = Metrics::new("");
    let (parts, ()) = Request::builder()
        .uri("/decisions?token=abc%20d")
        .header("X-Forwarded-Host", "example.com")
        .header("X-Forwarded-Uri", "/x")
        .body(())
        .unwrap()
        .into_parts();
    let r = decide(&s, &parts, Peer::default(), &Cx::new(&metrics))
        .await
        .0;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-user"], "q");
    assert_eq!(kratos.last().await.query.as_deref(), Some("token=abc%20d"));
}

#[tokio::test]
async fn bad_session_store_config_is_a_load_error() {
    let mut config = charm_config("http://k");
    let session_store = session_store::Config {
        timeout: Some("soon".into()),
        ..cookie_session("http://k/sessions/whoami")
    };
    config.authenticators.cookie_session = HandlerSwitch::enabled_with(&session_store);
    let rules = app_rules(
        "requirer",
        &["https://example.com"],
        &["welcome", "about/app"],
    )
    .unwrap()
    .deny;
    let s = compile(
        &config,
        &[RuleFile {
            repository: "deny.json".into(),
            rules,
        }],
        Default::default(),
    );
    let error = s
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .expect("a diagnostic");
    assert!(
        error.message.contains("timeout") && error.message.contains("cookie_session"),
        "{}",
        error.message
    );
    assert_eq!(error.rule.as_deref(), Some("requirer:0:deny"));
}

/// A session store that logs in whoever sends the attacker's credential, as "attacker",
/// anywhere in what it receives (any `Cookie` line, `X-Session-Token`), and nobody else.
async fn store_that_knows_only_the_attacker() -> FakeKratos {
    FakeKratos::start(|seen| {
        let cookie_lines = seen.headers.get_all("cookie").iter();
        let attacker = cookie_lines
            .map(|line| String::from_utf8_lossy(line.as_bytes()).into_owned())
            .any(|line| line.contains("ory_kratos_session=attacker"))
            || seen
                .headers
                .get("x-session-token")
                .is_some_and(|t| t == "attacker-token");
        if attacker {
            Answer::ok(kratos_session(
                "attacker",
                "eve@example.com",
                "Eve",
                &rfc3339_in(3600),
            ))
        } else {
            Answer::status(401)
        }
    })
    .await
}

#[tokio::test]
async fn issue_12_a_non_ascii_cookie_line_cannot_plant_a_session_for_another_cookie_header() {
    let kratos = store_that_knows_only_the_attacker().await;
    let config = format!(
        r#"{{check_session_url: "{}/sessions/whoami", preserve_path: true, subject_from: "identity.id"{}}}"#,
        kratos.url(),
        cached("60s")
    );
    let s = snapshot(&kratos.url(), &config, COOKIE_ONLY);
    let metrics = Metrics::new("");
    let attacker = ask_raw(
        &s,
        &metrics,
        "https://example.com/x",
        &[
            ("Cookie", b"theme=dark"),
            ("Cookie", b"ory_kratos_session=attacker; x=\xff"),
        ],
    )
    .await;
    assert_eq!(attacker.status(), 200, "the store did log the attacker in");
    assert_eq!(attacker.headers()["x-user"], "attacker");
    let victim = ask(&s, "https://example.com/x", &[("Cookie", "theme=dark")]).await;
    assert_eq!(
        victim.status(),
        401,
        "the victim, who sent only theme=dark, is not logged in as the attacker"
    );
    assert_eq!(kratos.calls(), 2, "the victim's check went to the store");
}

#[tokio::test]
async fn issue_12_forwarded_headers_cannot_plant_a_session_for_a_request_without_them() {
    let kratos = store_that_knows_only_the_attacker().await;
    let config = format!(
        r#"{{check_session_url: "{}/sessions/whoami", preserve_path: true, subject_from: "identity.id", forward_http_headers: [X-Session-Token]{}}}"#,
        kratos.url(),
        cached("60s")
    );
    let s = snapshot(&kratos.url(), &config, COOKIE_ONLY);
    let with_token = [
        ("Cookie", "theme=dark"),
        ("X-Session-Token", "attacker-token"),
    ];
    let attacker = ask(&s, "https://example.com/x", &with_token).await;
    assert_eq!(attacker.headers()["x-user"], "attacker");
    let victim = ask(&s, "https://example.com/x", &[("Cookie", "theme=dark")]).await;
    assert_eq!(
        victim.status(),
        401,
        "the victim is not logged in as the attacker"
    );
    assert_eq!(kratos.calls(), 2);
    let again = ask(&s, "https://example.com/x", &with_token).await;
    assert_eq!(again.headers()["x-user"], "attacker");
    assert_eq!(kratos.calls(), 2, "exactly what was sent before is a hit");
}

#[tokio::test]
async fn issue_12_a_200_authenticates_only_a_live_session_with_a_subject() {
    let kratos = FakeKratos::start(|seen| {
        let cookie = seen.headers["cookie"].to_str().unwrap().to_owned();
        let value = cookie.split_once('=').unwrap().1;
        let identity = r#""identity": {"id": "u1"}"#;
        let past = rfc3339_in(-60);
        let future = rfc3339_in(3600);
        Answer::ok(match value {
            "empty-object" => "{}".to_owned(),
            "null-id" => r#"{"active": true, "identity": {"id": null}}"#.to_owned(),
            "empty-id" => r#"{"active": true, "identity": {"id": ""}}"#.to_owned(),
            "no-identity" => r#"{"active": true, "expires_at": "2999-01-01T00:00:00Z"}"#.to_owned(),
            "active-string" => format!(r#"{{"active": "true", {identity}}}"#),
            "active-null" => format!(r#"{{"active": null, {identity}}}"#),
            "expired" => format!(r#"{{"active": true, "expires_at": "{past}", {identity}}}"#),
            "expires-garbage" => {
                format!(r#"{{"active": true, "expires_at": "tomorrow", {identity}}}"#)
            }
            "expires-number" => {
                format!(r#"{{"active": true, "expires_at": 4102444800, {identity}}}"#)
            }
            "live" => format!(r#"{{"active": true, "expires_at": "{future}", {identity}}}"#),
            "no-active-no-expiry" => format!("{{{identity}}}"),
            other => panic!("unexpected cookie {other}"),
        })
    })
    .await;
    let s = snapshot(&kratos.url(), &charm_session(&kratos, ""), COOKIE_ONLY);
    let status = |v: &'static str| {
        let s = &s;
        async move {
            let cookie = format!("ory_kratos_session={v}");
            ask(s, "https://example.com/x", &[("Cookie", &cookie)])
                .await
                .status()
        }
    };
    for (value, expected) in [
        ("empty-object", 401),
        ("null-id", 401),
        ("empty-id", 401),
        ("no-identity", 401),
        ("active-string", 401),
        ("active-null", 401),
        ("expired", 401),
        ("expires-garbage", 403),
        ("expires-number", 403),
        ("live", 200),
        ("no-active-no-expiry", 200),
    ] {
        assert_eq!(status(value).await, expected, "{value}");
    }
}
