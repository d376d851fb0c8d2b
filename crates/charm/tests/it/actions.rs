//! `list-rules` and `get-rule` (spec/charm-parity.md §3) against a stand-in for the workload's
//! API: success, an unknown rule, and the service down.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use harness::pebble::{ContainerState, ServiceStatus};
use harness::{Context, Event, State};
use serde_json::{Map, Value, json};

use crate::support::*;

const RULE: &str = r#"{"id":"spark:0:deny","match":{"url":"<^(https|http)>://iam.example.com/spark<.*>","methods":["GET","HEAD"]},"authenticators":[{"handler":"cookie_session"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"header"}],"errors":[{"handler":"redirect"}],"upstream":{"preserve_host":false,"strip_path":"","url":""}}"#;

/// The workload's API: `/rules?limit=N` and `/rules/<id>`; counts calls.
fn workload_api() -> (HttpStub, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = HttpStub::start(move |target| {
        seen.fetch_add(1, Ordering::Relaxed);
        match target {
            "/rules?limit=20" => (200, format!("[{RULE},{{\"id\":\"docs:0:deny\"}}]")),
            "/rules?limit=1" => (200, format!("[{RULE}]")),
            "/rules/spark%3A0%3Adeny" => (200, RULE.to_owned()),
            _ => (
                404,
                r#"{"error":{"code":404,"status":"Not Found"}}"#.to_owned(),
            ),
        }
    });
    (server, calls)
}

/// A harness context for the charm in `dir` whose workload API is `api`.
fn context_calling(dir: &Path, api: &HttpStub) -> Context {
    context(dir).env(
        "OATHKEEPER_CHARM_API_URL",
        &format!("http://127.0.0.1:{}", api.port()),
    )
}

/// A unit whose workload runs (the layer planned, the service active).
fn running() -> State {
    let mut container = ContainerState::default().with_layer(
        "oathkeeper",
        oathkeeper_charm::workload::layer(
            oathkeeper_charm::workload::ConfigSource::KubernetesApi,
            "iam",
        ),
    );
    container
        .service_statuses
        .insert("oathkeeper".to_owned(), ServiceStatus::Active);
    deployed(true).container("oathkeeper", container)
}

fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn list_rules_lists_rule_ids_by_position() {
    let dir = charm_dir();
    let (api, _) = workload_api();
    let ctx = context_calling(dir.path(), &api);
    let out = ctx
        .run(&running(), &Event::action("list-rules", Map::new()))
        .unwrap();
    assert!(out.succeeded(), "{}", out.stderr);
    assert_eq!(out.effects.action_failure, None, "{:#?}", out.effects);
    assert_eq!(
        Value::Object(out.effects.action_results),
        json!({"0": "spark:0:deny", "1": "docs:0:deny"})
    );
    let limited = ctx
        .run(
            &running(),
            &Event::action("list-rules", params(&[("limit", json!(1))])),
        )
        .unwrap();
    assert_eq!(
        Value::Object(limited.effects.action_results),
        json!({"0": "spark:0:deny"})
    );
}

#[test]
fn get_rule_returns_the_rule_flattened_and_fails_for_an_unknown_one() {
    let dir = charm_dir();
    let (api, _) = workload_api();
    let ctx = context_calling(dir.path(), &api);
    let out = ctx
        .run(
            &running(),
            &Event::action("get-rule", params(&[("rule-id", json!("spark:0:deny"))])),
        )
        .unwrap();
    assert!(out.succeeded(), "{}", out.stderr);
    assert_eq!(out.effects.action_failure, None, "{:#?}", out.effects);
    let results = &out.effects.action_results;
    assert_eq!(results["id"], json!("spark:0:deny"));
    assert_eq!(
        results["match"]["url"],
        json!("<^(https|http)>://iam.example.com/spark<.*>")
    );
    let unknown = ctx
        .run(
            &running(),
            &Event::action("get-rule", params(&[("rule-id", json!("nope"))])),
        )
        .unwrap();
    assert!(
        unknown.succeeded(),
        "an expected failure fails the action, not the hook"
    );
    assert_eq!(
        unknown.effects.action_failure.as_deref(),
        Some("Rule not found")
    );
    // spec §3: upstream's lines, "No such rule" before the failure (issue 15).
    assert_eq!(
        unknown.effects.action_logs,
        ["Getting rule: nope", "No such rule: nope"]
    );
}

#[test]
fn actions_fail_without_calling_the_api_when_the_service_is_down() {
    let dir = charm_dir();
    let (api, calls) = workload_api();
    let ctx = context_calling(dir.path(), &api);
    for (action, given) in [
        ("list-rules", Map::new()),
        ("get-rule", params(&[("rule-id", json!("spark:0:deny"))])),
    ] {
        let out = ctx
            .run(&deployed(true), &Event::action(action, given))
            .unwrap();
        assert!(out.succeeded(), "{}", out.stderr);
        assert_eq!(
            out.effects.action_failure.as_deref(),
            Some(oathkeeper_charm::action::NOT_READY),
            "{action}"
        );
        // spec §3: the guard comes first, so no "Fetching access rules" (issue 15).
        assert_eq!(out.effects.action_logs, Vec::<String>::new(), "{action}");
    }
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}
