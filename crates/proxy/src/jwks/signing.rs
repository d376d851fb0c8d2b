//! The private side of a JSON Web Key Set: the key `id_token` signs with, and the public
//! halves `/.well-known/jwks.json` serves.
//!
//! As upstream, the signing key is the first private key of the set (a key with `d`) whose
//! `use` is not `enc`; its `kid` goes into the token's header. The private operation is
//! `ring`'s (RSA PKCS#1 v1.5 and PSS with SHA-256/384/512, ECDSA P-256/P-384, Ed25519): no
//! RustCrypto RSA, whose signing has a timing side channel (RUSTSEC-2023-0071). Keys are built
//! once, when the set is parsed; signing then only hashes and signs.
//!
//! Public halves are copied member by member from a list of public members per key type, so
//! a private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) can never reach the
//! endpoint; symmetric keys (`oct`) are left out, as upstream does.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::rsa::{KeyPairComponents, PublicKeyComponents};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaEncoding, RsaKeyPair};
use serde_json::{Map, Value};

/// Why a private key of the set cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {kid}: {reason}")]
pub struct SigningKeyError {
    /// The key's `kid` (or its position when it has none).
    pub kid: String,
    /// What is wrong.
    pub reason: String,
}

enum Pair {
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A key that signs tokens, with its JOSE header prebuilt.
pub struct SigningKey {
    pair: Pair,
    alg: &'static str,
    kid: Option<String>,
    /// `base64url({"alg":..,"kid":..,"typ":"JWT"})` followed by `.`.
    header: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The JWS algorithm (`RS256`, `ES256`, `EdDSA`...).
    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// The key id put in the token header.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The compact JWS of `claims` (a JSON object's text).
    pub fn sign(&self, claims: &[u8]) -> Result<String, ring::error::Unspecified> {
        let mut token = String::with_capacity(self.header.len() + claims.len() * 4 / 3 + 400);
        token.push_str(&self.header);
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = match &self.pair {
            Pair::Rsa(pair, padding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*padding, &self.rng, token.as_bytes(), &mut out)?;
                out
            }
            Pair::Ecdsa(pair) => pair.sign(&self.rng, token.as_bytes())?.as_ref().to_vec(),
            Pair::Ed25519(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// Whether this JWK holds private parameters (an asymmetric private key).
fn is_private(jwk: &Map<String, Value>) -> bool {
    jwk.contains_key("d") && jwk.get("kty").and_then(Value::as_str) != Some("oct")
}

/// The first private key of `keys` that is not for encryption: `Ok(None)` when the set has
/// none, an error when the first one cannot sign.
pub fn first_signing_key(keys: &[Value]) -> Result<Option<SigningKey>, SigningKeyError> {
    for (i, key) in keys.iter().enumerate() {
        let Some(jwk) = key.as_object() else { continue };
        if !is_private(jwk) || jwk.get("use").and_then(Value::as_str) == Some("enc") {
            continue;
        }
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        return signing_key(jwk, kid.clone())
            .map(Some)
            .map_err(|reason| SigningKeyError {
                kid: kid.unwrap_or_else(|| format!("#{i}")),
                reason,
            });
    }
    Ok(None)
}

fn member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no \"{name}\""))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| format!("\"{name}\" is not base64url"))
}

