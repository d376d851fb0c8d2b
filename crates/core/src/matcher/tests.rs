use super::*;

fn re(pattern: &str) -> UrlMatcher {
    UrlMatcher::compile(pattern, Strategy::Regexp).unwrap()
}

fn glob(pattern: &str) -> UrlMatcher {
    UrlMatcher::compile(pattern, Strategy::Glob).unwrap()
}

fn captures(m: &UrlMatcher, url: &str) -> Vec<String> {
    let mut groups = Vec::new();
    m.captures_into(url, Strategy::Regexp, &mut groups).unwrap();
    groups
}

#[test]
fn delimiters_nest_and_must_balance() {
    assert_eq!(
        split_sections("a<b<c>d>e").unwrap(),
        vec![
            Segment::Literal("a"),
            Segment::Section("b<c>d"),
            Segment::Literal("e")
        ]
    );
    assert_eq!(split_sections("<>").unwrap(), vec![Segment::Section("")]);
    assert_eq!(
        split_sections("foo.bar<<>>").unwrap(),
        vec![Segment::Literal("foo.bar"), Segment::Section("<>")]
    );
    for bad in ["<", ">", "><>", "<<>", "a<b"] {
        assert!(
            matches!(split_sections(bad), Err(PatternError::Unbalanced { .. })),
            "{bad} should be unbalanced"
        );
    }
}

#[test]
fn text_outside_sections_is_literal() {
    let m = re("http://example.com/a.b?c");
    assert!(m.is_match("http://example.com/a.b?c").unwrap());
    assert!(!m.is_match("http://example.com/aXb?c").unwrap());
    assert!(!m.is_match("http://example.com/a.").unwrap());
}

#[test]
fn whole_pattern_is_anchored() {
    let m = re("http://example.com/<[0-9]+>");
    assert!(m.is_match("http://example.com/123").unwrap());
    assert!(!m.is_match("http://example.com/123/x").unwrap());
    assert!(!m.is_match("xhttp://example.com/123").unwrap());
}

#[test]
fn each_section_is_a_capture_group() {
    let m = re("<https|http>://mydomain.com/<.*>");
    assert_eq!(captures(&m, "http://mydomain.com/foo"), ["http", "foo"]);
}

#[test]
fn inner_groups_add_groups_as_upstream() {
    let m = re("http://x/<(a|b)>");
    assert_eq!(captures(&m, "http://x/a"), ["a", "a"]);
}

#[test]
fn posix_classes_work() {
    let m = re("https://localhost/users/<[[:digit:]]*>");
    assert!(m.is_match("https://localhost/users/1234").unwrap());
    assert!(!m.is_match("https://localhost/users/abc").unwrap());
}

#[test]
fn negative_lookahead_excludes_what_it_names_and_joins_no_regex_set() {
    let m = re("http://mydomain.com/<(?!protected).*>");
    // Linear-time, but as two expressions: it cannot join the index's `RegexSet`s.
    assert!(!m.is_linear());
    assert!(m.is_match("http://mydomain.com/public").unwrap());
    assert!(!m.is_match("http://mydomain.com/protected").unwrap());
    assert!(!m.is_match("http://mydomain.com/protected/x").unwrap());
}

#[test]
fn ports_are_part_of_the_url() {
    let m = re("https://localhost:1234/<.*>");
    assert!(m.is_match("https://localhost:1234/x").unwrap());
    assert!(!m.is_match("https://localhost/x").unwrap());
}

#[test]
fn upstream_charm_deny_rule_excludes_allowed_endpoints() {
    // spec/charm-parity.md §6.4 (ours adds a path boundary: oathkeeper_core::charm::rules)
    let m = re("<^(https|http)>://example.com<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$)).*>");
    for url in [
        "https://example.com",
        "https://example.com/",
        "http://example.com/private",
        "https://example.com/welcomeX",
        "https://example.com/about",
    ] {
        assert!(
            m.is_match(url).unwrap(),
            "{url} should be denied by the deny rule"
        );
    }
    for url in [
        "https://example.com/welcome",
        "https://example.com/welcome/x",
        "http://example.com/about/app",
        "https://example.com/about/app/more",
    ] {
        assert!(!m.is_match(url).unwrap(), "{url} is an allowed endpoint");
    }
}

