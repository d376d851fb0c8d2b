//! Hooks end to end through the harness: the built binary, fake hook tools, fake Pebble, fake
//! Kubernetes API. Texts cite spec/charm-parity.md.

use harness::{Event, Relation, Status};
use oathkeeper_core::rule::parse_rules;
use serde_json::{Value, json};

use crate::support::*;

/// A Spark-History-Server-like requirer (forward-auth-interop §6).
fn spark(id: u64) -> Relation {
    Relation::new("auth-proxy", id, "spark-history-server").remote_app_data([
        (
            "protected_urls",
            r#"["https://iam.example.com/iam-spark-history-server"]"#,
        ),
        ("headers", r#"["X-User", "X-Email"]"#),
        ("allowed_endpoints", "[]"),
    ])
}

fn kratos(id: u64) -> Relation {
    Relation::new("kratos-info", id, "kratos").remote_app_data([
        ("admin_endpoint", "http://kratos.iam.svc.cluster.local:4434"),
        (
            "public_endpoint",
            "http://kratos.iam.svc.cluster.local:4433",
        ),
        (
            "sessions_endpoint",
            "http://kratos.iam.svc.cluster.local:4433/sessions/whoami",
        ),
        (
            "login_browser_endpoint",
            "https://iam.example.com/iam-kratos/self-service/login/browser",
        ),
        ("providers_configmap_name", "providers"),
        ("schemas_configmap_name", "identity-schemas"),
        ("configmaps_namespace", "iam"),
    ])
}

fn traefik(id: u64, apps: &[&str]) -> Relation {
    Relation::new("forward-auth", id, "traefik-public")
        .remote_app_data([("ingress_app_names", serde_json::to_string(apps).unwrap())])
}

#[test]
fn with_mounted_volumes_the_first_hook_creates_configmaps_mounts_ports_and_the_layer() {
    let dir = charm_dir();
    let state = deployed(true).config("config-source", "mounted-volumes");
    let out = run_ok(dir.path(), &state, &Event::hook("config-changed"));
    // spec §4.4: Active with an empty message once configured.
    assert_eq!(out.state.unit_status, Status::new("active", ""));
    let config = config_map(&out.state, "oathkeeper-config");
    let rendered = &config["oathkeeper.yaml"];
    assert!(
        rendered.contains("http://default-kratos-url/sessions/whoami"),
        "{rendered}"
    );
    oathkeeper_core::config::parse_config(rendered, &oathkeeper_core::config::NoEnv).unwrap();
    assert!(config_map(&out.state, "access-rules").is_empty());
    // spec §4.6: both ConfigMaps mounted read-only into the workload container.
    let set = out.state.kubernetes.stateful_set("oathkeeper").unwrap();
    let template = &set["spec"]["template"]["spec"];
    let container = template["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "oathkeeper")
        .unwrap();
    let mounts: Vec<(&str, &str)> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["mountPath"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        mounts.contains(&("config", "/etc/config/oathkeeper")),
        "{mounts:?}"
    );
    assert!(
        mounts.contains(&("access-rules", "/etc/config/access-rules")),
        "{mounts:?}"
    );
    // Service ports oathkeeper-api:4456 and metrics-port:9000.
    let service = out.state.kubernetes.service("oathkeeper").unwrap();
    let ports: Vec<(String, u64)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_owned(),
                p["port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        ports.contains(&("oathkeeper-api".to_owned(), 4456)),
        "{ports:?}"
    );
    assert!(
        ports.contains(&("metrics-port".to_owned(), 9000)),
        "{ports:?}"
    );
    // spec §4.8: the layer is in the plan and the service runs.
    let container = &out.state.containers["oathkeeper"];
    let plan = container.plan();
    assert_eq!(
        plan.services["oathkeeper"].command.as_deref(),
        Some("oathkeeper serve -c /etc/config/oathkeeper/oathkeeper.yaml")
    );
    assert!(plan.checks.contains_key("alive"));
    assert_eq!(container.service_statuses["oathkeeper"].as_str(), "active");
}

#[test]
fn by_default_the_workload_watches_the_configmaps_and_the_pod_is_not_patched() {
    let dir = charm_dir();
    let out = run_ok(dir.path(), &deployed(true), &Event::hook("config-changed"));
    assert_eq!(out.state.unit_status, Status::new("active", ""));
    let config = &config_map(&out.state, "oathkeeper-config")["oathkeeper.yaml"];
    let parsed =
        oathkeeper_core::config::parse_config(config, &oathkeeper_core::config::NoEnv).unwrap();
    assert_eq!(parsed.access_rules.repositories, ["k8s://iam/access-rules"]);
    let plan = out.state.containers["oathkeeper"].plan();
    assert_eq!(
        plan.services["oathkeeper"].command.as_deref(),
        Some("oathkeeper serve -c k8s://iam/oathkeeper-config")
    );
    // No StatefulSet patch: its pod template is still what Juju created.
    let set = out.state.kubernetes.stateful_set("oathkeeper").unwrap();
    let patched = out
        .kubernetes_requests
        .iter()
        .any(|r| r.method == "PATCH" && r.path.contains("statefulsets"));
    assert!(!patched, "{:#?}", out.kubernetes_requests);
    assert!(
        set["spec"]["template"]["spec"]["volumes"].is_null(),
        "{set}"
    );
}

#[test]
fn switching_config_source_moves_the_workload_and_a_bad_value_blocks_without_moving_it() {
    let dir = charm_dir();
    let first = run_ok(dir.path(), &deployed(true), &Event::hook("config-changed"));
    let mounted = first.state.config("config-source", "mounted-volumes");
    let out = run_ok(dir.path(), &mounted, &Event::hook("config-changed"));
    let command = |state: &harness::State| {
        state.containers["oathkeeper"].plan().services["oathkeeper"]
            .command
            .clone()
            .unwrap_or_default()
    };
    assert_eq!(
        command(&out.state),
        "oathkeeper serve -c /etc/config/oathkeeper/oathkeeper.yaml"
    );
    let bad = out.state.config("config-source", "nfs");
    let out = run_ok(dir.path(), &bad, &Event::hook("config-changed"));
    assert_eq!(out.state.unit_status.name, "blocked");
    assert!(
        out.state.unit_status.message.contains("config-source"),
        "{:?}",
        out.state.unit_status
    );
    assert_eq!(
        command(&out.state),
        "oathkeeper serve -c /etc/config/oathkeeper/oathkeeper.yaml"
    );
}

// `a_repeated_hook_only_reads` (resourceVersions and containers only, no ingress) became the
// property of idempotence.rs, which asserts on every request an Outcome records (issue 15).

#[test]
fn issue_15_the_service_gets_exactly_our_ports_and_is_not_patched_again() {
    let dir = charm_dir();
    let first = run_ok(dir.path(), &deployed(true), &Event::hook("config-changed"));
    let service = first.state.kubernetes.service("oathkeeper").unwrap();
    let ports: Vec<(&str, u64)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["port"].as_u64().unwrap()))
        .collect();
    // Juju's placeholder 65535 is gone, as upstream's patch leaves it.
    assert_eq!(ports, [("oathkeeper-api", 4456), ("metrics-port", 9000)]);
    let second = run_ok(dir.path(), &first.state, &Event::hook("update-status"));
    let service_writes: Vec<_> = second
        .kubernetes_requests
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("/services/"))
        .collect();
    assert!(service_writes.is_empty(), "{service_writes:#?}");
}

