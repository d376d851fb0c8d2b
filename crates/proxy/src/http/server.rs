//! Listeners: accept connections and serve HTTP/1.1 with keep-alive, the configured timeouts
//! (module `timeouts`: a `408` for a head that stops arriving, idle and write limits) and
//! graceful shutdown.

mod timeouts;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use oathkeeper_core::config::Timeouts;
use tokio::net::TcpListener;

use crate::http::api::Api;
use crate::pipeline::ResponseBody;
use crate::reload::State;
use timeouts::{HeadDone, Limits, TimedStream};

/// How long connections get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `shutdown` resolves, with `serve.api.timeout`.
pub fn serve_api<S: Future<Output = ()>>(
    listener: TcpListener,
    api: Arc<Api>,
    timeouts: &Timeouts,
    shutdown: S,
) -> impl Future<Output = ()> + use<S> {
    serve(
        listener,
        Limits::new(timeouts.read, timeouts.write, timeouts.idle),
        shutdown,
        move |request: Request<Incoming>, peer: SocketAddr| {
            let api = Arc::clone(&api);
            async move { api.handle(request, Some(peer.ip())).await }
        },
    )
}

/// Serves the metrics on `listener` until `shutdown` resolves, with upstream's default
/// timeouts (read 5s, write and idle 120s).
pub async fn serve_metrics(
    listener: TcpListener,
    state: Arc<State>,
    path: String,
    shutdown: impl Future<Output = ()>,
) {
    let path: Arc<str> = path.into();
    let defaults = Timeouts::default();
    serve(
        listener,
        Limits::new(defaults.read, defaults.write, defaults.idle),
        shutdown,
        move |request: Request<Incoming>, _peer| {
            let state = Arc::clone(&state);
            let path = Arc::clone(&path);
            async move {
                if request.uri().path() != &*path {
                    let mut response = Response::new(ResponseBody::from(Bytes::from_static(
                        b"404 page not found\n",
                    )));
                    *response.status_mut() = StatusCode::NOT_FOUND;
                    return response;
                }
                let mut response =
                    Response::new(ResponseBody::from(Bytes::from(state.metrics.encode())));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                response
            }
        },
    )
    .await
}

async fn serve<F, Fut>(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    handler: F,
) where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let head_done = HeadDone::default();
        let stream = TimedStream::new(stream, limits, head_done.clone());
        let service = service_fn(move |request| {
            // hyper calls the service as soon as the head is parsed.
            head_done.mark();
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler(request, peer).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The stream enforces the read timeout (hyper's would also end idle connections, and
        // without a 408).
        builder.header_read_timeout(None).keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {:?}; closing them", DRAIN);
    }
}

#[cfg(test)]
mod tests;
