//! The full in-process decision (URL rebuild, rule lookup, pipeline, answer) on the rules our
//! charm renders, at 10 and 10,000 rules, for each kind of request a protected app sees: an
//! allowed endpoint, a protected path without a session (401 for an API client, 302 to the login
//! page for a browser), with a session from the cache (an app on its own host and one under a
//! path prefix of a shared host), and a URL no rule matches; a `jwt` decision with its key set
//! cached (RS256 and ES256, keys from `base64://`, so no fetch is measured; a repeated token is
//! answered by the verified-token cache) and the verification of a first-seen token; an
//! `oauth2_introspection` decision answered from its cache; a `remote_json` decision against a
//! local fake; and the header mutator's template rendering.
//!
//! Under callgrind, `--profile-time` runs one scenario without criterion's analysis:
//! `valgrind --tool=callgrind target/release/deps/decision-* --bench --profile-time 5
//! decision/deny_401/10000`, then the inclusive cost of `decide` divided by its calls.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::Full;
use oathkeeper::decision::{Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::Cx;
use oathkeeper::snapshot::{RuleFile, Snapshot, compile};
use oathkeeper::template::{Data, Template, Value};
use oathkeeper_core::testing::{bench_config, many_rules};

const SESSION: &str = r#"{"id":"s","active":true,"expires_at":"2099-01-01T00:00:00Z","identity":{"id":"user-1","traits":{"email":"ann@example.com","name":"Ann"}}}"#;

/// A fake Kratos answering every whoami with one session, on a background thread.
fn fake_kratos() -> String {
    fake_server(SESSION)
}

/// A fake server answering every request with `body`, on a background thread.
fn fake_server(body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(body.as_bytes()),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    format!("http://{addr}")
}

fn snapshot(rules: usize, kratos: &str) -> Snapshot {
    let config = bench_config(kratos);
    compile(
        &config,
        &[RuleFile {
            repository: "bench".into(),
            rules: many_rules(rules),
        }],
        Default::default(),
    )
}

fn parts(host: &str, uri: &str, accept: &str, cookie: Option<&str>) -> http::request::Parts {
    let mut r = Request::builder()
        .uri("/decisions")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", uri)
        .header("Accept", accept);
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    r.body(()).unwrap().into_parts().0
}

fn decisions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let kratos = fake_kratos();
    let metrics = Metrics::new("");
    let mut group = c.benchmark_group("decision");
    let api = "application/json";
    let browser = "text/html,application/xhtml+xml";
    let cookie = Some("ory_kratos_session=abc");
    // Even apps have their own host, odd ones a path prefix of shared.example.com.
    let scenarios = [
        (
            "allowed_endpoint",
            parts("app0.example.com", "/welcome", api, None),
            200,
        ),
        (
            "deny_401",
            parts("app0.example.com", "/private", api, None),
            401,
        ),
        (
            "deny_302",
            parts("app0.example.com", "/private", browser, None),
            302,
        ),
        (
            "session_cached",
            parts("app0.example.com", "/private", api, cookie),
            200,
        ),
        (
            "session_cached_shared_host",
            parts("shared.example.com", "/model-app1-ui/private", api, cookie),
            200,
        ),
        (
            "no_rule",
            parts("nowhere.example.org", "/x", api, None),
            401,
        ),
    ];
    for n in [10usize, 10_000] {
        // Built on first use, so that a filtered run (`--profile-time` under callgrind) only
        // builds the snapshot it measures.
        let snap = std::cell::OnceCell::new();
        let snap = || {
            snap.get_or_init(|| {
                let snap = snapshot(n, &kratos);
                for (name, p, status) in &scenarios {
                    // Also warms the session cache.
                    let answer = rt.block_on(decide(&snap, p, Peer::default(), &Cx::new(&metrics)));
                    assert_eq!(answer.0.status(), *status, "{name}: {:?}", answer.1);
                }
                snap
            })
        };
        for (name, p, _) in &scenarios {
            group.bench_with_input(BenchmarkId::new(*name, n), p, |b, p| {
                let snap = snap();
                b.to_async(&rt).iter(|| async {
                    black_box(decide(snap, p, Peer::default(), &Cx::new(&metrics)).await.0)
                })
            });
        }
    }
    group.finish();
}

