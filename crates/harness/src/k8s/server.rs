//! [`FakeApiServer`]: the HTTP side, over its own tokio runtime.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::discovery;
use super::mount::{ConfigMapMount, MountError};
use super::protobuf;
use super::resource::Resource;
use super::state::KubernetesState;
use super::status::Failure;
use super::store::{Event, LoadError, PatchKind, RequestRecord, Selector, SharedStore, Store};

type Body = BoxBody<Bytes, Infallible>;

/// How long a watch without `timeoutSeconds` stays open (the real server picks 30 to 60 min).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often a watch that allows bookmarks gets one (the real server: about a minute).
const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);
/// How long [`FakeApiServer::resume`] retries binding the old port.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);
/// The annotation on the bookmark that ends a watch's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// Why the fake API server could not start or resume.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The state holds an object the server cannot serve.
    #[error("invalid kubernetes state: {0}")]
    State(#[from] LoadError),
    /// The runtime or the listener could not be set up.
    #[error("cannot start the fake kubernetes API server: {0}")]
    Io(#[from] std::io::Error),
    /// A kubeconfig could not be written.
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server's runtime is gone (a bug: the handle owns it).
    #[error("the fake kubernetes API server's runtime stopped")]
    Stopped,
}

/// What the HTTP handlers share.
pub(crate) struct Shared {
    store: SharedStore,
    addr: SocketAddr,
    bookmark_interval_ms: AtomicU64,
    /// Bumped by pause and stop: every connection of an older generation closes.
    generation: watch::Sender<u64>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    shared: Arc<Shared>,
    tls_addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Never blocks, so dropping the last handle inside an async test is fine.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A fake Kubernetes API server on `127.0.0.1`, holding a [`KubernetesState`].
///
/// Serves core/v1 ConfigMaps (every verb, watch) and Services, apps/v1 StatefulSets, the
/// discovery documents kubectl reads, with the real server's status bodies, resourceVersion
/// and field ownership semantics. Untrusted ([`KubernetesState::trusted`] false) it answers
/// RBAC's 403 as Juju's default Role would.
///
/// A cheap clone handle: share it between charm runs and units. Its methods are synchronous
/// and safe to call from inside any async runtime (the server runs on its own).
#[derive(Clone)]
pub struct FakeApiServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("addr", &self.inner.shared.addr)
            .finish_non_exhaustive()
    }
}

