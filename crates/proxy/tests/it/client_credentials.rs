//! `oauth2_client_credentials` against a fake token endpoint that records calls
//! (spec/oathkeeper-workload.md §3.1 "oauth2_client_credentials cache"; issue 20), through the
//! library's decision function.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support;
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response};
use oathkeeper::decision::{Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::{Cx, ResponseBody};
use oathkeeper::snapshot::Snapshot;
use serde_json::{Value, json};

/// One call the fake saw: the `Authorization` header and the form body.
#[derive(Debug, Clone)]
struct Call {
    authorization: String,
    form: String,
}

/// (status, body, delay) for a call.
type Reply = (u16, Value, Duration);

/// A fake token endpoint on 127.0.0.1 recording calls.
type Fake = support::Fake<Call>;

impl Fake {
    async fn start(behaviour: impl Fn(&Call) -> Reply + Send + Sync + 'static) -> Fake {
        let read = |parts: http::request::Parts, body: Bytes| Call {
            authorization: parts
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            form: String::from_utf8_lossy(&body).into_owned(),
        };
        let reply = move |call: &Call, _| {
            let (status, body, delay) = behaviour(call);
            (status, Bytes::from(body.to_string()), delay, Vec::new())
        };
        let mut fake = Fake::serve(read, reply).await;
        fake.url.push_str("/oauth2/token");
        fake
    }
}

/// `Basic` credentials as a client sends them.
fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// A token endpoint that grants `app:s3cret` (as x/oauth2 encodes them) and answers 401 to
/// anything else.
fn hydra(call: &Call) -> Reply {
    if call.authorization == basic("app", "s3cret") {
        (
            200,
            json!({"access_token": "at", "token_type": "bearer", "expires_in": 3600}),
            Duration::ZERO,
        )
    } else {
        (401, json!({"error": "invalid_client"}), Duration::ZERO)
    }
}

/// A snapshot with `oauth2_client_credentials` (global config `config`), one rule over
/// `https://example.com<.*>`, `allow`, and a header mutator setting `X-User`.
fn snapshot(config: &Value) -> Snapshot {
    let config = json!({
        "authenticators": {"oauth2_client_credentials": {"enabled": true, "config": config}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User": "{{ print .Subject }}",
        }}}},
    });
    let rules = json!([{
        "id": "api",
        "match": {"url": "<^(https|http)>://example.com<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "oauth2_client_credentials"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
    }]);
    support::compile_clean(&config, &rules)
}

async fn ask(snapshot: &Snapshot, authorization: Option<&str>) -> Response<ResponseBody> {
    let metrics = Metrics::new("");
    let mut request = Request::builder()
        .uri("/decisions")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "example.com")
        .header("X-Forwarded-Uri", "/api");
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    tokio::time::timeout(
        Duration::from_secs(10),
        decide(snapshot, &parts, Peer::default(), &Cx::new(&metrics)),
    )
    .await
    .expect("a decision within 10 s")
    .0
}

