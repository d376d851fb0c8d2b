//! The half-switch invariant over generated snapshots: whatever the certificates relation, the
//! key, the request, the provider's answer (valid, due for renewal, expired, revoked, for
//! another key, garbage), the installed files, `dev` and Pebble's reachability, the layer's TLS
//! environment, the `alive` check's scheme, forward-auth's `decisions_address` and
//! oathkeeper-info's `public_endpoint` agree, and https is only ever served with a usable
//! certificate for our key.

use std::sync::OnceLock;

use harness::certificates::{CertificateProvider, Validity, unix_now};
use proptest::prelude::*;

use super::*;
use crate::plan::{Effect, plan};
use crate::relation::certificates::{self, ProviderCertificate};
use crate::relation::{forward_auth, oathkeeper_info};
use crate::snapshot::Relation;
use crate::tls::{self, InstalledTls, PrivateKeyState};

const HOST: &str = "oathkeeper.testing.svc.cluster.local";

/// Keys, requests and certificates made once (signing is slow-ish).
struct Material {
    /// Our key's public half.
    public_key: String,
    /// Requests: ours, our renewal, another key's, ours for another name.
    csrs: Vec<String>,
    /// Provider entries: (entry, whether it is usable for our current request `csrs[0]`).
    entries: Vec<ProviderCertificate>,
}

fn entry(provider: &CertificateProvider, csr: &str, revoked: bool) -> ProviderCertificate {
    let issued = provider.issued().last().unwrap();
    ProviderCertificate {
        certificate_signing_request: csr.trim().to_owned(),
        certificate: issued.certificate.clone(),
        ca: provider.ca_pem().to_owned(),
        chain: vec![issued.certificate.clone(), provider.ca_pem().to_owned()],
        revoked,
    }
}

fn signed(csr: &str, validity: Validity, revoked: bool) -> ProviderCertificate {
    let mut provider = CertificateProvider::new("self-signed-certificates");
    provider
        .sign_requests(&certificates::render_requirer(csr), validity)
        .unwrap();
    entry(&provider, csr, revoked)
}

fn material() -> &'static Material {
    static MATERIAL: OnceLock<Material> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let ours = tls::generate_private_key().unwrap();
        let other = tls::generate_private_key().unwrap();
        let csrs = vec![
            tls::certificate_signing_request(&ours, HOST).unwrap(),
            tls::certificate_signing_request(&ours, HOST).unwrap(),
            tls::certificate_signing_request(&other, HOST).unwrap(),
            tls::certificate_signing_request(&ours, "other.testing.svc.cluster.local").unwrap(),
        ];
        let now = unix_now();
        let expired = Validity {
            not_before: now - 100 * 86_400,
            not_after: now - 86_400,
        };
        let entries = vec![
            signed(&csrs[0], Validity::days(90), false),
            signed(&csrs[0], Validity::elapsed_percent(95), false),
            signed(&csrs[0], expired, false),
            signed(&csrs[0], Validity::days(90), true),
            signed(&csrs[1], Validity::days(90), false),
            signed(&csrs[2], Validity::days(90), false),
        ];
        Material {
            public_key: tls::public_key(&ours).unwrap(),
            csrs,
            entries,
        }
    })
}

#[derive(Debug, Clone)]
struct Case {
    related: bool,
    /// 0: no key, 1: ours (read), 2: recorded but not read (gone).
    key: usize,
    /// 0: none, 1..=4: `csrs[i - 1]`, 5: garbage.
    published: usize,
    /// Which provider entries are in its databag.
    entries: Vec<usize>,
    garbage_provider: bool,
    /// 0: none, 1..: the chain of `entries[i - 1]`.
    installed: usize,
    dev: bool,
    can_connect: bool,
    /// What the leader published before: `None`, http or https.
    published_https: Option<bool>,
}

impl Case {
    /// Related, our key read and our request published; nothing answered or installed yet;
    /// Pebble answers, `dev` off, nothing published before.
    fn requested() -> Case {
        Case {
            related: true,
            key: 1,
            published: 1,
            entries: vec![],
            garbage_provider: false,
            installed: 0,
            dev: false,
            can_connect: true,
            published_https: None,
        }
    }
}

prop_compose! {
    /// Each field of [`Case`] beside the strategy that draws it.
    fn case()(
        related in any::<bool>(),
        key in 0..3usize,
        published in 0..6usize,
        entries in proptest::sample::subsequence((0..6usize).collect::<Vec<_>>(), 0..=3),
        garbage_provider in prop::bool::weighted(0.1),
        installed in 0..7usize,
        dev in prop::bool::weighted(0.2),
        can_connect in prop::bool::weighted(0.8),
        published_https in prop::option::of(any::<bool>()),
    ) -> Case {
        Case {
            related,
            key,
            published,
            entries,
            garbage_provider,
            installed,
            dev,
            can_connect,
            published_https,
        }
    }
}