#[test]
fn issue_15_the_ingress_unit_databag_keeps_jujus_keys_and_is_written_once() {
    let dir = charm_dir();
    let state = deployed(true).relation(Relation::new("ingress", 6, "traefik-admin"));
    let first = run_ok(
        dir.path(),
        &state,
        &Event::relation("ingress", "changed", 6),
    );
    let unit_sets: Vec<_> = first
        .effects
        .tool_calls
        .iter()
        .filter(|c| c.tool == "relation-set" && !c.args.iter().any(|a| a == "--app"))
        .collect();
    assert_eq!(unit_sets.len(), 1, "{unit_sets:#?}");
    let written = unit_sets[0].stdin.as_deref().unwrap_or_default();
    for key in ["egress-subnets", "ingress-address", "private-address"] {
        assert!(!written.contains(key), "{key} deleted: {written}");
    }
    let bag = &first.state.find_relation(6).unwrap().local_unit_data;
    assert!(
        bag.contains_key("host") && bag.contains_key("ip"),
        "{bag:?}"
    );
    let second = run_ok(dir.path(), &first.state, &Event::hook("update-status"));
    let writes: Vec<_> = second
        .effects
        .tool_calls
        .iter()
        .filter(|c| c.tool == "relation-set")
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");
}

#[test]
fn issue_15_traefik_without_ingress_app_names_is_waited_for_not_blocked_on() {
    let dir = charm_dir();
    let silent = Relation::new("forward-auth", 3, "traefik-public");
    let state = deployed(true).relation(silent).relation(spark(4));
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("forward-auth", "changed", 3),
    );
    assert_eq!(out.state.unit_status, Status::new("active", ""));
}

