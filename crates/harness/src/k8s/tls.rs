//! The API server's HTTPS side, for in-cluster clients: a pod reaches the API server at
//! `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` and trusts the cluster CA in
//! `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`.
//!
//! The fake cluster has a fixed CA (`pki/ca.crt`) and a server certificate it signed
//! (`pki/server.crt`, `pki/server.key`, valid for `127.0.0.1`, `::1`, `localhost` and the
//! `kubernetes.default.svc` names until 2125). They are test fixtures, not secrets: nothing
//! but the fake server uses them. TLS is terminated here and the plain connection forwarded to
//! the HTTP listener, so both ports serve, record and pause alike.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The cluster CA certificate (PEM), as a pod's `ca.crt` holds it.
pub const CLUSTER_CA_PEM: &str = include_str!("pki/ca.crt");
const SERVER_CERT_PEM: &str = include_str!("pki/server.crt");
const SERVER_KEY_PEM: &str = include_str!("pki/server.key");

/// The acceptor presenting the server certificate.
pub(crate) fn acceptor() -> std::io::Result<TlsAcceptor> {
    let invalid = |error: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string())
    };
    let certs = CertificateDer::pem_slice_iter(SERVER_CERT_PEM.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM.as_bytes()).map_err(|e| invalid(&e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TLS connections and forwards each, decrypted, to `backend` (the HTTP listener);
/// while the server is paused the forward fails and the client sees the connection close.
pub(crate) async fn front(listener: TcpListener, acceptor: TlsAcceptor, backend: SocketAddr) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(stream).await else {
                return;
            };
            let Ok(mut plain) = TcpStream::connect(backend).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}
