//! Our server as the charm configures it (prefix `oathkeeper_`, `/metrics/prometheus`), run in
//! the test on free ports, and the metric names its `/metrics` exposes once it has made an
//! allowed decision, a denied one and a session-store call, and a rules source failed: what
//! the alert rules and the dashboard may query.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use harness::live::{eventually, free_port};
use oathkeeper_charm::relation::kratos_info::KratosInfo;
use oathkeeper_charm::workload;

use crate::support::HttpStub;

/// Prometheus' own series every scrape adds, which no exporter exposes.
pub const BUILT_IN: &[&str] = &["up"];

/// `GET path` on 127.0.0.1:`port` over HTTP/1.1: the status line and the body.
pub fn get(port: u16, path: &str, headers: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_owned(), body.to_owned()))
}

/// The metric names of an exposition: every sample's name, and each family's with the
/// suffixes of its type.
fn exposed(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(family), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["", "_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{family}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Runs our server as the charm configures it, makes an allowed decision, a denied one (no
/// rule) and one that asks the session store (a stub Kratos), breaks the rules file, and
/// returns every metric name `/metrics` exposed along the way.
pub fn metrics_of_our_server() -> BTreeSet<String> {
    let kratos = HttpStub::start(|_| {
        (
            200,
            r#"{"id": "s", "active": true, "identity": {"id": "u"}}"#.to_owned(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"[{"id": "a", "match": {"url": "http://app.example.com/<.*>", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}]},
           {"id": "s", "match": {"url": "http://session.example.com/<.*>", "methods": ["GET"]},
            "authenticators": [{"handler": "cookie_session"}], "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}]}]"#,
    )
    .unwrap();
    let kratos_info = KratosInfo {
        sessions_endpoint: Some(format!(
            "http://127.0.0.1:{}/sessions/whoami",
            kratos.port()
        )),
        login_browser_endpoint: None,
    };
    let mut config = workload::config(&workload::ConfigInputs {
        kratos: Some(&kratos_info),
        ..workload::ConfigInputs::default()
    });
    let (api, metrics) = (free_port(), free_port());
    config.serve.api.host = "127.0.0.1".into();
    config.serve.api.port = Some(api);
    config.serve.proxy.host = "127.0.0.1".into();
    config.serve.proxy.port = Some(free_port());
    config.serve.prometheus.host = "127.0.0.1".into();
    config.serve.prometheus.port = metrics;
    config.access_rules.repositories = vec![format!("file://{}", rules.display())];
    let config_file = dir.path().join("oathkeeper.yaml");
    std::fs::write(&config_file, config.to_yaml()).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(oathkeeper::serve::run(
            oathkeeper::settings::ConfigSource::File(config_file),
            Box::new(oathkeeper_core::config::NoEnv),
        ));
        eprintln!("server stopped: {result:?}");
    });
    eventually("the API", || get(api, "/health/ready", "").is_some());
    // Allowed, denied (no rule), and a session-store call.
    for (host, extra) in [
        ("app.example.com", ""),
        ("other.example.com", ""),
        ("session.example.com", "Cookie: ory_kratos_session=abc\r\n"),
    ] {
        let headers = format!(
            "X-Forwarded-Method: GET\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: {host}\r\nX-Forwarded-Uri: /x\r\n{extra}"
        );
        assert!(get(api, "/decisions", &headers).is_some());
    }
    let (status, body) = get(metrics, workload::METRICS_PATH, "").unwrap();
    assert!(status.contains(" 200 "), "{status}");
    for sample in [
        r#"decisions_total{result="allowed"}"#,
        "session_store_requests_total{",
    ] {
        assert!(body.contains(sample), "no {sample} in\n{body}");
    }
    let mut names = exposed(&body);
    // And once a source failed (its series, whatever the server creates at start).
    std::fs::write(&rules, "[{").unwrap();
    eventually("the reload error", || {
        get(metrics, workload::METRICS_PATH, "")
            .is_some_and(|(_, body)| body.contains("reload_errors_total{"))
    });
    let (_, body) = get(metrics, workload::METRICS_PATH, "").unwrap();
    names.extend(exposed(&body));
    names
}
