//! `id_token`: a JSON Web Token signed for the upstream app, sent as `Authorization: Bearer`.
//!
//! As upstream (`mutator_id_token.go`): the claims are the rendered `claims` template (a JSON
//! object), then `exp` (now + `ttl`), `jti` (a random UUID), `iat`, `iss` (`issuer_url`),
//! `nbf` and `sub` (the subject) overwrite whatever it set, so `sub` cannot be changed and
//! `aud` comes from the template only. The key is the first private key of the `jwks_url` set
//! ([`crate::jwks::signing`]), its `kid` and `alg` in the header.
//!
//! **Cache.** A signed token is kept per subject, rendered claims and key for `ttl`, and
//! handed out again while more than 10% of its life is left, as upstream does; the cache is
//! bounded ([`MAX_TOKENS`]). Upstream's key also holds the issuer, ttl and URL: here each
//! compiled mutator has its own cache, so they are part of it already.
//!
//! **Fail closed.** A `file://` or `base64://` set without a usable private key fails the rule
//! when it compiles, naming the URL and the problem. An `http(s)://` set is fetched in the
//! background; until it holds a usable key, requests through the rule answer 500.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use oathkeeper_core::handler::Family;
use oathkeeper_core::handler::id_token::Config;
use oathkeeper_core::handler::jwt::JwksLocation;
use ring::rand::SecureRandom as _;
use serde_json::{Map, Value};

use crate::jwks::JwksSource;
use crate::pipeline::{CompileCx, CompileError, Denial, OriginalRequest, Session};
use crate::template::Template;

const ID: &str = "id_token";

/// Most signed tokens kept per mutator.
pub const MAX_TOKENS: u64 = 10_000;

/// How fresh keys are kept (upstream reads `authenticators.jwt.config.jwks_ttl`; its default).
const KEYS_TTL: Duration = Duration::from_secs(30);

/// A signed token and when it stops being handed out.
#[derive(Debug)]
struct Minted {
    value: HeaderValue,
    renew_at: Instant,
}

/// The compiled mutator.
#[derive(Debug)]
pub struct IdToken {
    issuer: String,
    ttl: Duration,
    claims: Option<Arc<Template>>,
    keys: Arc<JwksSource>,
    cache: moka::sync::Cache<[u8; 32], Arc<Minted>>,
}

impl IdToken {
    /// Compiles from the decoded config: the claims template, and the shared key source of
    /// `jwks_url`, which must hold a usable private key when it is a file or inline set.
    pub fn compile(config: &Config, cx: &mut CompileCx) -> Result<IdToken, CompileError> {
        let config_error = |e: oathkeeper_core::handler::KeyError| {
            CompileError::config(Family::Mutator, ID, e.into())
        };
        let issuer = config.issuer_url().map_err(config_error)?.to_owned();
        let ttl = config.ttl().map_err(config_error)?;
        let location = config.jwks_url().map_err(config_error)?;
        let shown = match location {
            JwksLocation::Http(url) => url.split(['?', '#']).next().unwrap_or(url).to_owned(),
            JwksLocation::File(path) => format!("file://{path}"),
            JwksLocation::Base64(_) => "base64://...".to_owned(),
        };
        let invalid = |reason: String| {
            CompileError::invalid_key(Family::Mutator, ID, "jwks_url", &shown, reason)
        };
        let keys = JwksSource::shared(location, KEYS_TTL).map_err(|e| invalid(e.to_string()))?;
        if keys.is_local() {
            keys.load_now().map_err(&invalid)?;
            keys.signer().map_err(&invalid)?;
        }
        let claims = match config.claims() {
            None => None,
            Some(source) => Some(cx.template(source).map_err(|e| CompileError::Template {
                family: Family::Mutator,
                id: ID.to_owned(),
                name: "claims".to_owned(),
                template: source.to_owned(),
                source: Box::new(e),
            })?),
        };
        Ok(IdToken {
            issuer,
            ttl,
            claims,
            keys,
            cache: moka::sync::Cache::builder()
                .max_capacity(MAX_TOKENS)
                .time_to_live(ttl)
                .build(),
        })
    }

    /// The key source, whose public keys `/.well-known/jwks.json` serves.
    pub fn keys(&self) -> &Arc<JwksSource> {
        &self.keys
    }

    /// Sets `Authorization: Bearer <token>` for the session, signing a token unless one for
    /// this subject and claims is cached with more than 10% of its life left.
    pub fn mutate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        buffer: &mut String,
    ) -> Result<(), Denial> {
        let key = self
            .keys
            .signer()
            .map_err(|e| Denial::internal(format!("mutator \"{ID}\": {e}")))?;
        match &self.claims {
            Some(template) => super::render(ID, &"claims", template, request, session, buffer)?,
            None => buffer.clear(),
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(key.kid().unwrap_or("").as_bytes());
        hasher.update(&[0]);
        hasher.update(session.subject.as_bytes());
        hasher.update(&[0]);
        hasher.update(buffer.as_bytes());
        let cache_key: [u8; 32] = *hasher.finalize().as_bytes();
        if let Some(minted) = self.cache.get(&cache_key)
            && Instant::now() < minted.renew_at
        {
            session
                .header
                .insert(http::header::AUTHORIZATION, minted.value.clone());
            return Ok(());
        }
        let mut claims: Map<String, Value> = if buffer.trim().is_empty() {
            Map::new()
        } else {
            serde_json::from_str(buffer).map_err(|e| {
                Denial::internal(format!(
                    "mutator \"{ID}\": claims do not render a JSON object: {e}"
                ))
            })?
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let minted_at = Instant::now();
        claims.insert("exp".into(), Value::from(now + self.ttl.as_secs()));
        claims.insert("jti".into(), Value::from(random_uuid()?));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("iss".into(), Value::from(self.issuer.as_str()));
        claims.insert("nbf".into(), Value::from(now));
        claims.insert("sub".into(), Value::from(session.subject.as_str()));
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| Denial::internal(format!("mutator \"{ID}\": {e}")))?;
        let token = key
            .sign(&payload)
            .map_err(|_| Denial::internal(format!("mutator \"{ID}\": signing failed")))?;
        let value = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|e| Denial::internal(format!("mutator \"{ID}\": {e}")))?;
        self.cache.insert(
            cache_key,
            Arc::new(Minted {
                value: value.clone(),
                renew_at: minted_at + self.ttl.mul_f64(0.9),
            }),
        );
        session.header.insert(http::header::AUTHORIZATION, value);
        Ok(())
    }
}

/// A random (version 4) UUID, from the system's secure random source.
fn random_uuid() -> Result<String, Denial> {
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Denial::internal(format!("mutator \"{ID}\": no random bytes")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}
