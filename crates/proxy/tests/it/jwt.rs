//! The `jwt` authenticator against a fake JSON Web Key Set server that counts fetches
//! (spec/oathkeeper-workload.md §3.1 "jwt details", "JWKS fetching"; issue 20), through the
//! library's decision function. Tokens are signed here with `ring` directly, independently of
//! the `jsonwebtoken` crate the server verifies with.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Request, Response};
use oathkeeper::decision::{Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::{Cx, ResponseBody};
use oathkeeper::snapshot::Snapshot;
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};

use crate::support::{self, Answer, FakeKratos};

/// A 2048-bit RSA test key (PKCS#8), made with `openssl genpkey` for these tests (and the
/// `jwt` benchmark) only.
const RSA_PKCS8: &str = include_str!("jwt-rsa.pem");

/// Another one: it signs tokens the set's key does not verify.
const RSA_OTHER_PKCS8: &str = include_str!("jwt-rsa-other.pem");

/// A test signing key: its private half signs with `ring`, its public half is a JWK.
enum Key {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
    Ed(signature::Ed25519KeyPair),
}

impl Key {
    fn rsa() -> Key {
        Key::rsa_from(RSA_PKCS8)
    }

    fn rsa_other() -> Key {
        Key::rsa_from(RSA_OTHER_PKCS8)
    }

    fn rsa_from(pem: &str) -> Key {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        Key::Rsa(signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap())
    }

    fn ec() -> Key {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Key::Ec(signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap())
    }

    fn ed() -> Key {
        let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Key::Ed(signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    /// The public JWK, `use: sig`, with id `kid`.
    fn jwk(&self, kid: &str) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            Key::Rsa(k) => {
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = k.public().into();
                json!({"kty": "RSA", "use": "sig", "kid": kid, "n": b64(&c.n), "e": b64(&c.e)})
            }
            Key::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({"kty": "EC", "use": "sig", "kid": kid, "crv": "P-256",
                       "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Key::Ed(k) => {
                json!({"kty": "OKP", "use": "sig", "kid": kid, "crv": "Ed25519",
                       "x": b64(k.public_key().as_ref())})
            }
        }
    }

    /// A compact JWS of `claims` with header `{alg, kid}` (and `typ`).
    fn sign(&self, alg: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let signature = match (self, alg) {
            (Key::Rsa(k), "RS256" | "PS256") => {
                let padding: &dyn signature::RsaEncoding = if alg == "RS256" {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PSS_SHA256
                };
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(padding, &rng, message.as_bytes(), &mut sig).unwrap();
                sig
            }
            (Key::Ec(k), _) => k.sign(&rng, message.as_bytes()).unwrap().as_ref().to_vec(),
            (Key::Ed(k), _) => k.sign(message.as_bytes()).as_ref().to_vec(),
            (Key::Rsa(_), other) => panic!("no RSA signing for {other}"),
        };
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims for subject `sub`, valid for an hour.
fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iat": now() - 10, "exp": now() + 3600, "email": "ann@example.com"})
}

/// A fake key-set server whose set can be swapped, counting fetches.
struct FakeJwks {
    server: FakeKratos,
    body: Arc<ArcSwap<Answer>>,
}

impl FakeJwks {
    async fn start(answer: Answer) -> FakeJwks {
        let body = Arc::new(ArcSwap::from_pointee(answer));
        let b = Arc::clone(&body);
        let server = FakeKratos::start(move |_| {
            let a = b.load();
            Answer {
                status: a.status,
                headers: Vec::new(),
                body: a.body.clone(),
                delay: a.delay,
            }
        })
        .await;
        FakeJwks { server, body }
    }

    async fn serving(keys: &[Value]) -> FakeJwks {
        FakeJwks::start(Answer::ok(jwks(keys))).await
    }

    fn set(&self, keys: &[Value]) {
        self.body.store(Arc::new(Answer::ok(jwks(keys))));
    }

    fn url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.server.url())
    }

    fn fetches(&self) -> usize {
        self.server.calls()
    }
}