fn snapshot(case: &Case) -> Snapshot {
    let m = material();
    let mut s = Snapshot::ready().leader();
    s.config.dev = case.dev;
    s.container.can_connect = case.can_connect;
    s = s
        .with_forward_auth(5, Some(&[]))
        .with_oathkeeper_info(6, "admin-ui");
    if let Some(https) = case.published_https {
        let scheme = if https { "https" } else { "http" };
        s.relations.forward_auth[0].local_app_data = bag(&[(
            forward_auth::DECISIONS_ADDRESS,
            &format!("{scheme}://{HOST}:4456/decisions"),
        )]);
        s.relations.oathkeeper_info[0].local_app_data = bag(&[(
            oathkeeper_info::PUBLIC_ENDPOINT,
            &format!("{scheme}://{HOST}:4456"),
        )]);
    }
    s.tls.now = i64::try_from(unix_now()).unwrap();
    s.tls.private_key = match case.key {
        0 => None,
        1 => Some(PrivateKeyState {
            secret_id: "secret:ours".into(),
            public_key: Some(m.public_key.clone()),
        }),
        _ => Some(PrivateKeyState {
            secret_id: "secret:gone".into(),
            public_key: None,
        }),
    };
    if case.related {
        let local_unit_data = match case.published {
            0 => Databag::new(),
            5 => bag(&[(certificates::CERTIFICATE_SIGNING_REQUESTS, "[{\"x\": 1}]")]),
            i => certificates::render_requirer(&m.csrs[i - 1]),
        };
        let remote_app_data = if case.garbage_provider {
            bag(&[(certificates::CERTIFICATES, "{\"not\": \"a list\"}")])
        } else {
            let chosen: Vec<ProviderCertificate> =
                case.entries.iter().map(|&i| m.entries[i].clone()).collect();
            certificates::render_provider(&chosen)
        };
        s.relations.certificates = Some(Relation {
            id: 9,
            remote_app: "self-signed-certificates".into(),
            remote_units: vec!["self-signed-certificates/0".into()],
            remote_app_data,
            local_unit_data,
            ..Relation::default()
        });
    }
    if case.can_connect && case.installed > 0 {
        let e = &m.entries[case.installed - 1];
        s.tls.installed = Some(InstalledTls {
            certificate: e.served_chain(),
            ca: e.ca.clone(),
        });
    }
    s
}

fn https(url: &str) -> bool {
    url.starts_with("https://")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_layer_check_and_published_addresses_never_disagree_on_the_scheme(case in case()) {
        let s = snapshot(&case);
        let desired = reconcile(&s);
        let serve = desired.tls.serve;
        let leader = desired.leader.as_ref().unwrap();
        let app_bag = |endpoint: &str| {
            leader
                .app_relation_data
                .iter()
                .find(|w| w.endpoint == endpoint)
                .map(|w| w.data.clone())
                .unwrap()
        };
        prop_assert_eq!(https(&app_bag(forward_auth::ENDPOINT)[forward_auth::DECISIONS_ADDRESS]), serve);
        prop_assert_eq!(https(&app_bag(oathkeeper_info::ENDPOINT)[oathkeeper_info::PUBLIC_ENDPOINT]), serve);
        match &desired.layer {
            Some(layer) => {
                prop_assert!(case.can_connect);
                let env = &layer.services[workload::SERVICE].environment;
                prop_assert_eq!(env.contains_key(tls::CERT_PATH_ENV), serve);
                prop_assert_eq!(env.contains_key(tls::KEY_PATH_ENV), serve);
                let url = layer.checks[workload::ALIVE_CHECK].http.as_ref().unwrap().url.clone().unwrap();
                prop_assert_eq!(https(&url), serve);
            }
            None => prop_assert!(!case.can_connect),
        }
        if case.can_connect {
            // Served only with files to serve, never in dev mode, never without the relation.
            prop_assert_eq!(serve, desired.tls.files.is_some());
            prop_assert!(!serve || (!case.dev && case.related));
        } else {
            // Nothing moves when the files cannot: the scheme stays as published.
            prop_assert_eq!(serve, case.published_https == Some(true));
        }
        if let Some(files) = &desired.tls.files {
            // A served certificate is for our key, valid now, and not revoked.
            let info = tls::certificate_info(&files.certificate).unwrap();
            prop_assert_eq!(&info.public_key, &material().public_key);
            prop_assert!(info.valid_at(s.tls.now));
            let leaf = files.certificate.trim();
            let revoked = s.relations.certificates.as_ref().map(|r| {
                certificates::parse_provider(&r.remote_app_data)
                    .unwrap_or_default()
                    .iter()
                    .any(|e| e.revoked && leaf.starts_with(e.certificate.trim()))
            });
            prop_assert_ne!(revoked, Some(true));
        }
        // The files go in before the layer that names them.
        let effects = plan(&s, &desired).items;
        let position = |wanted: fn(&Effect) -> bool| effects.iter().position(wanted);
        if let (Some(files), Some(layer)) = (
            position(|e| matches!(e, Effect::InstallTlsFiles(_))),
            position(|e| matches!(e, Effect::AddLayer { .. })),
        ) {
            prop_assert!(files < layer);
        }
        // Files go after the replan that stops the server reading them.
        if let (Some(replan), Some(remove)) = (
            position(|e| matches!(e, Effect::Replan)),
            position(|e| matches!(e, Effect::RemoveTlsFiles)),
        ) {
            prop_assert!(replan < remove);
        }
        // What needs no randomness (everything but a new key or request) converges in one hook.
        let randomised = effects.iter().any(|e| {
            matches!(e, Effect::CreatePrivateKey | Effect::RequestCertificate { .. })
        });
        if !randomised {
            let after = crate::plan::simulate(&s, &crate::plan::Effects { items: effects.clone() });
            let again = plan(&after, &reconcile(&after));
            prop_assert!(again.is_empty(), "second hook: {:?}", again.items);
        }
        // Without the relation, the key goes and nothing is requested.
        if !case.related {
            prop_assert_eq!(desired.tls.request, None);
            prop_assert_eq!(
                matches!(desired.tls.key, tls::KeyAction::Remove { .. }),
                case.key != 0
            );
        }
    }
}

