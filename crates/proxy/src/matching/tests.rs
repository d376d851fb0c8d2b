use std::sync::Arc;
use std::time::Duration;

use oathkeeper_core::index::{IndexEntry, RuleIndex};
use oathkeeper_core::matcher::{MAX_URL_LEN, Strategy, UrlMatcher};

use super::*;
use crate::denial::Kind;

/// A lookahead rule that backtracks 2^n times for n `a`s before its second branch matches.
const SLOW: &str = "http://slow/<(?:((?=a)a|a)*b|a*)>";
/// The upstream charm's deny rule (spec/charm-parity.md §6.4), on every request to a protected
/// app.
const UPSTREAM_CHARM_DENY: &str = "<^(https|http)>://app<(?!/welcome((/.*$)|$)).*>";

/// Generous bound on every wait: a hang fails the test instead of blocking it.
const PATIENCE: Duration = Duration::from_secs(60);

fn index() -> Arc<RuleIndex> {
    let entry = |url: &str| IndexEntry {
        methods: vec!["GET".to_owned()],
        matcher: UrlMatcher::compile(url, Strategy::Regexp).unwrap(),
    };
    Arc::new(RuleIndex::build(vec![
        entry(SLOW),
        entry(UPSTREAM_CHARM_DENY),
    ]))
}

