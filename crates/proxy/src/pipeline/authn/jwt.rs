//! `jwt`: verifies a JSON Web Token with keys from JSON Web Key Sets ([`crate::jwks`]).
//!
//! Responsible when a token is found (`token_from`, default `Authorization: Bearer`) and it
//! has exactly three dot-separated parts; an opaque token is not its business, so
//! `oauth2_introspection` may follow. Then, as upstream (`credentials/verifier_default.go`):
//!
//! 1. the header's `alg` must be in `allowed_algorithms` (`none` never is), and `kid` set;
//! 2. the key is the first with that kid and `use: sig` across `jwks_urls` (refetched, rate
//!    limited, when no set has it); its type must be the algorithm's (never a public key for
//!    `HS*`) and its own `alg`, when set, the token's;
//! 3. the signature verifies (the `jsonwebtoken` crate, RustCrypto backend), `exp` and `nbf`
//!    hold and `iat` is not in the future, without leeway as upstream's golang-jwt; `exp` is
//!    not required, as upstream;
//! 4. every `target_audience` is in `aud`; `iss` is one of `trusted_issuers` when set;
//! 5. the scopes (`scp`, else `scope`, else `scopes`; a space-separated string or an array)
//!    grant every `required_scope` per `scope_strategy`; `required_scope` with strategy `none`
//!    refuses every token, as upstream.
//!
//! Beyond upstream, tokens accepted are kept (by BLAKE3 of the token, per handler, at most
//! 10,000, each at most 60 s and never past its `exp`): a repeated token skips the signature
//! check while the key that verified it is still the current key of its kid.
//!
//! Every failure is a 401, as upstream (which wraps every verifier error in `ErrUnauthorized`);
//! keys that cannot be had (no key set ever fetched) are the identity provider's failure, so
//! their kind is `upstream_failure`, still with 401. The subject is `sub` (empty when not a
//! string); the extra is every claim, the scopes normalised into `scp` as a list of strings
//! (the original `scp`/`scope`/`scopes` key removed), as upstream.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use jsonwebtoken::{Algorithm, Validation};
use oathkeeper_core::handler::Family;
use oathkeeper_core::handler::jwt::{Config, JwksLocation};
use oathkeeper_core::handler::scope::ScopeStrategy;
use oathkeeper_core::handler::session_store::TokenSource;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::jwks::{FindError, JwksSource, KeySources, VerifyingKey};
use crate::pipeline::{CompileError, Denial, OriginalRequest, Session};

use super::AuthnOutcome;
use super::cookie_session::cookies;

const ID: &str = "jwt";

/// Where the token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenLocation {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A request header holding the whole token.
    Header(http::HeaderName),
    /// A query parameter of the decision request.
    Query(String),
    /// A cookie.
    Cookie(String),
}

impl TokenLocation {
    /// Compiles `token_from` (already checked to name exactly one place).
    pub fn compile(source: TokenSource<'_>, handler: &str) -> Result<TokenLocation, CompileError> {
        Ok(match source {
            TokenSource::Bearer => TokenLocation::Bearer,
            TokenSource::Header(h) => {
                TokenLocation::Header(http::HeaderName::try_from(h).map_err(|_| {
                    CompileError::invalid_key(
                        Family::Authenticator,
                        handler,
                        "token_from.header",
                        h,
                        "not a header name",
                    )
                })?)
            }
            TokenSource::Query(q) => TokenLocation::Query(q.to_owned()),
            TokenSource::Cookie(c) => TokenLocation::Cookie(c.to_owned()),
        })
    }

    /// The token of `request`, if there is a non-empty one.
    pub fn find<'r>(&self, request: &'r OriginalRequest<'_>) -> Option<Cow<'r, str>> {
        match self {
            TokenLocation::Bearer => {
                let value = request.header("authorization")?;
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(Cow::Borrowed(token))
            }
            TokenLocation::Header(name) => {
                request.headers.get(name)?.to_str().ok().map(Cow::Borrowed)
            }
            TokenLocation::Query(name) => request.query?.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_query(k) == name.as_str()).then(|| Cow::Owned(decode_query(v).into_owned()))
            }),
            TokenLocation::Cookie(name) => cookies(request)
                .find(|(n, _)| n == name)
                .map(|(_, v)| Cow::Borrowed(v)),
        }
        .filter(|t| !t.is_empty())
    }
}

