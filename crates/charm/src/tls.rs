//! TLS from the `certificates` relation: what the reconcile decides (pure: [`decide`]) and the
//! two operations only the shell performs (randomised: [`generate_private_key`],
//! [`certificate_signing_request`]).
//!
//! One value decides the scheme of everything: [`TlsDecision::serve`]. It is true only when a
//! certificate for our key is available, not revoked and not expired, `dev` is false, and the
//! workload's files can be written in this hook (Pebble answers). The Pebble layer's TLS
//! environment and `alive` check, forward-auth's `decisions_address`, oathkeeper-info's
//! `public_endpoint` and the actions' scheme all derive from it, so they never disagree.
//!
//! Key: ECDSA P-256 (the providers accept RSA ≥ 2048 or EC; `ring` cannot generate RSA keys),
//! generated once per unit and kept in a unit-owned Juju secret (label [`KEY_SECRET_LABEL`],
//! content key [`KEY_SECRET_FIELD`]); its id is remembered in the unit's state. The key never
//! enters the snapshot, the desired state, the effects or a log line: only its public half does.
//!
//! Renewal needs a hook at the right time: every hook runs the same decision with the hook's
//! time, `update-status` runs every few minutes, and the key's secret is set to expire at the
//! renewal time (90 % of the validity), so Juju runs `secret-expired` then. A revoked
//! certificate is never served: the unit goes back to http (everything at once) until the new
//! request is answered. The server reloads rotated files live; Ory's is restarted.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::relation::certificates::{self, ProviderCertificate};
use crate::relation::{Databag, FieldError};
use crate::snapshot::Snapshot;

/// The label of the unit-owned secret holding our private key.
pub const KEY_SECRET_LABEL: &str = "oathkeeper-tls-private-key";
/// The content key of that secret (what the tls-certificates library v4 uses).
pub const KEY_SECRET_FIELD: &str = "private-key";
/// The unit-state key remembering the secret's id (`state-get`/`state-set`).
pub const KEY_SECRET_STATE_KEY: &str = "tls-private-key-secret";

/// Where the TLS files live in the workload container.
pub const TLS_DIR: &str = "/etc/oathkeeper/tls";
/// The certificate chain the server presents (leaf first).
pub const CERT_FILE: &str = "/etc/oathkeeper/tls/tls.crt";
/// The server's private key (mode 0600).
pub const KEY_FILE: &str = "/etc/oathkeeper/tls/tls.key";
/// The CA that issued the certificate (what the actions trust).
pub const CA_FILE: &str = "/etc/oathkeeper/tls/ca.crt";
/// The workload's system CA bundle: Pebble's https check (and the server's outbound clients)
/// trust what is in it.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The server's environment naming the certificate file.
pub const CERT_PATH_ENV: &str = "SERVE_API_TLS_CERT_PATH";
/// The server's environment naming the key file.
pub const KEY_PATH_ENV: &str = "SERVE_API_TLS_KEY_PATH";

/// Renewal starts once this share (in per mille) of a certificate's validity has passed.
const RENEW_AT_PER_MILLE: i64 = 900;

/// The private key as a hook sees it: never the key, only where it is and its public half.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateKeyState {
    /// The secret's id, as recorded in the unit's state.
    pub secret_id: String,
    /// The public key (hex of the raw subject public key), when the secret was read; `None`
    /// when not read in this hook or when the secret is gone.
    pub public_key: Option<String>,
}

/// The TLS files found in the workload container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledTls {
    /// [`CERT_FILE`]'s content.
    pub certificate: String,
    /// [`CA_FILE`]'s content.
    pub ca: String,
}

/// What TLS depends on besides the relation: the key, the workload's files, the time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsState {
    /// The private key, when this unit has one.
    pub private_key: Option<PrivateKeyState>,
    /// The files in the workload (`None` when absent, or when Pebble does not answer).
    pub installed: Option<InstalledTls>,
    /// The time of this hook, seconds since the Unix epoch (an input: reconcile reads no
    /// clock).
    pub now: i64,
}

/// What one certificate says, as far as the charm cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Start of validity (Unix seconds).
    pub not_before: i64,
    /// End of validity (Unix seconds).
    pub not_after: i64,
    /// Hex of the raw subject public key.
    pub public_key: String,
}

