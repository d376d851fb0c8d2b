//! TLS for the API listener: `serve.api.tls` as Ory defines it (`cert` and `key`, each a
//! `path` or a `base64` PEM; the `SERVE_API_TLS_{CERT,KEY}_{PATH,BASE64}` variables), served
//! with rustls and reloaded live.
//!
//! - **What is offered.** TLS 1.3 and 1.2 (rustls' ring provider and its default cipher
//!   suites); ALPN `http/1.1` only: forward-auth clients (Traefik, nginx `auth_request`, Caddy
//!   `forward_auth`) make the auth call over HTTP/1.1, and the server speaks nothing else.
//!   Session resumption is on: stateless tickets (TLS 1.3 and 1.2, keys rotated by rustls) and
//!   a server-side session cache (TLS 1.2 session IDs), both kept across certificate changes.
//! - **Per connection.** The listener loads the current [`ServerConfig`] once per accepted
//!   connection from an `ArcSwapOption` in [`crate::reload::State`] (`None`: plain HTTP);
//!   requests read nothing of TLS.
//! - **Live reload.** [`Reloader::refresh`] runs after every reload of the config and rules,
//!   on file events about the certificate or key files and on the poll. It re-reads the pair
//!   when the config's `serve.api.tls` changed or a file's stamp (inode, size, times) moved,
//!   and builds a new config only when a byte changed. New connections get the new pair; open
//!   connections keep theirs. Turning TLS on or off in the config applies the same way: new
//!   connections are accepted with the new setting, open ones continue.
//! - **A bad pair keeps the last good one** (unreadable, not PEM, no certificate or key, a key
//!   that does not match the certificate, as a rotation that has written the certificate but not
//!   yet the key): the error is logged naming the field and file, counted in
//!   `reload_errors_total{source="serve.api.tls"}`, flagged by `source_stale` and shown in
//!   `/health/ready`; the next change (or the poll, for a file written in the last second)
//!   tries again, and a good pair clears it. At start, a bad pair is fatal.
//!
//! Differs from upstream: Ory Oathkeeper reads TLS once at start (a change needs a restart),
//! and when both `path` and `base64` are set it silently takes `base64`; here that is an error.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use oathkeeper_core::config::{Tls, TlsSource};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use crate::reload::read::{self, ReadError, Reader, Role, Stamp};

/// The TLS source's label in readiness, logs and metrics.
pub const SOURCE: &str = "serve.api.tls";
/// The only application protocol offered.
const ALPN_HTTP1: &[u8] = b"http/1.1";
/// Sessions the server cache keeps for resumption by session ID (about 100 bytes each).
const SESSION_CACHE_SIZE: usize = 4096;

/// The certificate chain or the private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Cert,
    Key,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Cert => "cert",
            Part::Key => "key",
        }
    }

    fn role(self) -> Role {
        match self {
            Part::Cert => Role::Certificate,
            Part::Key => Role::PrivateKey,
        }
    }
}

/// Where one PEM comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Pem {
    /// `path`.
    File(PathBuf),
    /// `base64`, as configured.
    Inline(String),
}

impl Pem {
    /// The field and file, for messages: `serve.api.tls.cert.path (/etc/tls/tls.crt)`.
    fn origin(&self, part: Part) -> String {
        match self {
            Pem::File(path) => format!("{SOURCE}.{}.path ({})", part.name(), path.display()),
            Pem::Inline(_) => format!("{SOURCE}.{}.base64", part.name()),
        }
    }
}

/// The certificate and key sources `serve.api.tls` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sources {
    cert: Pem,
    key: Pem,
}

impl Sources {
    /// The sources of `tls`; `None` when TLS is off: no `serve.api.tls`, or none of its keys
    /// set (as Ory: "if all keys are left undefined, TLS will be disabled").
    pub fn from_config(tls: Option<&Tls>) -> Result<Option<Sources>, TlsError> {
        let Some(tls) = tls else { return Ok(None) };
        let cert = pem(&tls.cert, Part::Cert)?;
        let key = pem(&tls.key, Part::Key)?;
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Sources { cert, key })),
            (Some(_), None) => Err(TlsError::Missing {
                missing: Part::Key.name(),
                present: Part::Cert.name(),
            }),
            (None, Some(_)) => Err(TlsError::Missing {
                missing: Part::Cert.name(),
                present: Part::Key.name(),
            }),
        }
    }

    /// The files among the sources.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        [&self.cert, &self.key]
            .into_iter()
            .filter_map(|pem| match pem {
                Pem::File(path) => Some(path.as_path()),
                Pem::Inline(_) => None,
            })
    }
}

fn pem(source: &TlsSource, part: Part) -> Result<Option<Pem>, TlsError> {
    fn set(value: &Option<String>) -> Option<&str> {
        value.as_deref().filter(|v| !v.trim().is_empty())
    }
    match (set(&source.path), set(&source.base64)) {
        (None, None) => Ok(None),
        (Some(path), None) => Ok(Some(Pem::File(PathBuf::from(path)))),
        (None, Some(base64)) => Ok(Some(Pem::Inline(base64.to_owned()))),
        (Some(_), Some(_)) => Err(TlsError::Ambiguous { part: part.name() }),
    }
}