fn decode_query(text: &str) -> Cow<'_, str> {
    if text.contains(['+', '%']) {
        Cow::Owned(
            percent_decode_str(&text.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// Why a token is refused: a 401 either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The token itself is wrong (kind `authentication`).
    Token(Cow<'static, str>),
    /// No key could be had from the key sets (kind `upstream_failure`).
    Keys(Cow<'static, str>),
}

impl Rejection {
    fn token(reason: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection::Token(reason.into())
    }

    /// The denial: 401, with the kind telling the client's fault from the key sets'.
    pub fn into_denial(self) -> Denial {
        match self {
            Rejection::Token(reason) => Denial::unauthorized(reason),
            Rejection::Keys(reason) => Denial::upstream(StatusCode::UNAUTHORIZED, reason),
        }
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// `sub`, or empty when it is not a string.
    pub subject: String,
    /// Every claim, the scopes normalised into `scp`.
    pub claims: Map<String, Value>,
}

/// The checks of one `jwt` config, without the key sources: what a token must be.
#[derive(Debug)]
pub struct Verifier {
    /// One validation per allowed algorithm (a validation takes algorithms of one family).
    validations: Box<[(Algorithm, Validation)]>,
    audience: Box<[String]>,
    issuers: Box<[String]>,
    scope: Box<[String]>,
    strategy: ScopeStrategy,
}

/// The header fields the key lookup needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// `alg`, one of the allowed ones.
    pub alg: Algorithm,
    /// `kid`, not empty.
    pub kid: String,
}

impl Verifier {
    /// Compiles the checks of `config` (decoded, so its keys are known to be usable).
    pub fn compile(config: &Config) -> Result<Verifier, CompileError> {
        let algorithms = config
            .allowed_algorithms()
            .map_err(|e| CompileError::config(Family::Authenticator, ID, e.into()))?;
        let validations = algorithms
            .iter()
            .map(|name| {
                let alg: Algorithm = name.parse().map_err(|_| {
                    CompileError::invalid_key(
                        Family::Authenticator,
                        ID,
                        "allowed_algorithms",
                        name,
                        "not a signing algorithm",
                    )
                })?;
                Ok((alg, validation(alg)))
            })
            .collect::<Result<_, CompileError>>()?;
        Ok(Verifier {
            validations,
            audience: config.target_audience().into(),
            issuers: config.trusted_issuers().into(),
            scope: config.required_scope().into(),
            strategy: config.scope_strategy(),
        })
    }

    /// Reads the token's header: `alg` must be allowed and `kid` set.
    pub fn header(&self, token: &str) -> Result<TokenHeader, Rejection> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Rejection::token("the JSON Web Token is malformed"))?;
        if !self.validations.iter().any(|(alg, _)| *alg == header.alg) {
            return Err(Rejection::token(format!(
                "JSON Web Token used signing method \"{:?}\" which is not allowed",
                header.alg
            )));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or(Rejection::token(
                "The JSON Web Token must contain a kid header value but did not",
            ))?;
        Ok(TokenHeader {
            alg: header.alg,
            kid,
        })
    }

    /// Verifies `token`, whose header is `header`, with `key`, at `now`.
    pub fn verify(
        &self,
        token: &str,
        header: &TokenHeader,
        key: &VerifyingKey,
        now: SystemTime,
    ) -> Result<Verified, Rejection> {
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == header.alg) else {
            return Err(Rejection::token("the signing algorithm is not allowed"));
        };
        let decoding = key
            .for_algorithm(header.alg)
            .map_err(|e| Rejection::token(e.to_string()))?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, decoding, validation)
            .map_err(|e| Rejection::token(reason(e.kind())))?;
        let mut claims = data.claims;
        check_issued_at(&claims, now)?;
        let audience = strings(claims.get("aud"));
        for wanted in self.audience.iter() {
            if !audience.iter().any(|a| a == wanted) {
                return Err(Rejection::token(format!(
                    "Token audience {audience:?} is not intended for target audience {wanted}"
                )));
            }
        }
        if !self.issuers.is_empty() {
            let issuer = claims
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !self.issuers.iter().any(|i| i == issuer) {
                return Err(Rejection::token(format!(
                    "Token issuer does not match any trusted issuer {issuer}"
                )));
            }
        }
        let scopes = take_scopes(&mut claims);
        for required in self.scope.iter() {
            match self.strategy.matches(&scopes, required) {
                Some(true) => {}
                Some(false) => {
                    return Err(Rejection::token(format!(
                        "JSON Web Token is missing required scope \"{required}\""
                    )));
                }
                None => {
                    return Err(Rejection::token(
                        "Scope validation was requested but scope strategy is set to \"none\"",
                    ));
                }
            }
        }
        claims.insert(
            "scp".to_owned(),
            Value::Array(scopes.into_iter().map(Value::String).collect()),
        );
        let subject = match claims.get("sub") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        Ok(Verified { subject, claims })
    }
}

/// The validation for `alg`: signature, `exp` and `nbf` when present, no leeway; audience,
/// issuer and `iat` are checked as upstream does, after.
fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = 0;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

/// The operator's reason for a `jsonwebtoken` error (static: no allocation).
fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "token is expired",
        K::ImmatureSignature => "token is not valid yet",
        K::InvalidSignature => "token signature is invalid",
        K::InvalidAlgorithm => "the signing algorithm does not match the key",
        K::InvalidClaimFormat(_) => "a time claim of the token is not a number",
        K::InvalidRsaKey(_) | K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidKeyFormat => {
            "the signing key is not usable"
        }
        _ => "the JSON Web Token is malformed",
    }
}

