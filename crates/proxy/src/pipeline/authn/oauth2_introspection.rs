//! `oauth2_introspection`: checks an opaque token at an RFC 7662 introspection endpoint.
//!
//! Responsible when a token is found (`token_from`, default `Authorization: Bearer`) and it
//! starts with `prefix`. As upstream (`authenticator_oauth2_introspection.go`): the request is
//! `POST introspection_url` with the form `token=<token>`, plus `scope=<required_scope joined
//! by spaces>` when `scope_strategy` is `none` (the endpoint then checks scopes); headers are
//! `introspection_request_headers`, `Content-Type: application/x-www-form-urlencoded`,
//! `X-Forwarded-Host` when `preserve_host`, and, with `pre_authorization`, the bearer token of
//! a client-credentials grant (cached until it expires). A 429 is passed on with `Retry-After`
//! and `X-Ratelimit-*`; any other non-200, a transport failure or an answer that does not
//! decode is a 500. Then, in upstream's order: `token_use`, when present, must be
//! `access_token` (403); `active` (401); `exp` not past (401); every `target_audience` in `aud`
//! (403); `iss` one of `trusted_issuers` when set (403); every `required_scope` granted by
//! `scope` per the strategy (403). Subject `sub`; extra `ext` plus `username`, `client_id`,
//! `scope` and `aud` (when not empty).
//!
//! Calls go through the [`crate::outbound`] policy: `retry.max_delay` is the connect timeout
//! and the longest pause between attempts, `retry.give_up_after` the budget of the whole
//! introspection, retries included (a transport failure or a 5xx is retried while the budget
//! lasts). The cache (`cache.enabled`) keeps active results, keyed by a BLAKE3 hash of the
//! token (and the host when `preserve_host`), each at most `cache.ttl` and never past the
//! token's `exp`; a result with neither is not kept. Concurrent introspections of one token
//! make one call. As upstream, the cache is skipped when the strategy is `none` and scopes are
//! required (the endpoint's scope answer is per request), and audience, issuer and scopes are
//! checked again on every hit. Clients, caches and grant tokens are kept across reloads while
//! the config is unchanged.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use oathkeeper_core::handler::oauth2_introspection::{Config, Grant};
use oathkeeper_core::handler::scope::ScopeStrategy;
use oathkeeper_core::handler::{Family, KeyError};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::outbound::{self, Target};
use crate::pipeline::{CompileError, Denial, OriginalRequest, Session};

use super::AuthnOutcome;
use super::grant::{self, GrantError, Retrying, form_pair};
use super::jwt::TokenLocation;

const ID: &str = "oauth2_introspection";

/// Largest introspection or token answer read.
const MAX_BODY: usize = 256 * 1024;
/// Longest a grant token is kept when its answer has no `expires_in`.
const GRANT_MAX_LIFE: Duration = Duration::from_secs(3600);

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What the endpoint said about a token (RFC 7662, upstream's field types; as Go's decoder,
/// `null` leaves a field at its zero value).
#[derive(Debug, Default, Deserialize)]
struct Result {
    #[serde(default, deserialize_with = "nullable")]
    active: bool,
    #[serde(default)]
    ext: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    sub: String,
    #[serde(default, deserialize_with = "nullable")]
    username: String,
    #[serde(default, deserialize_with = "audience")]
    aud: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    iss: String,
    #[serde(default, deserialize_with = "nullable")]
    client_id: String,
    #[serde(default, deserialize_with = "nullable")]
    scope: String,
    #[serde(default, deserialize_with = "nullable")]
    exp: i64,
    #[serde(default, deserialize_with = "nullable")]
    token_use: String,
}

/// A field whose `null` is its default.
fn nullable<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// `aud`: a string or an array of strings (anything else does not decode, as upstream).
fn audience<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Aud>::deserialize(d)? {
        None => Vec::new(),
        Some(Aud::One(a)) => vec![a],
        Some(Aud::Many(a)) => a,
    })
}

