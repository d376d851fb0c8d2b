//! The real `oathkeeper serve`, run directly (not through the charm's Pebble layer) on a
//! config file, listening on free loopback ports; killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::bins;
use crate::eventually;
use crate::http::free_port;

/// A running `oathkeeper serve -c <config>`.
pub struct DecisionServer {
    child: Child,
    api_port: u16,
    metrics_port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl DecisionServer {
    /// Starts `oathkeeper serve -c config` with the API and metrics on free ports (set through
    /// the environment, as upstream maps it) and waits up to 10 s for `alive(api_port)`.
    ///
    /// # Panics
    /// When it exits or does not become alive, with its log.
    pub fn start(config: &Path, alive: impl Fn(u16) -> bool) -> DecisionServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("oathkeeper.log");
        let api_port = free_port();
        let metrics_port = free_port();
        let child = Command::new(bins::path("oathkeeper"))
            .arg("serve")
            .arg("-c")
            .arg(config)
            .env("SERVE_API_HOST", "127.0.0.1")
            .env("SERVE_API_PORT", api_port.to_string())
            .env("SERVE_PROMETHEUS_HOST", "127.0.0.1")
            .env("SERVE_PROMETHEUS_PORT", metrics_port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start oathkeeper");
        let mut server = DecisionServer {
            child,
            api_port,
            metrics_port,
            log,
            _dir: dir,
        };
        let mut exited = false;
        let up = eventually(Duration::from_secs(10), || {
            exited = matches!(server.child.try_wait(), Ok(Some(_)));
            exited || alive(api_port)
        });
        assert!(
            up && !exited,
            "oathkeeper did not become alive (exited: {exited}):\n{}",
            server.log()
        );
        server
    }

    /// The API (decisions) port.
    pub fn api_port(&self) -> u16 {
        self.api_port
    }

    /// The metrics port (plain HTTP).
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DecisionServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
