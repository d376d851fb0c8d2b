//! The workload's OCI image (`image/build`): its `rockcraft.yaml` agrees with the script, and
//! the server runs from the image's unpacked root filesystem in isolation (chroot, as the
//! image's non-root user), serving a tutorial-like config and deciding over HTTP.
//!
//! The image test needs root (chroot, `umoci unpack`) and Debian's umoci (`./test.sh`
//! installs it); without either it is skipped with a message. It reuses the `oathkeeper`
//! binary cargo built for the tests (the debug build; `image/build` strips its debug info)
//! instead of building the release one.

// Test helpers outside #[test] functions unwrap too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, unreachable_pub)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use e2e::kratos::{self, FakeKratos};
use e2e::{bins, eventually, http};
use serde_json::Value;

/// The image's binary, user and tag prefix, as `image/build` sets them.
const BINARY_PATH: &str = "/usr/bin/oathkeeper";
const USER_NAME: &str = "_daemon_";
/// Rockcraft's `_daemon_` user (the only `run-user` it knows) has this uid and gid.
const USER_ID: u32 = 584_792;
const IMAGE_NAME: &str = "oathkeeper-rs";
const TIMEOUT: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The workspace version (this package inherits it).
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Runs `command` to completion within `timeout` (killed after it), its output captured.
fn run(command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("spawn {command:?}: {error}"));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > timeout {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{command:?} did not finish within {timeout:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Why the image test cannot run here, if it cannot.
fn skip_reason() -> Option<&'static str> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (chroot and umoci unpack need it)");
    }
    let umoci = Command::new("umoci").arg("--version").output();
    if !umoci.is_ok_and(|output| output.status.success()) {
        return Some("umoci is not installed (./test.sh installs it: apt-get install umoci)");
    }
    None
}

/// A `readonly NAME=value` line of `image/build`.
fn script_constant(script: &str, name: &str) -> String {
    script
        .lines()
        .find_map(|line| line.strip_prefix(&format!("readonly {name}=")))
        .unwrap_or_else(|| panic!("image/build sets no {name}"))
        .to_owned()
}

