use oathkeeper_core::config::{Config, NoEnv, parse_config};

use super::*;
use crate::desired::Scope;
use crate::plan::{Effect, plan};
use crate::relation::Databag;
use crate::relation::auth_proxy::AuthProxyConfig;
use crate::snapshot::Relation;
use crate::status::{StatusKind, StatusValue};
use crate::testing::{bag, requirer};

fn kube(desired: &Desired) -> &KubernetesObjects {
    desired
        .leader
        .as_ref()
        .unwrap()
        .kubernetes
        .as_ref()
        .unwrap()
}

fn rules_data(desired: &Desired) -> &BTreeMap<String, String> {
    &kube(desired).config_maps[ACCESS_RULES_CONFIG_MAP].data
}

/// The rendered `oathkeeper.yaml`, as the server reads it.
fn rendered_config(desired: &Desired) -> Config {
    parse_config(
        &kube(desired).config_maps[OATHKEEPER_CONFIG_MAP].data[OATHKEEPER_CONFIG_KEY],
        &NoEnv,
    )
    .unwrap()
}

fn app_bag<'a>(desired: &'a Desired, endpoint: &str) -> &'a Databag {
    &desired
        .leader
        .as_ref()
        .unwrap()
        .app_relation_data
        .iter()
        .find(|w| w.endpoint == endpoint)
        .unwrap_or_else(|| panic!("no {endpoint} write"))
        .data
}

fn status(kind: StatusKind, message: &str) -> StatusValue {
    StatusValue::new(kind, message)
}

fn spec_requirer() -> AuthProxyConfig {
    requirer(
        &["https://example.com"],
        &["welcome", "about/app"],
        &["X-User"],
    )
}

#[test]
fn spec_4_4_unreachable_container_waits_and_plans_no_layer() {
    let desired = reconcile(&Snapshot::fresh());
    assert_eq!(
        desired.unit_status,
        status(
            StatusKind::Waiting,
            "Waiting to connect to Oathkeeper container"
        )
    );
    assert_eq!(desired.layer, None);
    assert_eq!(desired.leader, None);
}

#[test]
fn watched_through_the_api_a_fresh_leader_needs_no_mounts_and_names_the_configmaps() {
    let snapshot = Snapshot::ready().leader();
    let desired = reconcile(&snapshot);
    assert_eq!(
        desired.layer,
        Some(workload::layer(
            workload::ConfigSource::KubernetesApi,
            &snapshot.model
        ))
    );
    let kube = kube(&desired);
    assert_eq!(kube.statefulset, PodTemplate::default());
    let config = &kube.config_maps[OATHKEEPER_CONFIG_MAP].data[OATHKEEPER_CONFIG_KEY];
    assert!(
        config.contains(&format!("k8s://{}/access-rules", snapshot.model)),
        "{config}"
    );
}

#[test]
fn an_invalid_config_source_blocks_and_keeps_the_running_source() {
    let mut snapshot = Snapshot::ready().leader();
    snapshot.container.plan =
        workload::layer(workload::ConfigSource::MountedVolumes, &snapshot.model);
    snapshot.config.config_source = "nfs".to_owned();
    let desired = reconcile(&snapshot);
    assert_eq!(desired.unit_status.kind, StatusKind::Blocked);
    assert!(
        desired.unit_status.message.contains("config-source"),
        "{:?}",
        desired.unit_status
    );
    assert_eq!(
        desired.layer,
        Some(workload::layer(
            workload::ConfigSource::MountedVolumes,
            &snapshot.model
        ))
    );
}

