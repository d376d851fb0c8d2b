//! Listeners: accept connections and serve HTTP/1.1 with keep-alive, the configured timeouts
//! (module `timeouts`: a `408` for a head that stops arriving, idle and write limits) and
//! graceful shutdown; the API over TLS when `serve.api.tls` is set ([`crate::tls`]).
//!
//! TLS is decided per connection: the accept loop loads the current config once (nothing is
//! read per request), and the handshake runs in the connection's own task, bounded by the read
//! timeout, so a slow or failing handshake never holds up another connection. A failed
//! handshake is logged at debug and counted (`tls_handshake_errors_total`); a plain HTTP
//! request sent to the TLS port is answered `400` in plain text and the connection closed.
//! Whether a connection is TLS is known there and handed to every request on it as
//! [`Peer::tls`] (the scheme of a decision request without `X-Forwarded-Proto`).

mod timeouts;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use oathkeeper_core::config::Timeouts;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::decision::Peer;
use crate::http::api::Api;
use crate::metrics::HandshakeFailure;
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
    let tls = Some(Arc::clone(&api.state));
    serve(
        listener,
        Limits::new(timeouts.read, timeouts.write, timeouts.idle),
        tls,
        shutdown,
        move |request: Request<Incoming>, peer: Peer| {
            let api = Arc::clone(&api);
            async move { api.handle(request, peer).await }
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
        None,
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
                    // The body is OpenMetrics text (`# EOF`, counter families without `_total`): said so, or
                    // Prometheus reads it as the 0.0.4 format and the counters lose their metadata.
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                response
            }
        },
    )
    .await
}

/// Accepts on `listener` until `shutdown`, then drains. With `tls` (the API), each connection
/// is served over TLS when `tls.tls` holds a config at the moment it is accepted.
async fn serve<F, Fut>(
    listener: TcpListener,
    limits: Limits,
    tls: Option<Arc<State>>,
    shutdown: impl Future<Output = ()>,
    handler: F,
) where
    F: Fn(Request<Incoming>, Peer) -> Fut + Clone + Send + Sync + 'static,
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
        // Taken now: a shutdown while the handshake runs then ends the connection right after.
        let watcher = graceful.watcher();
        // The one load of the TLS config for this connection, which keeps it to its end.
        let config = tls.as_ref().and_then(|state| state.tls.load_full());
        match (config, &tls) {
            (Some(config), Some(state)) => {
                let state = Arc::clone(state);
                tokio::spawn(async move {
                    match handshake(stream, config, limits.handshake()).await {
                        Ok(Some(stream)) => {
                            let peer = Peer {
                                ip: Some(peer.ip()),
                                tls: true,
                            };
                            connection(stream, peer, limits, handler, watcher).await;
                        }
                        // Closed before sending a byte: a port probe, not a failure.
                        Ok(None) => {}
                        Err((why, error)) => {
                            tracing::debug!(%peer, reason = ?why, %error, "TLS handshake failed");
                            state.metrics.tls_handshake_failed(why);
                        }
                    }
                });
            }
            _ => {
                let peer = Peer {
                    ip: Some(peer.ip()),
                    tls: false,
                };
                tokio::spawn(connection(stream, peer, limits, handler, watcher));
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {:?}; closing them", DRAIN);
    }
}

/// Serves HTTP/1.1 on one accepted connection (plain or TLS, as `peer` says) until it ends.
async fn connection<S, F, Fut>(
    stream: S,
    peer: Peer,
    limits: Limits,
    handler: F,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>, Peer) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<ResponseBody>> + Send + 'static,
{
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
    let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// What a plain HTTP request to the TLS port receives, in plain text.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\
content-type: text/plain; charset=utf-8\r\ncontent-length: 55\r\n\r\n\
this port serves HTTPS, but the request was plain HTTP\n";

/// The server side of a TLS handshake on `stream`, within `timeout`; `None` when the client
/// closed without sending anything.
async fn handshake(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    timeout: Duration,
) -> Result<Option<tokio_rustls::server::TlsStream<TcpStream>>, (HandshakeFailure, std::io::Error)>
{
    let shake = async {
        let mut first = [0u8; 1];
        let peeked = stream
            .peek(&mut first)
            .await
            .map_err(|e| (HandshakeFailure::Failed, e))?;
        if peeked == 0 {
            return Ok(None);
        }
        if first[0] != TLS_HANDSHAKE_RECORD && first[0].is_ascii_alphabetic() {
            return Err((HandshakeFailure::PlainHttp, answer_plain_http(stream).await));
        }
        tokio_rustls::TlsAcceptor::from(config)
            .accept(stream)
            .await
            .map(Some)
            .map_err(|e| (HandshakeFailure::Failed, e))
    };
    match tokio::time::timeout(timeout, shake).await {
        Ok(result) => result,
        Err(_) => Err((
            HandshakeFailure::Timeout,
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no TLS handshake within the read timeout",
            ),
        )),
    }
}

/// Answers a plain HTTP request with [`PLAIN_HTTP_ANSWER`] and closes: the request is read
/// first (what fits in 16 KiB), so that closing does not reset the connection before the client
/// reads the answer. Returns the error to log.
async fn answer_plain_http(mut stream: TcpStream) -> std::io::Error {
    let mut request = [0u8; 16 * 1024];
    let _ = stream.read(&mut request).await;
    let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = stream.shutdown().await;
    // Until the client closes (bounded by the caller's timeout), discarding what it sends.
    while matches!(stream.read(&mut request).await, Ok(n) if n > 0) {}
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "plain HTTP request on the TLS port",
    )
}

#[cfg(test)]
mod tests;