fn user(r: &Response<ResponseBody>) -> Option<&str> {
    r.headers().get("x-user").and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn valid_credentials_are_a_200_with_the_client_id_as_subject_and_scopes_sent() {
    let fake = Fake::start(hydra).await;
    let s = snapshot(&json!({"token_url": fake.url, "required_scope": ["read", "write"]}));
    let r = ask(&s, Some(&basic("app", "s3cret"))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(user(&r), Some("app"));
    let call = fake.last().await;
    assert_eq!(call.form, "grant_type=client_credentials&scope=read+write");
    assert_eq!(call.authorization, basic("app", "s3cret"));
}

#[tokio::test]
async fn escaped_credentials_are_unescaped_then_sent_form_encoded() {
    let fake = Fake::start(|call| {
        if call.authorization == basic("my+app", "p%2Fw") {
            (200, json!({"access_token": "at"}), Duration::ZERO)
        } else {
            (401, json!({}), Duration::ZERO)
        }
    })
    .await;
    let s = snapshot(&json!({"token_url": fake.url}));
    let r = ask(&s, Some(&basic("my%20app", "p/w"))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(user(&r), Some("my app"));
    let r = ask(&s, Some(&basic("bad%zz", "x"))).await;
    assert_eq!(
        r.status(),
        401,
        "an invalid escape is refused before any call"
    );
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_a_401() {
    let fake = Fake::start(hydra).await;
    let s = snapshot(&json!({"token_url": fake.url}));
    let r = ask(&s, Some(&basic("app", "wrong"))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(user(&r), None);
}

#[tokio::test]
async fn requests_without_basic_credentials_make_no_call() {
    let fake = Fake::start(hydra).await;
    let s = snapshot(&json!({"token_url": fake.url}));
    for authorization in [None, Some("Bearer abc"), Some("Basic !!!not-base64")] {
        let r = ask(&s, authorization).await;
        assert_eq!(
            r.status(),
            401,
            "{authorization:?}: no authenticator responsible"
        );
    }
    assert_eq!(fake.calls(), 0);
}

#[tokio::test]
async fn endpoint_statuses_map_as_upstream_and_an_empty_token_is_a_401() {
    for (status, body, want) in [
        (500, json!({}), 500),
        (503, json!({}), 503),
        (504, json!({}), 504),
        (404, json!({}), 404),
        (429, json!({}), 429),
        (400, json!({"error": "invalid_scope"}), 401),
        (200, json!({"access_token": ""}), 401),
        (200, json!({"token_type": "bearer"}), 401),
    ] {
        let fake = Fake::start(move |_| (status, body.clone(), Duration::ZERO)).await;
        let s = snapshot(&json!({"token_url": fake.url,
                                 "retry": {"max_delay": "50ms", "give_up_after": "300ms"}}));
        let r = ask(&s, Some(&basic("app", "s3cret"))).await;
        assert_eq!(r.status(), want, "endpoint answered {status}");
    }
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_within_give_up_after() {
    let fake = Fake::start(|_| (500, json!({}), Duration::ZERO)).await;
    let s = snapshot(&json!({"token_url": fake.url,
                             "retry": {"max_delay": "100ms", "give_up_after": "500ms"}}));
    let started = Instant::now();
    let r = ask(&s, Some(&basic("app", "s3cret"))).await;
    assert_eq!(r.status(), 500);
    assert!(fake.calls() >= 2, "retried: {} calls", fake.calls());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn hanging_and_closed_endpoints_fail_closed_within_the_bound() {
    let hanging =
        Fake::start(|_| (200, json!({"access_token": "at"}), Duration::from_secs(30))).await;
    let s = snapshot(&json!({"token_url": hanging.url,
                             "retry": {"max_delay": "100ms", "give_up_after": "400ms"}}));
    let started = Instant::now();
    let r = ask(&s, Some(&basic("app", "s3cret"))).await;
    assert_eq!(r.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/token", listener.local_addr().unwrap())
    };
    let s = snapshot(&json!({"token_url": closed,
                             "retry": {"max_delay": "100ms", "give_up_after": "400ms"}}));
    let started = Instant::now();
    let r = ask(&s, Some(&basic("app", "s3cret"))).await;
    assert_eq!(r.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cached_grants_make_no_second_call_and_are_keyed_by_the_secret() {
    let fake = Fake::start(hydra).await;
    let s = snapshot(&json!({"token_url": fake.url, "cache": {"enabled": true, "ttl": "1m"}}));
    for _ in 0..3 {
        let r = ask(&s, Some(&basic("app", "s3cret"))).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(fake.calls(), 1, "one grant, then cache hits");
    let r = ask(&s, Some(&basic("app", "wrong"))).await;
    assert_eq!(r.status(), 401, "another secret is not a hit");
    assert_eq!(fake.calls(), 2);
    let r = ask(&s, Some(&basic("app", "wrong"))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(fake.calls(), 3, "refusals are not cached");
}

#[tokio::test]
async fn without_the_cache_every_request_is_a_grant() {
    let fake = Fake::start(hydra).await;
    let s = snapshot(&json!({"token_url": fake.url}));
    for _ in 0..2 {
        assert_eq!(ask(&s, Some(&basic("app", "s3cret"))).await.status(), 200);
    }
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn cached_grants_end_with_the_token_and_the_ttl() {
    let fake = Fake::start(|_| {
        (
            200,
            json!({"access_token": "at", "expires_in": 1}),
            Duration::ZERO,
        )
    })
    .await;
    let s = snapshot(&json!({"token_url": fake.url, "cache": {"enabled": true, "ttl": "1h"}}));
    assert_eq!(ask(&s, Some(&basic("app", "s3cret"))).await.status(), 200);
    assert_eq!(ask(&s, Some(&basic("app", "s3cret"))).await.status(), 200);
    assert_eq!(fake.calls(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(ask(&s, Some(&basic("app", "s3cret"))).await.status(), 200);
    assert_eq!(fake.calls(), 2, "expired with the token");

    let no_expiry = Fake::start(|_| (200, json!({"access_token": "at"}), Duration::ZERO)).await;
    let s = snapshot(&json!({"token_url": no_expiry.url, "cache": {"enabled": true}}));
    assert_eq!(ask(&s, Some(&basic("app", "s3cret"))).await.status(), 200);
    assert_eq!(ask(&s, Some(&basic("app", "s3cret"))).await.status(), 200);
    assert_eq!(no_expiry.calls(), 2, "neither expiry nor ttl: not kept");
}

#[tokio::test]
async fn concurrent_misses_make_one_grant() {
    let fake = Fake::start(|_| {
        (
            200,
            json!({"access_token": "at", "expires_in": 3600}),
            Duration::from_millis(200),
        )
    })
    .await;
    let s = Arc::new(snapshot(
        &json!({"token_url": fake.url, "cache": {"enabled": true}}),
    ));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { ask(&s, Some(&basic("app", "s3cret"))).await.status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(fake.calls(), 1);
}
