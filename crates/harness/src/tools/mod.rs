//! The emulated hook tools (spec/juju-runtime.md §2): one function per tool, taking the argv
//! the charm sent and answering with Juju's output, `ERROR <message>` texts and exit codes
//! (2 for usage errors, 1 for run errors). One file per Juju concept, mirroring `juju::tool`.
//!
//! The `fake-hook-tool` binary only forwards its argv here over the agent socket, so all the
//! behaviour is library code, tested in process.

use serde_json::Value;

use crate::session::{Session, ToolCall};

mod action;
mod config;
mod flags;
mod format;
mod leader;
mod log;
mod network;
mod port;
mod relation;
mod secret;
mod status;
mod unit_state;

use flags::{Args, Flag};
use format::Format;

/// What a tool answers: exit code, stdout, stderr.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Reply {
    /// Success printing `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Reply {
        Reply {
            code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// A usage error (exit 2): bad flags, bad arguments, checks done while parsing.
    pub fn usage(message: &str) -> Reply {
        Reply::error(2, message)
    }

    /// A run error (exit 1).
    pub fn fail(message: &str) -> Reply {
        Reply::error(1, message)
    }

    fn error(code: i32, message: &str) -> Reply {
        Reply {
            code,
            stdout: String::new(),
            stderr: format!("ERROR {message}\n"),
        }
    }
}

/// The result of a tool body: output on success, a [`Reply`] error otherwise.
type Outcome = Result<String, Reply>;

/// Every tool the harness emulates.
pub const TOOLS: &[&str] = &[
    "action-fail",
    "action-get",
    "action-log",
    "action-set",
    "application-version-set",
    "close-port",
    "config-get",
    "credential-get",
    "goal-state",
    "is-leader",
    "juju-log",
    "network-get",
    "open-port",
    "opened-ports",
    "relation-get",
    "relation-ids",
    "relation-list",
    "relation-model-get",
    "relation-set",
    "resource-get",
    "secret-add",
    "secret-get",
    "secret-grant",
    "secret-ids",
    "secret-info-get",
    "secret-remove",
    "secret-revoke",
    "secret-set",
    "state-delete",
    "state-get",
    "state-set",
    "status-get",
    "status-set",
];

/// Runs hook tool `tool` with `args` (and `stdin` when the charm sent `--file -`) against the
/// session, and records the call.
pub fn run(session: &mut Session, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Reply {
    let reply = match dispatch(session, tool, args, stdin) {
        Ok(stdout) => Reply::ok(stdout),
        Err(reply) => reply,
    };
    session.effects.tool_calls.push(ToolCall {
        tool: tool.to_owned(),
        args: args.to_vec(),
        stdin: stdin.map(|bytes| String::from_utf8_lossy(bytes).into_owned()),
        code: reply.code,
        stdout: reply.stdout.clone(),
        stderr: reply.stderr.clone(),
    });
    reply
}

fn dispatch(session: &mut Session, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Outcome {
    match tool {
        "is-leader" => leader::is_leader(session, args),
        "config-get" => config::config_get(session, args),
        "credential-get" => config::credential_get(session, args),
        "resource-get" => config::resource_get(session, args),
        "relation-ids" => relation::relation_ids(session, args),
        "relation-list" => relation::relation_list(session, args),
        "relation-get" => relation::relation_get(session, args),
        "relation-set" => relation::relation_set(session, args, stdin),
        "relation-model-get" => relation::relation_model_get(session, args),
        "goal-state" => relation::goal_state(session, args),
        "status-set" => status::status_set(session, args),
        "status-get" => status::status_get(session, args),
        "application-version-set" => status::application_version_set(session, args),
        "juju-log" => log::juju_log(session, args),
        "action-get" => action::action_get(session, args),
        "action-set" => action::action_set(session, args),
        "action-fail" => action::action_fail(session, args),
        "action-log" => action::action_log(session, args),
        "open-port" => port::open_port(session, args, true),
        "close-port" => port::open_port(session, args, false),
        "opened-ports" => port::opened_ports(session, args),
        "network-get" => network::network_get(session, args),
        "state-get" => unit_state::state_get(session, args),
        "state-set" => unit_state::state_set(session, args, stdin),
        "state-delete" => unit_state::state_delete(session, args),
        "secret-add" => secret::secret_add(session, args, stdin),
        "secret-get" => secret::secret_get(session, args),
        "secret-set" => secret::secret_set(session, args, stdin),
        "secret-remove" => secret::secret_remove(session, args),
        "secret-grant" => secret::secret_grant(session, args, true),
        "secret-revoke" => secret::secret_grant(session, args, false),
        "secret-ids" => secret::secret_ids(session, args),
        "secret-info-get" => secret::secret_info_get(session, args),
        other => Err(Reply::fail(&format!("unknown command {other:?}"))),
    }
}

/// Parses flags, then the `--format` value.
fn parse(args: &[String], flags: &[Flag]) -> Result<(Args, Format), Reply> {
    let parsed = flags::parse(args, flags)?;
    let format = Format::parse(parsed.value("format"))?;
    Ok((parsed, format))
}

/// Fails with exit 2 when more positionals than `max` were given.
fn at_most(args: &Args, max: usize) -> Result<(), Reply> {
    match args.positionals.get(max) {
        Some(extra) => Err(Reply::usage(&format!("unrecognized args: [{extra:?}]"))),
        None => Ok(()),
    }
}

/// Renders a JSON value in the requested format.
fn print(format: Format, value: &Value) -> Outcome {
    Ok(format.render(value))
}

/// The data of `--file -` or `--file <path>`, as a string map (Juju reads it as YAML, so JSON
/// works too).
fn read_file_flag(
    args: &Args,
    stdin: Option<&[u8]>,
) -> Result<Option<std::collections::BTreeMap<String, String>>, Reply> {
    let Some(file) = args.value("file") else {
        return Ok(None);
    };
    let text = if file == "-" {
        String::from_utf8_lossy(stdin.unwrap_or_default()).into_owned()
    } else {
        std::fs::read_to_string(file).map_err(|error| Reply::fail(&format!("{error}")))?
    };
    if text.trim().is_empty() {
        return Ok(Some(Default::default()));
    }
    let value: Value = serde_norway::from_str(&text)
        .map_err(|error| Reply::fail(&format!("cannot parse settings: {error}")))?;
    let Value::Object(map) = value else {
        return Err(Reply::fail("expected YAML map of settings"));
    };
    map.into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            Value::Null => Ok((key, String::new())),
            other => Ok((key, other.to_string())),
        })
        .collect::<Result<_, Reply>>()
        .map(Some)
}

/// `key=value` positionals into pairs; anything else is Juju's usage error.
fn key_values(positionals: &[String]) -> Result<Vec<(String, String)>, Reply> {
    positionals
        .iter()
        .map(|arg| {
            arg.split_once('=')
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| Reply::usage(&format!("expected \"key=value\", got {arg:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
