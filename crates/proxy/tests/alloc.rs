//! Allocation budget of the decisions a protected app sees, on the charm's rules and config,
//! counted by a global allocator (its own test binary, since the allocator is process-wide).

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use http::Request;
use oathkeeper::decision::{Outcome, Peer, decide};
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::Cx;
use oathkeeper::snapshot::{RuleFile, compile};
use oathkeeper_core::testing::{bench_config, many_rules};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const SESSION: &str = r#"{"id":"s","active":true,"expires_at":"2099-01-01T00:00:00Z","identity":{"id":"user-1","traits":{"email":"ann@example.com","name":"Ann"}}}"#;

/// A session store on 127.0.0.1 answering every request with one live session, on its own
/// thread (only the first decision with a cookie reaches it; the rest hit the cache).
fn session_store() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buffer = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{SESSION}",
                SESSION.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn the_charms_decisions_stay_within_their_allocation_budget() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = bench_config(&session_store());
    let files = [RuleFile {
        repository: "charm".into(),
        rules: many_rules(1000),
    }];
    let snapshot = compile(&config, &files, Default::default());
    let metrics = Metrics::new("");
    let cx = Cx::new(&metrics);
    let parts = |uri: &str, accept: &str, cookie: Option<&str>| {
        let mut request = Request::builder()
            .uri("/decisions")
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "app0.example.com")
            .header("X-Forwarded-Uri", uri)
            .header("Accept", accept);
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        request.body(()).unwrap().into_parts().0
    };
    let api = "application/json";
    let browser = "text/html";
    let cookie = Some("ory_kratos_session=abc");
    // (what, request, status, most allocations one decision may make: today's counts, so
    // that a new allocation on the hot path shows up here). The allowed endpoint allocates only
    // its match URL; a denial adds its answer's header map, a redirect its location, a cached
    // session the encoded store request and the subject (the identity headers are shared
    // with the cache).
    let cases = [
        ("allowed endpoint", parts("/welcome", api, None), 200, 1),
        ("401 to an API client", parts("/private", api, None), 401, 4),
        (
            "302 to the login page",
            parts("/private", browser, None),
            302,
            6,
        ),
        ("cached session", parts("/private", api, cookie), 200, 6),
    ];
    // Recording the decision's metrics, as the API does after each decision.
    let record = |method: &http::Method, status: http::StatusCode, outcome: &Outcome<'_>| {
        let kind = outcome.denial.as_ref().map(|d| d.kind);
        metrics.observe_decision(method, status.as_u16(), kind, Duration::from_micros(40));
    };
    for (what, request, status, budget) in &cases {
        // The first decision fills lazily created metric series and the session cache.
        let first = runtime.block_on(decide(&snapshot, request, Peer::default(), &cx));
        assert_eq!(first.0.status(), *status, "{what}: {:?}", first.1);
        record(&request.method, first.0.status(), &first.1);
        let before = dhat::HeapStats::get().total_blocks;
        for _ in 0..10 {
            let answer = runtime.block_on(decide(&snapshot, request, Peer::default(), &cx));
            assert_eq!(answer.0.status(), *status, "{what}");
            record(&request.method, answer.0.status(), &answer.1);
        }
        let per_decision = (dhat::HeapStats::get().total_blocks - before) / 10;
        eprintln!("{what}: {per_decision} allocations per decision");
        assert!(
            per_decision <= *budget,
            "{what}: {per_decision} allocations, budget {budget}"
        );
    }
}
