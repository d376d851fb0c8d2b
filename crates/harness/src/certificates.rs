//! A fake certificates provider (interface `tls-certificates`, wire format
//! `tls_certificates/v1`), answering as a tls-certificates v4 provider such as
//! self-signed-certificates does: it reads `certificate_signing_requests` from a requirer's
//! **unit** databag, signs each request with a CA generated at construction, and writes every
//! certificate it holds into its app databag (`certificates`).
//!
//! ```text
//! let mut provider = CertificateProvider::new("self-signed-certificates");
//! provider.answer(&mut state, Validity::days(90));   // after the charm published its CSR
//! provider.revoke_all(); provider.write(&mut state);  // revocation
//! provider.reissue(Validity::days(90)); provider.write(&mut state); // rotation, same CSRs
//! ```
//!
//! Like the v4 provider: a request without `"ca"` is ignored, a request for a key that already
//! has a certificate replaces it (renewal), the CSR is echoed without its trailing newline,
//! and the chain is `[certificate, ca]`. The provider keeps its certificates across units, so
//! one provider can answer several units' States.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use serde_json::{Value, json};

use crate::state::{Bag, Relation, State};

/// The requirer's endpoint name in the charms we test.
pub const ENDPOINT: &str = "certificates";
/// Requirer unit key.
pub const CERTIFICATE_SIGNING_REQUESTS: &str = "certificate_signing_requests";
/// Provider app key.
pub const CERTIFICATES: &str = "certificates";

/// When a certificate is valid, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Start.
    pub not_before: u64,
    /// End.
    pub not_after: u64,
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Validity {
    /// From a minute ago for `days` days.
    pub fn days(days: u64) -> Validity {
        let now = unix_now();
        Validity {
            not_before: now.saturating_sub(60),
            not_after: now + days * 86_400,
        }
    }

    /// A certificate whose renewal is due: `elapsed_percent` of a 100-day validity has passed.
    pub fn elapsed_percent(elapsed_percent: u64) -> Validity {
        let now = unix_now();
        let span = 100 * 86_400;
        let elapsed = span * elapsed_percent / 100;
        Validity {
            not_before: now.saturating_sub(elapsed),
            not_after: now.saturating_sub(elapsed) + span,
        }
    }
}

/// One certificate the provider issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The request as the provider echoes it (no trailing newline).
    pub csr: String,
    /// The certificate (PEM).
    pub certificate: String,
    /// The raw public key of the request, which identifies the requirer unit.
    pub public_key: Vec<u8>,
    /// Whether it was revoked.
    pub revoked: bool,
    validity: Validity,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the certificate signing request: {0}")]
pub struct SignError(#[from] rcgen::Error);

/// A fake tls-certificates v4 provider with its own test CA.
pub struct CertificateProvider {
    app: String,
    ca_key: KeyPair,
    ca_params: CertificateParams,
    ca_pem: String,
    issued: Vec<Issued>,
    serial: u64,
}

impl std::fmt::Debug for CertificateProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateProvider")
            .field("app", &self.app)
            .field("issued", &self.issued.len())
            .finish_non_exhaustive()
    }
}

/// Sets the validity of `params` (rcgen's time type is reached through its epoch constructor).
fn set_validity(params: &mut CertificateParams, validity: Validity) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(validity.not_before);
    params.not_after = epoch + Duration::from_secs(validity.not_after);
}

