//! The agent socket: how `fake-hook-tool` hands an invocation to the harness, the way Juju's
//! hook tools hand theirs to the unit agent (`$JUJU_AGENT_SOCKET_ADDRESS`, spec §2).
//!
//! One request per connection, one JSON line each way: the tool sends a [`Request`], the
//! harness answers a [`Reply`](crate::tools::Reply). The server owns the [`Session`] on its own
//! thread, so calls are handled strictly in order and no lock is needed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::session::Session;
use crate::tools::{self, Reply};

/// How long one tool connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What travels from the tool to the harness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Request {
    /// A hook-tool invocation.
    Call {
        /// `$JUJU_CONTEXT_ID` as the tool saw it.
        context_id: String,
        /// The tool name (argv\[0\]'s file name).
        tool: String,
        /// The arguments.
        args: Vec<String>,
        /// Standard input, when the tool was given `--file -`.
        stdin: Option<String>,
    },
    /// The hook is over: the server stops and hands back the session.
    Finish {
        /// Must match the session's context id.
        context_id: String,
    },
}

/// A running agent socket.
#[derive(Debug)]
pub struct AgentServer {
    socket: PathBuf,
    context_id: String,
    thread: JoinHandle<Session>,
}

impl AgentServer {
    /// Serves `session` on a new socket at `socket`.
    pub fn start(
        socket: &Path,
        context_id: &str,
        session: Session,
    ) -> std::io::Result<AgentServer> {
        let listener = UnixListener::bind(socket)?;
        let expected = context_id.to_owned();
        let thread = std::thread::Builder::new()
            .name("agent-socket".to_owned())
            .spawn(move || serve(&listener, &expected, session))?;
        Ok(AgentServer {
            socket: socket.to_owned(),
            context_id: context_id.to_owned(),
            thread,
        })
    }

    /// Stops serving and returns the session with everything the hook did.
    pub fn finish(self) -> std::io::Result<Session> {
        let request = Request::Finish {
            context_id: self.context_id.clone(),
        };
        send(&self.socket, &request)?;
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("the agent socket thread panicked"))
    }
}

fn serve(listener: &UnixListener, context_id: &str, mut session: Session) -> Session {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let Ok(request) = read_request(&stream) else {
            continue;
        };
        let reply = match request {
            Request::Finish { context_id: id } if id == context_id => {
                let _ = write_reply(&stream, &Reply::ok(""));
                return session;
            }
            Request::Finish { .. } => Reply::fail("bad request: unknown context"),
            Request::Call {
                context_id: id,
                tool,
                args,
                stdin,
            } => {
                if id == context_id {
                    tools::run(
                        &mut session,
                        &tool,
                        &args,
                        stdin.as_deref().map(str::as_bytes),
                    )
                } else {
                    Reply::fail(&format!("bad request: unknown context {id:?}"))
                }
            }
        };
        let _ = write_reply(&stream, &reply);
    }
    session
}

fn read_request(stream: &UnixStream) -> std::io::Result<Request> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    serde_json::from_str(&line).map_err(std::io::Error::other)
}

fn write_reply(mut stream: &UnixStream, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}

/// Sends one request and reads the reply (what `fake-hook-tool` does).
pub fn send(socket: &Path, request: &Request) -> std::io::Result<Reply> {
    let mut stream = UnixStream::connect(socket)?;
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer)?;
    serde_json::from_str(&answer).map_err(std::io::Error::other)
}
