//! `oathkeeper-charm`, packed as `dispatch`: reads the Juju context and runs the charm.
//!
//! The I/O shell (observe through hook tools, Pebble and Kubernetes; apply the effects) is
//! not wired yet: the binary reads the context and says so.

use std::process::ExitCode;

/// Exit code for a context this binary cannot run in.
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    match juju::env::JujuEnv::from_process() {
        Ok(env) => {
            eprintln!(
                "oathkeeper-charm: {} dispatched {:?} for {}: the I/O shell is not wired yet",
                env.unit, env.dispatch_path, env.app
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("oathkeeper-charm: not running under Juju: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
