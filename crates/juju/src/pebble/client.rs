//! A blocking Pebble client over the container's unix socket
//! (`/charm/containers/<container>/pebble.socket`, spec/juju-runtime.md §3).
//!
//! A hook is a short process that makes a handful of calls, so the client is plain blocking
//! I/O: one HTTP/1.1 request per connection (`Connection: close`), no runtime to start.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::api::{
    Change, CheckInfo, Envelope, FileInfo, Notice, PathResult, ServiceInfo, SystemInfo,
};
use super::layer::Layer;
use super::multipart::{self, Part};
use super::websocket;
use crate::env::{ProcessEnv, Source};

/// Where Juju puts the containers' sockets, seen from the charm container.
pub const CONTAINERS_DIR: &str = "/charm/containers";
/// Overrides [`CONTAINERS_DIR`] when set: the harness points the charm at its fake Pebble
/// sockets with it. Read only by [`containers_dir`].
pub const CONTAINERS_DIR_ENV: &str = "JUJU_CONTAINERS_DIR";
/// The socket's file name.
pub const SOCKET_NAME: &str = "pebble.socket";
/// How long one wait request may block before Pebble answers 504.
const WAIT_STEP: &str = "4s";

/// Why a Pebble call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket cannot be reached (the container is not up yet).
    #[error("cannot connect to Pebble at {socket}: {source}")]
    Connection {
        /// The socket.
        socket: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Pebble answered with an error envelope.
    #[error("pebble: {message} (status {status}{})", kind.as_deref().map(|k| format!(", kind {k}")).unwrap_or_default())]
    Api {
        /// HTTP status.
        status: u16,
        /// Pebble's message.
        message: String,
        /// Pebble's error kind (`not-found`, `permission-denied`...).
        kind: Option<String>,
    },
    /// A change finished with an error.
    #[error("change {id} failed: {err}")]
    Change {
        /// The change id.
        id: String,
        /// Pebble's error text.
        err: String,
    },
    /// A change did not finish in time.
    #[error("timed out waiting for change {0}")]
    Timeout(String),
    /// The answer could not be read.
    #[error("invalid answer from Pebble: {0}")]
    Protocol(String),
}

impl Error {
    /// Whether Pebble said the path or object does not exist (kind `not-found`, or a 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { kind: Some(kind), .. } if kind == "not-found")
            || matches!(self, Error::Api { status: 404, .. })
    }
}

/// A raw HTTP answer.
#[derive(Debug)]
struct Response {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// A Pebble client for one container.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    io_timeout: Duration,
}

