//! Rule matching that never stalls the async workers.
//!
//! Why: a backtracking pattern (one with lookaround the linear engine cannot take over) can
//! take milliseconds per match, and the server has as many async workers as cores. Run on the
//! workers, a few dozen connections asking about such a rule would stall every other request.
//! (The charm's deny rule is not one: its lookahead opens the section, so it runs on the linear
//! engine with no budget at all; see [`oathkeeper_core::matcher`].) So a lookup first runs
//! inline with the tiny [`Budget::Inline`] budget, enough for ordinary lookaround on ordinary
//! URLs, and only the rules that exhaust it are re-run with
//! [`Budget::Full`] on tokio's blocking pool, at most [`Matching::concurrency`] at a time. The
//! requests waiting for that cap are parked futures: they hold no worker. Their number is
//! bounded too; past it a request is denied at once rather than queued.
//!
//! Patterns whose lookaheads rescan the URL on every backtracking step get smaller budgets of
//! both kinds ([`oathkeeper_core::matcher::Cost::ScanPerStep`]), so the inline run stays a few
//! microseconds and the full run a few milliseconds; patterns whose cost would grow with the
//! square of the URL without a step are refused at load.
//!
//! A rule that exhausts the full budget denies the request (500, as upstream's regexp timeout)
//! with a warning naming the pattern; a URL longer than [`MAX_URL_LEN`] is refused before any
//! pattern runs (400).
//!
//! The cap is process-wide ([`Matching::shared`]) because the resource it protects — CPU
//! cores — is: a cap per snapshot would double during a reload.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use oathkeeper_core::index::{FindError, Lookup, RuleIndex};
use oathkeeper_core::matcher::{Budget, MAX_URL_LEN, MatchError, Strategy, UrlMatcher};
use tokio::sync::Semaphore;

use crate::pipeline::Denial;

/// Most requests that may wait for the full-budget cap at once, per permit.
pub const WAITING_PER_PERMIT: usize = 128;

/// The reason given when too many requests wait for a backtracking match.
const OVERLOADED: &str = "too many requests wait for a backtracking rule match";

/// Runs rule lookups: inline when cheap, otherwise off the async workers under a cap.
#[derive(Debug)]
pub struct Matching {
    permits: Arc<Semaphore>,
    concurrency: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
}

static SHARED: LazyLock<Matching> = LazyLock::new(|| {
    // Half the cores: the other half keep serving the async workers at full speed.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let concurrency = (cores / 2).max(1);
    Matching::new(concurrency, concurrency * WAITING_PER_PERMIT)
});

impl Matching {
    /// At most `concurrency` full-budget matches at once (at least one), and at most
    /// `max_waiting` requests waiting for one.
    pub fn new(concurrency: usize, max_waiting: usize) -> Matching {
        let concurrency = concurrency.max(1);
        Matching {
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// The process-wide instance the decision API uses: half the cores (at least one), with
    /// [`WAITING_PER_PERMIT`] waiting requests per permit.
    pub fn shared() -> &'static Matching {
        &SHARED
    }

    /// How many full-budget matches may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How many requests wait for a full-budget match right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Finds the one rule matching `method` and `url`, or the denial.
    pub async fn find(&self, index: &RuleIndex, method: &str, url: &str) -> Result<usize, Denial> {
        match index.find_inline(method, url).map_err(find_denial)? {
            Lookup::Found(position) => Ok(position),
            Lookup::Undecided(undecided) => {
                tracing::debug!(
                    patterns = ?undecided.patterns().collect::<Vec<_>>(),
                    "rule match exceeded the inline budget; running it off the workers"
                );
                let url = url.to_owned();
                self.off_worker(move || undecided.finish(&url))
                    .await?
                    .map_err(find_denial)
            }
        }
    }

    /// The capture groups of `matcher` on `url` (the rule's match context), or the denial.
    pub async fn captures(
        &self,
        matcher: &UrlMatcher,
        url: &str,
        strategy: Strategy,
    ) -> Result<Vec<String>, Denial> {
        let mut groups = Vec::new();
        match matcher.captures_into_within(url, strategy, &mut groups, Budget::Inline) {
            Ok(()) => Ok(groups),
            Err(MatchError::OverInlineBudget) => {
                let (matcher, url) = (matcher.clone(), url.to_owned());
                self.off_worker(move || {
                    matcher
                        .captures_into_within(&url, strategy, &mut groups, Budget::Full)
                        .map(|()| groups)
                })
                .await?
                .map_err(|e| match_denial(&e))
            }
            Err(e) => Err(match_denial(&e)),
        }
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit moves into the
    /// blocking task, so a request that is dropped meanwhile (its client went away) still
    /// holds it until the work ends: the cap counts running matches, not waiting requests.
    async fn off_worker<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Denial> {
        let permit = {
            let _waiting = Waiting::enter(self)?;
            Arc::clone(&self.permits).acquire_owned().await
        };
        // invariant: the semaphore is never closed; a closed one would deny, not panic.
        let permit = permit.map_err(|_| Denial::internal("the rule matching pool is closed"))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| Denial::internal(format!("a rule match failed: {e}")))
    }
}

/// One request counted in [`Matching::waiting`] for as long as it lives (also when the
/// request's future is dropped while waiting).
struct Waiting<'a>(&'a Matching);

impl<'a> Waiting<'a> {
    fn enter(matching: &'a Matching) -> Result<Waiting<'a>, Denial> {
        let before = matching.waiting.fetch_add(1, Ordering::AcqRel);
        let waiting = Waiting(matching);
        if before >= matching.max_waiting {
            tracing::warn!(
                waiting = before,
                "{OVERLOADED}; request denied without matching"
            );
            return Err(Denial::internal(OVERLOADED));
        }
        Ok(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The denial for a failed lookup.
fn find_denial(e: FindError) -> Denial {
    match e {
        FindError::NoMatch => Denial::no_rule(),
        FindError::Ambiguous { .. } => Denial::ambiguous(),
        FindError::Match(e) => match_denial(&e),
        FindError::UrlTooLong { len } => {
            tracing::debug!(len, max = MAX_URL_LEN, "URL too long to match");
            Denial::malformed(e.to_string())
        }
    }
}

/// The denial for a pattern that could not be evaluated.
fn match_denial(e: &MatchError) -> Denial {
    if let MatchError::BacktrackLimit { pattern } = e {
        tracing::warn!(%pattern, "rule match exceeded the backtracking limit; request denied");
    }
    Denial::internal(e.to_string())
}

#[cfg(test)]
mod tests;
