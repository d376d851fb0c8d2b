//! Shared by the harness's integration tests: the hook-tool binary, a context, a dispatch file,
//! the `greet` action both test charms define.

use std::path::{Path, PathBuf};

use harness::{Context, Event, Outcome, State};
use serde_json::{Map, json};

/// The `fake-hook-tool` binary cargo built for these tests.
pub fn hook_tool() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-hook-tool"))
}

/// A harness context for the charm in `dir`, using [`hook_tool`].
pub fn context(dir: &Path) -> Context {
    Context::new(dir).unwrap().hook_tool(&hook_tool())
}

/// Writes `script` as the charm's executable `dispatch` in `dir`.
pub fn write_dispatch(dir: &Path, script: &str) {
    let dispatch = dir.join("dispatch");
    std::fs::write(&dispatch, script).unwrap();
    let mut perms = std::fs::metadata(&dispatch).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&dispatch, perms).unwrap();
}

/// Runs the test charm's `greet` action in `dir` with param `name`, on an empty state.
pub fn greet(dir: &Path, name: &str) -> Outcome {
    let params = Map::from_iter([("name".to_owned(), json!(name))]);
    context(dir)
        .run(&State::default(), &Event::action("greet", params))
        .unwrap()
}

/// The `charm-harness` CLI, finding the hook tool as the tests build it.
pub fn harness_cli() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_charm-harness"));
    command.env("HARNESS_HOOK_TOOL", hook_tool());
    command
}

/// Insists a CLI run exited 0, showing its stderr otherwise.
pub fn assert_succeeded(result: &std::process::Output) {
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}
