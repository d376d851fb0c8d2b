//! `oauth2_client_credentials`: HTTP Basic credentials are a client id and secret, checked by
//! running a client-credentials grant with them at `token_url`.
//!
//! As upstream (`authenticator_oauth2_client_credentials.go`): responsible only when the request
//! has `Authorization: Basic` credentials (anything else is "not responsible"); user and
//! password are URL-unescaped (an invalid escape is a 401); the grant asks for
//! `required_scope` (the call is `grant.rs`'s). A token answer with an access token
//! authenticates the request with subject = the client id. Statuses as upstream maps them:
//! the endpoint's 503, 500, 504, 404 and 429 are passed on (429 with `Retry-After` and
//! `X-Ratelimit-*`), any other non-200 or an empty access token is a 401, and no answer at all
//! (transport failure, timeout) is a 503.
//!
//! Calls go through the [`crate::outbound`] policy: `retry.max_delay` is the connect timeout
//! and the longest pause between attempts, `retry.give_up_after` the budget of the whole grant
//! (transport failures and 5xx answers are retried while it lasts). With `cache.enabled`,
//! successful grants are kept, keyed by a BLAKE3 hash of the client id and secret (the secret
//! is never stored), each at most `cache.ttl` and never past the token's `expires_in`; a grant
//! with neither is not kept (Differs from upstream: ristretto keeps it forever). At most
//! `cache.max_tokens` entries. Concurrent grants for the same credentials make one call. Failed
//! grants are never kept. Clients and caches are kept across reloads while the config is
//! unchanged.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::StatusCode;
use oathkeeper_core::handler::oauth2_client_credentials::Config;
use oathkeeper_core::handler::{Family, KeyError};

use crate::outbound::{self, Target};
use crate::pipeline::{CompileError, Denial, OriginalRequest, Session};

use super::AuthnOutcome;
use super::grant::{self, GrantError, Retrying};

const ID: &str = "oauth2_client_credentials";

/// Largest token answer read.
const MAX_BODY: usize = 64 * 1024;

/// The parts kept across reloads: client, form, cache.
struct Endpoint {
    retrying: Retrying,
    target: Target,
    /// The grant's form (`grant_type`, `scope`).
    form: String,
    /// Successful grants by credentials hash; the value is the entry's life.
    cache: Option<moka::future::Cache<[u8; 32], Duration>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("target", &self.target.to_string())
            .field("give_up_after", &self.retrying.give_up_after)
            .field("cache", &self.cache.as_ref().map(|c| c.entry_count()))
            .finish_non_exhaustive()
    }
}

/// An entry lives as long as its value says (min of `expires_in` and `cache.ttl`; zero when
/// neither is known, so it is not kept).
struct Lifetime;

impl moka::Expiry<[u8; 32], Duration> for Lifetime {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        life: &Duration,
        _now: Instant,
    ) -> Option<Duration> {
        Some(*life)
    }
}

/// Endpoints by config, while a snapshot uses them (written only when handlers compile).
type Registry = outbound::Registry<String, Endpoint>;

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// The compiled authenticator.
#[derive(Debug)]
pub struct OAuth2ClientCredentials {
    endpoint: Arc<Endpoint>,
    ttl: Option<Duration>,
}

fn key_error(e: KeyError) -> CompileError {
    CompileError::config(Family::Authenticator, ID, e.into())
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> CompileError {
    CompileError::invalid_key(Family::Authenticator, ID, key, value, reason)
}

impl OAuth2ClientCredentials {
    /// Compiles `config`.
    pub fn compile(config: &Config) -> Result<Self, CompileError> {
        Ok(OAuth2ClientCredentials {
            endpoint: endpoint(config)?,
            ttl: config.cache_ttl().map_err(key_error)?,
        })
    }

    /// Authenticates `request` when it carries Basic credentials.
    pub async fn authenticate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
    ) -> Result<AuthnOutcome, Denial> {
        let Some((user, password)) = basic_credentials(request) else {
            return Ok(AuthnOutcome::NotResponsible);
        };
        let client_id = query_unescape(&user)
            .ok_or_else(|| Denial::unauthorized("the client id is not a valid URL escape"))?;
        let secret = query_unescape(&password)
            .ok_or_else(|| Denial::unauthorized("the client secret is not a valid URL escape"))?;
        match &self.endpoint.cache {
            Some(cache) => {
                cache
                    .try_get_with(
                        credentials_key(&client_id, &secret),
                        self.grant(&client_id, &secret),
                    )
                    .await
                    .map_err(|denial| Denial::clone(&denial))?;
            }
            None => {
                self.grant(&client_id, &secret).await?;
            }
        }
        session.subject = client_id.into_owned();
        Ok(AuthnOutcome::Authenticated)
    }

    /// Runs the grant; on success, how long it may be cached.
    async fn grant(&self, client_id: &str, secret: &str) -> Result<Duration, Denial> {
        let endpoint = &self.endpoint;
        let deadline = Instant::now() + endpoint.retrying.give_up_after;
        let authorization = grant::basic_authorization(client_id, secret)
            .ok_or_else(|| Denial::unauthorized("the credentials are not usable"))?;
        let token = grant::request_token(
            &endpoint.retrying,
            &endpoint.target,
            &authorization,
            &endpoint.form,
            deadline,
        )
        .await
        .map_err(refusal)?;
        if token.access_token.is_empty() {
            return Err(Denial::unauthorized(
                "the token endpoint granted no access token",
            ));
        }
        Ok(match (token.expires_in, self.ttl) {
            (Some(e), Some(t)) => e.min(t),
            (Some(d), None) | (None, Some(d)) => d,
            (None, None) => Duration::ZERO,
        })
    }
}

