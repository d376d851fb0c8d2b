//! JSON Web Key Sets as key sources: fetched, parsed once, cached, refreshed in the background
//! (the `jwt` authenticator's `jwks_urls` verify with them; the `id_token` mutator's `jwks_url`
//! signs with its first private key, [`signing`], and `/.well-known/jwks.json` serves their
//! public halves).
//!
//! One [`JwksSource`] per location and TTL, shared by every handler and rule that names it and
//! kept across reloads while a snapshot uses it (a registry of weak references, touched only
//! when handlers compile). Locations: `http(s)://` through the [`crate::outbound`] policy
//! (bounded timeouts, a size cap, no redirects), `file://` (re-read like a URL, same size cap
//! and timeout), and `base64://` (parsed once, never refreshed).
//!
//! **Freshness** (stale-while-revalidate). Keys are fresh for `jwks_ttl` after a successful
//! fetch. A request that finds its key uses it at once, fresh or stale; a stale set starts one
//! refresh in the background. A failed refresh keeps the last good set and logs the location
//! and the problem; it is retried at most every [`RETRY_GAP`].
//!
//! **Unknown key ids** (rotation). A kid missing from the set starts a refetch, at most one
//! per location per [`UNKNOWN_KID_WINDOW`], so tokens with made-up kids cannot make us hammer
//! the identity provider. Concurrent requests share one fetch (`JwksSource::trigger`); a
//! request waits for it at most `jwks_max_wait`, then looks again.
//!
//! **Fail closed.** A location never fetched successfully has no keys: its requests wait for
//! the first fetch (started when the handler compiles) at most `jwks_max_wait`, and are then
//! refused. No request ever waits longer than `jwks_max_wait` for keys.
//!
//! The request path reads the set through one `ArcSwapOption` load and a hash lookup: no
//! lock, no parsing. Fetch state is atomics; waiting uses a `watch` channel, only when a key is
//! missing.

pub mod keys;
pub mod signing;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use oathkeeper_core::handler::jwt::JwksLocation;
use tokio::io::AsyncReadExt as _;
use tokio::sync::watch;

use crate::outbound::{self, Target};

pub use keys::{KeySet, Mismatch, VerifyingKey};
pub use signing::SigningKey;

/// Largest key set read, in bytes.
pub const MAX_JWKS_BYTES: usize = 512 * 1024;
/// Shortest time between two refetches of one location for unknown key ids.
pub const UNKNOWN_KID_WINDOW: Duration = Duration::from_secs(5);
/// Shortest time between two fetches of one location after a stale or missing set.
pub const RETRY_GAP: Duration = Duration::from_secs(1);
/// Connect timeout of a key-set fetch.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a key-set fetch (or file read) may take; requests never wait this long (they wait
/// `jwks_max_wait`), but a fetch that outlives their wait still fills the cache.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a location cannot be a key source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An `http(s)` URL that is not an outbound target.
    #[error(transparent)]
    Url(#[from] outbound::UrlError),
    /// The outbound client cannot be built.
    #[error(transparent)]
    Client(#[from] outbound::BuildError),
    /// `base64://` data that does not decode or is not a key set.
    #[error("base64:// key set: {0}")]
    Inline(String),
}

/// Why keys could not be fetched.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The HTTP call failed.
    #[error(transparent)]
    Call(#[from] outbound::CallError),
    /// The HTTP answer is not a success.
    #[error("GET {url}: answered {status}")]
    Status {
        /// The URL, without its query.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// The file cannot be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The text is not a usable key set.
    #[error("{location}: {source}")]
    Parse {
        /// Where it came from.
        location: String,
        /// What is wrong.
        #[source]
        source: keys::ParseError,
    },
}

/// Why no key verifies a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindError {
    /// No location has ever given a key set.
    NoKeySet,
    /// No key set has the key id.
    UnknownKid,
}

/// Where a source reads its keys.
enum Location {
    Http {
        target: Target,
        client: Box<outbound::Client>,
    },
    File(PathBuf),
    Inline,
}

/// A set and when it was fetched.
struct Loaded {
    keys: KeySet,
    at: Instant,
}

/// Why a fetch is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The set is stale or was never fetched.
    Refresh,
    /// A key id is missing from the set.
    UnknownKid,
}

