//! Temporary stand-in while the template engine is written.
#![allow(missing_docs, unreachable_pub, dead_code)]
use std::borrow::Cow;

#[derive(Debug, Clone)]
pub struct Template {
    source: String,
}
#[derive(Debug, thiserror::Error)]
#[error("parse error")]
pub struct ParseError;
#[derive(Debug, thiserror::Error)]
#[error("render error")]
pub struct RenderError;
pub trait Data {
    fn field(&self, name: &str) -> Value<'_>;
}
pub enum Value<'a> {
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Json(&'a serde_json::Value),
    Strings(&'a [String]),
    Header(&'a http::HeaderMap),
    Object(&'a dyn Data),
}
impl Template {
    pub fn parse(source: &str) -> Result<Template, ParseError> {
        Ok(Template {
            source: source.to_owned(),
        })
    }
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn render(&self, data: &dyn Data, out: &mut String) -> Result<(), RenderError> {
        if let Value::Str(s) = data.field("Subject") {
            out.push_str(&s);
        }
        Ok(())
    }
}