/// An active result, ready to fill sessions.
#[derive(Debug)]
struct Introspected {
    subject: String,
    extra: Arc<Value>,
    aud: Vec<String>,
    iss: String,
    scopes: Vec<String>,
    /// `exp`, seconds since the epoch; 0 when absent.
    exp: i64,
}

/// The parts kept across reloads: client, grant, cache.
struct Endpoint {
    retrying: Retrying,
    target: Target,
    grant: Option<GrantClient>,
    cache: Option<moka::future::Cache<[u8; 32], Arc<Introspected>>>,
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

/// The client-credentials grant of `pre_authorization`.
struct GrantClient {
    target: Target,
    authorization: HeaderValue,
    form: String,
    token: moka::future::Cache<(), (HeaderValue, Duration)>,
}

/// An entry's life: until the token's `exp` (the cache's `time_to_live` is `cache.ttl`);
/// without `exp`, `cache.ttl` alone, and without either, not kept.
struct Lifetime {
    ttl_set: bool,
}

impl moka::Expiry<[u8; 32], Arc<Introspected>> for Lifetime {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Introspected>,
        _now: Instant,
    ) -> Option<Duration> {
        match (value.exp, self.ttl_set) {
            (exp, _) if exp > 0 => Some(until(exp)),
            (_, true) => None,
            (_, false) => Some(Duration::ZERO),
        }
    }
}

struct GrantLifetime;

impl moka::Expiry<(), (HeaderValue, Duration)> for GrantLifetime {
    fn expire_after_create(
        &self,
        _key: &(),
        value: &(HeaderValue, Duration),
        _now: Instant,
    ) -> Option<Duration> {
        Some(value.1)
    }
}

/// How long until `exp` (seconds since the epoch, positive).
fn until(exp: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Duration::from_secs(u64::try_from(exp).unwrap_or(0).saturating_sub(now))
}

/// Endpoints by merged config, while a snapshot uses them (written only when handlers
/// compile).
type Registry = outbound::Registry<String, Endpoint>;

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// The compiled authenticator.
#[derive(Debug)]
pub struct OAuth2Introspection {
    location: TokenLocation,
    prefix: String,
    strategy: ScopeStrategy,
    required_scope: Box<[String]>,
    audience: Box<[String]>,
    issuers: Box<[String]>,
    /// The form's `scope` when the strategy is `none` and scopes are required.
    sent_scope: Option<String>,
    headers: Box<[(HeaderName, HeaderValue)]>,
    preserve_host: bool,
    /// Whether the cache may answer (upstream skips it for strategy `none` with scopes).
    use_cache: bool,
    endpoint: Arc<Endpoint>,
}

