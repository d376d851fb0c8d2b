//! The API routes: `/decisions`, `/rules`, `/health/*`, `/version`, `/.well-known/jwks.json`.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

use crate::audit::{AuditLog, Entry};
use crate::decision::{DECISIONS_PATH, Outcome, Peer, decide};
use crate::http::cors::Cors;
use crate::metrics::decision_result;
use crate::pipeline::error_handler::json::herodot_error;
use crate::pipeline::{Cx, ResponseBody};
use crate::reload::State;
use crate::snapshot::Snapshot;
use crate::traces::Finish;

/// The version reported by `/version` and `oathkeeper version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Shared by every connection.
#[derive(Debug)]
pub struct Api {
    /// The reloadable state.
    pub state: Arc<State>,
    /// CORS, read at start.
    pub cors: Cors,
    /// The audit log, read at start.
    pub audit: AuditLog,
}

/// Records one decision in the audit log ([`crate::audit`]).
fn audit(
    log: &AuditLog,
    snapshot: &Snapshot,
    parts: &http::request::Parts,
    outcome: &Outcome<'_>,
    status: StatusCode,
    elapsed: std::time::Duration,
) {
    let rule = outcome
        .rule
        .map_or("", |r| snapshot.compiled[r].id.as_str());
    let mut entry = Entry {
        allowed: outcome.denial.is_none(),
        message: "access request granted",
        method: outcome.method,
        url: &outcome.url,
        rule,
        subject: &outcome.subject,
        result: "allowed",
        status: status.as_u16(),
        latency_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        ..Entry::default()
    };
    if let Some(denial) = &outcome.denial {
        entry.result = denial.kind.as_str();
        entry.reason = &denial.reason;
        entry.message = "access request denied";
        if outcome.url.is_empty() {
            // Refused before matching: what was forwarded, the query (which may hold a token)
            // dropped.
            entry.message = "access request refused";
            let forwarded = parts
                .headers
                .get("x-forwarded-uri")
                .map_or(parts.uri.path().as_bytes(), |v| v.as_bytes());
            entry.forwarded_path = forwarded.split(|&b| b == b'?').next();
        }
    }
    log.record(&entry);
}

/// Most rules `/rules` returns at once, as upstream.
const MAX_LIMIT: usize = 500;
const DEFAULT_LIMIT: usize = 50;

impl Api {
    /// Answers one request that came from `peer`.
    pub async fn handle<B>(&self, request: Request<B>, peer: Peer) -> Response<ResponseBody> {
        let started = Instant::now();
        let (parts, _body) = request.into_parts();
        if let Some(preflight) = self.cors.preflight(&parts.method, &parts.headers) {
            return preflight;
        }
        let path = parts.uri.path();
        let is_decision = path == DECISIONS_PATH || path.starts_with("/decisions/");
        let (mut response, label) = if is_decision {
            // One load per request; the snapshot is not held across awaits of other requests.
            let snapshot = self.state.snapshot.load_full();
            // Tracing off: one atomic load.
            let trace = self.state.traces.start(&parts.method, &parts.headers);
            let (response, outcome) = decide(
                &snapshot,
                &parts,
                peer,
                &Cx {
                    metrics: &self.state.metrics,
                    trace: trace.as_ref(),
                },
            )
            .await;
            let kind = outcome.denial.as_ref().map(|d| d.kind);
            if let Some(trace) = trace {
                trace.finish(&Finish {
                    method: outcome.method,
                    url: &outcome.url,
                    rule: outcome.rule.map(|r| snapshot.compiled[r].id.as_str()),
                    result: decision_result(kind),
                    denied: kind.is_some(),
                    status: response.status().as_u16(),
                });
            }
            let elapsed = started.elapsed();
            audit(
                &self.audit,
                &snapshot,
                &parts,
                &outcome,
                response.status(),
                elapsed,
            );
            self.state.metrics.observe_decision(
                &parts.method,
                response.status().as_u16(),
                kind,
                elapsed,
            );
            (response, None)
        } else {
            self.route(&parts.method, path, parts.uri.query())
        };
        if let Some(label) = label {
            self.state.metrics.observe_request(
                &parts.method,
                label,
                response.status().as_u16(),
                started.elapsed(),
            );
        }
        self.cors.decorate(&parts.headers, &mut response);
        response
    }

