//! `k8s://` sources against the harness's fake Kubernetes API: the real binary lists and watches
//! the ConfigMaps through `$KUBECONFIG`.

use std::path::Path;
use std::time::{Duration, Instant};

use harness::k8s::{FakeApiServer, KubernetesState};
use serde_json::json;

use crate::support::{Server, eventually};

const NAMESPACE: &str = "iam";

fn rule(id: &str, path: &str) -> String {
    json!([{
        "id": id,
        "match": {"url": format!("http://example.com{path}"), "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "noop"}],
    }])
    .to_string()
}

/// A config reading its rules from ConfigMap `access-rules`.
const CONFIG: &str = "access_rules:
  repositories:
    - k8s://iam/access-rules
authenticators:
  anonymous: {enabled: true}
authorizers:
  allow: {enabled: true}
mutators:
  noop: {enabled: true}
  header:
    enabled: true
    config:
      headers: {X-User: \"{{ print .Subject }}\"}
";

struct Cluster {
    api: FakeApiServer,
    kubeconfig: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start(state: KubernetesState) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        // The workload reads its ConfigMaps: the app is deployed with --trust.
        let api = FakeApiServer::start(KubernetesState {
            namespace: NAMESPACE.to_owned(),
            trusted: true,
            ..state
        })
        .unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        api.write_kubeconfig(&kubeconfig, NAMESPACE).unwrap();
        Cluster {
            api,
            kubeconfig,
            dir,
        }
    }

    /// The server with a config file naming `k8s://iam/access-rules`.
    fn server(&self) -> Server {
        let config = self.dir.path().join("oathkeeper.yaml");
        std::fs::write(&config, CONFIG).unwrap();
        self.server_with(&config)
    }

    fn server_with(&self, config: &Path) -> Server {
        let kubeconfig = self.kubeconfig.display().to_string();
        Server::start_with_env(Some(config), &[("KUBECONFIG", &kubeconfig)])
    }

    fn set_rules(&self, data: &[(&str, &str)]) {
        let client = harness_client(&self.kubeconfig);
        let body: serde_json::Map<String, serde_json::Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        client(&format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"access-rules","namespace":"{NAMESPACE}"}},"data":{}}}"#,
            serde_json::Value::Object(body)
        ));
    }
}

