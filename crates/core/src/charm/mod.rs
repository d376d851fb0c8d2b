//! The files our charm renders (spec §6 of `spec/charm-parity.md`): the access rules of an
//! auth-proxy app ([`rules`]) and `oathkeeper.yaml` ([`config`]).
//!
//! They live here, not in the charm crate, so that the server's tests and the benchmarks use
//! exactly what the charm deploys. Values in, typed rules and config out: no I/O.

pub mod config;
pub mod rules;

pub use config::{ConfigInputs, Repositories, oathkeeper_config};
pub use rules::{AppRules, METHODS, RuleError, app_rules};
