//! `fake-hook-tool`: the harness's multicall hook tool. Installed under every tool name
//! (`relation-get`, `status-set`, ...), it forwards its argv (and stdin for `--file -`) to the
//! harness over `$JUJU_AGENT_SOCKET_ADDRESS`, then prints the answer and exits with its code,
//! exactly as Juju's hook tools forward to the unit agent.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use harness::protocol::{Request, send};
use juju::env::{JUJU_AGENT_SOCKET_ADDRESS, JUJU_CONTEXT_ID};

fn main() -> ExitCode {
    let mut argv = std::env::args();
    let tool = argv
        .next()
        .as_deref()
        .and_then(|path| Path::new(path).file_name()?.to_str().map(str::to_owned))
        .unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let (Ok(socket), Ok(context_id)) = (
        std::env::var(JUJU_AGENT_SOCKET_ADDRESS),
        std::env::var(JUJU_CONTEXT_ID),
    ) else {
        eprintln!(
            "ERROR {JUJU_CONTEXT_ID} or {JUJU_AGENT_SOCKET_ADDRESS} not set: not in a hook context"
        );
        return ExitCode::from(1);
    };
    let reads_stdin = args
        .windows(2)
        .any(|pair| pair[0] == "--file" && pair[1] == "-")
        || args.iter().any(|arg| arg == "--file=-");
    let stdin = if reads_stdin {
        let mut text = String::new();
        if let Err(error) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("ERROR cannot read stdin: {error}");
            return ExitCode::from(1);
        }
        Some(text)
    } else {
        None
    };
    let request = Request::Call {
        context_id,
        tool,
        args,
        stdin,
    };
    match send(Path::new(&socket), &request) {
        Ok(reply) => {
            let _ = std::io::stdout().write_all(reply.stdout.as_bytes());
            let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
            ExitCode::from(u8::try_from(reply.code).unwrap_or(1))
        }
        Err(error) => {
            eprintln!("ERROR cannot reach the agent at {socket}: {error}");
            ExitCode::from(1)
        }
    }
}