impl CertificateInfo {
    /// When renewal is due: at 90 % of the validity.
    pub fn renewal_time(&self) -> i64 {
        let span = self.not_after.saturating_sub(self.not_before).max(0);
        self.not_before + span / 1000 * RENEW_AT_PER_MILLE + span % 1000 * RENEW_AT_PER_MILLE / 1000
    }

    /// Whether it may be served at `now`.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// What our certificate signing request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The subject's common names.
    pub common_names: Vec<String>,
    /// The DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// Hex of the raw subject public key.
    pub public_key: String,
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The DER of the first PEM block of `pem`, if any (for a request: the server never reads it).
fn first_der(pem: &str) -> Option<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .next()?
        .ok()
        .map(|block| block.contents)
}

/// The certificates of a PEM text as the server reads a certificate file: every `CERTIFICATE`
/// section in order, other sections skipped; `None` when any section is not valid PEM (the
/// server then refuses the whole file).
pub fn pem_certificates(pem: &str) -> Option<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// The DER of the leaf (the first certificate) of a PEM text, as the server reads it.
fn leaf_der(pem: &str) -> Option<Vec<u8>> {
    pem_certificates(pem)?.first().map(|leaf| leaf.to_vec())
}

/// The leaf (first certificate) of a PEM text, read as the server reads the file: `None` when
/// the server would not serve it.
pub fn certificate_info(pem: &str) -> Option<CertificateInfo> {
    let der = leaf_der(pem)?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    let validity = cert.validity();
    Some(CertificateInfo {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        public_key: hex(&cert.public_key().subject_public_key.data),
    })
}

/// A certificate signing request's subject names and public key.
pub fn request_info(pem: &str) -> Option<RequestInfo> {
    let der = first_der(pem)?;
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&der).ok()?;
    let info = &csr.certification_request_info;
    let common_names = info
        .subject
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    let dns_names = csr
        .requested_extensions()
        .into_iter()
        .flatten()
        .filter_map(|ext| match ext {
            x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) => {
                Some(san.general_names.iter().filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    _ => None,
                }))
            }
            _ => None,
        })
        .flatten()
        .collect();
    Some(RequestInfo {
        common_names,
        dns_names,
        public_key: hex(&info.subject_pki.subject_public_key.data),
    })
}

/// Generates a private key (ECDSA P-256, PKCS#8 PEM). Randomised: the shell's job.
pub fn generate_private_key() -> Result<String, rcgen::Error> {
    Ok(rcgen::KeyPair::generate()?.serialize_pem())
}

/// The public half of a private key (PEM), as [`PrivateKeyState::public_key`] holds it.
pub fn public_key(private_key_pem: &str) -> Result<String, rcgen::Error> {
    Ok(hex(
        rcgen::KeyPair::from_pem(private_key_pem)?.public_key_raw()
    ))
}

/// A certificate signing request for `host` (subject CN and the one DNS SAN), signed with the
/// private key. Randomised (ECDSA signatures are): the shell's job.
pub fn certificate_signing_request(
    private_key_pem: &str,
    host: &str,
) -> Result<String, rcgen::Error> {
    let key = rcgen::KeyPair::from_pem(private_key_pem)?;
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, host);
    params.serialize_request(&key)?.pem()
}

/// The certificate and CA the workload should serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    /// The chain, leaf first ([`CERT_FILE`]).
    pub certificate: String,
    /// The issuing CA ([`CA_FILE`], and appended to [`CA_BUNDLE`]).
    pub ca: String,
}

/// What to do with the private key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAction {
    /// Nothing.
    #[default]
    Keep,
    /// Generate one and keep it in a new secret.
    Create,
    /// Remove the secret (the relation is gone).
    Remove {
        /// The secret's id.
        secret_id: String,
    },
}

/// Why the charm serves http while related to a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pending {
    /// A request is published (or about to be) and the provider has not answered it.
    Requested,
    /// The provider revoked our certificate; a new one is requested.
    Revoked,
}

/// The TLS part of the desired state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsDecision {
    /// Whether the API is served over https in this hook, and everything says `https://`.
    pub serve: bool,
    /// What to do with the private key.
    pub key: KeyAction,
    /// Publish a new certificate signing request on this `certificates` relation.
    pub request: Option<u64>,
    /// The files the workload should hold: `Some` to install, `None` to remove; not applied
    /// when Pebble does not answer.
    pub files: Option<TlsFiles>,
    /// Why a related unit serves http, for the status.
    pub pending: Option<(String, Pending)>,
    /// The provider's databag could not be read: (provider app, error).
    pub invalid: Option<(String, FieldError)>,
}