    /// Non-decision routes, with the metrics `request` label (None for health routes, which
    /// upstream excludes from metrics).
    fn route(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
    ) -> (Response<ResponseBody>, Option<&'static str>) {
        if method != Method::GET && method != Method::HEAD {
            return (
                herodot_error(StatusCode::METHOD_NOT_ALLOWED, None),
                Some("other"),
            );
        }
        match path {
            "/health/alive" => (
                json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
                None,
            ),
            "/health/ready" => (self.ready(), None),
            "/version" => (
                json(StatusCode::OK, &serde_json::json!({"version": VERSION})),
                Some("version"),
            ),
            "/.well-known/jwks.json" => (
                json(
                    StatusCode::OK,
                    &signing_public_keys(&self.state.snapshot.load()),
                ),
                Some(".well-known"),
            ),
            "/rules" => (self.list_rules(query), Some("rules")),
            _ => match path.strip_prefix("/rules/") {
                Some(id) if !id.is_empty() => (self.get_rule(id), Some("rules")),
                _ => (not_found(), Some("other")),
            },
        }
    }

    fn ready(&self) -> Response<ResponseBody> {
        let snapshot = self.state.snapshot.load();
        let status = self.state.status.load();
        // Beyond upstream: a k8s:// source that has not been listed yet is not ready.
        if !status.pending.is_empty() {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"errors": {"sources_pending": status.pending}}),
            );
        }
        if snapshot.rule_count() == 0 {
            let mut reason = String::from("No rules have been loaded yet");
            if let Some(e) = &status.config_error {
                reason.push_str(&format!("; config: {e}"));
            }
            for (repo, e) in &status.repository_errors {
                reason.push_str(&format!("; {repo}: {e}"));
            }
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"errors": {"rules_loaded": reason}}),
            );
        }
        let mut body = serde_json::json!({"status": "ok"});
        // Beyond upstream: say what is stale, while staying ready (the last good state serves).
        if status.config_error.is_some()
            || !status.repository_errors.is_empty()
            || status.hang.is_some()
            || status.tls_error.is_some()
        {
            body["stale"] = serde_json::json!({
                "config": status.config_error,
                "repositories": status.repository_errors,
                "reload": status.hang.as_ref().map(|h| &h.message),
                "tls": status.tls_error,
            });
        }
        json(StatusCode::OK, &body)
    }

    fn list_rules(&self, query: Option<&str>) -> Response<ResponseBody> {
        let mut limit = DEFAULT_LIMIT;
        let mut offset = 0usize;
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("limit", v)) => limit = v.parse().unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
                Some(("offset", v)) => offset = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        let snapshot = self.state.snapshot.load();
        json_text(StatusCode::OK, snapshot.rules.page_json(offset, limit))
    }

    fn get_rule(&self, id: &str) -> Response<ResponseBody> {
        let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
        let snapshot = self.state.snapshot.load();
        match snapshot.rules.get_json(&id) {
            Some(rule) => json_text(StatusCode::OK, rule.to_owned()),
            None => not_found(),
        }
    }
}

fn not_found() -> Response<ResponseBody> {
    herodot_error(StatusCode::NOT_FOUND, None)
}

/// A JSON answer.
pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    json_bytes(status, bytes)
}

/// A JSON answer whose body is already JSON text (the stored rules).
/// `{"keys": [...]}`: the public half of every key in the key sets of the `id_token` mutators
/// in use (the global config's, then the rules'), the first of each `kid` (keys without one are all kept). Read from the current
/// snapshot and each set's current keys, so it follows reloads and key refreshes.
fn signing_public_keys(snapshot: &Snapshot) -> serde_json::Value {
    let mut sources: Vec<&Arc<crate::jwks::JwksSource>> =
        snapshot.global_signing_keys.iter().collect();
    for rule in &snapshot.compiled {
        let Ok(mutators) = &rule.pipeline.mutators else {
            continue;
        };
        for mutator in mutators.iter() {
            if let crate::pipeline::mutate::Mutator::IdToken(t) = mutator
                && !sources.iter().any(|s| Arc::ptr_eq(s, t.keys()))
            {
                sources.push(t.keys());
            }
        }
    }
    let mut kids = std::collections::HashSet::new();
    let mut keys = Vec::new();
    for set in sources.iter().filter_map(|s| s.public_keys()) {
        for key in set.iter() {
            let fresh = match key.get("kid").and_then(serde_json::Value::as_str) {
                Some(kid) => kids.insert(kid.to_owned()),
                None => true,
            };
            if fresh {
                keys.push(key.clone());
            }
        }
    }
    serde_json::json!({ "keys": keys })
}

fn json_text(status: StatusCode, body: String) -> Response<ResponseBody> {
    json_bytes(status, body.into_bytes())
}

fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::from(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
