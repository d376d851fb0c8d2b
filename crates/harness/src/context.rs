//! Running a charm for one event: [`Context::run`] sets up the hook environment exactly as
//! Juju does (spec/juju-runtime.md §1.4), puts the fake hook tools first on `PATH`, starts the
//! emulators the state needs, runs `dispatch`, and returns the new state with the side-effect
//! log.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::charm::{Charm, CharmError};
use crate::consistency;
use crate::event::Event;
use crate::k8s::{FakeApiServer, KubernetesState, RequestRecord};
use crate::pebble::{Call, FakePebble, Mode};
use crate::pod::{self, Pod};
use crate::protocol::AgentServer;
use crate::session::{Session, SideEffects};
use crate::state::State;
use crate::tools::TOOLS;
use juju::env as vars;

/// The multicall hook-tool binary's name.
pub const HOOK_TOOL_BIN: &str = "fake-hook-tool";
/// Overrides where the harness finds [`HOOK_TOOL_BIN`].
pub const HOOK_TOOL_ENV: &str = "HARNESS_HOOK_TOOL";
/// How long a hook may run before the harness kills it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a run could not happen (a charm that fails is an [`Outcome`] with a non-zero exit code,
/// not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The charm directory is unusable.
    #[error(transparent)]
    Charm(#[from] CharmError),
    /// The state and event describe something Juju could never produce.
    #[error("inconsistent state or event:\n  {}", .0.join("\n  "))]
    Inconsistent(Vec<String>),
    /// The hook-tool binary cannot be found.
    #[error(
        "cannot find the {HOOK_TOOL_BIN} binary: build it with `cargo build -p juju-harness --bins` \
         or set {HOOK_TOOL_ENV}"
    )]
    NoHookTool,
    /// Setting up or running the hook failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// An emulator failed to start or stop.
    #[error("{0}")]
    Emulator(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The state after the hook (buffered writes only if it exited 0).
    pub state: State,
    /// The charm's exit code (`-1` if killed by a signal or the timeout).
    pub exit_code: i32,
    /// What the charm printed on stdout.
    pub stdout: String,
    /// What the charm printed on stderr.
    pub stderr: String,
    /// Logs, statuses, action results and every hook-tool call.
    #[serde(flatten)]
    pub effects: SideEffects,
    /// Every Pebble API call, per container the harness started (not attached ones).
    pub pebble_calls: BTreeMap<String, Vec<Call>>,
    /// Every Kubernetes API request, when the harness started the API (not attached).
    pub kubernetes_requests: Vec<RequestRecord>,
}

impl Outcome {
    /// Whether the hook succeeded.
    pub fn succeeded(&self) -> bool {
        self.exit_code == 0
    }
}

/// Runs one charm; reusable for any number of events.
#[derive(Debug, Clone)]
pub struct Context {
    charm: Charm,
    hook_tool: Option<PathBuf>,
    timeout: Duration,
    env: Vec<(String, String)>,
    pebble: BTreeMap<String, PathBuf>,
    kubeconfig: Option<PathBuf>,
    pebble_mode: Mode,
    pod_namespace: Option<bool>,
}

impl Context {
    /// A context for the charm in `charm_dir` (its metadata and `dispatch`). The hook-tool
    /// binary is looked up as [`HOOK_TOOL_ENV`] says, unless [`Context::hook_tool`] names it.
    pub fn new(charm_dir: &Path) -> Result<Context, Error> {
        Ok(Context {
            charm: Charm::load(charm_dir)?,
            hook_tool: find_hook_tool(),
            timeout: DEFAULT_TIMEOUT,
            env: Vec::new(),
            pebble: BTreeMap::new(),
            kubeconfig: None,
            pebble_mode: Mode::Emulated,
            pod_namespace: None,
        })
    }

    /// The charm's metadata.
    pub fn charm(&self) -> &Charm {
        &self.charm
    }

    /// Uses this hook-tool binary.
    pub fn hook_tool(mut self, path: &Path) -> Context {
        self.hook_tool = Some(path.to_owned());
        self
    }

