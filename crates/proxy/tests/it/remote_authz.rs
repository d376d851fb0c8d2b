//! `remote` and `remote_json` authorizers against a Keto-like fake that records calls
//! (spec/oathkeeper-workload.md §3.2; issue 20), through the library's decision function. The
//! subject and extra come from `oauth2_introspection` against a second fake.

use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::support;
use bytes::Bytes;
use http::{Request, Response};
use oathkeeper::decision::{Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::{Cx, ResponseBody};
use oathkeeper::snapshot::{RuleFile, Severity, Snapshot, compile};
use oathkeeper_core::config::{NoEnv, parse_config};
use oathkeeper_core::rule::parse_rules;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One call the fake saw.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    headers: http::HeaderMap,
    body: String,
}

/// (status, delay, headers) for a call.
type Reply = (u16, Duration, Vec<(&'static str, &'static str)>);

/// A fake endpoint on 127.0.0.1 recording calls; `behaviour` gets the call's number and the
/// answer body is `{}` (or the introspection result for the token fake).
type Fake = support::Fake<Call>;

impl Fake {
    async fn start(
        body: &'static str,
        behaviour: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> Fake {
        let read = |parts: http::request::Parts, bytes: Bytes| Call {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        let reply = move |_: &Call, number| {
            let (status, delay, headers) = behaviour(number);
            (status, Bytes::from(body), delay, headers)
        };
        Fake::serve(read, reply).await
    }

    /// A Keto-like check endpoint answering `reply(call number)`.
    async fn keto(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Fake {
        Fake::start("{}", reply).await
    }
}

fn status(code: u16) -> Reply {
    (code, Duration::ZERO, Vec::new())
}

/// The introspection endpoint: every token is active for `user-1` of tenant `t1`.
async fn hydra() -> Fake {
    Fake::start(
        r#"{"active": true, "sub": "user-1", "ext": {"tenant": "t1"}}"#,
        |_| status(200),
    )
    .await
}

/// A snapshot with `oauth2_introspection` at `hydra`, authorizer `id` with global config
/// `global` (and the rule's `rule_config`), and a header mutator setting `X-User`; one rule
/// over `https://example.com/<.*>`.
fn snapshot_with(hydra: &Fake, id: &str, global: &Value, rule_config: &Value) -> Snapshot {
    let config = json!({
        "authenticators": {"oauth2_introspection": {"enabled": true, "config": {
            "introspection_url": format!("{}/introspect", hydra.url)}}},
        "authorizers": {id: {"enabled": true, "config": global}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User": "{{ print .Subject }}"}}}},
    });
    let config = parse_config(&config.to_string(), &NoEnv).unwrap();
    let rules = json!([{
        "id": "api",
        "match": {"url": "<^(https|http)>://example.com/<(.*)>", "methods": ["GET", "POST"]},
        "authenticators": [{"handler": "oauth2_introspection"}],
        "authorizer": {"handler": id, "config": rule_config},
        "mutators": [{"handler": "header"}],
    }]);
    let files = [RuleFile {
        repository: "test".into(),
        rules: parse_rules(rules.to_string().as_bytes()).unwrap(),
    }];
    compile(&config, &files, Default::default())
}

/// [`snapshot_with`], asserting the rules load without error.
fn snapshot(hydra: &Fake, id: &str, global: &Value, rule_config: &Value) -> Snapshot {
    let snapshot = snapshot_with(hydra, id, global, rule_config);
    let errors: Vec<_> = snapshot
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    snapshot
}

/// `remote_json`'s global config calling `keto` with a payload over the session and match
/// context, merged with `extra`.
fn remote_json(keto: &Fake, extra: Value) -> Value {
    let mut c = json!({
        "remote": format!("{}/relation-tuples/check", keto.url),
        "payload": r#"{"subject_id": "{{ print .Subject }}", "namespace": "{{ print .Extra.tenant }}", "object": "{{ print .MatchContext.URL.Path }}", "relation": "{{ print .MatchContext.Method }}"}"#,
    });
    let Value::Object(extra) = extra else {
        panic!("{extra}")
    };
    c.as_object_mut().unwrap().extend(extra);
    c
}

async fn ask(snapshot: &Snapshot, extra: &[(&str, &str)]) -> Response<ResponseBody> {
    let metrics = Metrics::new("");
    let mut request = Request::builder()
        .uri("/decisions")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "example.com")
        .header("X-Forwarded-Uri", "/docs/42")
        .header("Authorization", "Bearer opaque-token");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    decide(snapshot, &parts, Peer::default(), &Cx::new(&metrics))
        .await
        .0
}

fn header<'r>(r: &'r Response<ResponseBody>, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn remote_json_posts_the_rendered_payload_and_a_200_forwards_the_listed_headers() {
    let hydra = hydra().await;
    let keto = Fake::keto(|_| {
        (
            200,
            Duration::ZERO,
            vec![("X-Allowed-By", "keto"), ("X-Internal", "secret")],
        )
    })
    .await;
    let global = remote_json(
        &keto,
        json!({
            "headers": {"X-Subject": "{{ print .Subject }}", "X-Empty": "{{ print \"\" }}"},
            "forward_response_headers_to_upstream": ["X-Allowed-By", "X-Absent"],
        }),
    );
    let s = snapshot(&hydra, "remote_json", &global, &json!({}));
    let r = ask(&s, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-allowed-by"), Some("keto"));
    assert_eq!(header(&r, "x-user"), Some("user-1"), "mutators still run");
    assert_eq!(header(&r, "x-internal"), None, "only listed headers pass");
    assert_eq!(header(&r, "x-absent"), None, "an absent header is not set");
    let call = keto.last().await;
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/relation-tuples/check")
    );
    let payload: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(
        payload,
        json!({"subject_id": "user-1", "namespace": "t1", "object": "/docs/42", "relation": "GET"})
    );
    assert_eq!(call.headers["content-type"], "application/json");
    assert_eq!(call.headers["authorization"], "Bearer opaque-token");
    assert_eq!(call.headers["x-subject"], "user-1", "headers are templated");
    assert!(
        !call.headers.contains_key("x-empty"),
        "an empty header is not sent"
    );
}

#[tokio::test]
async fn a_rule_config_overrides_the_global_payload() {
    let hydra = hydra().await;
    let keto = Fake::keto(|_| status(200)).await;
    let s = snapshot(
        &hydra,
        "remote_json",
        &remote_json(&keto, json!({})),
        &json!({"payload": r#"{"who": "{{ print .Subject }}"}"#}),
    );
    assert_eq!(ask(&s, &[]).await.status(), 200);
    let payload: Value = serde_json::from_str(&keto.last().await.body).unwrap();
    assert_eq!(payload, json!({"who": "user-1"}));
}

#[tokio::test]
async fn remote_sends_the_original_content_type_and_authorization_and_no_body() {
    let hydra = hydra().await;
    let keto = Fake::keto(|_| (200, Duration::ZERO, vec![("X-Allowed-By", "opa")])).await;
    let global = json!({
        "remote": format!("{}/authorize", keto.url),
        "headers": {"X-Tenant": "{{ print .Extra.tenant }}"},
        "forward_response_headers_to_upstream": ["X-Allowed-By"],
    });
    let s = snapshot(&hydra, "remote", &global, &json!({}));
    let r = ask(&s, &[("Content-Type", "text/plain")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-allowed-by"), Some("opa"));
    let call = keto.last().await;
    assert_eq!(call.method, "POST");
    assert_eq!(call.headers["content-type"], "text/plain");
    assert_eq!(call.headers["authorization"], "Bearer opaque-token");
    assert_eq!(call.headers["x-tenant"], "t1");
    assert_eq!(call.body, "", "a decision request has no body to forward");
}

#[tokio::test]
async fn answers_map_to_upstreams_statuses() {
    let hydra = hydra().await;
    for (answer, expected) in [(200, 200), (403, 403), (401, 500), (404, 500), (201, 500)] {
        let keto = Fake::keto(move |_| status(answer)).await;
        let s = snapshot(
            &hydra,
            "remote_json",
            &remote_json(&keto, json!({})),
            &json!({}),
        );
        let r = ask(&s, &[]).await;
        assert_eq!(r.status(), expected, "remote answered {answer}");
        assert_eq!(keto.calls(), 1, "{answer} is not retried");
    }
    let keto = Fake::keto(|_| {
        (
            429,
            Duration::ZERO,
            vec![("Retry-After", "7"), ("X-Ratelimit-Remaining", "0")],
        )
    })
    .await;
    let s = snapshot(&hydra, "remote", &json!({"remote": keto.url}), &json!({}));
    let r = ask(&s, &[]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), Some("7"));
    assert_eq!(header(&r, "x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn a_5xx_is_retried_within_the_budget() {
    let hydra = hydra().await;
    let keto = Fake::keto(|n| status(if n == 0 { 503 } else { 200 })).await;
    let s = snapshot(
        &hydra,
        "remote_json",
        &remote_json(&keto, json!({})),
        &json!({}),
    );
    assert_eq!(ask(&s, &[]).await.status(), 200);
    assert_eq!(keto.calls(), 2);

    // Always failing: at most five attempts, then a 500 within give_up_after.
    let keto = Fake::keto(|_| status(500)).await;
    let retry = json!({"retry": {"max_delay": "10ms", "give_up_after": "2s"}});
    let s = snapshot(
        &hydra,
        "remote_json",
        &remote_json(&keto, retry),
        &json!({}),
    );
    let started = Instant::now();
    assert_eq!(ask(&s, &[]).await.status(), 500);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(keto.calls(), 5, "upstream's four retries");
}

#[tokio::test]
async fn a_hanging_closed_or_garbage_remote_fails_closed_within_give_up_after() {
    let hydra = hydra().await;
    let retry = json!({"retry": {"max_delay": "100ms", "give_up_after": "300ms"}});
    let hanging = Fake::keto(|_| (200, Duration::from_secs(30), Vec::new())).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        url
    };
    let garbage = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_url = format!("http://{}", garbage.local_addr().unwrap());
    let garbage_task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = garbage.accept().await {
            let mut buffer = [0; 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(b"not http at all\r\n\r\n").await;
        }
    });
    for url in [hanging.url.clone(), closed, garbage_url] {
        let mut global = retry.clone();
        global["remote"] = json!(url);
        let s = snapshot(&hydra, "remote", &global, &json!({}));
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), ask(&s, &[]))
            .await
            .expect("bounded");
        assert_eq!(r.status(), 500, "{url}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{url}: {:?}",
            started.elapsed()
        );
    }
    garbage_task.abort();
}

#[tokio::test]
async fn a_payload_that_is_not_json_is_a_500_and_nothing_is_sent() {
    let hydra = hydra().await;
    let keto = Fake::keto(|_| status(200)).await;
    let global = remote_json(
        &keto,
        json!({"payload": "{\"subject\": {{ print .Subject }}}"}),
    );
    let s = snapshot(&hydra, "remote_json", &global, &json!({}));
    assert_eq!(ask(&s, &[]).await.status(), 500);
    assert_eq!(keto.calls(), 0);
}

#[tokio::test]
async fn bad_configs_are_reported_at_load_naming_the_key() {
    let hydra = hydra().await;
    for (config, needle) in [
        (
            json!({"remote": "ftp://keto/check", "payload": "{}"}),
            "remote",
        ),
        (
            json!({"remote": "http://keto/check"}),
            "payload is required",
        ),
        (
            json!({"remote": "http://keto", "payload": "{{ .Subject "}),
            "payload",
        ),
        (
            json!({"remote": "http://keto", "payload": "{}", "headers": {"X": "{{ end }}"}}),
            "\"X\"",
        ),
        (
            json!({"remote": "http://keto", "payload": "{}",
                   "forward_response_headers_to_upstream": ["bad header"]}),
            "forward_response_headers_to_upstream",
        ),
    ] {
        let s = snapshot_with(&hydra, "remote_json", &config, &json!({}));
        let messages: Vec<_> = s.diagnostics.iter().map(|d| d.message.clone()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("remote_json") && m.contains(needle)),
            "{config}: {messages:?}"
        );
        assert_eq!(ask(&s, &[]).await.status(), 500, "{config}");
    }
}