/// Replaces a ConfigMap with real kubectl, as an operator would (its whole data).
fn harness_client(kubeconfig: &Path) -> impl Fn(&str) {
    let kubeconfig = kubeconfig.to_owned();
    move |manifest: &str| {
        let mut child = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["replace", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), manifest.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A cluster whose `access-rules` holds rule `a` for `/a`, and a server already serving it.
fn serving_rule_a() -> (Cluster, Server) {
    let cluster = Cluster::start(
        KubernetesState::default().with_config_map("access-rules", &[("a.json", &rule("a", "/a"))]),
    );
    let server = cluster.server();
    assert!(eventually(Duration::from_secs(5), || allowed(
        &server, "/a"
    )));
    (cluster, server)
}

/// A cluster whose `access-rules` holds `a.json` (rule `a` for `/a`) and `b.json` (rule `b` for
/// `/b`), and a server already serving both.
fn serving_rules_a_and_b() -> (Cluster, Server) {
    let cluster = Cluster::start(KubernetesState::default().with_config_map(
        "access-rules",
        &[("a.json", &rule("a", "/a")), ("b.json", &rule("b", "/b"))],
    ));
    let server = cluster.server();
    assert!(eventually(Duration::from_secs(5), || allowed(
        &server, "/a"
    ) && allowed(
        &server, "/b"
    )));
    (cluster, server)
}

fn allowed(server: &Server, path: &str) -> bool {
    server
        .decide(&format!("http://example.com{path}"), &[])
        .status
        == 200
}

#[test]
fn a_rule_added_to_the_configmap_is_served_within_a_second() {
    let (cluster, server) = serving_rule_a();
    assert!(!allowed(&server, "/b"));
    let added = Instant::now();
    cluster.set_rules(&[("a.json", &rule("a", "/a")), ("b.json", &rule("b", "/b"))]);
    assert!(
        eventually(Duration::from_secs(1), || allowed(&server, "/b")),
        "the new rule was not served within 1 s"
    );
    eprintln!("served {:?} after the write", added.elapsed());
    let rules = server.get("/rules", &[]).body;
    assert!(rules.contains("\"b\""), "{rules}");
}

#[test]
fn the_api_going_away_keeps_the_rules_and_coming_back_picks_up_changes() {
    let (cluster, server) = serving_rule_a();
    cluster.api.pause();
    // Still serving the last rules, and readiness says the source is stale.
    assert!(eventually(Duration::from_secs(5), || {
        server.get("/health/ready", &[]).body.contains("stale")
    }));
    assert_eq!(server.get("/health/ready", &[]).status, 200);
    assert!(allowed(&server, "/a"));
    let metrics = crate::support::http_get(server.metrics, "/metrics", &[]).unwrap();
    assert!(
        metrics
            .body
            .contains("kubernetes_source_up{source=\"k8s://iam/access-rules\"} 0"),
        "{}",
        metrics.body
    );
    cluster.api.resume().unwrap();
    cluster.set_rules(&[("b.json", &rule("b", "/b"))]);
    assert!(eventually(Duration::from_secs(10), || allowed(
        &server, "/b"
    )));
    assert!(!allowed(&server, "/a"));
    assert!(eventually(Duration::from_secs(5), || {
        !server.get("/health/ready", &[]).body.contains("stale")
    }));
}

#[test]
fn changes_made_while_the_watch_was_down_are_seen_even_after_compaction() {
    let (cluster, server) = serving_rule_a();
    // The watch drops; a change lands and the history is compacted before (or while) the
    // watch resumes from its old version, which then answers 410 Gone: a re-list sees it.
    cluster.api.pause();
    cluster.api.resume().unwrap();
    cluster.set_rules(&[("c.json", &rule("c", "/c"))]);
    cluster.api.compact();
    assert!(eventually(Duration::from_secs(10), || allowed(
        &server, "/c"
    )));
}

#[test]
fn a_malformed_key_keeps_its_last_good_rules_while_other_keys_update() {
    let (cluster, server) = serving_rules_a_and_b();
    cluster.set_rules(&[
        ("a.json", "[{\"id\": broken"),
        ("b.json", &rule("b2", "/b2")),
    ]);
    assert!(eventually(Duration::from_secs(5), || allowed(
        &server, "/b2"
    )));
    assert!(allowed(&server, "/a"), "a.json's last good rules are kept");
    let ready = server.get("/health/ready", &[]).body;
    assert!(ready.contains("k8s://iam/access-rules#a.json"), "{ready}");
}

#[test]
fn a_key_with_a_rule_that_cannot_compile_or_turned_empty_keeps_its_last_good_version_whole() {
    let (cluster, server) = serving_rules_a_and_b();
    // a.json: a new rule whose pattern does not compile beside a changed one; b.json emptied.
    let mut broken: Vec<serde_json::Value> = serde_json::from_str(&rule("a", "/a2")).unwrap();
    broken.extend(serde_json::from_str::<Vec<serde_json::Value>>(&rule("bad", "/<(>")).unwrap());
    cluster.set_rules(&[
        ("a.json", &serde_json::Value::from(broken).to_string()),
        ("b.json", ""),
    ]);
    assert!(
        eventually(Duration::from_secs(5), || {
            let ready = server.get("/health/ready", &[]).body;
            ready.contains("rule \\\"bad\\\": ") && ready.contains("#b.json is empty")
        }),
        "{}",
        server.get("/health/ready", &[]).body
    );
    assert!(allowed(&server, "/a"), "a.json's last good version serves");
    assert!(!allowed(&server, "/a2"), "and none of its new version");
    assert!(
        allowed(&server, "/b"),
        "b.json's rules survive the emptying"
    );
}

#[test]
fn not_ready_until_the_first_list() {
    let cluster = Cluster::start(
        KubernetesState::default().with_config_map("access-rules", &[("a.json", &rule("a", "/a"))]),
    );
    cluster.api.pause();
    let server = cluster.server();
    let pending = server.get("/health/ready", &[]);
    assert_eq!(pending.status, 503, "{}", pending.body);
    assert!(
        pending.body.contains("k8s://iam/access-rules"),
        "{}",
        pending.body
    );
    cluster.api.resume().unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        server.get("/health/ready", &[]).status == 200
    }));
    assert!(allowed(&server, "/a"));
}

#[test]
fn the_config_itself_is_read_and_hot_reloaded_from_a_configmap() {
    let with_header = |name: &str| {
        CONFIG
            .replace("k8s://iam/access-rules", "k8s:///access-rules")
            .replace("X-User", name)
    };
    let header_rule = json!([{
        "id": "h", "match": {"url": "http://example.com/h", "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
    }])
    .to_string();
    let cluster = Cluster::start(
        KubernetesState::default()
            .with_config_map(
                "oathkeeper-config",
                &[("oathkeeper.yaml", &with_header("X-User"))],
            )
            .with_config_map("access-rules", &[("h.json", &header_rule)]),
    );
    let server = cluster.server_with(Path::new("k8s://iam/oathkeeper-config"));
    assert!(eventually(Duration::from_secs(5), || {
        server.decide("http://example.com/h", &[]).header("x-user") == Some("anonymous")
    }));
    let client = harness_client(&cluster.kubeconfig);
    client(
        &json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "oathkeeper-config", "namespace": NAMESPACE},
            "data": {"oathkeeper.yaml": with_header("X-Subject")},
        })
        .to_string(),
    );
    assert!(eventually(Duration::from_secs(5), || {
        server
            .decide("http://example.com/h", &[])
            .header("x-subject")
            == Some("anonymous")
    }));
}

#[test]
fn a_malformed_k8s_url_is_a_usage_error_naming_it() {
    let output = std::process::Command::new(crate::support::BIN)
        .args(["serve", "-c", "k8s://iam"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("k8s://iam") && stderr.contains("no ConfigMap name"),
        "{stderr}"
    );
}
