//! The `jwt` authenticator reads two untrusted texts: the token a client sends and the key set
//! an identity provider serves. Input: a flags byte, then two newline-separated parts.
//!
//! - Flags bit 7 clear: the parts are a token and a key set (JSON). The set is parsed
//!   (`jwks::KeySet::parse`), the token's header read and, when the set has its kid, the token
//!   verified. Nothing may panic; a token accepted must name an allowed algorithm whose family
//!   is its key's.
//! - Flags bit 7 set: the parts are a header and a claims JSON object, which the target
//!   encodes and signs with HS256 under a fixed key (kid `k`) of a fixed set, so the fuzzer
//!   reaches the claim checks behind a valid signature. For an accepted token: `scp` is a list
//!   of strings, the subject is `sub` when it is a string (else empty), a numeric `exp` is not
//!   past and `nbf`/`iat` are not in the future, and every configured audience, issuer and
//!   scope check holds (re-checked here independently).
//!
//! The low bits choose the config: bit 0 `target_audience: [api]`, bit 1 `trusted_issuers:
//! [https://idp/]`, bit 2 `required_scope: [photos.read]` with the strategy from bits 3-4.
#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use oathkeeper::jwks::KeySet;
use oathkeeper::pipeline::authn::jwt::Verifier;
use oathkeeper_core::handler::jwt::{Config, SUPPORTED_ALGORITHMS};
use oathkeeper_core::handler::scope::ScopeStrategy;
use serde_json::Value;

const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-32";

/// The fixed set of the signed mode: one HS256 key, kid `k`.
static SIGNED_SET: LazyLock<KeySet> = LazyLock::new(|| {
    let set = serde_json::json!({"keys": [{
        "kty": "oct", "use": "sig", "kid": "k", "alg": "HS256",
        "k": URL_SAFE_NO_PAD.encode(SECRET),
    }]});
    KeySet::parse(set.to_string().as_bytes()).unwrap()
});

fn config(flags: u8) -> Config {
    let mut c = Config::new(["base64://e30"]);
    c.allowed_algorithms = Some(SUPPORTED_ALGORITHMS.iter().map(|a| a.to_string()).collect());
    if flags & 1 != 0 {
        c.target_audience = Some(vec!["api".into()]);
    }
    if flags & 2 != 0 {
        c.trusted_issuers = Some(vec!["https://idp/".into()]);
    }
    if flags & 4 != 0 {
        c.required_scope = Some(vec!["photos.read".into()]);
    }
    c.scope_strategy = Some(
        [
            ScopeStrategy::None,
            ScopeStrategy::Exact,
            ScopeStrategy::Hierarchic,
            ScopeStrategy::Wildcard,
        ][usize::from((flags >> 3) & 3)],
    );
    c
}

fn hs256(message: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, message.as_bytes()).as_ref())
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(verifier) = Verifier::compile(&config(flags)) else {
        return;
    };
    let now = SystemTime::now();
    if flags & 0x80 == 0 {
        let Ok(set) = KeySet::parse(second.as_bytes()) else {
            return;
        };
        assert!(set.len() <= oathkeeper::jwks::keys::MAX_KEYS);
        let Ok(header) = verifier.header(first) else {
            return;
        };
        let Some(key) = set.get(&header.kid) else {
            return;
        };
        if verifier.verify(first, &header, key, now).is_ok() {
            assert!(key.for_algorithm(header.alg).is_ok());
        }
        return;
    }
    let token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(first),
        URL_SAFE_NO_PAD.encode(second)
    );
    let token = format!("{token}.{}", hs256(&token));
    let Ok(header) = verifier.header(&token) else {
        return;
    };
    let Some(key) = SIGNED_SET.get(&header.kid) else {
        return;
    };
    let Ok(verified) = verifier.verify(&token, &header, key, now) else {
        return;
    };
    let claims: Value = serde_json::from_str(second).expect("accepted claims are JSON");
    let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    if let Some(exp) = claims.get("exp").and_then(Value::as_f64) {
        assert!(exp.round() >= secs.floor(), "expired token accepted: {second}");
    }
    for key in ["nbf", "iat"] {
        if let Some(t) = claims.get(key).and_then(Value::as_f64) {
            assert!(t <= secs.ceil() + 1.0, "{key} in the future accepted: {second}");
        }
    }
    let scp = verified.claims.get("scp").and_then(Value::as_array).expect("scp is a list");
    assert!(scp.iter().all(Value::is_string));
    match claims.get("sub") {
        Some(Value::String(s)) => assert_eq!(&verified.subject, s),
        _ => assert!(verified.subject.is_empty()),
    }
    if flags & 1 != 0 {
        assert!(strings(claims.get("aud")).contains(&"api"));
    }
    if flags & 2 != 0 {
        assert_eq!(claims.get("iss").and_then(Value::as_str), Some("https://idp/"));
    }
    if flags & 4 != 0 {
        assert_ne!((flags >> 3) & 3, 0, "strategy none refuses a required scope");
        assert!(!scp.is_empty(), "a required scope needs granted scopes");
    }
});
