//! One deployed `oathkeeper` application on this machine: the charm under the harness, a
//! shared fake Kubernetes API, and per unit a live fake Pebble that runs the real server from
//! the charm's own layer, fed by kubelet-style mounts of the ConfigMaps the charm wrote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::k8s::{ConfigMapMount, FakeApiServer, KubernetesState};
use harness::pebble::{ContainerState, FakePebble, LiveOptions, Mode};
use harness::{Context, Event, Outcome, Relation, State};

use crate::bins;
use crate::http::free_port;

/// The model (namespace).
pub const MODEL: &str = "iam";
/// The application.
pub const APP: &str = "oathkeeper";
/// The workload container.
pub const CONTAINER: &str = "oathkeeper";
/// Where the charm mounts the config ConfigMap in the container.
const CONFIG_DIR: &str = "/etc/config/oathkeeper";
/// Where the charm mounts the rules ConfigMap in the container.
const RULES_DIR: &str = "/etc/config/access-rules";
/// The charm's config-source value for kubelet-style mounts.
pub const MOUNTED_VOLUMES: &str = "mounted-volumes";
/// The charm's config-source value for watching the ConfigMaps through the API.
pub const KUBERNETES_API: &str = "kubernetes-api";
/// The workload API inside the pod.
const POD_API: &str = "http://localhost:4456";
/// The Service's API address, as certificates name it and Pebble's https check asks for it.
pub const SERVICE_API: &str = "oathkeeper.iam.svc.cluster.local:4456";
/// Where the charm pushes the certificate, key and CA into the container (the server reads
/// them there: mapped into the container root).
const TLS_DIR: &str = "/etc/oathkeeper/tls";

/// The repository root (metadata.yaml, config.yaml, actions.yaml).
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The application: its charm directory and the cluster its units share.
pub struct Deployment {
    charm_dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
    api: FakeApiServer,
    kubeconfig: PathBuf,
}

/// One unit: its State, its live Pebble running the server, the kubelet mounts feeding it.
pub struct Unit {
    /// The unit's State, updated by every hook.
    pub state: State,
    /// The server's API port (what `localhost:4456` is inside the pod).
    pub api_port: u16,
    pebble: FakePebble,
    _mounts: Vec<ConfigMapMount>,
}

impl Deployment {
    /// A freshly deployed, trusted application.
    pub fn new() -> Deployment {
        let charm_dir = tempfile::tempdir().expect("tempdir");
        for file in ["metadata.yaml", "config.yaml", "actions.yaml"] {
            std::fs::copy(Path::new(ROOT).join(file), charm_dir.path().join(file))
                .expect("copy charm metadata");
        }
        std::os::unix::fs::symlink(
            bins::path("oathkeeper-charm"),
            charm_dir.path().join("dispatch"),
        )
        .expect("link dispatch");
        let scratch = tempfile::tempdir().expect("tempdir");
        let api = FakeApiServer::start(
            KubernetesState::juju_application(MODEL, APP, &[CONTAINER]).trusted(true),
        )
        .expect("fake Kubernetes API");
        let kubeconfig = scratch.path().join("kubeconfig");
        api.write_kubeconfig(&kubeconfig, MODEL)
            .expect("kubeconfig");
        Deployment {
            charm_dir,
            scratch,
            api,
            kubeconfig,
        }
    }

    /// The fake API server.
    pub fn api(&self) -> &FakeApiServer {
        &self.api
    }

    /// Starts unit `n`'s pod with the charm's `config-source` set to `source`
    /// (`mounted-volumes`: kubelet-style mounts feed the server; `kubernetes-api`: the server
    /// watches the fake API itself), and a live Pebble mapping the container onto the host.
    pub fn unit(&self, n: u32, leader: bool, source: &str) -> Unit {
        let root = self.scratch.path().join(format!("unit-{n}"));
        let config_dir = root.join("config");
        let rules_dir = root.join("access-rules");
        let rules_host = rules_dir.display().to_string();
        // Mounted volumes: kubelet's part. Watched through the API: nothing to mount.
        let mounts = if source == MOUNTED_VOLUMES {
            vec![
                // The config names rule files by their container path: show it the host's.
                self.api
                    .mount_config_map_rewritten(
                        "oathkeeper-config",
                        &config_dir,
                        &[(RULES_DIR, &rules_host)],
                    )
                    .expect("mount oathkeeper-config"),
                self.api
                    .mount_config_map_rewritten("access-rules", &rules_dir, &[])
                    .expect("mount access-rules"),
            ]
        } else {
            Vec::new()
        };
        let api_port = free_port();
        let metrics_port = free_port();
        let options = LiveOptions::default()
            .program("oathkeeper", bins::path("oathkeeper"))
            .rewrite(CONFIG_DIR, config_dir.display().to_string())
            .rewrite(POD_API, format!("http://127.0.0.1:{api_port}"))
            .in_root(TLS_DIR)
            // Pebble's https check names the Service: it reaches this unit, verifying the name.
            .resolve(SERVICE_API, format!("127.0.0.1:{api_port}"))
            .env("SERVE_API_HOST", "127.0.0.1")
            .env("SERVE_API_PORT", api_port.to_string())
            .env("SERVE_PROMETHEUS_HOST", "127.0.0.1")
            .env("SERVE_PROMETHEUS_PORT", metrics_port.to_string())
            // The pod's service account, as the workload sees the API server.
            .env("KUBECONFIG", self.kubeconfig.display().to_string());
        let socket = root
            .join("containers")
            .join(CONTAINER)
            .join("pebble.socket");
        let pebble = FakePebble::start(&socket, ContainerState::default(), Mode::Live(options))
            .expect("live fake Pebble");
        let mut state = State::default()
            .unit_id(n)
            .leader(leader)
            .config("config-source", source)
            .container(CONTAINER, ContainerState::default())
            .relation(Relation {
                remote_units: Default::default(),
                ..Relation::new("oathkeeper", 1, APP)
            });
        state.model.name = MODEL.to_owned();
        Unit {
            state,
            api_port,
            pebble,
            _mounts: mounts,
        }
    }

    /// Runs `event` on `unit` and keeps its new State; panics if the hook failed.
    pub fn run(&self, unit: &mut Unit, event: &Event) -> Outcome {
        let context = Context::new(self.charm_dir.path())
            .expect("charm dir")
            .attach_pebble(CONTAINER, unit.pebble.socket())
            .attach_kubernetes(&self.kubeconfig)
            .env(
                "OATHKEEPER_CHARM_API_URL",
                &format!("http://127.0.0.1:{}", unit.api_port),
            )
            .timeout(Duration::from_secs(60));
        let outcome = context.run(&unit.state, event).expect("a consistent hook");
        assert!(
            outcome.succeeded(),
            "hook {} failed on unit {}: {}\nlog: {:#?}",
            event.name,
            unit.state.unit_id,
            outcome.stderr,
            outcome.effects.juju_log
        );
        unit.state = outcome.state.clone();
        outcome
    }

    /// The server log of `unit`, for failure messages.
    pub fn server_log(unit: &Unit) -> String {
        std::fs::read_to_string(unit.pebble.log_path("oathkeeper")).unwrap_or_default()
    }
}

impl Default for Deployment {
    fn default() -> Deployment {
        Deployment::new()
    }
}
