//! Leadership: `is-leader` (spec/juju-runtime.md §2.2). Works in every hook; Juju guarantees
//! the answer for 30 s.

use super::{Error, FORMAT_JSON, argv, parse_json};

/// `is-leader`.
pub const IS_LEADER: &str = "is-leader";

/// `is-leader --format=json`.
pub fn is_leader_args() -> Vec<String> {
    argv(IS_LEADER, [FORMAT_JSON])
}

/// Parses `true` / `false`.
pub fn parse_is_leader(stdout: &[u8]) -> Result<bool, Error> {
    parse_json(IS_LEADER, stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_leader_asks_for_json() {
        assert_eq!(is_leader_args(), ["is-leader", "--format=json"]);
    }

    #[test]
    fn is_leader_output_is_a_json_boolean() {
        assert!(parse_is_leader(b"true\n").unwrap());
        assert!(!parse_is_leader(b"false\n").unwrap());
        assert!(matches!(
            parse_is_leader(b"True\n"),
            Err(Error::InvalidOutput { .. })
        ));
    }
}
