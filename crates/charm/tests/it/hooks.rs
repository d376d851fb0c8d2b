//! Hooks end to end through the harness.

use harness::Event;

use crate::support::*;

#[test]
fn config_changed_on_a_trusted_leader_writes_the_configmaps_and_starts_the_workload() {
    let dir = charm_dir();
    let out = run_ok(dir.path(), &deployed(true), &Event::hook("config-changed"));
    println!("{:#?}", out.state.unit_status);
    println!("{}", serde_json::to_string_pretty(&out.state.kubernetes).unwrap());
    println!("{}", serde_json::to_string_pretty(&out.state.containers).unwrap());
    panic!("look");
}