impl CertificateProvider {
    /// A provider app named `app` with a fresh CA (ECDSA P-256, valid ten years).
    pub fn new(app: &str) -> CertificateProvider {
        // invariant: generating a P-256 key and self-signing cannot fail with ring.
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("{app} test CA"));
        ca_params.distinguished_name = name;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut ca_params, Validity::days(3650));
        let ca_pem = ca_params
            .self_signed(&ca_key)
            .expect("a self-signed CA")
            .pem();
        CertificateProvider {
            app: app.to_owned(),
            ca_key,
            ca_params,
            ca_pem,
            issued: Vec::new(),
            serial: 1,
        }
    }

    /// The provider's application name (the remote app of the relation).
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The CA certificate (PEM): what clients of the requirer trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Every certificate held.
    pub fn issued(&self) -> &[Issued] {
        &self.issued
    }

    /// A certificates relation with this provider (unit 0 in scope), nothing written yet.
    pub fn relation(&self, id: u64) -> Relation {
        Relation::new(ENDPOINT, id, &self.app)
    }

    fn sign(&mut self, csr_pem: &str, validity: Validity) -> Result<(String, Vec<u8>), SignError> {
        let mut request = CertificateSigningRequestParams::from_pem(csr_pem)?;
        set_validity(&mut request.params, validity);
        request.params.is_ca = IsCa::NoCa;
        self.serial += 1;
        request.params.serial_number = Some(SerialNumber::from_slice(&self.serial.to_be_bytes()));
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let certificate = request.signed_by(&issuer)?;
        let public_key = rcgen::PublicKeyData::der_bytes(&request.public_key).to_vec();
        Ok((certificate.pem(), public_key))
    }

    /// Signs the requests of one requirer unit databag that have no certificate yet (as a v4
    /// provider: entries without `"ca"` are ignored; a new request for a key replaces that key's
    /// certificate). Returns how many it signed.
    pub fn sign_requests(
        &mut self,
        unit_bag: &Bag,
        validity: Validity,
    ) -> Result<usize, SignError> {
        let Some(raw) = unit_bag.get(CERTIFICATE_SIGNING_REQUESTS) else {
            return Ok(0);
        };
        let Ok(Value::Array(requests)) = serde_json::from_str::<Value>(raw) else {
            return Ok(0);
        };
        let mut signed = 0;
        for request in &requests {
            let (Some(csr), Some(false)) = (
                request
                    .get("certificate_signing_request")
                    .and_then(Value::as_str),
                request.get("ca").and_then(Value::as_bool),
            ) else {
                continue;
            };
            let csr = csr.trim().to_owned();
            // Answered already (a revoked answer too: re-issuing is [`Self::reissue`]).
            if self.issued.iter().any(|i| i.csr == csr) {
                continue;
            }
            let (certificate, public_key) = self.sign(&csr, validity)?;
            self.issued
                .retain(|i| i.csr != csr && i.public_key != public_key);
            self.issued.push(Issued {
                csr,
                certificate,
                public_key,
                revoked: false,
                validity,
            });
            signed += 1;
        }
        Ok(signed)
    }

    /// Marks every certificate revoked (they stay listed with `"revoked": true`).
    pub fn revoke_all(&mut self) {
        for issued in &mut self.issued {
            issued.revoked = true;
        }
    }

    /// Signs every held request again with `validity` (a rotation under the same requests; a
    /// revoked entry comes back unrevoked with a new certificate).
    pub fn reissue(&mut self, validity: Validity) -> Result<(), SignError> {
        let requests: Vec<String> = self.issued.iter().map(|i| i.csr.clone()).collect();
        for (index, csr) in requests.iter().enumerate() {
            let (certificate, _) = self.sign(csr, validity)?;
            let entry = &mut self.issued[index];
            entry.certificate = certificate;
            entry.revoked = false;
            entry.validity = validity;
        }
        Ok(())
    }

    /// The provider's app databag: `certificates` as a v4 provider writes it.
    pub fn app_data(&self) -> Bag {
        let ca = self.ca_pem.trim();
        let entries: Vec<Value> = self
            .issued
            .iter()
            .map(|i| {
                let certificate = i.certificate.trim();
                let mut entry = json!({
                    "ca": ca,
                    "certificate_signing_request": i.csr,
                    "certificate": certificate,
                    "chain": [certificate, ca],
                });
                if i.revoked {
                    entry["revoked"] = Value::Bool(true);
                }
                entry
            })
            .collect();
        Bag::from([(CERTIFICATES.to_owned(), Value::Array(entries).to_string())])
    }

    /// Writes [`CertificateProvider::app_data`] into every certificates relation of `state`.
    pub fn write(&self, state: &mut State) {
        let data = self.app_data();
        for relation in state
            .relations
            .iter_mut()
            .filter(|r| r.endpoint == ENDPOINT && r.remote_app == self.app)
        {
            relation.remote_app_data = data.clone();
        }
    }

    /// Signs the requests this unit published in `state` (its unit databag of every
    /// certificates relation with this provider) and writes the answer; returns how many it
    /// signed.
    pub fn answer(&mut self, state: &mut State, validity: Validity) -> Result<usize, SignError> {
        let bags: Vec<Bag> = state
            .relations
            .iter()
            .filter(|r| r.endpoint == ENDPOINT && r.remote_app == self.app)
            .map(|r| r.local_unit_data.clone())
            .collect();
        let mut signed = 0;
        for bag in &bags {
            signed += self.sign_requests(bag, validity)?;
        }
        self.write(state);
        Ok(signed)
    }
}

impl Issued {
    /// When it is valid.
    pub fn validity(&self) -> Validity {
        self.validity
    }
}
