use oathkeeper_core::config::{NoEnv, parse_config};
use oathkeeper_core::rule::parse_rules;

use super::*;

fn compile_text(config: &str, rules: &str) -> Snapshot {
    let config = parse_config(config, &NoEnv).unwrap();
    compile(
        &config,
        &[RuleFile {
            repository: "rules.json".into(),
            rules: parse_rules(rules.as_bytes()).unwrap(),
        }],
        Default::default(),
    )
}

const CONFIG: &str = "
authenticators: {anonymous: {enabled: true}, noop: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators: {noop: {enabled: true}, header: {enabled: true, config: {headers: {X-User: '{{ print .Subject }}'}}}}
";

fn errors(s: &Snapshot) -> Vec<String> {
    s.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.message.clone())
        .collect()
}

fn warnings(s: &Snapshot) -> Vec<String> {
    s.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn handler_problems_invalidate_the_rule_but_keep_it_matching() {
    let s = compile_text(
        CONFIG,
        r#"[
        {"id":"disabled","match":{"url":"http://h/a","methods":["GET"]},"authenticators":[{"handler":"cookie_session"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},
        {"id":"unknown","match":{"url":"http://h/b","methods":["GET"]},"authenticators":[{"handler":"magic"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},
        {"id":"no-mutators","match":{"url":"http://h/c","methods":["GET"]},"authenticators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"mutators":[]},
        {"id":"bad-config","match":{"url":"http://h/d","methods":["GET"]},"authenticators":[{"handler":"anonymous","config":{"subjekt":"x"}}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},
        {"id":"bad-template","match":{"url":"http://h/e","methods":["GET"]},"authenticators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"header","config":{"headers":{"X":"{{ nosuchfunc }}"}}}]}
    ]"#,
    );
    let e = errors(&s);
    assert!(
        e[0].contains("authenticator \"cookie_session\" is disabled per configuration"),
        "{e:?}"
    );
    assert!(e[1].contains("unknown authenticator \"magic\""), "{e:?}");
    assert!(e[2].contains("no mutators"), "{e:?}");
    assert!(e[3].contains("subjekt"), "{e:?}");
    assert_eq!(
        s.rule_count(),
        5,
        "invalid rules still match (and answer 500)"
    );
    assert!(s.compiled.iter().all(|r| r.problem.is_some()));
}

fn rule(id: &str, url: &str) -> String {
    format!(
        r#"{{"id":"{id}","match":{{"url":"{url}","methods":["GET"]}},"authenticators":[{{"handler":"noop"}}],"authorizer":{{"handler":"allow"}},"mutators":[{{"handler":"noop"}}]}}"#
    )
}

fn rules(list: &[(&str, &str)]) -> Vec<oathkeeper_core::rule::Rule> {
    let text = list
        .iter()
        .map(|(id, url)| rule(id, url))
        .collect::<Vec<_>>()
        .join(",");
    parse_rules(format!("[{text}]").as_bytes()).unwrap()
}

#[test]
fn a_file_with_a_rule_that_cannot_compile_loads_no_rule_at_all() {
    let s = compile_text(
        CONFIG,
        &format!(
            "[{},{},{}]",
            rule("good", "http://h/<.*>"),
            rule("bad", "http://h/<(>"),
            rule("empty", "")
        ),
    );
    assert_eq!(s.rule_count(), 0, "not even the good rule");
    assert!(s.rules.is_empty(), "the API lists what serves: nothing");
    let e = errors(&s);
    assert!(e[0].starts_with("rule \"bad\": "), "{e:?}");
    assert!(e[1].contains("rule \"empty\": match.url is empty"), "{e:?}");
    assert!(
        e[2].starts_with("rule \"bad\": ")
            && e[2].ends_with("(and 1 more); no rule of the file is loaded"),
        "{e:?}"
    );
}

#[test]
fn a_file_with_a_rule_that_cannot_compile_keeps_its_last_good_version_whole() {
    let config = parse_config(CONFIG, &NoEnv).unwrap();
    let other = rules(&[("public", "http://h/public<.*>")]);
    let last_good = rules(&[("admin", "http://h/admin<.*>"), ("a", "http://h/a")]);
    let broken = rules(&[("admin", "http://h/admin<(>"), ("a", "http://h/a2")]);
    let (other_stored, last_good) = (StoredRules::new(&other), StoredRules::new(&last_good));
    let (s, outcomes) = compile_files(
        &config,
        &[
            Versions {
                repository: "other.json",
                current: Version::Parsed(&other),
                last_good: Some(&other_stored),
            },
            Versions {
                repository: "admin.json",
                current: Version::Parsed(&broken),
                last_good: Some(&last_good),
            },
        ],
        Default::default(),
    );
    assert_eq!(outcomes[0], FileOutcome::Loaded(other_stored));
    let FileOutcome::Rejected { reason, kept } = &outcomes[1] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(*kept, 2);
    assert!(
        reason.starts_with("rule \"admin\": ")
            && reason.ends_with("; the last good version of the file (2 rules) stays in use"),
        "{reason}"
    );
    let ids: Vec<_> = s.compiled.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["public", "admin", "a"],
        "the old `a`, not the new one"
    );
    assert_eq!(s.rules.parsed()[2].matcher.url, "http://h/a");
    assert!(
        s.rules.iter().nth(1).unwrap().as_ptr() == last_good.iter().next().unwrap().as_ptr(),
        "the last good version serves as it was kept, not a copy"
    );
    assert!(
        s.diagnostics
            .iter()
            .any(|d| d.repository == "admin.json" && d.rule.as_deref() == Some("admin")),
        "the rule is named in the log: {:?}",
        s.diagnostics
    );
}

#[test]
fn overlaps_and_duplicate_ids_are_reported_at_load() {
    let s = compile_text(
        CONFIG,
        r#"[{"id":"a","match":{"url":"http://h/<.*>","methods":["GET"]},"authenticators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},
            {"id":"a","match":{"url":"http://h/x","methods":["GET"]},"authenticators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]}]"#,
    );
    let w = warnings(&s);
    assert!(
        w.iter().any(|m| m.contains("duplicate rule id \"a\"")),
        "{w:?}"
    );
    assert!(w.iter().any(|m| m.contains("match the same URLs")), "{w:?}");
}

#[test]
fn unknown_or_disabled_fallback_is_reported() {
    let s = compile_text("errors: {fallback: [redirect, nope]}", "[]");
    let e = errors(&s);
    assert!(
        e[0].contains("redirect") && e[0].contains("disabled"),
        "{e:?}"
    );
    assert!(e[1].contains("unknown error handler \"nope\""), "{e:?}");
}

#[test]
fn identical_templates_are_parsed_once() {
    let mut cx = CompileCx::default();
    let a = cx.template("{{ print .Subject }}").unwrap();
    let b = cx.template("{{ print .Subject }}").unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
}

#[test]
fn session_stores_survive_a_reload_with_the_same_config() {
    let config = "
authenticators: {cookie_session: {enabled: true, config: {check_session_url: 'http://k/whoami'}}}
authorizers: {allow: {enabled: true}}
mutators: {noop: {enabled: true}}
";
    let rules = r#"[{"id":"a","match":{"url":"http://h/<.*>","methods":["GET"]},"authenticators":[{"handler":"cookie_session"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]}]"#;
    let first = compile_text(config, rules);
    let parsed = parse_config(config, &NoEnv).unwrap();
    let files = [RuleFile {
        repository: "r".into(),
        rules: parse_rules(rules.as_bytes()).unwrap(),
    }];
    let second = compile(&parsed, &files, first.session_stores.clone());
    let a = first.session_stores.values().next().unwrap();
    let b = second.session_stores.values().next().unwrap();
    assert!(std::sync::Arc::ptr_eq(a, b));
    let changed = parse_config(
        &config.replace("http://k/whoami", "http://k2/whoami"),
        &NoEnv,
    )
    .unwrap();
    let third = compile(&changed, &files, second.session_stores.clone());
    assert!(!std::sync::Arc::ptr_eq(
        b,
        third.session_stores.values().next().unwrap()
    ));
}

#[test]
fn typos_in_global_handler_configs_are_reported_at_load() {
    let s = compile_text(
        "
authenticators: {anonymous: {enabled: true, config: {subjekt: x}}}
authorizers: {keto_engine_acp_ory: {enabled: true}}
mutators: {header: {enabled: true}}
errors: {handlers: {redirect: {enabled: true}}}
",
        "[]",
    );
    let w = warnings(&s);
    assert!(
        w.iter()
            .any(|m| m.starts_with("authenticators.anonymous") && m.contains("subjekt")),
        "{w:?}"
    );
    assert!(
        w.iter().any(
            |m| m.starts_with("authorizers.keto_engine_acp_ory") && m.contains("not supported")
        ),
        "{w:?}"
    );
    assert!(
        !w.iter().any(|m| m.starts_with("mutators.header")),
        "headers may come from rules: {w:?}"
    );
    assert!(
        !w.iter().any(|m| m.starts_with("errors.handlers.redirect")),
        "to may come from rules: {w:?}"
    );
}

#[test]
fn rules_with_the_same_handlers_share_one_pipeline_and_its_match_context() {
    let header = |template: &str| {
        format!(r#"[{{"handler":"header","config":{{"headers":{{"X-Group":"{template}"}}}}}}]"#)
    };
    let rule = |id: &str, url: &str, mutators: &str| {
        format!(
            r#"{{"id":"{id}","match":{{"url":"{url}","methods":["GET"]}},"authenticators":[{{"handler":"anonymous"}}],"authorizer":{{"handler":"allow"}},"mutators":{mutators}}}"#
        )
    };
    let captures = header("{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}");
    let s = compile_text(
        CONFIG,
        &format!(
            "[{},{},{},{},{}]",
            rule("a", "http://a/<.*>", &captures),
            rule("b", "http://b/<.*>", &captures),
            rule("c", "http://c/<.*>", &header("{{ print .Subject }}")),
            rule("d", "http://d/<.*>", r#"[{"handler":"magic"}]"#),
            rule("e", "http://e/<.*>", r#"[{"handler":"magic"}]"#),
        ),
    );
    let pipeline = |i: usize| &s.compiled[i].pipeline;
    assert!(
        Arc::ptr_eq(pipeline(0), pipeline(1)),
        "same handlers, one pipeline"
    );
    assert!(
        !Arc::ptr_eq(pipeline(0), pipeline(2)),
        "another config, another"
    );
    assert_eq!(
        errors(&s).len(),
        2,
        "each failing rule reports its own error"
    );
    // The second rule came from the cache: its pattern still gets capture groups.
    for (i, url) in [(0, "http://a/x"), (1, "http://b/y")] {
        let mut groups = Vec::new();
        s.index.entries()[i]
            .matcher
            .captures_into(url, s.strategy, &mut groups)
            .unwrap();
        assert_eq!(groups.len(), 1, "{url}: {groups:?}");
    }
}
