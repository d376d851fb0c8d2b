//! `oauth2_introspection` against a fake RFC 7662 endpoint (and token endpoint) that records
//! calls (spec/oathkeeper-workload.md §3.1 "oauth2_introspection details"; issue 20), through
//! the library's decision function.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use oathkeeper::decision::{Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::{Cx, ResponseBody};
use oathkeeper::snapshot::Snapshot;
use serde_json::{Value, json};

/// One call the fake saw.
#[derive(Debug, Clone)]
struct Call {
    path: String,
    headers: http::HeaderMap,
    form: Vec<(String, String)>,
}

impl Call {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// (status, body, delay, headers) for a call.
type Reply = (u16, Value, Duration, Vec<(&'static str, &'static str)>);

/// A fake endpoint on 127.0.0.1 recording calls; `behaviour` gets the call and its number.
type Fake = support::Fake<Call>;

fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

impl Fake {
    async fn start(behaviour: impl Fn(&Call, usize) -> Reply + Send + Sync + 'static) -> Fake {
        let read = |parts: http::request::Parts, body: Bytes| Call {
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            form: form(&body),
        };
        let reply = move |call: &Call, number| {
            let (status, body, delay, headers) = behaviour(call, number);
            (status, Bytes::from(body.to_string()), delay, headers)
        };
        Fake::serve(read, reply).await
    }
}

fn ok(body: Value) -> Reply {
    (200, body, Duration::ZERO, Vec::new())
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// An active result for subject `sub`, expiring in an hour.
fn active(sub: &str) -> Value {
    json!({"active": true, "sub": sub, "username": "ann", "client_id": "app",
           "scope": "openid photos.read", "aud": ["api"], "iss": "https://hydra/",
           "exp": now() + 3600, "ext": {"tenant": "t1"}})
}

/// A snapshot with `oauth2_introspection` (global config `global`) and `noop` enabled, one rule
/// over `https://example.com<.*>` with `authenticators` (JSON), `allow`, and a header mutator
/// setting `X-User` and `X-Tenant`.
fn snapshot(global: &Value, authenticators: &Value) -> Snapshot {
    let config = json!({
        "authenticators": {
            "oauth2_introspection": {"enabled": true, "config": global},
            "noop": {"enabled": true},
        },
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User": "{{ print .Subject }}",
            "X-Tenant": "{{ print .Extra.tenant }}",
        }}}},
    });
    let rules = json!([{
        "id": "api",
        "match": {"url": "<^(https|http)>://example.com<.*>", "methods": ["GET"]},
        "authenticators": authenticators,
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
    }]);
    support::compile_clean(&config, &rules)
}

fn only() -> Value {
    json!([{"handler": "oauth2_introspection"}])
}

fn with(url: &str, extra: Value) -> Value {
    let mut c = json!({"introspection_url": format!("{url}/oauth2/introspect")});
    let Value::Object(extra) = extra else {
        panic!("{extra}")
    };
    c.as_object_mut().unwrap().extend(extra);
    c
}