#[test]
fn issue_15_a_hook_logs_what_it_observed_and_one_line_per_change() {
    let dir = charm_dir();
    let state = deployed(true)
        .relation(traefik(3, &["spark-history-server"]))
        .relation(spark(4));
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("auth-proxy", "changed", 4),
    );
    let lines = |level: &str| -> Vec<String> {
        out.effects
            .juju_log
            .iter()
            .filter(|l| l.level == level)
            .map(|l| l.message.clone())
            .collect()
    };
    let debug = lines("DEBUG");
    assert!(
        debug
            .iter()
            .any(|l| l.starts_with("observed: leader, kubernetes read")
                && l.contains("auth-proxy:4 spark-history-server")),
        "{debug:#?}"
    );
    let info = lines("INFO");
    for expected in [
        "access-rules-spark-history-server-deny.json (1 rule)",
        r#"forward-auth:3 app databag: app_names ["spark-history-server"]"#,
        "service oathkeeper replanned",
        "Service: ports set to [oathkeeper-api:4456, metrics-port:9000]",
        "unit status set to active (Identity and Access Proxy is ready)",
    ] {
        assert!(
            info.iter().any(|l| l.contains(expected)),
            "no INFO line with {expected:?} in {info:#?}"
        );
    }
}

#[test]
fn an_untrusted_app_is_blocked_with_the_command_to_run_and_the_hook_succeeds() {
    let dir = charm_dir();
    let mut state = deployed(true);
    state.kubernetes.trusted = false;
    let out = run_ok(dir.path(), &state, &Event::hook("config-changed"));
    assert_eq!(out.state.unit_status.name, "blocked");
    assert!(
        out.state
            .unit_status
            .message
            .contains("juju trust oathkeeper --scope=cluster"),
        "{:?}",
        out.state.unit_status
    );
    // Issue 15: no workload whose ConfigMaps cannot exist.
    let container = &out.state.containers["oathkeeper"];
    assert!(
        container.plan().services.is_empty(),
        "{:?}",
        container.plan()
    );
}

#[test]
fn a_container_not_up_yet_waits_and_writes_no_layer() {
    let dir = charm_dir();
    let mut state = deployed(true);
    state.containers.get_mut("oathkeeper").unwrap().can_connect = false;
    let out = run_ok(dir.path(), &state, &Event::hook("config-changed"));
    assert_eq!(
        out.state.unit_status,
        Status::new("waiting", "Waiting to connect to Oathkeeper container")
    );
}