fn key_error(e: KeyError) -> CompileError {
    CompileError::config(Family::Authenticator, ID, e.into())
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> CompileError {
    CompileError::invalid_key(Family::Authenticator, ID, key, value, reason)
}

impl OAuth2Introspection {
    /// Compiles `config`.
    pub fn compile(config: &Config) -> std::result::Result<Self, CompileError> {
        let location = TokenLocation::compile(config.token_source().map_err(key_error)?, ID)?;
        let headers = config
            .introspection_request_headers()
            .map(|(k, v)| {
                let name = HeaderName::try_from(k).map_err(|_| {
                    invalid("introspection_request_headers", k, "not a header name")
                })?;
                let value = HeaderValue::try_from(v).map_err(|_| {
                    invalid(
                        &format!("introspection_request_headers.{k}"),
                        v,
                        "not a header value",
                    )
                })?;
                Ok((name, value))
            })
            .collect::<std::result::Result<_, CompileError>>()?;
        let strategy = config.scope_strategy();
        let required_scope: Box<[String]> = config.required_scope().into();
        let sent_scope = (strategy == ScopeStrategy::None).then(|| required_scope.join(" "));
        let use_cache = config.cache_enabled()
            && (strategy != ScopeStrategy::None || required_scope.is_empty());
        Ok(OAuth2Introspection {
            location,
            prefix: config.prefix().to_owned(),
            strategy,
            audience: config.target_audience().into(),
            issuers: config.trusted_issuers().into(),
            required_scope,
            sent_scope,
            headers,
            preserve_host: config.preserve_host(),
            use_cache,
            endpoint: endpoint(config)?,
        })
    }

    /// Authenticates `request` when it carries a token with the prefix.
    pub async fn authenticate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
    ) -> std::result::Result<AuthnOutcome, Denial> {
        let Some(token) = self.location.find(request) else {
            return Ok(AuthnOutcome::NotResponsible);
        };
        if !token.starts_with(&self.prefix) {
            return Ok(AuthnOutcome::NotResponsible);
        }
        let host = self.preserve_host.then_some(request.candidate.host);
        let result = match (&self.endpoint.cache, self.use_cache) {
            (Some(cache), true) => {
                let mut hasher = blake3::Hasher::new();
                hasher.update(token.as_bytes());
                if let Some(host) = host {
                    hasher.update(b"\0");
                    hasher.update(host.as_bytes());
                }
                let key = *hasher.finalize().as_bytes();
                cache
                    .try_get_with(key, self.introspect(&token, host))
                    .await
                    .map_err(|denial| Denial::clone(&denial))?
            }
            _ => self.introspect(&token, host).await?,
        };
        self.check(&result)?;
        session.subject.clone_from(&result.subject);
        session.extra = Some(Arc::clone(&result.extra));
        Ok(AuthnOutcome::Authenticated)
    }

    /// The checks that depend on this config (also run on cache hits).
    fn check(&self, result: &Introspected) -> std::result::Result<(), Denial> {
        if result.exp > 0 && until(result.exp).is_zero() {
            return Err(Denial::unauthorized("Access token expired"));
        }
        for wanted in self.audience.iter() {
            if !result.aud.contains(wanted) {
                return Err(Denial::forbidden(
                    "Token audience is not intended for the target audience",
                ));
            }
        }
        if !self.issuers.is_empty() && !self.issuers.contains(&result.iss) {
            return Err(Denial::forbidden(
                "Token issuer does not match any trusted issuer",
            ));
        }
        for required in self.required_scope.iter() {
            if self.strategy.matches(&result.scopes, required) == Some(false) {
                return Err(Denial::forbidden(format!(
                    "Scope {required} was not granted"
                )));
            }
        }
        Ok(())
    }

    /// Calls the endpoint and reads an active result.
    async fn introspect(
        &self,
        token: &str,
        host: Option<&str>,
    ) -> std::result::Result<Arc<Introspected>, Denial> {
        let endpoint = &self.endpoint;
        let deadline = Instant::now() + endpoint.retrying.give_up_after;
        let mut form = form_pair("token", token);
        if let Some(scope) = &self.sent_scope {
            form.push('&');
            form.push_str(&form_pair("scope", scope));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        if let Some(host) = host.and_then(|h| HeaderValue::try_from(h).ok()) {
            headers.insert(X_FORWARDED_HOST, host);
        }
        if let Some(grant) = &endpoint.grant {
            let bearer = grant.token(endpoint, deadline).await?;
            headers.insert(http::header::AUTHORIZATION, bearer);
        }
        let answer = endpoint
            .retrying
            .post_form(&endpoint.target, &headers, &form, deadline)
            .await
            .map_err(|e| Denial::upstream(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(crate::pipeline::rate_limited(
                    &answer.headers,
                    "the introspection endpoint is rate limiting",
                ));
            }
            status => {
                return Err(Denial::upstream(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "Introspection returned status code {} but expected 200",
                        status.as_u16()
                    ),
                ));
            }
        }
        read(&answer.body)
    }

    /// What `authenticate` makes of an endpoint's 200 answer `body` under this config: the
    /// answer read as [`Self::authenticate`] reads it, then this config's checks; the subject
    /// and extra a session would get. For the fuzz target.
    #[doc(hidden)]
    pub fn read_answer(&self, body: &[u8]) -> std::result::Result<(String, Arc<Value>), Denial> {
        let result = read(body)?;
        self.check(&result)?;
        Ok((result.subject.clone(), Arc::clone(&result.extra)))
    }
}

