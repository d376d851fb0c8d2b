//! `charm-harness`: run a compiled charm for one event against the harness's emulators.
//!
//! `charm-harness run --charm-dir DIR --state in.json --event EVENT [--relation ID]
//! [--remote-unit U] [--departing-unit U] [--action NAME --params JSON] [--env K=V]...
//! [--timeout DURATION] [--live-pebble] [--exec CONTAINER=JSON]... --out out.json`
//! writes the new State to `--out` and prints the side-effect log (exit code, statuses,
//! juju-log lines, action results, tool calls) as JSON on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use harness::charm;
use harness::event::{ActionCall, Notice};
use harness::pebble::{Exec, LiveOptions, Mode};
use harness::{Context, Event, State};
use serde_json::{Map, Value};

#[derive(Parser)]
#[command(
    name = "charm-harness",
    version,
    about = "Run a compiled Juju charm for one event"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one event on a State document.
    Run(Box<RunArgs>),
    /// Assembles a runnable charm directory: the metadata files of a source directory and a
    /// compiled binary linked as `dispatch`.
    PackDir(PackArgs),
}

#[derive(clap::Args)]
struct PackArgs {
    /// Where `metadata.yaml`, `config.yaml`, `actions.yaml` (or `charmcraft.yaml`) are.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The charm binary, linked (absolute symlink) as `dispatch`.
    #[arg(long, value_name = "BINARY")]
    dispatch: PathBuf,
    /// The charm directory to create (it may exist; the files are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn pack_dir(args: &PackArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut copied = 0;
    for name in [
        charm::METADATA_YAML,
        charm::CONFIG_YAML,
        charm::ACTIONS_YAML,
        charm::CHARMCRAFT_YAML,
    ] {
        let from = args.from.join(name);
        if from.is_file() {
            std::fs::copy(&from, args.out.join(name))
                .with_context(|| format!("cannot copy {}", from.display()))?;
            copied += 1;
        }
    }
    anyhow::ensure!(
        copied > 0,
        "no metadata.yaml or charmcraft.yaml in {}",
        args.from.display()
    );
    let binary = std::path::absolute(&args.dispatch)?;
    anyhow::ensure!(binary.is_file(), "no charm binary at {}", binary.display());
    let dispatch = args.out.join(charm::DISPATCH);
    if dispatch.symlink_metadata().is_ok() {
        std::fs::remove_file(&dispatch)
            .with_context(|| format!("cannot replace {}", dispatch.display()))?;
    }
    std::os::unix::fs::symlink(&binary, &dispatch)
        .with_context(|| format!("cannot link {}", dispatch.display()))?;
    // What Context::new reads must load.
    harness::charm::Charm::load(&args.out)?;
    println!("{}", args.out.display());
    Ok(())
}

#[derive(clap::Args)]
struct RunArgs {
    /// The charm directory (metadata.yaml, config.yaml, actions.yaml, dispatch).
    #[arg(long)]
    charm_dir: PathBuf,
    /// The input State (JSON); an empty State when omitted.
    #[arg(long)]
    state: Option<PathBuf>,
    /// The hook (`install`, `db-relation-changed`, `web-pebble-ready`...).
    #[arg(long, required_unless_present = "action")]
    event: Option<String>,
    /// The relation id, for relation hooks.
    #[arg(long)]
    relation: Option<u64>,
    /// The remote unit, for relation-joined/changed/departed.
    #[arg(long)]
    remote_unit: Option<String>,
    /// The departing unit, for relation-departed.
    #[arg(long)]
    departing_unit: Option<String>,
    /// The Pebble check, for check-failed/recovered.
    #[arg(long)]
    check: Option<String>,
    /// The secret URI, for secret hooks.
    #[arg(long)]
    secret: Option<String>,
    /// The secret revision, for secret-expired and secret-remove.
    #[arg(long, requires = "secret")]
    secret_revision: Option<u64>,
    /// The notice key, for <container>-pebble-custom-notice (type `custom`).
    #[arg(long)]
    notice_key: Option<String>,
    /// The notice id, with --notice-key.
    #[arg(long, default_value = "1", requires = "notice_key")]
    notice_id: String,
    /// Runs this action instead of a hook.
    #[arg(long, conflicts_with = "event")]
    action: Option<String>,
    /// The action parameters, a JSON object.
    #[arg(long, requires = "action")]
    params: Option<String>,
    /// Where to write the output State (JSON).
    #[arg(long)]
    out: Option<PathBuf>,
    /// An environment variable for the charm process, `KEY=VALUE` (repeatable; applied over
    /// the hook environment Juju sets).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// How long the hook may run before it is killed (`90`, `90s`, `500ms`, `2m`, `1h`;
    /// a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    timeout: Duration,
    /// Runs the Pebble services of the State's containers as host processes (commands
    /// looked up on `PATH`) instead of only recording their status.
    #[arg(long)]
    live_pebble: bool,
    /// A canned exec result added to a container of the State, `CONTAINER=JSON` with the
    /// JSON an `execs` item (repeatable; it replaces a result of the same prefix). Gives a State
    /// recorded elsewhere a workload binary identity without editing it, e.g.
    /// `--exec 'oathkeeper={"command_prefix":["oathkeeper","version"],"stdout":"Version: v0.40.6\n"}'`.
    #[arg(long = "exec", value_name = "CONTAINER=JSON", value_parser = parse_exec)]
    exec: Vec<(String, Exec)>,
}

