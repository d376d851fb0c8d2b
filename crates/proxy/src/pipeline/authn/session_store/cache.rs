//! The session cache of `cookie_session` / `bearer_token` (beyond upstream, which calls the
//! session store on every request).
//!
//! The store's answer is a function of what it receives, so the key is exactly that: the
//! session-store request's method, URL and every header it carries, in the order they are
//! sent (every `Cookie` line as raw bytes, every `forward_http_headers` value, the token,
//! `additional_headers`, `X-Forwarded-Host`). It is the hash of the encoded request that a
//! miss then decodes and sends ([`super::outbound`]), so the two cannot diverge, and two
//! requests share an entry only when the store would have received the same bytes. Anything
//! looser lets one client plant an entry that another client's request then hits (issue 12: a
//! cookie line the key skipped, or a forwarded header it ignored, logged a victim in as the
//! attacker). Keys are BLAKE3 digests: small, and holding no credential in clear.
//!
//! An entry lives at most `ttl` and never past the session's own `expires_at`; only sessions
//! the store vouched for are cached. Concurrent checks of one key make one session-store call
//! whose result they share. Memory is bounded by `max_entries`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::outbound::Key;
use crate::pipeline::Denial;
use crate::pipeline::request::RenderedHeaders;

/// What the session store said about a credential.
#[derive(Debug)]
pub struct Verdict {
    /// The subject.
    pub subject: String,
    /// The extra data.
    pub extra: Option<Arc<Value>>,
    /// When the session ends, from its `expires_at`.
    pub expires_at: Option<SystemTime>,
    /// Identity headers rendered from this subject and extra, while the verdict is cached.
    pub rendered: Arc<RenderedHeaders>,
}

/// One entry and how long it may live.
#[derive(Debug, Clone)]
struct Entry {
    verdict: Arc<Verdict>,
    lifetime: Duration,
}

struct Lifetime;