#[test]
fn charm_allow_rule_matches_endpoint_and_below() {
    let m = re("<^(https|http)>://example.com/<welcome((/.*$)|$)>");
    assert!(m.is_linear());
    assert!(m.is_match("https://example.com/welcome").unwrap());
    assert!(m.is_match("http://example.com/welcome/a/b").unwrap());
    assert!(!m.is_match("https://example.com/welcomes").unwrap());
    assert!(!m.is_match("ftp://example.com/welcome").unwrap());
}

#[test]
fn bad_regex_is_an_error_naming_the_pattern() {
    let err = UrlMatcher::compile("http://x/<(>", Strategy::Regexp).unwrap_err();
    assert!(err.to_string().contains("http://x/<(>"), "{err}");
}

#[test]
fn catastrophic_backtracking_is_bounded() {
    let m = re("http://x/<((?=a)a|a)*b>");
    let url = format!("http://x/{}", "a".repeat(64));
    assert!(matches!(
        m.is_match(&url),
        Err(MatchError::BacktrackLimit { .. })
    ));
    assert_eq!(
        m.matches_after_within(&url, PREFIX, Budget::Inline),
        Err(MatchError::OverInlineBudget)
    );
}

/// The length of `http://x/`, the literal prefix of the patterns below.
const PREFIX: usize = 9;

/// A lookahead pattern that backtracks 2^n times before its second branch matches.
const EXPONENTIAL: &str = "http://x/<(?:((?=a)a|a)*b|a*)>";

#[test]
fn a_match_over_the_inline_budget_is_decided_by_the_full_budget() {
    let m = re(EXPONENTIAL);
    // 12 `a`s: about 16,000 steps, between the two budgets.
    let url = format!("http://x/{}", "a".repeat(12));
    assert_eq!(
        m.matches_after_within(&url, PREFIX, Budget::Inline),
        Err(MatchError::OverInlineBudget)
    );
    assert_eq!(m.matches_after_within(&url, PREFIX, Budget::Full), Ok(true));
    assert_eq!(captures_over_the_inline_budget(&m, &url)[0], "a".repeat(12));
}

/// The capture groups of `url`, which must exhaust the inline budget (leaving the groups
/// untouched) and be read with the full one.
fn captures_over_the_inline_budget(m: &UrlMatcher, url: &str) -> Vec<String> {
    let mut groups = Vec::new();
    assert_eq!(
        m.captures_into_within(url, Strategy::Regexp, &mut groups, Budget::Inline),
        Err(MatchError::OverInlineBudget)
    );
    assert!(groups.is_empty());
    m.captures_into_within(url, Strategy::Regexp, &mut groups, Budget::Full)
        .unwrap();
    groups
}

#[test]
fn the_full_budget_error_names_the_pattern() {
    let m = re(EXPONENTIAL);
    let url = format!("http://x/{}", "a".repeat(64));
    let err = m.is_match(&url).unwrap_err();
    assert_eq!(
        err,
        MatchError::BacktrackLimit {
            pattern: EXPONENTIAL.to_owned()
        }
    );
    assert!(err.to_string().contains(EXPONENTIAL), "{err}");
}

#[test]
fn the_upstream_charm_deny_rule_is_decided_inline_at_any_length() {
    // spec/charm-parity.md §6.4: evaluated on every request to a protected app, so it must
    // never leave the async worker. Issue 17: its lookahead runs on the linear engine.
    let m = re("<^(https|http)>://example.com<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$)).*>");
    assert!(!m.is_linear());
    let prefix = "https://example.com".len();
    for path in ["/", "/private", "/welcome/x"] {
        let url = format!("https://example.com{path}");
        assert!(m.matches_after_within(&url, prefix, Budget::Inline).is_ok());
    }
    let longest = format!("https://example.com/{}", "a/".repeat(MAX_URL_LEN / 2 - 20));
    assert!(longest.len() - prefix > INLINE_MAX_LEN);
    assert_eq!(
        m.matches_after_within(&longest, prefix, Budget::Inline),
        Ok(true)
    );
    let welcome = format!(
        "https://example.com/welcome/{}",
        "a".repeat(MAX_URL_LEN / 2)
    );
    assert_eq!(
        m.matches_after_within(&welcome, prefix, Budget::Inline),
        Ok(false)
    );
}