#[test]
fn spec_4_fresh_leader_creates_configmaps_mounts_ports_and_layer() {
    let snapshot = Snapshot::ready().leader().mounted();
    let desired = reconcile(&snapshot);
    assert_eq!(
        desired.layer,
        Some(workload::layer(
            workload::ConfigSource::MountedVolumes,
            &snapshot.model
        ))
    );
    assert_eq!(desired.unit_status, status(StatusKind::Active, ""));
    let kube = kube(&desired);
    for name in [ACCESS_RULES_CONFIG_MAP, OATHKEEPER_CONFIG_MAP] {
        assert_eq!(
            kube.config_maps[name].labels,
            BTreeMap::from([
                ("juju-app-name".to_owned(), "oathkeeper".to_owned()),
                ("app.kubernetes.io/managed-by".to_owned(), "juju".to_owned())
            ])
        );
    }
    assert!(rules_data(&desired).is_empty());
    let config = rendered_config(&desired);
    assert_eq!(
        config.access_rules,
        parse_config("access_rules: {matching_strategy: regexp}", &NoEnv)
            .unwrap()
            .access_rules
    );
    assert_eq!(
        config.authenticators.cookie_session.config.unwrap()["check_session_url"],
        "http://default-kratos-url/sessions/whoami"
    );
    assert_eq!(
        kube.service_ports,
        [
            ServicePort {
                name: "oathkeeper-api".into(),
                port: 4456
            },
            ServicePort {
                name: "metrics-port".into(),
                port: 9000
            }
        ]
    );
    let mounts: Vec<(&str, &str)> = kube
        .statefulset
        .mounts
        .iter()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("config", "/etc/config/oathkeeper"),
            ("access-rules", "/etc/config/access-rules")
        ]
    );
    let volumes: Vec<(&str, &str)> = kube
        .statefulset
        .volumes
        .iter()
        .map(|v| (v.name.as_str(), v.config_map.as_str()))
        .collect();
    assert_eq!(
        volumes,
        [
            ("config", "oathkeeper-config"),
            ("access-rules", "access-rules")
        ]
    );
}

#[test]
fn spec_6_4_requirer_rules_are_published_with_bookkeeping_and_repositories() {
    let snapshot =
        Snapshot::ready()
            .leader()
            .mounted()
            .with_auth_proxy(3, "requirer", &spec_requirer());
    let desired = reconcile(&snapshot);
    let expected = rules::render_rules("requirer", &spec_requirer()).unwrap();
    let data = rules_data(&desired);
    assert_eq!(data.len(), 2);
    assert_eq!(
        data["access-rules-requirer-allow.json"],
        expected[0].to_json()
    );
    assert_eq!(
        data["access-rules-requirer-deny.json"],
        expected[1].to_json()
    );
    assert_eq!(
        rendered_config(&desired).access_rules.repositories,
        [
            "file:///etc/config/access-rules/access-rules-requirer-allow.json",
            "file:///etc/config/access-rules/access-rules-requirer-deny.json"
        ]
    );
    // spec §5.9: the exact bookkeeping string.
    assert_eq!(
        app_bag(&desired, "oathkeeper"),
        &bag(&[(
            "auth_proxy_3",
            r#"{"access_rules_filenames": ["access-rules-requirer-allow.json", "access-rules-requirer-deny.json"]}"#
        )])
    );
}