/// A `jwt` rule over `https://api.example.com/<.*>` (keys from `keys`, a JWKS) with the
/// header mutator setting `X-User` from the subject.
fn jwt_snapshot(keys: &serde_json::Value, algorithms: &[&str]) -> Snapshot {
    use base64::Engine as _;
    let jwks = base64::engine::general_purpose::STANDARD.encode(keys.to_string());
    let config = serde_json::json!({
        "authenticators": {"jwt": {"enabled": true, "config": {
            "jwks_urls": [format!("base64://{jwks}")],
            "allowed_algorithms": algorithms,
            "target_audience": ["api"],
        }}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User": "{{ print .Subject }}",
        }}}},
    });
    let config =
        oathkeeper_core::config::parse_config(&config.to_string(), &oathkeeper_core::config::NoEnv)
            .unwrap();
    let rules = serde_json::json!([{
        "id": "api",
        "match": {"url": "https://api.example.com/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "jwt"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
    }]);
    let rules = oathkeeper_core::rule::parse_rules(rules.to_string().as_bytes()).unwrap();
    compile(
        &config,
        &[RuleFile {
            repository: "bench".into(),
            rules,
        }],
        Default::default(),
    )
}

/// A compact JWS over `claims`, header `{alg, kid}`, signature by `sign` (ring, independent
/// of the verifier).
fn jws(
    alg: &str,
    kid: &str,
    claims: &serde_json::Value,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string();
    let message = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(message.as_bytes());
    format!("{message}.{}", b64(&signature))
}

/// `jwt` decisions with the key set cached: RS256 (2048-bit key) and ES256 (P-256).
fn jwt_decisions(c: &mut Criterion) {
    use base64::Engine as _;
    use ring::signature::{self, KeyPair as _};
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject as _;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new("");
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let rng = ring::rand::SystemRandom::new();
    let claims = serde_json::json!({
        "sub": "user-1", "aud": "api", "iss": "https://idp.example.com/",
        "iat": 1_700_000_000u64, "exp": 4_000_000_000u64, "scp": ["read", "write"],
    });

    let pem = include_str!("../tests/it/jwt-rsa.pem");
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    let rsa = signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let public: signature::RsaPublicKeyComponents<Vec<u8>> = rsa.public().into();
    let rsa_jwk = serde_json::json!({"kty": "RSA", "use": "sig", "kid": "rsa",
        "n": b64(&public.n), "e": b64(&public.e)});
    let rs256 = jws("RS256", "rsa", &claims, |m| {
        let mut sig = vec![0; rsa.public().modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut sig)
            .unwrap();
        sig
    });

    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let ec = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let point = ec.public_key().as_ref();
    let ec_jwk = serde_json::json!({"kty": "EC", "use": "sig", "kid": "ec", "crv": "P-256",
        "x": b64(&point[1..33]), "y": b64(&point[33..65])});
    let es256 = jws("ES256", "ec", &claims, |m| {
        ec.sign(&rng, m).unwrap().as_ref().to_vec()
    });

    let keys = serde_json::json!({"keys": [rsa_jwk, ec_jwk]});
    let snap = jwt_snapshot(&keys, &["RS256", "ES256"]);
    let mut group = c.benchmark_group("decision");
    // A token seen for the first time: header, key lookup, signature and claims (what a
    // decision costs on a miss of the verified-token cache).
    let set = oathkeeper::jwks::KeySet::parse(keys.to_string().as_bytes()).unwrap();
    let mut config = oathkeeper_core::handler::jwt::Config::new(["base64://e30"]);
    config.allowed_algorithms = Some(vec!["RS256".into(), "ES256".into()]);
    config.target_audience = Some(vec!["api".into()]);
    let verifier = oathkeeper::pipeline::authn::jwt::Verifier::compile(&config).unwrap();
    for (name, token) in [("jwt_verify_rs256", &rs256), ("jwt_verify_es256", &es256)] {
        group.bench_function(BenchmarkId::new(name, 1), |b| {
            b.iter(|| {
                let header = verifier.header(black_box(token)).unwrap();
                let key = set.get(&header.kid).unwrap();
                black_box(verifier.verify(token, &header, key, std::time::SystemTime::now()))
            })
        });
    }
    for (name, token) in [
        ("jwt_rs256_cached_jwks", rs256),
        ("jwt_es256_cached_jwks", es256),
    ] {
        let p = {
            let mut p = parts("api.example.com", "/v1/items", "application/json", None);
            p.headers
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            p
        };
        let answer = rt.block_on(decide(&snap, &p, Peer::default(), &Cx::new(&metrics)));
        assert_eq!(answer.0.status(), 200, "{name}: {:?}", answer.1);
        assert_eq!(answer.0.headers()["x-user"], "user-1");
        group.bench_with_input(BenchmarkId::new(name, 1), &p, |b, p| {
            b.to_async(&rt).iter(|| async {
                black_box(
                    decide(&snap, p, Peer::default(), &Cx::new(&metrics))
                        .await
                        .0,
                )
            })
        });
    }
    group.finish();
}

