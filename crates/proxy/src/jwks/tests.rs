use arc_swap::ArcSwap;
use std::sync::atomic::AtomicUsize;

use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use super::*;

/// A symmetric signing key with id `kid` (enough to test lookups).
fn oct(kid: &str) -> serde_json::Value {
    json!({"kty": "oct", "use": "sig", "kid": kid, "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"})
}

fn set(kids: &[&str]) -> String {
    json!({"keys": kids.iter().map(|k| oct(k)).collect::<Vec<_>>()}).to_string()
}

/// A key-set server on 127.0.0.1: answers every GET with the current body (or hangs when it
/// is `None`) after `delay`, counting requests.
struct Server {
    url: String,
    body: Arc<ArcSwap<Option<(u16, String)>>>,
    hits: Arc<AtomicUsize>,
}

impl Server {
    async fn start(body: Option<(u16, String)>, delay: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let body = Arc::new(ArcSwap::from_pointee(body));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (Arc::clone(&body), Arc::clone(&hits));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (b, h) = (Arc::clone(&b), Arc::clone(&h));
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let current = Option::clone(&b.load());
                    let Some((status, text)) = current else {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    };
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Server { url, body, hits }
    }

    fn set(&self, body: Option<(u16, String)>) {
        self.body.store(Arc::new(body));
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn source(url: &str, ttl: Duration, kid_window: Duration) -> Arc<JwksSource> {
    Arc::new(JwksSource::new(JwksLocation::Http(url), ttl, kid_window, GAP).unwrap())
}

/// The retry gap of test sources.
const GAP: Duration = Duration::from_millis(20);

const LONG: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(2);

#[test]
fn a_set_keeps_usable_signing_keys_by_kid_and_skips_the_rest() {
    let text = json!({"keys": [
        oct("a"),
        {"kty": "oct", "use": "enc", "kid": "enc", "k": "c2VjcmV0"},
        {"kty": "oct", "kid": "no-use", "k": "c2VjcmV0"},
        {"kty": "oct", "use": "sig", "k": "c2VjcmV0"},
        {"kty": "EC", "use": "sig", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "RSA", "use": "sig", "kid": "oaep", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        {"kty": "XYZ", "use": "sig", "kid": "odd"},
        {"kty": "oct", "use": "sig", "kid": "a", "k": "b3RoZXI"},
    ]})
    .to_string();
    let keys = KeySet::parse(text.as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys.skipped(), 6, "the duplicate kid counts as kept once");
    let a = keys.get("a").unwrap();
    assert!(a.for_algorithm(jsonwebtoken::Algorithm::HS256).is_ok());
    assert_eq!(
        a.for_algorithm(jsonwebtoken::Algorithm::RS256).unwrap_err(),
        Mismatch::Family
    );
}

#[test]
fn sets_are_bounded_and_must_be_sets() {
    let many =
        json!({"keys": (0..=keys::MAX_KEYS).map(|i| oct(&i.to_string())).collect::<Vec<_>>()});
    assert_eq!(
        KeySet::parse(many.to_string().as_bytes()).unwrap_err(),
        keys::ParseError::TooManyKeys(keys::MAX_KEYS + 1)
    );
    for bad in ["", "[]", "{}", "{\"keys\": {}}", "{\"keys\": [1,"] {
        assert!(KeySet::parse(bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(KeySet::parse(b"{\"keys\": []}").unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_requests_for_a_new_kid_share_one_fetch() {
    let server = Server::start(Some((200, set(&["k1"]))), Duration::from_millis(100)).await;
    let source = source(&server.url, LONG, Duration::from_secs(60));
    let sources = KeySources::new(vec![Arc::clone(&source)]);
    sources.find("k1", WAIT).await.unwrap();
    assert_eq!(server.hits(), 1);
    server.set(Some((200, set(&["k1", "k2"]))));
    let finds = (0..20).map(|_| sources.find("k2", WAIT));
    let found = futures::future::join_all(finds).await;
    assert!(found.iter().all(Result::is_ok), "{found:?}");
    assert_eq!(server.hits(), 2, "one refetch for twenty requests");
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_window() {
    let server = Server::start(Some((200, set(&["k1"]))), Duration::ZERO).await;
    let source = source(&server.url, LONG, Duration::from_millis(300));
    let sources = KeySources::new(vec![source]);
    sources.find("k1", WAIT).await.unwrap();
    assert_eq!(server.hits(), 1);
    for _ in 0..5 {
        assert_eq!(
            sources.find("made-up", WAIT).await.unwrap_err(),
            FindError::UnknownKid
        );
    }
    assert_eq!(
        server.hits(),
        2,
        "the first unknown kid refetches, the next are rate-limited"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    server.set(Some((200, set(&["k1", "k3"]))));
    sources.find("k3", WAIT).await.unwrap();
    assert_eq!(
        server.hits(),
        3,
        "after the window, an unknown kid refetches again"
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_set() {
    let server = Server::start(Some((200, set(&["k1"]))), Duration::ZERO).await;
    let source = source(&server.url, Duration::from_millis(50), LONG);
    let sources = KeySources::new(vec![source]);
    sources.find("k1", WAIT).await.unwrap();
    server.set(Some((500, "oops".into())));
    tokio::time::sleep(Duration::from_millis(80)).await;
    // Stale: served at once, and a refresh starts in the background (and fails).
    sources.find("k1", WAIT).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while server.hits() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.hits(), 2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    sources.find("k1", WAIT).await.unwrap();
    server.set(Some((200, "not json".into())));
    tokio::time::sleep(GAP * 3).await;
    sources.find("k1", WAIT).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while server.hits() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        sources.find("k1", WAIT).await.is_ok(),
        "garbage keeps the last good set"
    );
}

#[tokio::test]
async fn a_set_never_fetched_fails_closed_within_max_wait() {
    for body in [
        None,
        Some((503, String::new())),
        Some((200, "{".to_owned())),
    ] {
        let server = Server::start(body.clone(), Duration::ZERO).await;
        let sources = KeySources::new(vec![source(&server.url, LONG, LONG)]);
        let started = Instant::now();
        let e = sources
            .find("k1", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(e, FindError::NoKeySet, "{body:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "{body:?}");
    }
}

#[tokio::test]
async fn keys_are_looked_up_across_locations_in_order() {
    let first = Server::start(Some((200, set(&["a"]))), Duration::ZERO).await;
    let down = Server::start(Some((500, String::new())), Duration::ZERO).await;
    let sources = KeySources::new(vec![
        source(&down.url, LONG, LONG),
        source(&first.url, LONG, LONG),
    ]);
    assert!(sources.find("a", WAIT).await.is_ok());
    assert_eq!(
        sources
            .find("b", Duration::from_millis(100))
            .await
            .unwrap_err(),
        FindError::UnknownKid
    );
}

#[tokio::test]
async fn file_and_base64_locations_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, set(&["f"])).unwrap();
    let path = path.to_str().unwrap();
    let file = Arc::new(JwksSource::new(JwksLocation::File(path), LONG, LONG, GAP).unwrap());
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(set(&["b"]));
    let inline =
        Arc::new(JwksSource::new(JwksLocation::Base64(&encoded), LONG, LONG, GAP).unwrap());
    let sources = KeySources::new(vec![file, inline]);
    assert!(sources.find("f", WAIT).await.is_ok());
    assert!(sources.find("b", WAIT).await.is_ok());
    assert!(JwksSource::new(JwksLocation::Base64("%%%"), LONG, LONG, GAP).is_err());
    let big = "x".repeat(MAX_JWKS_BYTES + 1);
    std::fs::write(dir.path().join("big.json"), &big).unwrap();
    let big_path = dir.path().join("big.json");
    let big_file = Arc::new(
        JwksSource::new(
            JwksLocation::File(big_path.to_str().unwrap()),
            LONG,
            LONG,
            GAP,
        )
        .unwrap(),
    );
    assert!(
        big_file
            .fetch()
            .await
            .unwrap_err()
            .to_string()
            .contains("larger than")
    );
}

#[test]
fn sources_are_shared_by_location_and_ttl_while_in_use() {
    let data = base64::engine::general_purpose::STANDARD.encode(set(&["shared"]));
    let a = JwksSource::shared(JwksLocation::Base64(&data), LONG).unwrap();
    let b = JwksSource::shared(JwksLocation::Base64(&data), LONG).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let other_ttl = JwksSource::shared(JwksLocation::Base64(&data), WAIT).unwrap();
    assert!(!Arc::ptr_eq(&a, &other_ttl));
    let weak = Arc::downgrade(&a);
    drop((a, b));
    assert!(
        weak.upgrade().is_none(),
        "the registry does not keep a source alive"
    );
}

#[tokio::test]
async fn a_refresh_without_a_usable_private_key_keeps_the_last_signing_set() {
    let private: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/it/id_token-ec.jwk.json")).unwrap();
    let mut public = private.clone();
    public.as_object_mut().unwrap().remove("d");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let write = |key: &serde_json::Value| {
        std::fs::write(&path, json!({"keys": [key]}).to_string()).unwrap();
    };
    write(&private);
    let file = path.to_str().unwrap();
    let source = Arc::new(JwksSource::new(JwksLocation::File(file), LONG, LONG, GAP).unwrap());
    source.load_now().unwrap();
    assert_eq!(source.signer().unwrap().kid(), Some("ec-1"));

    write(&public);
    source.refresh().await;
    assert_eq!(
        source.signer().unwrap().kid(),
        Some("ec-1"),
        "the last set that signs stays"
    );

    // A set that never signed is replaced as before (a verifying set), and a new private key
    // replaces the old one.
    let mut other = private.clone();
    other["kid"] = json!("ec-2");
    write(&other);
    source.refresh().await;
    assert_eq!(source.signer().unwrap().kid(), Some("ec-2"));
}
