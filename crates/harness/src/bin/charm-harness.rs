//! `charm-harness`: run a compiled charm for one event against the harness's emulators.
//!
//! `charm-harness run --charm-dir DIR --state in.json --event EVENT [--relation ID]
//! [--remote-unit U] [--departing-unit U] [--action NAME --params JSON] --out out.json`
//! writes the new State to `--out` and prints the side-effect log (exit code, statuses,
//! juju-log lines, action results, tool calls) as JSON on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use harness::event::ActionCall;
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
    Run(RunArgs),
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
    /// Runs this action instead of a hook.
    #[arg(long, conflicts_with = "event")]
    action: Option<String>,
    /// The action parameters, a JSON object.
    #[arg(long, requires = "action")]
    params: Option<String>,
    /// Where to write the output State (JSON).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let Cli {
        command: Command::Run(args),
    } = Cli::parse();
    match run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("charm-harness: {error:#}");
            ExitCode::from(64)
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let state: State = match &args.state {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("invalid State in {}", path.display()))?
        }
        None => State::default(),
    };
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
    let context = Context::new(&args.charm_dir)?;
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