#[test]
fn a_backtracking_text_longer_than_the_inline_limit_waits_for_the_full_budget() {
    let m = re("http://x/<a*(?!admin).*>");
    let url = format!("http://x/{}", "a".repeat(INLINE_MAX_LEN + 1));
    assert_eq!(
        m.matches_after_within(&url, PREFIX, Budget::Inline),
        Err(MatchError::OverInlineBudget)
    );
    assert_eq!(m.matches_after_within(&url, PREFIX, Budget::Full), Ok(true));
    // The linear engine has no budget: any length runs inline, lookaheads that open the
    // section included.
    for pattern in ["http://x/<.*>", "http://x/<(?!admin).*>"] {
        assert_eq!(
            re(pattern).matches_after_within(&url, PREFIX, Budget::Inline),
            Ok(true),
            "{pattern}"
        );
    }
}

#[test]
fn patterns_needing_more_than_lookaround_are_refused_naming_the_construct() {
    let table = [
        ("http://x/<(a)\\1>", "a backreference"),
        ("<(a)>/<\\1>", "a backreference"),
        ("http://x/<(?<n>a)\\k<n>>", "a backreference"),
        ("http://x/<(?P<n>a)(?P=n)>", "a backreference"),
        // `<` and `>` count in sections, so a lone `(?>` or `(?<=` needs a partner.
        (
            "http://x/<[<]?(?>a|ab)c>",
            "an atomic group or a possessive quantifier",
        ),
        // (Without lookaround, `a++` is the linear engine's `(a+)+`, not possessive.)
        (
            "http://x/<(?!x)a++>",
            "an atomic group or a possessive quantifier",
        ),
        ("http://x/<(a)?(?(1)b|c)>", "a conditional"),
        ("http://x/<a\\Kb>", "\\K"),
        ("http://x/<\\Ga>", "\\G"),
        ("http://x/<(a\\g<1>?b)>", "a subroutine call or recursion"),
        (
            "http://x/<(?<=a.*)[>]?b>",
            "a lookbehind without a maximum length",
        ),
        (
            "http://x/<(?<!a+)[>]?b>",
            "a lookbehind without a maximum length",
        ),
        // Hidden inside a lookaround body.
        ("http://x/<(?!(a)\\1).*>", "a backreference"),
    ];
    for (pattern, construct) in table {
        for strategy_captures in [false, true] {
            let err = Compiler::new(Strategy::Regexp)
                .compile(pattern, strategy_captures)
                .unwrap_err();
            assert_eq!(
                err,
                PatternError::Unsupported {
                    pattern: pattern.to_owned(),
                    construct
                },
                "{pattern}"
            );
            let message = err.to_string();
            assert!(
                message.contains(pattern) && message.contains(construct),
                "{message}"
            );
        }
    }
}

#[test]
fn lookahead_and_bounded_lookbehind_are_accepted() {
    for (pattern, url, want) in [
        ("http://x/<(?!admin).*>", "http://x/public", true),
        ("http://x/<(?=a)\\w+>", "http://x/abc", true),
        // `<` and `>` count in sections, so a lookbehind needs a `>` partner.
        ("http://x/<.*(?<=\\.html)[>]?>", "http://x/a.html", true),
        (
            "http://x/<.*(?<!\\.(?:js|css))[>]?>",
            "http://x/a.css",
            false,
        ),
        ("http://x/<.*(?<=a{1,3})[>]?>", "http://x/baa", true),
        ("http://x/<(?!(?<=/)[>]?admin).*>", "http://x/admin", false),
    ] {
        let m = re(pattern);
        assert!(!m.is_linear(), "{pattern}");
        assert_eq!(m.is_match(url), Ok(want), "{pattern} on {url}");
    }
}

