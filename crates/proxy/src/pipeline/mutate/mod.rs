//! Mutators: turn the session into the headers of the 200 answer. All run, in order.
//!
//! Rendered values come from the session (a user's own Kratos traits, say), so they may hold
//! any text. They are made into header values the way upstream's Go server writes them
//! (`header_value`) rather than refused: a name with a newline in it must not lock its owner
//! out with a 500.

pub mod cookie;
pub mod header;
pub mod hydrator;
pub mod id_token;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::Arc;

use http::HeaderValue;
use oathkeeper_core::handler::{Family, KeyError, MutatorConfig};

use super::{CompileCx, CompileError, Denial, OriginalRequest, Session, TemplateView};
use crate::template::Template;

/// A compiled mutator.
#[derive(Debug)]
pub enum Mutator {
    /// `noop`: adds no header.
    ///
    /// Differs from upstream: upstream answers with every header of the client's request, so a
    /// client-sent `X-User` on an allowed endpoint would reach the protected app through the
    /// proxy's copy of the answer headers. Here the answer carries only headers that a handler
    /// set.
    Noop,
    /// `header`.
    Header(header::Header),
    /// `cookie`.
    Cookie(cookie::Cookie),
    /// `id_token`.
    IdToken(id_token::IdToken),
    /// `hydrator`.
    Hydrator(Box<hydrator::Hydrator>),
}

impl Mutator {
    /// Compiles mutator `id` from its merged config.
    pub fn compile(
        id: &str,
        config: &serde_json::Value,
        cx: &mut CompileCx,
    ) -> Result<Self, CompileError> {
        let typed = MutatorConfig::decode(id, config)
            .map_err(|e| CompileError::config(Family::Mutator, id, e))?;
        Ok(match typed {
            MutatorConfig::Noop => Mutator::Noop,
            MutatorConfig::Header(c) => Mutator::Header(header::Header::compile(&c, cx)?),
            MutatorConfig::Cookie(c) => Mutator::Cookie(cookie::Cookie::compile(&c, cx)?),
            MutatorConfig::IdToken(c) => Mutator::IdToken(id_token::IdToken::compile(&c, cx)?),
            MutatorConfig::Hydrator(c) => {
                Mutator::Hydrator(Box::new(hydrator::Hydrator::compile(&c)?))
            }
        })
    }

    /// Adds this mutator's headers to the session (`hydrator` calls its API: the only one
    /// that waits).
    pub async fn mutate(
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
            Mutator::IdToken(t) => t.mutate(request, session, buffer),
            // Boxed: its call's state would grow every decision's future, hydrator or not.
            Mutator::Hydrator(h) => Box::pin(h.mutate(request, session)).await,
        }
    }
}

/// Templates by the name they set (a header name, a cookie name).
pub(crate) type Templates<K> = Box<[(K, Arc<Template>)]>;

/// Parses the `name → template` map (key `key`, as its accessor gave it) of mutator `mutator`,
/// turning each name into a `K` with `name`; errors name the mutator and the key or entry.
pub(crate) fn compile_templates<K>(
    mutator: &str,
    key: &str,
    entries: Result<&BTreeMap<String, String>, KeyError>,
    cx: &mut CompileCx,
    name: impl Fn(&str) -> Option<K>,
) -> Result<Templates<K>, CompileError> {
    entries
        .map_err(|e| CompileError::config(Family::Mutator, mutator, e.into()))?
        .iter()
        .map(|(entry, source)| {
            let k = name(entry).ok_or_else(|| {
                CompileError::invalid_key(Family::Mutator, mutator, key, entry, "invalid name")
            })?;
            let template = cx
                .template(source)
                .map_err(|source_error| CompileError::Template {
                    family: Family::Mutator,
                    id: mutator.to_owned(),
                    name: entry.clone(),
                    template: source.clone(),
                    source: Box::new(source_error),
                })?;
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

/// Rendered text as a header value, sanitised as Go's `net/http` does when it writes a header
/// (upstream's answers): `\r` and `\n` become spaces, then leading and trailing spaces and tabs
/// are trimmed. Never fails, and copies nothing beyond the value itself when the text is clean.
///
/// Differs from upstream: Go writes NUL and the other control bytes as they are, and the proxy
/// then fails on the answer (Go's client, which Traefik uses, rejects the whole answer as a
/// malformed header line). Here they become spaces too, like `\r` and `\n`: a header cannot
/// carry them, and the app receives the rest of the value.
pub(crate) fn header_value(text: &str) -> HeaderValue {
    if let Ok(value) = HeaderValue::from_str(text.trim_matches(is_ows)) {
        return value;
    }
    // Only control bytes make a value invalid (bytes >= 0x80 are obs-text and allowed), so after
    // replacing them every byte is valid.
    let spaced: String = text
        .chars()
        .map(|c| if is_forbidden(c) { ' ' } else { c })
        .collect();
    HeaderValue::from_str(spaced.trim_matches(is_ows))
        // invariant: `spaced` holds no control byte but tab, so it is a valid value.
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether `c` is optional whitespace around a header value (space or tab).
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Whether `c` cannot appear in a header value: a control byte other than tab.
fn is_forbidden(c: char) -> bool {
    c.is_ascii_control() && c != '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_sanitised_as_go_writes_them() {
        let cases = [
            ("Ann", "Ann"),
            ("Ann\nX-Admin: yes", "Ann X-Admin: yes"),
            ("Ann\r\nX-Admin: yes", "Ann  X-Admin: yes"),
            ("a\rb", "a b"),
            ("  padded\t", "padded"),
            ("\nAnn\r\n", "Ann"),
            ("a\tb", "a\tb"),
            ("nul\0byte", "nul byte"),
            ("bell\u{7}del\u{7f}", "bell del"),
            ("Zoë Åberg", "Zoë Åberg"),
            ("\n\r\0", ""),
            ("", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(
                header_value(text).as_bytes(),
                expected.as_bytes(),
                "{text:?}"
            );
        }
    }
}
