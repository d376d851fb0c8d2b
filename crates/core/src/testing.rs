//! Rule fixtures for tests and benchmarks (feature `test-util`).

use crate::charm;
use crate::config::{Config, HandlerSwitch};
use crate::handler::session_store;
use crate::rule::{Handler, Match, Rule};

fn handler(id: &str) -> Handler {
    Handler {
        handler: id.to_owned(),
        config: None,
    }
}

/// About `n` rules shaped like a large deployment: our charm's rules ([`charm::app_rules`]: two
/// allowed endpoints and a deny rule each) for apps on their own hosts and apps under path
/// prefixes of one shared host, plus a few generic regexp rules (at most ten) tested against
/// every request of their scheme.
pub fn many_rules(n: usize) -> Vec<Rule> {
    let mut rules = Vec::with_capacity(n);
    let generic = (n / 10).clamp(1, 10);
    for i in 0..generic {
        rules.push(Rule {
            id: format!("generic:{i}"),
            matcher: Match {
                methods: vec!["GET".into()],
                url: format!("<https|http>://<[a-z]+>.internal/api/v{i}/<.*>"),
            },
            authenticators: vec![handler("anonymous")],
            authorizer: handler("allow"),
            mutators: vec![handler("noop")],
            ..Rule::default()
        });
    }
    let mut app = 0;
    while rules.len() < n {
        let url = if app % 2 == 0 {
            format!("https://app{app}.example.com")
        } else {
            // A delimiter after the number, as an operator would write it (`model-app1` is a
            // prefix of `model-app16`; the charm's path boundary keeps them apart anyway).
            format!("https://shared.example.com/model-app{app}-ui")
        };
        let generated = charm::app_rules(&format!("app{app}"), &[url], &["welcome", "about/app"])
            .expect("invariant: these URLs and endpoints make valid patterns");
        rules.extend(generated.into_rules());
        app += 1;
    }
    rules.truncate(n);
    rules
}

/// The `oathkeeper.yaml` the benchmarks use: our charm's ([`charm::oathkeeper_config`]) with
/// Kratos at `kratos`, the three identity headers and the session cache on (an hour at most).
/// Callers add `serve` listeners and `access_rules.repositories`.
pub fn bench_config(kratos: &str) -> Config {
    let sessions_url = format!("{kratos}/sessions/whoami");
    let login_url = format!("{kratos}/self-service/login/browser");
    let headers = charm::config::HEADER_TEMPLATES
        .map(|(name, _)| name)
        .to_vec();
    let mut config = charm::oathkeeper_config(&charm::ConfigInputs {
        login_url: Some(&login_url),
        sessions_url: Some(&sessions_url),
        headers,
        ..charm::ConfigInputs::default()
    });
    let session_store = session_store::Config {
        cache: Some(session_store::Cache {
            enabled: Some(true),
            ttl: Some("1h".to_owned()),
            ..session_store::Cache::default()
        }),
        ..charm::config::cookie_session(&sessions_url)
    };
    config.authenticators.cookie_session = HandlerSwitch::enabled_with(&session_store);
    config
}
