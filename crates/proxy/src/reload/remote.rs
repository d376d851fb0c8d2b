//! `http://` and `https://` rule repositories: fetched in the background and refreshed on an
//! interval, so a load only reads what the last fetch left (no network wait on the reload
//! thread, and an idle server's loads stay cheap).
//!
//! One task per repository URL, started the first time a load names it and stopped when the
//! config no longer does (`Remotes::retain`). Each task `GET`s the URL through the
//! [`crate::outbound`] policy (connect timeout 5 s, whole exchange [`FETCH_TIMEOUT`], body at
//! most [`crate::reload::MAX_SOURCE_BYTES`]), then again every refresh interval
//! ([`DEFAULT_REFRESH`], or `ACCESS_RULES_REFRESH_INTERVAL`), sending `If-None-Match` with the
//! last `ETag` and `If-Modified-Since` with the last `Last-Modified`: an unchanged repository
//! costs a `304` and no reload. Every change of what is known (new body, new failure, recovery)
//! bumps a generation (the loader's stamp) and wakes the reload loop.
//!
//! Differs from upstream: Ory fetches an http(s) repository once, at start and when the
//! repository list changes, and exits when it fails at start. Here it is refreshed, and a
//! failure — transport error, timeout, a status other than 200/304, an oversized body — is
//! the loader's usual failed source: the last good rules of that repository serve, the problem
//! is logged naming the URL, counted in `reload_errors_total{source=<url>}` and shown stale in
//! `/health/ready`. Until its first fetch ends, the repository is pending (not ready), as a
//! `k8s://` one before its first list; a first fetch that fails leaves it without rules, as a
//! missing file does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::{Notify, watch};

use crate::outbound::{self, Target};

/// Default time between two fetches of a repository.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);
/// Shortest refresh interval accepted.
pub const MIN_REFRESH: Duration = Duration::from_millis(100);
/// The environment variable that sets the refresh interval (a Go duration).
pub const REFRESH_ENV: &str = "ACCESS_RULES_REFRESH_INTERVAL";
/// Longest wait for one fetch, body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What is known of one repository.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    /// How many changes were published.
    pub(crate) generation: u64,
    /// The last body served with a 200 (kept for 304s); `None` before the first one.
    pub(crate) body: Option<Bytes>,
    /// The last fetch failed: why (naming the URL).
    pub(crate) error: Option<String>,
    /// A fetch has ended (with a body or an error).
    pub(crate) fetched: bool,
}

struct Watched {
    observed: watch::Receiver<Observed>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The fetch tasks of every http(s) repository of the config in use.
pub(crate) struct Remotes {
    watches: HashMap<String, Watched>,
    changed: Arc<Notify>,
    refresh: Duration,
}

impl std::fmt::Debug for Remotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remotes")
            .field("watched", &self.watches.keys().collect::<Vec<_>>())
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl Remotes {
    /// Tasks that wake `changed` on every change, fetching every `refresh`.
    pub(crate) fn new(changed: Arc<Notify>, refresh: Duration) -> Remotes {
        Remotes {
            watches: HashMap::new(),
            changed,
            refresh: refresh.max(MIN_REFRESH),
        }
    }

    /// The refresh interval `text` names (a Go duration), or why it cannot be used.
    pub(crate) fn parse_refresh(text: &str) -> Result<Duration, String> {
        let d = envconf::parse_duration(text).map_err(|e| e.to_string())?;
        if d < MIN_REFRESH {
            return Err(format!("must be at least {MIN_REFRESH:?}"));
        }
        Ok(d)
    }

    /// What is known of `url` now. The first call starts its task (on the current tokio
    /// runtime); until its first fetch ends, `fetched` is false.
    pub(crate) fn observe(&mut self, url: &str, target: &Target) -> Result<Observed, String> {
        if let Some(watched) = self.watches.get(url) {
            return Ok(watched.observed.borrow().clone());
        }
        let client = outbound::Client::shared(&outbound::Policy {
            connect_timeout: CONNECT_TIMEOUT,
            timeout: FETCH_TIMEOUT,
            max_body: usize::try_from(super::MAX_SOURCE_BYTES).unwrap_or(usize::MAX),
            extra_ca_files: Vec::new(),
        })
        .map_err(|e| format!("{url}: {e}"))?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("{url}: no runtime to fetch on: {e}"))?;
        let (tx, rx) = watch::channel(Observed::default());
        let task = handle.spawn(run(
            client,
            target.clone(),
            tx,
            Arc::clone(&self.changed),
            self.refresh,
        ));
        self.watches
            .insert(url.to_owned(), Watched { observed: rx, task });
        Ok(Observed::default())
    }

