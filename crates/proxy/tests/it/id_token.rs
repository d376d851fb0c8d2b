//! The `id_token` mutator through the real binary: the token it sets verifies with the public
//! key the server itself serves at `/.well-known/jwks.json`, decoded with `jsonwebtoken`
//! (not the `ring` code path the server signs with). Issue 20 item 3,
//! spec/oathkeeper-workload.md §3.3 "id_token caching".

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oathkeeper::decision::{Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::{Cx, ResponseBody};
use oathkeeper::snapshot::{RuleFile, Severity, compile};
use oathkeeper_core::config::{NoEnv, parse_config};
use oathkeeper_core::rule::parse_rules;
use serde_json::{Value, json};

use crate::support::{Answer, ConfigMapDir, FakeKratos, Reply, Server, eventually};

/// A 2048-bit RSA key with its private members, made with Python's `cryptography` for these
/// tests (and the `id_token` benchmark) only.
const RSA_JWK: &str = include_str!("id_token-rsa.jwk.json");

/// A P-256 key with its private member, made the same way.
const EC_JWK: &str = include_str!("id_token-ec.jwk.json");

/// Members no public key may show.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

const CLAIMS: &str =
    r#"{"aud": ["app"], "email": "{{ print .Subject }}@example.com", "scope": "read"}"#;

fn set(keys: &[&str]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| serde_json::from_str(k).unwrap())
        .collect();
    json!({ "keys": keys }).to_string()
}

/// The rules: `/ann/...` and `/bob/...` anonymous with those subjects, signed with the set at
/// `jwks_url`.
fn rules(jwks_url: &str, ttl: &str) -> String {
    let rule = |id: &str| {
        json!({
            "id": id,
            "match": {"url": format!("http://app.example/{id}/<.*>"), "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous", "config": {"subject": id}}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "id_token", "config": {
                "jwks_url": jwks_url, "ttl": ttl, "claims": CLAIMS,
            }}],
        })
    };
    json!([rule("ann"), rule("bob")]).to_string()
}

const CONFIG: &str = "
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators:
  id_token:
    enabled: true
    config: {issuer_url: https://gateway.example}
access_rules:
  repositories: [__REPOS__]
";

/// A server reading `rules` from a ConfigMap-like volume, with the key sets as files in it.
struct Setup {
    volume: ConfigMapDir,
    _config_dir: tempfile::TempDir,
    server: Server,
}

impl Setup {
    fn start(files: &[(&str, &str)]) -> Setup {
        Setup::start_with(files, CONFIG)
    }

    /// Starts with `config`, where `__REPOS__` becomes the rules file and `__DIR__` the volume.
    fn start_with(files: &[(&str, &str)], config: &str) -> Setup {
        let volume = ConfigMapDir::new(files);
        let config_dir = tempfile::tempdir().unwrap();
        let path = config_dir.path().join("oathkeeper.yaml");
        let repo = format!("file://{}", volume.path("rules.json").display());
        let config = config
            .replace("__REPOS__", &repo)
            .replace("__DIR__", &volume.dir.path().display().to_string());
        std::fs::write(&path, config).unwrap();
        let server = Server::start(&path);
        Setup {
            volume,
            _config_dir: config_dir,
            server,
        }
    }

    fn key_url(&self, name: &str) -> String {
        format!("file://{}", self.volume.path(name).display())
    }

    /// The bearer token of a decision for `path` (asserting the 200).
    fn token(&self, path: &str) -> String {
        let reply = self
            .server
            .get(&format!("/decisions{path}"), &[("Host", "app.example")]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        bearer(&reply)
    }

    fn jwks(&self) -> Value {
        let reply = self.server.get("/.well-known/jwks.json", &[]);
        assert_eq!(reply.status, 200);
        serde_json::from_str(&reply.body).unwrap()
    }
}

fn bearer(reply: &Reply) -> String {
    reply
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("no bearer token in {:?}", reply.headers))
        .to_owned()
}

/// The token's header, decoded.
fn token_header(token: &str) -> Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
}

