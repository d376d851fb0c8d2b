//! `oathkeeper-charm`, packed as `dispatch`: runs the charm in this process's Juju context.

use std::process::ExitCode;

use oathkeeper_charm::hook;

fn main() -> ExitCode {
    match hook::run_in_process() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = ExitCode::from(error.exit_code());
            eprintln!("oathkeeper-charm: {:#}", anyhow::Error::new(error));
            code
        }
    }
}
