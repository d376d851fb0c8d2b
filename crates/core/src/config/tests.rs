use std::collections::BTreeMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The config the upstream charm renders, spec/charm-parity.md §6.6.
pub(crate) const CHARM_CONFIG: &str = r#"
log:
  level: info
  format: json
serve:
  api:
    cors:
      enabled: true
      allowed_origins:
        - "*"
  prometheus:
    port: 9000
    metrics_path: /metrics/prometheus
    metric_name_prefix: oathkeeper_
errors:
  fallback:
    - www_authenticate
    - json
  handlers:
    redirect:
      enabled: true
      config:
        to: http://kratos/self-service/login/browser
        return_to_query_param: return_to
        when:
          - error:
              - unauthorized
              - forbidden
            request:
              header:
                accept:
                  - text/html
    www_authenticate:
      enabled: true
      config:
        realm: unauthorized
        when:
          - error:
              - not_found
              - internal_server_error
    json:
      enabled: true
access_rules:
  matching_strategy: regexp
  repositories:
    - file:///etc/config/access-rules/access-rules-requirer-allow.json
authenticators:
  anonymous:
    enabled: true
  noop:
    enabled: true
  cookie_session:
    enabled: true
    config:
      check_session_url: http://kratos/sessions/whoami
      preserve_path: true
      extra_from: "@this"
      subject_from: "identity.id"
      only:
        - ory_kratos_session
authorizers:
  allow:
    enabled: true
mutators:
  noop:
    enabled: true
  header:
    enabled: true
    config:
      headers:
        X-User: "{{ print .Subject }}"
        X-Email: "{{ print .Extra.identity.traits.email }}"
"#;

#[test]
fn charm_rendered_config_parses_with_upstream_defaults() {
    let c = parse_config(CHARM_CONFIG, &NoEnv).unwrap();
    assert_eq!(c.serve.api_port(), 4456);
    assert_eq!(c.serve.proxy_port(), 4455);
    assert!(c.serve.api.cors.enabled);
    assert_eq!(c.serve.prometheus.metrics_path, "/metrics/prometheus");
    assert_eq!(c.errors.fallback, ["www_authenticate", "json"]);
    assert!(c.errors.handlers.json.enabled);
    assert!(c.authenticators.cookie_session.enabled);
    assert!(!c.authenticators.jwt.enabled);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.access_rules.repositories.len(), 1);
    assert_eq!(c.serve.api.timeout.read, Duration::from_secs(5));
}

#[test]
fn empty_config_gives_defaults() {
    let c = parse_config("", &NoEnv).unwrap();
    assert_eq!(c.serve.api_port(), 4456);
    assert_eq!(c.serve.prometheus.port, 9000);
    assert_eq!(c.serve.prometheus.metric_name_prefix, "ory_oathkeeper_");
    assert_eq!(c.errors.fallback, ["json"]);
    assert!(c.errors.handlers.json.enabled);
    assert_eq!(c.access_rules.matching_strategy, Strategy::Regexp);
}

#[test]
fn json_config_is_accepted() {
    let c = parse_config(r#"{"serve": {"api": {"port": 1234}}}"#, &NoEnv).unwrap();
    assert_eq!(c.serve.api_port(), 1234);
}

#[test]
fn unknown_keys_are_rejected_naming_the_path() {
    let err = parse_config("serve:\n  api:\n    prot: 1\n", &NoEnv).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("serve.api") && text.contains("prot"),
        "{text}"
    );
    let err = parse_config("authenticators:\n  nope:\n    enabled: true\n", &NoEnv).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn wrong_types_are_rejected_naming_the_path() {
    let err = parse_config("serve:\n  api:\n    port: abc\n", &NoEnv).unwrap_err();
    assert!(err.to_string().contains("\"serve.api.port\""), "{err}");
    let err = parse_config("access_rules:\n  matching_strategy: fuzzy\n", &NoEnv).unwrap_err();
    assert!(
        err.to_string().contains("access_rules.matching_strategy"),
        "{err}"
    );
    let err = parse_config("serve:\n  api:\n    timeout:\n      read: soon\n", &NoEnv).unwrap_err();
    assert!(err.to_string().contains("serve.api.timeout.read"), "{err}");
}

#[test]
fn syntax_errors_carry_the_line() {
    let err = parse_config("serve:\n  api: [\n", &NoEnv).unwrap_err();
    assert!(
        matches!(err, ConfigError::Syntax { line: Some(_), .. }),
        "{err}"
    );
}

#[test]
fn environment_overrides_the_file_as_upstream_maps_it() {
    let vars = env(&[
        ("SERVE_API_PORT", "5000"),
        ("LOG_LEVEL", "debug"),
        ("ACCESS_RULES_REPOSITORIES", "file:///a.json, inline://W10="),
        ("ACCESS_RULES_MATCHING_STRATEGY", "glob"),
        (
            "AUTHENTICATORS_COOKIE_SESSION_CONFIG_CHECK_SESSION_URL",
            "http://other/whoami",
        ),
        ("AUTHENTICATORS_JWT_ENABLED", "true"),
    ]);
    let c = parse_config(CHARM_CONFIG, &vars).unwrap();
    assert_eq!(c.serve.api_port(), 5000);
    assert_eq!(c.log.level, LogLevel::Debug);
    assert_eq!(
        c.access_rules.repositories,
        ["file:///a.json", "inline://W10="]
    );
    assert_eq!(c.access_rules.matching_strategy, Strategy::Glob);
    let cs = c.authenticators.cookie_session.config.unwrap();
    assert_eq!(cs["check_session_url"], "http://other/whoami");
    assert_eq!(
        cs["preserve_path"], true,
        "other keys of the block are kept"
    );
    assert!(c.authenticators.jwt.enabled);
}

#[test]
fn bad_environment_values_name_the_variable() {
    let err = parse_config("", &env(&[("SERVE_API_PORT", "x")])).unwrap_err();
    assert!(err.to_string().contains("SERVE_API_PORT"), "{err}");
}

#[test]
fn env_var_names_follow_upstream() {
    assert_eq!(env_var_name("serve.api.port"), "SERVE_API_PORT");
    assert_eq!(
        env_var_name("access_rules.matching_strategy"),
        "ACCESS_RULES_MATCHING_STRATEGY"
    );
}
