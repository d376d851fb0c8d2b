//! The listener's timeouts over real loopback sockets: a raw client sends exactly the bytes a
//! slow, idle or stalled client would.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// Every wait in these tests ends within this.
const WAIT: Duration = Duration::from_secs(10);

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: test\r\n\r\n";

/// A server on 127.0.0.1 with `limits` whose handler answers `body` after `delay`.
async fn start(limits: Limits, delay: Duration, body: Bytes) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        limits,
        None,
        std::future::pending(),
        move |_request, _peer| {
            let body = body.clone();
            async move {
                tokio::time::sleep(delay).await;
                Response::new(ResponseBody::from(body))
            }
        },
    ));
    addr
}

fn limits(read_ms: u64, write_ms: u64, idle_ms: u64) -> Limits {
    Limits::new(
        Duration::from_millis(read_ms),
        Duration::from_millis(write_ms),
        Duration::from_millis(idle_ms),
    )
}

/// Reads until the server closes (end of stream or reset), with the time that took.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    (received, started.elapsed())
}

/// Reads one answer whose body is `body_len` bytes long.
async fn read_answer(stream: &mut TcpStream, body_len: usize) -> String {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n")
                && received.len() >= end + 4 + body_len
            {
                break;
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-answer: {received:?}");
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("an answer");
    String::from_utf8(received).unwrap()
}

/// Sends `GET` and expects the 200 `ok` answer.
async fn get_ok(stream: &mut TcpStream) {
    stream.write_all(GET).await.unwrap();
    expect_ok(stream).await;
}

/// Expects the 200 `ok` answer.
async fn expect_ok(stream: &mut TcpStream) {
    let answer = read_answer(stream, 2).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer:?}");
}

#[tokio::test]
async fn a_head_that_stops_arriving_gets_408_before_the_close() {
    let addr = start(limits(200, 5_000, 5_000), Duration::ZERO, Bytes::new()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /decisions HTTP/1.1\r\nHost: test\r\nX-Forwarded-")
        .await
        .unwrap();
    let (received, elapsed) = read_until_closed(&mut stream).await;
    let text = String::from_utf8(received).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{text:?}"
    );
    assert!(text.contains("connection: close\r\n"), "{text:?}");
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
}

#[tokio::test]
async fn a_head_that_stops_arriving_on_a_kept_alive_connection_gets_408() {
    let addr = start(limits(200, 5_000, 5_000), Duration::ZERO, Bytes::from("ok")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    get_ok(&mut stream).await;
    stream.write_all(b"GET /second HTTP/1.1\r\n").await.unwrap();
    let (received, _) = read_until_closed(&mut stream).await;
    assert!(received.starts_with(b"HTTP/1.1 408 "), "{received:?}");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_closes_after_read_without_an_answer() {
    let addr = start(limits(200, 5_000, 5_000), Duration::ZERO, Bytes::new()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (received, elapsed) = read_until_closed(&mut stream).await;
    assert_eq!(received, b"");
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
}

#[tokio::test]
async fn kept_alive_connections_live_for_idle_not_read() {
    // read 100 ms, idle 800 ms: a pause of 400 ms between requests keeps the connection.
    let addr = start(limits(100, 5_000, 800), Duration::ZERO, Bytes::from("ok")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    get_ok(&mut stream).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    get_ok(&mut stream).await;
    // Then it idles past `idle` and is closed, silently.
    let (received, elapsed) = read_until_closed(&mut stream).await;
    assert_eq!(received, b"");
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn a_zero_idle_timeout_falls_back_to_read_as_in_go() {
    let addr = start(limits(200, 5_000, 0), Duration::ZERO, Bytes::from("ok")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(GET).await.unwrap();
    read_answer(&mut stream, 2).await;
    let (received, elapsed) = read_until_closed(&mut stream).await;
    assert_eq!(received, b"");
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn a_slow_handler_is_not_cut_by_the_read_timeout() {
    let addr = start(
        limits(100, 5_000, 5_000),
        Duration::from_millis(400),
        Bytes::from("ok"),
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    get_ok(&mut stream).await;
}

#[tokio::test]
async fn a_head_sent_in_pieces_within_read_is_answered() {
    let addr = start(limits(600, 5_000, 5_000), Duration::ZERO, Bytes::from("ok")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for piece in GET.chunks(8) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    expect_ok(&mut stream).await;
}

#[tokio::test]
async fn an_answer_the_client_does_not_take_is_abandoned_after_write() {
    const BODY: usize = 64 << 20;
    let addr = start(
        limits(5_000, 300, 5_000),
        Duration::ZERO,
        Bytes::from(vec![b'x'; BODY]),
    )
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(GET).await.unwrap();
    // Take nothing until long after `write`: the server gives up on the answer.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (received, _) = read_until_closed(&mut stream).await;
    assert!(!received.is_empty());
    assert!(received.len() < BODY, "{} bytes", received.len());
}
