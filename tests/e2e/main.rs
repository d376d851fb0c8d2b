//! End to end (see lib).
#![allow(clippy::unwrap_used, unreachable_pub)]
