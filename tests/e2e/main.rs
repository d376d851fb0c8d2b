//! End to end: the tutorial's flow with the charm under the harness, the real `oathkeeper`
//! server started by the charm's own Pebble layer, and real Traefik (as the Traefik charm
//! configures it), Caddy and nginx in front; and the API over HTTPS behind them (`tls`).

// Test helpers outside #[test] functions unwrap too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod bypass;
mod flow;
mod tls;
mod traefik;
mod tutorial;
mod tutorial_tls;
