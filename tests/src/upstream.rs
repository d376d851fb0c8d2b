//! The protected app, in two flavours:
//!
//! - [`start`] answers 200 with a JSON object of the request headers it received, so a test
//!   sees exactly which headers the reverse proxy let through;
//! - [`start_reporting`] also reports the request target as the bytes it got on the wire, and
//!   marks its answers, so a test tells an answer the app served from one the proxy made up
//!   and sees which path the app would have served.

use serde_json::{Map, Value, json};

use crate::http::{Message, Server};

/// The header [`start_reporting`]'s app marks every answer with.
pub const SERVED_BY: &str = "x-served-by";
/// Its value.
const APP: &str = "e2e-reporting-app";

/// Starts the echo upstream on a free port.
pub fn start() -> Server {
    Server::start(|request| {
        let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        (200, json, headers(request).to_string())
    })
}

/// The headers the upstream saw, from its response body.
pub fn seen(body: &str) -> Map<String, Value> {
    match serde_json::from_str(body) {
        Ok(Value::Object(map)) => map,
        _ => panic!("the upstream did not answer with its headers: {body}"),
    }
}

/// Starts the reporting app on a free port: every request is answered 200, marked with
/// [`SERVED_BY`], with a [`Report`] as JSON.
pub fn start_reporting() -> Server {
    Server::start(|request| {
        let report = json!({
            "method": request.method,
            "target": escape(request.raw_target()),
            "headers": headers(request),
            "body": request.body,
        });
        let head = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (SERVED_BY.to_owned(), APP.to_owned()),
        ];
        (200, head, report.to_string())
    })
}

/// What the reporting app received for a request it served.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The method.
    pub method: String,
    /// The request target as it came on the wire, see [`escape`].
    pub target: String,
    /// The request headers, names in lower case.
    pub headers: Map<String, Value>,
    /// The request body.
    pub body: String,
}

impl Report {
    /// A request header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
}

/// The reporting app's report when `response` is an answer it served; `None` when the proxy
/// answered on its own (a denial, an error page, an unrouted host).
pub fn report(response: &Message) -> Option<Report> {
    if response.header(SERVED_BY) != Some(APP) {
        return None;
    }
    let body: Value = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("the reporting app answered with bad JSON ({e}): {response:?}"));
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    Some(Report {
        method: text("method"),
        target: text("target"),
        headers: body["headers"].as_object().cloned().unwrap_or_default(),
        body: text("body"),
    })
}

fn headers(request: &Message) -> Value {
    let headers: Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    Value::Object(headers)
}

/// Visible ASCII and spaces as is, every other byte as `\xNN`: a target in a report reads
/// exactly as it was sent, whatever bytes it holds (a target never holds a space: it ends one).
pub fn escape(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for byte in bytes {
        if byte.is_ascii_graphic() || *byte == b' ' {
            text.push(char::from(*byte));
        } else {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    text
}
