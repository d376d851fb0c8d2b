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

use super::api::{Change, CheckInfo, Envelope, FileInfo, PathResult, ServiceInfo, SystemInfo};
use super::layer::Layer;

/// Where Juju puts the containers' sockets, seen from the charm container.
pub const CONTAINERS_DIR: &str = "/charm/containers";
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
        let boundary = boundary(content);
        let mut body = Vec::with_capacity(content.len() + 512);
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/json\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{request}\r\n").as_bytes(),
        );
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path}\"\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
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
        let parts = multipart_parts(&response.content_type, &response.body)?;
        if let Some((_, answer)) = parts.iter().find(|(name, _)| name == "response") {
            let envelope: Envelope =
                serde_json::from_slice(answer).map_err(|e| Error::Protocol(e.to_string()))?;
            let results: Vec<PathResult> =
                serde_json::from_value(envelope.result).unwrap_or_default();
            path_errors(results)?;
        }
        parts
            .into_iter()
            .find(|(name, _)| name == "files")
            .map(|(_, content)| content)
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

/// A boundary that does not occur in `content`.
fn boundary(content: &[u8]) -> String {
    let mut n = 0u32;
    loop {
        let candidate = format!("juju-rs-boundary-{n:08x}");
        if !content
            .windows(candidate.len())
            .any(|w| w == candidate.as_bytes())
        {
            return candidate;
        }
        n += 1;
    }
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

/// The `(name, content)` of each part of a multipart body.
fn multipart_parts(content_type: &str, body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| Error::Protocol("multipart answer without boundary".into()))?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut pieces = split_bytes(body, delimiter.as_bytes());
    pieces.next();
    for piece in pieces {
        if piece.starts_with(b"--") {
            break;
        }
        let piece = piece.strip_prefix(b"\r\n").unwrap_or(piece);
        let Some(split) = piece.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let headers = String::from_utf8_lossy(&piece[..split]).to_ascii_lowercase();
        let name = headers
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_owned();
        let content = &piece[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        parts.push((name, content.to_vec()));
    }
    Ok(parts)
}

fn split_bytes<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(haystack);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(needle.len()).position(|w| w == needle) {
            Some(i) => {
                rest = Some(&current[i + needle.len()..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

#[cfg(test)]
mod tests;