impl FakeApiServer {
    /// Start serving `state` on a free loopback port.
    pub fn start(state: KubernetesState) -> Result<Self, ServerError> {
        let store = Store::load(state)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-kube-apiserver")
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (generation, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            store: Arc::new(Mutex::new(store)),
            addr,
            bookmark_interval_ms: AtomicU64::new(millis(DEFAULT_BOOKMARK_INTERVAL)),
            generation,
            acceptor: Mutex::new(None),
        });
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let acceptor = runtime.spawn(accept_loop(shared.clone(), listener));
        shared
            .acceptor
            .try_lock()
            .map_err(|_| ServerError::Stopped)?
            .replace(acceptor);
        let tls_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        tls_listener.set_nonblocking(true)?;
        let tls_addr = tls_listener.local_addr()?;
        let tls_listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(tls_listener)?
        };
        runtime.spawn(super::tls::front(
            tls_listener,
            super::tls::acceptor()?,
            addr,
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                tls_addr,
                runtime: Some(runtime),
            }),
        })
    }

    /// Run `future` on the server's runtime and wait for its result, from any context.
    fn run<F, R>(&self, future: F) -> Result<R, ServerError>
    where
        F: Future<Output = R> + Send + 'static,
        R: Send + 'static,
    {
        let runtime = self.inner.runtime.as_ref().ok_or(ServerError::Stopped)?;
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            // The caller waits on `rx`; if it went away there is nobody to tell.
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| ServerError::Stopped)
    }

    fn with_store<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<R, ServerError> {
        let shared = self.inner.shared.clone();
        self.run(async move { f(&mut *shared.store.lock().await) })
    }

    /// The base URL, `http://127.0.0.1:<port>`. It stays the same across pause and resume.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.shared.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.shared.addr
    }

    /// The HTTPS address, where in-cluster clients connect (`KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT`): TLS with a certificate of the cluster CA
    /// ([`super::CLUSTER_CA_PEM`]), then the same API as [`FakeApiServer::url`].
    pub fn https_addr(&self) -> SocketAddr {
        self.inner.tls_addr
    }

    /// Writes what Kubernetes mounts into a pod at
    /// `/var/run/secrets/kubernetes.io/serviceaccount`: `namespace`, `token` (a dummy bearer
    /// token: the server checks none) and `ca.crt` (the cluster CA), into `dir`.
    pub fn write_service_account(&self, dir: &Path, namespace: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("namespace"), namespace)?;
        std::fs::write(dir.join("token"), "fake-token")?;
        std::fs::write(dir.join("ca.crt"), super::CLUSTER_CA_PEM)
    }

    /// Write a kubeconfig whose current context points at this server with `namespace` as
    /// default namespace and a dummy bearer token (the server checks none). kubectl and
    /// `kube` both accept it.
    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) -> Result<(), ServerError> {
        let text = kubeconfig(&self.url(), namespace);
        std::fs::write(path, text).map_err(|source| ServerError::Kubeconfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// A snapshot of the state now.
    pub fn state(&self) -> KubernetesState {
        self.with_store(|s| s.snapshot()).unwrap_or_default()
    }

    /// Trust or untrust the application (`juju trust`).
    pub fn set_trusted(&self, trusted: bool) {
        // Only fails if the runtime is gone, and then there is no server to configure.
        let _ = self.with_store(move |s| s.trusted = trusted);
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.with_store(|s| s.log.clone()).unwrap_or_default()
    }

    /// Every request answered since the last call (or start), in order; clears the log.
    pub fn take_requests(&self) -> Vec<RequestRecord> {
        self.with_store(|s| std::mem::take(&mut s.log))
            .unwrap_or_default()
    }

    /// Forget the event history: a watch from any earlier resourceVersion gets 410 Expired.
    pub fn compact(&self) {
        let _ = self.with_store(|s| s.compact());
    }

    /// How often watches that allow bookmarks get one (default one minute).
    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.inner
            .shared
            .bookmark_interval_ms
            .store(millis(interval), Ordering::Relaxed);
    }

    /// Go away: stop listening (connections are refused) and drop every open connection,
    /// watches included. The state is kept.
    pub fn pause(&self) {
        let shared = self.inner.shared.clone();
        let _ = self.run(async move {
            shared.generation.send_modify(|g| *g += 1);
            if let Some(acceptor) = shared.acceptor.lock().await.take() {
                // The acceptor ends on the generation change and drops the listener.
                let _ = acceptor.await;
            }
        });
    }

    /// Come back on the same port after [`pause`](Self::pause). A no-op when serving.
    pub fn resume(&self) -> Result<(), ServerError> {
        let shared = self.inner.shared.clone();
        self.run(async move {
            let mut acceptor = shared.acceptor.lock().await;
            if acceptor.is_some() {
                return Ok(());
            }
            let deadline = tokio::time::Instant::now() + REBIND_TIMEOUT;
            let listener = loop {
                match TcpListener::bind(shared.addr).await {
                    Ok(listener) => break listener,
                    // The old socket may linger briefly; retry until the deadline.
                    Err(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => return Err(ServerError::Io(e)),
                }
            };
            *acceptor = Some(tokio::spawn(accept_loop(shared.clone(), listener)));
            Ok(())
        })?
    }

    /// Stop serving and return the final state.
    pub fn stop(self) -> KubernetesState {
        let state = self.state();
        self.pause();
        state
    }

    /// Mount ConfigMap `name` of the server's namespace into `dir` as kubelet does, and keep
    /// it in sync with the server until the returned handle is dropped or stopped.
    pub fn mount_config_map(&self, name: &str, dir: &Path) -> Result<ConfigMapMount, MountError> {
        let runtime = self.inner.runtime.as_ref().ok_or(MountError::Stopped)?;
        ConfigMapMount::start(
            self.inner.shared.store.clone(),
            runtime.handle(),
            name,
            dir,
            Vec::new(),
        )
    }

    /// [`FakeApiServer::mount_config_map`], with text replaced in every file as it is written:
    /// for a workload run outside its container, whose files name container paths (a config
    /// listing `/etc/config/access-rules/...` when that mount is a temp dir on the host).
    pub fn mount_config_map_rewritten(
        &self,
        name: &str,
        dir: &Path,
        rewrites: &[(&str, &str)],
    ) -> Result<ConfigMapMount, MountError> {
        let runtime = self.inner.runtime.as_ref().ok_or(MountError::Stopped)?;
        let rewrites = rewrites
            .iter()
            .map(|(from, to)| ((*from).to_owned(), (*to).to_owned()))
            .collect();
        ConfigMapMount::start(
            self.inner.shared.store.clone(),
            runtime.handle(),
            name,
            dir,
            rewrites,
        )
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The kubeconfig text for `url`. It names the cluster CA ([`super::CLUSTER_CA_PEM`]), as an
/// in-cluster config does. Its server is the plain-HTTP port, so no TLS uses it there; but
/// with a CA given, clients trust only that CA instead of loading the system's roots
/// (hundreds of files, most of a charm hook's time in tests), as they do in a real pod.
pub(crate) fn kubeconfig(url: &str, namespace: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(super::CLUSTER_CA_PEM);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    namespace: {namespace}\n    user: fake\ncurrent-context: fake\npreferences: {{}}\nusers:\n- name: fake\n  user:\n    token: fake-token\n"
    )
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut generation = shared.generation.subscribe();
    generation.borrow_and_update();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                let mut closed = shared.generation.subscribe();
                closed.borrow_and_update();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(shared, request).await) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        // Paused or stopped: drop the connection mid-flight, as a dying server would.
                        _ = closed.changed() => {}
                    }
                });
            }
            _ = generation.changed() => break,
        }
    }
}

