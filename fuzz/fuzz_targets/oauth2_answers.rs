//! The OAuth 2.0 answers the proxy reads from other services: an RFC 7662 introspection answer
//! (`oauth2_introspection`) and a client-credentials token answer (`oauth2_client_credentials`
//! and the introspection's `pre_authorization`). Input: a flags byte, then the answer's body.
//!
//! - Flags bit 7 clear: the body is an introspection endpoint's 200 answer, read and checked
//!   under a config the low bits choose (`OAuth2Introspection::read_answer`): bit 0
//!   `target_audience: [api]`, bit 1 `trusted_issuers: [https://idp/]`, bit 2
//!   `required_scope: [photos.read]` with the strategy from bits 3-4. For an accepted answer,
//!   re-checked here independently on the JSON: `active` is true, `token_use` is absent, null
//!   or `access_token`, a positive `exp` is not past, the audience, issuer and scope (for the
//!   `exact`, `hierarchic` and `wildcard` strategies) hold, the subject is `sub` (else empty),
//!   and the extra is `ext` with `username`, `client_id`, `scope` (and `aud` when not empty)
//!   from the answer.
//! - Flags bit 7 set: the body is a token endpoint's 200 answer
//!   (`oauth2_client_credentials::read_token_answer`). For an accepted one: the token is
//!   `access_token` (else empty), and `expires_in` is given only for a positive number, never
//!   more than it says (nor 10^9 s).
#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use oathkeeper::pipeline::authn::oauth2_client_credentials::read_token_answer;
use oathkeeper::pipeline::authn::oauth2_introspection::OAuth2Introspection;
use oathkeeper_core::handler::oauth2_introspection::Config;
use oathkeeper_core::handler::scope::ScopeStrategy;
use serde_json::Value;

const STRATEGIES: [ScopeStrategy; 4] = [
    ScopeStrategy::None,
    ScopeStrategy::Exact,
    ScopeStrategy::Hierarchic,
    ScopeStrategy::Wildcard,
];

/// One authenticator per config the low five flag bits choose (nothing is ever called).
static AUTHENTICATORS: LazyLock<Vec<OAuth2Introspection>> = LazyLock::new(|| {
    (0u8..32)
        .map(|flags| {
            let mut c = Config::new("http://127.0.0.1:9/introspect");
            if flags & 1 != 0 {
                c.target_audience = Some(vec!["api".into()]);
            }
            if flags & 2 != 0 {
                c.trusted_issuers = Some(vec!["https://idp/".into()]);
            }
            if flags & 4 != 0 {
                c.required_scope = Some(vec!["photos.read".into()]);
            }
            c.scope_strategy = Some(STRATEGIES[usize::from((flags >> 3) & 3)]);
            OAuth2Introspection::compile(&c).expect("the config compiles")
        })
        .collect()
});

/// The scopes that grant `photos.read` under each strategy (fosite's semantics).
fn grants(strategy: ScopeStrategy, scope: &str) -> bool {
    let granting: &[&str] = match strategy {
        ScopeStrategy::None => return true,
        ScopeStrategy::Exact => &["photos.read"],
        ScopeStrategy::Hierarchic => &["photos.read", "photos"],
        ScopeStrategy::Wildcard => &["photos.read", "photos.*", "*.read", "*.*", "*"],
    };
    scope.split(' ').any(|s| granting.contains(&s))
}

fn text<'a>(answer: &'a Value, key: &str) -> &'a str {
    answer.get(key).and_then(Value::as_str).unwrap_or("")
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    if flags & 0x80 != 0 {
        token_answer(body);
        return;
    }
    let Ok((subject, extra)) = AUTHENTICATORS[usize::from(flags & 31)].read_answer(body) else {
        return;
    };
    let Some(answer) = json(body) else {
        return;
    };
    assert_eq!(
        answer.get("active"),
        Some(&Value::Bool(true)),
        "inactive accepted"
    );
    assert!(
        matches!(
            answer.get("token_use"),
            None | Some(Value::Null) | Some(Value::String(_))
        ) && ["", "access_token"].contains(&text(&answer, "token_use")),
        "token_use {:?} accepted",
        answer.get("token_use")
    );
    if let Some(exp) = answer.get("exp").and_then(Value::as_i64).filter(|e| *e > 0) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            exp.unsigned_abs() >= now,
            "expired token accepted: exp {exp}"
        );
    }
    let aud: Vec<&str> = match answer.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().map(|a| a.as_str().expect("aud strings")).collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => panic!("aud {other} accepted"),
    };
    if flags & 1 != 0 {
        assert!(aud.contains(&"api"), "audience not checked: {aud:?}");
    }
    if flags & 2 != 0 {
        assert_eq!(text(&answer, "iss"), "https://idp/", "issuer not checked");
    }
    let scope = text(&answer, "scope");
    if flags & 4 != 0 {
        let strategy = STRATEGIES[usize::from((flags >> 3) & 3)];
        assert!(grants(strategy, scope), "{strategy:?} granted by {scope:?}");
    }
    assert_eq!(subject, text(&answer, "sub"));
    let extra = extra.as_object().expect("the extra is an object");
    for key in ["username", "client_id", "scope"] {
        assert_eq!(
            extra.get(key),
            Some(&Value::from(text(&answer, key))),
            "{key}"
        );
    }
    match extra.get("aud") {
        Some(a) if !aud.is_empty() => assert_eq!(a, &Value::from(aud.clone())),
        None if aud.is_empty() => {}
        other => panic!("extra aud {other:?} for aud {aud:?}"),
    }
    if let Some(ext) = answer.get("ext").and_then(Value::as_object) {
        for (key, value) in ext {
            if !["username", "client_id", "scope", "aud"].contains(&key.as_str()) {
                assert_eq!(extra.get(key), Some(value), "ext {key}");
            }
        }
    }
});

fn token_answer(body: &[u8]) {
    let Some((token, expires_in)) = read_token_answer(body) else {
        return;
    };
    let Some(answer) = json(body) else {
        return;
    };
    assert!(answer.is_object(), "{answer} accepted");
    assert_eq!(token, text(&answer, "access_token"));
    let said = answer.get("expires_in").and_then(Value::as_f64);
    match (expires_in, said) {
        (None, None) => {}
        (None, Some(s)) => assert!(!(s > 0.0), "expires_in {s} dropped"),
        (Some(d), Some(s)) => {
            assert!(s > 0.0, "{s} gave {d:?}");
            assert!(
                d.as_secs_f64() <= s.min(1e9) * (1.0 + 1e-9),
                "{s} gave {d:?}"
            );
        }
        (Some(d), None) => panic!("{d:?} from no expires_in"),
    }
}

/// The answer as JSON, when serde_json reads it whole. Invalid UTF-8 becomes U+FFFD first:
/// serde_json skips a field the reader ignores without checking its bytes (Go's decoder, which
/// replaces them, accepts it too); it also skips an ignored number too large for an `f64`
/// (`1e400`), which `Value` refuses: such an answer is accepted as upstream accepts it, and
/// its properties are not re-checked.
fn json(body: &[u8]) -> Option<Value> {
    serde_json::from_str(&String::from_utf8_lossy(body)).ok()
}
