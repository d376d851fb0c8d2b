//! Support for the end-to-end suite: the binaries under test, a small blocking HTTP client and
//! server, a fake Kratos, an upstream that echoes the headers (and the raw request target) it
//! receives, a recording relay to see what a proxy asks the decision server, and real Traefik
//! (configured as the Traefik charm renders it), Caddy and nginx processes as forward-auth
//! proxies, each stopped gracefully with nothing of it left running; the server run directly and
//! a test CA for the API over HTTPS.
//!
//! Everything binds 127.0.0.1 on free ports and every wait has a timeout.

pub mod bins;
pub mod deployment;
pub mod http;
pub mod kratos;
pub mod proxies;
pub mod relay;
pub mod server;
pub mod tls;
pub mod traefik;
pub mod upstream;

use std::time::{Duration, Instant};

/// Polls `check` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
