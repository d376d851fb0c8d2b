//! The charm directory (the repository's metadata with the built binary as `dispatch`) and
//! State builders.

use std::path::Path;

use harness::pebble::ContainerState;
use harness::{Context, Event, Outcome, Relation, State};

/// The workspace root, where metadata.yaml, config.yaml and actions.yaml live.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A charm directory: the repository's metadata and the built binary as `dispatch`.
pub fn charm_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["metadata.yaml", "config.yaml", "actions.yaml"] {
        std::fs::copy(Path::new(ROOT).join(file), dir.path().join(file)).unwrap();
    }
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_oathkeeper-charm"),
        dir.path().join("dispatch"),
    )
    .unwrap();
    dir
}

/// A harness context for the charm in `dir`.
pub fn context(dir: &Path) -> Context {
    Context::new(dir).unwrap()
}

/// A deployed unit: model `iam`, the `oathkeeper` container up, the peer relation, trusted.
pub fn deployed(leader: bool) -> State {
    let mut state = State::default()
        .leader(leader)
        .container("oathkeeper", ContainerState::default())
        .relation(Relation {
            remote_units: Default::default(),
            ..Relation::new("oathkeeper", 1, "oathkeeper")
        });
    state.model.name = "iam".to_owned();
    state
}

/// Runs `event` and insists the hook succeeded.
pub fn run_ok(dir: &Path, state: &State, event: &Event) -> Outcome {
    let outcome = context(dir).run(state, event).unwrap();
    assert!(
        outcome.succeeded(),
        "hook {} failed ({}): {}\n{:#?}",
        event.name,
        outcome.exit_code,
        outcome.stderr,
        outcome
            .effects
            .tool_calls
            .iter()
            .filter(|c| c.code != 0)
            .collect::<Vec<_>>()
    );
    outcome
}