const INTROSPECTION: &str = r#"{"active":true,"sub":"user-1","client_id":"app","scope":"read write","aud":["api"],"iss":"https://hydra/","exp":4000000000,"ext":{"tenant":"t1"}}"#;

/// An `oauth2_introspection` decision answered from the cache (the endpoint is a fake,
/// asked once while warming up).
fn introspection_decisions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new("");
    let hydra = fake_server(INTROSPECTION);
    let config = serde_json::json!({
        "authenticators": {"oauth2_introspection": {"enabled": true, "config": {
            "introspection_url": format!("{hydra}/oauth2/introspect"),
            "scope_strategy": "exact",
            "required_scope": ["read"],
            "target_audience": ["api"],
            "cache": {"enabled": true, "ttl": "1h"},
        }}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User": "{{ print .Subject }}",
        }}}},
    });
    let config =
        oathkeeper_core::config::parse_config(&config.to_string(), &oathkeeper_core::config::NoEnv)
            .unwrap();
    let rules = serde_json::json!([{
        "id": "api",
        "match": {"url": "https://api.example.com/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "oauth2_introspection"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
    }]);
    let rules = oathkeeper_core::rule::parse_rules(rules.to_string().as_bytes()).unwrap();
    let snap = compile(
        &config,
        &[RuleFile {
            repository: "bench".into(),
            rules,
        }],
        Default::default(),
    );
    let mut p = parts("api.example.com", "/v1/items", "application/json", None);
    p.headers.insert(
        "authorization",
        "Bearer ory_at_0123456789abcdef0123456789abcdef"
            .parse()
            .unwrap(),
    );
    let answer = rt.block_on(decide(&snap, &p, Peer::default(), &Cx::new(&metrics)));
    assert_eq!(answer.0.status(), 200, "{:?}", answer.1);
    let mut group = c.benchmark_group("decision");
    group.bench_with_input(BenchmarkId::new("introspection_cached", 1), &p, |b, p| {
        b.to_async(&rt).iter(|| async {
            black_box(
                decide(&snap, p, Peer::default(), &Cx::new(&metrics))
                    .await
                    .0,
            )
        })
    });
    group.finish();
}

/// A `remote_json` decision: `anonymous`, then a payload rendered and `POST`ed to a local fake
/// that allows (loopback HTTP/1.1, pooled connection), then the header mutator.
fn remote_json_decisions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new("");
    let keto = fake_server("{\"allowed\":true}");
    let config = serde_json::json!({
        "authenticators": {"anonymous": {"enabled": true}},
        "authorizers": {"remote_json": {"enabled": true, "config": {
            "remote": format!("{keto}/relation-tuples/check"),
            "payload": r#"{"namespace":"apps","object":"{{ print .MatchContext.URL.Path }}","relation":"read","subject_id":"{{ print .Subject }}"}"#,
        }}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User": "{{ print .Subject }}",
        }}}},
    });
    let config =
        oathkeeper_core::config::parse_config(&config.to_string(), &oathkeeper_core::config::NoEnv)
            .unwrap();
    let rules = serde_json::json!([{
        "id": "api",
        "match": {"url": "https://api.example.com/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}],
        "authorizer": {"handler": "remote_json"},
        "mutators": [{"handler": "header"}],
    }]);
    let rules = oathkeeper_core::rule::parse_rules(rules.to_string().as_bytes()).unwrap();
    let snap = compile(
        &config,
        &[RuleFile {
            repository: "bench".into(),
            rules,
        }],
        Default::default(),
    );
    let p = parts("api.example.com", "/v1/items", "application/json", None);
    let answer = rt.block_on(decide(&snap, &p, Peer::default(), &Cx::new(&metrics)));
    assert_eq!(answer.0.status(), 200, "{:?}", answer.1);
    let mut group = c.benchmark_group("decision");
    group.bench_with_input(BenchmarkId::new("remote_json_local", 1), &p, |b, p| {
        b.to_async(&rt).iter(|| async {
            black_box(
                decide(&snap, p, Peer::default(), &Cx::new(&metrics))
                    .await
                    .0,
            )
        })
    });
    group.finish();
}

