//! `oathkeeper-charm`, packed as `dispatch`: reads the Juju context once and runs the charm.

use std::process::ExitCode;

use oathkeeper_charm::hook::{Exit, run};
use oathkeeper_charm::io::Io;

/// Exit code for a context this binary cannot run in.
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let env = match juju::env::JujuEnv::from_process() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("oathkeeper-charm: not running under Juju: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let io = match Io::from_process(env) {
        Ok(io) => io,
        Err(e) => {
            eprintln!("oathkeeper-charm: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&io) {
        Exit::Success => ExitCode::SUCCESS,
        Exit::Retry => ExitCode::FAILURE,
    }
}
