//! The session-store request built from parts, and what a 200 must hold to authenticate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};
use oathkeeper_core::candidate::Candidate;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;
use crate::metrics::Metrics;

/// A session store on 127.0.0.1 that answers every request 200 with subject `subject` and
/// records each request head, as received.
struct FakeStore {
    addr: SocketAddr,
    heads: Arc<tokio::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeStore {
    async fn start(subject: &'static str) -> FakeStore {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0; 4096];
                    let read = tokio::time::timeout(Duration::from_secs(5), async {
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                            match stream.read(&mut buffer).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => head.extend_from_slice(&buffer[..n]),
                            }
                        }
                    });
                    if read.await.is_err() {
                        return;
                    }
                    seen.lock()
                        .await
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let body = format!(r#"{{"subject": "{subject}"}}"#);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        FakeStore { addr, heads, task }
    }

    async fn calls(&self) -> usize {
        self.heads.lock().await.len()
    }

    /// The request line of the last call.
    async fn last_request_line(&self) -> String {
        let heads = self.heads.lock().await;
        let head = heads.last().expect("the store was called");
        head.lines().next().unwrap_or_default().to_owned()
    }
}

impl Drop for FakeStore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn store(config: &str) -> SessionStore {
    let config: Config = serde_json::from_str(config).unwrap();
    SessionStore::compile("cookie_session", &config, Credential::Cookie, "subject").unwrap()
}

fn original<'a>(
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
) -> OriginalRequest<'a> {
    OriginalRequest {
        candidate: Candidate {
            method: "GET",
            scheme: "https",
            host: "example.com",
            path,
            forwarded_uri: None,
        },
        query,
        headers,
        remote_ip: None,
    }
}

fn cookie(value: &'static [u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.append("cookie", HeaderValue::from_bytes(value).unwrap());
    headers
}

#[tokio::test]
async fn issue_12_the_original_path_never_moves_the_call_to_another_host() {
    let real = FakeStore::start("from-the-real-store").await;
    let evil = FakeStore::start("attacker").await;
    let store = store(&format!(
        r#"{{"check_session_url": "http://{}/sessions/whoami?a=1"}}"#,
        real.addr
    ));
    let e = evil.addr;
    let cases = [
        (format!("@{e}/x"), format!("/@{e}/x?a=1")),
        (format!("@{e}"), format!("/@{e}?a=1")),
        (format!("//{e}/x"), format!("//{e}/x?a=1")),
        (format!("\\\\{e}\\x"), format!("/%5C%5C{e}%5Cx?a=1")),
        (format!("/x?y#@{e}/z"), format!("/x%3Fy%23@{e}/z?a=1")),
        (format!("http://{e}/x"), format!("/http://{e}/x?a=1")),
        (
            "/caf\u{e9} x%20y%zz%".to_owned(),
            "/caf%C3%A9%20x%20y%25zz%25?a=1".to_owned(),
        ),
        (
            "/a\r\nHost: evil\0".to_owned(),
            "/a%0D%0AHost:%20evil%00?a=1".to_owned(),
        ),
    ];
    let metrics = Metrics::new("");
    let cx = Cx::new(&metrics);
    let headers = cookie(b"ory_kratos_session=s");
    for (path, sent) in cases {
        let verdict = store.check(&original(&path, None, &headers), &cx).await;
        let verdict = verdict.unwrap_or_else(|d| panic!("{path:?}: {}", d.reason));
        assert_eq!(verdict.subject, "from-the-real-store", "{path:?}");
        assert_eq!(
            real.last_request_line().await,
            format!("GET {sent} HTTP/1.1"),
            "{path:?}"
        );
    }
    assert_eq!(evil.calls().await, 0, "the other host was never called");
}

#[tokio::test]
async fn issue_12_the_original_query_is_set_as_a_query() {
    let real = FakeStore::start("u1").await;
    let evil = FakeStore::start("attacker").await;
    let store = store(&format!(
        r#"{{"check_session_url": "http://{}/whoami", "preserve_path": true, "preserve_query": false}}"#,
        real.addr
    ));
    let metrics = Metrics::new("");
    let cx = Cx::new(&metrics);
    let headers = cookie(b"s=1");
    let query = format!("t=1#@{}/x&u=a b/?c", evil.addr);
    let verdict = store
        .check(&original("/", Some(&query), &headers), &cx)
        .await;
    assert_eq!(verdict.unwrap().subject, "u1");
    assert_eq!(
        real.last_request_line().await,
        format!("GET /whoami?t=1%23@{}/x&u=a%20b/?c HTTP/1.1", evil.addr)
    );
    assert_eq!(evil.calls().await, 0);
}

