//! The requests of the measurements: what Traefik sends for each kind of decision on the
//! charm's rules ([`oathkeeper_core::testing::many_rules`]), with the status each must get,
//! and a keep-alive client that sends an exact number of them and checks every answer.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// The session cookie the fake Kratos (`loadbench kratos`) accepts (it accepts any).
const SESSION_COOKIE: &str = "ory_kratos_session=bench";

/// One kind of request and the status the server must answer it with.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// What it measures, e.g. `allow, own host`.
    pub(crate) name: String,
    /// Traefik's forward-auth headers and the client's.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The expected status.
    pub(crate) status: u16,
}

/// An app of [`many_rules`](oathkeeper_core::testing::many_rules): on its own host
/// (`https://app<i>.example.com`, even `i`) or under a path prefix of the shared host
/// (`https://shared.example.com/model-app<i>-ui`, odd `i`); allowed endpoints `/welcome` and
/// `/about/app`, everything else behind the Kratos session.
#[derive(Clone, Copy, Debug)]
pub(crate) enum App {
    /// `app16.example.com` (`app0` below 100 rules).
    OwnHost,
    /// `shared.example.com/model-app17-ui` (`app1` below 100 rules).
    SharedHost,
}

impl App {
    fn label(self) -> &'static str {
        match self {
            App::OwnHost => "own host",
            App::SharedHost => "shared host",
        }
    }

    /// Host and path prefix at `n` rules.
    fn location(self, n: usize) -> (String, String) {
        let own = if n >= 100 { 16 } else { 0 };
        match self {
            App::OwnHost => (format!("app{own}.example.com"), String::new()),
            App::SharedHost => (
                "shared.example.com".to_owned(),
                format!("/model-app{}-ui", own + 1),
            ),
        }
    }
}

/// The kinds of decision the charm's rules make.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// An allowed endpoint (`noop` authenticator and mutator): 200.
    Allow,
    /// A protected path without a session from an API client: 401.
    Unauthorized,
    /// A protected path without a session from a browser (`Accept: text/html`): 302 to the
    /// login page.
    Login,
    /// A protected path with a session in the cache (`cookie_session`, `header` mutator): 200.
    Session,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Allow => "allow (noop)",
            Kind::Unauthorized => "no session, API client (401)",
            Kind::Login => "no session, browser (302 to login)",
            Kind::Session => "cookie_session cache hit",
        }
    }
}

/// The request of `kind` to `app` at `n` rules.
pub(crate) fn request(kind: Kind, app: App, n: usize) -> Request {
    let (host, prefix) = app.location(n);
    let path = match kind {
        Kind::Allow => "/welcome",
        Kind::Unauthorized | Kind::Login | Kind::Session => "/private/page",
    };
    let mut headers = vec![
        ("X-Forwarded-Proto", "https".to_owned()),
        ("X-Forwarded-Host", host),
        ("X-Forwarded-Uri", format!("{prefix}{path}")),
    ];
    let status = match kind {
        Kind::Allow => 200,
        Kind::Unauthorized => 401,
        Kind::Login => {
            headers.push((
                "Accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".to_owned(),
            ));
            302
        }
        Kind::Session => {
            headers.push(("Cookie", SESSION_COOKIE.to_owned()));
            200
        }
    };
    Request {
        name: format!("{}, {}, {n} rules", kind.label(), app.label()),
        headers,
        status,
    }
}

/// Every kind for both apps at `n` rules.
pub(crate) fn all(n: usize) -> Vec<Request> {
    let mut requests = Vec::new();
    for kind in [Kind::Allow, Kind::Unauthorized, Kind::Login, Kind::Session] {
        for app in [App::OwnHost, App::SharedHost] {
            requests.push(request(kind, app, n));
        }
    }
    requests
}

/// The request's bytes, as sent to `addr`.
pub(crate) fn bytes(request: &Request, addr: SocketAddr) -> Vec<u8> {
    let mut text = format!("GET /decisions HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in &request.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// One keep-alive connection that sends a request, reads its whole answer, and so on.
pub(crate) struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    /// Connects to `addr`; every read waits up to `timeout`.
    pub(crate) fn open(addr: SocketAddr, timeout: Duration) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends `request` (its bytes) and returns the answer's status once the whole answer is read.
    fn exchange(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        self.stream.write_all(request)?;
        self.buffer.clear();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = find(&self.buffer, b"\r\n\r\n") {
                break i + 4;
            }
            let read = self.stream.read(&mut chunk)?;
            if read == 0 {
                bail!("the server closed the connection");
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        };
        let head =
            std::str::from_utf8(&self.buffer[..head_end]).context("answer head not UTF-8")?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line: {head}"))?;
        let mut length = 0usize;
        for line in head.lines().skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().context("bad content-length")?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked answers are not supported: {head}");
            }
        }
        let mut body = self.buffer.len() - head_end;
        while body < length {
            let read = self.stream.read(&mut chunk)?;
            if read == 0 {
                bail!("the server closed the connection mid-answer");
            }
            body += read;
        }
        Ok(status)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends `request` once on a new connection; fails unless it gets the expected status.
pub(crate) fn check(addr: SocketAddr, request: &Request) -> anyhow::Result<()> {
    let mut connection = Connection::open(addr, Duration::from_secs(30))?;
    let status = connection.exchange(&bytes(request, addr))?;
    expect(request, addr, status)
}

/// Fails unless `status` is the one `request` expects from `addr`.
fn expect(request: &Request, addr: SocketAddr, status: u16) -> anyhow::Result<()> {
    if status != request.status {
        bail!(
            "{}: {addr} answered {status}, expected {}",
            request.name,
            request.status
        );
    }
    Ok(())
}

/// Sends `request` `count` times on each of `connections`, one after the other per
/// connection, the connections in parallel; fails on the first unexpected status.
pub(crate) fn drive(
    addr: SocketAddr,
    connections: &mut [Connection],
    request: &Request,
    count: usize,
) -> anyhow::Result<()> {
    let bytes = bytes(request, addr);
    std::thread::scope(|scope| {
        let workers: Vec<_> = connections
            .iter_mut()
            .map(|connection| {
                let bytes = &bytes;
                scope.spawn(move || -> anyhow::Result<()> {
                    for _ in 0..count {
                        expect(request, addr, connection.exchange(bytes)?)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("client thread panicked"))?
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_its_app_and_expects_its_status() {
        let requests = all(10_000);
        let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 200, 401, 401, 302, 302, 200, 200]);
        let shared = &requests[1];
        assert!(
            shared
                .headers
                .contains(&("X-Forwarded-Host", "shared.example.com".to_owned()))
        );
        assert!(
            shared
                .headers
                .contains(&("X-Forwarded-Uri", "/model-app17-ui/welcome".to_owned()))
        );
        // Only the browser sends Accept: text/html; only the session kind sends the cookie.
        let login = request(Kind::Login, App::OwnHost, 10);
        assert!(
            login
                .headers
                .iter()
                .any(|(n, v)| *n == "Accept" && v.contains("text/html"))
        );
        assert!(
            !requests[2]
                .headers
                .iter()
                .any(|(n, _)| *n == "Accept" || *n == "Cookie")
        );
        assert!(requests[6].headers.iter().any(|(n, _)| *n == "Cookie"));
        assert!(
            login
                .headers
                .contains(&("X-Forwarded-Host", "app0.example.com".to_owned()))
        );
    }
}
