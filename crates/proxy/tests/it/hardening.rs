//! Small hardening of the real server (issue 12 item 9): mutator output sanitised as Go writes
//! headers, a `408` for a head that stops arriving, and `serve.api.timeout.idle` enforced.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::server::charm_files;
use crate::support::{Answer, FakeKratos, Server, kratos_session, rfc3339_in};

/// Every wait on a socket in these tests ends within this.
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn a_newline_in_session_data_reaches_the_app_as_a_space_not_a_500() {
    // A user's own traits may hold anything; Kratos answers them as JSON strings.
    let kratos = FakeKratos::start(|_| {
        Answer::ok(kratos_session(
            "user-1",
            "ann@example.com\u{0}",
            "Ann\r\nX-Admin: yes",
            &rfc3339_in(3600),
        ))
    })
    .await;
    let dir = charm_files(&kratos.url());
    let reply = tokio::task::spawn_blocking(move || {
        let server = Server::start(&dir.path().join("oathkeeper.yaml"));
        server.decide(
            "https://example.com/private",
            &[("Cookie", "ory_kratos_session=good")],
        )
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("x-user"), Some("user-1"));
    assert_eq!(reply.header("x-name"), Some("Ann  X-Admin: yes"));
    assert_eq!(reply.header("x-email"), Some("ann@example.com"));
    assert_eq!(reply.header("x-admin"), None, "no header was injected");
}

/// The server with the charm's config and `env` (timeouts), Kratos unused.
fn server_with(env: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    let dir = charm_files("http://127.0.0.1:9");
    let server = Server::start_with_env(Some(&dir.path().join("oathkeeper.yaml")), env);
    (server, dir)
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect_timeout(&server.api, WAIT).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

/// Reads until the server closes the connection; the bytes and how long that took.
fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
    (received, started.elapsed())
}

/// Sends `GET path` on a kept-alive connection and reads its answer; the status.
fn get_kept_alive(stream: &mut TcpStream, path: &str) -> u16 {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    assert!(reader.buffer().is_empty(), "one answer per request");
    status
}

#[test]
fn a_head_that_stops_arriving_is_answered_408_before_the_close() {
    let (server, _dir) = server_with(&[("SERVE_API_TIMEOUT_READ", "300ms")]);
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /decisions HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-Ur")
        .unwrap();
    let (received, elapsed) = read_until_closed(&mut stream);
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{text:?}"
    );
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
}

#[test]
fn kept_alive_connections_close_after_the_configured_idle_timeout() {
    let (server, _dir) = server_with(&[
        ("SERVE_API_TIMEOUT_READ", "200ms"),
        ("SERVE_API_TIMEOUT_IDLE", "1s"),
    ]);
    let mut stream = connect(&server);
    assert_eq!(get_kept_alive(&mut stream, "/health/alive"), 200);
    // Idle longer than `read` but within `idle`: the connection stays.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get_kept_alive(&mut stream, "/health/alive"), 200);
    // Then idle past `idle`: closed, without an answer.
    let (received, elapsed) = read_until_closed(&mut stream);
    assert_eq!(String::from_utf8_lossy(&received), "");
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}
