//! `oathkeeper rules|health|version` against a running server, as the charm's actions run them.

use crate::server::charm_files;
use crate::support::{Server, run_cli};

#[test]
fn rules_list_and_get_print_json() {
    let dir = charm_files("http://127.0.0.1:9");
    let s = Server::start(&dir.path().join("oathkeeper.yaml"));
    let endpoint = format!("http://127.0.0.1:{}", s.api.port());
    let (code, out, _) = run_cli(&["rules", "list", "--endpoint", &endpoint, "--limit", "2"]);
    assert_eq!(code, 0);
    let rules: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rules.as_array().unwrap().len(), 2);
    // The endpoint may also come before the subcommand, as in upstream's docs.
    let (code, out, _) = run_cli(&["rules", "--endpoint", &endpoint, "get", "requirer:0:deny"]);
    assert_eq!(code, 0);
    let rule: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rule["id"], "requirer:0:deny");
    let (code, _, err) = run_cli(&["rules", "get", "nope", "--endpoint", &endpoint]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Could not get rule"),
        "the charm's get-rule action looks for this text: {err}"
    );
}

#[test]
fn health_exit_codes_tell() {
    let dir = charm_files("http://127.0.0.1:9");
    let s = Server::start(&dir.path().join("oathkeeper.yaml"));
    let endpoint = format!("http://127.0.0.1:{}", s.api.port());
    assert_eq!(run_cli(&["health", "alive", "--endpoint", &endpoint]).0, 0);
    assert_eq!(run_cli(&["health", "ready", "--endpoint", &endpoint]).0, 0);
    drop(s);
    assert_eq!(
        run_cli(&["health", "alive", "--endpoint", &endpoint]).0,
        1,
        "nothing listens any more"
    );
}

#[test]
fn version_prints_the_version() {
    let (code, out, _) = run_cli(&["version"]);
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
}
