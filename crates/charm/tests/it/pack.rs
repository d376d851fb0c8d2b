//! `charm/pack`: the .charm archive holds the metadata, a manifest and an executable `dispatch`.

use std::path::Path;
use std::process::Command;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[test]
fn pack_builds_a_charm_archive_with_an_executable_dispatch() {
    let scratch = tempfile::tempdir().unwrap();
    let archive = scratch.path().join("oathkeeper.charm");
    let packed = Command::new(Path::new(ROOT).join("charm/pack"))
        .arg("-o")
        .arg(&archive)
        .arg(env!("CARGO_BIN_EXE_oathkeeper-charm"))
        .output()
        .unwrap();
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    // Read it back with Python's zipfile (what charmcraft and Juju's tooling use).
    let listing = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             print(json.dumps({i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}))",
        )
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let modes: std::collections::BTreeMap<String, u32> =
        serde_json::from_slice(&listing.stdout).unwrap();
    let names: Vec<&str> = modes.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "actions.yaml",
            "config.yaml",
            "dispatch",
            "manifest.yaml",
            "metadata.yaml"
        ]
    );
    assert_eq!(modes["dispatch"] & 0o111, 0o111, "dispatch is executable");
    let metadata = std::fs::read_to_string(Path::new(ROOT).join("metadata.yaml")).unwrap();
    assert!(metadata.contains("name: oathkeeper"));
}
