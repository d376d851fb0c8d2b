use oathkeeper_core::charm::config::{DEFAULT_LOGIN_URL, DEFAULT_SESSIONS_URL};
use oathkeeper_core::config::{NoEnv, parse_config};

use super::*;

fn yaml(text: &str) -> serde_norway::Value {
    serde_norway::from_str(text).unwrap()
}

/// The config the server reads from `text`.
fn parsed(text: &str) -> Config {
    parse_config(text, &NoEnv).unwrap()
}

/// [`parsed`] of a YAML value.
fn parsed_value(value: &serde_norway::Value) -> Config {
    parsed(&serde_norway::to_string(value).unwrap())
}

/// Upstream's template rendered with Kratos, two rules files and three headers (spec §6.6).
const SPEC_6_6: &str = r#"
log: {level: info, format: json}
serve:
  api: {cors: {enabled: true, allowed_origins: ["*"]}}
  prometheus: {port: 9000, metrics_path: /metrics/prometheus, metric_name_prefix: oathkeeper_}
errors:
  fallback: [www_authenticate, json]
  handlers:
    redirect:
      enabled: true
      config:
        to: https://iam.example.com/self-service/login/browser
        return_to_query_param: return_to
        when: [{error: [unauthorized, forbidden], request: {header: {accept: [text/html]}}}]
    www_authenticate:
      enabled: true
      config: {realm: unauthorized, when: [{error: [not_found, internal_server_error]}]}
    json: {enabled: true}
access_rules:
  matching_strategy: regexp
  repositories:
    - file:///etc/config/access-rules/access-rules-requirer-allow.json
    - file:///etc/config/access-rules/access-rules-requirer-deny.json
authenticators:
  anonymous: {enabled: true}
  noop: {enabled: true}
  cookie_session:
    enabled: true
    config:
      check_session_url: http://kratos.iam.svc.cluster.local:4433/sessions/whoami
      preserve_path: true
      extra_from: "@this"
      subject_from: "identity.id"
      only: [ory_kratos_session]
authorizers:
  allow: {enabled: true}
mutators:
  noop: {enabled: true}
  header:
    enabled: true
    config:
      headers:
        X-User: "{{ print .Subject }}"
        X-Email: "{{ print .Extra.identity.traits.email }}"
        X-Name: "{{ print .Extra.identity.traits.name }}"
"#;

fn kratos() -> KratosInfo {
    KratosInfo {
        sessions_endpoint: Some("http://kratos.iam.svc.cluster.local:4433/sessions/whoami".into()),
        login_browser_endpoint: Some("https://iam.example.com/self-service/login/browser".into()),
    }
}

#[test]
fn spec_6_6_config_with_kratos_rules_and_three_headers() {
    let kratos = kratos();
    let rendered = render_config(&ConfigInputs {
        kratos: Some(&kratos),
        rule_files: vec![
            "access-rules-requirer-allow.json",
            "access-rules-requirer-deny.json",
        ],
        headers: vec!["X-Name", "X-Email", "X-User"],
        watched_namespace: None,
        tracing: None,
    });
    assert_eq!(parsed(&rendered), parsed(SPEC_6_6));
}

#[test]
fn spec_6_6_config_without_kratos_uses_the_defaults_and_omits_repositories() {
    let rendered = parsed(&render_config(&ConfigInputs::default()));
    let mut expected = yaml(SPEC_6_6);
    let map = expected.as_mapping_mut().unwrap();
    map["access_rules"] = yaml("{matching_strategy: regexp}");
    map["errors"]["handlers"]["redirect"]["config"]["to"] = DEFAULT_LOGIN_URL.into();
    map["authenticators"]["cookie_session"]["config"]["check_session_url"] =
        DEFAULT_SESSIONS_URL.into();
    map["mutators"]["header"]["config"]["headers"] = yaml(r#"{X-User: "{{ print .Subject }}"}"#);
    assert_eq!(rendered, parsed_value(&expected));
}

#[test]
fn only_requested_headers_beyond_x_user_are_rendered() {
    let rendered = parsed(&render_config(&ConfigInputs {
        headers: vec!["X-Email"],
        ..ConfigInputs::default()
    }));
    let headers = &rendered.mutators.header.config.unwrap()["headers"];
    assert_eq!(
        headers,
        &serde_json::json!(
            {"X-User": "{{ print .Subject }}", "X-Email": "{{ print .Extra.identity.traits.email }}"}
        )
    );
}

#[test]
fn spec_4_8_layer() {
    let expected = Layer::parse_yaml(
        r#"
summary: oathkeeper-operator layer
description: pebble config layer for oathkeeper-operator
services:
  oathkeeper:
    override: replace
    summary: Oathkeeper Operator layer
    command: oathkeeper serve -c /etc/config/oathkeeper/oathkeeper.yaml
    startup: enabled
checks:
  alive:
    override: replace
    http: {url: "http://localhost:4456/health/alive"}
"#,
    )
    .unwrap();
    let mounted = layer(ConfigSource::MountedVolumes, "testing");
    assert_eq!(mounted, expected);
    mounted.validate(LAYER_LABEL).unwrap();
    assert_eq!(
        ConfigSource::of_plan(&mounted),
        Some(ConfigSource::MountedVolumes)
    );
}

#[test]
fn watched_through_the_api_the_layer_and_config_name_the_configmaps() {
    let watched = layer(ConfigSource::KubernetesApi, "iam");
    assert_eq!(
        watched.services[SERVICE].command.as_deref(),
        Some("oathkeeper serve -c k8s://iam/oathkeeper-config")
    );
    watched.validate(LAYER_LABEL).unwrap();
    assert_eq!(
        ConfigSource::of_plan(&watched),
        Some(ConfigSource::KubernetesApi)
    );
    assert!(!is_planned(
        &layer(ConfigSource::MountedVolumes, "iam"),
        &watched
    ));
    assert!(is_planned(&watched, &watched));
    let rendered = render_config(&ConfigInputs {
        rule_files: vec!["access-rules-a-deny.json"],
        watched_namespace: Some("iam"),
        ..ConfigInputs::default()
    });
    let config = parse_config(&rendered, &NoEnv).unwrap();
    assert_eq!(config.access_rules.repositories, ["k8s://iam/access-rules"]);
}

#[test]
fn config_source_accepts_its_two_values_and_names_the_option_otherwise() {
    assert_eq!(
        ConfigSource::parse("kubernetes-api"),
        Ok(ConfigSource::KubernetesApi)
    );
    assert_eq!(
        ConfigSource::parse("mounted-volumes"),
        Ok(ConfigSource::MountedVolumes)
    );
    let error = ConfigSource::parse("files").unwrap_err();
    assert!(
        error.contains("config-source") && error.contains("\"files\""),
        "{error}"
    );
}

#[test]
fn scheme_is_https_only_with_tls_outside_dev_mode() {
    assert_eq!(scheme(false, false), "http");
    assert_eq!(scheme(true, true), "http");
    assert_eq!(scheme(true, false), "https");
}
