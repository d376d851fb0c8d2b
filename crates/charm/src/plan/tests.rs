use super::*;
use crate::desired::Scope;
use crate::kubernetes::{ACCESS_RULES_CONFIG_MAP, KubernetesObjects};
use crate::reconcile::reconcile;
use crate::relation::auth_proxy::AuthProxyConfig;
use crate::status::{StatusKind, StatusValue};
use crate::testing::{bag, requirer};

/// A small deterministic generator (xorshift64*), so failures reproduce from the seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const APPS: [&str; 4] = ["app", "app-other", "spark", "grafana"];

fn requirer_data(g: &mut Gen, app: &str) -> Databag {
    match g.below(6) {
        0 => Databag::new(),
        1 => bag(&[("protected_urls", "invalid-url")]),
        2 => bag(&[
            ("protected_urls", r#"["https://x.example.com"]"#),
            ("allowed_endpoints", "[]"),
            ("headers", r#"["X-Bad"]"#),
        ]),
        3 => crate::relation::auth_proxy::render(&requirer(
            &[&format!("https://host.example.com/{app}")],
            &[],
            &["X-User"],
        )),
        4 => crate::relation::auth_proxy::render(&requirer(
            &[
                &format!("https://host.example.com/{app}"),
                &format!("http://10.0.0.1/{app}/"),
            ],
            &["welcome", "about/app"],
            &["X-Email", "X-User"],
        )),
        _ => crate::relation::auth_proxy::render(&AuthProxyConfig {
            protected_urls: vec![format!("https://{app}.example.com")],
            allowed_endpoints: vec!["static".into()],
            headers: vec!["X-Name".into()],
        }),
    }
}

fn random_bag(g: &mut Gen) -> Databag {
    match g.below(3) {
        0 => Databag::new(),
        1 => bag(&[("stale", "1")]),
        _ => bag(&[
            (
                "auth_proxy_9",
                r#"{"access_rules_filenames": ["access-rules-gone-deny.json"]}"#,
            ),
            ("cert", "x"),
        ]),
    }
}

fn generate(seed: u64) -> Snapshot {
    let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut s = if g.coin() {
        Snapshot::ready()
    } else {
        Snapshot::fresh()
    };
    s.leader = g.coin();
    s.config.dev = g.coin();
    s.config.config_source = match g.below(3) {
        0 => crate::workload::KUBERNETES_API,
        1 => crate::workload::MOUNTED_VOLUMES,
        _ => "nfs",
    }
    .to_owned();
    s.container.service_running = g.coin();
    if g.coin() {
        let config_source = if g.coin() {
            crate::workload::ConfigSource::KubernetesApi
        } else {
            crate::workload::ConfigSource::MountedVolumes
        };
        s.container
            .plan
            .combine(&crate::workload::layer(config_source, &s.model));
    }
    s.container.workload_version = g.coin().then(|| "0.40.6".to_owned());
    s.recorded_workload_version = g.coin().then(|| "0.40.5".to_owned());
    s.kubernetes = match g.below(4) {
        0 => ClusterState::NotObserved,
        1 => ClusterState::Forbidden,
        _ => {
            let mut objects = KubernetesObjects::default();
            if g.coin() {
                let data = bag(&[
                    ("admin_ui_rules.json", "[]"),
                    ("access-rules-gone-deny.json", "[{'id': 'gone:0:deny'}]"),
                ]);
                objects.config_maps.insert(
                    ACCESS_RULES_CONFIG_MAP.into(),
                    ConfigMap {
                        labels: BTreeMap::new(),
                        data,
                    },
                );
            }
            ClusterState::Observed(objects)
        }
    };
    for id in 0..g.below(4) {
        let app = *g.pick(&APPS);
        if s.relations.auth_proxy.iter().any(|r| r.remote_app == app) {
            continue;
        }
        let data = requirer_data(&mut g, app);
        s = s.with_auth_proxy_data(10 + id, app, data);
    }
    if g.coin() {
        let names: Vec<&str> = APPS.iter().copied().filter(|_| g.coin()).collect();
        s = s.with_forward_auth(20, if g.coin() { Some(&names) } else { None });
    }
    if g.coin() {
        s = s.with_kratos(
            30,
            "http://kratos.testing.svc.cluster.local:4433/sessions/whoami",
            "https://iam.example.com/login",
        );
    }
    for id in 0..g.below(3) {
        s = s.with_oathkeeper_info(40 + id, "admin-ui");
    }
    if g.coin() {
        s = s.with_ingress(
            50,
            g.coin().then_some("http://ingress:80/testing-oathkeeper"),
        );
    }
    for id in 0..g.below(3) {
        s = s.with_metrics_endpoint(60 + id, "10.1.0.7");
    }
    for id in 0..g.below(3) {
        s = s.with_grafana_dashboard(80 + id);
    }
    if g.coin() {
        let mut units = Vec::new();
        for unit in ["loki/0", "loki/1"] {
            let endpoint = match g.below(4) {
                0 => None,
                1 => Some("not json"),
                2 => Some(
                    r#"{"url": "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push"}"#,
                ),
                _ => Some(
                    r#"{"url": "http://loki-1.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push"}"#,
                ),
            };
            if g.coin() {
                units.push((unit, endpoint));
            }
        }
        s = s.with_logging(70, &units);
    }
    if g.coin() {
        let receivers = match g.below(5) {
            0 => None,
            1 => Some("not json".to_owned()),
            2 => Some(crate::testing::tempo_receivers(
                "http://tempo:4318/v1/traces",
            )),
            3 => Some(crate::testing::tempo_receivers(crate::testing::TEMPO_URL)),
            _ => Some(crate::testing::tempo_receivers("https://tempo-1.cos:4318")),
        };
        s = s.with_tracing(90, receivers.as_deref());
    }
    if g.coin() {
        // Ory's server (kept by a refresh): tracing goes through the environment.
        s.container.server = Some(crate::workload::Server::Ory("v0.40.6".to_owned()));
    }
    if g.coin() {
        // A Loki unit that is gone, still in the plan.
        s.container.plan.log_targets.insert(
            "loki/5".into(),
            juju::pebble::layer::LogTarget {
                type_: Some("loki".into()),
                location: Some("http://gone:3100/loki/api/v1/push".into()),
                services: vec!["all".into()],
                ..Default::default()
            },
        );
    }
    if g.coin() {
        s.relations.peer = None;
    }
    // Whatever a previous leader may have left in our own bags.
    let mut extra = Vec::new();
    for _ in 0..12 {
        extra.push(random_bag(&mut g));
    }
    let mut extra = extra.into_iter();
    let r = &mut s.relations;
    for rel in r
        .forward_auth
        .iter_mut()
        .chain(r.oathkeeper_info.iter_mut())
        .chain(r.ingress.iter_mut())
        .chain(r.peer.iter_mut())
        .chain(r.metrics_endpoint.iter_mut())
        .chain(r.logging.iter_mut())
        .chain(r.grafana_dashboard.iter_mut())
        .chain(r.tracing.iter_mut())
    {
        rel.local_app_data = extra.next().unwrap_or_default();
    }
    for rel in &mut r.metrics_endpoint {
        if g.coin() {
            rel.local_unit_data = bag(&[
                ("prometheus_scrape_unit_path", "/old"),
                ("ingress-address", "10.1.0.7"),
            ]);
        }
    }
    s.unit_status = g
        .coin()
        .then(|| StatusValue::new(StatusKind::Maintenance, "x"));
    s
}

const CASES: u64 = 256;

#[test]
fn non_leader_never_gets_a_leader_only_effect() {
    for seed in 0..CASES {
        let mut snapshot = generate(seed);
        snapshot.leader = false;
        let desired = reconcile(&snapshot);
        assert_eq!(desired.leader, None, "seed {seed}");
        let effects = plan(&snapshot, &desired);
        let leader_only: Vec<&Effect> = effects
            .items
            .iter()
            .filter(|e| e.is_leader_only())
            .collect();
        assert!(leader_only.is_empty(), "seed {seed}: {leader_only:?}");
    }
}

#[test]
fn generated_snapshots_converge_in_one_hook() {
    let mut leaders_with_effects = 0;
    for seed in 0..CASES {
        let snapshot = generate(seed);
        let desired = reconcile(&snapshot);
        let effects = plan(&snapshot, &desired);
        if snapshot.leader && !effects.is_empty() {
            leaders_with_effects += 1;
        }
        let after = simulate(&snapshot, &effects);
        let again = plan(&after, &reconcile(&after));
        assert!(
            again.is_empty(),
            "seed {seed}: second hook would write {:?}",
            again.items
        );
        assert_eq!(reconcile(&after), reconcile(&after.clone()), "seed {seed}");
    }
    // The generator exercises leaders that have work to do.
    assert!(leaders_with_effects > CASES / 10, "{leaders_with_effects}");
}

#[test]
fn leader_writes_reach_kubernetes_relations_and_pebble() {
    let snapshot = Snapshot::ready()
        .leader()
        .mounted()
        .with_auth_proxy(
            3,
            "spark",
            &requirer(&["https://example.com"], &["welcome"], &["X-User"]),
        )
        .with_forward_auth(5, Some(&["spark"]));
    let effects = plan(&snapshot, &reconcile(&snapshot));
    let kinds: Vec<&str> = effects
        .items
        .iter()
        .map(|e| match e {
            Effect::CreateConfigMap { .. } => "create-configmap",
            Effect::PatchConfigMap { .. } => "patch-configmap",
            Effect::DeleteConfigMap { .. } => "delete-configmap",
            Effect::PatchStatefulSet { .. } => "patch-statefulset",
            Effect::PatchService { .. } => "patch-service",
            Effect::SetRelationData { .. } => "relation-set",
            Effect::AddLayer { .. } => "add-layer",
            Effect::Replan => "replan",
            Effect::SetUnitStatus(_) => "unit-status",
            Effect::SetAppStatus(_) => "app-status",
            Effect::SetWorkloadVersion(_) => "version",
            Effect::RecordServer(_) => "record-server",
            Effect::CreatePrivateKey => "create-key",
            Effect::RequestCertificate { .. } => "request-certificate",
            Effect::InstallTlsFiles(_) => "install-tls",
            Effect::RemoveTlsFiles => "remove-tls",
            Effect::Restart => "restart",
            Effect::ExpireKeyAtRenewal { .. } => "expire-key",
            Effect::RemovePrivateKey { .. } => "remove-key",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "create-configmap",
            "create-configmap",
            "patch-statefulset",
            "patch-service",
            "add-layer",
            "replan",
            "relation-set",
            "relation-set",
            "unit-status",
            "app-status"
        ]
    );
}

#[test]
fn repeated_hook_only_reads() {
    let converged = Snapshot::ready()
        .leader()
        .with_auth_proxy(
            3,
            "spark",
            &requirer(&["https://example.com"], &["welcome"], &["X-User"]),
        )
        .with_forward_auth(5, Some(&["spark"]))
        .with_kratos(7, "http://k/sessions/whoami", "http://k/login")
        .with_ingress(2, Some("http://ingress/testing-oathkeeper"))
        .with_oathkeeper_info(9, "admin-ui")
        .converged();
    assert_eq!(plan(&converged, &reconcile(&converged)), Effects::default());
}

#[test]
fn configmap_patch_sends_only_changed_keys() {
    let converged = Snapshot::ready()
        .leader()
        .with_oathkeeper_info(9, "admin-ui")
        .converged();
    let changed = converged.with_auth_proxy(
        3,
        "spark",
        &requirer(&["https://example.com"], &[], &["X-User"]),
    );
    let effects = plan(&changed, &reconcile(&changed));
    let Some(Effect::PatchConfigMap { set, remove, .. }) = effects.items.iter().find(
        |e| matches!(e, Effect::PatchConfigMap { name, .. } if name == ACCESS_RULES_CONFIG_MAP),
    ) else {
        panic!("no access-rules patch in {effects:?}");
    };
    assert_eq!(
        set.keys().collect::<Vec<_>>(),
        ["access-rules-spark-deny.json"]
    );
    assert!(remove.is_empty());
}

#[test]
fn stopped_service_with_current_plan_is_only_replanned() {
    let mut snapshot = Snapshot::ready().converged();
    snapshot.container.service_running = false;
    let effects = plan(&snapshot, &reconcile(&snapshot));
    assert_eq!(effects.items[0], Effect::Replan);
    assert!(
        !effects
            .items
            .iter()
            .any(|e| matches!(e, Effect::AddLayer { .. }))
    );
}

#[test]
fn changed_layer_is_added_and_replanned() {
    let mut snapshot = Snapshot::ready().converged();
    snapshot
        .container
        .plan
        .services
        .get_mut(crate::workload::SERVICE)
        .unwrap()
        .command = Some("oathkeeper serve".into());
    let effects = plan(&snapshot, &reconcile(&snapshot));
    assert!(matches!(effects.items[0], Effect::AddLayer { .. }));
    assert_eq!(effects.items[1], Effect::Replan);
}

#[test]
fn remove_deletes_existing_configmaps_on_the_leader_only() {
    let converged = Snapshot::ready().leader().converged();
    assert_eq!(
        teardown(&converged).items,
        [
            Effect::DeleteConfigMap {
                name: "access-rules".into()
            },
            Effect::DeleteConfigMap {
                name: "oathkeeper-config".into()
            }
        ]
    );
    let gone = simulate(&converged, &teardown(&converged));
    assert_eq!(teardown(&gone), Effects::default());
    let mut follower = converged;
    follower.leader = false;
    assert_eq!(teardown(&follower), Effects::default());
}

/// Reads a databag value as the Python libs' `_load_data` does: JSON when it parses, else the
/// raw string.
fn load(value: &str) -> serde_json::Value {
    serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()))
}