#[test]
fn an_auth_proxy_requirer_gets_rules_and_traefik_gets_the_forward_auth_databag() {
    let dir = charm_dir();
    let state = deployed(true)
        .relation(kratos(2))
        .relation(traefik(3, &["spark-history-server"]))
        .relation(spark(4));
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("auth-proxy", "changed", 4),
    );
    // spec §6.2: one allow file (empty: no allowed endpoints) and one deny file per app.
    let rules = config_map(&out.state, "access-rules");
    let deny = &rules["access-rules-spark-history-server-deny.json"];
    let parsed = parse_rules(deny.as_bytes()).unwrap();
    assert_eq!(parsed.len(), 1);
    let rule: Value = serde_json::from_str(deny).unwrap();
    assert_eq!(
        rule[0]["authenticators"][0]["handler"],
        json!("cookie_session")
    );
    assert!(
        rule[0]["match"]["url"]
            .as_str()
            .unwrap()
            .starts_with("<^(https|http)>://iam.example.com/iam-spark-history-server"),
        "{rule}"
    );
    // The config names every rules file and the Kratos URLs.
    let config = &config_map(&out.state, "oathkeeper-config")["oathkeeper.yaml"];
    assert!(config.contains("k8s://iam/access-rules"), "{config}");
    assert!(
        config.contains("http://kratos.iam.svc.cluster.local:4433/sessions/whoami"),
        "{config}"
    );
    assert!(config.contains("X-Email"), "{config}");
    // spec §5.2: the forward-auth provider databag, plain string and JSON arrays.
    let bag = &out.state.find_relation(3).unwrap().local_app_data;
    assert_eq!(
        bag["decisions_address"],
        "http://oathkeeper.iam.svc.cluster.local:4456/decisions"
    );
    assert_eq!(bag["app_names"], r#"["spark-history-server"]"#);
    assert_eq!(bag["headers"], r#"["X-Email", "X-User"]"#);
    // spec §5.9: the peer bookkeeping of the relation's files.
    let peers = &out.state.find_relation(1).unwrap().local_app_data;
    assert!(peers.contains_key("auth_proxy_4"), "{peers:?}");
    assert_eq!(
        out.state.unit_status,
        Status::new("active", "Identity and Access Proxy is ready")
    );
}

#[test]
fn a_protected_app_traefik_does_not_ingress_blocks_naming_it() {
    let dir = charm_dir();
    let state = deployed(true)
        .relation(traefik(3, &["another-app"]))
        .relation(spark(4));
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("forward-auth", "changed", 3),
    );
    assert_eq!(
        out.state.unit_status,
        Status::new("blocked", "spark-history-server is not related via ingress")
    );
}