#[test]
fn glob_star_crosses_neither_slash_nor_dot() {
    let m = glob("http://example.com/<*>");
    assert!(m.is_match("http://example.com/foo").unwrap());
    assert!(!m.is_match("http://example.com/foo/bar").unwrap());
    assert!(!m.is_match("http://example.com/file.txt").unwrap());
    let m = glob("http://example.com/<**>");
    assert!(m.is_match("http://example.com/foo/bar.txt").unwrap());
}

#[test]
fn glob_syntax_matches_upstream_cases() {
    let m = glob("http://x/<{foo*,bar*}>");
    assert!(m.is_match("http://x/foox").unwrap());
    assert!(m.is_match("http://x/bar").unwrap());
    assert!(!m.is_match("http://x/baz").unwrap());
    let m = glob("http://x/<m?n>");
    assert!(m.is_match("http://x/man").unwrap());
    assert!(!m.is_match("http://x/m/n").unwrap());
    let m = glob("http://x/<m[!a,o,u]n>");
    assert!(m.is_match("http://x/min").unwrap());
    assert!(!m.is_match("http://x/man").unwrap());
    assert!(!m.is_match("http://x/m,n").unwrap());
    let m = glob("http://x/<[a-c]>");
    assert!(m.is_match("http://x/b").unwrap());
    assert!(!m.is_match("http://x/d").unwrap());
}

#[test]
fn glob_literal_text_is_quoted() {
    let m = glob("http://x.com/a+b/<*>");
    assert!(m.is_match("http://x.com/a+b/c").unwrap());
    assert!(!m.is_match("http://xycom/a+b/c").unwrap());
}

#[test]
fn glob_has_no_capture_groups() {
    let m = glob("http://x/<*>");
    let mut groups = Vec::new();
    m.captures_into("http://x/a", Strategy::Glob, &mut groups)
        .unwrap();
    assert!(groups.is_empty());
}

#[test]
fn bad_globs_are_errors() {
    for bad in ["http://x/<[abc>", "http://x/<{a,b>", "http://x/<[]>"] {
        assert!(UrlMatcher::compile(bad, Strategy::Glob).is_err(), "{bad}");
    }
}

fn prefixes(m: &UrlMatcher) -> Vec<String> {
    m.prefixes()
        .iter()
        .map(|p| String::from_utf8(p.clone()).unwrap())
        .collect()
}

#[test]
fn prefixes_expand_finite_sections() {
    let m = re("<^(https|http)>://example.com<(?!/welcome).*>");
    assert_eq!(prefixes(&m), ["http://example.com", "https://example.com"]);
    let m = re("<^(https|http)>://example.com/<welcome((/.*$)|$)>");
    assert_eq!(
        prefixes(&m),
        ["http://example.com/", "https://example.com/"]
    );
    assert!(m.is_split());
    assert_eq!(
        m.source(),
        "^(welcome((/.*$)|$))$",
        "only the rest runs per request"
    );
}

#[test]
fn prefixes_stop_at_open_sections() {
    assert_eq!(prefixes(&re("http://x/<.*>/y")), ["http://x/"]);
    assert_eq!(prefixes(&re("<.*>/y")), [""]);
    assert_eq!(prefixes(&glob("http://x/<*>")), ["http://x/"]);
}

#[test]
fn rules_differing_in_literals_share_their_compiled_rest() {
    let mut compiler = Compiler::new(Strategy::Regexp);
    let a = compiler
        .compile("<^(https|http)>://a.example.com<(?!/welcome).*>", false)
        .unwrap();
    let b = compiler
        .compile("<^(https|http)>://b.example.com<(?!/welcome).*>", false)
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&a.rest, &b.rest));
    assert!(a.is_match("https://a.example.com/x").unwrap());
    assert!(!a.is_match("https://b.example.com/x").unwrap());
    assert!(!a.is_match("https://a.example.com/welcome").unwrap());
}