/// Over the full budget: about 2^64 steps.
fn pathological_url() -> String {
    format!("http://slow/{}", "a".repeat(64))
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrelated_request_completes_while_pathological_ones_wait_on_the_cap() {
    let matching = Arc::new(Matching::new(1, 64));
    let index = index();
    // Stand in for a long match holding the only permit, so the order below is certain.
    let busy = Arc::clone(&matching.permits).acquire_owned().await.unwrap();
    let pathological: Vec<_> = (0..32)
        .map(|_| {
            let (matching, index) = (Arc::clone(&matching), Arc::clone(&index));
            tokio::spawn(async move { matching.find(&index, "GET", &pathological_url()).await })
        })
        .collect();
    eventually("32 requests wait on the cap", || matching.waiting() == 32).await;

    let unrelated = tokio::time::timeout(
        PATIENCE,
        matching.find(&index, "GET", "https://app/private/page"),
    )
    .await
    .expect("the unrelated request completes");
    assert_eq!(unrelated.unwrap(), 1);
    assert_eq!(
        matching.waiting(),
        32,
        "every pathological request still waits"
    );
    assert!(pathological.iter().all(|task| !task.is_finished()));

    drop(busy);
    for task in pathological {
        let denial = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("each pathological request is decided")
            .unwrap()
            .unwrap_err();
        assert_eq!(denial.kind, Kind::Internal);
        assert!(
            denial.reason.contains(SLOW) && denial.reason.contains("backtracking limit"),
            "{}",
            denial.reason
        );
    }
    assert_eq!(matching.waiting(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_waiting_bound_a_request_is_denied_at_once() {
    let matching = Arc::new(Matching::new(1, 2));
    let index = index();
    let busy = Arc::clone(&matching.permits).acquire_owned().await.unwrap();
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let (matching, index) = (Arc::clone(&matching), Arc::clone(&index));
            tokio::spawn(async move { matching.find(&index, "GET", &pathological_url()).await })
        })
        .collect();
    eventually("2 requests wait on the cap", || matching.waiting() == 2).await;
    let denial = tokio::time::timeout(PATIENCE, matching.find(&index, "GET", &pathological_url()))
        .await
        .expect("the third request is answered without waiting")
        .unwrap_err();
    assert_eq!(denial.kind, Kind::Internal);
    assert_eq!(denial.reason, OVERLOADED);
    assert_eq!(matching.waiting(), 2, "the refused request is not counted");
    drop(busy);
    for task in waiting {
        let decided = tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
        assert!(decided.is_err());
    }
}

#[tokio::test]
async fn a_dropped_request_stops_counting_as_waiting() {
    let matching = Arc::new(Matching::new(1, 8));
    let index = index();
    let _busy = Arc::clone(&matching.permits).acquire_owned().await.unwrap();
    let task = {
        let (matching, index) = (Arc::clone(&matching), Arc::clone(&index));
        tokio::spawn(async move { matching.find(&index, "GET", &pathological_url()).await })
    };
    eventually("the request waits", || matching.waiting() == 1).await;
    task.abort();
    eventually("the aborted request is no longer counted", || {
        matching.waiting() == 0
    })
    .await;
}

#[tokio::test]
async fn a_match_over_the_inline_budget_is_finished_off_the_workers() {
    let matching = Matching::new(1, 8);
    let index = index();
    // 12 `a`s: about 16,000 steps, over the inline budget and within the full one.
    let url = format!("http://slow/{}", "a".repeat(12));
    assert_eq!(matching.find(&index, "GET", &url).await.unwrap(), 0);
    let matcher = &index.entries()[0].matcher;
    let groups = matching
        .captures(matcher, &url, Strategy::Regexp)
        .await
        .unwrap();
    assert_eq!(groups[0], "a".repeat(12));
}

#[tokio::test]
async fn a_url_over_the_length_cap_is_a_malformed_request_saying_so() {
    let matching = Matching::new(1, 8);
    let url = format!("https://app/{}", "a".repeat(MAX_URL_LEN));
    let denial = matching.find(&index(), "GET", &url).await.unwrap_err();
    assert_eq!(denial.kind, Kind::MalformedRequest);
    assert_eq!(denial.status, http::StatusCode::BAD_REQUEST);
    assert!(
        denial.reason.contains("URL is too long"),
        "{}",
        denial.reason
    );
}

#[tokio::test]
async fn lookup_failures_keep_their_denials() {
    let matching = Matching::new(1, 8);
    let index = index();
    let miss = matching.find(&index, "GET", "https://other/x").await;
    assert_eq!(miss.unwrap_err().kind, Kind::NoRule);
    let excluded = matching.find(&index, "GET", "https://app/welcome").await;
    assert_eq!(excluded.unwrap_err().kind, Kind::NoRule);
}

mod through_the_decision_api {
    use http::{Request, StatusCode};
    use oathkeeper_core::config::{NoEnv, parse_config};
    use oathkeeper_core::rule::parse_rules;

    use super::*;
    use crate::decision::{Peer, decide};
    use crate::pipeline::Cx;
    use crate::snapshot::{RuleFile, Snapshot, compile};

    const CONFIG: &str = r#"
authenticators: {noop: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators: {noop: {enabled: true}}
"#;

    fn snapshot(rules: &[(&str, &str)]) -> Snapshot {
        let rules: Vec<String> = rules
            .iter()
            .map(|(id, url)| {
                serde_json::json!({
                    "id": id,
                    "match": {"url": url, "methods": ["GET"]},
                    "authenticators": [{"handler": "noop"}],
                    "authorizer": {"handler": "allow"},
                    "mutators": [{"handler": "noop"}],
                })
                .to_string()
            })
            .collect();
        let text = format!("[{}]", rules.join(","));
        let files = [RuleFile {
            repository: "file:///rules.json".to_owned(),
            rules: parse_rules(text.as_bytes()).unwrap(),
        }];
        compile(
            &parse_config(CONFIG, &NoEnv).unwrap(),
            &files,
            Default::default(),
        )
    }

    async fn status(snapshot: &Snapshot, host: &str, uri: &str) -> StatusCode {
        let (parts, ()) = Request::get("/decisions")
            .header("X-Forwarded-Proto", "http")
            .header("X-Forwarded-Host", host)
            .header("X-Forwarded-Uri", uri)
            .body(())
            .unwrap()
            .into_parts();
        let metrics = crate::metrics::Metrics::new("");
        let cx = Cx::new(&metrics);
        let decided = decide(snapshot, &parts, Peer::default(), &cx);
        tokio::time::timeout(PATIENCE, decided)
            .await
            .unwrap()
            .0
            .status()
    }

    #[test]
    fn a_backreference_rule_is_refused_at_load_naming_the_rule() {
        let snapshot = snapshot(&[("echo", "http://app/<(a+)/\\1>")]);
        let refused = snapshot
            .diagnostics
            .iter()
            .find(|d| d.rule.as_deref() == Some("echo"))
            .expect("a diagnostic for the rule");
        assert!(
            refused.message.contains("echo") && refused.message.contains("backreference"),
            "{}",
            refused.message
        );
    }

    #[tokio::test]
    async fn a_runaway_lookaround_rule_denies_and_an_overlong_url_is_malformed() {
        let snapshot = snapshot(&[("slow", SLOW), ("app", "http://app/<(?!admin).*>")]);
        let runaway = format!("/{}", "a".repeat(64));
        assert_eq!(
            status(&snapshot, "slow", &runaway).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(status(&snapshot, "app", "/page").await, StatusCode::OK);
        let overlong = format!("/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(
            status(&snapshot, "app", &overlong).await,
            StatusCode::BAD_REQUEST
        );
    }
}

mod issue_12 {
    use oathkeeper_core::matcher::{Cost, INLINE_SCAN_LIMIT, PatternError};

    use super::*;

    /// A lookahead that scans the rest of the URL on every step back over `.*`.
    const SCAN_PER_STEP: &str = "http://scan/<.*(?=.*x).*>";

    #[tokio::test]
    async fn a_scan_per_step_goes_off_the_workers_past_its_small_inline_budget() {
        let matching = Arc::new(Matching::new(1, 8));
        let entry = IndexEntry {
            methods: vec!["GET".to_owned()],
            matcher: UrlMatcher::compile(SCAN_PER_STEP, Strategy::Regexp).unwrap(),
        };
        assert_eq!(entry.matcher.cost(), Cost::ScanPerStep);
        let index = Arc::new(RuleIndex::build(vec![entry]));
        let busy = Arc::clone(&matching.permits).acquire_owned().await.unwrap();
        let task = {
            let (matching, index) = (Arc::clone(&matching), Arc::clone(&index));
            // `.*` steps back over every `a` to find the `x`: 33 steps, each scanning.
            let url = format!("http://scan/x{}", "a".repeat(4 * INLINE_SCAN_LIMIT));
            tokio::spawn(async move { matching.find(&index, "GET", &url).await })
        };
        eventually("the scan waits for the cap", || matching.waiting() == 1).await;
        drop(busy);
        let found = tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
        assert_eq!(found.unwrap(), 0);
    }

    #[test]
    fn the_upstream_charm_deny_rule_stays_inline_and_a_repeated_scan_is_refused() {
        let deny = UrlMatcher::compile(UPSTREAM_CHARM_DENY, Strategy::Regexp).unwrap();
        assert_eq!(deny.cost(), Cost::Steps);
        let err = UrlMatcher::compile("<((?!.*x).)*>", Strategy::Regexp).unwrap_err();
        assert!(
            matches!(&err, PatternError::Unsupported { construct, .. }
                if construct.contains("inside a repetition")),
            "{err}"
        );
    }
}
