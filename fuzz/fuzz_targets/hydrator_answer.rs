//! The `hydrator` mutator's API answers with a session whose `extra` and `header` replace the
//! proxy's. Input: the session's subject, a newline, then the API's 200 answer body
//! (`hydrator::read_hydrator_answer`).
//!
//! Properties of an accepted answer, re-checked on the JSON: it keeps the subject (`subject`
//! is the session's; absent only for an empty one); the extra is `extra` (none when absent or
//! `null`); every header comes from `header`, with as many values as it lists under that name
//! (names compared as HTTP does, case-insensitively), each value free of control bytes but tab
//! and of leading or trailing spaces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oathkeeper::pipeline::mutate::hydrator::read_hydrator_answer;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some(newline) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let Ok(subject) = std::str::from_utf8(&data[..newline]) else {
        return;
    };
    let body = &data[newline + 1..];
    let Ok((extra, headers)) = read_hydrator_answer(body, subject) else {
        return;
    };
    let Some(answer) = json(body) else {
        return;
    };
    match answer.get("subject") {
        Some(Value::String(s)) => assert_eq!(s, subject, "another subject accepted"),
        None => assert!(subject.is_empty(), "no subject accepted for {subject:?}"),
        Some(other) => panic!("subject {other} accepted"),
    }
    match answer.get("extra") {
        None | Some(Value::Null) => assert!(extra.is_none(), "{extra:?} from no extra"),
        Some(e) => assert_eq!(extra.as_deref(), Some(e)),
    }
    let listed = answer.get("header").and_then(Value::as_object);
    let mut expected = 0;
    for (name, values) in listed.into_iter().flatten() {
        let values = values.as_array().expect("header values are a list");
        expected += values.len();
        let sent: usize = listed
            .into_iter()
            .flatten()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            headers.get_all(name.as_str()).iter().count(),
            sent,
            "values of {name}"
        );
    }
    assert_eq!(headers.len(), expected, "headers from nowhere");
    for value in headers.values() {
        let bytes = value.as_bytes();
        assert!(
            bytes
                .iter()
                .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
            "{value:?}"
        );
        assert!(
            !bytes.first().is_some_and(|b| matches!(b, b' ' | b'\t'))
                && !bytes.last().is_some_and(|b| matches!(b, b' ' | b'\t')),
            "{value:?} is padded"
        );
    }
});

/// The answer as JSON, when serde_json reads it whole. Invalid UTF-8 becomes U+FFFD first:
/// serde_json skips a field the reader ignores without checking its bytes (Go's decoder, which
/// replaces them, accepts it too); it also skips an ignored number too large for an `f64`
/// (`1e400`), which `Value` refuses: such an answer is accepted as upstream accepts it, and
/// its properties are not re-checked.
fn json(body: &[u8]) -> Option<Value> {
    serde_json::from_str(&String::from_utf8_lossy(body)).ok()
}