#[test]
fn rests_that_look_back_are_matched_whole() {
    // `^` after the start can never hold; split off, it would.
    let m = re("http://x/<^a>");
    assert!(!m.is_split());
    assert!(!m.is_match("http://x/a").unwrap());
    // A word boundary looks at the prefix's last character.
    let m = re("http://x<\\Ba>");
    assert!(!m.is_split());
    assert!(m.is_match("http://xa").unwrap());
}

#[test]
fn captures_need_the_whole_pattern() {
    let mut compiler = Compiler::new(Strategy::Regexp);
    let without = compiler.compile("<https|http>://x/<.*>", false).unwrap();
    let mut groups = Vec::new();
    without
        .captures_into("http://x/a", Strategy::Regexp, &mut groups)
        .unwrap();
    assert!(groups.is_empty(), "not requested, not computed");
    let with = compiler.compile("<https|http>://x/<.*>", true).unwrap();
    with.captures_into("http://x/a", Strategy::Regexp, &mut groups)
        .unwrap();
    assert_eq!(groups, ["http", "a"]);
}

/// The upstream charm's deny rule (spec/charm-parity.md §6.4), on every request to a protected
/// app.
const UPSTREAM_CHARM_DENY: &str =
    "<^(https|http)>://example.com<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$)).*>";

#[test]
fn issue_12_patterns_are_classified_by_how_often_a_scan_runs() {
    let table = [
        ("http://x/<.*>", Cost::Linear),
        // A lookahead opening the section runs once, whatever its body.
        (UPSTREAM_CHARM_DENY, Cost::Steps),
        ("http://x/<(?!admin).*>", Cost::Steps),
        ("http://x/<(?!.*\\.js$).*>", Cost::Steps),
        // Bounded lookaround bodies cost a few bytes wherever they run.
        ("http://x/<((?!/x).)*>", Cost::Steps),
        ("http://x/<.*(?<=\\.html)[>]?>", Cost::Steps),
        ("http://x/<.*/(?!internal).*>", Cost::Steps),
        ("http://x/<(?:((?=a)a|a)*b|a*)>", Cost::Steps),
        // A scan after a fixed part is still reached once, after a few choices a few times.
        ("http://x/<api/(?!.*\\.js$).*>", Cost::Steps),
        ("http://x/<(a|ab)(?!.*x).*>", Cost::Steps),
        ("http://x/<(?!admin)><.*>", Cost::Steps),
        // A scan after a choice runs again on each step back.
        ("http://x/<.*(?=.*x).*>", Cost::ScanPerStep),
        ("http://x/<[a-z]*(?!.*x).*>", Cost::ScanPerStep),
        ("http://x/<(a|b){0,8}(?!.*x).*>", Cost::ScanPerStep),
        ("http://x/<.*/(?!api/.*).*>", Cost::ScanPerStep),
        // ...as does an unbounded section the engine delegates after a backtracking one.
        ("http://x/<(?!admin)[^/]*>/<.*>", Cost::ScanPerStep),
        ("http://x/<((?=.).)*><.*x>", Cost::ScanPerStep),
    ];
    for (pattern, cost) in table {
        assert_eq!(re(pattern).cost(), cost, "{pattern}");
    }
}

#[test]
fn issue_12_a_scan_inside_a_repetition_is_refused_naming_the_construct() {
    for pattern in [
        "<((?!.*x).)*>",
        "http://x/<((?=.*a).)*>",
        "http://x/<((?!.*x)[a-z])+>",
        "http://x/<(?:(?!x+y).){2,5}>",
        // Nested in a lookahead body, or in a bounded lookbehind's lookahead.
        "http://x/<(?!(?:(?=.*x).)*y).*>",
    ] {
        let err = Compiler::new(Strategy::Regexp)
            .compile(pattern, false)
            .unwrap_err();
        assert_eq!(
            err,
            PatternError::Unsupported {
                pattern: pattern.to_owned(),
                construct: REPEATED_SCAN
            },
            "{pattern}"
        );
        let message = err.to_string();
        assert!(
            message.contains("inside a repetition") && message.contains(pattern),
            "{message}"
        );
    }
}

