//! Allocation budget of the common decisions, counted by a global allocator (its own test
//! binary, since the allocator is process-wide).

#![allow(clippy::unwrap_used)]

use http::Request;
use oathkeeper::decision::decide;
use oathkeeper::metrics::Metrics;
use oathkeeper::pipeline::Cx;
use oathkeeper::snapshot::{RuleFile, compile};
use oathkeeper_core::config::{NoEnv, parse_config};
use oathkeeper_core::rule::parse_rules;
use oathkeeper_core::testing::many_rules;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const CONFIG: &str = r#"
authenticators: {anonymous: {enabled: true}, noop: {enabled: true}, cookie_session: {enabled: true, config: {check_session_url: "http://127.0.0.1:9/"}}}
authorizers: {allow: {enabled: true}}
mutators: {noop: {enabled: true}, header: {enabled: true, config: {headers: {X-User: "{{ print .Subject }}"}}}}
errors: {handlers: {redirect: {enabled: true, config: {to: "http://login/"}}}}
"#;

const RULES: &str = r#"[
  {"id":"noop","match":{"url":"https://noop.example.com/<.*>","methods":["GET"]},"authenticators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},
  {"id":"anon","match":{"url":"https://anon.example.com/<.*>","methods":["GET"]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"header"}]}
]"#;

#[test]
fn common_decisions_stay_within_their_allocation_budget() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = parse_config(CONFIG, &NoEnv).unwrap();
    let files = [
        RuleFile {
            repository: "many".into(),
            rules: many_rules(1000),
        },
        RuleFile {
            repository: "test".into(),
            rules: parse_rules(RULES.as_bytes()).unwrap(),
        },
    ];
    let snapshot = compile(&config, &files, Default::default());
    let metrics = Metrics::new("");
    let cx = Cx { metrics: &metrics };
    let parts = |host: &str| {
        Request::builder()
            .uri("/decisions")
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", host)
            .header("X-Forwarded-Uri", "/page")
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    // (host, most allocations one decision may make)
    for (host, budget) in [("noop.example.com", 4), ("anon.example.com", 8)] {
        let request = parts(host);
        // The first decision fills lazily created metric series; measure the next ones.
        let first = runtime.block_on(decide(&snapshot, &request, None, &cx));
        assert_eq!(first.0.status(), 200, "{host}");
        let before = dhat::HeapStats::get().total_blocks;
        for _ in 0..10 {
            let answer = runtime.block_on(decide(&snapshot, &request, None, &cx));
            assert_eq!(answer.0.status(), 200);
        }
        let per_decision = (dhat::HeapStats::get().total_blocks - before) / 10;
        eprintln!("{host}: {per_decision} allocations per decision");
        assert!(
            per_decision <= budget,
            "{host}: {per_decision} allocations, budget {budget}"
        );
    }
}
