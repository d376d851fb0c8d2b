//! The real binary over loopback HTTP: the charm's config and rules, the API routes, metrics,
//! readiness, bad configs.

use oathkeeper_core::charm::config::HEADER_TEMPLATES;
use oathkeeper_core::charm::{ConfigInputs, METHODS, app_rules, oathkeeper_config};
use oathkeeper_core::config::Config;
use oathkeeper_core::rule::to_file_json;

use crate::support::{
    Answer, FakeKratos, Server, http_get, http_request, kratos_session, rfc3339_in, run_cli,
};

/// Our charm's `oathkeeper.yaml` with Kratos at `kratos` and the three identity headers, no
/// repositories.
pub(crate) fn charm_config(kratos: &str) -> Config {
    let login_url = format!("{kratos}/self-service/login/browser");
    let sessions_url = format!("{kratos}/sessions/whoami");
    oathkeeper_config(&ConfigInputs {
        login_url: Some(&login_url),
        sessions_url: Some(&sessions_url),
        headers: HEADER_TEMPLATES.map(|(name, _)| name).to_vec(),
        ..ConfigInputs::default()
    })
}

/// Writes what our charm deploys for the spec §6.4 requirer (`https://example.com`, allowed
/// endpoints `welcome` and `about/app`, the three identity headers) with Kratos at `kratos`:
/// its two rules files and its `oathkeeper.yaml`, whose repositories name the files.
pub(crate) fn charm_files(kratos: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("access-rules");
    std::fs::create_dir(&rules_dir).unwrap();
    let rules = app_rules(
        "requirer",
        &["https://example.com"],
        &["welcome", "about/app"],
    )
    .unwrap();
    let mut repositories = Vec::new();
    for (name, rules) in [
        ("access-rules-requirer-allow.json", rules.allow),
        ("access-rules-requirer-deny.json", rules.deny),
    ] {
        let path = rules_dir.join(name);
        std::fs::write(&path, to_file_json(&rules)).unwrap();
        repositories.push(format!("file://{}", path.display()));
    }
    let mut config = charm_config(kratos);
    config.access_rules.repositories = repositories;
    std::fs::write(dir.path().join("oathkeeper.yaml"), config.to_yaml()).unwrap();
    dir
}