fn parse_exec(text: &str) -> Result<(String, Exec), String> {
    let (container, json) = text
        .split_once('=')
        .filter(|(container, _)| !container.is_empty())
        .ok_or_else(|| format!("expected CONTAINER=JSON, got {text:?}"))?;
    let exec = serde_json::from_str(json).map_err(|error| format!("{json:?}: {error}"))?;
    Ok((container.to_owned(), exec))
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration like 90s, 500ms, 2m or 1h, got {text:?}"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("unknown duration unit {other:?} (ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text:?}: {error}"))
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => run(*args),
        Command::PackDir(args) => pack_dir(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("charm-harness: {}", chain(&error));
            ExitCode::from(64)
        }
    }
}

/// The error and its causes, each cause once: errors of the library already end with their
/// source's text, which a plain `{:#}` would print again.
fn chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.ends_with(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut state: State = match &args.state {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("invalid State in {}", path.display()))?
        }
        None => State::default(),
    };
    for (name, exec) in args.exec {
        let container = state
            .containers
            .get_mut(&name)
            .with_context(|| format!("--exec: no container {name:?} in the State"))?;
        // The longest matching prefix answers; among equal ones the last given.
        container
            .execs
            .retain(|old| old.command_prefix != exec.command_prefix);
        container.execs.push(exec);
    }
    let mut event = match &args.action {
        Some(name) => {
            let params: Map<String, Value> = match &args.params {
                Some(text) => {
                    serde_json::from_str(text).context("--params must be a JSON object")?
                }
                None => Map::new(),
            };
            Event {
                name: name.clone(),
                action: Some(ActionCall {
                    params,
                    ..ActionCall::default()
                }),
                ..Event::default()
            }
        }
        None => Event::hook(args.event.as_deref().unwrap_or_default()),
    };
    event.relation = args.relation;
    event.remote_unit = args.remote_unit;
    event.departing_unit = args.departing_unit;
    event.check = args.check;
    event.secret = args.secret;
    event.secret_revision = args.secret_revision;
    event.notice = args.notice_key.map(|key| Notice {
        id: args.notice_id.clone(),
        kind: "custom".to_owned(),
        key,
    });
    let mut context = Context::new(&args.charm_dir)?.timeout(args.timeout);
    for (key, value) in &args.env {
        context = context.env(key, value);
    }
    if args.live_pebble {
        context = context.pebble_mode(Mode::Live(LiveOptions::default()));
    }
    let outcome = context.run(&state, &event)?;
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&outcome.state)?;
        std::fs::write(out, text + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let mut log = serde_json::to_value(&outcome)?;
    if let Value::Object(map) = &mut log {
        map.remove("state");
    }
    println!("{}", serde_json::to_string_pretty(&log)?);
    Ok(if outcome.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
