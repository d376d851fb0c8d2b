//! What `reconcile` renders compiles in the server: for generated deployments, the
//! `oathkeeper.yaml` and rules files of the desired ConfigMaps are read back with the server's
//! parsers and compiled with its compiler, with no error and no warning (overlapping rules
//! included). Issue 14's "every rule the charm renders compiles in the server".
//!
//! This goes through `reconcile` rather than `oathkeeper_core::charm` alone, so the charm's own
//! part (which apps' files are written, the union of headers, Kratos' endpoints, the
//! repositories of each config source) is covered too.

use oathkeeper::snapshot::{RuleFile, compile};
use oathkeeper_core::config::{NoEnv, parse_config};
use oathkeeper_core::index::{IndexEntry, RuleIndex};
use oathkeeper_core::matcher::UrlMatcher;
use oathkeeper_core::rule::parse_rules;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use crate::kubernetes::{ACCESS_RULES_CONFIG_MAP, OATHKEEPER_CONFIG_KEY, OATHKEEPER_CONFIG_MAP};
use crate::reconcile::reconcile;
use crate::relation::auth_proxy::ALLOWED_HEADERS;
use crate::snapshot::Snapshot;
use crate::testing::{MODEL, requirer};
use crate::workload::{API_PORT, METRICS_PORT};

/// Allowed endpoints as requirers write them, literal and regular expressions, none allowing
/// a path another allows.
const ENDPOINTS: [&str; 7] = [
    "welcome",
    "about/app",
    "static/.*",
    "api/v[0-9]+/health",
    "login",
    "docs/(guide|faq)",
    "(?!private)pub",
];
/// The first path segments [`ENDPOINTS`] allow, and the one [`DENIED`] requests, which a
/// generated literal endpoint avoids.
const TAKEN: [&str; 8] = [
    "welcome", "about", "static", "api", "login", "docs", "pub", "private",
];
/// A path below every protected URL that no endpoint allows.
const DENIED: &str = "/private/page";
/// App names (a suffix letter keeps them apart).
const NAMES: [&str; 4] = ["spark-history", "grafana", "web", "admin-ui"];
/// Hosts that apps share under path prefixes.
const SHARED_HOSTS: [&str; 3] = ["shared.example.com", "10.64.140.43", "iam.example.org:8443"];

/// Where one protected URL is.
#[derive(Debug, Clone)]
struct UrlShape {
    /// On a host of its own, or under a path prefix of a shared host.
    own_host: bool,
    https: bool,
    trailing_slash: bool,
    shared_host: &'static str,
}

/// One auth-proxy requirer.
#[derive(Debug, Clone)]
struct AppShape {
    name: &'static str,
    urls: Vec<UrlShape>,
    endpoints: Vec<String>,
    headers: Vec<&'static str>,
}

/// A deployment: requirers, Kratos or not, the config source, the admin UI's rules key or not.
#[derive(Debug, Clone)]
struct Deployment {
    apps: Vec<AppShape>,
    kratos: bool,
    mounted: bool,
    admin_ui: bool,
}

fn url_shape() -> impl Strategy<Value = UrlShape> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        select(&SHARED_HOSTS[..]),
    )
        .prop_map(|(own_host, https, trailing_slash, shared_host)| UrlShape {
            own_host,
            https,
            trailing_slash,
            shared_host,
        })
}

fn endpoints() -> impl Strategy<Value = Vec<String>> {
    let literal = "[a-z]{2,8}".prop_filter("a path no fixed endpoint allows", |e| {
        !TAKEN.contains(&e.as_str())
    });
    let endpoint = prop_oneof![
        3 => select(&ENDPOINTS[..]).prop_map(str::to_owned),
        1 => literal,
    ];
    prop::collection::btree_set(endpoint, 0..=3).prop_map(|set| set.into_iter().collect())
}

/// A path that `endpoint` allows, below the protected URL.
fn allowed_path(endpoint: &str) -> String {
    let path = match endpoint {
        "static/.*" => "static/app.js",
        "api/v[0-9]+/health" => "api/v2/health",
        "docs/(guide|faq)" => "docs/faq/install",
        "(?!private)pub" => "pub",
        literal => literal,
    };
    format!("/{path}")
}

fn app_shape() -> impl Strategy<Value = AppShape> {
    (
        select(&NAMES[..]),
        prop::collection::vec(url_shape(), 1..=2),
        endpoints(),
        subsequence(ALLOWED_HEADERS.to_vec(), 0..=3),
    )
        .prop_map(|(name, urls, endpoints, headers)| AppShape {
            name,
            urls,
            endpoints,
            headers,
        })
}

fn deployment() -> impl Strategy<Value = Deployment> {
    (
        prop::collection::vec(app_shape(), 1..=6),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(apps, kratos, mounted, admin_ui)| Deployment {
            apps,
            kratos,
            mounted,
            admin_ui,
        })
}

impl AppShape {
    /// The app's name: distinct per index, as Juju spells names (no digit-only segment).
    fn app(&self, index: usize) -> String {
        format!("{}-{}", self.name, char::from(b'a' + index as u8))
    }