#[test]
fn spec_5_2_forward_auth_databag_bytes() {
    let snapshot = Snapshot::ready()
        .leader()
        .with_auth_proxy(
            3,
            "spark",
            &requirer(&["https://example.com/spark"], &[], &["X-Name", "X-User"]),
        )
        .with_auth_proxy(
            4,
            "charmed-app",
            &requirer(&["https://example.com/app"], &[], &["X-Email"]),
        )
        .with_forward_auth(5, Some(&["spark", "charmed-app"]));
    let desired = reconcile(&snapshot);
    assert_eq!(
        app_bag(&desired, "forward-auth"),
        &bag(&[
            (
                "decisions_address",
                "http://oathkeeper.testing.svc.cluster.local:4456/decisions"
            ),
            ("app_names", r#"["charmed-app", "spark"]"#),
            ("headers", r#"["X-Email", "X-Name", "X-User"]"#),
        ])
    );
    assert_eq!(
        desired.unit_status,
        status(StatusKind::Active, "Identity and Access Proxy is ready")
    );
    let headers = &rendered_config(&desired).mutators.header.config.unwrap()["headers"];
    assert_eq!(headers.as_object().unwrap().len(), 3);
}

#[test]
fn spec_4_4_protected_app_missing_from_ingress_app_names_blocks() {
    let base = Snapshot::ready()
        .leader()
        .with_auth_proxy(3, "spark", &spec_requirer());
    let cases: [(Option<&[&str]>, StatusValue); 4] = [
        (
            Some(&["spark"]),
            status(StatusKind::Active, "Identity and Access Proxy is ready"),
        ),
        (
            Some(&["other"]),
            status(StatusKind::Blocked, "spark is not related via ingress"),
        ),
        // Differs from upstream (a substring test): "spark" is not in ["spark-history"].
        (
            Some(&["spark-history"]),
            status(StatusKind::Blocked, "spark is not related via ingress"),
        ),
        // Issue 15: Traefik has not written `ingress_app_names` yet: wait, do not block.
        (None, status(StatusKind::Active, "")),
    ];
    for (names, expected) in cases {
        let desired = reconcile(&base.clone().with_forward_auth(5, names));
        assert_eq!(desired.unit_status, expected, "{names:?}");
        assert_eq!(desired.leader.unwrap().app_status, expected);
    }
}

#[test]
fn forward_auth_without_protected_apps_is_plain_active() {
    let desired = reconcile(
        &Snapshot::ready()
            .leader()
            .with_forward_auth(5, Some(&["x"])),
    );
    assert_eq!(desired.unit_status, status(StatusKind::Active, ""));
    assert_eq!(app_bag(&desired, "forward-auth")["app_names"], "[]");
}

#[test]
fn invalid_auth_proxy_data_names_app_and_field_and_publishes_no_rules() {
    let snapshot = Snapshot::ready()
        .leader()
        .with_auth_proxy(3, "good", &spec_requirer())
        .with_auth_proxy_data(4, "bad", bag(&[("protected_urls", "invalid-url")]))
        .with_forward_auth(5, Some(&["good", "bad"]));
    let desired = reconcile(&snapshot);
    assert_eq!(
        desired.unit_status,
        status(
            StatusKind::Blocked,
            "Invalid auth-proxy data from bad: protected_urls: expected a JSON array of strings, found \"invalid-url\""
        )
    );
    assert!(rules_data(&desired).keys().all(|k| !k.contains("-bad-")));
    assert_eq!(rules_data(&desired).len(), 2);
    // The app stays behind the proxy (fail closed): Traefik keeps sending its requests to us.
    assert_eq!(
        app_bag(&desired, "forward-auth")["app_names"],
        r#"["bad", "good"]"#
    );
    assert!(!app_bag(&desired, "oathkeeper").contains_key("auth_proxy_4"));
}

#[test]
fn an_allowed_endpoint_needing_unbounded_backtracking_blocks_naming_the_app_and_keeps_the_others() {
    let snapshot = Snapshot::ready()
        .leader()
        .with_auth_proxy(3, "good", &spec_requirer())
        .with_auth_proxy(
            4,
            "echo",
            &requirer(&["https://echo.example.com"], &["(a+)/\\1"], &["X-User"]),
        )
        .with_forward_auth(5, Some(&["good", "echo"]));
    let desired = reconcile(&snapshot);
    assert_eq!(
        desired.unit_status,
        status(
            StatusKind::Blocked,
            "Invalid auth-proxy data from echo: allowed_endpoints: \"(a+)/\\\\1\" uses a \
             backreference, which the proxy refuses (unbounded backtracking)"
        )
    );
    // None of its rules are published; the good requirer's still are.
    assert!(rules_data(&desired).keys().all(|k| !k.contains("echo")));
    assert_eq!(rules_data(&desired).len(), 2);
    assert!(!app_bag(&desired, "oathkeeper").contains_key("auth_proxy_4"));
}

#[test]
fn requirer_without_data_yet_is_ignored() {
    let desired = reconcile(&Snapshot::ready().leader().with_auth_proxy_data(
        3,
        "spark",
        Databag::new(),
    ));
    assert!(rules_data(&desired).is_empty());
    assert_eq!(app_bag(&desired, "oathkeeper"), &Databag::new());
    assert_eq!(desired.unit_status, status(StatusKind::Active, ""));
}

#[test]
fn missing_trust_blocks_with_the_command_and_touches_no_kubernetes_object() {
    let desired = reconcile(&Snapshot::ready().leader().untrusted().with_auth_proxy(
        3,
        "spark",
        &spec_requirer(),
    ));
    assert_eq!(
        desired.unit_status,
        status(
            StatusKind::Blocked,
            "Run \"juju trust oathkeeper --scope=cluster\""
        )
    );
    assert_eq!(desired.leader.as_ref().unwrap().kubernetes, None);
    // Issue 15: no workload whose ConfigMaps cannot exist.
    assert_eq!(desired.layer, None);
}

#[test]
fn missing_trust_is_reported_before_relation_problems() {
    let snapshot = Snapshot::ready()
        .leader()
        .untrusted()
        .with_auth_proxy_data(3, "bad", bag(&[("protected_urls", "x")]))
        .with_forward_auth(5, Some(&[]));
    assert_eq!(
        reconcile(&snapshot).unit_status,
        status(
            StatusKind::Blocked,
            "Run \"juju trust oathkeeper --scope=cluster\""
        )
    );
}

#[test]
fn blocked_wins_over_waiting() {
    let mut snapshot = Snapshot::fresh().leader().untrusted();
    snapshot.container.can_connect = false;
    assert_eq!(reconcile(&snapshot).unit_status.kind, StatusKind::Blocked);
}

#[test]
fn spec_6_1_leader_without_peer_relation_waits() {
    let mut snapshot = Snapshot::ready()
        .leader()
        .with_auth_proxy(3, "spark", &spec_requirer());
    snapshot.relations.peer = None;
    let desired = reconcile(&snapshot);
    assert_eq!(
        desired.unit_status,
        status(StatusKind::Waiting, "Waiting for peer relation")
    );
    // The rules are still published: generated files are recognised by name.
    assert_eq!(rules_data(&desired).len(), 2);
}

#[test]
fn stopped_service_is_replanned_rather_than_waited_for() {
    let mut snapshot = Snapshot::ready().converged();
    snapshot.container.service_running = false;
    let desired = reconcile(&snapshot);
    assert_eq!(desired.unit_status, status(StatusKind::Active, ""));
    assert_eq!(plan(&snapshot, &desired).items, [Effect::Replan]);
}

#[test]
fn spec_5_4_kratos_endpoints_are_rendered_and_removed_with_the_relation() {
    let with = Snapshot::ready().leader().with_kratos(
        7,
        "http://kratos.testing.svc.cluster.local:4433/sessions/whoami",
        "https://iam.example.com/testing-kratos/self-service/login/browser",
    );
    let config = rendered_config(&reconcile(&with));
    assert_eq!(
        config.authenticators.cookie_session.config.unwrap()["check_session_url"],
        "http://kratos.testing.svc.cluster.local:4433/sessions/whoami"
    );
    assert_eq!(
        config.errors.handlers.redirect.config.unwrap()["to"],
        "https://iam.example.com/testing-kratos/self-service/login/browser"
    );
    // Differs from upstream (relation-broken not observed): removal restores the defaults.
    let mut without = with.converged();
    without.relations.kratos_info = None;
    let config = rendered_config(&reconcile(&without));
    assert_eq!(
        config.errors.handlers.redirect.config.unwrap()["to"],
        "http://default-kratos-url/self-service/login/browser"
    );
}

#[test]
fn invalid_kratos_data_blocks_naming_the_field() {
    let mut snapshot = Snapshot::ready().leader();
    snapshot.relations.kratos_info = Some(Relation {
        id: 7,
        remote_app: "kratos".into(),
        remote_app_data: bag(&[("sessions_endpoint", "kratos:4433")]),
        ..Relation::default()
    });
    assert_eq!(
        reconcile(&snapshot).unit_status,
        status(
            StatusKind::Blocked,
            "Invalid kratos-info data from kratos: sessions_endpoint: not an http(s) URL: \"kratos:4433\""
        )
    );
}

#[test]
fn spec_6_5_removed_relation_removes_its_rules_and_bookkeeping() {
    let both = Snapshot::ready()
        .leader()
        .with_auth_proxy(3, "a", &spec_requirer())
        .with_auth_proxy(
            4,
            "b",
            &requirer(&["https://b.example.com"], &[], &["X-User"]),
        )
        .converged();
    let mut one = both;
    one.relations.auth_proxy.retain(|r| r.id == 3);
    let desired = reconcile(&one);
    assert_eq!(
        rules_data(&desired).keys().collect::<Vec<_>>(),
        ["access-rules-a-allow.json", "access-rules-a-deny.json"]
    );
    let effects = plan(&one, &desired);
    assert!(effects.items.contains(&Effect::PatchConfigMap {
        name: ACCESS_RULES_CONFIG_MAP.into(),
        set: BTreeMap::new(),
        remove: vec!["access-rules-b-deny.json".into()],
    }));
    assert!(effects.items.iter().any(|e| matches!(e,
        Effect::SetRelationData { endpoint, unset, .. } if endpoint == "oathkeeper" && unset == &["auth_proxy_4".to_owned()])));
}

#[test]
fn spec_5_3_oathkeeper_info_databag_and_admin_ui_placeholder() {
    let mut snapshot = Snapshot::ready()
        .leader()
        .with_oathkeeper_info(9, "admin-ui");
    if let ClusterState::Observed(objects) = &mut snapshot.kubernetes {
        objects.config_maps.insert(
            ACCESS_RULES_CONFIG_MAP.into(),
            ConfigMap {
                labels: BTreeMap::new(),
                data: BTreeMap::from([("other.json".to_owned(), "[]".to_owned())]),
            },
        );
    }
    let desired = reconcile(&snapshot);
    assert_eq!(
        app_bag(&desired, "oathkeeper-info"),
        &bag(&[
            (
                "public_endpoint",
                "http://oathkeeper.testing.svc.cluster.local:4456"
            ),
            ("rules_configmap_name", "access-rules"),
            ("configmaps_namespace", "testing"),
        ])
    );
    assert_eq!(
        rules_data(&desired),
        &BTreeMap::from([
            ("admin_ui_rules.json".to_owned(), String::new()),
            ("other.json".to_owned(), "[]".to_owned())
        ])
    );
    let with_ingress =
        reconcile(&snapshot.with_ingress(2, Some("http://ingress:80/testing-oathkeeper")));
    assert_eq!(
        app_bag(&with_ingress, "oathkeeper-info")["public_endpoint"],
        "http://ingress:80/testing-oathkeeper"
    );
}

#[test]
fn spec_5_5_ingress_databags() {
    let desired = reconcile(&Snapshot::ready().leader().with_ingress(2, None));
    assert_eq!(
        app_bag(&desired, "ingress"),
        &bag(&[
            ("model", "\"testing\""),
            ("name", "\"oathkeeper\""),
            ("port", "4456"),
            ("strip-prefix", "true")
        ])
    );
    let unit = &desired.unit_relation_data[0];
    assert_eq!(unit.scope, Scope::Unit);
    assert_eq!(unit.data["ip"], "\"10.1.0.7\"");
}

#[test]
fn upgrade_from_python_charm_rewrites_repr_rules_as_json() {
    let mut snapshot = Snapshot::ready()
        .leader()
        .with_auth_proxy(3, "requirer", &spec_requirer());
    if let ClusterState::Observed(objects) = &mut snapshot.kubernetes {
        objects.config_maps.insert(
            ACCESS_RULES_CONFIG_MAP.into(),
            ConfigMap {
                labels: BTreeMap::new(),
                data: BTreeMap::from([
                    (
                        "access-rules-requirer-deny.json".to_owned(),
                        "[{'id': 'requirer:0:deny'}]".to_owned(),
                    ),
                    (
                        "access-rules-gone-deny.json".to_owned(),
                        "[{'id': 'gone:0:deny'}]".to_owned(),
                    ),
                ]),
            },
        );
    }
    let data = rules_data(&reconcile(&snapshot)).clone();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [
            "access-rules-requirer-allow.json",
            "access-rules-requirer-deny.json"
        ]
    );
    assert!(data.values().all(|v| v.starts_with("[{\"id\"")));
}

#[test]
fn non_leader_computes_status_but_no_leader_state() {
    let snapshot = Snapshot::ready()
        .with_auth_proxy(3, "spark", &spec_requirer())
        .with_forward_auth(5, Some(&["other"]));
    let desired = reconcile(&snapshot);
    assert_eq!(desired.leader, None);
    assert_eq!(
        desired.unit_status,
        status(StatusKind::Blocked, "spark is not related via ingress")
    );
}

mod server_compiles;
mod tls;
mod tracing;

/// What Ory's Go server 0.40.6 prints for `oathkeeper version`.
const ORY_VERSION: &str =
    "Version:    v0.40.6\nGit Hash:   2f4d3e4\nBuild Time: 2024-05-14T09:27:43Z\n";

#[test]
fn issue_16_the_version_output_tells_ours_from_orys() {
    assert_eq!(
        workload::Server::identify(ORY_VERSION),
        Some(workload::Server::Ory("v0.40.6".to_owned()))
    );
    assert_eq!(
        workload::Server::identify("Version:    0.1.0\n"),
        Some(workload::Server::Ours("0.1.0".to_owned()))
    );
    assert_eq!(workload::Server::identify("command not found\n"), None);
    for server in [
        workload::Server::Ory("v0.40.6".to_owned()),
        workload::Server::Ours("0.1.0".to_owned()),
    ] {
        assert_eq!(
            workload::Server::from_record(&server.record()),
            Some(server)
        );
    }
}

#[test]
fn issue_16_with_orys_server_only_mounted_volumes_are_rendered_and_the_status_says_so() {
    // The default config-source (kubernetes-api) cannot be read by Ory's server.
    let mut snapshot = Snapshot::ready()
        .leader()
        .with_auth_proxy(
            3,
            "spark",
            &requirer(&["https://example.com"], &["welcome"], &["X-User"]),
        )
        .with_forward_auth(5, Some(&["spark"]));
    snapshot.container.server = workload::Server::identify(ORY_VERSION);
    let desired = reconcile(&snapshot);
    assert_eq!(
        desired.layer,
        Some(workload::layer(
            workload::ConfigSource::MountedVolumes,
            &snapshot.model
        ))
    );
    let objects = kube(&desired);
    assert_ne!(objects.statefulset, PodTemplate::default(), "no mounts");
    let config = &objects.config_maps[OATHKEEPER_CONFIG_MAP].data[OATHKEEPER_CONFIG_KEY];
    assert!(!config.contains("k8s://"), "{config}");
    assert!(
        config.contains("file:///etc/config/access-rules/"),
        "{config}"
    );
    // Only keys Ory's schema knows: none of our extensions.
    for extension in ["cache", "timeout"] {
        assert!(!config.contains(&format!("{extension}:")), "{config}");
    }
    let message = crate::status::running_ory("v0.40.6");
    assert_eq!(desired.unit_status, status(StatusKind::Active, &message));
    assert_eq!(
        message,
        "running Ory Oathkeeper v0.40.6; refresh the oci-image resource for live rule updates"
    );
    assert_eq!(desired.workload_version, None);
    // A hook where Pebble is down keeps what was recorded.
    snapshot.recorded_server = snapshot.container.server.take();
    snapshot.container.can_connect = false;
    let desired = reconcile(&snapshot);
    assert_ne!(kube(&desired).statefulset, PodTemplate::default());
}

#[test]
fn issue_16_with_our_server_everything_is_as_before() {
    let mut snapshot = Snapshot::ready().leader();
    let before = reconcile(&snapshot);
    snapshot.container.server = Some(workload::Server::Ours("0.1.0".to_owned()));
    assert_eq!(reconcile(&snapshot), before);
}
