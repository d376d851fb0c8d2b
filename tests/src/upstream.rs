//! The protected app: answers 200 with a JSON object of the request headers it received, so a
//! test sees exactly what the reverse proxy let through.

use serde_json::{Map, Value};

use crate::http::Server;

/// Starts the echo upstream on a free port.
pub fn start() -> Server {
    Server::start(|request| {
        let headers: Map<String, Value> = request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        (200, json, Value::Object(headers).to_string())
    })
}

/// The headers the upstream saw, from its response body.
pub fn seen(body: &str) -> Map<String, Value> {
    match serde_json::from_str(body) {
        Ok(Value::Object(map)) => map,
        _ => panic!("the upstream did not answer with its headers: {body}"),
    }
}
