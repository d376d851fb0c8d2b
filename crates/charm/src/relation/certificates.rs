//! `certificates` (interface `tls-certificates`, wire format `tls_certificates/v1`, spoken by the
//! tls-certificates library v4 that self-signed-certificates, lego and manual-tls-certificates
//! run): we publish a certificate signing request in our **unit** databag (every unit, leader
//! or not); the provider answers in its app databag with one entry per request it signed
//! (spec/charm-parity.md §5.6 and the Addendum).
//!
//! Matching a request to its answer ignores surrounding whitespace: the provider re-serialises
//! the PEM without the trailing newline.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Databag, FieldError, json_dumps};

/// The endpoint name.
pub const ENDPOINT: &str = "certificates";
/// Requirer unit key: JSON list of `{"certificate_signing_request": <PEM>, "ca": false}`.
pub const CERTIFICATE_SIGNING_REQUESTS: &str = "certificate_signing_requests";
/// Provider app key: JSON list of issued certificates.
pub const CERTIFICATES: &str = "certificates";
/// Entry key: the request (PEM).
pub const CERTIFICATE_SIGNING_REQUEST: &str = "certificate_signing_request";
/// Entry key: the issued certificate (PEM).
pub const CERTIFICATE: &str = "certificate";
/// Entry key: the issuing CA (PEM); in a request, whether a CA certificate is requested.
pub const CA: &str = "ca";
/// Entry key: the chain, leaf first (PEMs).
pub const CHAIN: &str = "chain";
/// Entry key: whether the provider revoked the certificate.
pub const REVOKED: &str = "revoked";

/// One certificate the provider issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderCertificate {
    /// The request it answers (PEM, as the provider echoes it).
    pub certificate_signing_request: String,
    /// The certificate (PEM).
    pub certificate: String,
    /// The CA that issued it (PEM).
    pub ca: String,
    /// The chain, leaf first; may be empty.
    pub chain: Vec<String>,
    /// Whether the provider revoked it.
    pub revoked: bool,
}

impl ProviderCertificate {
    /// Whether this entry answers `csr` (PEM), ignoring surrounding whitespace.
    pub fn answers(&self, csr: &str) -> bool {
        same_pem(&self.certificate_signing_request, csr)
    }

    /// The PEM the server presents: the certificate, then the provider's chain without it (in
    /// the provider's order) and without blocks the server cannot read; each block ends with
    /// a newline.
    ///
    /// The certificate comes first whatever the chain holds: it is the leaf whose key and
    /// validity the charm checked, and the server's key must match the first block. A chain
    /// that does not start with it (another order, or a block that is not the certificate)
    /// would otherwise put a leaf the key does not match in front. A chain block that is not
    /// valid PEM holding a certificate is left out: the server refuses a file with one.
    pub fn served_chain(&self) -> String {
        let leaf = self.certificate.trim();
        let readable = |block: &&str| {
            crate::tls::pem_certificates(block).is_some_and(|certs| !certs.is_empty())
        };
        let rest = self
            .chain
            .iter()
            .map(|b| b.trim())
            .filter(|b| *b != leaf)
            .filter(readable);
        let mut out = String::new();
        for block in std::iter::once(leaf).chain(rest) {
            out.push_str(block);
            out.push('\n');
        }
        out
    }
}

/// Whether two PEM texts are the same once surrounding whitespace is ignored.
pub fn same_pem(a: &str, b: &str) -> bool {
    a.trim() == b.trim()
}

/// Renders our unit databag for `csr` (PEM): the list holds one request, not for a CA. The
/// `ca` key is required: without it a v4 provider ignores the databag.
pub fn render_requirer(csr: &str) -> Databag {
    let requests = json!([{ CERTIFICATE_SIGNING_REQUEST: csr, CA: false }]);
    [(
        CERTIFICATE_SIGNING_REQUESTS.to_owned(),
        json_dumps(&requests),
    )]
    .into()
}

