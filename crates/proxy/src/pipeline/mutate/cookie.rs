//! `cookie`: one `Cookie` answer header, made of the configured cookies (templates) plus the
//! request's own cookies that the configuration does not override.

pub use oathkeeper_core::handler::cookie::Config;

use crate::pipeline::{CompileCx, CompileError, Denial, OriginalRequest, Session};

/// The compiled mutator.
#[derive(Debug)]
pub struct Cookie {
    cookies: super::Templates<String>,
}

impl Cookie {
    /// Compiles from the decoded config.
    pub fn compile(config: &Config, cx: &mut CompileCx) -> Result<Cookie, CompileError> {
        let cookies =
            super::compile_templates("cookie", "cookies", config.cookies(), cx, |name| {
                Some(name.to_owned())
            })?;
        Ok(Cookie { cookies })
    }

    /// Sets `Cookie` on the session, sanitised as upstream's Go server writes it
    /// (`header_value`).
    pub fn mutate(
        &self,
        request: &OriginalRequest<'_>,
        session: &mut Session,
        buffer: &mut String,
    ) -> Result<(), Denial> {
        let mut out = String::new();
        for header in request.headers.get_all(http::header::COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let name = pair.split_once('=').map_or(pair, |(n, _)| n);
                if !self.cookies.iter().any(|(n, _)| n == name) {
                    push_cookie(&mut out, pair);
                }
            }
        }
        for (name, template) in self.cookies.iter() {
            super::render("cookie", name, template, request, session, buffer)?;
            push_cookie(&mut out, name);
            out.push('=');
            out.push_str(buffer);
        }
        session
            .header
            .insert(http::header::COOKIE, super::header_value(&out));
        Ok(())
    }
}

fn push_cookie(out: &mut String, pair: &str) {
    if !out.is_empty() {
        out.push_str("; ");
    }
    out.push_str(pair);
}