/// A Kratos that knows one session, Ann's (`user-1`), by a cookie holding
/// `ory_kratos_session=good`, and answers 401 to anything else.
pub(crate) async fn kratos_knowing_ann() -> FakeKratos {
    FakeKratos::start(|seen| {
        if seen
            .headers
            .get("cookie")
            .is_some_and(|c| c.to_str().unwrap().contains("ory_kratos_session=good"))
        {
            Answer::ok(kratos_session(
                "user-1",
                "ann@example.com",
                "Ann",
                &rfc3339_in(3600),
            ))
        } else {
            Answer::status(401)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn charm_config_and_rules_decide_like_upstream() {
    let kratos = kratos_knowing_ann().await;
    let dir = charm_files(&kratos.url());
    let server = tokio::task::spawn_blocking(move || {
        let server = Server::start(&dir.path().join("oathkeeper.yaml"));
        (server, dir)
    })
    .await
    .unwrap();
    let (server, _dir) = server;
    let check = tokio::task::spawn_blocking(move || {
        let s = &server;
        // Allowed endpoints: no session needed, and a client's X-User is not echoed.
        for path in ["/welcome", "/welcome/x", "/about/app/page?q=1"] {
            let r = s.decide(
                &format!("https://example.com{path}"),
                &[("X-User", "admin")],
            );
            assert_eq!(r.status, 200, "{path}");
            assert!(
                r.header("x-user").is_none(),
                "{path}: X-User must not be echoed"
            );
        }
        // Protected: browser → 302 to the login page with return_to; API → 401 JSON.
        let r = s.decide(
            "https://example.com/private?a=b",
            &[("Accept", "text/html")],
        );
        assert_eq!(r.status, 302);
        let location = r.header("location").unwrap();
        assert!(
            location.ends_with(
                "/self-service/login/browser?return_to=https%3A%2F%2Fexample.com%2Fprivate%3Fa%3Db"
            ),
            "{location}"
        );
        assert!(
            location.starts_with("http://127.0.0.1:"),
            "absolute Location: {location}"
        );
        let r = s.decide("https://example.com/private", &[("Accept", "*/*")]);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.body,
            r#"{"error":{"code":401,"status":"Unauthorized","message":"The request could not be authorized"}}"#
        );
        // With the session cookie: 200 and the identity headers.
        let r = s.decide(
            "https://example.com/private",
            &[("Cookie", "ory_kratos_session=good")],
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-user"), Some("user-1"));
        assert_eq!(r.header("x-email"), Some("ann@example.com"));
        assert_eq!(r.header("x-name"), Some("Ann"));
        let r = s.decide(
            "https://example.com/private",
            &[("Cookie", "ory_kratos_session=bad")],
        );
        assert_eq!(r.status, 401);
        // No rule: the www_authenticate fallback.
        let r = s.decide("https://other.example/x", &[]);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=unauthorized")
        );
        assert_eq!(r.body, "Unauthorized\n");
        // Metrics with the charm's prefix and path.
        let m = http_get(s.metrics, "/metrics/prometheus", &[]).unwrap();
        assert_eq!(m.status, 200);
        assert!(m.body.contains(r#"oathkeeper_requests_total{service="oathkeeper-api",method="GET",request="decisions",status_code="302"} 1"#), "{}", m.body);
        assert!(m.body.contains("oathkeeper_rules_loaded 3"), "{}", m.body);
    });
    check.await.unwrap();
}

#[test]
fn api_routes_answer_like_upstream() {
    let dir = charm_files("http://127.0.0.1:9");
    let s = Server::start(&dir.path().join("oathkeeper.yaml"));
    let r = s.get("/health/alive", &[]);
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"ok"}"#));
    let r = s.get("/health/ready", &[]);
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"ok"}"#));
    let r = s.get("/version", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#""version":"#));
    let r = s.get("/.well-known/jwks.json", &[]);
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"keys":[]}"#));
    let rules: serde_json::Value = serde_json::from_str(&s.get("/rules", &[]).body).unwrap();
    let ids: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "requirer:welcome:0:allow",
            "requirer:about/app:0:allow",
            "requirer:0:deny"
        ]
    );
    let page: serde_json::Value =
        serde_json::from_str(&s.get("/rules?limit=1&offset=1", &[]).body).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], "requirer:about/app:0:allow");
    let r = s.get("/rules/requirer:0:deny", &[]);
    assert_eq!(r.status, 200);
    let rule: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(rule["authenticators"][0]["handler"], "cookie_session");
    assert_eq!(
        rule["match"]["methods"],
        serde_json::json!(METHODS),
        "rules are served as stored"
    );
    assert_eq!(s.get("/rules/nope", &[]).status, 404);
    // CORS is on in the charm's config: a preflight is answered, never authenticated.
    let preflight = [
        ("Origin", "https://a.example"),
        ("Access-Control-Request-Method", "GET"),
    ];
    let r = http_request(s.api, "OPTIONS", "/decisions", &preflight).unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, PUT, PATCH, DELETE")
    );
    let r = s.get("/decisions", &preflight);
    assert_eq!(
        r.status, 401,
        "a GET is not a preflight: no rule, so www_authenticate answers"
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn not_ready_until_a_rule_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oathkeeper.yaml");
    std::fs::write(
        &config,
        "access_rules:\n  repositories: [file:///nonexistent/rules.json]\n",
    )
    .unwrap();
    let s = Server::start(&config);
    let r = s.get("/health/ready", &[]);
    assert_eq!(r.status, 503);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let reason = body["errors"]["rules_loaded"].as_str().unwrap();
    assert!(
        reason.contains("/nonexistent/rules.json"),
        "the reason names the repository: {reason}"
    );
    assert_eq!(s.get("/health/alive", &[]).status, 200);
}

#[test]
fn bad_config_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oathkeeper.yaml");
    let serve = || run_cli(&["serve", "-c", config.to_str().unwrap()]);
    std::fs::write(&config, "serve:\n  api:\n    port: lots\n").unwrap();
    let (code, _, stderr) = serve();
    assert_eq!(code, 64);
    assert!(stderr.contains("serve.api.port"), "{stderr}");
    std::fs::write(&config, "serve:\n  api:\n    prot: 1\n").unwrap();
    let (code, _, stderr) = serve();
    assert_eq!(code, 64);
    assert!(stderr.contains("prot"));
}