fn is_string_array(v: &serde_json::Value) -> bool {
    v.as_array()
        .is_some_and(|a| a.iter().all(serde_json::Value::is_string))
}

/// The schemas of spec §5 for what we write, per endpoint: every key, its JSON type.
fn conforms(endpoint: &str, scope: Scope, data: &Databag) -> Result<(), String> {
    let get = |key: &str| {
        data.get(key)
            .map(|v| load(v))
            .ok_or(format!("{endpoint}: missing {key}"))
    };
    match (endpoint, scope) {
        ("forward-auth", Scope::App) => {
            let address = get("decisions_address")?;
            let ok = address
                .as_str()
                .is_some_and(|a| a.starts_with("http") && a.ends_with(":4456/decisions"))
                && is_string_array(&get("app_names")?)
                && is_string_array(&get("headers")?)
                && data.len() == 3;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        ("oathkeeper-info", Scope::App) => {
            let ok = [
                "public_endpoint",
                "rules_configmap_name",
                "configmaps_namespace",
            ]
            .iter()
            .all(|k| data.get(*k).is_some_and(|v| !v.is_empty()))
                && data.len() == 3;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        ("ingress", Scope::App) => {
            let ok = get("model")?.is_string()
                && get("name")?.is_string()
                && get("port")?.is_u64()
                && get("strip-prefix")?.is_boolean()
                && data.len() == 4;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        ("ingress", Scope::Unit) => {
            let ok = get("host")?.is_string() && get("ip")?.is_string() && data.len() == 2;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        ("oathkeeper", Scope::App) => data
            .iter()
            .all(|(k, v)| {
                k.starts_with("auth_proxy_")
                    && k["auth_proxy_".len()..].parse::<u64>().is_ok()
                    && is_string_array(&load(v)["access_rules_filenames"])
            })
            .then_some(())
            .ok_or(format!("{endpoint}: {data:?}")),
        // Nothing is written there: upstream's certificate keys are only removed.
        ("oathkeeper", Scope::Unit) => data
            .is_empty()
            .then_some(())
            .ok_or(format!("{endpoint} unit: {data:?}")),
        ("metrics-endpoint", Scope::App) => {
            let jobs = get("scrape_jobs")?;
            let ok = is_topology(&get("scrape_metadata")?)
                && jobs.as_array().is_some_and(|jobs| {
                    jobs.iter().all(|job| {
                        job["metrics_path"].is_string()
                            && job["static_configs"].as_array().is_some_and(|configs| {
                                configs.iter().all(|c| is_string_array(&c["targets"]))
                            })
                    })
                })
                && is_alert_rules(&get("alert_rules")?)
                && data.len() == 3;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        ("metrics-endpoint", Scope::Unit) => {
            let ok = get("prometheus_scrape_unit_address")?
                .as_str()
                .is_some_and(|a| !a.is_empty())
                && get("prometheus_scrape_unit_name")?
                    .as_str()
                    .is_some_and(|u| u.starts_with("oathkeeper/"))
                && data.len() == 2;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        ("logging", Scope::App) => {
            let ok = is_topology(&get("metadata")?)
                && is_alert_rules(&get("alert_rules")?)
                && data.len() == 2;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        ("grafana-dashboard", Scope::App) => {
            let dashboards = get("dashboards")?;
            let template = &dashboards["templates"]["file:oathkeeper"];
            let topology = &template["juju_topology"];
            let ok = template["charm"] == "oathkeeper"
                && template["content"].as_str().is_some_and(|c| {
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, c).is_ok()
                })
                && ["model", "model_uuid", "application", "unit"]
                    .iter()
                    .all(|k| topology[k].is_string())
                && template["inject_dropdowns"] == true
                && template["dashboard_alt_uid"].is_string()
                && dashboards["uuid"].as_str().is_some_and(|u| u.len() == 36)
                && data.len() == 1;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        ("tracing", Scope::App) => {
            // The library's requirer model: a JSON list of protocol names; we ask for one.
            let ok = get("receivers")? == serde_json::json!(["otlp_http"]) && data.len() == 1;
            ok.then_some(()).ok_or(format!("{endpoint}: {data:?}"))
        }
        other => Err(format!("unexpected write to {other:?}")),
    }
}

/// The topology JSON of the COS libraries: five string fields.
fn is_topology(v: &serde_json::Value) -> bool {
    ["model", "model_uuid", "application", "unit", "charm_name"]
        .iter()
        .all(|k| v[*k].is_string())
        && v.as_object().is_some_and(|o| o.len() == 5)
}

/// A rules file with topology: groups of named rules, each with the juju labels.
fn is_alert_rules(v: &serde_json::Value) -> bool {
    v["groups"].as_array().is_some_and(|groups| {
        !groups.is_empty()
            && groups.iter().all(|g| {
                g["name"].is_string()
                    && g["rules"].as_array().is_some_and(|rules| {
                        rules.iter().all(|r| {
                            r["alert"].is_string()
                                && r["expr"].is_string()
                                && [
                                    "juju_model",
                                    "juju_model_uuid",
                                    "juju_application",
                                    "juju_charm",
                                ]
                                .iter()
                                .all(|k| r["labels"][*k].is_string())
                        })
                    })
            })
    })
}

#[test]
fn every_databag_written_follows_the_spec_5_schemas() {
    for seed in 0..CASES {
        let snapshot = generate(seed);
        let desired = reconcile(&snapshot);
        let app = desired.leader.iter().flat_map(|l| &l.app_relation_data);
        for write in desired.unit_relation_data.iter().chain(app) {
            if let Err(e) = conforms(&write.endpoint, write.scope, &write.data) {
                panic!("seed {seed}: {e}");
            }
        }
    }
}

#[test]
fn every_published_rules_file_loads_into_one_index_without_overlaps() {
    use oathkeeper_core::index::{IndexEntry, RuleIndex};
    use oathkeeper_core::matcher::{Strategy, UrlMatcher};
    let mut checked = 0;
    for seed in 0..CASES {
        let snapshot = generate(seed);
        let desired = reconcile(&snapshot);
        let Some(kube) = desired.leader.as_ref().and_then(|l| l.kubernetes.as_ref()) else {
            continue;
        };
        let mut entries = Vec::new();
        for (name, content) in &kube.config_maps[ACCESS_RULES_CONFIG_MAP].data {
            if !crate::rules::is_generated_file_name(name) {
                continue;
            }
            for rule in oathkeeper_core::rule::parse_rules(content.as_bytes()).unwrap() {
                entries.push(IndexEntry {
                    methods: rule.matcher.methods,
                    matcher: UrlMatcher::compile(&rule.matcher.url, Strategy::Regexp).unwrap(),
                });
                checked += 1;
            }
        }
        let index = RuleIndex::build(entries);
        assert_eq!(index.overlaps(), Vec::<[usize; 2]>::new(), "seed {seed}");
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn issue_15_juju_keys_in_the_ingress_unit_bag_are_never_deleted() {
    let mut converged = Snapshot::ready()
        .leader()
        .with_ingress(2, Some("http://ingress/testing-oathkeeper"))
        .converged();
    let bag = &mut converged
        .relations
        .ingress
        .as_mut()
        .unwrap()
        .local_unit_data;
    for key in ["egress-subnets", "ingress-address", "private-address"] {
        bag.insert(key.to_owned(), "10.1.0.7".to_owned());
    }
    assert_eq!(plan(&converged, &reconcile(&converged)), Effects::default());
    // Our own keys are still compared and written.
    let bag = &mut converged
        .relations
        .ingress
        .as_mut()
        .unwrap()
        .local_unit_data;
    bag.remove("ip");
    let effects = plan(&converged, &reconcile(&converged));
    let [Effect::SetRelationData { set, unset, .. }] = effects.items.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(set.keys().collect::<Vec<_>>(), ["ip"]);
    assert!(unset.is_empty(), "{unset:?}");
}

#[test]
fn issue_15_service_ports_in_another_order_are_not_rewritten() {
    let mut converged = Snapshot::ready().leader().converged();
    let ClusterState::Observed(objects) = &mut converged.kubernetes else {
        panic!("not observed");
    };
    objects.service_ports.reverse();
    assert_eq!(plan(&converged, &reconcile(&converged)), Effects::default());
    // Juju's placeholder beside ours is not converged.
    let ClusterState::Observed(objects) = &mut converged.kubernetes else {
        panic!("not observed");
    };
    objects.service_ports.push(crate::kubernetes::ServicePort {
        name: "placeholder".into(),
        port: 65535,
    });
    let effects = plan(&converged, &reconcile(&converged));
    assert!(
        matches!(effects.items.as_slice(), [Effect::PatchService { .. }]),
        "{effects:?}"
    );
}

#[test]
fn issue_15_a_recorded_workload_version_is_not_set_again() {
    let mut snapshot = Snapshot::ready().converged();
    snapshot.container.workload_version = Some("v0.40.6".into());
    snapshot.recorded_workload_version = Some("v0.40.6".into());
    assert_eq!(plan(&snapshot, &reconcile(&snapshot)), Effects::default());
    snapshot.recorded_workload_version = Some("v0.40.5".into());
    assert_eq!(
        plan(&snapshot, &reconcile(&snapshot)).items,
        [Effect::SetWorkloadVersion("v0.40.6".into())]
    );
}
