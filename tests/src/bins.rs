//! The workspace binaries under test, found where `cargo test --workspace` builds them: next to
//! the test executable's `deps/` directory.

use std::path::PathBuf;

/// The path of workspace binary `name` (`oathkeeper`, `oathkeeper-charm`, `fake-hook-tool`).
///
/// # Panics
/// When it has not been built, naming the command that builds it.
pub fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let found = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!("binary {name} is not built: run `cargo build --workspace --bins` (./test.sh does)")
    })
}
