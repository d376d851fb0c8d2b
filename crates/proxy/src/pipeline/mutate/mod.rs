//! Mutators: turn the session into the headers of the 200 answer. All run, in order.

pub mod cookie;
pub mod header;
pub mod noop;

use super::{CompileCx, Denial, OriginalRequest, Session};

/// A compiled mutator.
#[derive(Debug)]
pub enum Mutator {
    /// `noop`.
    Noop,
    /// `header`.
    Header(header::Header),
    /// `cookie`.
    Cookie(cookie::Cookie),
}

/// Every mutator id this server implements.
pub const IMPLEMENTED: &[&str] = &["noop", "header", "cookie"];

impl Mutator {
    /// Compiles mutator `id` from its merged config.
    pub fn compile(
        id: &str,
        config: &serde_json::Value,
        cx: &mut CompileCx,
    ) -> Result<Self, String> {
        match id {
            "noop" => super::no_config(id, config).map(|()| Mutator::Noop),
            "header" => header::Header::compile(config, cx).map(Mutator::Header),
            "cookie" => cookie::Cookie::compile(config, cx).map(Mutator::Cookie),
            other => Err(super::unsupported("mutator", other)),
        }
    }

    /// Adds this mutator's headers to the session.
    pub fn mutate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        buffer: &mut String,
    ) -> Result<(), Denial> {
        match self {
            // Differs from upstream: upstream copies every client request header into the
            // answer here, and a proxy then forwards a client's own `X-User` to the app.
            Mutator::Noop => Ok(()),
            Mutator::Header(h) => h.mutate(request, session, buffer),
            Mutator::Cookie(c) => c.mutate(request, session, buffer),
        }
    }
}
