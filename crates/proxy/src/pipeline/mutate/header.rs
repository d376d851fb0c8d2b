//! `header`: one answer header per configured template (`X-User: {{ print .Subject }}`).

use http::HeaderName;

pub use oathkeeper_core::handler::header::Config;

use crate::pipeline::{CompileCx, CompileError, Denial, OriginalRequest, Session};

/// The compiled mutator: header names prebuilt, templates parsed.
#[derive(Debug)]
pub struct Header {
    headers: super::Templates<HeaderName>,
}

impl Header {
    /// Compiles from the decoded config; a bad header name or template is an error.
    pub fn compile(config: &Config, cx: &mut CompileCx) -> Result<Header, CompileError> {
        let headers =
            super::compile_templates("header", "headers", config.headers(), cx, |name| {
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
