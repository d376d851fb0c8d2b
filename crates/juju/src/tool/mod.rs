//! Hook tools (spec/juju-runtime.md §2), sans-I/O.
//!
//! Each family module ([`status`], [`relation`], [`config`], [`leader`], [`action`], [`log`],
//! [`port`], [`secret`], [`state`], [`application`], [`network`]) has, per tool, a pure argv
//! builder (`*_args`, the full argv with the tool name first, exactly as ops 3.x sends it) and
//! a pure output parser (`parse_*`). A [`Runner`] executes an argv; [`ProcessRunner`] runs the
//! real tools, tests pass a fake. [`HookTools`] ties the three together behind typed methods.
//!
//! Failures are classified once, by [`classify`], from the tool's exit code and Juju's exact
//! `ERROR ...` texts (§2.1, §2.3) into [`Error`].

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub mod action;
pub mod application;
pub mod config;
mod hook_tools;
pub mod leader;
pub mod log;
pub mod network;
pub mod port;
pub mod relation;
pub mod secret;
pub mod state;
pub mod status;

pub use hook_tools::HookTools;

/// `--format=json`, passed to every tool that prints something.
pub const FORMAT_JSON: &str = "--format=json";
/// Ends flags; ops puts it before free-text messages.
pub const END_OF_FLAGS: &str = "--";
/// The exit code of flag-parsing and `Init` errors; run errors exit 1.
pub const USAGE_EXIT_CODE: i32 = 2;
/// The prefix of every error line a hook tool prints on stderr.
pub const ERROR_PREFIX: &str = "ERROR ";

/// Stderr texts that classify an error (§2.1, §2.3).
mod text {
    pub(super) const RELATION_NOT_FOUND: &str = "relation not found";
    pub(super) const NO_RELATION_ID: &str = "no relation id specified";
    pub(super) const NOT_THE_LEADER: &str = "not the leader";
    pub(super) const CANNOT_WRITE_RELATION_SETTINGS: &str = "cannot write relation settings";
    pub(super) const PERMISSION_DENIED: &str = "permission denied";
    pub(super) const ACCESS_DENIED: &str = "access denied";
    pub(super) const NOT_RUNNING_AN_ACTION: &str = "not running an action";
    pub(super) const NOT_FOUND: &str = "not found";
    pub(super) const NO_CREDENTIALS: &str = "cannot access cloud credentials";
    pub(super) const SECRET_TOOL_PREFIX: &str = "secret-";
}

/// What a finished hook tool left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `128 + signal` when a signal killed it.
    pub status: i32,
    /// Everything it printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything it printed on stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// A successful run that printed `stdout`.
    pub fn success(stdout: impl Into<Vec<u8>>) -> Output {
        Output {
            status: 0,
            stdout: stdout.into(),
            stderr: Vec::new(),
        }
    }

    /// A failed run: exit `status`, `stderr` as the tool printed it (`ERROR ...\n`).
    pub fn failure(status: i32, stderr: impl Into<Vec<u8>>) -> Output {
        Output {
            status,
            stdout: Vec::new(),
            stderr: stderr.into(),
        }
    }
}

/// Runs one hook tool: the seam between the pure builders/parsers and the process world.
pub trait Runner {
    /// Runs `tool` with `args` (argv without the tool name), feeding `stdin` when given, and
    /// returns how it ended. An `Err` means the tool could not be run at all; a tool that ran
    /// and failed is an `Ok` with a non-zero status.
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> std::io::Result<Output>;
}

impl<R: Runner + ?Sized> Runner for &R {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> std::io::Result<Output> {
        (**self).run(tool, args, stdin)
    }
}

/// Runs hook tools as child processes with [`std::process::Command`].
///
/// The child inherits this process's environment, which carries the hook context
/// (`JUJU_CONTEXT_ID`, the agent socket) the tools need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessRunner {
    dir: Option<PathBuf>,
}

impl ProcessRunner {
    /// Finds tools on `$PATH`, where Juju puts them during a hook.
    pub fn new() -> ProcessRunner {
        ProcessRunner { dir: None }
    }

    /// Runs the tools in `dir` instead of searching `$PATH`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> ProcessRunner {
        ProcessRunner {
            dir: Some(dir.into()),
        }
    }
}