#[test]
fn embedded_example_serves_the_quickstart_answers() {
    let s = Server::start_with_env(None, &[]);
    // The example rules name port 4456; the quickstart runs there. Here the port is free, so
    // speak for 4456 through X-Forwarded-Host as a proxy would.
    let fwd = |uri: &'static str| {
        [
            ("X-Forwarded-Host", "127.0.0.1:4456"),
            ("X-Forwarded-Uri", uri),
        ]
    };
    let r = s.get("/decisions", &fwd("/public/hello"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-user"), Some("anonymous"));
    let mut h = fwd("/private").to_vec();
    h.push(("Accept", "text/html"));
    let r = s.get("/decisions", &h);
    assert_eq!(r.status, 302);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("http://127.0.0.1:4455/self-service/login/browser?return_to=")
    );
    assert_eq!(s.get("/decisions", &fwd("/private")).status, 401);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = charm_files("http://127.0.0.1:9");
    let mut s = Server::start(&dir.path().join("oathkeeper.yaml"));
    let pid = s.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// The Python charm's files, as it left them in the container (see fixtures/python-charm).
const PYTHON_CHARM_CONFIG: &str = include_str!("../fixtures/python-charm/oathkeeper.yaml");
const PYTHON_CHARM_FILES: [(&str, &str); 2] = [
    (
        "access-rules-spark-history-server-k8s-deny.json",
        include_str!("../fixtures/python-charm/access-rules-spark-history-server-k8s-deny.json"),
    ),
    (
        "admin_ui_rules.json",
        include_str!("../fixtures/python-charm/admin_ui_rules.json"),
    ),
];

/// A `juju refresh` from the Python charm: until our charm rewrites the ConfigMaps, the server
/// reads the old charm's template and its Python-repr rules, and decides as upstream does for
/// what they say (`OPTION` matches no request, a session passes with the identity headers).
#[tokio::test(flavor = "multi_thread")]
async fn the_python_charms_files_serve_unchanged() {
    let kratos = kratos_knowing_ann().await;
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in PYTHON_CHARM_FILES {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let config = PYTHON_CHARM_CONFIG
        .replace(
            "file:///etc/config/access-rules/",
            &format!("file://{}/", dir.path().display()),
        )
        .replace("http://kratos.iam.svc.cluster.local:4433", &kratos.url());
    assert_ne!(
        config, PYTHON_CHARM_CONFIG,
        "the fixture names Kratos and the rules dir"
    );
    let config_path = dir.path().join("oathkeeper.yaml");
    std::fs::write(&config_path, config).unwrap();
    let check = tokio::task::spawn_blocking(move || {
        let s = Server::start(&config_path);
        let _dir = dir;
        let app = "http://10.64.140.43/spark-spark-history-server-k8s";
        let r = s.decide(&format!("{app}/jobs/"), &[("Accept", "text/html")]);
        assert_eq!(r.status, 302);
        assert_eq!(
            r.header("location"),
            Some(
                "http://10.64.140.44/iam-kratos/self-service/login/browser?return_to=http%3A%2F%2F10.64.140.43%2Fspark-spark-history-server-k8s%2Fjobs%2F"
            )
        );
        let r = s.decide(&format!("{app}/jobs/"), &[("Accept", "*/*")]);
        assert_eq!(r.status, 401);
        let r = s.decide(
            &format!("{app}/jobs/"),
            &[("Cookie", "ory_kratos_session=good")],
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-user"), Some("user-1"));
        assert_eq!(r.header("x-email"), Some("ann@example.com"));
        assert_eq!(
            r.header("x-name"),
            None,
            "the app asked for X-User and X-Email only"
        );
        // Upstream's `OPTION` matches no OPTIONS request: no rule, the www_authenticate answer.
        let r = s.get(
            "/decisions",
            &[
                ("X-Forwarded-Method", "OPTIONS"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "10.64.140.43"),
                ("X-Forwarded-Uri", "/spark-spark-history-server-k8s/jobs/"),
            ],
        );
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=unauthorized")
        );
        let rules: serde_json::Value = serde_json::from_str(&s.get("/rules", &[]).body).unwrap();
        assert_eq!(rules[0]["id"], "spark-history-server-k8s:0:deny");
        assert_eq!(rules[0]["match"]["methods"][2], "OPTION");
        assert_eq!(
            rules.as_array().unwrap().len(),
            1,
            "admin_ui_rules.json is empty"
        );
    });
    check.await.unwrap();
}
