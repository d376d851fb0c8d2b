//! The charm directory (the repository's metadata with the built binary as `dispatch`), State
//! builders, and a stand-in for an HTTP API.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use harness::pebble::{ContainerState, Exec};
use harness::{Context, Event, Outcome, Relation, State};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The workspace root, where metadata.yaml, config.yaml and actions.yaml live.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A charm directory: the repository's metadata and the built binary as `dispatch`.
pub fn charm_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["metadata.yaml", "config.yaml", "actions.yaml"] {
        std::fs::copy(Path::new(ROOT).join(file), dir.path().join(file)).unwrap();
    }
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_oathkeeper-charm"),
        dir.path().join("dispatch"),
    )
    .unwrap();
    dir
}

/// A harness context for the charm in `dir`.
pub fn context(dir: &Path) -> Context {
    Context::new(dir).unwrap()
}

/// What our server prints for `oathkeeper version` (`crates/proxy/src/cli.rs`).
pub const OUR_VERSION_OUTPUT: &str = "Version:    0.1.0\n";
/// What Ory's Go server 0.40.6 prints for `oathkeeper version` (`cmd/version.go`).
pub const ORY_VERSION_OUTPUT: &str = "Version:    v0.40.6\nGit Hash:   2f4d3e43bbbd7ab5b42b4c1e9c2a5a8b1f2e3d4c\nBuild Time: 2024-05-14T09:27:43Z\n";

/// A container whose image holds our server, answering `oathkeeper version`.
pub fn our_image() -> ContainerState {
    ContainerState::default().with_exec(Exec::answering(
        &["oathkeeper", "version"],
        OUR_VERSION_OUTPUT,
    ))
}

/// Gives `state`'s `oathkeeper` container the identity `version_output` (a recorded State,
/// e.g. the Python charm's, has none).
pub fn with_image(mut state: State, version_output: &str) -> State {
    let container = state.containers.get_mut("oathkeeper").unwrap();
    container
        .execs
        .retain(|exec| exec.command_prefix != ["oathkeeper", "version"]);
    container
        .execs
        .push(Exec::answering(&["oathkeeper", "version"], version_output));
    state
}

/// A deployed unit: model `iam`, the `oathkeeper` container up with our image, the peer
/// relation, trusted.
pub fn deployed(leader: bool) -> State {
    let mut state = State::default()
        .leader(leader)
        .container("oathkeeper", our_image())
        .relation(Relation {
            remote_units: Default::default(),
            ..Relation::new("oathkeeper", 1, "oathkeeper")
        });
    state.model.name = "iam".to_owned();
    // Deployed with --trust (the harness, like Juju, defaults to untrusted).
    state.kubernetes.trusted = true;
    state
}

/// The data of ConfigMap `name` in `state`, which must exist.
pub fn config_map(state: &State, name: &str) -> BTreeMap<String, String> {
    state
        .kubernetes
        .config_map_data(name)
        .unwrap_or_else(|| panic!("ConfigMap {name} missing"))
}

/// Runs `event` and insists the hook succeeded.
pub fn run_ok(dir: &Path, state: &State, event: &Event) -> Outcome {
    let outcome = context(dir).run(state, event).unwrap();
    assert!(
        outcome.succeeded(),
        "hook {} failed ({}): {}\n{:#?}",
        event.name,
        outcome.exit_code,
        outcome.stderr,
        outcome
            .effects
            .tool_calls
            .iter()
            .filter(|c| c.code != 0)
            .collect::<Vec<_>>()
    );
    outcome
}

/// How long [`HttpStub`] serves one connection, and waits for its tasks when dropped.
const STUB_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP API on `127.0.0.1` (port 0) answering every request with `respond(target)`: a
/// status and a JSON body for the request's path and query. Served by its own runtime thread,
/// so the test may block on the charm meanwhile; stopped when dropped.
pub struct HttpStub {
    port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl HttpStub {
    /// Binds and starts serving.
    pub fn start(respond: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) -> HttpStub {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let respond = Arc::new(respond);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let respond = Arc::clone(&respond);
                let service = service_fn(move |request: Request<Incoming>| {
                    let target = request
                        .uri()
                        .path_and_query()
                        .map_or("/", |target| target.as_str());
                    let (status, body) = respond(target);
                    let response = Response::builder()
                        .status(status)
                        .header(CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from(body)));
                    std::future::ready(response)
                });
                tokio::spawn(async move {
                    let connection =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    let _ = tokio::time::timeout(STUB_TIMEOUT, connection).await;
                });
            }
        });
        HttpStub {
            port,
            runtime: Some(runtime),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(STUB_TIMEOUT);
        }
    }
}

/// How many `relation-set` calls a hook made.
pub fn relation_sets(out: &Outcome) -> usize {
    out.effects
        .tool_calls
        .iter()
        .filter(|c| c.tool == "relation-set")
        .count()
}

/// After `joined`: `relation-changed` on `endpoint:id` writes no relation data, and
/// `relation-broken` leaves no trace of the relation, writes nothing and keeps the status.
pub fn assert_changed_then_broken_write_nothing(
    dir: &Path,
    joined: &State,
    endpoint: &str,
    id: u64,
) {
    let changed = run_ok(dir, joined, &Event::relation(endpoint, "changed", id));
    assert_eq!(relation_sets(&changed), 0, "{endpoint} changed");
    let broken = run_ok(
        dir,
        &changed.state,
        &Event::relation(endpoint, "broken", id),
    );
    assert!(broken.state.find_relation(id).is_none());
    assert_eq!(relation_sets(&broken), 0, "{endpoint} broken");
    assert_eq!(broken.state.unit_status, changed.state.unit_status);
}