/// Verifies `token` with the key of its `kid` from `jwks` (jsonwebtoken, independent of the
/// server's signing code), for `alg`, audience `app` and the gateway issuer; its claims.
fn verify(token: &str, jwks: &Value, alg: Algorithm) -> Value {
    let kid = token_header(token)["kid"].as_str().unwrap().to_owned();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"));
    let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let mut validation = Validation::new(alg);
    validation.set_audience(&["app"]);
    validation.set_issuer(&["https://gateway.example"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .unwrap_or_else(|e| panic!("{alg:?} token does not verify: {e}"))
        .claims
}

fn assert_public_only(jwks: &Value) {
    for key in jwks["keys"].as_array().unwrap() {
        for member in PRIVATE_MEMBERS {
            assert!(key.get(*member).is_none(), "{member} served in {key}");
        }
    }
}

fn signs_and_verifies(key: &str, alg: Algorithm, kid: &str) {
    let s = Setup::start(&[("keys.json", &set(&[key])), ("rules.json", "[]")]);
    let mut s = s;
    let url = s.key_url("keys.json");
    s.volume.update(&[
        ("keys.json", &set(&[key])),
        ("rules.json", &rules(&url, "10m")),
    ]);
    assert!(
        eventually(Duration::from_secs(5), || {
            s.server
                .get("/decisions/ann/x", &[("Host", "app.example")])
                .status
                == 200
        }),
        "the id_token rule serves"
    );
    let token = s.token("/ann/x");
    let header = token_header(&token);
    assert_eq!(header["alg"], format!("{alg:?}"));
    assert_eq!(header["kid"], kid);
    let jwks = s.jwks();
    assert_public_only(&jwks);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    let claims = verify(&token, &jwks, alg);
    assert_eq!(claims["sub"], "ann");
    assert_eq!(claims["email"], "ann@example.com");
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["aud"], json!(["app"]));
    assert_eq!(claims["iss"], "https://gateway.example");
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        iat + 600,
        "exp = iat + ttl"
    );
    assert_eq!(claims["nbf"].as_u64().unwrap(), iat);
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 36, "{jti}");
    assert_eq!(&jti[14..15], "4", "a version 4 UUID: {jti}");
}

#[test]
fn an_rs256_token_verifies_with_the_servers_own_jwks_json() {
    signs_and_verifies(RSA_JWK, Algorithm::RS256, "rsa-1");
}

#[test]
fn an_es256_token_verifies_with_the_servers_own_jwks_json() {
    signs_and_verifies(EC_JWK, Algorithm::ES256, "ec-1");
}

#[test]
fn tokens_are_reused_per_subject_until_ninety_percent_of_their_ttl() {
    let mut s = Setup::start(&[("keys.json", &set(&[EC_JWK])), ("rules.json", "[]")]);
    let url = s.key_url("keys.json");
    s.volume.update(&[
        ("keys.json", &set(&[EC_JWK])),
        ("rules.json", &rules(&url, "3s")),
    ]);
    assert!(eventually(Duration::from_secs(5), || {
        s.server
            .get("/decisions/ann/x", &[("Host", "app.example")])
            .status
            == 200
    }));
    let first = s.token("/ann/x");
    assert_eq!(
        s.token("/ann/y"),
        first,
        "same subject and claims: the cached token"
    );
    let bob = s.token("/bob/x");
    assert_ne!(bob, first, "another subject, another token");
    let jwks = s.jwks();
    assert_eq!(verify(&bob, &jwks, Algorithm::ES256)["sub"], "bob");
    // 90% of 3s is 2.7s: by 2.9s the token is signed again.
    std::thread::sleep(Duration::from_millis(2900));
    let renewed = s.token("/ann/x");
    assert_ne!(
        renewed, first,
        "re-signed once less than 10% of the ttl is left"
    );
    assert_eq!(verify(&renewed, &jwks, Algorithm::ES256)["sub"], "ann");
}

#[test]
fn reload_switches_the_signing_keys_and_the_served_set() {
    let mut s = Setup::start(&[
        ("rsa.json", &set(&[RSA_JWK])),
        ("ec.json", &set(&[EC_JWK])),
        ("rules.json", "[]"),
    ]);
    let (rsa, ec) = (s.key_url("rsa.json"), s.key_url("ec.json"));
    let files = |url: &str| {
        [
            ("rsa.json", set(&[RSA_JWK])),
            ("ec.json", set(&[EC_JWK])),
            ("rules.json", rules(url, "10m")),
        ]
    };
    let update = |s: &mut Setup, url: &str| {
        let f = files(url);
        let f: Vec<(&str, &str)> = f.iter().map(|(n, c)| (*n, c.as_str())).collect();
        s.volume.update(&f);
    };
    update(&mut s, &rsa);
    let kids = |s: &Setup| -> Vec<String> {
        s.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(eventually(Duration::from_secs(5), || kids(&s) == ["rsa-1"]));
    assert_eq!(token_header(&s.token("/ann/x"))["kid"], "rsa-1");

    update(&mut s, &ec);
    assert!(
        eventually(Duration::from_secs(5), || kids(&s) == ["ec-1"]),
        "the served set follows the rules: {:?}",
        kids(&s)
    );
    let token = s.token("/ann/x");
    assert_eq!(token_header(&token)["kid"], "ec-1");
    assert_eq!(verify(&token, &s.jwks(), Algorithm::ES256)["sub"], "ann");
}

/// Compiles one `id_token` rule signing with `jwks_url`.
fn load(jwks_url: &str) -> oathkeeper::snapshot::Snapshot {
    let config = json!({
        "authenticators": {"anonymous": {"enabled": true}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"id_token": {"enabled": true, "config": {"issuer_url": "https://gw"}}},
    });
    let config = parse_config(&config.to_string(), &NoEnv).unwrap();
    let files = [RuleFile {
        repository: "test".into(),
        rules: parse_rules(rules(jwks_url, "1m").as_bytes()).unwrap(),
    }];
    compile(&config, &files, Default::default())
}

/// The error diagnostics of [`load`].
fn load_errors(jwks_url: &str) -> Vec<String> {
    load(jwks_url)
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn a_key_set_that_cannot_sign_fails_the_rule_at_load_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // Only the public half: nothing to sign with.
    let public = dir.path().join("public.json");
    let mut rsa: Value = serde_json::from_str(RSA_JWK).unwrap();
    for member in PRIVATE_MEMBERS {
        rsa.as_object_mut().unwrap().remove(*member);
    }
    std::fs::write(&public, json!({"keys": [rsa]}).to_string()).unwrap();
    let url = format!("file://{}", public.display());
    let errors = load_errors(&url);
    assert!(
        errors
            .iter()
            .any(|e| e.contains(&url) && e.contains("no private key")),
        "{errors:?}"
    );

    // A private key whose parts do not match.
    let mut broken: Value = serde_json::from_str(RSA_JWK).unwrap();
    broken["d"] = Value::from("AQAB");
    let inline = format!(
        "base64://{}",
        STANDARD.encode(json!({"keys": [broken]}).to_string())
    );
    let errors = load_errors(&inline);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("base64://") && e.contains("key rsa-1")),
        "{errors:?}"
    );

    let missing = dir.path().join("missing.json");
    let errors = load_errors(&format!("file://{}", missing.display()));
    assert!(
        errors.iter().any(|e| e.contains("missing.json")),
        "{errors:?}"
    );

    // And a usable set compiles.
    let good = dir.path().join("good.json");
    std::fs::write(&good, set(&[EC_JWK])).unwrap();
    assert_eq!(
        load_errors(&format!("file://{}", good.display())),
        Vec::<String>::new()
    );
}