struct Dot(serde_json::Value);

impl Data for Dot {
    fn field(&self, name: &str) -> Value<'_> {
        match name {
            "Subject" => Value::Str("user-1".into()),
            "Extra" => Value::Json(&self.0),
            _ => Value::Missing,
        }
    }
}

fn templates(c: &mut Criterion) {
    let dot = Dot(serde_json::from_str::<serde_json::Value>(SESSION).unwrap());
    let mut out = String::with_capacity(64);
    for (name, source) in [
        ("subject", "{{ print .Subject }}"),
        ("email", "{{ print .Extra.identity.traits.email }}"),
        (
            "printf",
            r#"{{ printf "%s <%s>" .Extra.identity.traits.name .Extra.identity.traits.email }}"#,
        ),
    ] {
        let t = Template::parse(source).unwrap();
        c.bench_function(&format!("template/{name}"), |b| {
            b.iter(|| {
                out.clear();
                t.render(&dot, &mut out).unwrap();
                black_box(out.len())
            })
        });
    }
}

/// An `id_token` rule over `https://app.example.com/<.*>`: `anonymous`, `allow`, and
/// `id_token` signing with `key` (a private JWK, inline) claims that read the path when
/// `per_path`.
fn id_token_snapshot(key: &str, per_path: bool) -> Snapshot {
    use base64::Engine as _;
    let key: serde_json::Value = serde_json::from_str(key).unwrap();
    let jwks = base64::engine::general_purpose::STANDARD
        .encode(serde_json::json!({ "keys": [key] }).to_string());
    let claims = if per_path {
        r#"{"aud": ["app"], "path": "{{ print .MatchContext.URL.Path }}"}"#
    } else {
        r#"{"aud": ["app"], "email": "{{ print .Subject }}@example.com"}"#
    };
    let config = serde_json::json!({
        "authenticators": {"anonymous": {"enabled": true, "config": {"subject": "user-1"}}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"id_token": {"enabled": true, "config": {
            "issuer_url": "https://gateway.example",
            "jwks_url": format!("base64://{jwks}"),
            "claims": claims,
        }}},
    });
    let config =
        oathkeeper_core::config::parse_config(&config.to_string(), &oathkeeper_core::config::NoEnv)
            .unwrap();
    let rules = serde_json::json!([{
        "id": "app",
        "match": {"url": "https://app.example.com/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "id_token"}],
    }]);
    let rules = oathkeeper_core::rule::parse_rules(rules.to_string().as_bytes()).unwrap();
    compile(
        &config,
        &[RuleFile {
            repository: "bench".into(),
            rules,
        }],
        Default::default(),
    )
}

/// `id_token` decisions: the token cached (same subject and claims), and minted for every
/// request (claims that read the path, a new path each time): RS256 (2048-bit) and ES256.
fn id_token_decisions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new("");
    let mut group = c.benchmark_group("decision");
    let keys = [
        ("rs256", include_str!("../tests/it/id_token-rsa.jwk.json")),
        ("es256", include_str!("../tests/it/id_token-ec.jwk.json")),
    ];
    for (alg, key) in keys {
        let cached = id_token_snapshot(key, false);
        let p = parts("app.example.com", "/v1/items", "application/json", None);
        let answer = rt.block_on(decide(&cached, &p, Peer::default(), &Cx::new(&metrics)));
        assert_eq!(answer.0.status(), 200, "{alg}: {:?}", answer.1);
        assert!(answer.0.headers().contains_key("authorization"));
        group.bench_with_input(
            BenchmarkId::new(format!("id_token_{alg}_cached"), 1),
            &p,
            |b, p| {
                b.to_async(&rt).iter(|| async {
                    black_box(
                        decide(&cached, p, Peer::default(), &Cx::new(&metrics))
                            .await
                            .0,
                    )
                })
            },
        );
        let minting = id_token_snapshot(key, true);
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new(format!("id_token_{alg}_mint"), 1), |b| {
            b.iter_batched(
                || {
                    n += 1;
                    parts(
                        "app.example.com",
                        &format!("/v1/items/{n}"),
                        "application/json",
                        None,
                    )
                },
                |p| {
                    rt.block_on(async {
                        black_box(
                            decide(&minting, &p, Peer::default(), &Cx::new(&metrics))
                                .await
                                .0,
                        )
                    })
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    decisions,
    jwt_decisions,
    introspection_decisions,
    id_token_decisions,
    remote_json_decisions,
    templates
);
criterion_main!(benches);