impl Runner for ProcessRunner {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> std::io::Result<Output> {
        let program = match &self.dir {
            Some(dir) => dir.join(tool),
            None => PathBuf::from(tool),
        };
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pipe = child.stdin.take();
        let output = std::thread::scope(|scope| {
            if let (Some(mut pipe), Some(data)) = (pipe, stdin) {
                // Written from a second thread so a tool that prints before it has read all
                // of stdin cannot deadlock us. A write error means the tool exited early; its
                // exit status tells the story, so the error itself is dropped.
                scope.spawn(move || {
                    let _ = pipe.write_all(data);
                });
            }
            child.wait_with_output()
        })?;
        Ok(Output {
            status: exit_code(output.status),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => -1,
    }
}

/// Why a hook tool call failed.
///
/// Every variant names the tool; those that come from Juju carry its message (stderr without
/// the `ERROR ` prefix).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The relation (`-r`) is unknown or broken: `relation not found`.
    #[error("{tool}: relation not found: {message}")]
    RelationNotFound {
        /// The tool.
        tool: String,
        /// Juju's message.
        message: String,
    },
    /// No `-r` outside a relation hook: `no relation id specified`.
    #[error("{tool}: no relation id specified")]
    NoRelationId {
        /// The tool.
        tool: String,
    },
    /// A leader-only operation by a non-leader: `... not the leader`, or
    /// `cannot write relation settings` from `relation-set --app`.
    #[error("{tool}: this unit is not the leader: {message}")]
    NotLeader {
        /// The tool.
        tool: String,
        /// Juju's message.
        message: String,
    },
    /// The controller refused: `permission denied` / `access denied` (e.g. reading the own app
    /// databag as a non-leader, managing an app-owned secret as a non-leader).
    #[error("{tool}: permission denied: {message}")]
    PermissionDenied {
        /// The tool.
        tool: String,
        /// Juju's message.
        message: String,
    },
    /// An action tool outside an action: `not running an action`.
    #[error("{tool}: not running an action")]
    NotInAction {
        /// The tool.
        tool: String,
    },
    /// A `secret-*` tool found no such secret.
    #[error("{tool}: secret not found: {message}")]
    SecretNotFound {
        /// The tool.
        tool: String,
        /// Juju's message.
        message: String,
    },
    /// `credential-get` without trust: `cannot access cloud credentials`.
    #[error("{tool}: not trusted: {message}")]
    Untrusted {
        /// The tool.
        tool: String,
        /// Juju's message.
        message: String,
    },
    /// Any other failure, with the exit code (2 for bad usage, 1 for run errors).
    #[error("{tool} failed with exit code {status}: {message}")]
    Failed {
        /// The tool.
        tool: String,
        /// The exit code.
        status: i32,
        /// Juju's message (stderr, trimmed, without the `ERROR ` prefix).
        message: String,
    },
    /// An argument was refused before running the tool, with the text Juju would print.
    #[error("{tool}: invalid argument: {message}")]
    InvalidArgument {
        /// The tool.
        tool: String,
        /// What is wrong.
        message: String,
    },
    /// The tool could not be started (not on `$PATH`, not executable).
    #[error("cannot run {tool}: {source}")]
    Spawn {
        /// The tool.
        tool: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The tool succeeded but printed something this library cannot read.
    #[error("cannot read the output of {tool}: {message}")]
    InvalidOutput {
        /// The tool.
        tool: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The tool that failed.
    pub fn tool(&self) -> &str {
        match self {
            Error::RelationNotFound { tool, .. }
            | Error::NoRelationId { tool }
            | Error::NotLeader { tool, .. }
            | Error::PermissionDenied { tool, .. }
            | Error::NotInAction { tool }
            | Error::SecretNotFound { tool, .. }
            | Error::Untrusted { tool, .. }
            | Error::Failed { tool, .. }
            | Error::InvalidArgument { tool, .. }
            | Error::Spawn { tool, .. }
            | Error::InvalidOutput { tool, .. } => tool,
        }
    }

    pub(crate) fn invalid_output(tool: &str, message: impl std::fmt::Display) -> Error {
        Error::InvalidOutput {
            tool: tool.to_owned(),
            message: message.to_string(),
        }
    }

    pub(crate) fn invalid_argument(tool: &str, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            tool: tool.to_owned(),
            message: message.into(),
        }
    }
}

/// Juju's message in `stderr`: the last `ERROR ` line without its prefix, else all of stderr,
/// trimmed. Earlier lines may be notes (`--format flag deprecated ...`).
pub fn error_message(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .rev()
        .find_map(|line| line.strip_prefix(ERROR_PREFIX))
        .unwrap_or(&text)
        .trim()
        .to_owned()
}

/// Classifies a failed run of `tool` (a non-zero `output.status`) into an [`Error`].
///
/// Precedence, most specific first: not running an action; relation not found; no relation
/// id; `secret-*` not found; not the leader / cannot write relation settings; permission or
/// access denied; no cloud credentials; anything else is [`Error::Failed`] with the exit code.
pub fn classify(tool: &str, output: &Output) -> Error {
    let message = error_message(&output.stderr);
    let tool = tool.to_owned();
    let has = |needle: &str| message.contains(needle);
    if has(text::NOT_RUNNING_AN_ACTION) {
        Error::NotInAction { tool }
    } else if has(text::RELATION_NOT_FOUND) {
        Error::RelationNotFound { tool, message }
    } else if has(text::NO_RELATION_ID) {
        Error::NoRelationId { tool }
    } else if tool.starts_with(text::SECRET_TOOL_PREFIX) && has(text::NOT_FOUND) {
        Error::SecretNotFound { tool, message }
    } else if has(text::NOT_THE_LEADER) || has(text::CANNOT_WRITE_RELATION_SETTINGS) {
        Error::NotLeader { tool, message }
    } else if has(text::PERMISSION_DENIED) || has(text::ACCESS_DENIED) {
        Error::PermissionDenied { tool, message }
    } else if has(text::NO_CREDENTIALS) {
        Error::Untrusted { tool, message }
    } else {
        Error::Failed {
            tool,
            status: output.status,
            message,
        }
    }
}

/// Parses `stdout` of `tool` as JSON into `T`.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    tool: &str,
    stdout: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(stdout).map_err(|e| Error::invalid_output(tool, e))
}

/// The argv `[tool, args...]`.
pub(crate) fn argv<const N: usize>(tool: &str, args: [&str; N]) -> Vec<String> {
    std::iter::once(tool)
        .chain(args)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
