//! For tests that run live processes and sockets beside the harness (Pebble's live mode, the
//! charm's actions over https): a free loopback port, a wait for a condition, and an HTTPS
//! server that gives one fixed answer.
//!
//! Test support: a failed setup panics, as a failed test should.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

/// How long [`eventually`] waits.
pub const EVENTUALLY: Duration = Duration::from_secs(30);

/// A free port on 127.0.0.1 (bound and released: the caller binds it right after).
#[allow(clippy::unwrap_used)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `condition` every 50 ms until it holds; panics naming `what` after [`EVENTUALLY`].
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + EVENTUALLY;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTPS server on 127.0.0.1 (port 0) that answers every request `200` with one JSON body
/// and closes the connection. It serves from its own runtime thread, so the test may block
/// meanwhile; it stops when dropped.
#[derive(Debug)]
pub struct FixedHttps {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl FixedHttps {
    /// Serves `chain` (PEM, leaf first) with `key` (PEM), answering `body`.
    #[allow(clippy::unwrap_used)]
    pub fn start(chain: &str, key: &str, body: &str) -> FixedHttps {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let response: Arc<[u8]> = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
        .into();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let response = Arc::clone(&response);
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    // The request head (small): read, then answered whatever it asks.
                    let mut buffer = [0u8; 2048];
                    let _ = tls.read(&mut buffer).await;
                    let _ = tls.write_all(&response).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        FixedHttps {
            port,
            _runtime: runtime,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}