fn signing_key(jwk: &Map<String, Value>, kid: Option<String>) -> Result<SigningKey, String> {
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    let jwk_alg = jwk.get("alg").and_then(Value::as_str);
    let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
    let rejected = |e: ring::error::KeyRejected| format!("rejected: {e}");
    let (pair, alg): (Pair, &'static str) = match kty {
        "RSA" => {
            let (padding, alg): (&'static dyn RsaEncoding, &'static str) = match jwk_alg {
                None | Some("RS256") => (&signature::RSA_PKCS1_SHA256, "RS256"),
                Some("RS384") => (&signature::RSA_PKCS1_SHA384, "RS384"),
                Some("RS512") => (&signature::RSA_PKCS1_SHA512, "RS512"),
                Some("PS256") => (&signature::RSA_PSS_SHA256, "PS256"),
                Some("PS384") => (&signature::RSA_PSS_SHA384, "PS384"),
                Some("PS512") => (&signature::RSA_PSS_SHA512, "PS512"),
                Some(other) => return Err(format!("alg \"{other}\" cannot sign with an RSA key")),
            };
            let components = KeyPairComponents {
                public_key: PublicKeyComponents {
                    n: member(jwk, "n")?,
                    e: member(jwk, "e")?,
                },
                d: member(jwk, "d")?,
                p: member(jwk, "p")?,
                q: member(jwk, "q")?,
                dP: member(jwk, "dp")?,
                dQ: member(jwk, "dq")?,
                qInv: member(jwk, "qi")?,
            };
            let pair = RsaKeyPair::from_components(&components).map_err(rejected)?;
            (Pair::Rsa(pair, padding), alg)
        }
        "EC" => {
            let (ring_alg, alg) = match crv {
                "P-256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "ES256"),
                "P-384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "ES384"),
                other => return Err(format!("curve \"{other}\" is not supported for signing")),
            };
            if jwk_alg.is_some_and(|a| a != alg) {
                return Err(format!("alg {jwk_alg:?} does not match curve {crv}"));
            }
            let mut public = vec![4u8];
            public.extend(member(jwk, "x")?);
            public.extend(member(jwk, "y")?);
            let pair = EcdsaKeyPair::from_private_key_and_public_key(
                ring_alg,
                &member(jwk, "d")?,
                &public,
                &SystemRandom::new(),
            )
            .map_err(rejected)?;
            (Pair::Ecdsa(pair), alg)
        }
        "OKP" if crv == "Ed25519" => {
            if jwk_alg.is_some_and(|a| a != "EdDSA") {
                return Err(format!("alg {jwk_alg:?} cannot sign with an Ed25519 key"));
            }
            let pair =
                Ed25519KeyPair::from_seed_and_public_key(&member(jwk, "d")?, &member(jwk, "x")?)
                    .map_err(rejected)?;
            (Pair::Ed25519(pair), "EdDSA")
        }
        other => return Err(format!("key type \"{other}\" {crv} cannot sign")),
    };
    let mut header = Map::new();
    header.insert("alg".into(), Value::from(alg));
    if let Some(kid) = &kid {
        header.insert("kid".into(), Value::from(kid.as_str()));
    }
    header.insert("typ".into(), Value::from("JWT"));
    let mut encoded = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    encoded.push('.');
    let key = SigningKey {
        pair,
        alg,
        kid,
        header: encoded,
        rng: SystemRandom::new(),
    };
    // ring checks an RSA key's CRT members only in part when loading it, and checks every
    // signature it makes: a wrong `dq` loads, then no signature ever comes out. Sign once here
    // so that such a key is refused with the set, not on every token.
    key.sign(b"{}")
        .map_err(|_| "cannot sign: its private members do not match".to_owned())?;
    Ok(key)
}

/// Public members by key type; anything else is dropped.
fn public_members(kty: &str) -> Option<&'static [&'static str]> {
    Some(match kty {
        "RSA" => &["kty", "kid", "use", "alg", "key_ops", "n", "e"],
        "EC" => &["kty", "kid", "use", "alg", "key_ops", "crv", "x", "y"],
        "OKP" => &["kty", "kid", "use", "alg", "key_ops", "crv", "x"],
        _ => return None,
    })
}