/// A parsed request target.
#[derive(Debug)]
enum Route {
    Document(Value),
    Namespace(String),
    Resource {
        resource: &'static Resource,
        namespace: Option<String>,
        name: Option<String>,
    },
    Unknown,
}

fn route(path: &str, server_address: &str) -> Route {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let resource = |group: &str, namespace: Option<&str>, plural: &str, name: Option<&str>| {
        match Resource::from_path(group, plural) {
            Some(resource) => Route::Resource {
                resource,
                namespace: namespace.map(str::to_owned),
                name: name.map(str::to_owned),
            },
            None => Route::Unknown,
        }
    };
    match segments.as_slice() {
        ["version"] => Route::Document(discovery::version()),
        ["api"] => Route::Document(discovery::core_versions(server_address)),
        ["api", "v1"] => Route::Document(discovery::resources("")),
        ["apis"] => Route::Document(discovery::groups()),
        ["apis", "apps"] => Route::Document(discovery::apps()),
        ["apis", "apps", "v1"] => Route::Document(discovery::resources("apps")),
        ["openapi", "v3"] => Route::Document(discovery::openapi_index()),
        ["openapi", "v3", "api", "v1"] => Route::Document(discovery::openapi_group_version("")),
        ["openapi", "v3", "apis", "apps", "v1"] => {
            Route::Document(discovery::openapi_group_version("apps"))
        }
        ["api", "v1", "namespaces", ns] => Route::Namespace((*ns).to_owned()),
        ["api", "v1", "namespaces", ns, plural] => resource("", Some(ns), plural, None),
        ["api", "v1", "namespaces", ns, plural, name] => resource("", Some(ns), plural, Some(name)),
        ["api", "v1", plural] => resource("", None, plural, None),
        ["apis", "apps", "v1", "namespaces", ns, plural] => {
            resource("apps", Some(ns), plural, None)
        }
        ["apis", "apps", "v1", "namespaces", ns, plural, name] => {
            resource("apps", Some(ns), plural, Some(name))
        }
        ["apis", "apps", "v1", plural] => resource("apps", None, plural, None),
        _ => Route::Unknown,
    }
}

/// Query parameters, percent-decoded.
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Self {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        Self(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | ""))
    }
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn failure_response(failure: &Failure) -> Response<Body> {
    json_response(failure.code, &failure.body())
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let response = dispatch(&shared, request).await;
    shared.store.lock().await.log.push(RequestRecord {
        method: method.to_string(),
        path,
        query,
        status: response.status().as_u16(),
    });
    response
}

