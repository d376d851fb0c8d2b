use oathkeeper_core::charm::METHODS;
use oathkeeper_core::index::{FindError, IndexEntry, RuleIndex};
use oathkeeper_core::matcher::{Strategy, UrlMatcher};
use oathkeeper_core::rule::parse_rules;

use super::*;

fn config(urls: &[&str], endpoints: &[&str]) -> AuthProxyConfig {
    AuthProxyConfig {
        protected_urls: urls.iter().map(|s| (*s).to_owned()).collect(),
        allowed_endpoints: endpoints.iter().map(|s| (*s).to_owned()).collect(),
        headers: vec!["X-User".to_owned()],
    }
}

fn summary(file: &RuleFile) -> Vec<(String, String, String, String, String)> {
    file.rules
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.matcher.url.clone(),
                r.authenticators[0].handler.clone(),
                r.mutators[0].handler.clone(),
                r.errors[0].handler.clone(),
            )
        })
        .collect()
}

fn row(id: &str, url: &str, a: &str, m: &str, e: &str) -> (String, String, String, String, String) {
    (id.into(), url.into(), a.into(), m.into(), e.into())
}

#[test]
fn spec_6_4_allow_rules_for_one_url_and_two_endpoints() {
    let files = render_rules(
        "requirer",
        &config(&["https://example.com"], &["welcome", "about/app"]),
    )
    .unwrap();
    assert_eq!(files[0].name, "access-rules-requirer-allow.json");
    assert_eq!(
        summary(&files[0]),
        [
            row(
                "requirer:welcome:0:allow",
                "<^(https|http)>://example.com/<welcome((/.*$)|$)>",
                "noop",
                "noop",
                "json"
            ),
            row(
                "requirer:about/app:0:allow",
                "<^(https|http)>://example.com/<about/app((/.*$)|$)>",
                "noop",
                "noop",
                "json"
            ),
        ]
    );
    for rule in &files[0].rules {
        assert_eq!(rule.authorizer.handler, "allow");
        assert_eq!(rule.matcher.methods, METHODS);
    }
}

#[test]
fn spec_6_4_deny_rule_with_a_path_boundary() {
    // Upstream: <^(https|http)>://example.com<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$)).*>
    let files = render_rules(
        "requirer",
        &config(&["https://example.com"], &["welcome", "about/app"]),
    )
    .unwrap();
    assert_eq!(files[1].name, "access-rules-requirer-deny.json");
    assert_eq!(
        summary(&files[1]),
        [row(
            "requirer:0:deny",
            "<^(https|http)>://example.com<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$))(/.*)?>",
            "cookie_session",
            "header",
            "redirect"
        )]
    );
}

#[test]
fn spec_6_4_no_allowed_endpoints_means_no_allow_file_and_everything_denied() {
    let files = render_rules("requirer", &config(&["https://example.com/"], &[])).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "access-rules-requirer-deny.json");
    assert_eq!(
        files[0].rules[0].matcher.url,
        "<^(https|http)>://example.com<(/.*)?>"
    );
}

#[test]
fn spec_6_4_two_urls_number_their_rules() {
    let files = render_rules(
        "requirer",
        &config(
            &["https://example.com/unit-0", "https://example.com/unit-1"],
            &["welcome", "about/app"],
        ),
    )
    .unwrap();
    let allow_ids: Vec<&str> = files[0].rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        allow_ids,
        [
            "requirer:welcome:0:allow",
            "requirer:about/app:0:allow",
            "requirer:welcome:1:allow",
            "requirer:about/app:1:allow"
        ]
    );
    assert_eq!(
        summary(&files[1]),
        [
            row(
                "requirer:0:deny",
                "<^(https|http)>://example.com/unit-0<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$))(/.*)?>",
                "cookie_session",
                "header",
                "redirect"
            ),
            row(
                "requirer:1:deny",
                "<^(https|http)>://example.com/unit-1<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$))(/.*)?>",
                "cookie_session",
                "header",
                "redirect"
            ),
        ]
    );
}

#[test]
fn spec_6_4_http_url_is_not_widened() {
    let files = render_rules(
        "auth-proxy-requirer",
        &config(
            &["http://10.64.140.43/testing-auth-proxy-requirer"],
            &["anything/allowed"],
        ),
    )
    .unwrap();
    assert_eq!(
        files[0].rules[0].matcher.url,
        "http://10.64.140.43/testing-auth-proxy-requirer/<anything/allowed((/.*$)|$)>"
    );
    assert_eq!(
        files[1].rules[0].matcher.url,
        "http://10.64.140.43/testing-auth-proxy-requirer<(?!/anything/allowed((/.*$)|$))(/.*)?>"
    );
}

#[test]
fn only_the_scheme_https_is_widened() {
    let files = render_rules(
        "docs",
        &config(&["https://https.example.com/https-docs"], &[]),
    )
    .unwrap();
    assert_eq!(
        files[0].rules[0].matcher.url,
        "<^(https|http)>://https.example.com/https-docs<(/.*)?>"
    );
}

#[test]
fn rules_files_are_real_json() {
    let files = render_rules("requirer", &config(&["https://example.com"], &["welcome"])).unwrap();
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    assert_eq!(
        json(&files[0].to_json()),
        json(
            r#"[{"id":"requirer:welcome:0:allow","match":{"url":"<^(https|http)>://example.com/<welcome((/.*$)|$)>","methods":["GET","HEAD","POST","PUT","PATCH","DELETE","OPTIONS"]},"authenticators":[{"handler":"noop"}],"mutators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"errors":[{"handler":"json"}]}]"#
        )
    );
    serde_json::from_str::<serde_json::Value>(&files[1].to_json()).unwrap();
}

