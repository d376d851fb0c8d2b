//! An Ory Oathkeeper-compatible forward-auth decision server.
//!
//! A reverse proxy (Traefik's ForwardAuth, Caddy's `forward_auth`, nginx's `auth_request`) asks
//! `/decisions` about every request to a protected app; the server finds the one access rule
//! for the original URL, runs its pipeline and answers 200 with identity headers, or denies.
//!
//! Start at [`serve::run`]. The request path is [`http::api`] → [`decision::decide`] →
//! [`pipeline::Pipeline::run`], reading one immutable [`snapshot::Snapshot`] that
//! [`reload`] swaps when the config or rule files change. Rule and config formats, matchers
//! and the rule index live in `oathkeeper-core`.

pub mod audit;
pub mod cli;
pub mod decision;
pub mod denial;
pub mod http;
pub mod jwks;
pub mod k8s;
pub mod matching;
pub mod metrics;
pub mod outbound;
pub mod pipeline;
pub mod reload;
pub mod serve;
pub mod settings;
pub mod snapshot;
pub mod template;
#[cfg(test)]
mod testing;
pub mod tls;
pub mod traces;