/// One key-set location and its cached keys.
pub struct JwksSource {
    location: Location,
    shown: String,
    ttl: Duration,
    kid_window: Duration,
    retry_gap: Duration,
    epoch: Instant,
    loaded: ArcSwapOption<Loaded>,
    in_flight: AtomicBool,
    /// Nanoseconds since `epoch` + 1 of the last fetch started (0: never).
    last_attempt: AtomicU64,
    /// The same, for fetches started by an unknown key id.
    last_kid_attempt: AtomicU64,
    /// Bumped when a fetch ends, successful or not.
    done: watch::Sender<u64>,
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("location", &self.shown)
            .field("ttl", &self.ttl)
            .field("keys", &self.loaded.load().as_ref().map(|l| l.keys.len()))
            .finish_non_exhaustive()
    }
}

/// Sources by location and TTL, while some snapshot holds them.
type Registry = crate::outbound::Registry<(String, Duration), JwksSource>;

/// Written only when handlers compile (copy on write), never read by a request.
static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

impl JwksSource {
    /// The shared source for `location` with keys fresh for `ttl`: the one a live handler
    /// already uses, else a new one whose first fetch starts now (when a runtime is running).
    pub fn shared(
        location: JwksLocation<'_>,
        ttl: Duration,
    ) -> Result<Arc<JwksSource>, SourceError> {
        let key = (location_text(location), ttl);
        if let Some(source) = REGISTRY.get(&key) {
            return Ok(source);
        }
        let fresh = Arc::new(JwksSource::new(
            location,
            ttl,
            UNKNOWN_KID_WINDOW,
            RETRY_GAP,
        )?);
        // Two reloads compiling at once agree on one source: whichever registered first.
        let source = REGISTRY.register(&key, fresh);
        if !source.has_keys() {
            source.trigger(Reason::Refresh);
        }
        Ok(source)
    }

    /// A source not shared with anyone, with its own unknown-kid window and retry gap (tests).
    fn new(
        location: JwksLocation<'_>,
        ttl: Duration,
        kid_window: Duration,
        retry_gap: Duration,
    ) -> Result<JwksSource, SourceError> {
        let (location, shown, loaded) = match location {
            JwksLocation::Http(url) => {
                let target = Target::parse(url)?;
                let client = outbound::Client::shared(&outbound::Policy {
                    connect_timeout: CONNECT_TIMEOUT,
                    timeout: FETCH_TIMEOUT,
                    max_body: MAX_JWKS_BYTES,
                    extra_ca_files: Vec::new(),
                })?;
                let shown = target.to_string();
                (
                    Location::Http {
                        target,
                        client: Box::new(client),
                    },
                    shown,
                    None,
                )
            }
            JwksLocation::File(path) => {
                (Location::File(path.into()), format!("file://{path}"), None)
            }
            JwksLocation::Base64(data) => {
                let text = decode_base64(data)
                    .ok_or_else(|| SourceError::Inline("not base64".to_owned()))?;
                let keys = KeySet::parse(&text).map_err(|e| SourceError::Inline(e.to_string()))?;
                let shown = format!("base64://({} bytes)", data.len());
                (Location::Inline, shown, Some(keys))
            }
        };
        let epoch = Instant::now();
        Ok(JwksSource {
            location,
            shown,
            ttl,
            kid_window,
            retry_gap,
            epoch,
            loaded: ArcSwapOption::from(loaded.map(|keys| Arc::new(Loaded { keys, at: epoch }))),
            in_flight: AtomicBool::new(false),
            last_attempt: AtomicU64::new(0),
            last_kid_attempt: AtomicU64::new(0),
            done: watch::Sender::new(0),
        })
    }

    /// The location as logs show it (no query, no inline data).
    pub fn location(&self) -> &str {
        &self.shown
    }

    /// The key `kid`, from the current set (fresh or stale); a stale set starts a refresh.
    fn lookup(self: &Arc<Self>, kid: &str) -> Option<Arc<VerifyingKey>> {
        let loaded = self.loaded.load();
        let loaded = loaded.as_ref()?;
        if !matches!(self.location, Location::Inline) && loaded.at.elapsed() >= self.ttl {
            self.trigger(Reason::Refresh);
        }
        loaded.keys.get(kid).cloned()
    }

    /// The signing key of the current set (fresh or stale; a stale set starts a refresh):
    /// the first private key of the set, or why there is none.
    pub fn signer(self: &Arc<Self>) -> Result<Arc<SigningKey>, String> {
        let loaded = self.loaded.load();
        let Some(loaded) = loaded.as_ref() else {
            self.trigger(Reason::Refresh);
            return Err(format!("{}: the key set is not loaded", self.shown));
        };
        if !matches!(self.location, Location::Inline) && loaded.at.elapsed() >= self.ttl {
            self.trigger(Reason::Refresh);
        }
        match loaded.keys.signer() {
            Some(Ok(key)) => Ok(Arc::clone(key)),
            Some(Err(e)) => Err(format!("{}: {e}", self.shown)),
            None => Err(format!("{}: the key set has no private key", self.shown)),
        }
    }