impl Client {
    /// A client for the socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            io_timeout: Duration::from_secs(30),
        }
    }

    /// The client for container `name` under `containers_dir` (normally [`CONTAINERS_DIR`]).
    pub fn for_container(containers_dir: &Path, name: &str) -> Client {
        Client::new(containers_dir.join(name).join(SOCKET_NAME))
    }

    /// The client for container `name` under [`containers_dir`] of the process environment:
    /// `$JUJU_CONTAINERS_DIR/<name>/pebble.socket`, by default
    /// `/charm/containers/<name>/pebble.socket`.
    pub fn for_container_in_env(name: &str) -> Client {
        Client::for_container(&containers_dir(&ProcessEnv), name)
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        accept: &str,
    ) -> Result<Response, Error> {
        let connection = |source| Error::Connection {
            socket: self.socket.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.socket).map_err(connection)?;
        stream
            .set_read_timeout(Some(self.io_timeout))
            .map_err(connection)?;
        stream
            .set_write_timeout(Some(self.io_timeout))
            .map_err(connection)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nConnection: close\r\n"
        );
        let body = match body {
            Some((content_type, bytes)) => {
                head.push_str(&format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                    bytes.len()
                ));
                bytes
            }
            None => Vec::new(),
        };
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).map_err(connection)?;
        stream.write_all(&body).map_err(connection)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(connection)?;
        parse_response(&raw)
    }

    /// Sends a request and unwraps a `sync` envelope's result (or the change id of `async`).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Envelope, Error> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let response = self.send(method, path, body, "application/json")?;
        envelope(&response)
    }

    fn result<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let envelope = self.call(method, path, body)?;
        serde_json::from_value(envelope.result).map_err(|e| Error::Protocol(format!("{path}: {e}")))
    }

    /// `GET /v1/system-info`.
    pub fn system_info(&self) -> Result<SystemInfo, Error> {
        self.result("GET", "/v1/system-info", None)
    }

    /// Whether Pebble answers (ops' `can_connect`).
    pub fn can_connect(&self) -> bool {
        self.system_info().is_ok()
    }

    /// `POST /v1/layers`: adds (or with `combine`, merges into) the layer `label`.
    pub fn add_layer(&self, label: &str, layer: &Layer, combine: bool) -> Result<(), Error> {
        let body = json!({"action": "add", "combine": combine, "label": label, "format": "yaml", "layer": layer.to_yaml()});
        self.call("POST", "/v1/layers", Some(&body)).map(drop)
    }

    /// `GET /v1/plan?format=yaml`: the combined plan.
    pub fn plan(&self) -> Result<Layer, Error> {
        let yaml: String = self.result("GET", "/v1/plan?format=yaml", None)?;
        Layer::parse_yaml(&yaml).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// `GET /v1/services[?names=...]`.
    pub fn services(&self, names: &[&str]) -> Result<Vec<ServiceInfo>, Error> {
        let path = if names.is_empty() {
            "/v1/services".to_owned()
        } else {
            format!("/v1/services?names={}", names.join(","))
        };
        self.result("GET", &path, None)
    }

    /// `GET /v1/checks`.
    pub fn checks(&self) -> Result<Vec<CheckInfo>, Error> {
        self.result("GET", "/v1/checks", None)
    }

    /// `POST /v1/services` with `action` (`start`, `stop`, `restart`, `replan`, `autostart`),
    /// then waits for the change up to `timeout`.
    pub fn services_action(
        &self,
        action: &str,
        services: &[&str],
        timeout: Duration,
    ) -> Result<Change, Error> {
        let envelope = self.call(
            "POST",
            "/v1/services",
            Some(&json!({"action": action, "services": services})),
        )?;
        let id = envelope
            .change
            .ok_or_else(|| Error::Protocol(format!("{action}: no change id")))?;
        self.wait_change(&id, timeout)
    }

    /// Waits for change `id`: long-polls `/wait` (504 means "not yet"), or polls the change
    /// on an old Pebble without `/wait` (404). A change with `err` is an [`Error::Change`].
    pub fn wait_change(&self, id: &str, timeout: Duration) -> Result<Change, Error> {
        let deadline = Instant::now() + timeout;
        let mut wait_supported = true;
        loop {
            if Instant::now() >= deadline {
                return Err(Error::Timeout(id.to_owned()));
            }
            let path = if wait_supported {
                format!("/v1/changes/{id}/wait?timeout={WAIT_STEP}")
            } else {
                format!("/v1/changes/{id}")
            };
            let change: Change = match self.result("GET", &path, None) {
                Ok(change) => change,
                Err(Error::Api { status: 504, .. }) => continue,
                Err(Error::Api { status: 404, .. }) if wait_supported => {
                    wait_supported = false;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(err) = change.err.clone().filter(|e| !e.is_empty()) {
                return Err(Error::Change {
                    id: id.to_owned(),
                    err,
                });
            }
            if change.ready {
                return Ok(change);
            }
            if !wait_supported {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// `POST /v1/files` (multipart): writes `content` to `path`.
    pub fn push(
        &self,
        path: &str,
        content: &[u8],
        make_dirs: bool,
        permissions: Option<&str>,
    ) -> Result<(), Error> {
        let mut file = json!({"path": path, "make-dirs": make_dirs});
        if let Some(p) = permissions {
            file["permissions"] = Value::String(p.to_owned());
        }
        let request = json!({"action": "write", "files": [file]}).to_string();
        let parts = [
            Part::json("request", &request),
            Part::file(path, content.to_vec()),
        ];
        let boundary = multipart::boundary_for(&[request.as_bytes(), content]);
        let body = multipart::encode(&boundary, &parts);
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let response = self.send(
            "POST",
            "/v1/files",
            Some((&content_type, body)),
            "application/json",
        )?;
        let results: Vec<PathResult> = serde_json::from_value(envelope(&response)?.result)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        path_errors(results)
    }

    /// `GET /v1/files?action=read`: the content of `path`.
    pub fn pull(&self, path: &str) -> Result<Vec<u8>, Error> {
        let query = format!("/v1/files?action=read&path={}", query_escape(path));
        let response = self.send("GET", &query, None, "multipart/form-data")?;
        if !response.content_type.starts_with("multipart/") {
            envelope(&response)?;
            return Err(Error::Protocol("expected a multipart answer".into()));
        }
        let parts = multipart::parse(&response.content_type, &response.body)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        if let Some(answer) = parts.iter().find(|part| part.name == "response") {
            let envelope: Envelope = serde_json::from_slice(&answer.content)
                .map_err(|e| Error::Protocol(e.to_string()))?;
            let results: Vec<PathResult> =
                serde_json::from_value(envelope.result).unwrap_or_default();
            path_errors(results)?;
        }
        parts
            .into_iter()
            .find(|part| part.name == "files")
            .map(|part| part.content)
            .ok_or_else(|| Error::Protocol(format!("no content for {path}")))
    }

    /// `GET /v1/files?action=list`.
    pub fn list_files(&self, path: &str) -> Result<Vec<FileInfo>, Error> {
        self.result(
            "GET",
            &format!("/v1/files?action=list&path={}", query_escape(path)),
            None,
        )
    }

    /// `POST /v1/files` `make-dirs`.
    pub fn make_dir(&self, path: &str, make_parents: bool) -> Result<(), Error> {
        let body =
            json!({"action": "make-dirs", "dirs": [{"path": path, "make-parents": make_parents}]});
        let results: Vec<PathResult> = self.result("POST", "/v1/files", Some(&body))?;
        path_errors(results)
    }

    /// `POST /v1/files` `remove`.
    pub fn remove(&self, path: &str, recursive: bool) -> Result<(), Error> {
        let body = json!({"action": "remove", "paths": [{"path": path, "recursive": recursive}]});
        let results: Vec<PathResult> = self.result("POST", "/v1/files", Some(&body))?;
        path_errors(results)
    }
    /// `GET /v1/health[?level=alive|ready]`: whether Pebble reports healthy (502 means not).
    pub fn health(&self, level: Option<&str>) -> Result<bool, Error> {
        let path = match level {
            Some(level) => format!("/v1/health?level={}", query_escape(level)),
            None => "/v1/health".to_owned(),
        };
        let response = self.send("GET", &path, None, "application/json")?;
        let envelope: Envelope = serde_json::from_slice(&response.body)
            .map_err(|e| Error::Protocol(format!("{path}: {e}")))?;
        if envelope.type_ == "error" {
            return Err(Error::Api {
                status: response.status,
                message: envelope.result["message"].as_str().unwrap_or("").to_owned(),
                kind: envelope.result["kind"].as_str().map(str::to_owned),
            });
        }
        Ok(envelope.result["healthy"].as_bool().unwrap_or(false))
    }

    /// `POST /v1/checks/refresh`: runs check `name` now; `Ok(None)` when it passed, else the
    /// error Pebble reports.
    pub fn refresh_check(&self, name: &str) -> Result<Option<String>, Error> {
        let result: Value =
            self.result("POST", "/v1/checks/refresh", Some(&json!({"name": name})))?;
        Ok(result["error"]
            .as_str()
            .filter(|error| !error.is_empty())
            .map(str::to_owned))
    }

    /// `POST /v1/checks` with `action` (`start` or `stop`): the checks that changed.
    pub fn checks_action(&self, action: &str, checks: &[&str]) -> Result<Vec<String>, Error> {
        let result: Value = self.result(
            "POST",
            "/v1/checks",
            Some(&json!({"action": action, "checks": checks})),
        )?;
        Ok(serde_json::from_value(result["changed"].clone()).unwrap_or_default())
    }

    /// `POST /v1/signals`: sends `signal` (e.g. `SIGHUP`) to the services.
    pub fn send_signal(&self, signal: &str, services: &[&str]) -> Result<(), Error> {
        let body = json!({"signal": signal, "services": services});
        self.call("POST", "/v1/signals", Some(&body)).map(drop)
    }

    /// `GET /v1/notices` filtered by `query`.
    pub fn notices(&self, query: &NoticesQuery) -> Result<Vec<Notice>, Error> {
        let mut params = Vec::new();
        if !query.types.is_empty() {
            params.push(format!("types={}", query_escape(&query.types.join(","))));
        }
        if !query.keys.is_empty() {
            params.push(format!("keys={}", query_escape(&query.keys.join(","))));
        }
        if let Some(after) = &query.after {
            params.push(format!("after={}", query_escape(after)));
        }
        let path = if params.is_empty() {
            "/v1/notices".to_owned()
        } else {
            format!("/v1/notices?{}", params.join("&"))
        };
        self.result("GET", &path, None)
    }

    /// `GET /v1/notices/{id}`.
    pub fn notice(&self, id: &str) -> Result<Notice, Error> {
        self.result("GET", &format!("/v1/notices/{}", query_escape(id)), None)
    }

    /// `POST /v1/notices`: records a `custom` notice `key` and returns its id.
    pub fn notify(
        &self,
        key: &str,
        data: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, Error> {
        let body = json!({"action": "add", "type": "custom", "key": key, "data": data});
        let result: Value = self.result("POST", "/v1/notices", Some(&body))?;
        result["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol("notice without id".into()))
    }

    /// `POST /v1/exec`: runs `command` in the container without stdin, collects its stdout
    /// and stderr over Pebble's exec websockets (`/v1/tasks/{task-id}/websocket/{control,
    /// stdio,stderr}`), then waits for the change and reads the exit code from
    /// `tasks[0].data["exit-code"]`. A non-zero exit is an `Ok` output; a command Pebble could
    /// not run is an [`Error::Change`].
    pub fn exec(&self, command: &[&str], options: &ExecOptions) -> Result<ExecOutput, Error> {
        let mut body = json!({"command": command, "split-stderr": true});
        if !options.environment.is_empty() {
            body["environment"] = json!(options.environment);
        }
        if let Some(dir) = &options.working_dir {
            body["working-dir"] = json!(dir);
        }
        if let Some(timeout) = options.timeout {
            body["timeout"] = json!(format!("{}ms", timeout.as_millis()));
        }
        let envelope = self.call("POST", "/v1/exec", Some(&body))?;
        let id = envelope
            .change
            .ok_or_else(|| Error::Protocol("exec: no change id".into()))?;
        let task = envelope.result["task-id"]
            .as_str()
            .ok_or_else(|| Error::Protocol("exec: no task id".into()))?
            .to_owned();
        let wait = options.timeout.unwrap_or(Duration::from_secs(30)) + Duration::from_secs(5);
        let streams = (|| {
            let control = self.websocket(&task, "control", wait)?;
            let mut stdio = self.websocket(&task, "stdio", wait)?;
            let mut stderr = self.websocket(&task, "stderr", wait)?;
            // No stdin: end it at once.
            stdio.send(websocket::TEXT, websocket::END.as_bytes())?;
            let (stdout, stderr) = std::thread::scope(|scope| {
                let stderr = scope.spawn(move || stderr.read_to_end());
                let stdout = stdio.read_to_end();
                (stdout, stderr.join())
            });
            let stderr =
                stderr.map_err(|_| Error::Protocol("exec: stderr reader failed".into()))?;
            Ok::<_, Error>((control, stdout?, stderr?))
        })();
        let change = self.wait_change(&id, wait)?;
        let (mut control, stdout, stderr) = streams?;
        // The command is done: say goodbye on the control stream (best effort).
        let _ = control.send(websocket::CLOSE, &[]);
        let exit_code = change
            .tasks
            .first()
            .and_then(|task| task["data"]["exit-code"].as_i64())
            .and_then(|c| i32::try_from(c).ok())
            .ok_or_else(|| Error::Protocol(format!("exec change {id} without exit-code")))?;
        Ok(ExecOutput {
            exit_code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Opens exec websocket `name` of task `task`.
    fn websocket(&self, task: &str, name: &str, timeout: Duration) -> Result<WebSocket, Error> {
        let connection = |source| Error::Connection {
            socket: self.socket.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.socket).map_err(connection)?;
        stream.set_read_timeout(Some(timeout)).map_err(connection)?;
        stream
            .set_write_timeout(Some(self.io_timeout))
            .map_err(connection)?;
        let key = websocket::client_key(seed(name));
        let request = format!(
            "GET /v1/tasks/{task}/websocket/{name} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).map_err(connection)?;
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).map_err(connection)?;
            if n == 0 {
                return Err(Error::Protocol(format!(
                    "websocket {name}: connection closed"
                )));
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "101" {
            return Err(Error::Protocol(format!(
                "websocket {name} of task {task}: status {status}"
            )));
        }
        let accept = head.lines().find_map(|line| {
            let (header, value) = line.split_once(':')?;
            header
                .trim()
                .eq_ignore_ascii_case("sec-websocket-accept")
                .then(|| value.trim().to_owned())
        });
        if accept.as_deref() != Some(websocket::accept_key(&key).as_str()) {
            return Err(Error::Protocol(format!(
                "websocket {name}: bad Sec-WebSocket-Accept"
            )));
        }
        buffer.drain(..head_end);
        Ok(WebSocket {
            stream,
            buffer,
            seed: seed(task),
        })
    }
}

/// The containers directory: `$JUJU_CONTAINERS_DIR` if set and not empty, else
/// [`CONTAINERS_DIR`]. The one place that reads [`CONTAINERS_DIR_ENV`].
pub fn containers_dir(source: &impl Source) -> PathBuf {
    source
        .get(CONTAINERS_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(CONTAINERS_DIR), PathBuf::from)
}

/// Filters of [`Client::notices`]; empty lists do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticesQuery {
    /// Notice types (`custom`, ...).
    pub types: Vec<String>,
    /// Notice keys.
    pub keys: Vec<String>,
    /// Only notices that occurred after this time (RFC 3339).
    pub after: Option<String>,
}

/// How [`Client::exec`] runs a command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// Extra environment variables.
    pub environment: std::collections::BTreeMap<String, String>,
    /// Working directory in the container.
    pub working_dir: Option<String>,
    /// Pebble kills the command after this long.
    pub timeout: Option<Duration>,
}

/// What an exec'd command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its exit code.
    pub exit_code: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// A client end of an exec websocket.
struct WebSocket {
    stream: UnixStream,
    /// Bytes read but not yet decoded.
    buffer: Vec<u8>,
    /// Varies the masks.
    seed: u128,
}

impl WebSocket {
    fn io(error: &std::io::Error) -> Error {
        Error::Protocol(format!("exec websocket: {error}"))
    }

    /// Sends one masked frame.
    fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), Error> {
        self.seed = self.seed.rotate_left(13) ^ 0x9E37_79B9_7F4A_7C15;
        let mask = (self.seed as u32).to_be_bytes();
        self.stream
            .write_all(&websocket::encode(opcode, payload, Some(mask)))
            .map_err(|e| WebSocket::io(&e))
    }

    /// The next frame, or `None` at the end of the connection.
    fn frame(&mut self) -> Result<Option<websocket::Frame>, Error> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((frame, used)) = websocket::decode(&self.buffer) {
                self.buffer.drain(..used);
                return Ok(Some(frame));
            }
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|e| WebSocket::io(&e))?;
            if n == 0 {
                return Ok(None);
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// The data of a stream, up to its end message (or close).
    fn read_to_end(&mut self) -> Result<Vec<u8>, Error> {
        let mut data = Vec::new();
        while let Some(frame) = self.frame()? {
            match frame.opcode {
                websocket::BINARY | websocket::CONTINUATION => {
                    data.extend_from_slice(&frame.payload);
                }
                websocket::PING => self.send(websocket::PONG, &frame.payload)?,
                _ if frame.ends_stream() => break,
                _ => {}
            }
        }
        Ok(data)
    }
}

/// Varying bits for websocket keys and masks (not secret: the socket is local).
fn seed(salt: &str) -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    salt.bytes()
        .fold(nanos, |acc, b| acc.rotate_left(7) ^ u128::from(b))
}

/// The first per-path error, as an API error.
fn path_errors(results: Vec<PathResult>) -> Result<(), Error> {
    match results.into_iter().find_map(|r| r.error) {
        None => Ok(()),
        Some(error) => Err(Error::Api {
            status: 200,
            message: error["message"].as_str().unwrap_or("file error").to_owned(),
            kind: error["kind"].as_str().map(str::to_owned),
        }),
    }
}

/// Reads an envelope; an `error` envelope becomes [`Error::Api`].
fn envelope(response: &Response) -> Result<Envelope, Error> {
    let envelope: Envelope = serde_json::from_slice(&response.body).map_err(|e| {
        Error::Protocol(format!(
            "status {}: {e}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        ))
    })?;
    if envelope.type_ == "error" || response.status >= 400 {
        return Err(Error::Api {
            status: response.status,
            message: envelope.result["message"].as_str().unwrap_or("").to_owned(),
            kind: envelope.result["kind"].as_str().map(str::to_owned),
        });
    }
    Ok(envelope)
}

fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses status line, headers and body (chunked or not) of an HTTP/1.1 answer.
fn parse_response(raw: &[u8]) -> Result<Response, Error> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::Protocol("incomplete answer".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Protocol("bad status line".into()))?;
    let (mut content_type, mut chunked, mut length) = (String::new(), false, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = value.to_owned(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "content-length" => length = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest[..length.unwrap_or(rest.len()).min(rest.len())].to_vec()
    };
    Ok(Response {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = || Error::Protocol("bad chunked encoding".into());
    let mut body = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad())?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(bad());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests;
