//! The provider's `certificates` value is untrusted relation data that the charm parses, matches
//! against its own request and reads certificates from (x509 validity and public key) in every
//! hook. Input: the value of the provider's `certificates` key, any bytes (a databag value is
//! text, so non-UTF-8 input is dropped).
//!
//! Properties, beyond "no panic, no hang":
//! - what `parse_provider` accepts renders back (`render_provider`) and parses to the same;
//! - a certificate's renewal time lies within its validity;
//! - `tls::decide`, for a unit whose request (fixtures/certificates/unit.csr.pem) is published,
//!   at several times and with or without installed files: https is served exactly when files
//!   are installed, the served file reads as the server reads it (every PEM section valid, at
//!   least one certificate), and its leaf is for the unit's key and valid at that time.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use oathkeeper_charm::Snapshot;
use oathkeeper_charm::relation::Databag;
use oathkeeper_charm::relation::certificates::{
    CERTIFICATES, parse_provider, render_provider, render_requirer,
};
use oathkeeper_charm::snapshot::Relation;
use oathkeeper_charm::tls::{
    InstalledTls, PrivateKeyState, TlsState, certificate_info, decide, request_info,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// Our unit's request: subject CN and DNS SAN `oathkeeper.iam.svc.cluster.local`.
const CSR: &str = include_str!("../fixtures/certificates/unit.csr.pem");
/// The public half of the request's key, as the snapshot holds it.
static PUBLIC_KEY: LazyLock<String> = LazyLock::new(|| {
    request_info(CSR)
        .expect("the fixture is a request")
        .public_key
});

/// Hook times: before any validity, inside the seeds' (2026-12-06 to 2036-12-03), and the
/// extremes.
const TIMES: [i64; 4] = [0, 1_800_000_000, i64::MIN, i64::MAX];

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let bag: Databag = [(CERTIFICATES.to_owned(), value.to_owned())].into();
    let parsed = parse_provider(&bag);
    if let Ok(entries) = &parsed {
        assert_eq!(
            parse_provider(&render_provider(entries)).as_ref(),
            Ok(entries),
            "rendered entries parse back the same"
        );
        for entry in entries {
            let _ = entry.answers(CSR);
            let _ = request_info(&entry.certificate_signing_request);
            let blocks = entry.chain.iter().chain([&entry.certificate, &entry.ca]);
            for info in blocks.filter_map(|pem| certificate_info(pem)) {
                let renewal = info.renewal_time();
                if info.not_before <= info.not_after {
                    assert!(
                        info.not_before <= renewal && renewal <= info.not_after,
                        "{info:?}: renewal at {renewal}"
                    );
                }
            }
        }
    }
    // What a later hook sees once the first answer is installed.
    let installed = parsed.ok().and_then(|entries| {
        entries.first().map(|entry| InstalledTls {
            certificate: entry.served_chain(),
            ca: entry.ca.clone(),
        })
    });
    for now in TIMES {
        for installed in [None, installed.clone()] {
            let snapshot = snapshot(&bag, installed, now);
            let decision = decide(&snapshot);
            assert_eq!(decision.serve, decision.files.is_some(), "{decision:?}");
            if let Some(files) = &decision.files {
                // The server's reading of the file: it refuses any section that is not valid.
                let sections: Result<Vec<_>, _> =
                    CertificateDer::pem_slice_iter(files.certificate.as_bytes()).collect();
                let sections = sections.expect("the served file reads as the server reads it");
                assert!(!sections.is_empty(), "no certificate served");
                let leaf = certificate_info(&files.certificate).expect("a served certificate");
                assert_eq!(
                    leaf.public_key, *PUBLIC_KEY,
                    "served a leaf for another key"
                );
                assert!(leaf.valid_at(now), "served {leaf:?} at {now}");
            }
        }
    }
});

/// A unit related to a provider whose app databag is `provider`, with our key and request in
/// place, Pebble answering and `dev` off.
fn snapshot(provider: &Databag, installed: Option<InstalledTls>, now: i64) -> Snapshot {
    let mut snapshot = Snapshot {
        model: "iam".to_owned(),
        app: "oathkeeper".to_owned(),
        unit: "oathkeeper/0".to_owned(),
        ..Snapshot::default()
    };
    snapshot.container.can_connect = true;
    snapshot.relations.certificates = Some(Relation {
        id: 7,
        remote_app: "self-signed-certificates".to_owned(),
        remote_app_data: provider.clone(),
        local_unit_data: render_requirer(CSR),
        ..Relation::default()
    });
    snapshot.tls = TlsState {
        private_key: Some(PrivateKeyState {
            secret_id: "secret:key".to_owned(),
            public_key: Some(PUBLIC_KEY.clone()),
        }),
        installed,
        now,
    };
    snapshot
}