/// Why a TLS certificate and key cannot be served. Messages name the `serve.api.tls` field
/// and, for a file, its path.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// One of `cert` and `key` is set, the other is not.
    #[error(
        "{SOURCE}.{missing} is not set but {SOURCE}.{present} is: TLS needs both a certificate \
         and its private key (each a path or base64)"
    )]
    Missing {
        /// The part not set.
        missing: &'static str,
        /// The part set.
        present: &'static str,
    },
    /// Both `path` and `base64` are set for one part.
    #[error("{SOURCE}.{part}: both path and base64 are set; set one of them")]
    Ambiguous {
        /// `cert` or `key`.
        part: &'static str,
    },
    /// A `base64` value does not decode.
    #[error("{SOURCE}.{part}.base64 is not valid base64: {source}")]
    Base64 {
        /// `cert` or `key`.
        part: &'static str,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// A file cannot be read.
    #[error("{SOURCE}.{part}.path: {source}")]
    Read {
        /// `cert` or `key`.
        part: &'static str,
        /// The read error, naming the file.
        #[source]
        source: ReadError,
    },
    /// The text is not valid PEM.
    #[error("{origin} is not valid PEM: {message}")]
    Pem {
        /// The field (and file).
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// The certificate source holds no `CERTIFICATE` block.
    #[error("{origin} holds no PEM certificate")]
    NoCertificate {
        /// The field (and file).
        origin: String,
    },
    /// The key source holds no private key block.
    #[error("{origin} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey {
        /// The field (and file).
        origin: String,
    },
    /// The private key is of a kind rustls cannot sign with, or is corrupt.
    #[error("{origin}: the private key cannot be used: {source}")]
    UnsupportedKey {
        /// The field (and file).
        origin: String,
        /// rustls' error.
        #[source]
        source: rustls::Error,
    },
    /// The key is not the certificate's (a rotation half written, or the wrong file).
    #[error("the private key ({key}) does not match the certificate ({cert})")]
    Mismatch {
        /// The key's field (and file).
        key: String,
        /// The certificate's field (and file).
        cert: String,
    },
    /// The certificate cannot be read as X.509.
    #[error("{origin}: the certificate cannot be used: {source}")]
    BadCertificate {
        /// The field (and file).
        origin: String,
        /// rustls' error.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration (not expected with the ring provider).
    #[error("cannot configure TLS: {0}")]
    Config(#[source] rustls::Error),
}

/// What is shared by every [`ServerConfig`] built: the crypto provider and the resumption
/// state, so that sessions resume across certificate changes.
#[derive(Debug)]
struct Shared {
    provider: Arc<CryptoProvider>,
    cache: Arc<dyn StoresServerSessions>,
    ticketer: Arc<dyn ProducesTickets>,
}

impl Shared {
    fn new() -> Result<Shared, TlsError> {
        Ok(Shared {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            cache: ServerSessionMemoryCache::new(SESSION_CACHE_SIZE),
            ticketer: rustls::crypto::ring::Ticketer::new().map_err(TlsError::Config)?,
        })
    }

    /// A server config serving `key`: TLS 1.3 and 1.2, ALPN `http/1.1`, resumption on.
    fn server_config(&self, key: Arc<CertifiedKey>) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        config.session_storage = Arc::clone(&self.cache);
        config.ticketer = Arc::clone(&self.ticketer);
        Ok(Arc::new(config))
    }
}

/// Reads one PEM: the file through `reader` (regular files only, bounded in size and time), or
/// the decoded `base64`.
fn read_pem(pem: &Pem, part: Part, reader: &mut Reader) -> Result<Vec<u8>, TlsError> {
    match pem {
        Pem::File(path) => reader
            .read(part.role(), path)
            .map_err(|source| TlsError::Read {
                part: part.name(),
                source,
            }),
        Pem::Inline(text) => {
            // `base64` wraps its output at 76 columns: whitespace is not part of the value.
            let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|source| TlsError::Base64 {
                    part: part.name(),
                    source,
                })
        }
    }
}

/// Parses and checks a pair: a certificate chain (leaf first), a private key rustls can sign
/// with, and the key matching the leaf's public key.
fn certified_key(
    provider: &CryptoProvider,
    cert: &[u8],
    cert_origin: &str,
    key: &[u8],
    key_origin: &str,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let bad_pem = |origin: &str, e: pem::Error| TlsError::Pem {
        origin: origin.to_owned(),
        message: e.to_string(),
    };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(cert_origin, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: cert_origin.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            origin: key_origin.to_owned(),
        },
        e => bad_pem(key_origin, e),
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::UnsupportedKey {
            origin: key_origin.to_owned(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // `Unknown`: the key cannot tell its public key; the handshake will show a mismatch.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            key: key_origin.to_owned(),
            cert: cert_origin.to_owned(),
        }),
        Err(source) => Err(TlsError::BadCertificate {
            origin: cert_origin.to_owned(),
            source,
        }),
    }
}