#[test]
fn issue_12_a_scan_per_step_gets_the_scaled_budgets() {
    let m = re("http://x/<.*(?=.*x).*>");
    // Each step back scans the rest: 8 `a`s take 9 steps, over the inline scan budget.
    let url = format!("http://x/{}", "a".repeat(INLINE_SCAN_LIMIT));
    assert_eq!(
        m.matches_after_within(&url, PREFIX, Budget::Inline),
        Err(MatchError::OverInlineBudget)
    );
    assert_eq!(
        m.matches_after_within(&url, PREFIX, Budget::Full),
        Ok(false)
    );
    let url = format!("http://x/{}x", "a".repeat(INLINE_SCAN_LIMIT));
    assert_eq!(
        m.matches_after_within(&url, PREFIX, Budget::Inline),
        Ok(true)
    );
    let url = format!("http://x/{}", "a".repeat(SCAN_BACKTRACK_LIMIT));
    assert_eq!(
        m.matches_after_within(&url, PREFIX, Budget::Full),
        Err(MatchError::BacktrackLimit {
            pattern: "http://x/<.*(?=.*x).*>".to_owned()
        })
    );
}

/// The fewest backtracking steps `source` needs to decide `text`.
fn steps_needed(source: &str, text: &str) -> usize {
    let decides = |limit: usize| {
        fancy_regex::RegexBuilder::new(source)
            .backtrack_limit(limit)
            .build()
            .unwrap()
            .is_match(text)
            .is_ok()
    };
    let (mut low, mut high) = (0, 1 << 24);
    assert!(decides(high), "{source} needs over 2^24 steps");
    while low < high {
        let mid = (low + high) / 2;
        if decides(mid) {
            high = mid
        } else {
            low = mid + 1
        }
    }
    low
}

/// How many times one match evaluates the lookahead `{la}` in `template`: the same pattern
/// with `(?:(?!)|{la})` in its place takes one more step per evaluation (the empty negative
/// lookahead fails, and the engine steps back into the second branch).
fn evaluations(template: &str, la: &str, text: &str) -> usize {
    let plain = template.replace("{la}", la);
    let probed = template.replace("{la}", &format!("(?:(?!)|{la})"));
    steps_needed(&probed, text) - steps_needed(&plain, text)
}

/// A section template with `{la}` for the scan, the scan, and an adversarial text of length n.
type ScanCase = (&'static str, &'static str, fn(usize) -> String);

#[test]
fn issue_12_scans_of_inline_classes_run_a_bounded_number_of_times() {
    let cases: [ScanCase; 5] = [
        (
            "^({la}.*)$",
            "(?!/welcome((/.*$)|$)|/about/app((/.*$)|$))",
            |n| format!("/welcome/{}", "a".repeat(n)),
        ),
        ("^({la}.*)$", "(?!/welcome((/.*$)|$))", |n| {
            "a/".repeat(n / 2)
        }),
        ("^(api/{la}.*)$", "(?!.*\\.js$)", |n| {
            format!("api/{}.js", "a".repeat(n))
        }),
        ("^({la}.*)$", "(?=.*x)", |n| "a".repeat(n)),
        ("^(a?{la}.*)$", "(?!.*x)", |n| "a".repeat(n)),
    ];
    for (template, la, text) in cases {
        let source = template.replace("{la}", la);
        let tree = fancy_regex::Expr::parse_tree(&source).unwrap();
        assert_eq!(classify(&tree.expr), Ok(Cost::Steps), "{source}");
        let counts: Vec<usize> = [16, 256, 4096]
            .into_iter()
            .map(|n| evaluations(template, la, &text(n)))
            .collect();
        assert!(
            counts.iter().all(|&c| c == counts[0] && c <= 2),
            "{source}: {counts:?} evaluations at 16, 256 and 4096 bytes"
        );
    }
}

