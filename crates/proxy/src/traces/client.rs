//! The HTTP client the OTLP exporter sends its batches with: our own
//! [`opentelemetry_http::HttpClient`] on hyper (HTTP/1.1, `http` or `https` with the system
//! roots), with a connect timeout, a total timeout and a cap on the answer read.
//!
//! The SDK's batch processor runs exports on its own thread with a plain executor, which
//! cannot drive hyper's I/O: each send is spawned on the tokio runtime captured when the
//! client was built, and the exporter thread awaits its result (a `JoinHandle` wakes any
//! executor). A runtime that has shut down fails the send; it never blocks a decision, which
//! never waits on an export.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError};
use tokio::runtime::Handle;

/// How long connecting to the collector may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one export request may take, answer included.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest collector answer read (an `ExportTraceServiceResponse` is a few bytes).
const MAX_ANSWER: usize = 64 * 1024;
/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The collector client.
#[derive(Clone)]
pub struct CollectorClient {
    client: Client<Connector, Full<Bytes>>,
    runtime: Handle,
    total: Duration,
}

impl std::fmt::Debug for CollectorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorClient")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl CollectorClient {
    /// A client whose sends run on `runtime`, each bounded by `total`.
    pub fn new(runtime: Handle, total: Duration) -> CollectorClient {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b.https_or_http().enable_http1().wrap_connector(http),
            Err(e) => {
                // No system roots: an https collector fails (counted); http still works.
                tracing::warn!(error = %e, "no system TLS roots; an https collector cannot be verified");
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http)
            }
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https);
        CollectorClient {
            client,
            runtime,
            total,
        }
    }

    /// Sends `request` on the runtime and reads the answer, within the total timeout.
    async fn exchange(
        client: Client<Connector, Full<Bytes>>,
        request: Request<Bytes>,
        total: Duration,
    ) -> Result<Response<Bytes>, HttpError> {
        let send = async {
            let response = client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER).collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        match tokio::time::timeout(total, send).await {
            Ok(result) => result,
            Err(_) => Err(format!("the collector did not answer within {total:?}").into()),
        }
    }
}

impl HttpClient for CollectorClient {
    // `async_trait`'s expansion, written out (the trait is declared with it).
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let task = self.runtime.spawn(CollectorClient::exchange(
            self.client.clone(),
            request,
            self.total,
        ));
        Box::pin(async move {
            match task.await {
                Ok(result) => result,
                Err(e) => Err(Box::new(e) as HttpError),
            }
        })
    }
}
