//! State-transition tests: the built `oathkeeper-charm` binary runs as `dispatch` under the
//! harness (fake hook tools, fake Pebble, fake Kubernetes API), hook by hook.

// Test helpers outside #[test] functions unwrap too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod actions;
mod alert_rules;
mod certificates;
mod dashboard;
mod hooks;
mod idempotence;
mod lifecycle;
mod observability;
mod pack;
mod refresh;
mod scrape;
mod support;
mod tracing;
