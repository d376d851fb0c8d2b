//! `header`: one answer header per configured template (`X-User: {{ print .Subject }}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::pipeline::{CompileCx, Denial, OriginalRequest, Session, TemplateView};
use crate::template::Template;

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
    headers: Box<[(HeaderName, Arc<Template>)]>,
}

impl Header {
    /// Compiles from the merged config; a bad header name or template is an error.
    pub fn compile(config: &serde_json::Value, cx: &mut CompileCx) -> Result<Header, String> {
        let c: Config = crate::pipeline::decode("header", config)?;
        let headers = c
            .headers
            .iter()
            .map(|(name, source)| {
                let name = HeaderName::try_from(name.as_str())
                    .map_err(|_| format!("mutator \"header\": invalid header name \"{name}\""))?;
                let template = cx
                    .template(source)
                    .map_err(|e| format!("mutator \"header\": header \"{name}\": {e}"))?;
                Ok((name, template))
            })
            .collect::<Result<_, String>>()?;
        Ok(Header { headers })
    }

    /// Renders every header into the session. An empty value still sets the header.
    pub fn mutate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        buffer: &mut String,
    ) -> Result<(), Denial> {
        for (name, template) in self.headers.iter() {
            buffer.clear();
            template
                .render(&TemplateView::new(session, request), buffer)
                .map_err(|e| Denial::internal(format!("mutator \"header\": {name}: {e}")))?;
            let value = HeaderValue::from_str(buffer).map_err(|_| {
                Denial::internal(format!(
                    "mutator \"header\": {name}: value is not a valid header"
                ))
            })?;
            session.header.insert(name.clone(), value);
        }
        Ok(())
    }
}