/// What a [`Reloader::refresh`] found.
#[derive(Debug)]
pub enum Refresh {
    /// Nothing to do: no setting, stamp or byte changed since the last look.
    Unchanged,
    /// Serve new connections with this (`None`: plain HTTP).
    Serve(Option<Arc<ServerConfig>>),
    /// The configured pair cannot be served; the last good one stays.
    Failed(TlsError),
}

/// Watches `serve.api.tls` and its files; builds a new [`ServerConfig`] when they change.
pub struct Reloader {
    shared: Shared,
    reader: Reader,
    /// `serve.api.tls` at the last look.
    setting: Option<Tls>,
    /// The stamps of its files at the last look, when they can be trusted to say "unchanged"
    /// (not written in the last second).
    stamps: Option<Vec<Stamp>>,
    /// The files of the last look (watched for events).
    files: Vec<PathBuf>,
    /// A hash of what the last look read (or why it could not): equal means the same outcome.
    read_hash: Option<u64>,
    /// The clock stamps are compared with.
    now: fn() -> SystemTime,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// Loads `serve.api.tls` for the first time: the reloader and what to serve (`None`:
    /// plain HTTP). A bad setting or pair is an error here (the server must not start).
    pub fn start(tls: Option<&Tls>) -> Result<(Reloader, Option<Arc<ServerConfig>>), TlsError> {
        let mut reloader = Reloader {
            shared: Shared::new()?,
            reader: Reader::default(),
            setting: None,
            stamps: None,
            files: Vec::new(),
            read_hash: None,
            now: SystemTime::now,
        };
        match reloader.load(tls) {
            Refresh::Serve(config) => Ok((reloader, config)),
            // invariant: the first load has nothing to compare with, so it always serves or fails.
            Refresh::Unchanged => Ok((reloader, None)),
            Refresh::Failed(e) => Err(e),
        }
    }

    /// The certificate and key files to watch.
    pub fn watched_files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Looks at `tls` (the config's `serve.api.tls` now) and its files again.
    pub fn refresh(&mut self, tls: Option<&Tls>) -> Refresh {
        if self.setting.as_ref() == tls
            && let Some(stamps) = &self.stamps
            && *stamps == self.stamps_now()
        {
            return Refresh::Unchanged;
        }
        self.load(tls)
    }

    fn stamps_now(&self) -> Vec<Stamp> {
        self.files.iter().map(|path| read::stamp(path)).collect()
    }

    /// Reads and checks the pair `tls` names, unless the same bytes were read last time.
    fn load(&mut self, tls: Option<&Tls>) -> Refresh {
        self.setting = tls.cloned();
        let sources = match Sources::from_config(tls) {
            Ok(sources) => sources,
            Err(e) => {
                self.files.clear();
                self.stamps = Some(Vec::new());
                return self.outcome(hash_of(&e.to_string()), || Refresh::Failed(e));
            }
        };
        let Some(sources) = sources else {
            self.files.clear();
            self.stamps = Some(Vec::new());
            return self.outcome(hash_of(&"off"), || Refresh::Serve(None));
        };
        self.files = sources.files().map(Path::to_path_buf).collect();
        // Each stamp is taken before its file is read: a write after it changes it.
        let stamps = self.stamps_now();
        let cert = read_pem(&sources.cert, Part::Cert, &mut self.reader);
        let key = read_pem(&sources.key, Part::Key, &mut self.reader);
        let now = (self.now)();
        let transient = [&cert, &key].iter().any(
            |read| matches!(read, Err(TlsError::Read { source, .. }) if source.is_transient()),
        );
        self.stamps = (!transient && !stamps.iter().any(|s| s.is_recent(now))).then_some(stamps);
        let mut hasher = DefaultHasher::new();
        sources.hash(&mut hasher);
        for read in [&cert, &key] {
            match read {
                Ok(bytes) => bytes.hash(&mut hasher),
                Err(e) => e.to_string().hash(&mut hasher),
            }
        }
        if self.read_hash == Some(hasher.finish()) {
            return Refresh::Unchanged;
        }
        self.read_hash = Some(hasher.finish());
        let built = cert.and_then(|cert| {
            let key = key?;
            let certified = certified_key(
                &self.shared.provider,
                &cert,
                &sources.cert.origin(Part::Cert),
                &key,
                &sources.key.origin(Part::Key),
            )?;
            self.shared.server_config(certified)
        });
        match built {
            Ok(config) => Refresh::Serve(Some(config)),
            Err(e) => Refresh::Failed(e),
        }
    }

    /// `Unchanged` when `hash` is what the last look read, else `make()`.
    fn outcome(&mut self, hash: u64, make: impl FnOnce() -> Refresh) -> Refresh {
        if self.read_hash == Some(hash) {
            return Refresh::Unchanged;
        }
        self.read_hash = Some(hash);
        make()
    }
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests;