#[test]
fn invalid_requirer_data_blocks_naming_app_and_field_and_publishes_none_of_its_rules() {
    let dir = charm_dir();
    let bad = Relation::new("auth-proxy", 4, "jenkins").remote_app_data([
        ("protected_urls", r#"["https://ci.example.com/jenkins"]"#),
        ("headers", r#"["X-Auth-Request-User"]"#),
        ("allowed_endpoints", "[]"),
    ]);
    let state = deployed(true).relation(bad);
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("auth-proxy", "changed", 4),
    );
    assert_eq!(out.state.unit_status.name, "blocked");
    let message = &out.state.unit_status.message;
    assert!(
        message.contains("jenkins") && message.contains("headers"),
        "{message}"
    );
    let rules = config_map(&out.state, "access-rules");
    assert!(
        rules.keys().all(|key| !key.contains("jenkins")),
        "{rules:?}"
    );
}

#[test]
fn an_allowed_endpoint_the_server_would_refuse_blocks_naming_the_app_and_keeps_the_others() {
    // Issue 12 item 5: a backreference needs unbounded backtracking; the server refuses it.
    let dir = charm_dir();
    let echo = Relation::new("auth-proxy", 5, "echo").remote_app_data([
        ("protected_urls", r#"["https://echo.example.com"]"#),
        ("headers", r#"["X-User"]"#),
        ("allowed_endpoints", r#"["(a+)/\\1"]"#),
    ]);
    let state = deployed(true)
        .relation(traefik(3, &["spark-history-server", "echo"]))
        .relation(spark(4))
        .relation(echo);
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("auth-proxy", "changed", 5),
    );
    assert_eq!(out.state.unit_status.name, "blocked");
    let message = &out.state.unit_status.message;
    assert!(
        message.contains("echo")
            && message.contains("allowed_endpoints")
            && message.contains("backreference"),
        "{message}"
    );
    let rules = config_map(&out.state, "access-rules");
    assert!(rules.keys().all(|key| !key.contains("echo")), "{rules:?}");
    assert!(
        rules.contains_key("access-rules-spark-history-server-deny.json"),
        "{rules:?}"
    );
}

#[test]
fn a_non_leader_writes_no_app_data_and_no_kubernetes_objects() {
    let dir = charm_dir();
    let state = deployed(false)
        .relation(traefik(3, &["spark-history-server"]))
        .relation(spark(4));
    let out = run_ok(
        dir.path(),
        &state,
        &Event::relation("auth-proxy", "changed", 4),
    );
    let app_writes: Vec<_> = out
        .effects
        .tool_calls
        .iter()
        .filter(|c| c.tool == "relation-set" && c.args.iter().any(|a| a == "--app"))
        .collect();
    assert!(app_writes.is_empty(), "{app_writes:#?}");
    assert!(out.state.kubernetes.config_map("access-rules").is_none());
    assert!(
        out.state
            .find_relation(3)
            .unwrap()
            .local_app_data
            .is_empty()
    );
}

#[test]
fn a_broken_auth_proxy_relation_removes_its_rules() {
    let dir = charm_dir();
    let state = deployed(true)
        .relation(traefik(3, &["spark-history-server"]))
        .relation(spark(4));
    let joined = run_ok(
        dir.path(),
        &state,
        &Event::relation("auth-proxy", "changed", 4),
    );
    assert!(
        config_map(&joined.state, "access-rules")
            .contains_key("access-rules-spark-history-server-deny.json")
    );
    let broken = run_ok(
        dir.path(),
        &joined.state,
        &Event::relation("auth-proxy", "broken", 4),
    );
    let rules = config_map(&broken.state, "access-rules");
    assert!(rules.keys().all(|key| !key.contains("spark")), "{rules:?}");
    assert!(broken.state.find_relation(4).is_none());
    let bag = &broken.state.find_relation(3).unwrap().local_app_data;
    assert_eq!(bag["app_names"], "[]");
}

#[test]
fn remove_deletes_the_configmaps() {
    let dir = charm_dir();
    let first = run_ok(dir.path(), &deployed(true), &Event::hook("config-changed"));
    let out = run_ok(dir.path(), &first.state, &Event::hook("remove"));
    assert!(out.state.kubernetes.config_map("access-rules").is_none());
    assert!(
        out.state
            .kubernetes
            .config_map("oathkeeper-config")
            .is_none()
    );
    // A second remove (ConfigMaps already gone) still succeeds (spec §8.2).
    run_ok(dir.path(), &out.state, &Event::hook("remove"));
}

#[test]
fn list_rules_fails_the_action_not_the_hook_when_the_service_is_down() {
    let dir = charm_dir();
    let mut state = deployed(true);
    state.containers.get_mut("oathkeeper").unwrap().can_connect = false;
    let out = run_ok(
        dir.path(),
        &state,
        &Event::action("list-rules", Default::default()),
    );
    let failure = out.effects.action_failure.as_deref().unwrap_or_default();
    assert!(!failure.is_empty(), "{:#?}", out.effects);
}
