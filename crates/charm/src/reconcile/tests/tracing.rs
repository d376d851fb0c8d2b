//! `tracing`: what Tempo's answer does to the desired state, for our server (the config file,
//! applied live) and Ory's (the environment, applied by a restart).

use super::*;
use crate::testing::{TEMPO_URL, tempo_receivers};
use crate::workload::{ORY_TRACING_ENV_KEYS, Server, TRACING_INSECURE_ENV, TRACING_SERVER_URL_ENV};

const TEMPO_HOST_PORT: &str = "tempo-0.tempo-endpoints.cos.svc.cluster.local:4318";

fn answered(url: &str) -> Snapshot {
    Snapshot::ready()
        .leader()
        .with_tracing(9, Some(&tempo_receivers(url)))
}

fn ory(mut snapshot: Snapshot) -> Snapshot {
    snapshot.container.server = Some(Server::Ory("v0.40.6".to_owned()));
    snapshot
}

fn service_env(desired: &Desired) -> BTreeMap<String, String> {
    desired.layer.as_ref().unwrap().services[workload::SERVICE]
        .environment
        .clone()
}

#[test]
fn spec_5_7_the_leader_requests_otlp_http_and_a_non_leader_writes_nothing() {
    let desired = reconcile(&Snapshot::ready().leader().with_tracing(9, None));
    assert_eq!(
        app_bag(&desired, crate::relation::tracing::ENDPOINT),
        &bag(&[("receivers", r#"["otlp_http"]"#)])
    );
    let mut follower = Snapshot::ready().with_tracing(9, Some(&tempo_receivers(TEMPO_URL)));
    follower.leader = false;
    let desired = reconcile(&follower);
    assert_eq!(desired.leader, None);
    assert!(
        desired
            .unit_relation_data
            .iter()
            .all(|w| w.endpoint != crate::relation::tracing::ENDPOINT)
    );
}

#[test]
fn tempos_receiver_is_rendered_in_the_config_and_our_servers_layer_is_unchanged() {
    let without = reconcile(&Snapshot::ready().leader().with_tracing(9, None));
    assert_eq!(rendered_config(&without).tracing, Default::default());
    let desired = reconcile(&answered(TEMPO_URL));
    let tracing = rendered_config(&desired).tracing;
    assert_eq!(tracing.provider, "otel");
    let otlp = &tracing.providers.otlp;
    assert_eq!(otlp.server_url, TEMPO_HOST_PORT);
    assert!(otlp.insecure);
    assert_eq!(otlp.sampling.sampling_ratio, Some(1.0));
    // Our server reads the file live: the layer is the same with or without Tempo.
    assert_eq!(desired.layer, without.layer);
    assert_eq!(desired.unit_status, status(StatusKind::Active, ""));
    let https = reconcile(&answered("https://tempo.cos.svc.cluster.local:4318"));
    assert!(!rendered_config(&https).tracing.providers.otlp.insecure);
}

#[test]
fn with_orys_server_the_environment_carries_upstreams_tracing_variables() {
    let desired = reconcile(&ory(answered(TEMPO_URL)));
    let env = service_env(&desired);
    let expected = [
        ("TRACING_ENABLED", "true"),
        ("TRACING_PROVIDER", "otel"),
        ("TRACING_PROVIDERS_OTLP_SERVER_URL", TEMPO_HOST_PORT),
        ("TRACING_PROVIDERS_OTLP_INSECURE", "true"),
        ("TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO", "1"),
    ];
    assert_eq!(env, bag(&expected));
    assert_eq!(ORY_TRACING_ENV_KEYS.len(), expected.len());
    let https = reconcile(&ory(answered("https://tempo.cos.svc.cluster.local:4318")));
    assert_eq!(service_env(&https)[TRACING_INSECURE_ENV], "false");
    // Every unit runs its own server: a non-leader sets the variables too.
    let mut follower = ory(answered(TEMPO_URL));
    follower.leader = false;
    assert_eq!(service_env(&reconcile(&follower)), bag(&expected));
    // Not related, or not answered: no variable.
    for snapshot in [
        ory(Snapshot::ready().leader()),
        ory(Snapshot::ready().leader().with_tracing(9, None)),
    ] {
        assert!(service_env(&reconcile(&snapshot)).is_empty());
    }
}

#[test]
fn invalid_tempo_data_configures_no_tracing_and_blocks_naming_app_and_field() {
    for (receivers, problem) in [
        ("nope", r#"expected a JSON list of receivers, found "nope""#),
        ("[]", "no otlp_http receiver"),
        (
            &*tempo_receivers("http://tempo:4318/v1/traces"),
            r#"the otlp_http URL "http://tempo:4318/v1/traces" has a path, query or fragment (the receiver is the URL's root)"#,
        ),
    ] {
        for snapshot in [
            Snapshot::ready().leader().with_tracing(9, Some(receivers)),
            ory(Snapshot::ready().leader().with_tracing(9, Some(receivers))),
        ] {
            let desired = reconcile(&snapshot);
            assert_eq!(rendered_config(&desired).tracing, Default::default());
            assert!(!service_env(&desired).contains_key(TRACING_SERVER_URL_ENV));
            assert_eq!(
                desired.unit_status,
                status(
                    StatusKind::Blocked,
                    &format!("Invalid tracing data from tempo: receivers: {problem}")
                )
            );
            // We still ask for what we need.
            assert_eq!(
                app_bag(&desired, crate::relation::tracing::ENDPOINT)["receivers"],
                r#"["otlp_http"]"#
            );
        }
    }
}

#[test]
fn a_new_url_changes_only_the_config_for_ours_and_replans_orys() {
    for server in [
        Server::Ours("0.1.0".to_owned()),
        Server::Ory("v0.40.6".to_owned()),
    ] {
        let mut first = answered(TEMPO_URL);
        first.container.server = Some(server.clone());
        let converged = first.converged();
        assert_eq!(plan(&converged, &reconcile(&converged)), Default::default());
        let mut moved = converged.clone();
        moved.relations.tracing.as_mut().unwrap().remote_app_data =
            bag(&[("receivers", &tempo_receivers("http://tempo-1.cos:4318"))]);
        let effects = plan(&moved, &reconcile(&moved)).items;
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::PatchConfigMap { name, .. } if name == OATHKEEPER_CONFIG_MAP)),
            "{effects:?}"
        );
        let replans = effects
            .iter()
            .any(|e| matches!(e, Effect::Replan | Effect::Restart));
        assert_eq!(replans, server.is_ory(), "{server:?}: {effects:?}");
        // Broken: the block (and Ory's variables) go.
        let mut broken = converged;
        broken.relations.tracing = None;
        let desired = reconcile(&broken);
        assert_eq!(rendered_config(&desired).tracing, Default::default());
        assert!(!service_env(&desired).contains_key(TRACING_SERVER_URL_ENV));
        let effects = plan(&broken, &desired).items;
        let replans = effects
            .iter()
            .any(|e| matches!(e, Effect::Replan | Effect::Restart));
        assert_eq!(replans, server.is_ory(), "{server:?}: {effects:?}");
    }
}

#[test]
fn every_receiver_the_charm_accepts_is_exported_to_by_our_server_at_its_v1_traces() {
    use oathkeeper::traces::{Plan, plan as server_plan};
    for (url, endpoint) in [
        (TEMPO_URL, format!("http://{TEMPO_HOST_PORT}/v1/traces")),
        (
            "https://tempo.cos.svc.cluster.local:4318/",
            "https://tempo.cos.svc.cluster.local:4318/v1/traces".to_owned(),
        ),
        ("http://tempo", "http://tempo:80/v1/traces".to_owned()),
        (
            "https://tempo.example.com",
            "https://tempo.example.com:443/v1/traces".to_owned(),
        ),
        (
            "http://10.1.2.3:4318",
            "http://10.1.2.3:4318/v1/traces".to_owned(),
        ),
        (
            "http://[fd00::1]:4318",
            "http://[fd00::1]:4318/v1/traces".to_owned(),
        ),
    ] {
        let tracing = rendered_config(&reconcile(&answered(url))).tracing;
        match server_plan(&tracing) {
            Ok(Plan::Export(export)) => {
                assert_eq!(export.endpoint.to_string(), endpoint, "{url}");
                assert_eq!(export.sampling_ratio, 1.0);
                assert_eq!(export.authorization, None);
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}
