use std::collections::BTreeMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The `oathkeeper.yaml` our charm renders (spec/charm-parity.md §6.6), as text: Kratos at
/// `http://kratos`, the three identity headers, one rules file mounted.
fn charm_config() -> String {
    use crate::charm::config::HEADER_TEMPLATES;
    use crate::charm::{ConfigInputs, Repositories, oathkeeper_config};
    oathkeeper_config(&ConfigInputs {
        login_url: Some("http://kratos/self-service/login/browser"),
        sessions_url: Some("http://kratos/sessions/whoami"),
        repositories: Repositories::Mounted(vec!["access-rules-requirer-allow.json"]),
        headers: HEADER_TEMPLATES.map(|(name, _)| name).to_vec(),
    })
    .to_yaml()
}

#[test]
fn charm_rendered_config_parses_with_upstream_defaults() {
    let c = parse_config(&charm_config(), &NoEnv).unwrap();
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
    let c = parse_config(&charm_config(), &vars).unwrap();
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
fn tls_environment_variables_set_the_api_pair_as_upstreams_charm_passes_it() {
    let c = parse_config(
        "serve: {api: {port: 4456}}",
        &env(&[
            ("SERVE_API_TLS_CERT_BASE64", "Y2VydA=="),
            ("SERVE_API_TLS_KEY_BASE64", "a2V5"),
        ]),
    )
    .unwrap();
    let tls = c.serve.api.tls.unwrap();
    assert_eq!(tls.cert.base64.as_deref(), Some("Y2VydA=="));
    assert_eq!(tls.key.base64.as_deref(), Some("a2V5"));
    assert_eq!((tls.cert.path, tls.key.path), (None, None));

    let c = parse_config(
        "",
        &env(&[
            ("SERVE_API_TLS_CERT_PATH", "/etc/tls/tls.crt"),
            ("SERVE_API_TLS_KEY_PATH", "/etc/tls/tls.key"),
        ]),
    )
    .unwrap();
    let tls = c.serve.api.tls.unwrap();
    assert_eq!(tls.cert.path.as_deref(), Some("/etc/tls/tls.crt"));
    assert_eq!(tls.key.path.as_deref(), Some("/etc/tls/tls.key"));
    // Only the API: the proxy listener and the metrics are not touched.
    assert_eq!(c.serve.proxy.tls, None);
}

#[test]
fn tls_environment_variables_override_the_files_pair() {
    let c = parse_config(
        "serve: {api: {tls: {cert: {path: /a.crt}, key: {path: /a.key}}}}",
        &env(&[("SERVE_API_TLS_CERT_PATH", "/b.crt")]),
    )
    .unwrap();
    let tls = c.serve.api.tls.unwrap();
    assert_eq!(tls.cert.path.as_deref(), Some("/b.crt"));
    assert_eq!(tls.key.path.as_deref(), Some("/a.key"));
}

#[test]
fn env_var_names_follow_upstream() {
    assert_eq!(env_var_name("serve.api.port"), "SERVE_API_PORT");
    assert_eq!(
        env_var_name("access_rules.matching_strategy"),
        "ACCESS_RULES_MATCHING_STRATEGY"
    );
}

#[test]
fn upstream_charm_tracing_env_configures_otlp_and_extra_variables_are_ignored() {
    // The Python charm's env (spec/charm-parity.md §4.8), including `TRACING_ENABLED`, which
    // no config key reads.
    let c = parse_config(
        "",
        &env(&[
            ("TRACING_ENABLED", "True"),
            ("TRACING_PROVIDER", "otel"),
            ("TRACING_PROVIDERS_OTLP_SERVER_URL", "tempo-0.tempo:4318"),
            ("TRACING_PROVIDERS_OTLP_INSECURE", "True"),
            ("TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO", "1"),
        ]),
    )
    .unwrap();
    assert_eq!(c.tracing.provider, "otel");
    assert_eq!(c.tracing.providers.otlp.server_url, "tempo-0.tempo:4318");
    assert!(c.tracing.providers.otlp.insecure);
    assert_eq!(c.tracing.providers.otlp.sampling.sampling_ratio, Some(1.0));
    let c = parse_config(
        "",
        &env(&[("TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO", "0.01")]),
    )
    .unwrap();
    assert_eq!(c.tracing.providers.otlp.sampling.sampling_ratio, Some(0.01));
}

#[test]
fn tracing_ratio_that_is_not_a_number_names_the_variable() {
    let e = parse_config(
        "",
        &env(&[("TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO", "most")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO"),
        "{e}"
    );
}

#[test]
fn upstream_tracing_blocks_parse_and_round_trip() {
    let text = "tracing:\n  provider: otel\n  service_name: gate\n  providers:\n    otlp:\n      server_url: collector:4318\n      insecure: true\n      sampling: {sampling_ratio: 0.5}\n      authorization_header: Bearer x\n    jaeger: {local_agent_address: 'j:6831'}\n";
    let c = parse_config(text, &NoEnv).unwrap();
    assert_eq!(c.tracing.service_name.as_deref(), Some("gate"));
    assert_eq!(parse_config(&c.to_yaml(), &NoEnv).unwrap(), c);
    let e = parse_config("tracing: {providers: {otlp: {server: x}}}", &NoEnv)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tracing.providers.otlp"), "{e}");
}

mod round_trip {
    use proptest::prelude::*;
    use proptest::strategy::Strategy;

    use super::*;
    use crate::handler::{
        anonymous, cookie, header, json, redirect, session_store, when, www_authenticate,
    };
    use crate::matcher::Strategy as Matching;

    /// Text that YAML could read as something else: empty, `null`, `true`, numbers, `~`,
    /// leading spaces, `: `, `#`, quotes, newlines, templates.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_./:@-]{0,12}",
            Just(String::new()),
            prop::sample::select(vec![
                "null",
                "~",
                "true",
                "False",
                "yes",
                "no",
                "1",
                "0x1f",
                "1e3",
                ".inf",
                "-",
                " lead",
                "a: b",
                "# c",
                "'q'",
                "\"d\"",
                "line\nbreak",
                "{{ print .Subject }}",
                "*",
                "&a",
                "!tag",
                "[x]",
                "{y}",
                "%",
                "@this",
            ])
            .prop_map(str::to_owned),
        ]
    }

    fn texts() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(text(), 0..3)
    }

    fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(text(), text(), 0..3)
    }

    fn duration() -> impl Strategy<Value = Duration> {
        (0u64..10_000_000).prop_map(Duration::from_millis)
    }

    fn clause() -> impl Strategy<Value = when::Clause> {
        (
            texts(),
            prop::option::of((
                prop::option::of((texts(), texts()).prop_map(|(accept, content_type)| {
                    when::Header {
                        accept,
                        content_type,
                    }
                })),
                prop::option::of((texts(), any::<bool>()).prop_map(|(networks, r)| {
                    when::RemoteIp {
                        networks,
                        respect_forwarded_for_header: r,
                    }
                })),
            )),
        )
            .prop_map(|(error, request)| when::Clause {
                error,
                request: request.map(|(header, remote_ip)| when::Request { header, remote_ip }),
            })
    }

    fn clauses() -> impl Strategy<Value = Option<Vec<when::Clause>>> {
        prop::option::of(prop::collection::vec(clause(), 0..3))
    }

    fn session_store() -> impl Strategy<Value = session_store::Config> {
        (
            (
                prop::option::of(text()),
                prop::option::of(texts()),
                prop::option::of(
                    (
                        prop::option::of(text()),
                        prop::option::of(text()),
                        prop::option::of(text()),
                    )
                        .prop_map(|(header, query_parameter, cookie)| {
                            session_store::TokenFrom {
                                header,
                                query_parameter,
                                cookie,
                            }
                        }),
                ),
                prop::option::of(text()),
                prop::option::of(any::<bool>()),
                prop::option::of(any::<bool>()),
                prop::option::of(any::<bool>()),
            ),
            (
                prop::option::of(text()),
                prop::option::of(texts()),
                prop::option::of(map()),
                prop::option::of(text()),
                prop::option::of(text()),
                prop::option::of(text()),
                prop::option::of(text()),
                prop::option::of(
                    (
                        prop::option::of(any::<bool>()),
                        prop::option::of(text()),
                        prop::option::of(any::<u64>()),
                    )
                        .prop_map(|(enabled, ttl, max_entries)| {
                            session_store::Cache {
                                enabled,
                                ttl,
                                max_entries,
                            }
                        }),
                ),
            ),
        )
            .prop_map(
                |(
                    (check_session_url, only, token_from, prefix, pq, pp, ph),
                    (force_method, fwd, add, extra_from, subject_from, timeout, ct, cache),
                )| session_store::Config {
                    check_session_url,
                    only,
                    token_from,
                    prefix,
                    preserve_query: pq,
                    preserve_path: pp,
                    preserve_host: ph,
                    force_method,
                    forward_http_headers: fwd,
                    additional_headers: add,
                    extra_from,
                    subject_from,
                    timeout,
                    connect_timeout: ct,
                    cache,
                },
            )
    }

    /// A switch whose config, when set, is the typed config `config` gives.
    fn switch<T: serde::Serialize + std::fmt::Debug + 'static>(
        config: impl Strategy<Value = T> + 'static,
    ) -> BoxedStrategy<HandlerSwitch> {
        prop_oneof![
            Just(HandlerSwitch::default()),
            Just(HandlerSwitch::enabled()),
            (any::<bool>(), config).prop_map(|(enabled, c)| HandlerSwitch {
                enabled,
                ..HandlerSwitch::enabled_with(&c)
            }),
        ]
        .boxed()
    }

    fn plain_switch() -> BoxedStrategy<HandlerSwitch> {
        prop_oneof![
            Just(HandlerSwitch::default()),
            Just(HandlerSwitch::enabled())
        ]
        .boxed()
    }

    fn listener() -> impl Strategy<Value = Listener> {
        (
            text(),
            prop::option::of(any::<u16>()),
            any::<bool>(),
            (any::<bool>(), texts(), texts(), any::<bool>(), any::<u64>()),
            (duration(), duration(), duration()),
            prop::option::of((prop::option::of(text()), prop::option::of(text()))),
        )
            .prop_map(
                |(
                    host,
                    port,
                    trust,
                    (enabled, origins, methods, creds, max_age),
                    (read, write, idle),
                    tls,
                )| {
                    Listener {
                        host,
                        port,
                        trust_forwarded_headers: trust,
                        cors: Cors {
                            enabled,
                            allowed_origins: origins,
                            allowed_methods: methods,
                            allow_credentials: creds,
                            max_age,
                            ..Cors::default()
                        },
                        timeout: Timeouts { read, write, idle },
                        tls: tls.map(|(path, base64)| Tls {
                            key: TlsSource { path, base64 },
                            cert: TlsSource::default(),
                        }),
                    }
                },
            )
    }

    fn config() -> impl Strategy<Value = Config> {
        let serve = (
            prop_oneof![Just(Listener::default()), listener()],
            listener(),
            (text(), any::<u16>(), text(), any::<bool>()),
        )
            .prop_map(|(proxy, api, (host, port, path, collapse))| Serve {
                proxy,
                api,
                prometheus: Prometheus {
                    host,
                    port,
                    metrics_path: path,
                    collapse_request_paths: collapse,
                    ..Prometheus::default()
                },
            });
        let access_rules = (texts(), any::<bool>()).prop_map(|(repositories, glob)| AccessRules {
            repositories,
            matching_strategy: if glob {
                Matching::Glob
            } else {
                Matching::Regexp
            },
        });
        let authenticators = (
            plain_switch(),
            switch(prop::option::of(text()).prop_map(|subject| anonymous::Config { subject })),
            switch(session_store()),
            switch(session_store()),
            plain_switch(),
        )
            .prop_map(
                |(noop, anonymous, cookie_session, bearer_token, jwt)| Authenticators {
                    noop,
                    anonymous,
                    cookie_session,
                    bearer_token,
                    jwt,
                    ..Authenticators::default()
                },
            );
        let mutators = (
            plain_switch(),
            switch(prop::option::of(map()).prop_map(|headers| header::Config { headers })),
            switch(prop::option::of(map()).prop_map(|cookies| cookie::Config { cookies })),
        )
            .prop_map(|(noop, header, cookie)| Mutators {
                noop,
                header,
                cookie,
                ..Mutators::default()
            });
        let errors = (
            prop::option::of(texts()),
            switch(
                (prop::option::of(any::<bool>()), clauses())
                    .prop_map(|(verbose, when)| json::Config { verbose, when }),
            ),
            switch(
                (
                    prop::option::of(text()),
                    prop::option::of(any::<u16>()),
                    prop::option::of(text()),
                    clauses(),
                )
                    .prop_map(|(to, code, return_to_query_param, when)| {
                        redirect::Config {
                            to,
                            code,
                            return_to_query_param,
                            when,
                        }
                    }),
            ),
            switch(
                (prop::option::of(text()), clauses())
                    .prop_map(|(realm, when)| www_authenticate::Config { realm, when }),
            ),
        )
            .prop_map(|(fallback, json, redirect, www_authenticate)| Errors {
                fallback: fallback.unwrap_or_else(|| Errors::default().fallback),
                handlers: ErrorHandlers {
                    json,
                    redirect,
                    www_authenticate,
                },
            });
        let log = (
            prop::sample::select(vec![LogLevel::Debug, LogLevel::Info, LogLevel::Error]),
            prop::sample::select(vec![
                LogFormat::Json,
                LogFormat::Text,
                LogFormat::JsonPretty,
            ]),
            any::<bool>(),
            prop::option::of(text()),
            texts(),
        )
            .prop_map(|(level, format, leak, redaction_text, extra)| Log {
                level,
                format,
                leak_sensitive_values: leak,
                redaction_text,
                additional_redacted_headers: extra,
            });
        (
            prop_oneof![Just(Serve::default()), serve],
            access_rules,
            authenticators,
            (plain_switch(), plain_switch()).prop_map(|(allow, deny)| Authorizers {
                allow,
                deny,
                ..Authorizers::default()
            }),
            mutators,
            errors,
            prop_oneof![Just(Log::default()), log],
            prop::option::of(text()),
        )
            .prop_map(
                |(
                    serve,
                    access_rules,
                    authenticators,
                    authorizers,
                    mutators,
                    errors,
                    log,
                    version,
                )| {
                    Config {
                        serve,
                        access_rules,
                        authenticators,
                        authorizers,
                        mutators,
                        errors,
                        log,
                        version,
                        ..Config::default()
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_config_reads_back_from_its_yaml(c in config()) {
            let yaml = c.to_yaml();
            let back = parse_config(&yaml, &NoEnv);
            prop_assert!(back.is_ok(), "{yaml}\n{:?}", back);
            prop_assert_eq!(back.unwrap(), c, "{}", yaml);
        }
    }

    #[test]
    fn the_default_config_is_an_empty_document() {
        assert_eq!(Config::default().to_yaml().trim(), "{}");
    }

    #[test]
    fn only_what_differs_from_the_default_is_written() {
        let mut c = Config::default();
        c.authenticators.cookie_session =
            HandlerSwitch::enabled_with(&session_store::Config::new("http://kratos/whoami"));
        c.serve.api.port = Some(4456);
        assert_eq!(
            c.to_yaml(),
            "serve:\n  api:\n    port: 4456\nauthenticators:\n  cookie_session:\n    enabled: true\n    config:\n      check_session_url: http://kratos/whoami\n"
        );
    }

    #[test]
    fn the_charm_config_reads_back_from_its_yaml() {
        let c = parse_config(&charm_config(), &NoEnv).unwrap();
        assert_eq!(parse_config(&c.to_yaml(), &NoEnv).unwrap(), c);
    }
}
