//! A minimal blocking HTTP/1.1 client and server: enough for fakes and assertions, with
//! timeouts everywhere.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A response, or a request as a server received it.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// The status code (responses) — 0 for requests.
    pub status: u16,
    /// The method (requests).
    pub method: String,
    /// The request target (requests), non-UTF-8 bytes replaced.
    pub target: String,
    /// The start line exactly as its bytes came on the wire, without the line end.
    pub start_line: Vec<u8>,
    /// Headers with lower-case names (repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: String,
}

impl Message {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The request target exactly as its bytes came on the wire (requests): the start line's
    /// second word.
    pub fn raw_target(&self) -> &[u8] {
        self.start_line
            .split(|byte| *byte == b' ')
            .nth(1)
            .unwrap_or_default()
    }
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Whether something accepts connections on `port`.
pub fn is_listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// `GET <path>` to `127.0.0.1:<port>` with `headers` (`Host: 127.0.0.1:<port>` unless given).
///
/// The target goes on the socket byte for byte as given, never through a URL parser: a raw
/// `#`, a `..` segment or an absolute-form target (`http://host/path`) reaches the server as
/// written.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Message> {
    send(port, "GET", path, headers, None)
}

/// `<method> <path>` to `127.0.0.1:<port>` with `headers` and, when given, `body` (with its
/// `Content-Length`); the target goes on the socket as given, as with [`get`].
pub fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<Message> {
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    } else {
        request.push_str("\r\n");
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut message = read_head(&mut reader)?;
    let mut words = message.method.split_whitespace();
    let _version = words.next();
    message.status = words.next().and_then(|code| code.parse().ok()).unwrap_or(0);
    message.method.clear();
    message.body = read_body(&mut reader, &message.headers, true)?;
    Ok(message)
}

/// A kept-alive client connection to `127.0.0.1:<port>`: requests one after another on it,
/// as a browser or a load generator sends them.
pub struct KeepAlive {
    port: u16,
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Connects.
    pub fn connect(port: u16) -> std::io::Result<KeepAlive> {
        let stream =
            TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(KeepAlive {
            port,
            reader: BufReader::new(stream),
        })
    }

    /// `GET <path>` with `headers` (`Host: 127.0.0.1:<port>` unless given) on this connection.
    /// An error when the server closed it or answered garbage.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Message> {
        let mut request = format!("GET {path} HTTP/1.1\r\n");
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            request.push_str(&format!("Host: 127.0.0.1:{}\r\n", self.port));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut message = read_head(&mut self.reader)?;
        if message.start_line.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the connection was closed",
            ));
        }
        let mut words = message.method.split_whitespace();
        let _version = words.next();
        message.status = words.next().and_then(|code| code.parse().ok()).unwrap_or(0);
        message.method.clear();
        message.body = read_body(&mut self.reader, &message.headers, false)?;
        Ok(message)
    }
}

/// Reads one line as bytes, without its `\r\n`: a peer's non-UTF-8 bytes (obs-text) are data,
/// not an error.
fn read_raw_line(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    while line
        .last()
        .is_some_and(|byte| *byte == b'\n' || *byte == b'\r')
    {
        line.pop();
    }
    Ok(line)
}

fn read_head(reader: &mut impl BufRead) -> std::io::Result<Message> {
    let start_line = read_raw_line(reader)?;
    let mut message = Message {
        method: String::from_utf8_lossy(&start_line).into_owned(),
        start_line,
        ..Message::default()
    };
    loop {
        let line = read_raw_line(reader)?;
        if line.is_empty() {
            break;
        }
        let line = String::from_utf8_lossy(&line);
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_owned();
            message
                .headers
                .entry(name)
                .and_modify(|old| {
                    old.push_str(", ");
                    old.push_str(&value);
                })
                .or_insert(value);
        }
    }
    Ok(message)
}

fn read_body(
    reader: &mut impl BufRead,
    headers: &BTreeMap<String, String>,
    to_eof: bool,
) -> std::io::Result<String> {
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(std::io::Error::other)?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else if to_eof {
        reader.read_to_end(&mut body)?;
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// What a handler answers: status, headers, body.
pub type Response = (u16, Vec<(String, String)>, String);

/// A tiny threaded HTTP server on a free loopback port; stops when dropped.
pub struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `handler` on a free port.
    pub fn start(handler: impl Fn(&Message) -> Response + Send + Sync + 'static) -> Server {
        Server::start_on(0, handler)
    }

    /// Serves `handler` on `port` (0: any free port).
    pub fn start_on(
        port: u16,
        handler: impl Fn(&Message) -> Response + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let handler = Arc::clone(&handler);
                        let stopped = Arc::clone(&flag);
                        std::thread::spawn(move || {
                            let _ = answer(&stream, handler.as_ref(), &stopped);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops listening (the port then refuses connections).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn answer(
    stream: &TcpStream,
    handler: &(dyn Fn(&Message) -> Response + Send + Sync),
    stopped: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    // The head and the body are two writes: without this, Nagle's algorithm holds the body
    // until the client's delayed ACK (40 ms) on a kept-alive connection.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut request = read_head(&mut reader)?;
        if request.method.is_empty() {
            return Ok(());
        }
        let mut words = request.method.split_whitespace();
        let method = words.next().unwrap_or_default().to_owned();
        request.target = words.next().unwrap_or_default().to_owned();
        request.method = method;
        request.body = read_body(&mut reader, &request.headers, false)?;
        // A stopped server drops its kept-alive connections too: the next request on one
        // gets no answer, as from a server that went away.
        if stopped.load(Ordering::Relaxed) {
            return Ok(());
        }
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (status, headers, body) = handler(&request);
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = stream;
        out.write_all(head.as_bytes())?;
        out.write_all(body.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}