    /// Its protected URLs: distinct hosts or distinct path prefixes, so no two apps' URLs
    /// cover each other.
    fn protected_urls(&self, index: usize) -> Vec<String> {
        let app = self.app(index);
        self.urls
            .iter()
            .enumerate()
            .map(|(n, url)| {
                let scheme = if url.https { "https" } else { "http" };
                let slash = if url.trailing_slash { "/" } else { "" };
                if url.own_host {
                    format!("{scheme}://{app}{n}.example.com{slash}")
                } else {
                    format!("{scheme}://{}/{MODEL}-{app}-{n}-ui{slash}", url.shared_host)
                }
            })
            .collect()
    }
}

impl Deployment {
    fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::ready().leader();
        if self.mounted {
            snapshot = snapshot.mounted();
        }
        if self.kratos {
            snapshot = snapshot.with_kratos(
                7,
                "http://kratos.testing.svc.cluster.local:4433/sessions/whoami",
                "https://iam.example.com/self-service/login/browser",
            );
        }
        if self.admin_ui {
            snapshot = snapshot.with_oathkeeper_info(8, "identity-platform-admin-ui");
        }
        for (index, app) in self.apps.iter().enumerate() {
            let urls = app.protected_urls(index);
            let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
            let endpoints: Vec<&str> = app.endpoints.iter().map(String::as_str).collect();
            snapshot = snapshot.with_auth_proxy(
                10 + index as u64,
                &app.app(index),
                &requirer(&urls, &endpoints, &app.headers),
            );
        }
        snapshot
    }

    /// Per protected URL, an allow rule per endpoint and a deny rule.
    fn rule_count(&self) -> usize {
        self.apps
            .iter()
            .map(|a| a.urls.len() * (a.endpoints.len() + 1))
            .sum()
    }

    /// Requests and the rule each must find: per protected URL, the URL itself and [`DENIED`]
    /// below it find its deny rule, a path each endpoint allows finds that allow rule.
    fn expected_rules(&self) -> Vec<(String, String)> {
        let mut expected = Vec::new();
        for (index, app) in self.apps.iter().enumerate() {
            let name = app.app(index);
            for (n, url) in app.protected_urls(index).iter().enumerate() {
                let base = url.strip_suffix('/').unwrap_or(url);
                let deny = format!("{name}:{n}:deny");
                expected.push((base.to_owned(), deny.clone()));
                expected.push((format!("{base}{DENIED}"), deny));
                for endpoint in &app.endpoints {
                    expected.push((
                        format!("{base}{}", allowed_path(endpoint)),
                        format!("{name}:{endpoint}:{n}:allow"),
                    ));
                }
            }
        }
        expected
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rendered_config_and_rules_compile_in_the_server_without_a_diagnostic(
        deployment in deployment()
    ) {
        let desired = reconcile(&deployment.snapshot());
        let kubernetes = desired.leader.unwrap().kubernetes.unwrap();
        let config_maps = &kubernetes.config_maps;
        let config = parse_config(
            &config_maps[OATHKEEPER_CONFIG_MAP].data[OATHKEEPER_CONFIG_KEY],
            &NoEnv,
        )
        .unwrap();
        let rules = &config_maps[ACCESS_RULES_CONFIG_MAP].data;
        let expected_repositories: Vec<String> = if deployment.mounted {
            rules
                .keys()
                .map(|key| format!("file:///etc/config/access-rules/{key}"))
                .collect()
        } else {
            vec![format!("k8s://{MODEL}/{ACCESS_RULES_CONFIG_MAP}")]
        };
        prop_assert_eq!(&config.access_rules.repositories, &expected_repositories);
        prop_assert_eq!(config.serve.api_port(), API_PORT);
        prop_assert_eq!(config.serve.prometheus.port, METRICS_PORT);
        let files: Vec<RuleFile> = rules
            .iter()
            .map(|(key, text)| RuleFile {
                repository: key.clone(),
                rules: parse_rules(text.as_bytes()).unwrap(),
            })
            .collect();
        let rule_count: usize = files.iter().map(|f| f.rules.len()).sum();
        prop_assert_eq!(rule_count, deployment.rule_count());
        let snapshot = compile(&config, &files, Default::default());
        prop_assert!(
            snapshot.diagnostics.is_empty(),
            "{:#?}",
            snapshot.diagnostics
        );
        // The server warns of the overlaps it can see; a request per rule shows there are none.
        let rules: Vec<_> = files.iter().flat_map(|f| &f.rules).collect();
        let index = RuleIndex::build(
            rules
                .iter()
                .map(|r| IndexEntry {
                    methods: r.matcher.methods.clone(),
                    matcher: UrlMatcher::compile(&r.matcher.url, config.access_rules.matching_strategy)
                        .unwrap(),
                })
                .collect(),
        );
        for (url, id) in deployment.expected_rules() {
            let found = index.find("GET", &url).map(|i| rules[i].id.as_str());
            prop_assert_eq!(found, Ok(id.as_str()), "GET {}", url);
        }
    }
}
