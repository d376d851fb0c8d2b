//! The I/O handles one hook uses: hook tools, the workload container's Pebble, the Kubernetes
//! API and the workload's own HTTP API. Built once per hook from the Juju environment; every
//! handle is a value, so tests run the shell against the harness's emulators.

use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use juju::env::{JujuEnv, ProcessEnv, Source};
use juju::k8s::Kubernetes;
use juju::pebble;
use juju::tool::{HookTools, ProcessRunner};

use crate::action::{ApiResponse, LOCAL_API};
use crate::workload::{CONTAINER, SERVICE};

/// Overrides the workload API the charm queries (default [`LOCAL_API`], which the charm and
/// workload containers share in the pod). For tests and debugging.
pub const API_URL_ENV: &str = "OATHKEEPER_CHARM_API_URL";
/// How long one request to the workload API may take.
const API_TIMEOUT: Duration = Duration::from_secs(3);

/// Everything the shell talks to.
pub struct Io {
    /// The hook context.
    pub env: JujuEnv,
    /// The hook tools.
    pub tools: HookTools<ProcessRunner>,
    /// The `oathkeeper` container's Pebble.
    pub pebble: pebble::client::Client,
    /// The runtime the async clients (Kubernetes, HTTP) run on.
    pub runtime: tokio::runtime::Runtime,
    api_url: String,
    http: HttpClient<HttpConnector, Empty<Bytes>>,
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("unit", &self.env.unit)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl Io {
    /// The handles for the running process.
    pub fn from_process(env: JujuEnv) -> std::io::Result<Io> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let api_url = ProcessEnv
            .get(API_URL_ENV)
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| LOCAL_API.to_owned());
        let http = HttpClient::builder(TokioExecutor::new()).build_http();
        Ok(Io {
            env,
            tools: HookTools::from_path(),
            pebble: pebble::client::Client::for_container_in_env(CONTAINER),
            runtime,
            api_url,
            http,
        })
    }

    /// The Kubernetes API for the model's namespace, the app as field manager.
    pub fn kubernetes(&self) -> Result<Kubernetes, juju::k8s::Error> {
        self.runtime.block_on(Kubernetes::connect(
            &ProcessEnv,
            &self.env.model_name,
            &self.env.app,
        ))
    }

    /// Whether Pebble reports the workload service active (not when Pebble does not answer).
    pub fn service_running(&self) -> bool {
        self.pebble
            .services(&[SERVICE])
            .ok()
            .and_then(|services| services.into_iter().find(|s| s.name == SERVICE))
            .is_some_and(|service| service.is_running())
    }

    /// `GET <workload API><path>`: the body on 200, the status and body otherwise, or why the
    /// request failed.
    pub fn api_get(&self, path: &str) -> ApiResponse {
        let url = format!("{}{path}", self.api_url.trim_end_matches('/'));
        let uri: hyper::Uri = match url.parse() {
            Ok(uri) => uri,
            Err(e) => return ApiResponse::Transport(format!("invalid URL {url}: {e}")),
        };
        let request = self.http.get(uri);
        self.runtime.block_on(async {
            let response = match tokio::time::timeout(API_TIMEOUT, request).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => return ApiResponse::Transport(format!("GET {url}: {e}")),
                Err(_) => {
                    return ApiResponse::Transport(format!(
                        "GET {url}: timed out after {API_TIMEOUT:?}"
                    ));
                }
            };
            let status = response.status().as_u16();
            let body = match tokio::time::timeout(API_TIMEOUT, response.into_body().collect()).await
            {
                Ok(Ok(body)) => body.to_bytes().to_vec(),
                Ok(Err(e)) => return ApiResponse::Transport(format!("GET {url}: {e}")),
                Err(_) => return ApiResponse::Transport(format!("GET {url}: body timed out")),
            };
            if status == 200 {
                ApiResponse::Ok(body)
            } else {
                ApiResponse::Status {
                    code: status,
                    body: String::from_utf8_lossy(&body).into_owned(),
                }
            }
        })
    }
}
