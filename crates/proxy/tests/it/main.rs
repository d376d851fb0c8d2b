//! Integration tests of the decision server: the library against a fake Kratos, and the real
//! `oathkeeper` binary over loopback HTTP.

// Test helpers outside #[test] functions unwrap too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod audit;
mod cli;
mod client_credentials;
mod hardening;
mod hydrator;
mod id_token;
mod introspection;
mod jwt;
mod k8s;
mod metrics;
mod reload;
mod remote_authz;
mod remote_rules;
mod robustness;
mod server;
mod session;
mod support;
mod tls;
mod traces;
