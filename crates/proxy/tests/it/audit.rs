//! The audit log (issue 12 item 8): every decision is logged with what an operator needs to tell
//! who was let in where, and nothing a reader of the log could replay.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::server::{charm_files, kratos_knowing_ann};
use crate::support::{Server, eventually};

const SECRET_COOKIE: &str = "ory_kratos_session=good-SECRET-COOKIE";

/// The audit lines of a JSON log file, by message.
fn audit_lines(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "oathkeeper::audit")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_decision_is_audited_with_method_url_rule_subject_and_result_but_no_credentials() {
    let kratos = kratos_knowing_ann().await;
    let dir = charm_files(&kratos.url());
    let log = dir.path().join("oathkeeper.log");
    let (server, dir) = {
        let log = std::fs::File::create(&log).unwrap();
        tokio::task::spawn_blocking(move || {
            let server = Server::start_with_stderr(
                Some(&dir.path().join("oathkeeper.yaml")),
                &[("LOG_LEVEL", "info"), ("LOG_FORMAT", "json")],
                Stdio::from(log),
            );
            (server, dir)
        })
        .await
        .unwrap()
    };
    let log = dir.path().join("oathkeeper.log");
    let answers = tokio::task::spawn_blocking(move || {
        let allowed = server.decide(
            "https://example.com/private/page?token=SECRET-QUERY",
            &[
                ("Cookie", SECRET_COOKIE),
                ("Authorization", "Bearer SECRET-TOKEN"),
            ],
        );
        let denied = server.decide("https://example.com/private/page", &[]);
        let refused = server.decide("https://example.com/welcome/../private", &[]);
        (allowed.status, denied.status, refused.status, server)
    })
    .await
    .unwrap();
    assert_eq!((answers.0, answers.2), (200, 400));
    assert!(matches!(answers.1, 302 | 401), "{}", answers.1);
    assert!(
        eventually(Duration::from_secs(5), || audit_lines(&log).len() >= 3),
        "three audit lines in {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let lines = audit_lines(&log);
    let allowed = &lines[0];
    assert_eq!(allowed["level"], "INFO");
    let fields = &allowed["fields"];
    assert_eq!(fields["message"], "access request granted");
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["url"], "https://example.com/private/page");
    assert_eq!(fields["subject"], "user-1");
    assert_eq!(fields["result"], "allowed");
    assert_eq!(fields["status"], 200);
    assert!(fields["rule"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(fields["latency_us"].is_u64());

    let denied = &lines[1];
    assert_eq!(denied["level"], "WARN");
    assert_eq!(denied["fields"]["result"], "authentication");
    assert_eq!(denied["fields"]["url"], "https://example.com/private/page");

    let refused = &lines[2];
    assert_eq!(refused["level"], "WARN");
    assert_eq!(refused["fields"]["result"], "malformed_request");
    assert!(
        refused["fields"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("dot segment")),
        "{refused}"
    );
    assert_eq!(refused["fields"]["message"], "access request refused");
    assert_eq!(refused["fields"]["forwarded_path"], "/welcome/../private");

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in ["SECRET-COOKIE", "SECRET-TOKEN", "SECRET-QUERY"] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the log:\n{text}"
        );
    }
    drop(answers.3);
}