impl moka::Expiry<Key, Entry> for Lifetime {
    fn expire_after_create(&self, _key: &Key, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

/// A bounded, coalescing cache of verdicts.
#[derive(Clone)]
pub struct SessionCache {
    ttl: Duration,
    entries: moka::future::Cache<Key, Entry>,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

/// Whether a lookup was served from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Served from the cache.
    Hit,
    /// Fetched (or waited for a concurrent fetch).
    Miss,
}

impl SessionCache {
    /// A cache keeping entries at most `ttl`, at most `max_entries` of them.
    pub fn new(ttl: Duration, max_entries: u64) -> SessionCache {
        SessionCache {
            ttl,
            entries: moka::future::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(Lifetime)
                .build(),
        }
    }

    /// The verdict for `key`, calling `fetch` once for all concurrent misses of the same key.
    /// Denials are shared with the concurrent waiters but never cached.
    pub async fn get_or_fetch<F>(
        &self,
        key: Key,
        fetch: F,
    ) -> (Result<Arc<Verdict>, Denial>, Lookup)
    where
        F: Future<Output = Result<Verdict, Denial>>,
    {
        if let Some(entry) = self.entries.get(&key).await
            && entry
                .verdict
                .expires_at
                .is_none_or(|at| at > SystemTime::now())
        {
            return (Ok(entry.verdict), Lookup::Hit);
        }
        let ttl = self.ttl;
        let result = self
            .entries
            .try_get_with(key, async move {
                let verdict = fetch.await?;
                Ok::<_, Denial>(Entry {
                    lifetime: lifetime(ttl, verdict.expires_at),
                    verdict: Arc::new(verdict),
                })
            })
            .await;
        match result {
            Ok(entry) => (Ok(entry.verdict), Lookup::Miss),
            Err(denial) => (Err(Denial::clone(&denial)), Lookup::Miss),
        }
    }
}

/// `ttl`, cut short by the session's own expiry (zero when already expired).
fn lifetime(ttl: Duration, expires_at: Option<SystemTime>) -> Duration {
    match expires_at {
        Some(at) => ttl.min(
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        ),
        None => ttl,
    }
}

/// Parses an RFC 3339 timestamp (`2026-11-28T13:00:00.123456Z`, `...+01:00`). The offset must
/// be `Z` or `±HH:MM`, as RFC 3339 writes it (jiff alone also reads ISO 8601's `+0100`).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    // jiff reads the wider ISO 8601 (a space for `T`, no seconds, basic format): RFC 3339
    // has the full `YYYY-MM-DDTHH:MM:SS` and an offset of `Z` or `±HH:MM`.
    let bytes = text.as_bytes();
    let date_time_ok = matches!(
        bytes,
        [
            _,
            _,
            _,
            _,
            b'-',
            _,
            _,
            b'-',
            _,
            _,
            b'T' | b't',
            _,
            _,
            b':',
            _,
            _,
            b':',
            _,
            _,
            ..
        ]
    );
    let offset_ok = matches!(
        bytes,
        [.., b'Z' | b'z'] | [.., b'+' | b'-', _, _, b':', _, _]
    );
    if !date_time_ok || !offset_ok {
        return None;
    }
    text.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn iso_8601_forms_outside_rfc3339_are_refused() {
        for text in [
            "2026-11-28T13:00Z",
            "2026-11-28 13:00:00Z",
            "20261128T130000Z",
            "2026-11-28T13:00:00+0100",
            "2026-11-28T13:00:00",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }

    #[test]
    fn rfc3339_timestamps_parse() {
        let t = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0.0));
        assert!(parse_rfc3339("0001-01-01T00:00:00Z").is_some_and(|t| t < UNIX_EPOCH));
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59.5Z"),
            UNIX_EPOCH.checked_sub(Duration::from_millis(500))
        );
        assert_eq!(t("2026-11-28T13:00:00Z"), Some(1_795_870_800.0));
        assert_eq!(t("2026-11-28T14:00:00+01:00"), Some(1_795_870_800.0));
        assert_eq!(t("2026-11-28T13:00:00.5Z"), Some(1_795_870_800.5));
        assert_eq!(
            t("2026-11-28T13:00:00.123456789Z").map(|x| (x * 10.0).round()),
            Some(17_958_708_001.0)
        );
        for bad in [
            "",
            "2026-11-28",
            "2026-13-01T00:00:00Z",
            "2026-11-28T13:00:00",
            "2026-11-28T13:00:00+0100",
            "x026-11-28T13:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn lifetime_never_passes_the_session_expiry() {
        let soon = SystemTime::now() + Duration::from_secs(2);
        assert!(lifetime(Duration::from_secs(60), Some(soon)) <= Duration::from_secs(2));
        assert_eq!(
            lifetime(Duration::from_secs(60), None),
            Duration::from_secs(60)
        );
        let past = SystemTime::now() - Duration::from_secs(1);
        assert_eq!(
            lifetime(Duration::from_secs(60), Some(past)),
            Duration::ZERO
        );
    }

    proptest::proptest! {
        /// `expires_at` comes from the session store's answer: any text is read without a
        /// panic, and an RFC 3339 time with any offset and fraction gives its instant.
        #[test]
        fn expires_at_parses_exactly_rfc3339(
            garbage in ".{0,40}",
            seconds in 0i64..4_000_000_000,
            nanos in 0i32..1_000_000_000,
            offset_minutes in -1439i32..=1439,
            precision in 0usize..=9,
        ) {
            let _ = parse_rfc3339(&garbage);
            let nanos = nanos - nanos % 10i32.pow(9 - precision as u32);
            let t = jiff::Timestamp::new(seconds, nanos).unwrap();
            let offset = jiff::tz::Offset::from_seconds(offset_minutes * 60).unwrap();
            let text = format!("{:.precision$}", t.display_with_offset(offset));
            proptest::prop_assert_eq!(parse_rfc3339(&text), Some(SystemTime::from(t)), "{}", text);
        }
    }
}
