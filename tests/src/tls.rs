//! TLS for the end-to-end suite: a CA generated per test (rcgen), leaf certificates for the
//! decision server with a new key each, the pair written as a rotation writes it, and a
//! rustls client trusting only that CA to see which certificate the server presents.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The name the decision server's certificates are issued for; proxies ask for it (SNI) and
/// verify it. The Service name the charm would use, as in the Identity Platform.
pub const SERVER_NAME: &str = "oathkeeper.iam.svc.cluster.local";

/// How long a TLS client waits for anything.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A CA made for one test; its certificate is written to a file proxies can trust.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

/// A leaf certificate and its key (PEM), and the certificate's DER to compare with what a
/// client sees.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The certificate, PEM.
    pub cert: String,
    /// The private key, PEM.
    pub key: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A new CA.
    ///
    /// # Panics
    /// When a key or certificate cannot be generated.
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, "e2e test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), issuer.pem()).expect("write ca.pem");
        TestCa { issuer, dir }
    }

    /// The CA certificate's PEM file.
    pub fn pem_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A new certificate for [`SERVER_NAME`] and 127.0.0.1, with a new key.
    ///
    /// # Panics
    /// When a key or certificate cannot be generated.
    pub fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let params = CertificateParams::new(vec![SERVER_NAME.to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client config trusting only this CA: [`client_trusting`].
    ///
    /// # Panics
    /// When rustls refuses the CA.
    pub fn client(&self) -> Arc<ClientConfig> {
        client_trusting(&self.issuer.pem())
    }
}

/// A client config trusting only the CA certificate(s) in `ca_pem`, offering `http/1.1`, never
/// resuming (each connection shows the certificate served now).
///
/// # Panics
/// When `ca_pem` holds no certificate rustls accepts as a root.
pub fn client_trusting(ca_pem: &str) -> Arc<ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("CA in roots");
    }
    assert!(!roots.is_empty(), "no CA certificate in {ca_pem}");
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

/// The pair's files in `dir`: `tls.crt` and `tls.key`.
pub fn pair_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("tls.crt"), dir.join("tls.key"))
}

/// Writes `leaf` into `dir` in place, the certificate first and then the key, as a rotation
/// that copies two files does: in between, the files do not match.
///
/// # Panics
/// When a file cannot be written.
pub fn write_pair(dir: &Path, leaf: &Leaf) {
    let (cert, key) = pair_paths(dir);
    std::fs::write(cert, &leaf.cert).expect("write tls.crt");
    std::fs::write(key, &leaf.key).expect("write tls.key");
}

/// One HTTPS connection to `127.0.0.1:<port>` asking for [`SERVER_NAME`].
fn connect(
    port: u16,
    config: &Arc<ClientConfig>,
) -> std::io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), TIMEOUT)?;
    tcp.set_read_timeout(Some(TIMEOUT))?;
    tcp.set_write_timeout(Some(TIMEOUT))?;
    let name = ServerName::try_from(SERVER_NAME).map_err(std::io::Error::other)?;
    let connection =
        ClientConnection::new(Arc::clone(config), name).map_err(std::io::Error::other)?;
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// The leaf certificate (DER) a new connection to `127.0.0.1:<port>` is served.
pub fn served_certificate(port: u16, config: &Arc<ClientConfig>) -> std::io::Result<Vec<u8>> {
    let stream = connect(port, config)?;
    stream
        .conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| cert.to_vec())
        .ok_or_else(|| std::io::Error::other("no peer certificate"))
}

/// `GET <path>` over HTTPS on a new connection: the status and the body.
pub fn https_get(
    port: u16,
    config: &Arc<ClientConfig>,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = connect(port, config)?;
    stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
