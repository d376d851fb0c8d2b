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
use hyper_rustls::{FixedServerNameResolver, HttpsConnectorBuilder};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};

/// Overrides the workload API the charm queries (default [`LOCAL_API`], which the charm and
/// workload containers share in the pod). For tests and debugging. Its host and port are where
/// the charm connects; when the workload serves https the scheme becomes `https` and the
/// certificate is verified for `<app>.<model>.svc.cluster.local` (SNI too), whatever the host.
pub const API_URL_ENV: &str = "OATHKEEPER_CHARM_API_URL";
/// How long one request to the workload API may take.
const API_TIMEOUT: Duration = Duration::from_secs(3);

/// How to reach the workload's API over https: trust exactly this CA, and verify (and send as
/// SNI) the certificate's name, whatever address the connection goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTls {
    /// The CA that issued the workload's certificate (PEM).
    pub ca: String,
    /// The name in the certificate, `<app>.<model>.svc.cluster.local`.
    pub server_name: String,
}

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

    /// The [`ApiTls`] for a workload serving a certificate issued by `ca`.
    pub fn api_tls(&self, ca: &str) -> ApiTls {
        ApiTls {
            ca: ca.to_owned(),
            server_name: crate::workload::service_host(&self.env.app, &self.env.model_name),
        }
    }

    /// `GET <workload API><path>`: the body on 200, the status and body otherwise, or why the
    /// request failed. With `tls`, the same address (the pod-local API, or the override) is
    /// asked over https, trusting only `tls.ca` and verifying `tls.server_name`.
    pub fn api_get(&self, path: &str, tls: Option<&ApiTls>) -> ApiResponse {
        let base = self.api_url.trim_end_matches('/');
        let url = match tls {
            Some(_) => format!(
                "https://{}{path}",
                base.split_once("://").map_or(base, |(_, rest)| rest)
            ),
            None => format!("{base}{path}"),
        };
        let uri: hyper::Uri = match url.parse() {
            Ok(uri) => uri,
            Err(e) => return ApiResponse::Transport(format!("invalid URL {url}: {e}")),
        };
        let request = match tls {
            None => self.http.get(uri),
            Some(tls) => match https_client(tls) {
                Ok(client) => client.get(uri),
                Err(e) => return ApiResponse::Transport(format!("GET {url}: {e}")),
            },
        };
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

/// A one-request https client trusting only `tls.ca` and verifying `tls.server_name`.
fn https_client(
    tls: &ApiTls,
) -> Result<HttpClient<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.ca.as_bytes()) {
        let cert = cert.map_err(|e| format!("invalid CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("invalid CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no CA certificate to trust".to_owned());
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(tls.server_name.clone())
        .map_err(|e| format!("invalid server name {}: {e}", tls.server_name))?;
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .with_server_name_resolver(FixedServerNameResolver::new(name))
        .enable_http1()
        .build();
    Ok(HttpClient::builder(TokioExecutor::new()).build(connector))
}
