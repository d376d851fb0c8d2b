//! Integration tests of the harness: real processes, real sockets, real clients.

// Test helpers outside #[test] functions unwrap too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod certificates;
mod k8s;
mod ops;
mod pebble;
mod run;
mod support;
