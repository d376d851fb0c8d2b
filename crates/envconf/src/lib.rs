//! Configuration values as the Go programs we stand in for spell them, shared by the server's
//! config (`oathkeeper-core`) and the charm runtime (`juju`), which must not depend on each other.
//!
//! - [`Source`]: where environment variables come from — the process ([`ProcessEnv`]), a map
//!   in tests, or nothing ([`NoEnv`]); tests never set process variables.
//! - [`parse_duration`]: Go's `time.ParseDuration` text (`300ms`, `1m30s`, `1.5h`), as
//!   Oathkeeper's config and Pebble's layers write timeouts and periods.

mod duration;

pub use duration::{DurationError, parse_duration};

use std::collections::{BTreeMap, HashMap};

/// Where environment variables come from.
pub trait Source {
    /// The value of variable `key`, if set.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

/// No environment at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnv;

impl Source for NoEnv {
    fn get(&self, _key: &str) -> Option<String> {
        None
    }
}

impl Source for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_no_env_answer_lookups() {
        let map = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(Source::get(&map, "A").as_deref(), Some("1"));
        assert_eq!(Source::get(&map, "B"), None);
        let hash: HashMap<String, String> = map.into_iter().collect();
        assert_eq!(Source::get(&hash, "A").as_deref(), Some("1"));
        assert_eq!(NoEnv.get("PATH"), None);
    }
}
