use crate::config::{NoEnv, parse_config};

use super::*;

#[test]
fn the_yaml_reads_back_as_the_same_config() {
    let inputs = [
        ConfigInputs::default(),
        ConfigInputs {
            login_url: Some("https://iam.example.com/self-service/login/browser"),
            sessions_url: Some("http://kratos.iam.svc.cluster.local:4433/sessions/whoami"),
            repositories: Repositories::Mounted(vec!["a-allow.json", "a-deny.json"]),
            headers: vec!["X-Name", "X-Email"],
        },
        ConfigInputs {
            repositories: Repositories::Watched {
                namespace: "iam",
                name: "access-rules",
            },
            ..ConfigInputs::default()
        },
    ];
    for inputs in inputs {
        let config = oathkeeper_config(&inputs);
        assert_eq!(parse_config(&config.to_yaml(), &NoEnv).unwrap(), config);
    }
}

#[test]
fn repositories_are_mounted_files_or_the_watched_configmap() {
    let mounted = Repositories::Mounted(vec!["admin_ui_rules.json", "access-rules-a-deny.json"]);
    assert_eq!(
        mounted.urls(),
        [
            "file:///etc/config/access-rules/admin_ui_rules.json",
            "file:///etc/config/access-rules/access-rules-a-deny.json"
        ]
    );
    let watched = Repositories::Watched {
        namespace: "iam",
        name: "access-rules",
    };
    assert_eq!(watched.urls(), ["k8s://iam/access-rules"]);
}

#[test]
fn only_known_requested_headers_beyond_x_user_are_rendered() {
    let config = oathkeeper_config(&ConfigInputs {
        headers: vec!["X-Email", "X-Unknown"],
        ..ConfigInputs::default()
    });
    let header: header::Config =
        serde_json::from_value(config.mutators.header.config.unwrap()).unwrap();
    assert_eq!(
        header,
        header::Config::new([
            ("X-User", "{{ print .Subject }}"),
            ("X-Email", "{{ print .Extra.identity.traits.email }}"),
        ])
    );
}

#[test]
fn the_tracing_block_reads_back_with_upstreams_values() {
    let mut config = oathkeeper_config(&ConfigInputs::default());
    assert_eq!(config.tracing, crate::config::Tracing::default());
    config.tracing = tracing("tempo-0.tempo-endpoints.cos.svc.cluster.local:4318", true);
    let text = config.to_yaml();
    let read = parse_config(&text, &NoEnv).unwrap();
    assert_eq!(read, config);
    let otlp = &read.tracing.providers.otlp;
    assert_eq!(read.tracing.provider, "otel");
    assert_eq!(
        otlp.server_url,
        "tempo-0.tempo-endpoints.cos.svc.cluster.local:4318"
    );
    assert!(otlp.insecure);
    assert_eq!(otlp.sampling.sampling_ratio, Some(1.0));
    assert_eq!(otlp.authorization_header, None);
    assert!(!tracing("tempo:443", false).providers.otlp.insecure);
}
