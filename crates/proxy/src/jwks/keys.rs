//! A JSON Web Key Set parsed once into verifying keys, by key id.
//!
//! As upstream, a key is found by `kid` among the keys whose `use` is `sig`; the first key
//! with a kid wins. Keys that cannot verify (encryption keys, unknown key types, P-521 curves,
//! keys without a kid, malformed key material) are skipped, not fatal: one odd key does not
//! take the whole set down. Only public parts are read: a private key in the set verifies
//! with its public half. A set is bounded: [`MAX_KEYS`] keys, and its text by the caller.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use super::signing::{SigningKey, SigningKeyError, first_signing_key, public_keys};

/// Most keys a set may hold.
pub const MAX_KEYS: usize = 100;

/// Why a text is not a key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an object with a `keys` array.
    #[error("not a JSON Web Key Set: {0}")]
    NotASet(String),
    /// More keys than [`MAX_KEYS`].
    #[error("{0} keys, more than the {MAX_KEYS} accepted")]
    TooManyKeys(usize),
}

/// Why a key does not verify a token with a given algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// The key's type is not the algorithm's (an RSA key for `ES256`, a public key for `HS256`).
    #[error("the signing key's type does not match the token's algorithm")]
    Family,
    /// The key names another algorithm in its `alg`.
    #[error("the signing key is for another algorithm")]
    Algorithm,
    /// The key's curve is not the algorithm's (`P-384` for `ES256`).
    #[error("the signing key's curve does not match the token's algorithm")]
    Curve,
}

/// One verifying key.
pub struct VerifyingKey {
    key: DecodingKey,
    family: AlgorithmFamily,
    curve: Option<EllipticCurve>,
    alg: Option<Algorithm>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("family", &self.family)
            .field("curve", &self.curve)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The key to verify a token signed with `alg`, if this key may: same family (so never a
    /// public key for HMAC, never a shared secret for a public-key algorithm), the key's own
    /// `alg` when it names one, and the curve the algorithm is defined on.
    pub fn for_algorithm(&self, alg: Algorithm) -> Result<&DecodingKey, Mismatch> {
        if alg.family() != self.family {
            return Err(Mismatch::Family);
        }
        if self.alg.is_some_and(|own| own != alg) {
            return Err(Mismatch::Algorithm);
        }
        let curve = match alg {
            Algorithm::ES256 => Some(EllipticCurve::P256),
            Algorithm::ES384 => Some(EllipticCurve::P384),
            Algorithm::EdDSA => Some(EllipticCurve::Ed25519),
            _ => None,
        };
        if curve.is_some() && curve != self.curve {
            return Err(Mismatch::Curve);
        }
        Ok(&self.key)
    }
}

/// A parsed key set.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: HashMap<Box<str>, Arc<VerifyingKey>>,
    skipped: usize,
    /// The first private key, when the set has one (`id_token`), or why it cannot sign.
    signer: Option<Result<Arc<SigningKey>, SigningKeyError>>,
    /// The public half of every asymmetric key, in order (`/.well-known/jwks.json`).
    public: Arc<[Value]>,
}

/// The set as text gives it: the caller bounds the text, so the keys are bounded too.
#[derive(Deserialize)]
struct RawSet {
    keys: Vec<Value>,
}

impl KeySet {
    /// Parses a key set's JSON text.
    pub fn parse(text: &[u8]) -> Result<KeySet, ParseError> {
        let raw: RawSet =
            serde_json::from_slice(text).map_err(|e| ParseError::NotASet(e.to_string()))?;
        if raw.keys.len() > MAX_KEYS {
            return Err(ParseError::TooManyKeys(raw.keys.len()));
        }
        let mut set = KeySet {
            signer: first_signing_key(&raw.keys)
                .transpose()
                .map(|r| r.map(Arc::new)),
            public: public_keys(&raw.keys).into(),
            ..KeySet::default()
        };
        for key in raw.keys {
            match Jwk::deserialize(&key)
                .ok()
                .and_then(|jwk| verifying_key(&jwk))
            {
                Some((kid, key)) => {
                    set.keys.entry(kid).or_insert_with(|| Arc::new(key));
                }
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// The key with id `kid`.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.get(kid)
    }

    /// How many keys can verify.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key can verify.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key that signs (`id_token`): the first private key of the set. `None` when the
    /// set has no private key; an error when that key cannot sign.
    pub fn signer(&self) -> Option<&Result<Arc<SigningKey>, SigningKeyError>> {
        self.signer.as_ref()
    }

    /// The public half of every asymmetric key of the set, never a private member.
    pub fn public(&self) -> &Arc<[Value]> {
        &self.public
    }

    /// How many keys of the set were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// The kid and verifying key of a usable signing key.
fn verifying_key(jwk: &Jwk) -> Option<(Box<str>, VerifyingKey)> {
    if jwk.common.public_key_use != Some(PublicKeyUse::Signature) {
        return None;
    }
    let kid = jwk.common.key_id.as_deref().filter(|k| !k.is_empty())?;
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(a) => Some(signing_algorithm(a)?),
    };
    let (family, curve) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (AlgorithmFamily::Rsa, None),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 | EllipticCurve::P384 => {
                (AlgorithmFamily::Ec, Some(p.curve.clone()))
            }
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            (AlgorithmFamily::Ed, Some(EllipticCurve::Ed25519))
        }
        AlgorithmParameters::OctetKey(_) => (AlgorithmFamily::Hmac, None),
        _ => return None,
    };
    if alg.is_some_and(|a| a.family() != family) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((
        kid.into(),
        VerifyingKey {
            key,
            family,
            curve,
            alg,
        },
    ))
}

/// The signing algorithm a key's `alg` names (none for encryption algorithms).
fn signing_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
