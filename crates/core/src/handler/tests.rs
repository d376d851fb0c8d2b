use serde_json::json;

use super::*;

#[test]
fn a_config_built_in_code_serialises_to_the_keys_that_were_set() {
    let mut store = session_store::Config::new("http://kratos/sessions/whoami");
    store.preserve_path = Some(true);
    store.only = Some(vec!["ory_kratos_session".into()]);
    assert_eq!(
        serde_json::to_value(&store).unwrap(),
        json!({"check_session_url": "http://kratos/sessions/whoami", "preserve_path": true,
               "only": ["ory_kratos_session"]})
    );
    let redirect = redirect::Config {
        when: Some(vec![
            when::Clause::errors(["unauthorized"]).accepting(["text/html"]),
        ]),
        ..redirect::Config::new("http://login")
    };
    assert_eq!(
        serde_json::to_value(&redirect).unwrap(),
        json!({"to": "http://login",
               "when": [{"error": ["unauthorized"], "request": {"header": {"accept": ["text/html"]}}}]})
    );
    assert_eq!(
        serde_json::to_value(anonymous::Config::default()).unwrap(),
        json!({})
    );
}

#[test]
fn serialised_configs_decode_to_the_same_value() {
    let configs = [
        (
            "cookie_session",
            serde_json::to_value(session_store::Config {
                cache: Some(session_store::Cache {
                    enabled: Some(true),
                    ..Default::default()
                }),
                additional_headers: Some([("x".to_owned(), "y".to_owned())].into()),
                ..session_store::Config::new("http://k")
            })
            .unwrap(),
        ),
        ("anonymous", json!({"subject": "guest"})),
    ];
    for (id, value) in configs {
        let decoded = AuthenticatorConfig::decode(id, &value).unwrap();
        let back = match &decoded {
            AuthenticatorConfig::CookieSession(c) => serde_json::to_value(c).unwrap(),
            AuthenticatorConfig::Anonymous(c) => serde_json::to_value(c).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(back, value, "{id}");
    }
}

#[test]
fn decoding_refuses_what_the_server_refuses() {
    let bad = [
        ("anonymous", json!({"subjekt": "x"})),
        ("anonymous", json!({"subject": null})),
        ("anonymous", json!({"subject": 1})),
        ("noop", json!({"x": 1})),
        ("cookie_session", json!({"preserve_query": null})),
        ("cookie_session", json!({"token_from": {"header": "x"}})),
        ("bearer_token", json!({"only": []})),
        (
            "bearer_token",
            json!({"token_from": {"header": "x", "cookie": "y"}}),
        ),
        ("jwt", json!({})),
        ("oauth2_client_credentials", json!({})),
    ];
    for (id, config) in bad {
        assert!(
            AuthenticatorConfig::decode(id, &config).is_err(),
            "{id} {config}"
        );
    }
    assert!(matches!(
        AuthorizerConfig::decode("keto_engine_acp_ory", &json!({})),
        Err(ConfigError::Unsupported)
    ));
    assert!(
        AuthenticatorConfig::decode("cookie_session", &json!({"check_session_url": null})).is_ok()
    );
    assert!(MutatorConfig::decode("header", &json!({"headers": null})).is_err());
    assert!(ErrorHandlerConfig::decode("redirect", &json!({"to": null, "code": null})).is_ok());
}

#[test]
fn keys_a_rule_may_supply_are_reported_by_name() {
    let MutatorConfig::Header(header) = MutatorConfig::decode("header", &json!({})).unwrap() else {
        panic!()
    };
    assert_eq!(header.headers(), Err(KeyError::Missing { key: "headers" }));
    let ErrorHandlerConfig::Redirect(redirect) =
        ErrorHandlerConfig::decode("redirect", &json!({"to": ""})).unwrap()
    else {
        panic!()
    };
    assert_eq!(redirect.to(), Err(KeyError::Missing { key: "to" }));
    assert_eq!(
        session_store::Config::default().check_session_url(),
        Err(KeyError::Missing {
            key: "check_session_url"
        })
    );
    let bad = redirect::Config {
        return_to_query_param: Some("a b".into()),
        ..redirect::Config::new("x")
    };
    assert!(matches!(
        bad.return_to_query_param(),
        Err(KeyError::Invalid { key, .. }) if key == "return_to_query_param"
    ));
}

#[test]
fn defaults_are_upstreams() {
    let c = session_store::Config::default();
    assert!(c.preserve_query());
    assert!(!c.preserve_path());
    assert_eq!(c.timeout(), "5s");
    assert_eq!(c.connect_timeout(), "1s");
    assert_eq!(c.extra_from(), "extra");
    assert!(!c.cache().enabled());
    assert_eq!(c.cache().ttl(), "10s");
    assert_eq!(c.cache().max_entries(), Ok(10_000));
    assert_eq!(anonymous::Config::default().subject(), "anonymous");
    assert_eq!(
        www_authenticate::Config::default().realm(),
        "Please authenticate."
    );
}
