//! The fake Kubernetes API server against real clients: our `juju::k8s` (kube-rs) and kubectl.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::k8s::{DATA_LINK, FakeApiServer, KubernetesState, PLACEHOLDER_PORT, write_atomic};
use juju::k8s::k8s_openapi::api::core::v1::{ConfigMap, ServicePort};
use juju::k8s::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use juju::k8s::{ConfigMapMount, Error, KUBECONFIG, Kubernetes, Patch, config_map_mounts_patch};
use serde_json::{Value, json};

const MODEL: &str = "iam";
const APP: &str = "oathkeeper";
/// The kubectl the machine provides (spec: do not install Debian's kubernetes-client).
const KUBECTL: &str = "kubectl";

struct Fixture {
    server: FakeApiServer,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let server =
        FakeApiServer::start(KubernetesState::juju_application(MODEL, APP, &[APP]).trusted(true))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, MODEL).unwrap();
    Fixture {
        server,
        kubeconfig,
        _dir: dir,
    }
}

async fn client(fixture: &Fixture) -> Kubernetes {
    let source: BTreeMap<String, String> = [(
        KUBECONFIG.to_owned(),
        fixture.kubeconfig.display().to_string(),
    )]
    .into();
    Kubernetes::connect(&source, MODEL, APP).await.unwrap()
}

fn labels() -> BTreeMap<String, String> {
    [("juju-app-name".to_owned(), APP.to_owned())].into()
}

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn version(config_map: &ConfigMap) -> String {
    config_map.metadata.resource_version.clone().unwrap()
}

#[tokio::test]
async fn applying_a_config_map_twice_is_idempotent() {
    let fixture = fixture();
    let kube = client(&fixture).await;
    let first = kube
        .apply_config_map("access-rules", &labels(), &data(&[("a.json", "[]")]))
        .await
        .unwrap();
    let second = kube
        .apply_config_map("access-rules", &labels(), &data(&[("a.json", "[]")]))
        .await
        .unwrap();
    assert_eq!(
        version(&first),
        version(&second),
        "the second apply writes nothing"
    );
    let state = fixture.server.state();
    assert_eq!(
        state.config_map_data("access-rules").unwrap(),
        data(&[("a.json", "[]")])
    );
    let object = state.config_map("access-rules").unwrap();
    assert_eq!(object["metadata"]["labels"]["juju-app-name"], APP);
    assert_eq!(object["metadata"]["managedFields"][0]["manager"], APP);
    let patches = fixture
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 2);
    assert!(
        fixture.server.requests()[0]
            .query
            .contains("fieldManager=oathkeeper")
    );
}

#[tokio::test]
async fn applying_fewer_keys_removes_the_dropped_ones() {
    let fixture = fixture();
    let kube = client(&fixture).await;
    kube.apply_config_map("access-rules", &labels(), &data(&[("a", "1"), ("b", "2")]))
        .await
        .unwrap();
    let applied = kube
        .apply_config_map("access-rules", &labels(), &data(&[("b", "3")]))
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap(), data(&[("b", "3")]));
}

#[tokio::test]
async fn config_maps_are_created_read_replaced_and_deleted() {
    let fixture = fixture();
    let kube = client(&fixture).await;
    assert!(
        kube.get_config_map("oathkeeper-config")
            .await
            .unwrap()
            .is_none()
    );
    let mut config_map = ConfigMap::default();
    config_map.metadata.name = Some("oathkeeper-config".into());
    let created = kube.create_config_map(&config_map).await.unwrap();
    let error = kube.create_config_map(&config_map).await.unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    let mut read = kube
        .get_config_map("oathkeeper-config")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, created);
    read.data = Some(data(&[("oathkeeper.yaml", "log: {}")]));
    let replaced = kube
        .replace_config_map("oathkeeper-config", &read)
        .await
        .unwrap();
    assert_eq!(replaced.data, read.data);
    // `read` now carries a stale resourceVersion.
    let error = kube
        .replace_config_map("oathkeeper-config", &read)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    kube.delete_config_map("oathkeeper-config").await.unwrap();
    let error = kube
        .delete_config_map("oathkeeper-config")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert!(
        fixture
            .server
            .state()
            .config_map("oathkeeper-config")
            .is_none()
    );
}