/// Whether the scheme currently published (leader app data) is https: what the workload
/// serves when Pebble does not answer, so nothing flips in a hook that cannot move the files.
fn published_https(snapshot: &Snapshot) -> bool {
    use crate::relation::{forward_auth, oathkeeper_info};
    let r = &snapshot.relations;
    let https = |bag: &Databag, key: &str| bag.get(key).is_some_and(|v| v.starts_with("https://"));
    r.forward_auth
        .iter()
        .any(|rel| https(&rel.local_app_data, forward_auth::DECISIONS_ADDRESS))
        || r.oathkeeper_info
            .iter()
            .any(|rel| https(&rel.local_app_data, oathkeeper_info::PUBLIC_ENDPOINT))
}

/// Decides TLS from the snapshot. Pure: the time is [`TlsState::now`].
///
/// - A new request is published when there is none we can use (missing, unreadable, for
///   another name or another key), when the provider revoked the certificate of the current
///   one, or when that certificate reaches 90 % of its validity or expired (renewal: same
///   key).
/// - The certificate served is the provider's answer to our current request when there is a
///   usable one; while a renewal or re-request is pending, the installed certificate keeps
///   being served as long as it is for our key, unexpired and not revoked by the provider.
/// - A revoked certificate is never served: with no other, everything goes back to http
///   until the new request is answered.
pub fn decide(snapshot: &Snapshot) -> TlsDecision {
    let tls = &snapshot.tls;
    let Some(relation) = &snapshot.relations.certificates else {
        // Not related (or being broken): http everywhere, files and key removed (the scheme
        // moves with the files: not while Pebble does not answer).
        let decision = TlsDecision {
            key: tls
                .private_key
                .as_ref()
                .map_or(KeyAction::Keep, |key| KeyAction::Remove {
                    secret_id: key.secret_id.clone(),
                }),
            ..TlsDecision::default()
        };
        return finish(snapshot, decision, None);
    };
    let mut decision = TlsDecision::default();
    let provided = match certificates::parse_provider(&relation.remote_app_data) {
        Ok(provided) => provided,
        Err(error) => {
            decision.invalid = Some((relation.remote_app.clone(), error));
            Vec::new()
        }
    };
    let host = crate::workload::service_host(&snapshot.app, &snapshot.model);
    let public_key = tls
        .private_key
        .as_ref()
        .and_then(|key| key.public_key.clone());
    let Some(public_key) = public_key else {
        decision.key = KeyAction::Create;
        decision.request = Some(relation.id);
        decision.pending = Some((relation.remote_app.clone(), Pending::Requested));
        decision.serve = false;
        return finish(snapshot, decision, None);
    };
    let now = tls.now;
    let published = certificates::published_csr(&relation.local_unit_data).filter(|csr| {
        request_info(csr).is_some_and(|info| {
            info.public_key == public_key
                && info.common_names == [host.as_str()]
                && info.dns_names == [host.as_str()]
        })
    });
    // Whether the provider revoked the leaf of `chain` (compared by content, not text).
    let revoked = |chain: &str| {
        let leaf = leaf_der(chain);
        leaf.is_some()
            && provided
                .iter()
                .any(|entry| entry.revoked && leaf_der(&entry.certificate) == leaf)
    };
    // The provider's answer to our current request.
    let answers: Vec<&ProviderCertificate> = published
        .as_deref()
        .map(|csr| provided.iter().filter(|e| e.answers(csr)).collect())
        .unwrap_or_default();
    // The unrevoked answer for our key, valid now or not (expired is past renewal time too).
    let answered = answers.iter().filter(|e| !e.revoked).find_map(|e| {
        certificate_info(&e.certificate)
            .filter(|info| info.public_key == public_key)
            .map(|info| (*e, info))
    });
    if answers
        .iter()
        .any(|e| certificate_info(&e.certificate).is_none())
    {
        decision.invalid = Some((
            relation.remote_app.clone(),
            FieldError::new(
                certificates::CERTIFICATES,
                "the certificate answering our request is not a PEM certificate",
            ),
        ));
    }
    let issued = answered.clone().filter(|(_, info)| info.valid_at(now));
    let current_revoked = answered.is_none() && answers.iter().any(|e| e.revoked);
    decision.request = match (&published, &answered) {
        (None, _) => Some(relation.id),
        (Some(_), _) if current_revoked => Some(relation.id),
        (Some(_), Some((_, info))) if now >= info.renewal_time() => Some(relation.id),
        _ => None,
    };
    let files = match issued {
        Some((entry, _)) => Some(TlsFiles {
            certificate: entry.served_chain(),
            ca: entry.ca.trim().to_owned() + "\n",
        }),
        // Pending: keep what is installed while it is ours, unexpired and not revoked.
        None => tls.installed.as_ref().and_then(|installed| {
            let info = certificate_info(&installed.certificate)?;
            (info.public_key == public_key
                && info.valid_at(now)
                && !revoked(&installed.certificate))
            .then(|| TlsFiles {
                certificate: installed.certificate.clone(),
                ca: installed.ca.clone(),
            })
        }),
    };
    if files.is_none() {
        let why = if current_revoked {
            Pending::Revoked
        } else {
            Pending::Requested
        };
        decision.pending = Some((relation.remote_app.clone(), why));
    }
    finish(snapshot, decision, files)
}

