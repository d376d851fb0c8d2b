//! A fake Pebble: Pebble's HTTP API on a container's unix socket (spec/juju-runtime.md §3,
//! §5.3), for running a compiled charm against.
//!
//! Start one per container with [`FakePebble::start`] from a [`ContainerState`]; point the
//! charm at it with [`juju::pebble::client::CONTAINERS_DIR_ENV`] (sockets live at
//! `<dir>/<container>/pebble.socket`); read the result back with [`FakePebble::state`] or
//! [`FakePebble::stop`], and the requests with [`FakePebble::calls`].
//!
//! It answers with Pebble's envelopes, layer combine/override semantics and error texts
//! (from [`juju::pebble::layer`]). Two modes:
//!
//! - [`Mode::Emulated`], like Scenario: starting a service marks it active, no process runs,
//!   checks are `up` unless the state says otherwise. Changes are done before the answer.
//! - [`Mode::Live`]: services run as child processes (see [`LiveOptions`]), `replan` restarts
//!   the ones whose definition changed, exited services go to backoff and restart, and
//!   checks run on their period. Changes complete in the background, as in Pebble.
//!
//! Both keep files in a per-container root directory. `exec` answers from canned results
//! (longest command prefix, else exit 127) in both modes, as Pebble does: an exec change whose
//! task data holds `exit-code`, and the output on the task's websockets (`stdio`, `stderr`;
//! `control` is accepted and drained). Commands never run, even in live mode.
//!
//! Not emulated: service ordering (`after`, `before`, `requires`), `user`/`group`, log
//! targets, identities, `/v1/logs`, and exec stdin (read and dropped).
//!
//! The server owns a small tokio runtime on background threads, so callers stay synchronous.
//! Dropping a [`FakePebble`] (or [`FakePebble::stop`]) kills every service it started.

mod daemon;
mod files;
mod server;
mod state;
mod util;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use daemon::Call;
use daemon::live;
pub use daemon::live::LiveOptions;
pub use files::{FileError, LoadError};
pub use state::{ContainerState, Exec, File, FileSpec, ServiceStatus};

use daemon::{Daemon, Shared};
use tokio::sync::{Mutex, watch};

/// How services run.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Mode {
    /// Scenario-like: statuses only, no processes.
    #[default]
    Emulated,
    /// Services run as host processes, mapped by the options.
    Live(LiveOptions),
}

/// Why a fake Pebble could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The runtime or a temp dir could not be created.
    #[error("cannot set up the fake Pebble: {0}")]
    Setup(#[source] std::io::Error),
    /// The socket could not be bound.
    #[error("cannot listen on {path}: {source}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state's files could not be laid out.
    #[error(transparent)]
    Files(#[from] LoadError),
}

/// A running fake Pebble for one container.
pub struct FakePebble {
    socket: PathBuf,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: watch::Sender<bool>,
    can_connect: bool,
    root: tempfile::TempDir,
    _logs: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for FakePebble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePebble")
            .field("socket", &self.socket)
            .field("root", &self.root.path())
            .field("live", &self.shared.live.is_some())
            .finish_non_exhaustive()
    }
}

