//! Rule files come from ConfigMaps that any requirer's relation data feeds, and from operators'
//! hands: JSON, YAML, or the Python-repr text the upstream charm writes. Whatever the bytes,
//! `parse_rules` must answer with rules or an error, never panic or hang; and rules it accepts
//! must survive the trip through `to_json` (what `/rules` serves and the charm writes back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oathkeeper_core::rule::{parse_rules, to_json};

fuzz_target!(|data: &[u8]| {
    let Ok(rules) = parse_rules(data) else {
        return;
    };
    let json = to_json(&rules);
    let again = parse_rules(json.as_bytes())
        .unwrap_or_else(|e| panic!("to_json output does not parse again: {e}\n{json}"));
    assert_eq!(
        again.len(),
        rules.len(),
        "rule count changed through to_json"
    );
    for (a, b) in rules.iter().zip(&again) {
        assert_eq!(a.id, b.id, "rule id changed through to_json");
        assert_eq!(a.matcher, b.matcher, "match block changed through to_json");
        assert_eq!(a.authorizer.handler, b.authorizer.handler);
    }
});
