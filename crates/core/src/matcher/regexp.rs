//! The `regexp` strategy: each `<...>` section is a regular expression and a capture group.
//!
//! Upstream runs .NET-style `regexp2`; here a pattern runs on the linear-time `regex` crate
//! whenever it can, and on `fancy-regex` (bounded by [`super::BACKTRACK_LIMIT`] steps) only when
//! it needs lookaround, as the charm's deny rules do (`<(?!/welcome((/.*$)|$)).*>`).
//! Compilation lives in [`super::UrlMatcher::compile`]; this module documents the strategy.