    /// The public half of every asymmetric key of the current set (none before the first
    /// load).
    pub fn public_keys(&self) -> Option<Arc<[serde_json::Value]>> {
        self.loaded
            .load()
            .as_ref()
            .map(|l| Arc::clone(l.keys.public()))
    }

    /// Whether the set is read at once when asked ([`JwksSource::load_now`]): inline and
    /// file sets, not HTTP ones.
    pub fn is_local(&self) -> bool {
        !matches!(self.location, Location::Http { .. })
    }

    /// Reads a `file://` set now, on the calling thread (bounded by [`MAX_JWKS_BYTES`]), when
    /// none was loaded yet; what went wrong otherwise. HTTP sets are left to their background
    /// fetch. For handlers that must judge their keys when they compile (`id_token`).
    pub fn load_now(&self) -> Result<(), String> {
        let Location::File(path) = &self.location else {
            return Ok(());
        };
        if self.has_keys() {
            return Ok(());
        }
        use std::io::Read as _;
        let mut text = Vec::new();
        let limit = u64::try_from(MAX_JWKS_BYTES).unwrap_or(u64::MAX) + 1;
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut text))
            .map_err(|e| format!("{}: {e}", self.shown))?;
        if text.len() > MAX_JWKS_BYTES {
            return Err(format!(
                "{}: larger than {MAX_JWKS_BYTES} bytes",
                self.shown
            ));
        }
        let keys = KeySet::parse(&text).map_err(|e| format!("{}: {e}", self.shown))?;
        self.loaded.store(Some(Arc::new(Loaded {
            keys,
            at: Instant::now(),
        })));
        Ok(())
    }

    /// Whether `keys` would replace a set that signs with one that cannot: a refresh of an
    /// `id_token` set that lost its private key (or broke it) is a failed refresh.
    fn loses_its_signer(&self, keys: &KeySet) -> bool {
        let signs = |k: &KeySet| matches!(k.signer(), Some(Ok(_)));
        !signs(keys) && self.loaded.load().as_ref().is_some_and(|l| signs(&l.keys))
    }

    /// Whether some set was ever loaded.
    fn has_keys(&self) -> bool {
        self.loaded.load().is_some()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Starts a background fetch for `reason` unless one is running or the last one was too
    /// recent; returns a receiver that changes when the running (or started) fetch ends, or
    /// `None` when no fetch is running.
    fn trigger(self: &Arc<Self>, reason: Reason) -> Option<watch::Receiver<u64>> {
        if matches!(self.location, Location::Inline) {
            return None;
        }
        // Subscribed before looking: a fetch ending after this point is seen.
        let receiver = self.done.subscribe();
        if self.in_flight.load(Ordering::Acquire) {
            return Some(receiver);
        }
        let now = self.now();
        let (last, gap) = match reason {
            Reason::Refresh => (&self.last_attempt, self.retry_gap),
            Reason::UnknownKid => (&self.last_kid_attempt, self.kid_window),
        };
        let previous = last.load(Ordering::Acquire);
        let gap = u64::try_from(gap.as_nanos()).unwrap_or(u64::MAX);
        if previous != 0 && now.saturating_sub(previous) < gap {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        if self
            .in_flight
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Some(receiver);
        }
        self.last_attempt.store(now, Ordering::Release);
        if reason == Reason::UnknownKid {
            self.last_kid_attempt.store(now, Ordering::Release);
        }
        let source = Arc::clone(self);
        runtime.spawn(async move { source.refresh().await });
        Some(receiver)
    }

    /// Fetches, keeps the set when it parses, and tells the waiters.
    async fn refresh(&self) {
        match self.fetch().await {
            Ok(keys) if self.loses_its_signer(&keys) => tracing::warn!(
                jwks_url = %self.shown,
                "the refreshed JSON Web Key Set has no usable private key; keeping the last good one"
            ),
            Ok(keys) => {
                if keys.skipped() > 0 {
                    tracing::debug!(
                        jwks_url = %self.shown,
                        usable = keys.len(),
                        skipped = keys.skipped(),
                        "some keys of the JSON Web Key Set cannot verify signatures"
                    );
                }
                self.loaded.store(Some(Arc::new(Loaded {
                    keys,
                    at: Instant::now(),
                })));
            }
            Err(error) if self.has_keys() => tracing::warn!(
                jwks_url = %self.shown,
                %error,
                "cannot refresh the JSON Web Key Set; keeping the last good one"
            ),
            Err(error) => tracing::error!(
                jwks_url = %self.shown,
                %error,
                "cannot fetch the JSON Web Key Set; tokens it should verify are refused"
            ),
        }
        self.in_flight.store(false, Ordering::Release);
        self.done.send_modify(|generation| *generation += 1);
    }

    /// Reads and parses the set, within [`FETCH_TIMEOUT`] and [`MAX_JWKS_BYTES`].
    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let text: Bytes = match &self.location {
            Location::Http { target, client } => {
                let mut headers = HeaderMap::new();
                headers.insert(
                    http::header::ACCEPT,
                    HeaderValue::from_static("application/json"),
                );
                let answer = client.get(target, headers).await?;
                if !answer.status.is_success() {
                    return Err(FetchError::Status {
                        url: target.to_string(),
                        status: answer.status,
                    });
                }
                answer.body
            }
            Location::File(path) => read_file(path).await.map_err(|reason| FetchError::File {
                path: path.display().to_string(),
                reason,
            })?,
            Location::Inline => {
                // invariant: inline sets are loaded when built and never fetched.
                return Err(FetchError::File {
                    path: self.shown.clone(),
                    reason: "inline key sets are not fetched".to_owned(),
                });
            }
        };
        KeySet::parse(&text).map_err(|source| FetchError::Parse {
            location: self.shown.clone(),
            source,
        })
    }
}