/// A snapshot with `jwt` enabled globally with `global` (a JSON object), and one rule over
/// `https://example.com<.*>` authenticating with `authenticators` (JSON), then `allow` and a
/// header mutator setting `X-User` from the subject and `X-Email` from the claims.
fn snapshot(global: &Value, authenticators: &Value) -> Snapshot {
    let config = json!({
        "authenticators": {
            "jwt": {"enabled": true, "config": global},
            "noop": {"enabled": true},
        },
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User": "{{ print .Subject }}",
            "X-Email": "{{ print .Extra.email }}",
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

/// `jwt` alone, its config from the global block.
fn jwt_only() -> Value {
    json!([{"handler": "jwt"}])
}

async fn ask(snapshot: &Snapshot, path: &str, headers: &[(&str, &str)]) -> Response<ResponseBody> {
    let metrics = Metrics::new("");
    let mut request = Request::builder()
        .uri(path)
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "example.com")
        .header("X-Forwarded-Uri", "/api");
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    decide(snapshot, &parts, Peer::default(), &Cx::new(&metrics))
        .await
        .0
}

async fn ask_bearer(snapshot: &Snapshot, token: &str) -> Response<ResponseBody> {
    let bearer = format!("Bearer {token}");
    ask(snapshot, "/decisions", &[("Authorization", &bearer)]).await
}

fn header<'r>(r: &'r Response<ResponseBody>, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_valid_token_is_a_200_with_the_subject_and_claims_as_headers() {
    let key = Key::rsa();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let s = snapshot(&json!({"jwks_urls": [idp.url()]}), &jwt_only());
    let r = ask_bearer(&s, &key.sign("RS256", Some("k1"), &claims("user-1"))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-user"), Some("user-1"));
    assert_eq!(header(&r, "x-email"), Some("ann@example.com"));
    let again = ask_bearer(&s, &key.sign("RS256", Some("k1"), &claims("user-2"))).await;
    assert_eq!(header(&again, "x-user"), Some("user-2"));
    assert_eq!(idp.fetches(), 1, "the key set is cached");
}

#[tokio::test]
async fn each_supported_family_verifies_when_allowed() {
    let (rsa, ec, ed) = (Key::rsa(), Key::ec(), Key::ed());
    let idp = FakeJwks::serving(&[rsa.jwk("rsa"), ec.jwk("ec"), ed.jwk("ed")]).await;
    let all = json!(["RS256", "PS256", "ES256", "EdDSA"]);
    let s = snapshot(
        &json!({"jwks_urls": [idp.url()], "allowed_algorithms": all}),
        &jwt_only(),
    );
    for token in [
        rsa.sign("RS256", Some("rsa"), &claims("rs")),
        rsa.sign("PS256", Some("rsa"), &claims("ps")),
        ec.sign("ES256", Some("ec"), &claims("es")),
        ed.sign("EdDSA", Some("ed"), &claims("ed")),
    ] {
        let r = ask_bearer(&s, &token).await;
        assert_eq!(r.status(), 200, "{token}");
    }
    // The default allows RS256 only.
    let default = snapshot(&json!({"jwks_urls": [idp.url()]}), &jwt_only());
    assert_eq!(
        ask_bearer(&default, &ec.sign("ES256", Some("ec"), &claims("es")))
            .await
            .status(),
        401
    );
    // A key is used only for its own type: an EC token naming the RSA key's kid.
    assert_eq!(
        ask_bearer(&s, &ec.sign("ES256", Some("rsa"), &claims("x")))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn forged_tokens_are_401() {
    let key = Key::rsa();
    let other = Key::rsa_other();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let hs = json!(["RS256", "HS256"]);
    let s = snapshot(
        &json!({"jwks_urls": [idp.url()], "allowed_algorithms": hs}),
        &jwt_only(),
    );
    let good = key.sign("RS256", Some("k1"), &claims("u"));
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let tampered = format!(
        "{head}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(claims("admin").to_string())
    );
    // HS256 keyed with the RSA public key's JWK text: the classic algorithm confusion.
    let public = key.jwk("k1").to_string();
    let hs_token = {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": "k1"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims("admin").to_string())
        );
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public.as_bytes()),
            message.as_bytes(),
        );
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
    };
    let none_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "k1"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims("admin").to_string())
    );
    for token in [
        tampered,
        hs_token,
        none_token,
        other.sign("RS256", Some("k1"), &claims("admin")),
        key.sign("RS256", None, &claims("no-kid")),
        "a.b.c".to_owned(),
    ] {
        let r = ask_bearer(&s, &token).await;
        assert_eq!(r.status(), 401, "{token}");
        assert_eq!(header(&r, "x-user"), None);
    }
}

