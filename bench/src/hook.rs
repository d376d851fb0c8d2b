//! `loadbench hook`: wall time of the charm's hooks under the harness, against a baseline in the
//! same run: a no-op `dispatch` under the same harness (what the harness itself costs).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use harness::pebble::ContainerState;
use harness::{Context, Event, Relation, State};

/// The repository root (metadata.yaml, config.yaml, actions.yaml).
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn charm_dir(dispatch: &Path, link: bool) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    for file in ["metadata.yaml", "config.yaml", "actions.yaml"] {
        std::fs::copy(Path::new(ROOT).join(file), dir.path().join(file))
            .with_context(|| format!("copy {file}"))?;
    }
    if link {
        std::os::unix::fs::symlink(dispatch, dir.path().join("dispatch"))?;
    } else {
        let noop = dir.path().join("dispatch");
        std::fs::write(&noop, "#!/bin/sh\nexit 0\n")?;
        let mut perms = std::fs::metadata(&noop)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&noop, perms)?;
    }
    Ok(dir)
}

fn median(
    context: &Context,
    state: &State,
    event: &Event,
    runs: usize,
) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let outcome = context.run(state, event)?;
        times.push(started.elapsed());
        if !outcome.succeeded() {
            bail!("hook {} failed: {}", event.name, outcome.stderr);
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// A leader with the tutorial's relations, converged (every hook after the first only reads).
fn tutorial_state(context: &Context) -> anyhow::Result<State> {
    let mut state = State::default()
        .leader(true)
        .container("oathkeeper", ContainerState::default())
        .relation(Relation {
            remote_units: Default::default(),
            ..Relation::new("oathkeeper", 1, "oathkeeper")
        })
        .relation(Relation::new("kratos-info", 2, "kratos").remote_app_data([
            (
                "sessions_endpoint",
                "http://kratos.iam.svc.cluster.local:4433/sessions/whoami",
            ),
            (
                "login_browser_endpoint",
                "https://iam.example.com/self-service/login/browser",
            ),
        ]))
        .relation(
            Relation::new("forward-auth", 3, "traefik-public")
                .remote_app_data([("ingress_app_names", r#"["spark-history-server"]"#)]),
        )
        .relation(
            Relation::new("auth-proxy", 4, "spark-history-server").remote_app_data([
                (
                    "protected_urls",
                    r#"["https://iam.example.com/iam-spark-history-server"]"#,
                ),
                ("headers", r#"["X-User", "X-Email"]"#),
                ("allowed_endpoints", "[]"),
            ]),
        );
    state.model.name = "iam".to_owned();
    for event in [
        Event::hook("config-changed"),
        Event::pebble_ready("oathkeeper"),
    ] {
        let outcome = context.run(&state, &event)?;
        if !outcome.succeeded() {
            bail!("setting up: hook {} failed: {}", event.name, outcome.stderr);
        }
        state = outcome.state;
    }
    Ok(state)
}

/// Runs the hook benchmark and prints the table.
pub(crate) fn run(charm: &Path, hook_tool: &Path, runs: usize) -> anyhow::Result<()> {
    let charm = std::fs::canonicalize(charm).with_context(|| {
        format!(
            "{}: build it with cargo build --release -p oathkeeper-charm",
            charm.display()
        )
    })?;
    let hook_tool: PathBuf = std::fs::canonicalize(hook_tool).with_context(|| {
        format!(
            "{}: build it with cargo build --release -p juju-harness",
            hook_tool.display()
        )
    })?;
    let real_dir = charm_dir(&charm, true)?;
    let noop_dir = charm_dir(&charm, false)?;
    let real = Context::new(real_dir.path())?.hook_tool(&hook_tool);
    let noop = Context::new(noop_dir.path())?.hook_tool(&hook_tool);
    let state = tutorial_state(&real)?;
    let follower = state.clone().leader(false);
    let baseline = median(&noop, &state, &Event::hook("update-status"), runs)?;
    println!("hook wall time under the harness, median of {runs} runs");
    println!("| hook | median | minus the no-op baseline |");
    println!("|---|---|---|");
    println!("| no-op dispatch (baseline: the harness itself) | {baseline:.1?} | - |");
    for (label, state, event) in [
        (
            "update-status, leader, converged",
            &state,
            Event::hook("update-status"),
        ),
        (
            "update-status, non-leader",
            &follower,
            Event::hook("update-status"),
        ),
        (
            "auth-proxy-relation-changed, leader",
            &state,
            Event::relation("auth-proxy", "changed", 4),
        ),
    ] {
        let time = median(&real, state, &event, runs)?;
        println!(
            "| {label} | {time:.1?} | {:.1?} |",
            time.saturating_sub(baseline)
        );
    }
    Ok(())
}
