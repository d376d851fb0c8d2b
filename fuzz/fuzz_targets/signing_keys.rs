//! `id_token` signs with the first private key of a JSON Web Key Set (a JWKS with private
//! keys), read from a file or URL, and `/.well-known/jwks.json` serves the set's public halves.
//! Input: the set's JSON text (`jwks::KeySet::parse`).
//!
//! Properties of a set accepted: no public half holds a private member or a symmetric key; a
//! signing key it yields signs a token whose header names its `alg` (and `kid`) and which an
//! independent library (`jsonwebtoken`) verifies with one of the public halves, the claims
//! intact.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use libfuzzer_sys::fuzz_target;
use oathkeeper::jwks::KeySet;
use serde_json::Value;

const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const CLAIMS: &[u8] = br#"{"sub":"ann","n":1}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(set) = KeySet::parse(data) else {
        return;
    };
    for public in set.public().iter() {
        let jwk = public.as_object().expect("a public half is an object");
        for member in PRIVATE {
            assert!(!jwk.contains_key(member), "{member} served: {public}");
        }
        let kty = jwk.get("kty").and_then(Value::as_str);
        assert!(matches!(kty, Some("RSA" | "EC" | "OKP")), "{public} served");
    }
    let Some(Ok(signer)) = set.signer() else {
        return;
    };
    let token = signer.sign(CLAIMS).expect("an accepted key signs");
    let header = token.split('.').next().expect("a header");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url header"))
            .expect("a JSON header");
    assert_eq!(header["alg"], signer.alg());
    assert_eq!(header.get("kid").and_then(Value::as_str), signer.kid());
    let alg: Algorithm = signer.alg().parse().expect("a JWS algorithm");
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let verified = set.public().iter().any(|public| {
        let Ok(jwk) = serde_json::from_value::<Jwk>(public.clone()) else {
            return false;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            return false;
        };
        jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok_and(|t| {
            assert_eq!(t.claims, serde_json::from_slice::<Value>(CLAIMS).unwrap());
            true
        })
    });
    assert!(
        verified,
        "no public half verifies the {} token",
        signer.alg()
    );
});
