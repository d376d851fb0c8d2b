//! Rule fixtures for tests and benchmarks (feature `test-util`).

use crate::rule::{Handler, Match, Rule};

const METHODS: [&str; 6] = ["GET", "POST", "OPTION", "PUT", "PATCH", "DELETE"];

fn handler(id: &str) -> Handler {
    Handler {
        handler: id.to_owned(),
        config: None,
    }
}

/// The rules the charm generates for one auth-proxy app protecting `url` with `allowed`
/// endpoints (spec/charm-parity.md §6.2): one allow rule per endpoint, one deny rule.
pub fn charm_app_rules(app: &str, url: &str, allowed: &[&str]) -> Vec<Rule> {
    let url = url
        .trim_end_matches('/')
        .replace("https", "<^(https|http)>");
    let methods: Vec<String> = METHODS.iter().map(|m| (*m).to_owned()).collect();
    let mut rules: Vec<Rule> = allowed
        .iter()
        .map(|endpoint| Rule {
            id: format!("{app}:{endpoint}:0:allow"),
            matcher: Match {
                methods: methods.clone(),
                url: format!("{url}/<{endpoint}((/.*$)|$)>"),
            },
            authenticators: vec![handler("noop")],
            authorizer: handler("allow"),
            mutators: vec![handler("noop")],
            errors: vec![handler("json")],
            ..Rule::default()
        })
        .collect();
    let pattern = if allowed.is_empty() {
        format!("{url}<.*>")
    } else {
        let excluded: Vec<String> = allowed.iter().map(|e| format!("/{e}((/.*$)|$)")).collect();
        format!("{url}<(?!{}).*>", excluded.join("|"))
    };
    rules.push(Rule {
        id: format!("{app}:0:deny"),
        matcher: Match {
            methods,
            url: pattern,
        },
        authenticators: vec![handler("cookie_session")],
        authorizer: handler("allow"),
        mutators: vec![handler("header")],
        errors: vec![handler("redirect")],
        ..Rule::default()
    });
    rules
}

/// About `n` rules shaped like a large deployment: charm-generated allow/deny pairs for apps on
/// their own hosts and apps under path prefixes of one shared host, plus a few generic
/// regexp rules (at most ten) tested against every request of their scheme.
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
            // A delimiter after the number: `model-app1` is a prefix of `model-app16`, and the
            // charm's deny rule for the first would also match the second.
            format!("https://shared.example.com/model-app{app}-ui")
        };
        rules.extend(charm_app_rules(
            &format!("app{app}"),
            &url,
            &["welcome", "about/app"],
        ));
        app += 1;
    }
    rules.truncate(n);
    rules
}

/// The handler part of `oathkeeper.yaml` the benchmarks use: the charm's `cookie_session` (with
/// the session cache on) against `kratos`, `anonymous`, `noop`, `allow`, and the charm's three
/// header templates. Callers add `serve` and `access_rules`.
pub fn bench_handlers_config(kratos: &str) -> String {
    format!(
        r#"
authenticators:
  anonymous: {{enabled: true}}
  noop: {{enabled: true}}
  cookie_session:
    enabled: true
    config:
      check_session_url: {kratos}/sessions/whoami
      preserve_path: true
      extra_from: "@this"
      subject_from: identity.id
      only: [ory_kratos_session]
      cache: {{enabled: true, ttl: 1h}}
authorizers: {{allow: {{enabled: true}}}}
mutators:
  noop: {{enabled: true}}
  header:
    enabled: true
    config:
      headers:
        X-User: "{{{{ print .Subject }}}}"
        X-Email: "{{{{ print .Extra.identity.traits.email }}}}"
        X-Name: "{{{{ print .Extra.identity.traits.name }}}}"
errors:
  fallback: [json]
  handlers:
    redirect: {{enabled: true, config: {{to: "http://login.example/"}}}}
"#
    )
}