/// Applies `dev` and Pebble's reachability to the certificate found.
fn finish(snapshot: &Snapshot, mut decision: TlsDecision, files: Option<TlsFiles>) -> TlsDecision {
    if !snapshot.container.can_connect {
        // The files cannot move: keep the scheme the workload was last told to serve.
        decision.serve = published_https(snapshot);
        decision.files = None;
        return decision;
    }
    decision.files = files.filter(|_| !snapshot.config.dev);
    decision.serve = decision.files.is_some();
    if snapshot.config.dev {
        decision.pending = None;
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_ninety_percent_of_the_validity() {
        let info = CertificateInfo {
            not_before: 1_000,
            not_after: 11_000,
            public_key: String::new(),
        };
        assert_eq!(info.renewal_time(), 10_000);
        let long = CertificateInfo {
            not_before: 0,
            not_after: 90 * 86_400,
            public_key: String::new(),
        };
        assert_eq!(long.renewal_time(), 81 * 86_400);
        assert!(info.valid_at(1_000) && info.valid_at(10_999) && !info.valid_at(11_000));
    }

    #[test]
    fn requests_name_the_service_host_and_carry_the_keys_public_half() {
        let key = generate_private_key().unwrap();
        let csr = certificate_signing_request(&key, "oathkeeper.iam.svc.cluster.local").unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let info = request_info(&csr).unwrap();
        assert_eq!(info.common_names, ["oathkeeper.iam.svc.cluster.local"]);
        assert_eq!(info.dns_names, ["oathkeeper.iam.svc.cluster.local"]);
        assert_eq!(info.public_key, public_key(&key).unwrap());
        // ECDSA P-256: an uncompressed point.
        assert_eq!(info.public_key.len(), 2 * 65);
        // The provider re-signs the same key: a new request differs, the key does not.
        let again = certificate_signing_request(&key, "oathkeeper.iam.svc.cluster.local").unwrap();
        assert_eq!(request_info(&again).unwrap().public_key, info.public_key);
    }

    /// Found by the `certificates` fuzz target: the certificate is read as the server reads the
    /// file, which refuses it whole when any section is not valid PEM.
    #[test]
    fn a_certificate_the_server_cannot_read_whole_is_no_certificate() {
        let cert = rcgen::generate_simple_self_signed(vec!["x.test".to_owned()])
            .unwrap()
            .cert
            .pem();
        assert!(certificate_info(&cert).is_some());
        let truncated = "-----BEGIN CERTIFICATE-----\nTEVB-----END CERTIFICATE-----\n";
        assert_eq!(certificate_info(&format!("{cert}{truncated}")), None);
        // Other sections are skipped, as the server skips them: the leaf is the first certificate.
        let key_first =
            format!("-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n{cert}");
        assert_eq!(certificate_info(&key_first), certificate_info(&cert));
    }

    #[test]
    fn garbage_is_no_certificate_and_no_request() {
        assert_eq!(certificate_info("nope"), None);
        assert_eq!(request_info(""), None);
        assert_eq!(
            certificate_info("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            None
        );
    }
}
