use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;

/// A server on 127.0.0.1 answering every connection with `answer` (after `delay`), or never
/// when `answer` is `None`.
async fn server(answer: Option<Vec<u8>>, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                match answer {
                    Some(a) => {
                        let _ = stream.write_all(&a).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    format!("http://{addr}")
}

fn answer(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut a = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{headers}connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    a.extend_from_slice(body);
    a
}

fn client(timeout: Duration, max_body: usize) -> Client {
    Client::build(&Policy {
        timeout,
        max_body,
        ..Policy::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_200_body_is_read_in_full() {
    let base = server(Some(answer("200 OK", "", b"{\"keys\":[]}")), Duration::ZERO).await;
    let target = Target::parse(&format!("{base}/jwks?secret=1")).unwrap();
    let a = client(Duration::from_secs(5), 1024)
        .get(&target, HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(&a.body[..], b"{\"keys\":[]}");
}

#[tokio::test]
async fn redirects_are_not_followed_even_to_the_same_host() {
    let base = server(
        Some(answer("302 Found", "location: /elsewhere\r\n", b"")),
        Duration::ZERO,
    )
    .await;
    let target = Target::parse(&format!("{base}/jwks")).unwrap();
    let e = client(Duration::from_secs(5), 1024)
        .get(&target, HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.problem, Problem::Redirect(StatusCode::FOUND));
    assert!(e.to_string().contains("redirects are not followed"), "{e}");
}

#[tokio::test]
async fn a_body_over_the_cap_is_an_error_not_a_truncation() {
    let base = server(Some(answer("200 OK", "", &[b'x'; 2048])), Duration::ZERO).await;
    let target = Target::parse(&base).unwrap();
    let e = client(Duration::from_secs(5), 1024)
        .get(&target, HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.problem, Problem::TooLarge(1024));
}

#[tokio::test]
async fn a_hanging_server_times_out_within_the_total_timeout() {
    let base = server(None, Duration::ZERO).await;
    let target = Target::parse(&format!("{base}/jwks?token=secret")).unwrap();
    let started = Instant::now();
    let e = client(Duration::from_millis(200), 1024)
        .get(&target, HeaderMap::new())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(e.problem, Problem::Timeout(Duration::from_millis(200)));
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("GET {base}/jwks: timed out")),
        "{shown}"
    );
    assert!(
        !shown.contains("secret"),
        "the query is never shown: {shown}"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error_naming_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let target = Target::parse(&format!("http://{addr}/jwks")).unwrap();
    let e = client(Duration::from_secs(5), 1024)
        .get(&target, HeaderMap::new())
        .await
        .unwrap_err();
    assert!(matches!(e.problem, Problem::Transport(_)), "{e}");
    assert!(
        e.to_string().contains(&format!("http://{addr}/jwks")),
        "{e}"
    );
}

#[test]
fn targets_are_absolute_http_urls_without_user_info() {
    for bad in [
        "idp/jwks",
        "/jwks",
        "ftp://idp/jwks",
        "file:///etc/jwks.json",
        "http://user:pass@idp/jwks",
        "http://idp/jwks#frag",
        "http:///jwks",
    ] {
        let e = Target::parse(bad).unwrap_err();
        assert!(!e.to_string().contains("pass"), "{e}");
    }
    let e = Target::parse("ftp://u:pass@idp/jwks?x=secret").unwrap_err();
    assert_eq!(e.url, "ftp://idp/jwks");
    let t = Target::parse("https://idp:8443/a/jwks?x=secret").unwrap();
    assert_eq!(t.to_string(), "https://idp:8443/a/jwks");
}

#[test]
fn queries_are_built_from_pairs() {
    let t = Target::parse("https://idp/introspect?old=1").unwrap();
    let uri = t
        .with_query([("token", "a b&c=d/é"), ("scope", "x.y")])
        .unwrap();
    assert_eq!(
        uri.to_string(),
        "https://idp/introspect?token=a+b%26c%3Dd%2F%C3%A9&scope=x.y"
    );
    assert_eq!(
        t.with_query([]).unwrap().to_string(),
        "https://idp/introspect"
    );
}

#[test]
fn an_unreadable_or_empty_ca_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for path in [dir.path().join("missing.pem"), empty] {
        let e = Client::build(&Policy {
            extra_ca_files: vec![path.clone()],
            ..Policy::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
}

#[tokio::test]
async fn an_extra_ca_file_is_trusted_for_https() {
    use std::sync::Arc;

    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server_config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls.write_all(&answer("200 OK", "", b"ok")).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let target = Target::parse(&format!("https://localhost:{port}/jwks")).unwrap();

    let untrusting = client(Duration::from_secs(5), 1024);
    let e = untrusting.get(&target, HeaderMap::new()).await.unwrap_err();
    assert!(matches!(e.problem, Problem::Transport(_)), "{e}");

    let trusting = Client::build(&Policy {
        extra_ca_files: vec![ca_file],
        ..Policy::default()
    })
    .unwrap();
    let a = trusting.get(&target, HeaderMap::new()).await.unwrap();
    assert_eq!(&a.body[..], b"ok");
}

#[tokio::test]
async fn one_policy_shares_one_client() {
    let base = server(Some(answer("200 OK", "", b"ok")), Duration::ZERO).await;
    let policy = Policy {
        timeout: Duration::from_millis(1234),
        ..Policy::default()
    };
    let registered = || SHARED.load().contains_key(&policy);
    assert!(!registered());
    let _a = Client::shared(&policy).unwrap();
    assert!(registered(), "built once and kept");
    let before = SHARED.load().len();
    let b = Client::shared(&policy).unwrap();
    assert_eq!(SHARED.load().len(), before, "one entry per policy");
    let target = Target::parse(&base).unwrap();
    assert_eq!(
        &b.get(&target, HeaderMap::new()).await.unwrap().body[..],
        b"ok"
    );
}

/// A server on 127.0.0.1 answering every connection with `answer`, counting the connections
/// (each answer closes its connection, so one a call).
async fn counting_server(answer: Vec<u8>) -> (Target, std::sync::Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(&answer).await;
            });
        }
    });
    (Target::parse(&format!("http://{addr}/")).unwrap(), count)
}

fn retry_policy(max_delay: Duration, give_up_after: Duration, max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        first_pause: Duration::from_millis(1),
        max_delay,
        give_up_after,
        max_attempts,
        retries: server_error_or_transport,
    }
}

async fn post(target: &Target, policy: &RetryPolicy) -> Result<Answer, CallError> {
    let deadline = Instant::now() + policy.give_up_after;
    client(Duration::from_secs(5), 1024)
        .post_retrying(
            target,
            target.uri(),
            &HeaderMap::new(),
            Bytes::from_static(b"x"),
            policy,
            deadline,
        )
        .await
}

#[tokio::test]
async fn a_retried_5xx_is_sent_again_until_the_attempts_run_out_and_the_last_answer_is_given() {
    let (target, count) = counting_server(answer("503 Service Unavailable", "", b"")).await;
    let policy = retry_policy(Duration::from_millis(5), Duration::from_secs(5), 3);
    let a = post(&target, &policy).await.unwrap();
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_answer_the_policy_does_not_retry_is_sent_once() {
    let (target, count) = counting_server(answer("404 Not Found", "", b"")).await;
    let policy = retry_policy(Duration::from_millis(5), Duration::from_secs(5), 5);
    let a = post(&target, &policy).await.unwrap();
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_an_attempt_cap_the_budget_ends_the_retries() {
    let (target, count) = counting_server(answer("500 Internal Server Error", "", b"")).await;
    let policy = retry_policy(
        Duration::from_millis(100),
        Duration::from_millis(300),
        u32::MAX,
    );
    let started = Instant::now();
    let a = post(&target, &policy).await.unwrap();
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    // Pauses of 1, 2, 4 … 64 then 100ms: nine attempts fit in 300ms, a tenth pause would not.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let attempts = count.load(Ordering::SeqCst);
    assert!((3..=12).contains(&attempts), "{attempts} attempts");
}