#[tokio::test]
async fn an_untrusted_app_gets_not_trusted_with_the_command_to_run() {
    let fixture = fixture();
    fixture.server.set_trusted(false);
    let kube = client(&fixture).await;
    let error = kube
        .apply_config_map("access-rules", &labels(), &data(&[]))
        .await
        .unwrap_err();
    let Error::NotTrusted { app, message } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(app, APP);
    assert!(
        message.contains(
            "User \"system:serviceaccount:iam:oathkeeper\" cannot patch resource \"configmaps\""
        ),
        "{message}"
    );
    assert!(
        error
            .to_string()
            .contains("juju trust oathkeeper --scope=cluster"),
        "{error}"
    );
    let error = kube.get_config_map("access-rules").await.unwrap_err();
    assert!(matches!(error, Error::NotTrusted { .. }), "{error:?}");
    assert!(fixture.server.state().config_map("access-rules").is_none());
}

#[tokio::test]
async fn the_stateful_set_patch_mounts_the_config_maps_once() {
    let fixture = fixture();
    let kube = client(&fixture).await;
    let mounts = [
        ConfigMapMount {
            volume: "config".into(),
            config_map: "oathkeeper-config".into(),
            mount_path: "/etc/config/oathkeeper".into(),
        },
        ConfigMapMount {
            volume: "access-rules".into(),
            config_map: "access-rules".into(),
            mount_path: "/etc/config/access-rules".into(),
        },
    ];
    let patch = Patch::Strategic(config_map_mounts_patch(APP, &mounts));
    let first = kube.patch_stateful_set(APP, &patch).await.unwrap();
    let second = kube.patch_stateful_set(APP, &patch).await.unwrap();
    assert_eq!(
        first.metadata.resource_version, second.metadata.resource_version,
        "a repeated patch is a no-op"
    );
    let state = fixture.server.state();
    let pod = &state.stateful_set(APP).unwrap()["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"],
        json!([
            {"name": "config", "configMap": {"name": "oathkeeper-config"}},
            {"name": "access-rules", "configMap": {"name": "access-rules"}},
        ])
    );
    let container = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == APP)
        .unwrap();
    assert_eq!(
        container["volumeMounts"][1],
        json!({"mountPath": "/etc/config/access-rules", "name": "access-rules", "readOnly": true})
    );
    assert_eq!(container["image"], "oathkeeper-image");
}

