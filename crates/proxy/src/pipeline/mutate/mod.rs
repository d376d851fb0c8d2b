//! Mutators: turn the session into the headers of the 200 answer. All run, in order.

pub mod cookie;
pub mod header;
pub mod noop;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::Arc;

use super::{CompileCx, Denial, OriginalRequest, Session, TemplateView};
use crate::template::Template;

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

/// Templates by the name they set (a header name, a cookie name).
pub(crate) type Templates<K> = Box<[(K, Arc<Template>)]>;

/// Parses a `name → template` map of mutator `mutator`, turning each name into a `K` with
/// `key`; errors name the mutator and the entry.
pub(crate) fn compile_templates<K>(
    mutator: &str,
    entries: &BTreeMap<String, String>,
    cx: &mut CompileCx,
    key: impl Fn(&str) -> Option<K>,
) -> Result<Templates<K>, String> {
    entries
        .iter()
        .map(|(name, source)| {
            let k = key(name)
                .ok_or_else(|| format!("mutator \"{mutator}\": invalid name \"{name}\""))?;
            let template = cx
                .template(source)
                .map_err(|e| format!("mutator \"{mutator}\": \"{name}\": {e}"))?;
            Ok((k, template))
        })
        .collect()
}

/// Renders `template` for the request into `buffer` (cleared first).
pub(crate) fn render(
    mutator: &str,
    name: &impl Display,
    template: &Template,
    request: &OriginalRequest<'_>,
    session: &Session,
    buffer: &mut String,
) -> Result<(), Denial> {
    buffer.clear();
    template
        .render(&TemplateView::new(session, request), buffer)
        .map_err(|e| Denial::internal(format!("mutator \"{mutator}\": {name}: {e}")))
}