/// Reads an endpoint's 200 answer: an active access token's result, or the denial.
fn read(body: &[u8]) -> std::result::Result<Arc<Introspected>, Denial> {
    // A JSON object only: serde would also read a struct from an array (`[true]`, by position).
    if !grant::is_json_object(body) {
        return Err(Denial::upstream(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the introspection answer is not a JSON object",
        ));
    }
    let result: Result = serde_json::from_slice(body).map_err(|e| {
        Denial::upstream(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the introspection answer does not decode: {e}"),
        )
    })?;
    if !result.token_use.is_empty() && result.token_use != "access_token" {
        return Err(Denial::forbidden(format!(
            "Use of introspected token is not an access token but \"{}\"",
            result.token_use
        )));
    }
    if !result.active {
        return Err(Denial::unauthorized("Access token is not active"));
    }
    if result.exp > 0 && until(result.exp).is_zero() {
        return Err(Denial::unauthorized("Access token expired"));
    }
    let mut extra = result.ext.unwrap_or_default();
    extra.insert("username".into(), Value::String(result.username));
    extra.insert("client_id".into(), Value::String(result.client_id));
    extra.insert("scope".into(), Value::String(result.scope.clone()));
    if !result.aud.is_empty() {
        extra.insert(
            "aud".into(),
            Value::Array(result.aud.iter().cloned().map(Value::String).collect()),
        );
    }
    Ok(Arc::new(Introspected {
        subject: result.sub,
        extra: Arc::new(Value::Object(extra)),
        aud: result.aud,
        iss: result.iss,
        scopes: result.scope.split(' ').map(str::to_owned).collect(),
        exp: result.exp,
    }))
}

impl GrantClient {
    /// The `Authorization: Bearer` value of a current grant token, fetched when missing.
    async fn token(
        &self,
        endpoint: &Endpoint,
        deadline: Instant,
    ) -> std::result::Result<HeaderValue, Denial> {
        let fetch = async {
            let token = grant::request_token(
                &endpoint.retrying,
                &self.target,
                &self.authorization,
                &self.form,
                deadline,
            )
            .await
            .map_err(|e| {
                Denial::upstream(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    match e {
                        GrantError::Call(e) => e.to_string(),
                        GrantError::Status(status, _) => format!(
                            "the pre-authorization token endpoint answered {}",
                            status.as_u16()
                        ),
                        GrantError::Decode => {
                            "the pre-authorization token answer does not decode".to_owned()
                        }
                    },
                )
            })?;
            let value =
                HeaderValue::try_from(format!("Bearer {}", token.access_token)).map_err(|_| {
                    Denial::upstream(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the pre-authorization token is not a header value",
                    )
                })?;
            // Refreshed a little before it expires, as x/oauth2 does (10 s early).
            let life = token
                .expires_in
                .map_or(GRANT_MAX_LIFE, |d| d.min(GRANT_MAX_LIFE))
                .saturating_sub(Duration::from_secs(10));
            Ok((value, life))
        };
        self.token
            .try_get_with((), fetch)
            .await
            .map(|(value, _)| value)
            .map_err(|denial| Denial::clone(&denial))
    }
}