/// `iat` must not be in the future (golang-jwt's `WithIssuedAt`).
fn check_issued_at(claims: &Map<String, Value>, now: SystemTime) -> Result<(), Rejection> {
    let Some(iat) = claims.get("iat") else {
        return Ok(());
    };
    let Some(iat) = iat.as_f64().filter(|t| t.is_finite()) else {
        return Err(Rejection::token(
            "a time claim of the token is not a number",
        ));
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();
    if iat > now {
        return Err(Rejection::token("token used before issued"));
    }
    Ok(())
}

/// A claim read as a list of strings: a string is a one-element list, an array keeps its
/// strings, anything else is empty (upstream's `ParseMapStringInterfaceClaims`).
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Removes the first of `scp`, `scope`, `scopes` and returns its scopes: a string split on
/// spaces, an array's strings (non-strings become empty strings), else none.
fn take_scopes(claims: &mut Map<String, Value>) -> Vec<String> {
    let Some(value) = ["scp", "scope", "scopes"]
        .iter()
        .find_map(|k| claims.remove(*k))
    else {
        return Vec::new();
    };
    match value {
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => s.split(' ').map(str::to_owned).collect(),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                _ => String::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The compiled authenticator.
#[derive(Debug)]
pub struct Jwt {
    location: TokenLocation,
    verifier: Verifier,
    keys: KeySources,
    max_wait: Duration,
    verified: moka::future::Cache<[u8; 32], Arc<Accepted>>,
}

/// Most tokens kept verified per handler.
const VERIFIED_MAX_ENTRIES: u64 = 10_000;
/// Longest a verified token is kept (a token without `exp` too).
const VERIFIED_MAX_LIFE: Duration = Duration::from_secs(60);

/// A token this handler accepted, and the key that verified it.
#[derive(Debug)]
pub struct Accepted {
    subject: String,
    extra: Arc<Value>,
    kid: String,
    key: Arc<VerifyingKey>,
    /// Until when it may be kept: its `exp`, capped by [`VERIFIED_MAX_LIFE`].
    life: Duration,
}

struct AcceptedLife;

impl moka::Expiry<[u8; 32], Arc<Accepted>> for AcceptedLife {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Accepted>,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.life)
    }
}

/// How long an accepted token with these claims may be kept at `now`: until `exp` (the entry
/// must never outlive the token), at most [`VERIFIED_MAX_LIFE`].
fn accepted_life(claims: &Map<String, Value>, now: SystemTime) -> Duration {
    let Some(exp) = claims.get("exp").and_then(Value::as_f64) else {
        return VERIFIED_MAX_LIFE;
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();
    // `exp` itself is still valid (the check is `exp < now`): keep it up to `exp`, floored.
    let left = (exp.floor() - now).max(0.0);
    Duration::from_secs_f64(left.min(VERIFIED_MAX_LIFE.as_secs_f64()))
}

impl Jwt {
    /// Compiles `config`: the checks, and the shared key sources of `jwks_urls`.
    pub fn compile(config: &Config) -> Result<Jwt, CompileError> {
        let config_error = |e: oathkeeper_core::handler::KeyError| {
            CompileError::config(Family::Authenticator, ID, e.into())
        };
        let token_source = config.token_source().map_err(config_error)?;
        let location = TokenLocation::compile(token_source, ID)?;
        let verifier = Verifier::compile(config)?;
        let ttl = config.jwks_ttl().map_err(config_error)?;
        let max_wait = config.jwks_max_wait().map_err(config_error)?;
        let sources = config
            .jwks_urls()
            .map_err(config_error)?
            .into_iter()
            .map(|location| {
                JwksSource::shared(location, ttl).map_err(|e| {
                    let shown = match location {
                        JwksLocation::Http(url) => url.split(['?', '#']).next().unwrap_or(url),
                        JwksLocation::File(path) => path,
                        JwksLocation::Base64(_) => "base64://...",
                    };
                    CompileError::invalid_key(
                        Family::Authenticator,
                        ID,
                        "jwks_urls",
                        shown,
                        e.to_string(),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Jwt {
            location,
            verifier,
            keys: KeySources::new(sources),
            max_wait,
            verified: moka::future::Cache::builder()
                .max_capacity(VERIFIED_MAX_ENTRIES)
                .expire_after(AcceptedLife)
                .build(),
        })
    }

    /// Authenticates `request` when it carries a JSON Web Token.
    pub async fn authenticate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
    ) -> Result<AuthnOutcome, Denial> {
        let Some(token) = self.location.find(request) else {
            return Ok(AuthnOutcome::NotResponsible);
        };
        if token.split('.').count() != 3 {
            return Ok(AuthnOutcome::NotResponsible);
        }
        let accepted = self.accept(&token).await.map_err(Rejection::into_denial)?;
        session.subject.clone_from(&accepted.subject);
        session.extra = Some(Arc::clone(&accepted.extra));
        Ok(AuthnOutcome::Authenticated)
    }

    /// The token accepted: from the tokens this handler verified before when the key that
    /// verified it is still the current key of its kid (a refreshed or rotated set gives new
    /// keys, so its tokens are verified again), else verified now and kept (only accepted
    /// tokens are kept, never past their `exp`). Verification is a function of the token, the
    /// key and the time, and every time-dependent check is bounded by the entry's life.
    async fn accept(&self, token: &str) -> Result<Arc<Accepted>, Rejection> {
        let digest = *blake3::hash(token.as_bytes()).as_bytes();
        if let Some(hit) = self.verified.get(&digest).await
            && self
                .keys
                .current(&hit.kid)
                .is_some_and(|key| Arc::ptr_eq(&key, &hit.key))
        {
            return Ok(hit);
        }
        let now = SystemTime::now();
        let (header, key) = self.key(token).await?;
        let verified = self.verifier.verify(token, &header, &key, now)?;
        let life = accepted_life(&verified.claims, now);
        let accepted = Arc::new(Accepted {
            subject: verified.subject,
            extra: Arc::new(Value::Object(verified.claims)),
            kid: header.kid,
            key,
            life,
        });
        if !life.is_zero() {
            self.verified.insert(digest, Arc::clone(&accepted)).await;
        }
        Ok(accepted)
    }

    /// Verifies `token`: header, key, signature and claims (no cache).
    pub async fn check(&self, token: &str) -> Result<Verified, Rejection> {
        let (header, key) = self.key(token).await?;
        self.verifier
            .verify(token, &header, &key, SystemTime::now())
    }

    /// The token's header and the key its kid names.
    async fn key(&self, token: &str) -> Result<(TokenHeader, Arc<VerifyingKey>), Rejection> {
        let header = self.verifier.header(token)?;
        let key = self
            .keys
            .find(&header.kid, self.max_wait)
            .await
            .map_err(|e| match e {
                FindError::NoKeySet => Rejection::Keys(
                    format!(
                        "None of the provided URLs returned a valid JSON Web Key Set: {:?}",
                        self.keys.locations().collect::<Vec<_>>()
                    )
                    .into(),
                ),
                FindError::UnknownKid => Rejection::token(format!(
                    "JSON Web Key ID \"{}\" with use \"sig\" could not be found in any of the provided URIs",
                    header.kid
                )),
            })?;
        Ok((header, key))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scopes_are_read_from_scp_scope_or_scopes_as_upstream() {
        let cases = [
            (json!({"scp": ["a", "b"], "scope": "c"}), vec!["a", "b"]),
            (json!({"scope": "a b"}), vec!["a", "b"]),
            (json!({"scopes": ["a", 1]}), vec!["a", ""]),
            (json!({"scope": ""}), vec![]),
            (json!({"scope": 5}), vec![]),
            (json!({}), vec![]),
        ];
        for (claims, want) in cases {
            let Value::Object(mut map) = claims.clone() else {
                panic!()
            };
            assert_eq!(take_scopes(&mut map), want, "{claims}");
            let first = ["scp", "scope", "scopes"]
                .into_iter()
                .find(|k| claims.get(k).is_some());
            if let Some(k) = first {
                assert!(!map.contains_key(k), "{k} is moved into scp");
            }
        }
    }

    #[test]
    fn audiences_read_a_string_or_the_strings_of_an_array() {
        assert_eq!(strings(Some(&json!("a"))), ["a"]);
        assert_eq!(strings(Some(&json!(["a", 2, "b"]))), ["a", "b"]);
        assert!(strings(Some(&json!(3))).is_empty());
        assert!(strings(None).is_empty());
    }

    #[test]
    fn accepted_tokens_are_kept_at_most_until_exp() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let life = |claims: Value| {
            let Value::Object(m) = claims else { panic!() };
            accepted_life(&m, now)
        };
        assert_eq!(life(json!({})), VERIFIED_MAX_LIFE);
        assert_eq!(life(json!({"exp": 1010})), Duration::from_secs(10));
        assert_eq!(life(json!({"exp": 1010.9})), Duration::from_secs(10));
        assert_eq!(life(json!({"exp": 100_000})), VERIFIED_MAX_LIFE);
        assert_eq!(life(json!({"exp": 999})), Duration::ZERO);
    }

    #[test]
    fn issued_at_in_the_future_is_refused() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let claims = |iat: Value| {
            let Value::Object(m) = json!({ "iat": iat }) else {
                panic!()
            };
            m
        };
        assert!(check_issued_at(&claims(json!(1000)), now).is_ok());
        assert!(check_issued_at(&claims(json!(999.5)), now).is_ok());
        assert!(check_issued_at(&claims(json!(1001)), now).is_err());
        assert!(check_issued_at(&claims(json!("1")), now).is_err());
        assert!(check_issued_at(&Map::new(), now).is_ok());
    }
}