/// The public half of each asymmetric key of `keys`, in order; symmetric and unknown key
/// types are left out.
pub fn public_keys(keys: &[Value]) -> Vec<Value> {
    keys.iter()
        .filter_map(Value::as_object)
        .filter_map(|jwk| {
            let kty = jwk.get("kty").and_then(Value::as_str)?;
            let members = public_members(kty)?;
            let public: Map<String, Value> = members
                .iter()
                .filter_map(|&m| jwk.get(m).map(|v| (m.to_owned(), v.clone())))
                .collect();
            Some(Value::Object(public))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use serde_json::json;

    use super::*;

    const RSA: &str = include_str!("../../tests/it/id_token-rsa.jwk.json");
    const EC: &str = include_str!("../../tests/it/id_token-ec.jwk.json");
    /// An Ed25519 test key (seed and public key), made with Python's `cryptography`.
    const ED: &str = r#"{"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "d": "rKWYjILscahOUkylY0oJFSY1eZ6Uj5nmAOlIFm6nzvI", "x": "mAZy0w01xL4X0HifvaFYw_XBlWw3O8z1Td4Fu5ngej4"}"#;

    fn key(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn with(text: &str, member: &str, value: &str) -> Value {
        let mut k = key(text);
        k[member] = Value::from(value);
        k
    }

    /// Signs `{"sub":"ann"}` with the first private key of `keys` and verifies it with
    /// `jsonwebtoken` and the public half this module serves.
    fn round_trip(keys: &[Value], alg: Algorithm) {
        let signer = first_signing_key(keys).unwrap().unwrap();
        assert_eq!(signer.alg(), format!("{alg:?}"));
        let token = signer.sign(br#"{"sub":"ann"}"#).unwrap();
        let public = public_keys(keys);
        let jwk: Jwk = serde_json::from_value(public[0].clone()).unwrap();
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .unwrap_or_else(|e| panic!("{alg:?}: {e}"))
        .claims;
        assert_eq!(claims["sub"], "ann");
    }

    #[test]
    fn every_supported_algorithm_signs_what_an_independent_library_verifies() {
        round_trip(&[key(RSA)], Algorithm::RS256);
        for (alg, a) in [
            ("RS384", Algorithm::RS384),
            ("RS512", Algorithm::RS512),
            ("PS256", Algorithm::PS256),
            ("PS384", Algorithm::PS384),
            ("PS512", Algorithm::PS512),
        ] {
            round_trip(&[with(RSA, "alg", alg)], a);
        }
        round_trip(&[key(EC)], Algorithm::ES256);
        round_trip(&[key(ED)], Algorithm::EdDSA);
    }

    #[test]
    fn the_first_private_signing_key_signs() {
        let mut public = key(RSA);
        for m in ["d", "p", "q", "dp", "dq", "qi"] {
            public.as_object_mut().unwrap().remove(m);
        }
        let enc = with(RSA, "use", "enc");
        let secret = json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0"});
        let keys = [public.clone(), enc, secret, key(EC), key(ED)];
        let signer = first_signing_key(&keys).unwrap().unwrap();
        assert_eq!((signer.alg(), signer.kid()), ("ES256", Some("ec-1")));
        assert!(first_signing_key(&[public]).unwrap().is_none());
    }

    #[test]
    fn a_first_private_key_that_cannot_sign_is_an_error_naming_it() {
        let err = |k: Value| first_signing_key(&[k]).unwrap_err().to_string();
        assert!(err(with(RSA, "d", "AQAB")).starts_with("key rsa-1: rejected"));
        assert!(err(with(RSA, "alg", "ES256")).contains("cannot sign with an RSA key"));
        assert!(err(with(EC, "alg", "ES384")).contains("does not match curve P-256"));
        assert!(err(with(EC, "crv", "P-521")).contains("not supported"));
        let mut no_kid = key(EC);
        no_kid.as_object_mut().unwrap().remove("kid");
        assert!(err(with(&no_kid.to_string(), "x", "!!")).starts_with("key #0"));
    }

    /// Found by the `signing_keys` fuzz target: this `dq` (one character changed) loads in
    /// ring, but every signature fails its check.
    #[test]
    fn a_key_whose_private_members_do_not_match_is_refused_when_the_set_loads() {
        let dq = "CSLcvqLp_W6-IEXOXwiOJ5BcEfTRuWXndDbLajmQfiuwLqCiLRSj5Yx-5zNycpckcA7LGV6bff6toyTRpLTm-sOSG7YCkHsUyWYe81hh8veEZWJxpHLB_3L2EnU2MjC4xQHRUMmPegwyJDz1u7xOrNXrCrrN9IScBKLPuH4Ea90";
        assert_ne!(key(RSA)["dq"], dq);
        let err = first_signing_key(&[with(RSA, "dq", dq)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key rsa-1: cannot sign: its private members do not match"
        );
    }

    #[test]
    fn public_halves_never_hold_private_members_nor_secrets() {
        let secret = json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0"});
        let public = public_keys(&[key(RSA), key(EC), key(ED), secret]);
        let kids: Vec<_> = public.iter().map(|k| k["kid"].clone()).collect();
        assert_eq!(kids, ["rsa-1", "ec-1", "ed-1"]);
        for k in &public {
            for m in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(k.get(m).is_none(), "{m} in {k}");
            }
        }
        assert_eq!(public[0]["n"], key(RSA)["n"]);
        assert_eq!(public[1]["y"], key(EC)["y"]);
    }
}