async fn dispatch(shared: &Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let server_address = shared.addr.to_string();
    let (resource, namespace, name) = match route(request.uri().path(), &server_address) {
        Route::Document(document) => return json_response(200, &document),
        Route::Unknown => return failure_response(&Failure::no_route()),
        Route::Namespace(name) => return namespace(shared, request.method(), &name).await,
        Route::Resource {
            resource,
            namespace,
            name,
        } => (resource, namespace, name),
    };
    let query = Query::parse(request.uri().query().unwrap_or_default());
    let method = request.method().clone();
    let verb = match (&method, &name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if query.flag("watch") => "watch",
        (&Method::GET, None) => "list",
        (&Method::POST, None) => "create",
        (&Method::PUT, Some(_)) => "update",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        _ => return failure_response(&Failure::method_not_allowed(method.as_str())),
    };
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let user_agent = request
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return failure_response(&Failure::bad_request(format!(
                "cannot read the request body: {e}"
            )));
        }
    };
    {
        let store = shared.store.lock().await;
        if !resource.allowed(verb, store.trusted) {
            let namespace = namespace.as_deref().unwrap_or(&store.namespace);
            return failure_response(&Failure::forbidden(
                resource,
                name.as_deref(),
                verb,
                namespace,
                &store.service_account,
            ));
        }
    }
    if verb == "watch" {
        return watch(shared, resource, namespace, &query).await;
    }
    // The manager of a write: `fieldManager`, else the user agent's program name, as the
    // API server defaults it.
    let explicit_manager = query.get("fieldManager").map(str::to_owned);
    let manager = explicit_manager
        .clone()
        .unwrap_or_else(|| user_agent.split('/').next().unwrap_or_default().to_owned());
    let dry_run = query.get("dryRun").is_some_and(|v| v == "All");
    if matches!(verb, "create" | "update") && !decodable(&content_type) {
        return failure_response(&Failure::unsupported_body(&content_type));
    }
    let yaml_body = content_type.starts_with("application/yaml");
    let body =
        if content_type.starts_with(protobuf::MEDIA_TYPE) && matches!(verb, "create" | "update") {
            match protobuf::decode_config_map(&body) {
                Ok(object) => Bytes::from(serde_json::to_vec(&object).unwrap_or_default()),
                Err(message) => {
                    return failure_response(&Failure::bad_request(format!(
                        "cannot decode the protobuf body: {message}"
                    )));
                }
            }
        } else {
            body
        };
    let mut store = shared.store.lock().await;
    store.dry_run = dry_run;
    let result = match (verb, namespace, name) {
        ("list", namespace, None) => {
            match Selector::parse(query.get("fieldSelector"), query.get("labelSelector")) {
                Ok(selector) => Ok((200, store.list(resource, namespace.as_deref(), &selector))),
                Err(failure) => Err(failure),
            }
        }
        ("get", Some(namespace), Some(name)) => {
            store.get(resource, &namespace, &name).map(|o| (200, o))
        }
        ("create", Some(namespace), None) => match parse_body(&body, yaml_body) {
            Ok(body) => store
                .create(resource, &namespace, body, &manager)
                .map(|o| (201, o)),
            Err(failure) => Err(failure),
        },
        ("update", Some(namespace), Some(name)) => match parse_body(&body, yaml_body) {
            Ok(body) => store
                .replace(resource, &namespace, &name, body, &manager)
                .map(|o| (200, o)),
            Err(failure) => Err(failure),
        },
        ("patch", Some(namespace), Some(name)) => match PatchKind::from_content_type(&content_type)
        {
            None => Err(Failure::unsupported_media_type(&content_type)),
            Some(PatchKind::Apply) if explicit_manager.is_none() => Err(Failure::bad_request(
                "PATCH requests with application/apply-patch+yaml require a fieldManager".into(),
            )),
            Some(kind) => match parse_body(&body, kind == PatchKind::Apply) {
                Ok(patch) => store.patch(
                    resource,
                    &namespace,
                    &name,
                    kind,
                    &patch,
                    &manager,
                    query.flag("force"),
                ),
                Err(failure) => Err(failure),
            },
        },
        ("delete", Some(namespace), Some(name)) => {
            store.delete(resource, &namespace, &name).map(|o| (200, o))
        }
        _ => Err(Failure::method_not_allowed(method.as_str())),
    };
    store.dry_run = false;
    drop(store);
    match result {
        Ok((status, object)) => json_response(status, &object),
        Err(failure) => failure_response(&failure),
    }
}

/// `GET /api/v1/namespaces/<ns>`: the model's namespace exists, and any namespace holding
/// objects. kubectl asks after a 404 to tell a missing object from a missing namespace.
async fn namespace(shared: &Arc<Shared>, method: &Method, name: &str) -> Response<Body> {
    if method != Method::GET {
        return failure_response(&Failure::method_not_allowed(method.as_str()));
    }
    let store = shared.store.lock().await;
    if !store.has_namespace(name) {
        return failure_response(&Failure::namespace_not_found(name));
    }
    json_response(
        200,
        &json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }),
    )
}

/// Whether a body Content-Type is one we decode: JSON, YAML, or protobuf (ConfigMaps only,
/// as kubectl's imperative `create configmap` sends them).
fn decodable(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    matches!(
        media,
        "" | "application/json" | "application/yaml" | "*/*" | protobuf::MEDIA_TYPE
    )
}