#[test]
fn rockcraft_yaml_agrees_with_the_script_and_the_workspace() {
    let root = workspace();
    let script = fs::read_to_string(root.join("image/build")).unwrap();
    assert_eq!(script_constant(&script, "BINARY_PATH"), BINARY_PATH);
    assert_eq!(script_constant(&script, "USER_NAME"), USER_NAME);
    assert_eq!(script_constant(&script, "USER_ID"), USER_ID.to_string());
    assert_eq!(script_constant(&script, "IMAGE_NAME"), IMAGE_NAME);

    let text = fs::read_to_string(root.join("rockcraft.yaml")).unwrap();
    let rock: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(rock["name"], IMAGE_NAME);
    assert_eq!(rock["version"], version(), "rockcraft.yaml's version");
    assert_eq!(rock["base"], "bare");
    assert_eq!(rock["build-base"], "ubuntu@24.04");
    assert_eq!(rock["run-user"], USER_NAME);
    assert!(
        rock.get("services").is_none(),
        "Juju brings its own Pebble layer"
    );
    let part = &rock["parts"]["oathkeeper"];
    assert_eq!(part["plugin"], "rust");
    assert_eq!(part["rust-path"], serde_json::json!(["crates/proxy"]));
    assert_eq!(
        part["organize"]["bin/oathkeeper"],
        BINARY_PATH.trim_start_matches('/')
    );
    let slices: Vec<&str> = rock["parts"]["runtime"]["stage-packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slice| slice.as_str().unwrap())
        .collect();
    for slice in ["ca-certificates_data", "libc6_libs", "libgcc-s1_libs"] {
        assert!(slices.contains(&slice), "{slice} missing from {slices:?}");
    }

    let metadata = fs::read_to_string(root.join("metadata.yaml")).unwrap();
    let metadata: Value = serde_norway::from_str(&metadata).unwrap();
    assert_eq!(
        metadata["resources"]["oci-image"]["upstream-source"],
        format!("ghcr.io/canonical/{IMAGE_NAME}:{}", version())
    );
}

/// A JSON blob of an OCI layout by digest.
fn blob(layout: &Path, digest: &Value) -> Value {
    let digest = digest.as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// The server running in the chroot; killed when dropped.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn stop(&mut self) {
        if self.child.try_wait().unwrap().is_none() {
            self.child.kill().unwrap();
        }
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < TIMEOUT, "the server outlived SIGKILL");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tutorial's shape: Kratos' session cookie for the protected app (the charm's
/// `cookie_session` config and identity headers), anonymous for its public part.
fn write_config(rootfs: &Path, api: u16, metrics: u16, kratos: &str) {
    let config_dir = rootfs.join("etc/config/oathkeeper");
    let rules_dir = rootfs.join("etc/config/access-rules");
    fs::create_dir_all(&config_dir).unwrap();
    fs::create_dir_all(&rules_dir).unwrap();
    let config = format!(
        r#"log:
  level: info
  format: json
serve:
  api:
    host: 127.0.0.1
    port: {api}
  prometheus:
    host: 127.0.0.1
    port: {metrics}
access_rules:
  matching_strategy: regexp
  repositories:
    - file:///etc/config/access-rules/access-rules-demo.json
authenticators:
  anonymous:
    enabled: true
  cookie_session:
    enabled: true
    config:
      check_session_url: {kratos}/sessions/whoami
      preserve_path: true
      extra_from: "@this"
      subject_from: identity.id
      only: [{cookie}]
authorizers:
  allow:
    enabled: true
mutators:
  noop:
    enabled: true
  header:
    enabled: true
    config:
      headers:
        X-User: "{{{{ print .Subject }}}}"
        X-Email: "{{{{ print .Extra.identity.traits.email }}}}"
errors:
  fallback: [json]
  handlers:
    json:
      enabled: true
"#,
        cookie = kratos::SESSION_COOKIE,
    );
    fs::write(config_dir.join("oathkeeper.yaml"), config).unwrap();
    let rules = serde_json::json!([
        {
            "id": "demo:spark:public",
            "match": {"url": "<http|https>://demo.example/spark/public<(/.*)?>", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header"}],
        },
        {
            "id": "demo:spark:allow",
            "match": {"url": "<http|https>://demo.example/spark<(?!/public(/.*)?$).*>", "methods": ["GET"]},
            "authenticators": [{"handler": "cookie_session"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header"}],
        },
    ]);
    fs::write(
        rules_dir.join("access-rules-demo.json"),
        serde_json::to_string_pretty(&rules).unwrap(),
    )
    .unwrap();
}

fn decide(port: u16, uri: &str, cookie: Option<&str>) -> http::Message {
    let mut headers = vec![
        ("X-Forwarded-Method", "GET"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "demo.example"),
        ("X-Forwarded-Uri", uri),
    ];
    if let Some(cookie) = cookie {
        headers.push(("Cookie", cookie));
    }
    http::get(port, "/decisions", &headers).unwrap()
}

#[test]
fn the_image_runs_the_server_in_isolation() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED the_image_runs_the_server_in_isolation: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let binary = bins::path("oathkeeper");
    run(
        Command::new(workspace().join("image/build"))
            .arg("--binary")
            .arg(&binary)
            .arg("--out")
            .arg(&out),
        TIMEOUT,
    );
    let tag = version();

    // The archive is the layout: extracted, umoci unpacks it.
    let archive = out.join(format!("{IMAGE_NAME}_{tag}.oci.tar"));
    let layout = dir.path().join("layout");
    fs::create_dir(&layout).unwrap();
    run(
        Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&layout),
        TIMEOUT,
    );
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        tag
    );
    let manifest = blob(&layout, &manifests[0]["digest"]);
    let config = blob(&layout, &manifest["config"]["digest"]);
    let image = &config["config"];
    assert_eq!(image["User"], format!("{USER_ID}:{USER_ID}"));
    assert_eq!(image["WorkingDir"], "/");
    assert!(
        image.get("Entrypoint").is_none_or(Value::is_null),
        "{image}"
    );
    assert!(image.get("Cmd").is_none_or(Value::is_null), "{image}");
    assert_eq!(image["Labels"]["org.opencontainers.image.version"], tag);

    let bundle = dir.path().join("bundle");
    run(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&bundle),
        TIMEOUT,
    );
    let rootfs = bundle.join("rootfs");
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|line| line.starts_with(&format!("{USER_NAME}:x:{USER_ID}:{USER_ID}:"))),
        "{passwd}"
    );
    assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());

    let chroot = |args: &[&str]| {
        let mut command = Command::new("chroot");
        command
            .arg(format!("--userspec={USER_ID}:{USER_ID}"))
            .arg(&rootfs)
            .args(args);
        command
    };
    let printed = run(&mut chroot(&["oathkeeper", "version"]), TIMEOUT);
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed
            .lines()
            .any(|line| line.split_whitespace().last() == Some(tag)),
        "`oathkeeper version` from the image: {printed}"
    );

    let mut kratos = FakeKratos::start();
    let (api, metrics) = (http::free_port(), http::free_port());
    write_config(&rootfs, api, metrics, &kratos.url());
    let log = dir.path().join("server.log");
    let child = chroot(&[
        BINARY_PATH,
        "serve",
        "-c",
        "/etc/config/oathkeeper/oathkeeper.yaml",
    ])
    .stdin(Stdio::null())
    .stdout(fs::File::create(&log).unwrap())
    .stderr(fs::File::create(dir.path().join("server.err")).unwrap())
    .spawn()
    .unwrap();
    let mut server = Server { child, log };
    assert!(
        eventually(TIMEOUT, || http::is_listening(api)),
        "the server in the chroot did not listen on {api}: {}{}",
        server.log(),
        fs::read_to_string(dir.path().join("server.err")).unwrap_or_default()
    );

    let session = format!("{}={}", kratos::SESSION_COOKIE, kratos::TOKEN);
    let allowed = decide(api, "/spark/jobs?x=1", Some(&session));
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", server.log());
    assert_eq!(allowed.header("x-user"), Some(kratos::IDENTITY_ID));
    assert_eq!(allowed.header("x-email"), Some(kratos::EMAIL));
    let denied = decide(api, "/spark/jobs", None);
    assert_eq!(denied.status, 401, "{denied:?}");
    let public = decide(api, "/spark/public/index.html", None);
    assert_eq!(public.status, 200, "{public:?}");
    assert_eq!(public.header("x-user"), Some("anonymous"));

    server.stop();
    assert!(
        !http::is_listening(api),
        "the server still listens after it stopped"
    );
    kratos.stop();
}