    /// The change count of `url`; `None` before its task starts.
    pub(crate) fn generation(&self, url: &str) -> Option<u64> {
        self.watches
            .get(url)
            .map(|watched| watched.observed.borrow().generation)
    }

    /// Stops the tasks of repositories no longer in `urls`.
    pub(crate) fn retain(&mut self, urls: &[&str]) {
        self.watches.retain(|url, _| urls.contains(&url.as_str()));
    }
}

/// Validators of the last 200, sent back as conditions.
#[derive(Debug, Default)]
struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

/// Fetches `target` now and then every `refresh`, until aborted.
async fn run(
    client: outbound::Client,
    target: Target,
    tx: watch::Sender<Observed>,
    changed: Arc<Notify>,
    refresh: Duration,
) {
    let mut validators = Validators::default();
    let mut ticks = tokio::time::interval(refresh);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let outcome = fetch(&client, &target, &mut validators).await;
        let publish = {
            let current = tx.borrow();
            match &outcome {
                Fetched::NotModified => current.error.is_some() || !current.fetched,
                Fetched::Body(body) => {
                    current.error.is_some() || current.body.as_ref() != Some(body)
                }
                Fetched::Failed(e) => current.error.as_ref() != Some(e),
            }
        };
        match &outcome {
            Fetched::Failed(e) => {
                tracing::warn!(repository = %target, error = %e, retry_in = ?refresh,
                    "cannot fetch the rules repository; keeping its last good rules")
            }
            Fetched::Body(_) if publish => {
                tracing::info!(repository = %target, "rules repository fetched")
            }
            _ => tracing::debug!(repository = %target, "rules repository unchanged"),
        }
        if !publish {
            continue;
        }
        tx.send_modify(|observed| {
            match outcome {
                Fetched::NotModified => observed.error = None,
                Fetched::Body(body) => {
                    observed.body = Some(body);
                    observed.error = None;
                }
                Fetched::Failed(e) => observed.error = Some(e),
            }
            observed.fetched = true;
            observed.generation += 1;
        });
        changed.notify_one();
    }
}

enum Fetched {
    NotModified,
    Body(Bytes),
    Failed(String),
}

/// One conditional `GET`.
async fn fetch(client: &outbound::Client, target: &Target, validators: &mut Validators) -> Fetched {
    let mut headers = HeaderMap::new();
    if let Some(etag) = &validators.etag {
        headers.insert(http::header::IF_NONE_MATCH, etag.clone());
    }
    if let Some(date) = &validators.last_modified {
        headers.insert(http::header::IF_MODIFIED_SINCE, date.clone());
    }
    let answer = match client.get(target, headers).await {
        Ok(answer) => answer,
        Err(e) => return Fetched::Failed(e.to_string()),
    };
    match answer.status {
        StatusCode::OK => {
            validators.etag = answer.headers.get(http::header::ETAG).cloned();
            validators.last_modified = answer.headers.get(http::header::LAST_MODIFIED).cloned();
            Fetched::Body(answer.body)
        }
        // Only a conditional request can be answered 304.
        StatusCode::NOT_MODIFIED
            if validators.etag.is_some() || validators.last_modified.is_some() =>
        {
            Fetched::NotModified
        }
        status => Fetched::Failed(format!(
            "GET {target}: answered {}, expected 200",
            status.as_u16()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_intervals_are_go_durations_of_at_least_100ms() {
        assert_eq!(
            Remotes::parse_refresh("1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            Remotes::parse_refresh("100ms").unwrap(),
            Duration::from_millis(100)
        );
        assert!(
            Remotes::parse_refresh("10ms")
                .unwrap_err()
                .contains("at least")
        );
        assert!(Remotes::parse_refresh("soon").is_err());
    }
}