impl FakePebble {
    /// Starts a fake Pebble on `socket` (its directory is created; a stale socket file is
    /// replaced) with `state`'s layers, statuses, files, checks, notices and execs. With
    /// `can_connect: false` nothing listens and no socket file exists. In live mode the
    /// services the state marks active are started, and enabled checks run.
    pub fn start(
        socket: impl Into<PathBuf>,
        state: ContainerState,
        mode: Mode,
    ) -> Result<FakePebble, StartError> {
        let socket = socket.into();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-pebble")
            .enable_all()
            .build()
            .map_err(StartError::Setup)?;
        let root = tempfile::Builder::new()
            .prefix("fake-pebble-root-")
            .tempdir()
            .map_err(StartError::Setup)?;
        files::load(root.path(), &state.files)?;
        let live = match mode {
            Mode::Emulated => None,
            Mode::Live(options) => Some(options),
        };
        let (logs, log_dir) = match live.as_ref().and_then(|o| o.log_dir.clone()) {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(StartError::Setup)?;
                (None, dir)
            }
            None => {
                let logs = tempfile::Builder::new()
                    .prefix("fake-pebble-logs-")
                    .tempdir()
                    .map_err(StartError::Setup)?;
                let dir = logs.path().to_path_buf();
                (Some(logs), dir)
            }
        };
        let can_connect = state.can_connect;
        let active: Vec<String> = state
            .service_statuses
            .iter()
            .filter(|(_, s)| **s == ServiceStatus::Active)
            .map(|(name, _)| name.clone())
            .collect();
        let (updates, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            daemon: Mutex::new(Daemon::from_state(state)),
            updates,
            root: root.path().to_path_buf(),
            live,
            log_dir,
            boot_id: boot_id(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        if can_connect {
            if let Some(dir) = socket.parent() {
                std::fs::create_dir_all(dir).map_err(StartError::Setup)?;
            }
            if socket.exists() {
                let _ = std::fs::remove_file(&socket);
            }
            let listener = {
                let _guard = runtime.enter();
                tokio::net::UnixListener::bind(&socket).map_err(|source| StartError::Socket {
                    path: socket.clone(),
                    source,
                })?
            };
            runtime.spawn(server::serve(listener, Arc::clone(&shared), shutdown_rx));
        }
        let fake = FakePebble {
            socket,
            shared: Arc::clone(&shared),
            runtime: Some(runtime),
            shutdown,
            can_connect,
            root,
            _logs: logs,
        };
        fake.block_on(async {
            let mut daemon = shared.daemon.lock().await;
            daemon::sync_checks(&shared, &mut daemon, true);
        });
        if shared.live.is_some() {
            fake.block_on(async {
                for name in &active {
                    // The state claimed it runs; a service that cannot start shows as error.
                    let mut daemon = shared.daemon.lock().await;
                    let service = daemon.service(name);
                    service.current = ServiceStatus::Inactive;
                    service.definition = None;
                    drop(daemon);
                    let _ = live::start(&shared, name).await;
                }
            });
        }
        Ok(fake)
    }

    /// Starts the fake Pebble of container `name` where a charm run with
    /// `JUJU_CONTAINERS_DIR=<containers_dir>` looks for it:
    /// `<containers_dir>/<name>/pebble.socket`.
    pub fn start_container(
        containers_dir: &Path,
        name: &str,
        state: ContainerState,
        mode: Mode,
    ) -> Result<FakePebble, StartError> {
        let socket = containers_dir
            .join(name)
            .join(juju::pebble::client::SOCKET_NAME);
        FakePebble::start(socket, state, mode)
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The container root on the host: container path `/x` is `<root>/x`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A client for this fake.
    pub fn client(&self) -> juju::pebble::client::Client {
        juju::pebble::client::Client::new(&self.socket)
    }

    fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> Option<T> {
        self.runtime.as_ref().map(|r| r.block_on(future))
    }

    /// A snapshot of the container: layers, the status of every plan service, files read
    /// back from the root, checks, notices, execs.
    pub fn state(&self) -> ContainerState {
        let mut state = self
            .block_on(async { self.shared.daemon.lock().await.to_state() })
            .unwrap_or_default();
        state.can_connect = self.can_connect;
        state.files = files::snapshot(self.root.path());
        state
    }

    /// Every request so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.block_on(async { self.shared.daemon.lock().await.calls.clone() })
            .unwrap_or_default()
    }

    /// Every request since the last take (to report one charm run of a long-lived fake).
    pub fn take_calls(&self) -> Vec<Call> {
        self.block_on(async { std::mem::take(&mut self.shared.daemon.lock().await.calls) })
            .unwrap_or_default()
    }

    /// The pid of live service `name`'s current process.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.block_on(async {
            let daemon = self.shared.daemon.lock().await;
            daemon
                .services
                .get(name)
                .and_then(|s| s.process.as_ref())
                .and_then(|p| p.pid)
        })
        .flatten()
    }

    /// Where live service `name` logs (stdout and stderr).
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.shared.log_dir.join(format!("{name}.log"))
    }

    /// Stops the server and every live service (SIGTERM, then SIGKILL after the kill delay),
    /// and returns the state as it was before stopping.
    pub fn stop(mut self) -> ContainerState {
        let state = self.state();
        self.shutdown_now(Duration::from_secs(2));
        state
    }

    fn shutdown_now(&mut self, grace: Duration) {
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            if self.shared.live.is_some() {
                runtime.block_on(live::stop_all(&self.shared));
            }
            runtime.shutdown_timeout(grace);
        }
        if self.can_connect {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

impl Drop for FakePebble {
    fn drop(&mut self) {
        if self.runtime.is_none() {
            return;
        }
        // Kill first, without waiting: a test that drops the fake must not leave processes.
        let pids: Vec<u32> = self
            .shared
            .daemon
            .try_lock()
            .map(|daemon| {
                daemon
                    .services
                    .values()
                    .filter_map(|s| s.process.as_ref().and_then(|p| p.pid))
                    .collect()
            })
            .unwrap_or_default();
        live::kill_groups_now(&pids);
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        if self.can_connect {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

/// A boot id that differs per fake.
fn boot_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = nanos ^ u128::from(std::process::id()) << 64;
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests;