#[test]
fn the_url_keeps_the_configured_scheme_and_authority_and_valid_escapes() {
    let store = store(
        r#"{"check_session_url": "https://kratos.internal:4433/sessions/whoami", "preserve_query": false}"#,
    );
    let headers = HeaderMap::new();
    let url = |path: &str, query: Option<&str>| {
        store
            .outbound(&original(path, query, &headers))
            .to_request()
            .map(|r| r.uri.to_string())
            .map_err(|_| ())
    };
    assert_eq!(
        url("/a%20b/%C3%A9/+;=:@!$&'()*,~", Some("x=%2F&y=1")),
        Ok("https://kratos.internal:4433/a%20b/%C3%A9/+;=:@!$&'()*,~?x=%2F&y=1".to_owned())
    );
    assert_eq!(
        url("/{x}[y]\"|^`<>", None),
        Ok("https://kratos.internal:4433/%7Bx%7D%5By%5D%22%7C%5E%60%3C%3E".to_owned())
    );
    assert_eq!(
        url("", Some("")),
        Ok("https://kratos.internal:4433/".to_owned())
    );
}

fn read(body: &str) -> Result<Verdict, Denial> {
    let store = store(
        r#"{"check_session_url": "http://kratos/sessions/whoami", "subject_from": "identity.id"}"#,
    );
    store.read(
        body.as_bytes(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_870_800),
    )
}

#[test]
fn issue_12_a_200_without_a_subject_denies_with_401() {
    for body in [
        "{}",
        r#"{"identity": null}"#,
        r#"{"identity": {"id": null}}"#,
        r#"{"identity": {"id": ""}}"#,
        r#"{"active": true, "identity": {}}"#,
    ] {
        let denial = read(body).map(|v| v.subject).unwrap_err();
        assert_eq!(denial.status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(denial.reason.contains("without a subject"), "{body}");
    }
}

#[test]
fn issue_12_a_200_whose_active_is_not_true_denies_with_401() {
    for active in ["false", "null", r#""true""#, "1", "{}"] {
        let body = format!(r#"{{"active": {active}, "identity": {{"id": "u1"}}}}"#);
        let denial = read(&body).map(|v| v.subject).unwrap_err();
        assert_eq!(denial.status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(denial.reason.contains("not active"), "{body}");
    }
    let live = read(r#"{"active": true, "identity": {"id": "u1"}}"#).unwrap();
    assert_eq!(live.subject, "u1");
}

#[test]
fn issue_12_a_200_with_a_past_expires_at_denies_with_401() {
    // `now` is 2026-11-28T13:00:00Z.
    for at in [
        "2026-11-28T12:59:59Z",
        "2026-11-28T13:00:00Z",
        "0001-01-01T00:00:00Z",
    ] {
        let body = format!(r#"{{"expires_at": "{at}", "identity": {{"id": "u1"}}}}"#);
        let denial = read(&body).map(|v| v.subject).unwrap_err();
        assert_eq!(denial.status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let live =
        read(r#"{"expires_at": "2026-11-28T13:00:01.5+00:00", "identity": {"id": "u1"}}"#).unwrap();
    assert_eq!(
        live.expires_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_870_801_500))
    );
}

#[test]
fn issue_12_a_200_with_an_unreadable_expires_at_denies_with_403() {
    for at in [
        r#""tomorrow""#,
        "null",
        "4102444800",
        r#""2999-01-01""#,
        "{}",
    ] {
        let body = format!(r#"{{"expires_at": {at}, "identity": {{"id": "u1"}}}}"#);
        let denial = read(&body).map(|v| v.subject).unwrap_err();
        assert_eq!(denial.status, StatusCode::FORBIDDEN, "{body}");
        assert!(denial.reason.contains("expires_at"), "{body}");
    }
}

#[test]
fn a_200_with_a_subject_and_neither_active_nor_expires_at_authenticates() {
    let verdict = read(r#"{"identity": {"id": "u1"}}"#).unwrap();
    assert_eq!(verdict.subject, "u1");
    assert_eq!(verdict.expires_at, None);
}
