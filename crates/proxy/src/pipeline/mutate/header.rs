//! `header`: one answer header per configured template (`X-User: {{ print .Subject }}`).

use std::collections::BTreeMap;

use http::HeaderName;
use serde::Deserialize;

use crate::pipeline::{CompileCx, Denial, OriginalRequest, Session};

/// Wire config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Header name → template.
    headers: BTreeMap<String, String>,
}

/// The compiled mutator: header names prebuilt, templates parsed.
#[derive(Debug)]
pub struct Header {
    headers: super::Templates<HeaderName>,
}

impl Header {
    /// Compiles from the merged config; a bad header name or template is an error.
    pub fn compile(config: &serde_json::Value, cx: &mut CompileCx) -> Result<Header, String> {
        let c: Config = crate::pipeline::decode("header", config)?;
        let headers = super::compile_templates("header", &c.headers, cx, |name| {
            HeaderName::try_from(name).ok()
        })?;
        Ok(Header { headers })
    }

    /// Renders every header into the session, sanitised as upstream's Go server writes it
    /// (`header_value`). An empty value still sets the header.
    pub fn mutate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        buffer: &mut String,
    ) -> Result<(), Denial> {
        for (name, template) in self.headers.iter() {
            super::render("header", name, template, request, session, buffer)?;
            session
                .header
                .insert(name.clone(), super::header_value(buffer));
        }
        Ok(())
    }
}
