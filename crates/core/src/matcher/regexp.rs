//! The `regexp` strategy: each `<...>` section is a regular expression and a capture group.
//!
//! Upstream runs .NET-style `regexp2` under a 250 ms timeout per match; here a pattern runs on
//! the linear-time `regex` crate whenever it can. That includes the charm's deny rules
//! (`<(?!/welcome((/.*$)|$)).*>`): lookaheads that open a section are tested as anchored
//! prefixes on the same crate. Other lookaround runs on `fancy-regex`, bounded by step budgets
//! scaled to how often a lookahead scans the text ([`super::Cost`]); constructs that invite
//! unbounded backtracking, or a scanning lookahead inside a repetition, are refused at load
//! ([`super::PatternError::Unsupported`]). Compilation lives in [`super::UrlMatcher::compile`];
//! this module documents the strategy.