async fn ask(snapshot: &Snapshot, token: Option<&str>) -> Response<ResponseBody> {
    let metrics = Metrics::new("");
    let mut request = Request::builder()
        .uri("/decisions")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "example.com")
        .header("X-Forwarded-Uri", "/api");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
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
async fn an_active_token_is_a_200_with_subject_and_extra() {
    let hydra = Fake::start(|_, _| ok(active("user-1"))).await;
    let s = snapshot(
        &with(
            &hydra.url,
            json!({"introspection_request_headers": {"X-Api-Key": "k1"}, "preserve_host": true}),
        ),
        &only(),
    );
    let r = ask(&s, Some("opaque-token")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-user"), Some("user-1"));
    assert_eq!(header(&r, "x-tenant"), Some("t1"));
    let call = hydra.last().await;
    assert_eq!(call.path, "/oauth2/introspect");
    assert_eq!(call.field("token"), Some("opaque-token"));
    assert_eq!(
        call.field("scope"),
        Some(""),
        "strategy none sends the required scopes"
    );
    assert_eq!(
        call.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(call.headers["x-api-key"], "k1");
    assert_eq!(call.headers["x-forwarded-host"], "example.com");
}

#[tokio::test]
async fn results_are_checked_in_upstreams_order_and_statuses() {
    let t = now();
    let cases = [
        (json!({}), json!({"active": false}), 401),
        (
            json!({}),
            json!({"active": true, "token_use": "refresh_token"}),
            403,
        ),
        (
            json!({}),
            json!({"active": false, "token_use": "refresh_token"}),
            403,
        ),
        (
            json!({}),
            json!({"active": true, "sub": "u", "exp": t - 5}),
            401,
        ),
        (
            json!({"target_audience": ["api", "web"]}),
            json!({"active": true, "aud": ["api"]}),
            403,
        ),
        (
            json!({"target_audience": ["api"]}),
            json!({"active": true, "aud": "api"}),
            200,
        ),
        (
            json!({"trusted_issuers": ["https://a/"]}),
            json!({"active": true, "iss": "https://b/"}),
            403,
        ),
        (
            json!({"trusted_issuers": ["https://a/"]}),
            json!({"active": true, "iss": "https://a/"}),
            200,
        ),
        (
            json!({"required_scope": ["photos.read"], "scope_strategy": "hierarchic"}),
            json!({"active": true, "scope": "openid photos"}),
            200,
        ),
        (
            json!({"required_scope": ["photos.read"], "scope_strategy": "exact"}),
            json!({"active": true, "scope": "openid photos"}),
            403,
        ),
        (json!({}), json!({"active": true, "aud": [1]}), 500),
        (json!({}), json!("not an object"), 500),
    ];
    for (config, result, status) in cases {
        let answer = result.clone();
        let hydra = Fake::start(move |_, _| ok(answer.clone())).await;
        let s = snapshot(&with(&hydra.url, config.clone()), &only());
        let r = ask(&s, Some("tok")).await;
        assert_eq!(r.status(), status, "{config} {result}");
    }
}

#[tokio::test]
async fn strategy_none_sends_the_required_scopes_to_the_endpoint() {
    let hydra = Fake::start(|_, _| ok(active("u"))).await;
    let s = snapshot(
        &with(
            &hydra.url,
            json!({"required_scope": ["a", "b.c"], "cache": {"enabled": true, "ttl": "1m"}}),
        ),
        &only(),
    );
    assert_eq!(ask(&s, Some("tok")).await.status(), 200);
    assert_eq!(hydra.last().await.field("scope"), Some("a b.c"));
    assert_eq!(ask(&s, Some("tok")).await.status(), 200);
    assert_eq!(
        hydra.calls(),
        2,
        "no cache with strategy none and required scopes"
    );
}

#[tokio::test]
async fn endpoint_failures_fail_closed_within_give_up_after() {
    let limited = Fake::start(|_, _| {
        (
            429,
            json!({}),
            Duration::ZERO,
            vec![("retry-after", "7"), ("x-ratelimit-remaining", "0")],
        )
    })
    .await;
    let s = snapshot(&with(&limited.url, json!({})), &only());
    let r = ask(&s, Some("tok")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), Some("7"));
    assert_eq!(header(&r, "x-ratelimit-remaining"), Some("0"));

    let teapot = Fake::start(|_, _| (418, json!({}), Duration::ZERO, Vec::new())).await;
    let s = snapshot(&with(&teapot.url, json!({})), &only());
    assert_eq!(ask(&s, Some("tok")).await.status(), 500);
    assert_eq!(teapot.calls(), 1, "a 4xx is not retried");

    let hanging = Fake::start(|_, _| ok(active("u"))).await;
    let hanging = {
        drop(hanging);
        Fake::start(|_, _| (200, active("u"), Duration::from_secs(30), Vec::new())).await
    };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        url
    };
    for url in [hanging.url.clone(), closed] {
        let s = snapshot(
            &with(
                &url,
                json!({"retry": {"give_up_after": "300ms", "max_delay": "100ms"}}),
            ),
            &only(),
        );
        let started = Instant::now();
        let r = ask(&s, Some("tok")).await;
        assert_eq!(r.status(), 500, "{url}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{url}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_5xx_is_retried_within_the_budget() {
    let flaky = Fake::start(|_, n| {
        if n == 0 {
            (503, json!({}), Duration::ZERO, Vec::new())
        } else {
            ok(active("u"))
        }
    })
    .await;
    let s = snapshot(
        &with(&flaky.url, json!({"retry": {"give_up_after": "2s"}})),
        &only(),
    );
    assert_eq!(ask(&s, Some("tok")).await.status(), 200);
    assert_eq!(flaky.calls(), 2);
}

#[tokio::test]
async fn the_cache_answers_until_exp_and_coalesces() {
    let hydra = Fake::start(|call, _| {
        let exp = if call.field("token") == Some("short") {
            now() + 2
        } else {
            now() + 3600
        };
        let mut a = active(call.field("token").unwrap_or_default());
        a["exp"] = json!(exp);
        (200, a, Duration::from_millis(100), Vec::new())
    })
    .await;
    let s = snapshot(
        &with(&hydra.url, json!({"cache": {"enabled": true, "ttl": "1m"}})),
        &only(),
    );
    let answers = futures::future::join_all((0..10).map(|_| ask(&s, Some("long")))).await;
    assert!(answers.iter().all(|r| r.status() == 200));
    assert_eq!(
        hydra.calls(),
        1,
        "ten concurrent requests, one introspection"
    );
    assert_eq!(header(&ask(&s, Some("long")).await, "x-user"), Some("long"));
    assert_eq!(hydra.calls(), 1, "served from the cache");
    assert_eq!(
        header(&ask(&s, Some("other")).await, "x-user"),
        Some("other")
    );
    assert_eq!(hydra.calls(), 2, "another token is another entry");

    assert_eq!(ask(&s, Some("short")).await.status(), 200);
    assert_eq!(hydra.calls(), 3);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = ask(&s, Some("short")).await;
    assert_eq!(hydra.calls(), 4, "an entry never outlives the token's exp");
    assert_eq!(r.status(), 200, "the endpoint was asked again");
}

#[tokio::test]
async fn inactive_results_are_not_cached_and_checks_rerun_on_hits() {
    let hydra = Fake::start(|call, _| {
        if call.field("token") == Some("dead") {
            ok(json!({"active": false}))
        } else {
            ok(active("u"))
        }
    })
    .await;
    let cached = json!({"cache": {"enabled": true, "ttl": "1m"}});
    let s = snapshot(&with(&hydra.url, cached.clone()), &only());
    assert_eq!(ask(&s, Some("dead")).await.status(), 401);
    assert_eq!(ask(&s, Some("dead")).await.status(), 401);
    assert_eq!(hydra.calls(), 2, "inactive results are not kept");
    assert_eq!(ask(&s, Some("good")).await.status(), 200);
    assert_eq!(hydra.calls(), 3);
    // Same endpoint and cache settings, a rule wanting another audience: the cache is shared,
    // and its hit is checked against this rule.
    let s = snapshot(
        &with(&hydra.url, cached),
        &json!([{"handler": "oauth2_introspection", "config": {"target_audience": ["other"]}}]),
    );
    assert_eq!(ask(&s, Some("good")).await.status(), 403);
    assert_eq!(hydra.calls(), 3, "answered from the shared cache");
}

#[tokio::test]
async fn tokens_without_the_prefix_are_left_to_the_next_authenticator() {
    let hydra = Fake::start(|_, _| ok(active("u"))).await;
    let s = snapshot(
        &with(&hydra.url, json!({"prefix": "ory_at_"})),
        &json!([{"handler": "oauth2_introspection"}, {"handler": "noop"}]),
    );
    let r = ask(&s, Some("other-token")).await;
    assert_eq!(
        (r.status(), header(&r, "x-user")),
        (StatusCode::OK, Some(""))
    );
    let r = ask(&s, None).await;
    assert_eq!(
        (r.status(), header(&r, "x-user")),
        (StatusCode::OK, Some(""))
    );
    assert_eq!(hydra.calls(), 0);
    let r = ask(&s, Some("ory_at_x")).await;
    assert_eq!(header(&r, "x-user"), Some("u"));
}

#[tokio::test]
async fn pre_authorization_sends_a_cached_client_credentials_token() {
    let idp = Fake::start(|call, _| {
        if call.path == "/oauth2/token" {
            ok(json!({"access_token": "grant-1", "token_type": "bearer", "expires_in": 3600}))
        } else {
            ok(active("u"))
        }
    })
    .await;
    let s = snapshot(
        &with(
            &idp.url,
            json!({"pre_authorization": {"enabled": true, "client_id": "oathkeeper",
                "client_secret": "s3cr&t", "token_url": format!("{}/oauth2/token", idp.url),
                "audience": "hydra", "scope": ["introspect", "x"]}}),
        ),
        &only(),
    );
    assert_eq!(ask(&s, Some("a")).await.status(), 200);
    assert_eq!(ask(&s, Some("b")).await.status(), 200);
    let calls = idp.all().await;
    let grants: Vec<_> = calls.iter().filter(|c| c.path == "/oauth2/token").collect();
    assert_eq!(grants.len(), 1, "the grant token is reused");
    let grant = grants[0];
    assert_eq!(grant.field("grant_type"), Some("client_credentials"));
    assert_eq!(grant.field("scope"), Some("introspect x"));
    assert_eq!(grant.field("audience"), Some("hydra"));
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("oathkeeper:s3cr%26t");
    assert_eq!(
        grant.headers["authorization"],
        format!("Basic {basic}").as_str()
    );
    let introspections: Vec<_> = calls
        .iter()
        .filter(|c| c.path == "/oauth2/introspect")
        .collect();
    assert_eq!(introspections.len(), 2);
    for call in introspections {
        assert_eq!(call.headers["authorization"], "Bearer grant-1");
    }
}