/// A request body: JSON, or YAML for server-side apply.
fn parse_body(body: &[u8], yaml: bool) -> Result<Value, Failure> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => Ok(value),
        Err(_) if yaml => serde_norway::from_slice::<Value>(body)
            .map_err(|e| Failure::bad_request(format!("error decoding YAML: {e}"))),
        Err(e) => Err(Failure::bad_request(format!(
            "the body of the request was in an unknown format: {e}"
        ))),
    }
}

/// A watch event line.
fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(resource: &Resource, resource_version: u64, initial_events_end: bool) -> Value {
    let mut metadata =
        json!({"resourceVersion": resource_version.to_string(), "creationTimestamp": null});
    if initial_events_end {
        metadata["annotations"] = json!({INITIAL_EVENTS_END: "true"});
    }
    json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata})
}

/// `GET ...?watch=1`: a chunked stream of event lines.
///
/// Without `resourceVersion` (or with `0`) the stream starts with a synthetic ADDED per
/// existing object; with one it replays the events after it, or sends a single 410 Expired
/// ERROR event if that version was compacted away. It ends after `timeoutSeconds`, with a
/// BOOKMARK first when `allowWatchBookmarks` is set.
async fn watch(
    shared: &Arc<Shared>,
    resource: &'static Resource,
    namespace: Option<String>,
    query: &Query,
) -> Response<Body> {
    let selector = match Selector::parse(query.get("fieldSelector"), query.get("labelSelector")) {
        Ok(selector) => selector,
        Err(failure) => return failure_response(&failure),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs);
    let bookmarks = query.flag("allowWatchBookmarks");
    let send_initial = query.flag("sendInitialEvents");
    let since = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0")
        .map(|v| v.parse::<u64>());
    let since = match since {
        Some(Err(_)) => {
            return failure_response(&Failure::bad_request(format!(
                "invalid resource version: {}",
                query.get("resourceVersion").unwrap_or_default()
            )));
        }
        Some(Ok(v)) => Some(v),
        None => None,
    };
    let (first, mut events, mut last) = {
        let store = shared.store.lock().await;
        let relevant = |e: &Event| {
            e.resource == resource.plural
                && namespace.as_deref().is_none_or(|ns| {
                    e.object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        == Some(ns)
                })
                && selector.matches(&e.object)
        };
        let first: Result<Vec<(String, Value)>, Failure> = match since {
            Some(since) if !send_initial => store.events_since(since).map(|events| {
                events
                    .into_iter()
                    .filter(relevant)
                    .map(|e| (e.kind.to_owned(), e.object))
                    .collect()
            }),
            _ => Ok(store
                .matching(resource, namespace.as_deref(), &selector)
                .into_iter()
                .map(|o| ("ADDED".to_owned(), o))
                .collect()),
        };
        (first, store.subscribe(), store.resource_version())
    };
    let (mut sender, channel) = Channel::<Bytes, Infallible>::new(16);
    let mut response = Response::new(channel.boxed());
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    let shared = shared.clone();
    tokio::spawn(async move {
        let first = match first {
            Ok(first) => first,
            Err(failure) => {
                let _ = sender.send_data(event_line("ERROR", &failure.body())).await;
                return;
            }
        };
        for (kind, object) in first {
            if sender.send_data(event_line(&kind, &object)).await.is_err() {
                return;
            }
        }
        if send_initial && bookmarks {
            let line = event_line("BOOKMARK", &bookmark(resource, last, true));
            if sender.send_data(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let interval =
                Duration::from_millis(shared.bookmark_interval_ms.load(Ordering::Relaxed));
            tokio::select! {
                received = events.recv() => match received {
                    Ok(event) => {
                        last = last.max(event.resource_version);
                        let matches = event.resource == resource.plural
                            && namespace.as_deref().is_none_or(|ns| event.object.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
                            && selector.matches(&event.object);
                        if matches && sender.send_data(event_line(event.kind, &event.object)).await.is_err() {
                            return;
                        }
                    }
                    // Lagged or closed: end the watch; the client lists again.
                    Err(_) => return,
                },
                _ = tokio::time::sleep(interval), if bookmarks => {
                    if sender.send_data(event_line("BOOKMARK", &bookmark(resource, last, false))).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if bookmarks {
                        let _ = sender.send_data(event_line("BOOKMARK", &bookmark(resource, last, false))).await;
                    }
                    return;
                }
            }
        }
    });
    response
}