#[test]
fn the_generated_cases_reach_https_and_renewal() {
    let served = Case {
        entries: vec![0],
        ..Case::requested()
    };
    let desired = reconcile(&snapshot(&served));
    assert!(desired.tls.serve);
    assert_eq!(desired.tls.request, None);
    // Due for renewal: still served, and a new request for the same key.
    let due = Case {
        entries: vec![1],
        ..served
    };
    let desired = reconcile(&snapshot(&due));
    assert!(desired.tls.serve);
    assert_eq!(desired.tls.request, Some(9));
}

#[test]
fn each_reason_for_a_new_request_and_what_is_served_meanwhile() {
    let base = Case::requested();
    // (case, a new request, served)
    let table: Vec<(&str, Case, bool, bool)> = vec![
        (
            "no key yet",
            Case {
                key: 0,
                ..base.clone()
            },
            true,
            false,
        ),
        (
            "the key's secret is gone",
            Case {
                key: 2,
                ..base.clone()
            },
            true,
            false,
        ),
        (
            "nothing published",
            Case {
                published: 0,
                ..base.clone()
            },
            true,
            false,
        ),
        (
            "published for another key",
            Case {
                published: 3,
                ..base.clone()
            },
            true,
            false,
        ),
        (
            "published for another name",
            Case {
                published: 4,
                ..base.clone()
            },
            true,
            false,
        ),
        (
            "unreadable request",
            Case {
                published: 5,
                ..base.clone()
            },
            true,
            false,
        ),
        ("not answered yet", base.clone(), false, false),
        (
            "answered",
            Case {
                entries: vec![0],
                ..base.clone()
            },
            false,
            true,
        ),
        (
            "due for renewal",
            Case {
                entries: vec![1],
                ..base.clone()
            },
            true,
            true,
        ),
        (
            "expired",
            Case {
                entries: vec![2],
                ..base.clone()
            },
            true,
            false,
        ),
        (
            "revoked",
            Case {
                entries: vec![3],
                ..base.clone()
            },
            true,
            false,
        ),
        (
            "revoked while installed",
            Case {
                entries: vec![3],
                installed: 4,
                ..base.clone()
            },
            true,
            false,
        ),
        (
            "renewal pending, the installed one still valid",
            Case {
                published: 2,
                entries: vec![],
                installed: 1,
                ..base.clone()
            },
            false,
            true,
        ),
        (
            "renewal pending, the installed one expired",
            Case {
                published: 2,
                entries: vec![],
                installed: 3,
                ..base.clone()
            },
            false,
            false,
        ),
        (
            "another unit's certificate installed",
            Case {
                entries: vec![],
                installed: 6,
                ..base.clone()
            },
            false,
            false,
        ),
        (
            "dev",
            Case {
                entries: vec![0],
                dev: true,
                ..base
            },
            false,
            false,
        ),
    ];
    for (name, case, request, served) in table {
        let desired = reconcile(&snapshot(&case));
        assert_eq!(desired.tls.request.is_some(), request, "{name}: request");
        assert_eq!(desired.tls.serve, served, "{name}: served");
    }
}

#[test]
fn an_unparsable_certificate_for_our_request_is_a_status_naming_the_field() {
    let m = material();
    let mut s = snapshot(&Case::requested());
    let mut broken = m.entries[0].clone();
    broken.certificate = "not a certificate".into();
    s.relations.certificates.as_mut().unwrap().remote_app_data =
        certificates::render_provider(&[broken]);
    let desired = reconcile(&s);
    assert!(!desired.tls.serve);
    assert_eq!(
        desired.unit_status.message,
        "Invalid certificates data from self-signed-certificates: certificates: the certificate answering our request is not a PEM certificate"
    );
}
