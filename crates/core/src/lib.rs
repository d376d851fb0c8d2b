//! Formats and matching shared by the oathkeeper charm and the decision server.
//!
//! This crate holds what the charm writes and the server reads: the access-rule file format
//! ([`rule`]), the `oathkeeper.yaml` config format ([`config`]), the rules and config our charm
//! renders ([`charm`]), the global ⊕ rule handler config merge ([`merge`]), the URL a request is
//! matched as ([`candidate`]), the `<...>` pattern matchers ([`matcher`]) and the rule index that
//! finds the one rule for a URL ([`index`]).
//!
//! It does no I/O: no files, sockets, clocks or environment. Start with [`rule::parse_rules`],
//! [`config::parse_config`] and [`index::RuleIndex::build`].

pub mod candidate;
pub mod charm;
pub mod config;
pub mod duration;
pub mod gjson;
pub mod handler;
pub mod index;
pub mod matcher;
pub mod merge;
pub mod rule;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
