//! The `hydrator` mutator against a fake API, through the library's decision function
//! (spec/oathkeeper-workload.md §3.3; issue 20 item 3).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response};
use oathkeeper::decision::{Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::{Cx, ResponseBody};
use oathkeeper::snapshot::{RuleFile, Severity, Snapshot, compile};
use oathkeeper_core::config::{NoEnv, parse_config};
use oathkeeper_core::rule::parse_rules;
use serde_json::{Value, json};

use crate::support::{Answer, FakeKratos, free_port};

/// A rule over `http://app.example/<.*>`: `anonymous` (subject `ann`), `allow`, then
/// `hydrator` with `config` and a header mutator showing `.Extra.tier`.
fn snapshot(config: &Value) -> Snapshot {
    let global = json!({
        "authenticators": {"anonymous": {"enabled": true, "config": {"subject": "ann"}}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {
            "hydrator": {"enabled": true, "config": config},
            "header": {"enabled": true, "config": {"headers": {"X-Tier": "{{ print .Extra.tier }}"}}},
        },
    });
    let global = parse_config(&global.to_string(), &NoEnv).unwrap();
    let rules = json!([{
        "id": "app",
        "match": {"url": "http://app.example/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "hydrator"}, {"handler": "header"}],
    }]);
    let files = [RuleFile {
        repository: "test".into(),
        rules: parse_rules(rules.to_string().as_bytes()).unwrap(),
    }];
    let s = compile(&global, &files, Default::default());
    let errors: Vec<_> = s
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    s
}

async fn ask(snapshot: &Snapshot) -> Response<ResponseBody> {
    let metrics = Metrics::new("");
    let (parts, ()) = Request::builder()
        .uri("/decisions?page=2")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", "app.example")
        .header("X-Forwarded-Uri", "/items")
        .header("X-Client", "c1")
        .body(())
        .unwrap()
        .into_parts();
    decide(snapshot, &parts, Peer::default(), &Cx::new(&metrics))
        .await
        .0
}

fn header<'r>(r: &'r Response<ResponseBody>, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

const HYDRATED: &str =
    r#"{"subject":"ann","extra":{"tier":"gold"},"header":{"X-From-Api":["yes"]}}"#;

#[tokio::test]
async fn the_answer_replaces_extra_and_headers_and_the_call_carries_the_request() {
    let api = FakeKratos::start(|_| Answer::ok(HYDRATED)).await;
    let s = snapshot(&json!({"api": {
        "url": format!("{}/hydrate", api.url()),
        "auth": {"basic": {"username": "gw", "password": "secret"}},
    }}));
    let answer = ask(&s).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "x-tier"), Some("gold"));
    assert_eq!(header(&answer, "x-from-api"), Some("yes"));
    let seen = api.last().await;
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/hydrate");
    assert_eq!(seen.query.as_deref(), Some("page=2"));
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["x-client"], "c1");
    // base64("gw:secret")
    assert_eq!(seen.headers["authorization"], "Basic Z3c6c2VjcmV0");
    assert!(seen.body_len > 0, "the session is posted");
}

#[tokio::test]
async fn another_subject_a_401_or_a_broken_answer_is_a_500() {
    for (body, status) in [
        (r#"{"subject":"bob","extra":{}}"#, 200),
        ("not json", 200),
        (HYDRATED, 401),
        (HYDRATED, 404),
    ] {
        let api = FakeKratos::start(move |_| Answer {
            status,
            ..Answer::ok(body)
        })
        .await;
        let s = snapshot(&json!({"api": {"url": api.url()}}));
        let answer = ask(&s).await;
        assert_eq!(answer.status(), 500, "{status} {body}");
        assert_eq!(header(&answer, "x-tier"), None);
    }
}

#[tokio::test]
async fn server_errors_are_retried_within_the_budget() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let api = FakeKratos::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Answer::status(503)
        } else {
            Answer::ok(HYDRATED)
        }
    })
    .await;
    let s = snapshot(&json!({"api": {"url": api.url()}}));
    assert_eq!(ask(&s).await.status(), 200);
    assert_eq!(api.calls(), 2);
}

#[tokio::test]
async fn an_unreachable_api_fails_closed_within_give_up_after() {
    let url = format!("http://127.0.0.1:{}/hydrate", free_port());
    let s = snapshot(&json!({"api": {
        "url": url,
        "retry": {"max_delay": "50ms", "give_up_after": "300ms"},
    }}));
    let started = Instant::now();
    assert_eq!(ask(&s).await.status(), 500);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn with_the_cache_on_the_same_session_is_posted_once() {
    let api = FakeKratos::start(|_| Answer::ok(HYDRATED)).await;
    let off = snapshot(&json!({"api": {"url": api.url()}}));
    ask(&off).await;
    ask(&off).await;
    assert_eq!(api.calls(), 2, "no cache by default");
    let on = snapshot(&json!({"api": {"url": api.url()}, "cache": {"enabled": true}}));
    for _ in 0..3 {
        let answer = ask(&on).await;
        assert_eq!(header(&answer, "x-tier"), Some("gold"));
    }
    assert_eq!(api.calls(), 3);
}
