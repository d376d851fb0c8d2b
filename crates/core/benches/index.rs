//! Rule lookup cost at 10, 1,000 and 10,000 rules: it must stay flat, since the index only
//! tests the rules sharing the URL's literal prefix (upstream scans every rule).

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use oathkeeper_core::candidate::{Forwarded, match_url, rebuild};
use oathkeeper_core::charm::app_rules;
use oathkeeper_core::index::{IndexEntry, RuleIndex};
use oathkeeper_core::matcher::{
    Budget, Compiler, INLINE_MAX_LEN, MAX_URL_LEN, Strategy, UrlMatcher,
};
use oathkeeper_core::rule::Rule;
use oathkeeper_core::testing::many_rules;
use std::hint::black_box;

fn index(n: usize) -> RuleIndex {
    index_of(&many_rules(n))
}

/// The index of `rules`, compiled as the server compiles them: one compiler sharing engines,
/// no capture groups.
fn index_of(rules: &[Rule]) -> RuleIndex {
    let mut compiler = Compiler::new(Strategy::Regexp);
    let entries = rules
        .iter()
        .map(|r| IndexEntry {
            methods: r.matcher.methods.clone(),
            matcher: compiler.compile(&r.matcher.url, false).unwrap(),
        })
        .collect();
    RuleIndex::build(entries)
}

fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("find");
    for n in [10usize, 1_000, 10_000] {
        let index = index(n);
        // An app in the middle of the list, on its own host and under the shared host.
        let own = format!("https://app{}.example.com/private/page", (n / 6) & !1);
        let shared = format!(
            "https://shared.example.com/model-app{}-ui/welcome/x",
            (n / 6) | 1
        );
        for (name, url) in [
            ("deny-own-host", own),
            ("allow-shared-host", shared),
            ("generic", "http://svc.internal/api/v0/x".to_owned()),
            ("miss", "https://nowhere.example.org/x".to_owned()),
        ] {
            group.bench_with_input(BenchmarkId::new(name, n), &url, |b, url| {
                b.iter(|| black_box(index.find("GET", black_box(url))))
            });
        }
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        // Generating the rules (which the charm checks by compiling each pattern alone) is not
        // part of the build.
        let rules = many_rules(n);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| black_box(index_of(&rules)))
        });
    }
    group.finish();
}

fn url_rebuild(c: &mut Criterion) {
    let forwarded = |uri: &'static str| Forwarded {
        method: Some(b"GET"),
        proto: Some(b"https"),
        host: Some(b"shared.example.com"),
        uri: Some(uri.as_bytes()),
        request_method: "GET",
        request_host: Some(b"oathkeeper:4456"),
        suffix: "",
        tls: true,
    };
    let canonical = forwarded("/model-app1/welcome/page?x=1");
    c.bench_function("url_rebuild/canonical", |b| {
        b.iter(|| {
            let candidate = rebuild(black_box(&canonical)).expect("canonical");
            black_box(match_url(candidate.scheme, candidate.host, candidate.path))
        })
    });
    let dot_segment = forwarded("/public/../admin//secrets/");
    c.bench_function("url_rebuild/refused", |b| {
        b.iter(|| black_box(rebuild(black_box(&dot_segment)).is_err()))
    });
}

/// The charm's deny rule, a negative lookahead evaluated on every request to a protected app,
/// as the server runs it: inline, with the small budget. Compare with `find/deny-own-host`
/// (the full budget) and with the matcher alone on a short and an inline-limit-long path.
fn lookaround(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookaround");
    let index = index(1_000);
    let own = format!("https://app{}.example.com/private/page", (1_000 / 6) & !1);
    group.bench_function("find_inline/deny-own-host/1000", |b| {
        b.iter(|| black_box(index.find_inline("GET", black_box(&own)).is_ok()))
    });
    let rules = app_rules("app", &["https://example.com"], &["welcome", "about/app"]).unwrap();
    let deny = UrlMatcher::compile(&rules.deny[0].matcher.url, Strategy::Regexp).unwrap();
    let prefix = "https://example.com".len();
    let long = format!(
        "https://example.com/{}",
        "a/".repeat(INLINE_MAX_LEN / 2 - 1)
    );
    for (name, url) in [
        ("short", "https://example.com/private/page".to_owned()),
        ("inline-limit", long),
    ] {
        for (budget_name, budget) in [("inline", Budget::Inline), ("full", Budget::Full)] {
            group.bench_function(format!("charm-deny/{name}/{budget_name}"), |b| {
                b.iter(|| black_box(deny.matches_after_within(black_box(&url), prefix, budget)))
            });
        }
    }
    // Issue 12: the worst full-budget run of a scan-per-step pattern at the URL cap (it
    // exhausts `SCAN_BACKTRACK_LIMIT`; the lazy `.*?` steps forward, so each step scans
    // nearly all of 8 KiB).
    let scan = UrlMatcher::compile("http://x/<.*?(?=.*x).*>", Strategy::Regexp).unwrap();
    let worst = format!("http://x/{}", "a".repeat(MAX_URL_LEN - 9));
    group.bench_function("scan-per-step/url-cap/full", |b| {
        b.iter(|| black_box(scan.matches_after_within(black_box(&worst), 9, Budget::Full)))
    });
    group.finish();
}

criterion_group!(benches, lookups, build, url_rebuild, lookaround);
criterion_main!(benches);
