//! The HTTP side: Pebble's endpoints and envelopes on the unix socket
//! (spec/juju-runtime.md §3.2, §3.3).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use envconf::parse_duration;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use juju::pebble::api::{Envelope, ServiceInfo};
use juju::pebble::layer::{Layer, LayerError, Startup};
use juju::pebble::multipart::{self, Part};
use juju::pebble::websocket;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::UnixListener;
use tokio::sync::watch;

use super::daemon::live;
use super::daemon::{self, Call, Daemon, Op, Shared};
use super::files::{self, FileError};
use super::util;

/// The version `system-info` reports.
pub(crate) const VERSION: &str = "1.19.0-fake";
/// How much of a body the call log keeps.
const BODY_SUMMARY: usize = 1000;
/// The longest `/wait` without a `timeout`.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Accepts connections until `shutdown` changes.
pub(crate) async fn serve(
    listener: UnixListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(handle(shared, request).await) }
                    });
                    // A client that hangs up mid-request is not our error.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// An answer before it becomes an HTTP response.
enum Reply {
    /// An envelope, with its HTTP status.
    Json(Envelope),
    /// A raw body.
    Raw(u16, String, Vec<u8>),
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn sync(result: Value) -> Reply {
    Reply::Json(Envelope::sync(result))
}

fn error(code: u16, message: impl AsRef<str>, kind: Option<&str>) -> Reply {
    Reply::Json(Envelope::error(
        code,
        status_text(code),
        message.as_ref(),
        kind,
    ))
}

fn bad(message: impl AsRef<str>) -> Reply {
    error(400, message, None)
}

fn accepted(change: &str, result: Value) -> Reply {
    let mut envelope = Envelope::accepted(change);
    envelope.result = result;
    Reply::Json(envelope)
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match reply {
        Reply::Json(envelope) => (
            envelope.status_code,
            "application/json".to_owned(),
            serde_json::to_vec(&envelope).unwrap_or_default(),
        ),
        Reply::Raw(status, content_type, body) => (status, content_type, body),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = hyper::header::HeaderValue::from_str(&content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn summarise(content_type: &str, body: &[u8]) -> String {
    let mut text = if content_type.starts_with("multipart/") {
        match multipart::parse(content_type, body) {
            Ok(parts) => {
                let request = parts
                    .iter()
                    .find(|p| p.name == "request")
                    .map(|p| String::from_utf8_lossy(&p.content).into_owned())
                    .unwrap_or_default();
                let names: Vec<String> = parts.iter().filter_map(|p| p.filename.clone()).collect();
                format!("multipart: request={request} files={names:?}")
            }
            Err(e) => format!("multipart: {e}"),
        }
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(json) => json.to_string(),
            Err(_) => String::from_utf8_lossy(body).into_owned(),
        }
    };
    if text.len() > BODY_SUMMARY {
        let mut cut = BODY_SUMMARY;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if let Some((task, stream)) = websocket_route(request.uri().path()) {
        let (task, stream) = (task.to_owned(), stream.to_owned());
        return exec_websocket(shared, request, &task, &stream).await;
    }
    let method = request.method().clone();
    let uri = request.uri().clone();
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = header(hyper::header::CONTENT_TYPE);
    let accept = header(hyper::header::ACCEPT);
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    shared.daemon.lock().await.calls.push(Call {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
        body: summarise(&content_type, &body),
    });
    let params = util::query(uri.query());
    let request = Req {
        method,
        params,
        content_type,
        accept,
        body,
    };
    respond(route(&shared, uri.path(), &request).await)
}

/// What a handler reads of a request.
struct Req {
    method: Method,
    params: BTreeMap<String, Vec<String>>,
    content_type: String,
    accept: String,
    body: Bytes,
}

impl Req {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, Reply> {
        serde_json::from_slice(&self.body)
            .map_err(|e| bad(format!("cannot decode request body: {e}")))
    }
}

async fn route(shared: &Arc<Shared>, path: &str, req: &Req) -> Reply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = req.method == Method::GET;
    let post = req.method == Method::POST;
    let not_allowed = || {
        error(
            405,
            format!("method {:?} not allowed", req.method.as_str()),
            None,
        )
    };
    match segments.as_slice() {
        ["v1", "system-info"] if get => system_info(shared),
        ["v1", "health"] if get => health(shared, req).await,
        ["v1", "layers"] if post => add_layer(shared, req).await,
        ["v1", "plan"] if get => plan(shared, req).await,
        ["v1", "services"] if get => services(shared, req).await,
        ["v1", "services"] if post => services_action(shared, req).await,
        ["v1", "changes"] if get => changes(shared).await,
        ["v1", "changes", id] if get => change(shared, id).await,
        ["v1", "changes", id, "wait"] if get => wait(shared, id, req).await,
        ["v1", "files"] if get => files_get(shared, req),
        ["v1", "files"] if post => files_post(shared, req),
        ["v1", "checks"] if get => checks(shared, req).await,
        ["v1", "checks"] if post => checks_action(shared, req).await,
        ["v1", "checks", "refresh"] if post => checks_refresh(shared, req).await,
        ["v1", "notices"] if get => notices(shared, req).await,
        ["v1", "notices"] if post => notices_add(shared, req).await,
        ["v1", "notices", id] if get => notice(shared, id).await,
        ["v1", "exec"] if post => exec(shared, req).await,
        ["v1", "signals"] if post => signals(shared, req).await,
        [
            "v1",
            "system-info" | "health" | "plan" | "changes" | "layers" | "services" | "files"
            | "checks" | "notices" | "exec" | "signals",
        ]
        | ["v1", "changes" | "notices", _]
        | ["v1", "changes", _, "wait"]
        | ["v1", "checks", "refresh"] => not_allowed(),
        _ => error(404, "not found", Some("not-found")),
    }
}

fn system_info(shared: &Shared) -> Reply {
    sync(json!({
        "boot-id": shared.boot_id,
        "http-address": "",
        "version": VERSION,
    }))
}

/// Whether a check of `check_level` counts at the requested `level` (ready implies alive).
fn level_matches(level: Option<&str>, check_level: &str) -> bool {
    match level {
        None | Some("") => true,
        Some("alive") => check_level == "alive",
        Some("ready") => check_level == "ready" || check_level == "alive",
        Some(_) => false,
    }
}

async fn health(shared: &Shared, req: &Req) -> Reply {
    let level = req.param("level");
    if !matches!(level, None | Some("" | "alive" | "ready")) {
        return bad("level must be \"alive\" or \"ready\"");
    }
    let daemon = shared.daemon.lock().await;
    let healthy = !daemon
        .checks
        .values()
        .any(|c| c.info.status == "down" && level_matches(level, &c.info.level));
    if healthy {
        sync(json!({"healthy": true}))
    } else {
        let mut envelope = Envelope::sync(json!({"healthy": false}));
        envelope.status_code = 502;
        envelope.status = status_text(502).to_owned();
        Reply::Json(envelope)
    }
}

#[derive(Deserialize)]
struct LayersBody {
    #[serde(default)]
    action: String,
    #[serde(default)]
    combine: bool,
    #[serde(default)]
    label: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    layer: String,
}

async fn add_layer(shared: &Arc<Shared>, req: &Req) -> Reply {
    let body: LayersBody = match req.json() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.action != "add" {
        return bad(format!("invalid action {:?}", body.action));
    }
    if body.label.is_empty() {
        return bad(LayerError::NoLabel.to_string());
    }
    if body.format != "yaml" {
        return bad(format!("invalid format {:?}", body.format));
    }
    let layer = match Layer::parse_labelled(&body.layer, &body.label) {
        Ok(layer) => layer,
        Err(e) => return bad(e.to_string()),
    };
    let mut daemon = shared.daemon.lock().await;
    let mut layers = daemon.layers.clone();
    if let Err(e) = layers
        .add(&body.label, layer, body.combine)
        .and_then(|()| layers.validate_plan().map(drop))
    {
        return bad(e.to_string());
    }
    daemon.layers = layers;
    daemon::sync_checks(shared, &mut daemon, false);
    sync(json!(true))
}

async fn plan(shared: &Shared, req: &Req) -> Reply {
    let format = req.param("format").unwrap_or("");
    if format != "yaml" {
        return bad(format!("invalid format {format:?}"));
    }
    let plan = shared.daemon.lock().await.layers.plan();
    sync(json!(plan.to_yaml()))
}

async fn services(shared: &Shared, req: &Req) -> Reply {
    let names = util::list(&req.params, "names");
    let daemon = shared.daemon.lock().await;
    let plan = daemon.layers.plan();
    let infos: Vec<ServiceInfo> = plan
        .services
        .iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .map(|(name, service)| {
            let runtime = daemon.services.get(name);
            ServiceInfo {
                name: name.clone(),
                startup: if service.startup == Some(Startup::Enabled) {
                    "enabled"
                } else {
                    "disabled"
                }
                .to_owned(),
                current: runtime
                    .map_or("inactive", |r| r.current.as_str())
                    .to_owned(),
                current_since: runtime.map(|r| r.since.clone()).filter(|s| !s.is_empty()),
            }
        })
        .collect();
    sync(json!(infos))
}

#[derive(Deserialize)]
struct ServicesBody {
    #[serde(default)]
    action: String,
    #[serde(default)]
    services: Option<Vec<String>>,
}

async fn services_action(shared: &Arc<Shared>, req: &Req) -> Reply {
    let body: ServicesBody = match req.json() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let names = body.services.unwrap_or_default();
    let mut daemon = shared.daemon.lock().await;
    let plan = daemon.layers.plan();
    let (ops, summary) = match body.action.as_str() {
        "start" | "stop" | "restart" => {
            if names.is_empty() {
                return bad(format!("must specify services for {} action", body.action));
            }
            if let Some(unknown) = names.iter().find(|n| !plan.services.contains_key(*n)) {
                return bad(format!("service {unknown:?} does not exist"));
            }
            let ops: Vec<Op> = match body.action.as_str() {
                "start" => names.iter().cloned().map(Op::Start).collect(),
                "stop" => names.iter().cloned().map(Op::Stop).collect(),
                _ => names
                    .iter()
                    .cloned()
                    .map(Op::Stop)
                    .chain(names.iter().cloned().map(Op::Start))
                    .collect(),
            };
            let verb = match body.action.as_str() {
                "start" => "Start",
                "stop" => "Stop",
                _ => "Restart",
            };
            (ops, daemon::change_summary(verb, &names))
        }
        "replan" | "autostart" => {
            let replan = body.action == "replan";
            if !replan
                && !plan
                    .services
                    .values()
                    .any(|s| s.startup == Some(Startup::Enabled))
            {
                return error(400, "no default services", Some("no-default-services"));
            }
            let ops = if replan {
                daemon.replan_ops(&plan)
            } else {
                daemon.autostart_ops(&plan)
            };
            let mut started: Vec<String> = ops
                .iter()
                .map(|op| match op {
                    Op::Start(n) | Op::Stop(n) => n.clone(),
                })
                .collect();
            started.dedup();
            let verb = if replan { "Replan" } else { "Autostart" };
            let summary = if started.is_empty() {
                format!("{verb} - no services")
            } else {
                daemon::change_summary(verb, &started)
            };
            if replan {
                daemon::sync_checks(shared, &mut daemon, false);
            }
            (ops, summary)
        }
        other => return bad(format!("action {other:?} is unsupported")),
    };
    let id = daemon.new_change(&body.action, summary, &ops);
    drop(daemon);
    if shared.live.is_some() {
        tokio::spawn(daemon::run_change(Arc::clone(shared), id, ops));
    } else {
        daemon::run_change(Arc::clone(shared), id, ops).await;
    }
    accepted(&id.to_string(), Value::Null)
}

async fn changes(shared: &Shared) -> Reply {
    let daemon = shared.daemon.lock().await;
    sync(json!(daemon.changes.values().collect::<Vec<_>>()))
}

fn find_change<'a>(daemon: &'a Daemon, id: &str) -> Result<&'a juju::pebble::api::Change, Reply> {
    id.parse::<u64>()
        .ok()
        .and_then(|n| daemon.changes.get(&n))
        .ok_or_else(|| {
            error(
                404,
                format!("cannot find change with id {id:?}"),
                Some("not-found"),
            )
        })
}

async fn change(shared: &Shared, id: &str) -> Reply {
    let daemon = shared.daemon.lock().await;
    match find_change(&daemon, id) {
        Ok(change) => sync(json!(change)),
        Err(reply) => reply,
    }
}

async fn wait(shared: &Shared, id: &str, req: &Req) -> Reply {
    let timeout_text = req.param("timeout").unwrap_or("");
    let timeout = if timeout_text.is_empty() {
        MAX_WAIT
    } else {
        match parse_duration(timeout_text) {
            Ok(t) => t,
            Err(_) => return bad(format!("invalid timeout {timeout_text:?}")),
        }
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut updates = shared.updates.subscribe();
    loop {
        {
            let daemon = shared.daemon.lock().await;
            match find_change(&daemon, id) {
                Ok(change) if change.ready => return sync(json!(change)),
                Ok(_) => {}
                Err(reply) => return reply,
            }
        }
        if tokio::time::timeout_at(deadline, updates.changed())
            .await
            .is_err()
        {
            return error(
                504,
                format!("timed out waiting for change after {timeout_text}"),
                None,
            );
        }
    }
}

fn path_result(path: &str, result: Result<(), FileError>) -> Value {
    match result {
        Ok(()) => json!({"path": path}),
        Err(e) => json!({"path": path, "error": e.to_json()}),
    }
}

fn files_get(shared: &Shared, req: &Req) -> Reply {
    let action = req.param("action").unwrap_or("");
    match action {
        "read" => {
            if !req.accept.contains("multipart/form-data") {
                return bad("must accept multipart/form-data");
            }
            let paths = req.params.get("path").cloned().unwrap_or_default();
            if paths.is_empty() {
                return bad("must specify paths");
            }
            let mut parts = Vec::new();
            let mut results = Vec::new();
            for path in &paths {
                match files::read(&shared.root, path) {
                    Ok(content) => {
                        parts.push(Part::file(path, content));
                        results.push(json!({"path": path}));
                    }
                    Err(e) => results.push(path_result(path, Err(e))),
                }
            }
            let response =
                serde_json::to_string(&Envelope::sync(json!(results))).unwrap_or_default();
            parts.push(Part::json("response", &response));
            let boundary = multipart::boundary_for(
                &parts
                    .iter()
                    .map(|p| p.content.as_slice())
                    .collect::<Vec<_>>(),
            );
            Reply::Raw(
                200,
                format!("multipart/form-data; boundary={boundary}"),
                multipart::encode(&boundary, &parts),
            )
        }
        "list" => {
            let path = req.param("path").unwrap_or("");
            if path.is_empty() {
                return bad("must specify path");
            }
            let pattern = req.param("pattern").filter(|p| !p.is_empty());
            let itself = req.param("itself") == Some("true");
            match files::list(&shared.root, path, pattern, itself) {
                Ok(entries) => sync(json!(entries)),
                Err(e) => {
                    let code = match e.kind {
                        "not-found" => 404,
                        "permission-denied" => 403,
                        _ => 400,
                    };
                    error(code, &e.message, Some(e.kind))
                }
            }
        }
        other => bad(format!("invalid action {other:?}")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FilesBody {
    #[serde(default)]
    action: String,
    #[serde(default)]
    files: Vec<WriteSpec>,
    #[serde(default)]
    dirs: Vec<DirSpec>,
    #[serde(default)]
    paths: Vec<RemoveSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WriteSpec {
    path: String,
    #[serde(default)]
    make_dirs: bool,
    #[serde(default)]
    permissions: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct DirSpec {
    path: String,
    #[serde(default)]
    make_parents: bool,
    #[serde(default)]
    permissions: Option<String>,
}

#[derive(Deserialize)]
struct RemoveSpec {
    path: String,
    #[serde(default)]
    recursive: bool,
}

fn files_post(shared: &Shared, req: &Req) -> Reply {
    let root = &shared.root;
    if req.content_type.starts_with("multipart/form-data") {
        let parts = match multipart::parse(&req.content_type, &req.body) {
            Ok(parts) => parts,
            Err(e) => return bad(format!("cannot read multipart body: {e}")),
        };
        let Some(request) = parts.iter().find(|p| p.name == "request") else {
            return bad("must specify \"request\" field first");
        };
        let body: FilesBody = match serde_json::from_slice(&request.content) {
            Ok(body) => body,
            Err(e) => return bad(format!("cannot decode request field: {e}")),
        };
        if body.action != "write" {
            return bad(format!(
                "multipart action must be \"write\", got {:?}",
                body.action
            ));
        }
        let results: Vec<Value> = body
            .files
            .iter()
            .map(|spec| {
                let content = parts.iter().find(|p| {
                    p.name == "files" && p.filename.as_deref() == Some(spec.path.as_str())
                });
                let result = match content {
                    None => Err(FileError {
                        kind: "generic-file-error",
                        message: format!("no file content for path {:?}", spec.path),
                    }),
                    Some(part) => files::write(
                        root,
                        &spec.path,
                        &part.content,
                        spec.make_dirs,
                        spec.permissions.as_deref(),
                    ),
                };
                path_result(&spec.path, result)
            })
            .collect();
        return sync(json!(results));
    }
    let body: FilesBody = match req.json() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let results: Vec<Value> = match body.action.as_str() {
        "make-dirs" => body
            .dirs
            .iter()
            .map(|d| {
                path_result(
                    &d.path,
                    files::make_dir(root, &d.path, d.make_parents, d.permissions.as_deref()),
                )
            })
            .collect(),
        "remove" => body
            .paths
            .iter()
            .map(|p| path_result(&p.path, files::remove(root, &p.path, p.recursive)))
            .collect(),
        "write" => return bad("must use multipart with action \"write\""),
        other => return bad(format!("invalid action {other:?}")),
    };
    sync(json!(results))
}

async fn checks(shared: &Shared, req: &Req) -> Reply {
    let level = req.param("level");
    let names = util::list(&req.params, "names");
    let daemon = shared.daemon.lock().await;
    let infos: Vec<_> = daemon
        .checks
        .values()
        .map(|c| &c.info)
        .filter(|info| names.is_empty() || names.contains(&info.name))
        .filter(|info| level_matches(level, &info.level))
        .collect();
    sync(json!(infos))
}

#[derive(Deserialize)]
struct ChecksBody {
    #[serde(default)]
    action: String,
    #[serde(default)]
    checks: Vec<String>,
}

async fn checks_action(shared: &Arc<Shared>, req: &Req) -> Reply {
    let body: ChecksBody = match req.json() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.checks.is_empty() {
        return bad(format!("must specify checks for {} action", body.action));
    }
    let mut daemon = shared.daemon.lock().await;
    if let Some(unknown) = body.checks.iter().find(|n| !daemon.checks.contains_key(*n)) {
        return bad(format!("cannot find check {unknown:?}"));
    }
    let mut changed = Vec::new();
    for name in &body.checks {
        let Some(check) = daemon.checks.get_mut(name) else {
            continue;
        };
        match body.action.as_str() {
            "stop" if check.info.status != "inactive" => {
                if let Some(runner) = check.runner.take() {
                    runner.abort();
                }
                check.info.status = "inactive".to_owned();
                changed.push(name.clone());
            }
            "start" if check.info.status == "inactive" => {
                check.info.status = "up".to_owned();
                check.info.failures = 0;
                if shared.live.is_some() {
                    live::start_check(shared, check, name);
                }
                changed.push(name.clone());
            }
            "start" | "stop" => {}
            other => return bad(format!("invalid action {other:?}")),
        }
    }
    for name in &changed {
        daemon.refresh_check_change(name);
    }
    sync(json!({"changed": changed}))
}

async fn checks_refresh(shared: &Shared, req: &Req) -> Reply {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        name: String,
    }
    let body: Body = match req.json() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let definition = {
        let daemon = shared.daemon.lock().await;
        match daemon.checks.get(&body.name) {
            Some(check) => check.definition.clone(),
            None => {
                return error(
                    404,
                    format!("cannot find check {:?}", body.name),
                    Some("not-found"),
                );
            }
        }
    };
    let ok = match &definition {
        Some(definition) if shared.live.is_some() => live::perform(shared, definition).await,
        _ => true,
    };
    let mut daemon = shared.daemon.lock().await;
    let Some(check) = daemon.checks.get_mut(&body.name) else {
        return error(
            404,
            format!("cannot find check {:?}", body.name),
            Some("not-found"),
        );
    };
    let threshold = check.info.threshold;
    check.record(ok, threshold);
    daemon.refresh_check_change(&body.name);
    let info = daemon.checks.get(&body.name).map(|c| c.info.clone());
    let error_text = if ok { "" } else { "check failed" };
    sync(json!({"info": info, "error": error_text}))
}

async fn notices(shared: &Shared, req: &Req) -> Reply {
    let types = util::list(&req.params, "types");
    let keys = util::list(&req.params, "keys");
    let after = req.param("after").unwrap_or("");
    let daemon = shared.daemon.lock().await;
    let found: Vec<_> = daemon
        .notices
        .iter()
        .filter(|n| types.is_empty() || types.contains(&n.type_))
        .filter(|n| keys.is_empty() || keys.contains(&n.key))
        .filter(|n| after.is_empty() || n.last_repeated.as_str() > after)
        .collect();
    sync(json!(found))
}

async fn notice(shared: &Shared, id: &str) -> Reply {
    let daemon = shared.daemon.lock().await;
    match daemon.notices.iter().find(|n| n.id == id) {
        Some(notice) => sync(json!(notice)),
        None => error(
            404,
            format!("cannot find notice with ID {id:?}"),
            Some("not-found"),
        ),
    }
}

async fn notices_add(shared: &Shared, req: &Req) -> Reply {
    #[derive(Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct Body {
        #[serde(default)]
        action: String,
        #[serde(default, rename = "type")]
        type_: String,
        #[serde(default)]
        key: String,
        #[serde(default)]
        data: BTreeMap<String, String>,
        #[serde(default)]
        repeat_after: Option<String>,
    }
    let body: Body = match req.json() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.action != "add" {
        return bad(format!("invalid action {:?}", body.action));
    }
    if body.type_ != "custom" {
        return bad(format!(
            r#"invalid type {:?} (can only add "custom" notices)"#,
            body.type_
        ));
    }
    if body.key.is_empty() {
        return bad("invalid key \"\"");
    }
    let id =
        shared
            .daemon
            .lock()
            .await
            .notify(&body.type_, &body.key, body.data, body.repeat_after);
    sync(json!({"id": id}))
}

async fn exec(shared: &Shared, req: &Req) -> Reply {
    #[derive(Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct Body {
        #[serde(default)]
        command: Vec<String>,
        #[serde(default)]
        environment: BTreeMap<String, String>,
        #[serde(default)]
        working_dir: Option<String>,
        #[serde(default)]
        split_stderr: bool,
    }
    let body: Body = match req.json() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.command.is_empty() {
        return bad("must specify command");
    }
    let result = shared
        .daemon
        .lock()
        .await
        .exec(&body.command, body.split_stderr);
    shared.notify();
    accepted(
        &result.change,
        json!({
            "task-id": result.task,
            "environment": body.environment,
            "working-dir": body.working_dir.unwrap_or_default(),
        }),
    )
}

async fn signals(shared: &Shared, req: &Req) -> Reply {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        signal: String,
        #[serde(default)]
        services: Vec<String>,
    }
    let body: Body = match req.json() {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.services.is_empty() {
        return bad("must specify services");
    }
    let pids = {
        let daemon = shared.daemon.lock().await;
        let plan = daemon.layers.plan();
        if let Some(unknown) = body
            .services
            .iter()
            .find(|s| !plan.services.contains_key(*s))
        {
            return bad(format!("service {unknown:?} does not exist"));
        }
        let mut pids = Vec::new();
        for name in &body.services {
            let runtime = daemon.services.get(name);
            if !runtime.is_some_and(|r| r.current == super::state::ServiceStatus::Active) {
                return bad(format!(
                    "cannot send signal to {name:?}: service is not running"
                ));
            }
            pids.extend(runtime.and_then(|r| r.process.as_ref()).and_then(|p| p.pid));
        }
        pids
    };
    let signal = body.signal.trim_start_matches("SIG");
    for pid in pids {
        live::signal_group(pid, signal).await;
    }
    sync(json!(true))
}

/// `(task id, stream)` of `/v1/tasks/{id}/websocket/{stream}`.
fn websocket_route(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v1/tasks/")?;
    let (task, rest) = rest.split_once('/')?;
    let stream = rest.strip_prefix("websocket/")?;
    Some((task, stream))
}

/// How long an exec websocket stays open waiting for the client's end.
const WEBSOCKET_IDLE: Duration = Duration::from_secs(60);

/// `GET /v1/tasks/{id}/websocket/{control|stdio|stderr}`: upgrades, then serves the canned
/// output of exec task `task` on `stdio` / `stderr` (one binary frame, then the end message)
/// and reads the client's frames until its end or close.
async fn exec_websocket(
    shared: Arc<Shared>,
    mut request: Request<Incoming>,
    task: &str,
    stream: &str,
) -> Response<Full<Bytes>> {
    shared.daemon.lock().await.calls.push(Call {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        body: String::new(),
    });
    let output = shared.daemon.lock().await.exec_outputs.get(task).cloned();
    let Some((stdout, stderr)) = output else {
        return respond(error(
            404,
            format!("cannot find task with id {task:?}"),
            Some("not-found"),
        ));
    };
    let data = match stream {
        "control" => None,
        "stdio" => Some(stdout),
        "stderr" => Some(stderr),
        other => {
            return respond(error(
                404,
                format!("invalid websocket id {other:?}"),
                Some("not-found"),
            ));
        }
    };
    let key = request
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(key) = key else {
        return respond(bad("websocket handshake without Sec-WebSocket-Key"));
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut io = TokioIo::new(upgraded);
        let _ = serve_websocket(&mut io, data).await;
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(accept) = hyper::header::HeaderValue::from_str(&websocket::accept_key(&key)) {
        headers.insert("sec-websocket-accept", accept);
    }
    response
}

async fn serve_websocket<S>(io: &mut S, data: Option<String>) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if let Some(data) = data {
        if !data.is_empty() {
            io.write_all(&websocket::encode(websocket::BINARY, data.as_bytes(), None))
                .await?;
        }
        io.write_all(&websocket::encode(
            websocket::TEXT,
            websocket::END.as_bytes(),
            None,
        ))
        .await?;
        io.flush().await?;
    }
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((frame, used)) = websocket::decode(&buffer) {
            buffer.drain(..used);
            if frame.opcode == websocket::PING {
                io.write_all(&websocket::encode(websocket::PONG, &frame.payload, None))
                    .await?;
            } else if frame.opcode == websocket::CLOSE {
                io.write_all(&websocket::encode(websocket::CLOSE, &[], None))
                    .await?;
                return io.shutdown().await;
            }
        }
        let read = tokio::time::timeout(WEBSOCKET_IDLE, io.read(&mut chunk)).await;
        match read {
            Ok(Ok(0)) | Err(_) => return Ok(()),
            Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(e),
        }
    }
}
