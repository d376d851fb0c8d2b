//! The retrying `POST` every handler with upstream's `retry` option shares (introspection and
//! client-credentials grants, remote authorizers, the hydrator): `max_delay` is the longest
//! pause between attempts, `give_up_after` the budget of the whole call, retries included.
//! Pauses start at [`RetryPolicy::first_pause`] and double up to `max_delay`; a call stops at the
//! first outcome its caller does not retry, after [`RetryPolicy::max_attempts`], or when the next
//! pause would end past the deadline. Which outcomes are retried is the caller's.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use http_body_util::Full;

use super::{Answer, CallError, Client, Problem, Target};

/// How one call is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first pause between two attempts; each next one doubles, up to `max_delay`.
    pub first_pause: Duration,
    /// The longest pause between two attempts.
    pub max_delay: Duration,
    /// The budget of the whole call (what a timeout reports).
    pub give_up_after: Duration,
    /// Most attempts (`u32::MAX`: only the budget bounds them).
    pub max_attempts: u32,
    /// Whether an outcome is retried (else it is the call's).
    pub retries: fn(&Result<Answer, CallError>) -> bool,
}

/// The usual retry predicate: a 5xx answer or a transport failure.
pub fn server_error_or_transport(outcome: &Result<Answer, CallError>) -> bool {
    match outcome {
        Ok(answer) => answer.status.is_server_error(),
        Err(e) => matches!(e.problem, Problem::Transport(_)),
    }
}

impl Client {
    /// Sends `POST uri` (`target`'s, or built from it: errors name `target`) with `headers`
    /// and `body` until `policy` does not retry an outcome, the attempts run out or the next
    /// pause would end past `deadline`; gives the last outcome. No time left is a
    /// [`Problem::Timeout`] of `give_up_after`.
    pub async fn post_retrying(
        &self,
        target: &Target,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        policy: &RetryPolicy,
        deadline: Instant,
    ) -> Result<Answer, CallError> {
        let mut pause = policy.first_pause;
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timed_out = || CallError {
                method: Method::POST,
                url: target.to_string(),
                problem: Problem::Timeout(policy.give_up_after),
            };
            if remaining.is_zero() {
                return Err(timed_out());
            }
            let mut request = http::Request::new(Full::new(body.clone()));
            *request.method_mut() = Method::POST;
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            let outcome = tokio::time::timeout(remaining, self.send(request, target))
                .await
                .map_err(|_| timed_out())
                .and_then(|r| r);
            let wait = pause.min(policy.max_delay);
            if !(policy.retries)(&outcome)
                || attempt >= policy.max_attempts
                || Instant::now() + wait >= deadline
            {
                return outcome;
            }
            tokio::time::sleep(wait).await;
            pause = pause.saturating_mul(2);
            attempt += 1;
        }
    }
}
