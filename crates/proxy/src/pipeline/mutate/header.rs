//! `header`: one answer header per configured template (`X-User: {{ print .Subject }}`).

use http::{HeaderMap, HeaderName};

pub use oathkeeper_core::handler::header::Config;

use crate::pipeline::{CompileCx, CompileError, Denial, OriginalRequest, Session};

/// The compiled mutator: header names prebuilt, templates parsed.
#[derive(Debug)]
pub struct Header {
    headers: super::Templates<HeaderName>,
    /// When every template reads only `.Subject` and `.Extra`: the names and templates as one
    /// text, under which the rendered values are kept for the session
    /// ([`crate::pipeline::request::RenderedHeaders`]).
    reuse_key: Option<Box<str>>,
}

impl Header {
    /// Compiles from the decoded config; a bad header name or template is an error.
    pub fn compile(config: &Config, cx: &mut CompileCx) -> Result<Header, CompileError> {
        let headers =
            super::compile_templates("header", "headers", config.headers(), cx, |name| {
                HeaderName::try_from(name).ok()
            })?;
        let session_only = headers
            .iter()
            .all(|(_, t)| t.reads_only(&["Subject", "Extra"]));
        let reuse_key = session_only.then(|| {
            let mut key = String::new();
            for (name, template) in headers.iter() {
                key.push_str(name.as_str());
                key.push('\0');
                key.push_str(template.source());
                key.push('\0');
            }
            key.into_boxed_str()
        });
        Ok(Header { headers, reuse_key })
    }

    /// Renders every header into the session, sanitised as upstream's Go server writes it
    /// (`header_value`). An empty value still sets the header. When the templates read only the
    /// subject and extra and the session keeps rendered values, they are rendered once per
    /// session.
    pub fn mutate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        buffer: &mut String,
    ) -> Result<(), Denial> {
        let reuse = self.reuse_key.as_deref().zip(session.rendered.as_deref());
        if let Some((key, rendered)) = reuse
            && let Some(headers) = rendered.get(key)
        {
            if session.header.is_empty() {
                // A clone shares every name and value: no hashing, no copies.
                session.header = headers.clone();
            } else {
                for (name, value) in headers {
                    session.header.insert(name.clone(), value.clone());
                }
            }
            return Ok(());
        }
        let mut rendered_here = HeaderMap::with_capacity(if reuse.is_some() {
            self.headers.len()
        } else {
            0
        });
        for (name, template) in self.headers.iter() {
            super::render("header", name, template, request, session, buffer)?;
            let value = super::header_value(buffer);
            if reuse.is_some() {
                rendered_here.insert(name.clone(), value.clone());
            }
            session.header.insert(name.clone(), value);
        }
        if let Some((key, rendered)) = reuse {
            rendered.remember(key, rendered_here);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use oathkeeper_core::candidate::Candidate;

    use super::*;
    use crate::pipeline::request::RenderedHeaders;

    fn compile(headers: &[(&str, &str)]) -> Header {
        Header::compile(
            &Config::new(headers.iter().copied()),
            &mut CompileCx::default(),
        )
        .unwrap()
    }

    fn request<'a>(path: &'a str, headers: &'a HeaderMap) -> OriginalRequest<'a> {
        OriginalRequest {
            candidate: Candidate {
                method: "GET",
                scheme: "https",
                host: "app.example.com",
                path,
                forwarded_uri: None,
            },
            query: None,
            headers,
            remote_ip: None,
        }
    }

    /// Runs `mutator` for a session of `subject` sharing `rendered`; the answer headers.
    fn run(
        mutator: &Header,
        subject: &str,
        rendered: &Arc<RenderedHeaders>,
        path: &str,
    ) -> Vec<(String, String)> {
        let headers = HeaderMap::new();
        let mut session = Session {
            subject: subject.to_owned(),
            rendered: Some(Arc::clone(rendered)),
            ..Session::default()
        };
        let mut buffer = String::new();
        mutator
            .mutate(&request(path, &headers), &mut session, &mut buffer)
            .unwrap();
        session
            .header
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn values_read_from_the_session_alone_are_rendered_once_per_session() {
        let identity = compile(&[
            ("X-User", "{{ print .Subject }}"),
            ("X-Tag", "u:{{ .Subject }}"),
        ]);
        let rendered = Arc::new(RenderedHeaders::default());
        let first = run(&identity, "ann", &rendered, "/a");
        assert_eq!(
            first,
            [
                ("x-tag".into(), "u:ann".into()),
                ("x-user".into(), "ann".into())
            ]
        );
        let key = identity.reuse_key.as_deref().unwrap();
        assert!(rendered.get(key).is_some(), "kept after the first render");
        assert_eq!(run(&identity, "ann", &rendered, "/b"), first);

        // Another mutator's templates never take these values.
        let other = compile(&[("X-User", "other:{{ .Subject }}")]);
        assert_eq!(
            run(&other, "ann", &rendered, "/a"),
            [("x-user".into(), "other:ann".into())]
        );
        assert_eq!(run(&identity, "ann", &rendered, "/c"), first);
    }

    #[test]
    fn values_that_read_the_request_are_rendered_for_every_request() {
        let by_path = compile(&[("X-Path", "{{ .MatchContext.URL.Path }}")]);
        assert!(by_path.reuse_key.is_none());
        let rendered = Arc::new(RenderedHeaders::default());
        assert_eq!(
            run(&by_path, "ann", &rendered, "/a"),
            [("x-path".into(), "/a".into())]
        );
        assert_eq!(
            run(&by_path, "ann", &rendered, "/b"),
            [("x-path".into(), "/b".into())]
        );
    }
}