#[tokio::test]
async fn expired_not_yet_valid_and_future_issued_tokens_are_401() {
    let key = Key::rsa();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let s = snapshot(&json!({"jwks_urls": [idp.url()]}), &jwt_only());
    let t = now();
    for (what, claims) in [
        ("expired", json!({"sub": "u", "exp": t - 5})),
        (
            "not yet valid",
            json!({"sub": "u", "nbf": t + 60, "exp": t + 3600}),
        ),
        (
            "issued in the future",
            json!({"sub": "u", "iat": t + 60, "exp": t + 3600}),
        ),
        ("exp not a number", json!({"sub": "u", "exp": "tomorrow"})),
    ] {
        let r = ask_bearer(&s, &key.sign("RS256", Some("k1"), &claims)).await;
        assert_eq!(r.status(), 401, "{what}");
    }
    // Without exp a token does not expire, as upstream.
    let r = ask_bearer(&s, &key.sign("RS256", Some("k1"), &json!({"sub": "u"}))).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn audience_issuer_and_scope_are_checked() {
    let key = Key::rsa();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let config = |extra: Value| {
        let mut c = json!({"jwks_urls": [idp.url()]});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        snapshot(&c, &jwt_only())
    };
    let token = |extra: Value| {
        let mut c = claims("u");
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        key.sign("RS256", Some("k1"), &c)
    };
    let cases = [
        // (config, claims, status)
        (
            json!({"target_audience": ["api", "web"]}),
            json!({"aud": ["web", "api", "x"]}),
            200,
        ),
        (
            json!({"target_audience": ["api", "web"]}),
            json!({"aud": ["api"]}),
            401,
        ),
        (
            json!({"target_audience": ["api"]}),
            json!({"aud": "api"}),
            200,
        ),
        (json!({"target_audience": ["api"]}), json!({}), 401),
        (
            json!({"trusted_issuers": ["https://a/", "https://b/"]}),
            json!({"iss": "https://b/"}),
            200,
        ),
        (
            json!({"trusted_issuers": ["https://a/"]}),
            json!({"iss": "https://evil/"}),
            401,
        ),
        (json!({"trusted_issuers": ["https://a/"]}), json!({}), 401),
        (
            json!({"required_scope": ["photos.read"], "scope_strategy": "exact"}),
            json!({"scp": ["photos.read"]}),
            200,
        ),
        (
            json!({"required_scope": ["photos.read"], "scope_strategy": "exact"}),
            json!({"scope": "photos"}),
            401,
        ),
        (
            json!({"required_scope": ["photos.read"], "scope_strategy": "hierarchic"}),
            json!({"scope": "openid photos"}),
            200,
        ),
        (
            json!({"required_scope": ["photos.read"], "scope_strategy": "hierarchic"}),
            json!({"scopes": ["photos.write"]}),
            401,
        ),
        (
            json!({"required_scope": ["photos.read"], "scope_strategy": "wildcard"}),
            json!({"scp": ["photos.*"]}),
            200,
        ),
        (
            json!({"required_scope": ["photos"], "scope_strategy": "wildcard"}),
            json!({"scp": ["photos.*"]}),
            401,
        ),
        (
            json!({"required_scope": ["a", "b"], "scope_strategy": "exact"}),
            json!({"scp": ["a"]}),
            401,
        ),
        // Upstream refuses a required scope when the strategy is none.
        (json!({"required_scope": ["a"]}), json!({"scp": ["a"]}), 401),
        (json!({"scope_strategy": "exact"}), json!({}), 200),
    ];
    for (cfg, extra, status) in cases {
        let s = config(cfg.clone());
        let r = ask_bearer(&s, &token(extra.clone())).await;
        assert_eq!(r.status(), status, "{cfg} {extra}");
    }
}

#[tokio::test]
async fn the_rule_config_merges_over_the_global_one() {
    let key = Key::rsa();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let s = snapshot(
        &json!({"jwks_urls": [idp.url()], "target_audience": ["global"]}),
        &json!([{"handler": "jwt", "config": {"target_audience": ["rule"]}}]),
    );
    let with = |aud: &str| {
        let mut c = claims("u");
        c["aud"] = json!(aud);
        key.sign("RS256", Some("k1"), &c)
    };
    assert_eq!(ask_bearer(&s, &with("rule")).await.status(), 200);
    assert_eq!(ask_bearer(&s, &with("global")).await.status(), 401);
}

#[tokio::test]
async fn tokens_are_found_where_token_from_says() {
    let key = Key::rsa();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let token = key.sign("RS256", Some("k1"), &claims("u"));
    let bearer = format!("Bearer {token}");
    let cookie = format!("theme=dark; jwt={token}");
    let query = format!("/decisions?access_token={token}");
    type Case<'a> = (Value, &'a str, Vec<(&'a str, &'a str)>);
    let cases: [Case<'_>; 3] = [
        (
            json!({"header": "X-Token"}),
            "/decisions",
            vec![("X-Token", token.as_str())],
        ),
        (
            json!({"query_parameter": "access_token"}),
            query.as_str(),
            vec![],
        ),
        (
            json!({"cookie": "jwt"}),
            "/decisions",
            vec![("Cookie", cookie.as_str())],
        ),
    ];
    for (from, path, headers) in cases {
        let s = snapshot(
            &json!({"jwks_urls": [idp.url()], "token_from": from}),
            &json!([{"handler": "jwt"}, {"handler": "noop"}]),
        );
        let r = ask(&s, path, &headers).await;
        assert_eq!(header(&r, "x-user"), Some("u"), "{from}");
        // The bearer header is not where this config looks: jwt is not responsible, noop is.
        let r = ask(&s, "/decisions", &[("Authorization", bearer.as_str())]).await;
        assert_eq!(r.status(), 200, "{from}");
        assert_eq!(header(&r, "x-user"), Some(""), "{from}");
    }
}