#[tokio::test]
async fn service_ports_land_beside_the_placeholder() {
    let fixture = fixture();
    let kube = client(&fixture).await;
    let port = ServicePort {
        name: Some("http".into()),
        port: 4456,
        target_port: Some(IntOrString::Int(4456)),
        ..ServicePort::default()
    };
    kube.apply_service_ports(APP, &[port]).await.unwrap();
    let state = fixture.server.state();
    let ports: Vec<u64> = state.service(APP).unwrap()["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [u64::from(PLACEHOLDER_PORT), 4456]);
    // Even untrusted, Juju's default Role lets the app patch its Service.
    fixture.server.set_trusted(false);
    let patched = kube
        .patch_service(
            APP,
            &Patch::Merge(json!({"metadata": {"annotations": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.annotations.unwrap()["a"], "b");
}

#[tokio::test]
async fn a_server_that_went_away_is_unreachable_until_it_comes_back() {
    let fixture = fixture();
    let kube = client(&fixture).await;
    fixture.server.pause();
    let error = kube.get_config_map("x").await.unwrap_err();
    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    fixture.server.resume().unwrap();
    assert!(kube.get_config_map("x").await.unwrap().is_none());
}

#[tokio::test]
async fn kubes_watch_reads_the_event_stream_bookmarks_and_410() {
    use futures::StreamExt;
    use kube::api::{Api, WatchEvent, WatchParams};

    let fixture = fixture();
    fixture
        .server
        .set_bookmark_interval(Duration::from_millis(100));
    let kube = client(&fixture).await;
    let first = kube
        .apply_config_map("rules", &labels(), &data(&[("a", "1")]))
        .await
        .unwrap();
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&fixture.kubeconfig).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, MODEL);
    let params = WatchParams::default()
        .fields("metadata.name=rules")
        .timeout(5);
    let mut stream = api.watch(&params, "0").await.unwrap().boxed();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let WatchEvent::Added(added) = next().await else {
        panic!("expected ADDED")
    };
    assert_eq!(version(&added), version(&first));
    let second = kube
        .apply_config_map("rules", &labels(), &data(&[("a", "2")]))
        .await
        .unwrap();
    let WatchEvent::Modified(modified) = next().await else {
        panic!("expected MODIFIED")
    };
    assert_eq!(modified.data.unwrap()["a"], "2");
    let WatchEvent::Bookmark(bookmark) = next().await else {
        panic!("expected BOOKMARK")
    };
    assert_eq!(bookmark.metadata.resource_version, version(&second));

    fixture.server.compact();
    let mut stale = api.watch(&params, &version(&first)).await.unwrap().boxed();
    let event = tokio::time::timeout(Duration::from_secs(5), stale.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WatchEvent::Error(status) = event else {
        panic!("expected ERROR")
    };
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
}

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl is installed (/usr/bin/kubectl)");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn config_map_yaml(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: access-rules\ndata:\n  rules.json: '{value}'\n  other: fixed\n"
    )
}

#[test]
fn kubectl_creates_reads_applies_and_deletes_config_maps() {
    let fixture = fixture();
    let run = |args: &[&str], stdin: Option<&str>| {
        let (ok, stdout, stderr) = kubectl(&fixture.kubeconfig, args, stdin);
        assert!(ok, "kubectl {args:?} failed: {stderr}");
        stdout
    };
    let current = |server: &FakeApiServer| server.state().config_map_data("access-rules").unwrap();

    run(&["create", "-f", "-"], Some(&config_map_yaml("[1]")));
    assert_eq!(current(&fixture.server)["rules.json"], "[1]");
    let read: Value = serde_json::from_str(&run(
        &["get", "configmap", "access-rules", "-o", "json"],
        None,
    ))
    .unwrap();
    assert_eq!(read["data"]["rules.json"], "[1]");
    assert_eq!(read["metadata"]["namespace"], MODEL);

    run(&["apply", "-f", "-"], Some(&config_map_yaml("[2]")));
    assert_eq!(current(&fixture.server)["rules.json"], "[2]");
    let object = fixture
        .server
        .state()
        .config_map("access-rules")
        .unwrap()
        .clone();
    assert!(
        object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    // Switching to server-side apply with a changed value conflicts with the client-side
    // manager, exactly as on a real cluster, until forced.
    let (ok, _, stderr) = kubectl(
        &fixture.kubeconfig,
        &["apply", "--server-side", "-f", "-"],
        Some(&config_map_yaml("[3]")),
    );
    assert!(!ok);
    assert!(
        stderr.contains("conflict with \"kubectl-client-side-apply\""),
        "{stderr}"
    );
    run(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&config_map_yaml("[3]")),
    );
    assert_eq!(current(&fixture.server)["rules.json"], "[3]");
    run(
        &["apply", "--server-side", "-f", "-"],
        Some(&config_map_yaml("[4]")),
    );
    assert_eq!(current(&fixture.server)["rules.json"], "[4]");

    // Imperative create sends protobuf.
    run(
        &["create", "configmap", "literal", "--from-literal=k=v"],
        None,
    );
    assert_eq!(
        fixture.server.state().config_map_data("literal").unwrap(),
        data(&[("k", "v")])
    );

    let listed = run(&["get", "configmaps", "-o", "name"], None);
    assert_eq!(listed.trim(), "configmap/access-rules\nconfigmap/literal");
    run(&["delete", "configmap", "access-rules"], None);
    assert!(fixture.server.state().config_map("access-rules").is_none());
    let (ok, _, stderr) = kubectl(
        &fixture.kubeconfig,
        &["get", "configmap", "access-rules"],
        None,
    );
    assert!(!ok);
    assert!(
        stderr.contains("configmaps \"access-rules\" not found"),
        "{stderr}"
    );
}

#[test]
fn kubectl_sees_what_the_charm_client_wrote_and_the_client_sees_kubectl() {
    let fixture = fixture();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let kube = runtime.block_on(client(&fixture));
    runtime
        .block_on(kube.apply_config_map(
            "oathkeeper-config",
            &labels(),
            &data(&[("oathkeeper.yaml", "serve: {}")]),
        ))
        .unwrap();
    let (ok, stdout, stderr) = kubectl(
        &fixture.kubeconfig,
        &[
            "get",
            "cm",
            "oathkeeper-config",
            "-o",
            "jsonpath={.data.oathkeeper\\.yaml}",
        ],
        None,
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "serve: {}");
    let (ok, _, stderr) = kubectl(
        &fixture.kubeconfig,
        &[
            "patch",
            "cm",
            "oathkeeper-config",
            "--type=merge",
            "-p",
            r#"{"data":{"extra":"x"}}"#,
        ],
        None,
    );
    assert!(ok, "{stderr}");
    let read = runtime
        .block_on(kube.get_config_map("oathkeeper-config"))
        .unwrap()
        .unwrap();
    assert_eq!(read.data.unwrap()["extra"], "x");
    let (ok, stdout, stderr) = kubectl(
        &fixture.kubeconfig,
        &[
            "get",
            "sts",
            APP,
            "-o",
            "jsonpath={.spec.template.spec.serviceAccountName}",
        ],
        None,
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout, APP);
}

/// What kubelet's swap guarantees, checked against a reader racing 300 updates: `..data` and
/// every key link always exist (the rename is atomic, links are never removed for kept keys),
/// and the files seen through one resolution of `..data` always belong to one version (never
/// a mix of old and new, never a partial file). Like kubelet, the writer deletes the old
/// directory right after the swap, so a reader that resolved `..data` just before can find
/// that directory gone: it then resolves again, as a workload must.
#[test]
fn a_reader_never_sees_a_missing_link_or_a_mixed_version_while_the_mount_swaps() {
    let dir = tempfile::tempdir().unwrap();
    let payload = |i: usize| -> BTreeMap<String, Vec<u8>> {
        [
            ("rules.json".to_owned(), format!("[{i}]").into_bytes()),
            ("oathkeeper.yaml".to_owned(), format!("v: {i}").into_bytes()),
        ]
        .into()
    };
    write_atomic(dir.path(), &payload(0)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), dir.path().to_owned());
        std::thread::spawn(move || {
            let mut consistent_reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let target =
                    std::fs::read_link(path.join(DATA_LINK)).expect("..data always exists");
                for key in ["rules.json", "oathkeeper.yaml"] {
                    std::fs::symlink_metadata(path.join(key)).expect("key links always exist");
                }
                let version_dir = path.join(target);
                let (Ok(rules), Ok(config)) = (
                    std::fs::read_to_string(version_dir.join("rules.json")),
                    std::fs::read_to_string(version_dir.join("oathkeeper.yaml")),
                ) else {
                    // The old directory was removed after the swap: resolve again.
                    continue;
                };
                let version = rules.trim_start_matches('[').trim_end_matches(']');
                assert_eq!(
                    config,
                    format!("v: {version}"),
                    "one version per resolution"
                );
                consistent_reads += 1;
            }
            consistent_reads
        })
    };
    for i in 1..300 {
        assert!(write_atomic(dir.path(), &payload(i)).unwrap());
    }
    std::thread::sleep(Duration::from_millis(10));
    stop.store(true, Ordering::Relaxed);
    let reads = reader
        .join()
        .expect("the reader never saw a missing link or a mixed version");
    assert!(reads > 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("rules.json")).unwrap(),
        "[299]"
    );
    let hidden: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("..") && n != DATA_LINK)
        .collect();
    assert_eq!(
        hidden.len(),
        1,
        "old timestamped directories are removed: {hidden:?}"
    );
}

/// What a pod's in-cluster config uses: kubectl over HTTPS to `KUBERNETES_SERVICE_HOST:PORT`,
/// trusting only the service account's `ca.crt`, with its token.
#[test]
fn kubectl_reaches_the_https_port_trusting_only_the_service_accounts_ca() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let account = dir.path().join("serviceaccount");
    fixture
        .server
        .write_service_account(&account, MODEL)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(account.join("namespace")).unwrap(),
        MODEL
    );
    let server = format!("https://{}", fixture.server.https_addr());
    let output = Command::new(KUBECTL)
        .args(["--server", &server, "--certificate-authority"])
        .arg(account.join("ca.crt"))
        .arg("--token")
        .arg(std::fs::read_to_string(account.join("token")).unwrap())
        .args([
            "-n",
            MODEL,
            "get",
            "service",
            APP,
            "-o",
            "jsonpath={.metadata.name}",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), APP);
    // A client trusting the system's roots instead is refused: the certificate is the
    // fake cluster CA's.
    let output = Command::new(KUBECTL)
        .args([
            "--kubeconfig",
            "/dev/null",
            "--server",
            &server,
            "--token",
            "x",
        ])
        .args(["-n", MODEL, "get", "service", APP])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
}
