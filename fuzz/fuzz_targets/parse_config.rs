//! `oathkeeper.yaml` is rendered by the charm and edited by operators. `parse_config` must turn
//! any text into a config or an error (no panic, no hang), and a config it accepts must read
//! back the same after serialising it: the charm builds `Config` values and writes them out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oathkeeper_core::config::{NoEnv, parse_config};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = parse_config(text, &NoEnv) else {
        return;
    };
    let json = serde_json::to_string(&config)
        .unwrap_or_else(|e| panic!("an accepted config does not serialise: {e}"));
    let again = parse_config(&json, &NoEnv)
        .unwrap_or_else(|e| panic!("a serialised config does not parse again: {e}\n{json}"));
    assert_eq!(
        again, config,
        "config changed through serialisation\n{json}"
    );
});