/// The shared endpoint for `config`, built when no live one has it. Keyed by what shapes the
/// call and the cache (URL, headers, host, grant, retry, cache settings), not by the checks
/// (audience, issuers, scopes), which run on every hit: rules differing only in those share
/// one cache.
fn endpoint(config: &Config) -> std::result::Result<Arc<Endpoint>, CompileError> {
    let key = serde_json::json!([
        config.introspection_url,
        config.introspection_request_headers,
        config.preserve_host(),
        config.pre_authorization,
        config.retry,
        config.cache,
    ])
    .to_string();
    if let Some(endpoint) = REGISTRY.get(&key) {
        return Ok(endpoint);
    }
    let url = config.introspection_url().map_err(key_error)?;
    let target = Target::parse(url).map_err(|e| invalid("introspection_url", &e.url, e.reason))?;
    let max_delay = config.max_delay().map_err(key_error)?;
    let give_up_after = config.give_up_after().map_err(key_error)?;
    let client = outbound::Client::shared(&outbound::Policy {
        connect_timeout: max_delay,
        timeout: give_up_after,
        max_body: MAX_BODY,
        extra_ca_files: Vec::new(),
    })
    .map_err(|e| invalid("introspection_url", url, e.to_string()))?;
    let grant = config
        .grant()
        .map_err(key_error)?
        .as_ref()
        .map(grant_client)
        .transpose()?;
    let cache = if config.cache_enabled() {
        let ttl = config.cache_ttl().map_err(key_error)?;
        let mut builder = moka::future::Cache::builder()
            .max_capacity(config.cache_max_cost().map_err(key_error)?)
            .expire_after(Lifetime {
                ttl_set: ttl.is_some(),
            });
        if let Some(ttl) = ttl {
            builder = builder.time_to_live(ttl);
        }
        Some(builder.build())
    } else {
        None
    };
    let fresh = Arc::new(Endpoint {
        retrying: Retrying {
            client,
            max_delay,
            give_up_after,
        },
        target,
        grant,
        cache,
    });
    Ok(REGISTRY.register(&key, fresh))
}

fn grant_client(grant: &Grant<'_>) -> std::result::Result<GrantClient, CompileError> {
    let target = Target::parse(grant.token_url)
        .map_err(|e| invalid("pre_authorization.token_url", &e.url, e.reason))?;
    let authorization = grant::basic_authorization(grant.client_id, grant.client_secret)
        .ok_or_else(|| invalid("pre_authorization.client_id", grant.client_id, "not usable"))?;
    let form = grant::grant_form(grant.scope, grant.audience);
    Ok(GrantClient {
        target,
        authorization,
        form,
        token: moka::future::Cache::builder()
            .max_capacity(1)
            .expire_after(GrantLifetime)
            .build(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_decode_with_upstreams_types() {
        let r: Result = serde_json::from_str(
            r#"{"active":true,"sub":"u","aud":"api","scope":"a b","exp":5,"ext":{"k":1}}"#,
        )
        .unwrap();
        assert_eq!(
            (r.active, r.sub.as_str(), r.aud),
            (true, "u", vec!["api".to_owned()])
        );
        let many: Result = serde_json::from_str(r#"{"aud":["a","b"]}"#).unwrap();
        assert_eq!(many.aud, ["a", "b"]);
        assert!(serde_json::from_str::<Result>(r#"{"aud":[1]}"#).is_err());
        assert!(serde_json::from_str::<Result>(r#"{"active":"yes"}"#).is_err());
        let nulls: Result = serde_json::from_str(
            r#"{"active":true,"sub":null,"username":null,"aud":null,"exp":null,"ext":null}"#,
        )
        .unwrap();
        assert!(nulls.active && nulls.sub.is_empty() && nulls.aud.is_empty() && nulls.exp == 0);
    }

    /// Found by the `oauth2_answers` fuzz target: serde reads a struct from an array too.
    #[test]
    fn an_answer_that_is_not_a_json_object_is_refused() {
        for body in [&b"[true]"[..], b"[]", b" [true, null, \"ann\"]", b"true"] {
            assert!(read(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(
            read(b" \n{\"active\":true,\"sub\":\"ann\"}")
                .unwrap()
                .subject,
            "ann"
        );
    }

    #[test]
    fn lifetimes_end_at_exp() {
        assert!(until(1).is_zero());
        let soon = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 100;
        assert!(until(i64::try_from(soon).unwrap()) <= Duration::from_secs(100));
    }
}