/// A decision for `http://app.example/ann/x` through the library.
async fn ask(snapshot: &oathkeeper::snapshot::Snapshot) -> http::Response<ResponseBody> {
    let metrics = Metrics::new("");
    let (parts, ()) = http::Request::builder()
        .uri("/decisions")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", "app.example")
        .header("X-Forwarded-Uri", "/ann/x")
        .body(())
        .unwrap()
        .into_parts();
    decide(snapshot, &parts, Peer::default(), &Cx::new(&metrics))
        .await
        .0
}

#[tokio::test]
async fn an_http_key_set_signs_once_fetched_and_fails_closed_without_a_private_key() {
    let public_only = {
        let mut ec: Value = serde_json::from_str(EC_JWK).unwrap();
        ec.as_object_mut().unwrap().remove("d");
        json!({ "keys": [ec] }).to_string()
    };
    let idp = FakeKratos::start(move |seen| {
        if seen.path == "/public.json" {
            Answer::ok(public_only.clone())
        } else {
            Answer::ok(set(&[EC_JWK]))
        }
    })
    .await;

    // An http(s) set is fetched in the background: the rule loads, and signs once it has keys.
    let good = load(&format!("{}/private.json", idp.url()));
    let mut status = 0;
    for _ in 0..100 {
        status = ask(&good).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "signs once the set is fetched");
    let answer = ask(&good).await;
    let token = answer.headers()["authorization"].to_str().unwrap();
    assert_eq!(token_header(&token["Bearer ".len()..])["kid"], "ec-1");

    // A set without a private key: every request is refused with 500, never unsigned.
    let bad = load(&format!("{}/public.json", idp.url()));
    for _ in 0..10 {
        let answer = ask(&bad).await;
        assert_eq!(answer.status(), 500);
        assert!(answer.headers().get("authorization").is_none());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(idp.calls() >= 2, "both sets were fetched");
}

#[test]
fn the_global_signing_set_is_served_beside_the_rules_sets() {
    let config = "
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators:
  id_token:
    enabled: true
    config: {issuer_url: https://gateway.example, jwks_url: file://__DIR__/rsa.json}
access_rules:
  repositories: [__REPOS__]
";
    let files = |rules: &str| {
        [
            ("rsa.json", set(&[RSA_JWK])),
            ("ec.json", set(&[EC_JWK])),
            ("rules.json", rules.to_owned()),
        ]
    };
    let f = files("[]");
    let f: Vec<(&str, &str)> = f.iter().map(|(n, c)| (*n, c.as_str())).collect();
    let mut s = Setup::start_with(&f, config);
    let kids = |s: &Setup| -> Vec<String> {
        s.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(5), || kids(&s) == ["rsa-1"]),
        "no rule uses id_token: the global set alone, {:?}",
        kids(&s)
    );
    assert_public_only(&s.jwks());

    // A rule signing with another set adds its keys.
    let ec = s.key_url("ec.json");
    let f = files(&rules(&ec, "1m"));
    let f: Vec<(&str, &str)> = f.iter().map(|(n, c)| (*n, c.as_str())).collect();
    s.volume.update(&f);
    assert!(
        eventually(Duration::from_secs(5), || kids(&s) == ["rsa-1", "ec-1"]),
        "{:?}",
        kids(&s)
    );
    let token = s.token("/ann/x");
    assert_eq!(verify(&token, &s.jwks(), Algorithm::ES256)["sub"], "ann");
}