#[test]
fn issue_12_scans_of_other_classes_run_once_per_step_or_per_repetition() {
    // The probe tells the classes apart: the count grows with the text.
    let cases: [(&str, &str, Result<Cost, &str>); 3] = [
        ("^(.*{la}.*)$", "(?=.*x)", Ok(Cost::ScanPerStep)),
        ("^(({la}.)*)$", "(?!.*x)", Err(REPEATED_SCAN)),
        ("^(({la}.)*)$", "(?=.*a)", Err(REPEATED_SCAN)),
    ];
    for (template, la, class) in cases {
        let source = template.replace("{la}", la);
        let tree = fancy_regex::Expr::parse_tree(&source).unwrap();
        assert_eq!(classify(&tree.expr), class, "{source}");
        for n in [16, 256] {
            let count = evaluations(template, la, &"a".repeat(n));
            assert!(count >= n, "{source}: {count} evaluations at {n} bytes");
        }
    }
}

/// Found by the matcher fuzz target (fuzz/regressions/matcher): a `^` after literal text in the
/// first section can never match, and the literal-prefix split must not drop it.
#[test]
fn a_caret_after_text_in_the_first_section_never_matches() {
    for (pattern, url) in [("<a^>", "a"), ("<https://app^>/<.*>", "https://app/x")] {
        assert!(
            !re(pattern).is_match(url).unwrap(),
            "{pattern} matched {url}"
        );
        assert!(captures(&re(pattern), url).is_empty(), "{pattern}");
    }
    assert!(
        re("<^(https|http)>://app/<.*>")
            .is_match("https://app/x")
            .unwrap()
    );
}

/// Found while fuzzing the matcher: deeply nested `{` in a glob overflowed the stack.
#[test]
fn deeply_nested_glob_braces_are_refused_not_a_stack_overflow() {
    let pattern = format!("http://x/<{}>", "{".repeat(10_000));
    assert!(UrlMatcher::compile(&pattern, Strategy::Glob).is_err());
    let fine = format!("http://x/<{}a{}>", "{".repeat(8), "}".repeat(8));
    assert!(glob(&fine).is_match("http://x/a").unwrap());
}

/// Issue 17: a section opening with a lookahead matches on the linear engine with no budget;
/// its capture groups still come from the backtracking engine, within its budgets.
#[test]
fn issue_17_captures_of_a_leading_lookahead_keep_the_backtracking_budgets() {
    let m = re("<(?!/admin)(/.*)>");
    assert!(!m.is_split());
    assert_eq!(m.cost(), Cost::Steps);
    let url = format!("/{}", "a".repeat(INLINE_MAX_LEN));
    assert_eq!(m.matches_after_within(&url, 0, Budget::Inline), Ok(true));
    assert_eq!(
        captures_over_the_inline_budget(&m, &url),
        [url.as_str(), url.as_str()]
    );
    // Split after a literal prefix and compiled without captures, it costs no budget at all.
    let deny = Compiler::new(Strategy::Regexp)
        .compile("https://app<(?!/welcome((/.*$)|$))(/.*)?>", false)
        .unwrap();
    assert!(deny.is_split());
    assert_eq!(deny.cost(), Cost::Linear);
}

proptest::proptest! {
    /// Literal text between sections is read without the parser (issue 17: parsing each rule's
    /// host and path was most of the load time at 10,000 rules), with the facts the parser
    /// finds for its escaped form.
    #[test]
    fn literal_pieces_read_without_the_parser_have_the_parsers_facts(text in "\\PC{1,120}") {
        let shortcut = PieceFacts::of_literal(&text).map(|f| (f.looks, f.literals));
        let parsed = PieceFacts::parse(&regex_syntax::escape(&text)).map(|f| (f.looks, f.literals));
        proptest::prop_assert_eq!(shortcut, parsed);
    }
}