    /// Kills a hook that runs longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Context {
        self.timeout = timeout;
        self
    }

    /// Adds an environment variable for the charm process (e.g. a log level).
    pub fn env(mut self, key: &str, value: &str) -> Context {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Uses a long-lived Pebble at `socket` for `container` instead of starting one from the
    /// state: the container's entry in the state is then neither read nor updated.
    pub fn attach_pebble(mut self, container: &str, socket: &Path) -> Context {
        self.pebble.insert(container.to_owned(), socket.to_owned());
        self
    }

    /// Uses a long-lived Kubernetes API (its kubeconfig) instead of starting one from the
    /// state: `state.kubernetes` is then neither read nor updated.
    pub fn attach_kubernetes(mut self, kubeconfig: &Path) -> Context {
        self.kubeconfig = Some(kubeconfig.to_owned());
        self
    }

    /// How Pebbles started from the state behave (default: emulated, no processes).
    pub fn pebble_mode(mut self, mode: Mode) -> Context {
        self.pebble_mode = mode;
        self
    }

    /// Whether to run the charm in its own mount and UTS namespaces, where the pod's files are
    /// at their real paths and the hostname is the pod's (see [`crate::pod`]). Default: when
    /// the harness can (as root, with `unshare`); `true` fails runs where it cannot.
    pub fn pod_namespace(mut self, enabled: bool) -> Context {
        self.pod_namespace = Some(enabled);
        self
    }

    /// Runs `event` on `state`.
    pub fn run(&self, state: &State, event: &Event) -> Result<Outcome, Error> {
        let problems = consistency::check(&self.charm, state, event);
        if !problems.is_empty() {
            return Err(Error::Inconsistent(problems));
        }
        let scratch = tempfile::Builder::new()
            .prefix("charm-harness-")
            .tempdir()
            .map_err(io("cannot create a scratch directory"))?;
        let tools_dir = scratch.path().join("tools");
        self.install_tools(&tools_dir)?;

        let containers_dir = scratch.path().join("containers");
        let mut pebbles = Vec::new();
        for (name, container) in &state.containers {
            let dir = containers_dir.join(name);
            std::fs::create_dir_all(&dir).map_err(io("cannot create the containers directory"))?;
            let socket = dir.join(juju::pebble::client::SOCKET_NAME);
            if let Some(attached) = self.pebble.get(name) {
                std::os::unix::fs::symlink(attached, &socket)
                    .map_err(io("cannot link the attached Pebble socket"))?;
                continue;
            }
            // With can_connect false nothing listens: the charm finds no socket.
            let pebble = FakePebble::start(&socket, container.clone(), self.pebble_mode.clone())
                .map_err(|error| Error::Emulator(format!("fake Pebble {name}: {error}")))?;
            pebbles.push((name.clone(), pebble));
        }

        let pod = Pod::new(
            scratch.path(),
            &self.charm.name,
            state.unit_id,
            &state.model.name,
            &state
                .networks
                .get("juju-info")
                .cloned()
                .unwrap_or_default()
                .address,
        )
        .map_err(io("cannot lay out the pod's files"))?;
        let (kubeconfig, api) = match &self.kubeconfig {
            Some(path) => (path.clone(), None),
            None => {
                let api = FakeApiServer::start(self.kubernetes_state(state))
                    .map_err(|error| Error::Emulator(format!("fake Kubernetes API: {error}")))?;
                let path = scratch.path().join("kubeconfig");
                api.write_kubeconfig(&path, &state.model.name)
                    .map_err(|error| Error::Emulator(format!("kubeconfig: {error}")))?;
                api.write_service_account(&pod.service_account_dir(), &state.model.name)
                    .map_err(io("cannot write the service-account files"))?;
                (path, Some(api))
            }
        };
        let namespaced = match self.pod_namespace {
            Some(enabled) => enabled,
            None => pod::namespaces_available(),
        };

        let context_id = format!("{}-{}-{}", self.unit(state), event.name, std::process::id());
        let socket = scratch.path().join("agent.socket");
        let session = Session::new(self.charm.clone(), event.clone(), state.clone());
        let server = AgentServer::start(&socket, &context_id, session)
            .map_err(io("cannot start the agent socket"))?;

        let mut env = self.hook_env(state, event, &context_id, &socket);
        env.push((
            "PATH".to_owned(),
            format!(
                "{}:{}",
                tools_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        ));
        env.push((
            juju::pebble::client::CONTAINERS_DIR_ENV.to_owned(),
            containers_dir.display().to_string(),
        ));
        env.push(("KUBECONFIG".to_owned(), kubeconfig.display().to_string()));
        env.push(("HOSTNAME".to_owned(), pod.hostname.clone()));
        if let Some(api) = &api {
            env.extend(pod::service_env(api.https_addr()));
        }
        if !namespaced {
            env.push((pod::POD_ROOT_ENV.to_owned(), pod.root.display().to_string()));
        }
        env.extend(self.env.iter().cloned());
        let ran = self.run_dispatch(&env, namespaced.then_some(&pod));

        let session = server
            .finish()
            .map_err(io("cannot stop the agent socket"))?;
        let (exit_code, stdout, stderr) = ran?;
        let (mut new_state, effects) = session.finish(exit_code == 0);
        let mut pebble_calls = BTreeMap::new();
        for (name, pebble) in pebbles {
            pebble_calls.insert(name.clone(), pebble.calls());
            new_state.containers.insert(name, pebble.stop());
        }
        let mut kubernetes_requests = Vec::new();
        if let Some(api) = api {
            kubernetes_requests = api.requests();
            new_state.kubernetes = api.stop();
            crate::kubelet::sync_config_map_volumes(&mut new_state);
        }
        if exit_code == 0 {
            forget_broken_relation(&mut new_state, event);
        }
        Ok(Outcome {
            state: new_state,
            exit_code,
            stdout,
            stderr,
            effects,
            pebble_calls,
            kubernetes_requests,
        })
    }

    /// The Kubernetes objects to serve: the state's (in the model's namespace unless the state
    /// names another), or, when it holds none, what Juju creates for a freshly deployed
    /// application (its StatefulSet and Service, in the model's namespace), keeping the
    /// state's trust.
    fn kubernetes_state(&self, state: &State) -> KubernetesState {
        if !state.kubernetes.objects.is_empty() {
            let mut kubernetes = state.kubernetes.clone();
            // The model is the namespace: objects written without one belong to it.
            if kubernetes.namespace == crate::k8s::DEFAULT_NAMESPACE {
                kubernetes.namespace.clone_from(&state.model.name);
            }
            return kubernetes;
        }
        let containers: Vec<&str> = self.charm.containers.iter().map(String::as_str).collect();
        KubernetesState::juju_application(&state.model.name, &self.charm.name, &containers)
            .trusted(state.kubernetes.trusted)
    }

    fn unit(&self, state: &State) -> String {
        format!("{}/{}", self.charm.name, state.unit_id)
    }

    fn install_tools(&self, dir: &Path) -> Result<(), Error> {
        let hook_tool = self.hook_tool.as_ref().ok_or(Error::NoHookTool)?;
        std::fs::create_dir_all(dir).map_err(io("cannot create the tools directory"))?;
        for tool in TOOLS {
            std::os::unix::fs::symlink(hook_tool, dir.join(tool))
                .map_err(io(format!("cannot install hook tool {tool}")))?;
        }
        Ok(())
    }

    /// The variables Juju sets for this hook (spec §1.4), empty where Juju exports empties.
    fn hook_env(
        &self,
        state: &State,
        event: &Event,
        context_id: &str,
        socket: &Path,
    ) -> Vec<(String, String)> {
        let charm_dir = self.charm.dir.display().to_string();
        let mut env: Vec<(&str, String)> = vec![
            (vars::JUJU_DISPATCH_PATH, event.dispatch_path()),
            (
                vars::JUJU_HOOK_NAME,
                if event.action.is_some() {
                    String::new()
                } else {
                    event.name.clone()
                },
            ),
            (vars::JUJU_CHARM_DIR, charm_dir.clone()),
            (vars::CHARM_DIR, charm_dir),
            (vars::JUJU_CONTEXT_ID, context_id.to_owned()),
            (
                vars::JUJU_AGENT_SOCKET_ADDRESS,
                socket.display().to_string(),
            ),
            (vars::JUJU_AGENT_SOCKET_NETWORK, "unix".to_owned()),
            (vars::JUJU_UNIT_NAME, self.unit(state)),
            (vars::JUJU_MODEL_NAME, state.model.name.clone()),
            (vars::JUJU_MODEL_UUID, state.model.uuid.clone()),
            (vars::JUJU_VERSION, state.juju_version.clone()),
            (vars::JUJU_API_ADDRESSES, "127.0.0.1:17070".to_owned()),
            (vars::JUJU_MACHINE_ID, String::new()),
            (vars::JUJU_PRINCIPAL_UNIT, String::new()),
            (vars::JUJU_AVAILABILITY_ZONE, String::new()),
            (vars::CLOUD_API_VERSION, "1.32.0".to_owned()),
            (vars::JUJU_CHARM_HTTP_PROXY, String::new()),
            (vars::JUJU_CHARM_HTTPS_PROXY, String::new()),
            (vars::JUJU_CHARM_FTP_PROXY, String::new()),
            (vars::JUJU_CHARM_NO_PROXY, String::new()),
            ("LANG", "C.UTF-8".to_owned()),
            ("TERM", "tmux-256color".to_owned()),
            ("DEBIAN_FRONTEND", "noninteractive".to_owned()),
            ("APT_LISTCHANGES_FRONTEND", "none".to_owned()),
        ];
        if let (Some((endpoint, kind)), Some(id)) = (event.relation_kind(), event.relation) {
            let relation = state.find_relation(id);
            env.push((vars::JUJU_RELATION, endpoint.to_owned()));
            env.push((vars::JUJU_RELATION_ID, format!("{endpoint}:{id}")));
            env.push((
                vars::JUJU_REMOTE_APP,
                relation.map(|r| r.remote_app.clone()).unwrap_or_default(),
            ));
            env.push((
                vars::JUJU_REMOTE_UNIT,
                event.juju_remote_unit(state).unwrap_or_default(),
            ));
            if kind == "departed" {
                env.push((
                    vars::JUJU_DEPARTING_UNIT,
                    event.juju_departing_unit(state).unwrap_or_default(),
                ));
            }
        }
        if let Some(action) = &event.action {
            env.push((vars::JUJU_ACTION_NAME, event.name.clone()));
            env.push((vars::JUJU_ACTION_UUID, action.id.clone()));
            env.push((vars::JUJU_ACTION_TAG, format!("action-{}", action.id)));
        }
        if let Some(container) = event.workload() {
            env.push((vars::JUJU_WORKLOAD_NAME, container.to_owned()));
            if let Some(check) = &event.check {
                env.push((vars::JUJU_PEBBLE_CHECK_NAME, check.clone()));
            }
            if let Some(notice) = &event.notice {
                env.push((vars::JUJU_NOTICE_ID, notice.id.clone()));
                env.push((vars::JUJU_NOTICE_TYPE, notice.kind.clone()));
                env.push((vars::JUJU_NOTICE_KEY, notice.key.clone()));
            }
        }
        if let Some(secret) = &event.secret {
            env.push((vars::JUJU_SECRET_ID, secret.clone()));
            let label = state
                .secrets
                .iter()
                .find(|known| known.id == *secret)
                .and_then(|known| known.label.clone());
            env.push((vars::JUJU_SECRET_LABEL, label.unwrap_or_default()));
            if let Some(revision) = event.secret_revision {
                env.push((vars::JUJU_SECRET_REVISION, revision.to_string()));
            }
        }
        env.into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect()
    }

    /// Runs `dispatch` with exactly `env`; returns exit code, stdout, stderr.
    fn run_dispatch(
        &self,
        env: &[(String, String)],
        pod: Option<&Pod>,
    ) -> Result<(i32, String, String), Error> {
        let dispatch = self.charm.dispatch();
        let mut command = match pod {
            Some(pod) => pod.command(&dispatch),
            None => Command::new(&dispatch),
        };
        let mut child = command
            .current_dir(&self.charm.dir)
            .env_clear()
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io(format!("cannot run {}", dispatch.display())))?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(io("cannot wait for the charm"))? {
                break Some(status);
            }
            if started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = stdout.join().unwrap_or_default();
        let mut stderr = stderr.join().unwrap_or_default();
        let code = match status {
            Some(status) => status.code().unwrap_or(-1),
            None => {
                stderr.push_str(&format!(
                    "\n[harness] killed after {:?} (timeout)\n",
                    self.timeout
                ));
                -1
            }
        };
        Ok((code, stdout, stderr))
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// After a successful relation-broken the relation is gone, as in Juju.
fn forget_broken_relation(state: &mut State, event: &Event) {
    if let (Some((_, "broken")), Some(id)) = (event.relation_kind(), event.relation) {
        state.relations.retain(|relation| relation.id != id);
    }
}

/// The hook-tool binary: `$HARNESS_HOOK_TOOL`, else next to the running executable (or one
/// directory up, where cargo puts binaries relative to test executables in `deps/`).
fn find_hook_tool() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(HOOK_TOOL_ENV) {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .map(|dir| dir.join(HOOK_TOOL_BIN))
        .find(|path| path.is_file())
}
