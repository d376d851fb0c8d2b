//! A byte-for-byte TCP relay that records the request heads passing through it: put between a
//! reverse proxy and the decision server, it shows exactly what the proxy asked the server to
//! decide on (request line, `X-Forwarded-*`), without parsing or rewriting anything on the way.
//!
//! Requests go one way and answers the other, each copied verbatim; only a copy of the client
//! side is kept, so the relay cannot change a decision it observes.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a blocked read waits before checking whether the relay stopped.
const POLL: Duration = Duration::from_millis(200);
/// The end of a request head.
const HEAD_END: &[u8] = b"\r\n\r\n";

/// A running relay from a free loopback port to `127.0.0.1:<target>`; stops when dropped.
pub struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    chunks: Receiver<(u64, Vec<u8>)>,
    /// Bytes per connection not yet split into complete heads.
    pending: Vec<(u64, Vec<u8>)>,
}

/// One request head as the relay saw it.
#[derive(Debug, Clone)]
pub struct Head {
    /// The request line, bytes as sent.
    pub request_line: Vec<u8>,
    /// The header lines, bytes as sent, in order.
    pub header_lines: Vec<Vec<u8>>,
}

impl Head {
    /// The value of the first header named `name` (any case), bytes as sent, trimmed.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_lines.iter().find_map(|line| {
            let colon = line.iter().position(|byte| *byte == b':')?;
            let (key, value) = line.split_at(colon);
            key.eq_ignore_ascii_case(name.as_bytes())
                .then(|| value[1..].trim_ascii())
        })
    }
}

impl Relay {
    /// Relays a free loopback port to `127.0.0.1:<target>`.
    pub fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, chunks) = channel();
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let next_id = AtomicU64::new(0);
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        let sender = sender.clone();
                        let stopped = Arc::clone(&flag);
                        std::thread::spawn(move || {
                            let _ = relay(&client, target, id, &sender, &stopped);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Relay {
            port,
            stop,
            thread: Some(thread),
            chunks,
            pending: Vec::new(),
        }
    }

    /// The port to send requests to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The complete request heads relayed since the last call, in arrival order per
    /// connection.
    pub fn take(&mut self) -> Vec<Head> {
        while let Ok((id, chunk)) = self.chunks.try_recv() {
            match self.pending.iter_mut().find(|(known, _)| *known == id) {
                Some((_, bytes)) => bytes.extend_from_slice(&chunk),
                None => self.pending.push((id, chunk)),
            }
        }
        let mut heads = Vec::new();
        for (_, bytes) in &mut self.pending {
            while let Some(end) = bytes
                .windows(HEAD_END.len())
                .position(|window| window == HEAD_END)
            {
                let head: Vec<u8> = bytes.drain(..end + HEAD_END.len()).collect();
                heads.push(parse_head(&head[..end]));
            }
        }
        heads
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn parse_head(head: &[u8]) -> Head {
    let mut lines = head
        .split(|byte| *byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec());
    Head {
        request_line: lines.next().unwrap_or_default(),
        header_lines: lines.collect(),
    }
}

/// Copies `client` to the target (recording it) and the target back to `client` until either
/// side closes or the relay stops.
fn relay(
    client: &TcpStream,
    target: u16,
    id: u64,
    record: &Sender<(u64, Vec<u8>)>,
    stopped: &AtomicBool,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let server = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], target)), POLL)?;
    let answers = {
        let (mut from, mut to) = (server.try_clone()?, client.try_clone()?);
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    client.set_read_timeout(Some(POLL))?;
    let (mut from, mut to) = (client, &server);
    let mut buffer = [0; 16 * 1024];
    while !stopped.load(Ordering::Relaxed) {
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let _ = record.send((id, buffer[..n].to_vec()));
                to.write_all(&buffer[..n])?;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    let _ = server.shutdown(Shutdown::Write);
    if stopped.load(Ordering::Relaxed) {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    }
    let _ = answers.join();
    Ok(())
}