/// A token endpoint's 200 answer `body` as the grants read it (this authenticator's and
/// `oauth2_introspection`'s `pre_authorization`): the access token (may be empty) and
/// `expires_in`, or `None` when it does not decode. For the fuzz target.
#[doc(hidden)]
pub fn read_token_answer(body: &[u8]) -> Option<(String, Option<Duration>)> {
    grant::read_token(body)
        .ok()
        .map(|token| (token.access_token, token.expires_in))
}

/// Upstream's mapping of a failed grant to an answer.
fn refusal(error: GrantError) -> Denial {
    match error {
        GrantError::Call(e) => Denial::upstream(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        GrantError::Decode => Denial::unauthorized("the token answer does not decode"),
        GrantError::Status(status, headers) => match status {
            StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::GATEWAY_TIMEOUT
            | StatusCode::NOT_FOUND => Denial::upstream(
                status,
                "the token endpoint did not answer the client-credentials grant",
            ),
            StatusCode::TOO_MANY_REQUESTS => {
                crate::pipeline::rate_limited(&headers, "the token endpoint is rate limiting")
            }
            _ => Denial::unauthorized("the token endpoint refused the client credentials"),
        },
    }
}

/// User and password of `Authorization: Basic` (scheme case-insensitive, as Go's
/// `Request.BasicAuth`).
fn basic_credentials(request: &OriginalRequest<'_>) -> Option<(String, String)> {
    let value = request.header("authorization")?;
    let (scheme, encoded) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; a `%` without two hex digits (or
/// bytes that are not UTF-8) is `None`.
fn query_unescape(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains(['+', '%']) {
        return Some(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The cache key of a client's credentials: a BLAKE3 hash, the id length-prefixed so that no
/// two (id, secret) pairs share an input.
fn credentials_key(client_id: &str, secret: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(client_id.len() as u64).to_le_bytes());
    hasher.update(client_id.as_bytes());
    hasher.update(secret.as_bytes());
    *hasher.finalize().as_bytes()
}

/// The shared endpoint for `config`, built when no live one has it.
fn endpoint(config: &Config) -> Result<Arc<Endpoint>, CompileError> {
    let key = serde_json::to_string(config).unwrap_or_default();
    if let Some(endpoint) = REGISTRY.get(&key) {
        return Ok(endpoint);
    }
    let url = config.token_url().map_err(key_error)?;
    let target = Target::parse(url).map_err(|e| invalid("token_url", &e.url, e.reason))?;
    let max_delay = config.max_delay().map_err(key_error)?;
    let give_up_after = config.give_up_after().map_err(key_error)?;
    let client = outbound::Client::shared(&outbound::Policy {
        connect_timeout: max_delay,
        timeout: give_up_after,
        max_body: MAX_BODY,
        extra_ca_files: Vec::new(),
    })
    .map_err(|e| invalid("token_url", url, e.to_string()))?;
    let cache = config.cache_enabled().then(|| {
        moka::future::Cache::builder()
            .max_capacity(config.cache_max_tokens())
            .expire_after(Lifetime)
            .build()
    });
    let fresh = Arc::new(Endpoint {
        retrying: Retrying {
            client,
            max_delay,
            give_up_after,
        },
        target,
        form: grant::grant_form(config.required_scope(), None),
        cache,
    });
    Ok(REGISTRY.register(&key, fresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_unescaped_as_go_does() {
        assert_eq!(query_unescape("a+b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(query_unescape("plain").as_deref(), Some("plain"));
        assert_eq!(query_unescape("bad%zz"), None);
        assert_eq!(query_unescape("short%2"), None);
    }

    #[test]
    fn keys_separate_id_from_secret() {
        assert_ne!(credentials_key("ab", "c"), credentials_key("a", "bc"));
        assert_eq!(credentials_key("a", "b"), credentials_key("a", "b"));
    }
}