/// The request we published in our unit databag, if any (a bag we cannot read counts as
/// none: we publish a new one).
pub fn published_csr(unit_bag: &Databag) -> Option<String> {
    let raw = unit_bag.get(CERTIFICATE_SIGNING_REQUESTS)?;
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return None;
    };
    items.iter().find_map(|item| {
        item.get(CERTIFICATE_SIGNING_REQUEST)
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}

/// Parses the provider's app databag: its certificates (none when it wrote nothing yet).
/// Extra keys in an entry (`request_errors`, `capabilities`, ...) are ignored; a value of the
/// wrong type is an error naming [`CERTIFICATES`].
pub fn parse_provider(bag: &Databag) -> Result<Vec<ProviderCertificate>, FieldError> {
    let Some(raw) = bag.get(CERTIFICATES) else {
        return Ok(Vec::new());
    };
    let invalid = |problem: String| FieldError::new(CERTIFICATES, problem);
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return Err(invalid("expected a JSON list of certificates".to_owned()));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let text = |key: &str| -> Result<String, FieldError> {
                item.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("entry {i}: {key} missing or not a string")))
            };
            let chain = match item.get(CHAIN) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(blocks)) => blocks
                    .iter()
                    .map(|b| {
                        b.as_str().map(str::to_owned).ok_or_else(|| {
                            invalid(format!("entry {i}: {CHAIN} holds a non-string"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(invalid(format!("entry {i}: {CHAIN} is not a list"))),
            };
            let revoked = match item.get(REVOKED) {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid(format!("entry {i}: {REVOKED} is not a boolean"))),
            };
            Ok(ProviderCertificate {
                certificate_signing_request: text(CERTIFICATE_SIGNING_REQUEST)?,
                certificate: text(CERTIFICATE)?,
                ca: text(CA)?,
                chain,
                revoked,
            })
        })
        .collect()
}

/// Renders the provider's app databag as a v4 provider writes it (for tests and the harness).
pub fn render_provider(certificates: &[ProviderCertificate]) -> Databag {
    let items: Vec<Value> = certificates
        .iter()
        .map(|c| {
            let mut entry = json!({
                CA: c.ca,
                CERTIFICATE_SIGNING_REQUEST: c.certificate_signing_request,
                CERTIFICATE: c.certificate,
                CHAIN: c.chain,
            });
            if c.revoked {
                entry[REVOKED] = Value::Bool(true);
            }
            entry
        })
        .collect();
    [(CERTIFICATES.to_owned(), json_dumps(&Value::Array(items)))].into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSR: &str =
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";

    #[test]
    fn requirer_databag_is_a_json_list_with_ca_false() {
        let bag = render_requirer(CSR);
        let value: Value = serde_json::from_str(&bag[CERTIFICATE_SIGNING_REQUESTS]).unwrap();
        assert_eq!(
            value,
            json!([{"certificate_signing_request": CSR, "ca": false}])
        );
        assert_eq!(published_csr(&bag).as_deref(), Some(CSR));
        assert_eq!(published_csr(&Databag::new()), None);
    }

    #[test]
    fn provider_entries_match_requests_ignoring_the_trailing_newline() {
        let entry = ProviderCertificate {
            certificate_signing_request: CSR.trim_end().to_owned(),
            certificate: "cert".into(),
            ca: "ca".into(),
            chain: vec!["cert".into(), "ca".into()],
            revoked: false,
        };
        assert!(entry.answers(CSR));
        let parsed = parse_provider(&render_provider(std::slice::from_ref(&entry))).unwrap();
        assert_eq!(parsed, [entry]);
    }

    #[test]
    fn provider_extra_keys_are_tolerated() {
        let raw = json!([{
            "ca": "ca", "certificate_signing_request": "csr", "certificate": "cert",
            "chain": ["cert", "ca"], "revoked": true, "recommended_expiry_notification_time": 5
        }])
        .to_string();
        let mut bag: Databag = [(CERTIFICATES.to_owned(), raw)].into();
        bag.insert("request_errors".into(), "[]".into());
        let parsed = parse_provider(&bag).unwrap();
        assert!(parsed[0].revoked);
        assert_eq!(parsed[0].chain, ["cert", "ca"]);
    }

    #[test]
    fn bad_provider_data_names_the_field() {
        for raw in [
            "not json",
            "{}",
            r#"[{"ca": 1}]"#,
            r#"[{"ca":"a","certificate":"b","certificate_signing_request":"c","revoked":"yes"}]"#,
        ] {
            let bag: Databag = [(CERTIFICATES.to_owned(), raw.to_owned())].into();
            let error = parse_provider(&bag).unwrap_err();
            assert_eq!(error.field, CERTIFICATES, "{raw}");
        }
        assert_eq!(parse_provider(&Databag::new()), Ok(Vec::new()));
    }

    /// A PEM certificate block around `base64` (the server reads the base64, not the DER).
    fn block(base64: &str) -> String {
        format!("-----BEGIN CERTIFICATE-----\n{base64}\n-----END CERTIFICATE-----")
    }

    const LEAF: &str = "TEVBRg==";
    const CA_DER: &str = "Q0E=";
    const INTERMEDIATE: &str = "SU5URVJNRURJQVRF";

    #[test]
    fn served_chain_is_leaf_first_one_block_per_line() {
        let entry = ProviderCertificate {
            certificate_signing_request: String::new(),
            certificate: block(LEAF),
            ca: block(CA_DER),
            chain: vec![block(LEAF) + "\n", block(CA_DER)],
            revoked: false,
        };
        assert_eq!(
            entry.served_chain(),
            format!("{}\n{}\n", block(LEAF), block(CA_DER))
        );
        let alone = ProviderCertificate {
            chain: Vec::new(),
            ..entry
        };
        assert_eq!(alone.served_chain(), block(LEAF) + "\n");
    }

    /// Found by the `certificates` fuzz target: a chain whose first block was not the
    /// certificate was served as is, so the file's leaf was not the certificate checked (nor
    /// one the key matches); and a chain block that is not valid PEM made the server refuse
    /// the file.
    #[test]
    fn served_chain_starts_with_the_certificate_and_keeps_only_readable_blocks() {
        let entry = |chain: &[String]| ProviderCertificate {
            certificate_signing_request: String::new(),
            certificate: block(LEAF) + "\n",
            ca: block(CA_DER),
            chain: chain.to_vec(),
            revoked: false,
        };
        let (leaf, ca, intermediate) = (block(LEAF), block(CA_DER), block(INTERMEDIATE));
        let truncated = "-----BEGIN CERTIFICATE-----\nTEVB-----END CERTIFICATE-----".to_owned();
        let table = [
            (vec![ca.clone(), leaf.clone()], vec![&leaf, &ca]),
            (vec!["GARBAGE".into(), ca.clone()], vec![&leaf, &ca]),
            (vec![truncated, ca.clone()], vec![&leaf, &ca]),
            (
                vec![intermediate.clone(), leaf.clone(), ca.clone()],
                vec![&leaf, &intermediate, &ca],
            ),
            (vec![format!(" {leaf} ")], vec![&leaf]),
        ];
        for (chain, served) in table {
            let expected: String = served.iter().map(|b| format!("{b}\n")).collect();
            assert_eq!(entry(&chain).served_chain(), expected, "{chain:?}");
        }
    }
}