fn index(files: &[RuleFile]) -> (RuleIndex, Vec<String>) {
    let mut entries = Vec::new();
    let mut ids = Vec::new();
    for file in files {
        for rule in parse_rules(file.to_json().as_bytes()).unwrap() {
            entries.push(IndexEntry {
                methods: rule.matcher.methods.clone(),
                matcher: UrlMatcher::compile(&rule.matcher.url, Strategy::Regexp).unwrap(),
            });
            ids.push(rule.id);
        }
    }
    (RuleIndex::build(entries), ids)
}

fn found<'a>(
    index: &'a (RuleIndex, Vec<String>),
    method: &str,
    url: &str,
) -> Result<&'a str, FindError> {
    index.0.find(method, url).map(|i| index.1[i].as_str())
}

#[test]
fn apps_whose_urls_prefix_each_other_do_not_overlap() {
    let mut files = render_rules(
        "app",
        &config(&["https://host.example.com/app"], &["welcome"]),
    )
    .unwrap();
    files.extend(
        render_rules(
            "app-other",
            &config(&["https://host.example.com/app-other"], &["welcome"]),
        )
        .unwrap(),
    );
    let index = index(&files);
    assert_eq!(index.0.overlaps(), Vec::<[usize; 2]>::new());
    let cases = [
        ("https://host.example.com/app", "app:0:deny"),
        ("https://host.example.com/app/", "app:0:deny"),
        ("https://host.example.com/app/data", "app:0:deny"),
        (
            "http://host.example.com/app/welcome/x",
            "app:welcome:0:allow",
        ),
        ("https://host.example.com/app/welcomex", "app:0:deny"),
        ("https://host.example.com/app-other", "app-other:0:deny"),
        (
            "https://host.example.com/app-other/data",
            "app-other:0:deny",
        ),
        (
            "https://host.example.com/app-other/welcome",
            "app-other:welcome:0:allow",
        ),
    ];
    for (url, id) in cases {
        for method in ["GET", "HEAD", "OPTIONS", "DELETE"] {
            assert_eq!(found(&index, method, url), Ok(id), "{method} {url}");
        }
    }
    assert_eq!(
        found(&index, "GET", "https://host.example.com/apple"),
        Err(FindError::NoMatch)
    );
}

#[test]
fn a_bare_host_does_not_cover_a_longer_host() {
    let files = render_rules("app", &config(&["https://example.com"], &[])).unwrap();
    let index = index(&files);
    assert_eq!(
        found(&index, "GET", "https://example.com"),
        Ok("app:0:deny")
    );
    assert_eq!(
        found(&index, "GET", "https://example.com/x"),
        Ok("app:0:deny")
    );
    assert_eq!(
        found(&index, "GET", "https://example.com.evil.org/x"),
        Err(FindError::NoMatch)
    );
}

#[test]
fn upstream_deny_pattern_had_the_prefix_bug() {
    // The regression this module fixes, shown with the server's matcher.
    let upstream = UrlMatcher::compile(
        "<^(https|http)>://host.example.com/app<(?!/welcome((/.*$)|$)).*>",
        Strategy::Regexp,
    )
    .unwrap();
    assert_eq!(
        upstream.is_match("https://host.example.com/app-other/data"),
        Ok(true)
    );
    let ours = render_rules(
        "app",
        &config(&["https://host.example.com/app"], &["welcome"]),
    )
    .unwrap();
    let ours = UrlMatcher::compile(&ours[1].rules[0].matcher.url, Strategy::Regexp).unwrap();
    assert_eq!(
        ours.is_match("https://host.example.com/app-other/data"),
        Ok(false)
    );
}

#[test]
fn an_endpoint_that_is_not_a_regex_names_the_field() {
    let err = render_rules("app", &config(&["https://example.com"], &["a(b"])).unwrap_err();
    assert_eq!(err.field, "allowed_endpoints");
    let err = render_rules("app", &config(&["http://example.com/<x"], &[])).unwrap_err();
    assert_eq!(err.field, "protected_urls");
}

#[test]
fn an_endpoint_needing_unbounded_backtracking_is_refused_naming_the_construct() {
    // Upstream's regexp2 runs these; our server refuses them at load (issue 12 item 5).
    for (endpoint, construct) in [
        ("(a+)\\1", "a backreference"),
        ("(?!x)a++", "a possessive quantifier"),
    ] {
        let err = render_rules("app", &config(&["https://example.com"], &[endpoint])).unwrap_err();
        assert_eq!(err.field, "allowed_endpoints");
        let message = err.to_string();
        assert!(
            message.contains(&format!("{endpoint:?}")) && message.contains(construct),
            "{message}"
        );
    }
    // Lookahead stays accepted: the deny rule itself is one.
    assert!(render_rules("app", &config(&["https://example.com"], &["(?!x)y"])).is_ok());
}

#[test]
fn generated_file_names_are_recognised() {
    assert!(is_generated_file_name(&file_name("spark", RuleType::Allow)));
    assert!(is_generated_file_name(&file_name("spark", RuleType::Deny)));
    assert!(!is_generated_file_name("admin_ui_rules.json"));
}