/// Reads a key-set file, within [`FETCH_TIMEOUT`] and [`MAX_JWKS_BYTES`].
async fn read_file(path: &std::path::Path) -> Result<Bytes, String> {
    let read = async {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| e.to_string())?;
        let mut text = Vec::new();
        let limit = u64::try_from(MAX_JWKS_BYTES).unwrap_or(u64::MAX) + 1;
        file.take(limit)
            .read_to_end(&mut text)
            .await
            .map_err(|e| e.to_string())?;
        if text.len() > MAX_JWKS_BYTES {
            return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
        }
        Ok(Bytes::from(text))
    };
    tokio::time::timeout(FETCH_TIMEOUT, read)
        .await
        .map_err(|_| format!("not read within {FETCH_TIMEOUT:?}"))?
}

/// `base64://` data: standard or URL-safe alphabet, padded or not.
fn decode_base64(data: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(data).ok())
        .filter(|text| text.len() <= MAX_JWKS_BYTES)
}

fn location_text(location: JwksLocation<'_>) -> String {
    match location {
        JwksLocation::Http(url) => url.to_owned(),
        JwksLocation::File(path) => format!("file://{path}"),
        JwksLocation::Base64(data) => format!("base64://{data}"),
    }
}

/// The key sources of one handler, in `jwks_urls` order.
#[derive(Debug, Clone)]
pub struct KeySources {
    sources: Arc<[Arc<JwksSource>]>,
}

impl KeySources {
    /// The sources, in lookup order.
    pub fn new(sources: Vec<Arc<JwksSource>>) -> KeySources {
        KeySources {
            sources: sources.into(),
        }
    }

    /// The locations, as logs show them.
    pub fn locations(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|s| s.location())
    }

    /// The key `kid` in the current sets, without fetching (a stale set starts a refresh).
    pub fn current(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.sources.iter().find_map(|s| s.lookup(kid))
    }

    /// The key `kid` from the first set that has it. When none has it, the sets that never
    /// loaded are fetched and the others refetched (rate-limited), and the lookup is retried
    /// after that fetch or `max_wait`, whichever comes first.
    pub async fn find(
        &self,
        kid: &str,
        max_wait: Duration,
    ) -> Result<Arc<VerifyingKey>, FindError> {
        if let Some(key) = self.sources.iter().find_map(|s| s.lookup(kid)) {
            return Ok(key);
        }
        let waits: Vec<_> = self
            .sources
            .iter()
            .filter_map(|s| {
                let reason = if s.has_keys() {
                    Reason::UnknownKid
                } else {
                    Reason::Refresh
                };
                s.trigger(reason)
            })
            .collect();
        if !waits.is_empty() {
            let all = futures::future::join_all(waits.into_iter().map(|mut receiver| async move {
                let _ = receiver.changed().await;
            }));
            let _ = tokio::time::timeout(max_wait, all).await;
        }
        if let Some(key) = self.sources.iter().find_map(|s| s.lookup(kid)) {
            return Ok(key);
        }
        if self.sources.iter().any(|s| s.has_keys()) {
            Err(FindError::UnknownKid)
        } else {
            Err(FindError::NoKeySet)
        }
    }
}

#[cfg(test)]
mod tests;