#[tokio::test]
async fn opaque_or_missing_tokens_are_left_to_the_next_authenticator() {
    let key = Key::rsa();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let s = snapshot(
        &json!({"jwks_urls": [idp.url()]}),
        &json!([{"handler": "jwt"}, {"handler": "noop"}]),
    );
    for headers in [
        vec![],
        vec![("Authorization", "Bearer opaque-token")],
        vec![("Authorization", "Bearer a.b")],
        vec![("Authorization", "Basic dTpw")],
    ] {
        let r = ask(&s, "/decisions", &headers).await;
        assert_eq!(r.status(), 200, "{headers:?}");
        assert_eq!(header(&r, "x-user"), Some(""), "{headers:?}");
    }
    let alone = snapshot(&json!({"jwks_urls": [idp.url()]}), &jwt_only());
    let r = ask(&alone, "/decisions", &[("Authorization", "Bearer opaque")]).await;
    assert_eq!(r.status(), 401, "no authenticator was responsible");
}

#[tokio::test]
async fn a_new_kid_refetches_the_set_once_and_made_up_kids_are_rate_limited() {
    let key = Key::rsa();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let s = snapshot(&json!({"jwks_urls": [idp.url()]}), &jwt_only());
    assert_eq!(
        ask_bearer(&s, &key.sign("RS256", Some("k1"), &claims("u")))
            .await
            .status(),
        200
    );
    assert_eq!(idp.fetches(), 1);
    // Rotation: the provider publishes k2 and signs with it.
    idp.set(&[key.jwk("k1"), key.jwk("k2")]);
    let rotated = key.sign("RS256", Some("k2"), &claims("u2"));
    let answers = futures::future::join_all((0..10).map(|_| ask_bearer(&s, &rotated))).await;
    assert!(answers.iter().all(|r| r.status() == 200));
    assert_eq!(
        idp.fetches(),
        2,
        "ten requests with the new kid, one refetch"
    );
    // Made-up kids within the window: no more fetches.
    for i in 0..5 {
        let r = ask_bearer(
            &s,
            &key.sign("RS256", Some(&format!("bogus-{i}")), &claims("x")),
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    assert_eq!(idp.fetches(), 2, "unknown kids are rate-limited");
    assert_eq!(ask_bearer(&s, &rotated).await.status(), 200);
}

#[tokio::test]
async fn an_unreachable_or_hanging_key_set_fails_closed_within_max_wait() {
    let key = Key::rsa();
    let token = key.sign("RS256", Some("k1"), &claims("u"));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks", l.local_addr().unwrap());
        drop(l);
        url
    };
    let hanging = FakeJwks::start(Answer {
        delay: Duration::from_secs(30),
        ..Answer::ok(jwks(&[key.jwk("k1")]))
    })
    .await;
    let failing = FakeJwks::start(Answer::status(500)).await;
    for url in [closed, hanging.url(), failing.url()] {
        let s = snapshot(
            &json!({"jwks_urls": [url], "jwks_max_wait": "300ms"}),
            &jwt_only(),
        );
        let started = Instant::now();
        let r = ask_bearer(&s, &token).await;
        assert_eq!(r.status(), 401, "{url}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{url}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn file_and_base64_key_sets_verify() {
    let key = Key::ec();
    let set = jwks(&[key.jwk("k1")]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, &set).unwrap();
    let token = key.sign("ES256", Some("k1"), &claims("u"));
    for url in [
        format!("file://{}", path.display()),
        path.display().to_string(),
        format!("base64://{}", STANDARD.encode(&set)),
    ] {
        let s = snapshot(
            &json!({"jwks_urls": [url], "allowed_algorithms": ["ES256"]}),
            &jwt_only(),
        );
        let r = ask_bearer(&s, &token).await;
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(header(&r, "x-user"), Some("u"));
    }
}

#[tokio::test]
async fn a_verified_token_is_kept_only_while_its_key_and_exp_hold() {
    let key = Key::rsa();
    let idp = FakeJwks::serving(&[key.jwk("k1")]).await;
    let s = snapshot(
        &json!({"jwks_urls": [idp.url()], "jwks_ttl": "1s"}),
        &jwt_only(),
    );
    // A token expiring within two seconds: accepted, then refused once past its exp even
    // though it was accepted (and kept) before.
    let short = key.sign("RS256", Some("k1"), &json!({"sub": "u", "exp": now() + 2}));
    assert_eq!(ask_bearer(&s, &short).await.status(), 200);
    let long = key.sign("RS256", Some("k1"), &claims("u"));
    assert_eq!(ask_bearer(&s, &long).await.status(), 200);
    assert_eq!(ask_bearer(&s, &long).await.status(), 200);
    // The provider drops k1. Once the stale set is refreshed, the kept token is refused.
    idp.set(&[key.jwk("k2")]);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(ask_bearer(&s, &short).await.status(), 401, "past its exp");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut status = 200;
    while status == 200 && Instant::now() < deadline {
        status = ask_bearer(&s, &long).await.status().as_u16();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status, 401,
        "a token whose key left the set is verified again, and refused"
    );
}

/// The real binary: `jwt` enabled in the file, its key set from the environment as upstream
/// names the variable, a rule from a file; a token it verifies is a 200 with `X-User`.
#[test]
fn the_server_verifies_tokens_with_keys_from_the_environment() {
    let key = Key::ec();
    let dir = tempfile::tempdir().unwrap();
    let rules = json!([{
        "id": "api",
        "match": {"url": "http://api.example.com/<.*>", "methods": ["GET"]},
        "authenticators": [{"handler": "jwt"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
    }]);
    std::fs::write(dir.path().join("rules.json"), rules.to_string()).unwrap();
    let config = format!(
        "access_rules: {{repositories: ['file://{}']}}\n\
         authenticators: {{jwt: {{enabled: true, config: {{allowed_algorithms: [ES256]}}}}}}\n\
         authorizers: {{allow: {{enabled: true}}}}\n\
         mutators: {{header: {{enabled: true, config: {{headers: {{X-User: '{{{{ print .Subject }}}}'}}}}}}}}\n",
        dir.path().join("rules.json").display()
    );
    let config_path = dir.path().join("oathkeeper.yaml");
    std::fs::write(&config_path, config).unwrap();
    let jwks_url = format!("base64://{}", STANDARD.encode(jwks(&[key.jwk("k1")])));
    let server = crate::support::Server::start_with_env(
        Some(&config_path),
        &[("AUTHENTICATORS_JWT_CONFIG_JWKS_URLS", jwks_url.as_str())],
    );
    let token = key.sign("ES256", Some("k1"), &claims("env-user"));
    let bearer = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reply = server.decide(
        "http://api.example.com/items",
        &[("Authorization", &bearer)],
    );
    while reply.status == 404 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        reply = server.decide(
            "http://api.example.com/items",
            &[("Authorization", &bearer)],
        );
    }
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-user"), Some("env-user"));
    let forged = format!(
        "Bearer {}",
        Key::ec().sign("ES256", Some("k1"), &claims("x"))
    );
    let reply = server.decide(
        "http://api.example.com/items",
        &[("Authorization", &forged)],
    );
    assert_eq!(reply.status, 401);
}
