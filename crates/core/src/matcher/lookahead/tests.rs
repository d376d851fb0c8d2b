//! The linear form of leading lookaheads agrees with fancy-regex on the original source, which
//! stays the reference: named cases for the tricky semantics, then generated patterns of the
//! charm's shape on generated paths.

use proptest::prelude::*;

use super::*;
use crate::matcher::{Budget, Cost, Engine, INLINE_MAX_LEN, Strategy, UrlMatcher};

/// The linear form of `source`, which must have one.
fn linear(source: &str) -> LeadingLookaheads {
    let tree = Expr::parse_tree(source).unwrap();
    LeadingLookaheads::compile(&tree.expr).unwrap_or_else(|| panic!("{source} has no linear form"))
}

/// Whether `source` has a linear form.
fn has_linear_form(source: &str) -> bool {
    LeadingLookaheads::compile(&Expr::parse_tree(source).unwrap().expr).is_some()
}

/// The backtracking engine's answer on the original source.
fn reference(source: &str, text: &str) -> bool {
    fancy_regex::Regex::new(source)
        .unwrap()
        .is_match(text)
        .unwrap()
}

/// Asserts that the linear form of `source` answers `expected` on each text, as the reference
/// does.
fn assert_matches(source: &str, cases: &[(&str, bool)]) {
    let linear = linear(source);
    for &(text, expected) in cases {
        assert_eq!(
            reference(source, text),
            expected,
            "reference: {source} on {text:?}"
        );
        assert_eq!(
            linear.is_match(text),
            expected,
            "{source} on {text:?} as {:?}",
            linear.sources()
        );
    }
}

/// The charm's deny rest (crates/core/src/charm/rules.rs), after the literal URL.
const CHARM_DENY_REST: &str = "^((?!/welcome((/.*$)|$)|/about/app((/.*$)|$))(/.*)?)$";

#[test]
fn the_charm_deny_rest_splits_into_an_anchored_exclusion_and_the_rest() {
    assert_eq!(
        linear(CHARM_DENY_REST).sources(),
        [
            ("^(?:/welcome((/.*$)|$)|/about/app((/.*$)|$))", false),
            ("^((/.*)?)$", true),
        ]
    );
    assert_matches(
        CHARM_DENY_REST,
        &[
            ("", true),
            ("/", true),
            ("/private", true),
            ("/welcomeX", true),
            ("/about", true),
            ("/welcome", false),
            ("/welcome/", false),
            ("/welcome/x/y", false),
            ("/about/app/more", false),
            // No path boundary: the rest needs one too.
            ("x", false),
            // `.` stops at a newline, in the exclusion as in the rest.
            ("/welcome/\n", false),
            ("/private\n", false),
        ],
    );
}

#[test]
fn a_dollar_in_the_lookahead_is_the_end_of_the_text() {
    assert_matches(
        "^((?!a$).*)$",
        &[("a", false), ("ab", true), ("a\n", false), ("b\n", false)],
    );
    assert_matches("^((?!a$)(?s:.*))$", &[("a\n", true), ("a", false)]);
}

#[test]
fn alternation_binds_loosest_inside_the_lookahead() {
    // `^(?:a|b)`, not `^a|b`: a `b` later in the text is no exclusion.
    assert_matches(
        "^((?!a|b).*)$",
        &[("xb", true), ("b", false), ("ab", false), ("", true)],
    );
}

#[test]
fn an_empty_lookahead_excludes_or_admits_everything() {
    assert_matches("^((?!).*)$", &[("", false), ("a", false)]);
    assert_matches("^((?=).*)$", &[("", true), ("a", true)]);
}

#[test]
fn flags_keep_their_scope() {
    // Set before the lookahead: both parts are case-insensitive.
    assert_matches(
        "^((?i)(?!/welcome)/[a-z]*)$",
        &[("/WELCOME", false), ("/Other", true)],
    );
    // Set inside the lookahead: it ends with it.
    assert_matches(
        "^((?!(?i)x)[a-zA-Z])$",
        &[("X", false), ("x", false), ("y", true), ("Y", true)],
    );
    assert_matches("^((?!x)(?s).)$", &[("\n", true), ("x", false), ("y", true)]);
}

#[test]
fn unicode_classes_and_case_folding_agree() {
    assert_matches("^((?!é)\\w*)$", &[("é", false), ("e", true), ("éé", false)]);
    // The Kelvin sign folds to `k`.
    assert_matches(
        "^((?i)(?!k).*)$",
        &[("\u{212a}", false), ("K", false), ("j", true)],
    );
    assert_matches("^((?!\\d)\\w+)$", &[("٣", false), ("a٣", true)]);
}

#[test]
fn anchors_and_boundaries_inside_the_parts_agree() {
    assert_matches(
        "^((?!a\\b).*)$",
        &[("a", false), ("a/", false), ("ab", true)],
    );
    assert_matches("^((?!^a).*)$", &[("a", false), ("ba", true)]);
    assert_matches(
        "^((?!(?m:.$))(?s:.*))$",
        &[("a\n", false), ("ab\n", true), ("", true)],
    );
}

#[test]
fn several_leading_lookaheads_are_each_a_condition() {
    let source = "^(?!/a)(?=/)((?!/b)[/a-z]*)$";
    assert_eq!(linear(source).sources().len(), 4);
    assert_matches(
        source,
        &[
            ("/c", true),
            ("/a", false),
            ("/b", false),
            ("c", false),
            ("", false),
        ],
    );
}

#[test]
fn lookaheads_after_text_or_inside_choices_stay_on_the_backtracking_engine() {
    for source in [
        "^(a(?!b).*)$",
        "^((?!a)b|c)$",
        "^((?!a).)*$",
        "^(.*(?=x).*)$",
        // Parts the linear engine cannot run.
        "^((?!a(?=b)).*)$",
        "^((?!a).*(?<=b))$",
        "^((?!a)(b)\\1)$",
        "^((?!a\\Z).*)$",
        "^((?!\\R).*)$",
        // Not anchored at the start.
        "((?!a).*)$",
    ] {
        assert!(!has_linear_form(source), "{source}");
    }
}

#[test]
fn lookbehind_at_the_start_is_not_taken_as_a_lookahead() {
    assert!(!has_linear_form("^((?<!a).*)$"));
}

#[test]
fn the_engine_runs_the_linear_form_and_keeps_backtracking_for_captures() {
    let Ok(engine) = Engine::compile(CHARM_DENY_REST) else {
        panic!("the charm deny rest compiles");
    };
    assert!(matches!(engine, Engine::Lookahead { .. }), "{engine:?}");
    assert_eq!(engine.cost(), Cost::Linear);
    assert_eq!(engine.capture_cost(), Cost::Steps);
    // No budget: a text over the inline length is decided inline.
    let long = format!("/{}", "a/".repeat(INLINE_MAX_LEN));
    assert_eq!(engine.is_match(&long, Budget::Inline), Ok(true));
}

#[test]
fn capture_groups_keep_the_numbering_of_the_whole_pattern() {
    // Groups 2 and 3 sit in the lookahead and never capture; the sections and their inner
    // groups follow.
    let m = UrlMatcher::compile("<(?!/w(x)?(y))(/[a-z]*)?>/<(.*)>", Strategy::Regexp).unwrap();
    let mut groups = Vec::new();
    m.captures_into("/ab/cd", Strategy::Regexp, &mut groups)
        .unwrap();
    assert_eq!(groups, ["/ab", "", "", "/ab", "cd", "cd"]);
    assert!(!m.is_match("/wxy/cd").unwrap());
}

/// Pieces of generated endpoints: `regex` syntax, and a text it matches.
const PIECES: [(&str, &str); 16] = [
    ("a", "a"),
    ("b", "b"),
    ("/", "/"),
    ("welcome", "welcome"),
    ("[a-z]+", "ab"),
    (".*", "x/y"),
    ("(a|bc)", "bc"),
    ("(?:ab)*", "abab"),
    ("$", ""),
    ("\\d", "7"),
    ("é", "é"),
    ("(?i:a)", "A"),
    ("[^/]*", "zé"),
    ("(?s:.)", "\n"),
    ("\\.", "."),
    ("((/.*$)|$)", "/q"),
];

/// Section shapes: `{x}` is the lookahead body, `{r}` what follows it.
const SHAPES: [&str; 7] = [
    // The charm's deny rest.
    "^((?!{x}){r})$",
    "^((?={x}){r})$",
    "^((?i)(?!{x}){r})$",
    "^(?!{x})((?!/a){r})$",
    "^((?!{x})(?=/){r})$",
    "^(?:(?!{x}){r})$",
    "^(((?!{x}))(?!b){r})$",
];

/// What follows the lookaheads.
const RESTS: [&str; 7] = [
    "(/.*)?",
    ".*",
    "/[a-z]*",
    "",
    "(a|/)(.*)",
    "(?:/\\w+)*/?",
    "[^\\n]*(x|$)",
];

/// Endings appended to a path built from an endpoint's sample: boundaries, a newline, text
/// past the end, non-ASCII.
const ENDINGS: [&str; 10] = ["", "/", "/x", "x", "\n", "/\n", "é", "A", "/é", "$"];

/// A generated endpoint: its pieces, and whether the charm's `((/.*$)|$)` closes it.
type Endpoint = (Vec<usize>, bool);

fn endpoints() -> impl proptest::strategy::Strategy<Value = Vec<Endpoint>> {
    prop::collection::vec(
        (prop::collection::vec(0..PIECES.len(), 1..4), any::<bool>()),
        0..4,
    )
}

/// The lookahead body of `endpoints` (`/a|/b((/.*$)|$)`) and a sample text of each.
fn body(endpoints: &[Endpoint]) -> (String, Vec<String>) {
    let mut alternatives = Vec::new();
    let mut samples = Vec::new();
    for (pieces, below) in endpoints {
        let mut source = String::from("/");
        let mut sample = String::from("/");
        for &p in pieces {
            source.push_str(PIECES[p].0);
            sample.push_str(PIECES[p].1);
        }
        if *below {
            source.push_str("((/.*$)|$)");
        }
        alternatives.push(source);
        samples.push(sample);
    }
    (alternatives.join("|"), samples)
}

/// A path: a sample (or a prefix of one), an ending, then free text.
type PathSpec = (Option<(usize, usize)>, usize, String);

fn paths() -> impl proptest::strategy::Strategy<Value = Vec<PathSpec>> {
    prop::collection::vec(
        (
            prop::option::of((any::<usize>(), any::<usize>())),
            0..ENDINGS.len(),
            "[a/\u{e9}\nA7.b]{0,4}",
        ),
        1..12,
    )
}

fn path(samples: &[String], (sample, ending, tail): &PathSpec) -> String {
    let mut path = String::new();
    if let Some((which, cut)) = sample
        && !samples.is_empty()
    {
        let sample = &samples[which % samples.len()];
        let chars = sample.chars().count();
        // Half the time the whole sample, otherwise a prefix of it.
        let keep = if cut % 2 == 0 {
            chars
        } else {
            cut / 2 % (chars + 1)
        };
        path.extend(sample.chars().take(keep));
    }
    path.push_str(ENDINGS[*ending]);
    path.push_str(tail);
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Issue 17: the linear form of a pattern with leading lookaheads matches exactly the
    /// texts the backtracking engine matches on the original source.
    #[test]
    fn leading_lookaheads_match_as_the_backtracking_engine_does(
        endpoints in endpoints(),
        shape in 0..SHAPES.len(),
        rest in 0..RESTS.len(),
        specs in paths(),
    ) {
        let (x, samples) = body(&endpoints);
        let source = SHAPES[shape].replace("{x}", &x).replace("{r}", RESTS[rest]);
        let backtracking = fancy_regex::Regex::new(&source).unwrap();
        let Ok(engine) = Engine::compile(&source) else {
            panic!("{source} compiles on the backtracking engine but not here");
        };
        prop_assert!(matches!(engine, Engine::Lookahead { .. }), "{} is not linear", source);
        for spec in &specs {
            let text = path(&samples, spec);
            let expected = backtracking.is_match(&text).unwrap();
            prop_assert_eq!(
                engine.is_match(&text, Budget::Inline), Ok(expected),
                "{} on {:?}", source, text
            );
        }
    }

    /// Issue 17: a URL pattern whose section opens with a lookahead, split after its literal
    /// prefix or tested whole, matches and captures as the backtracking engine does on the
    /// whole pattern.
    #[test]
    fn url_patterns_with_a_leading_lookahead_match_and_capture_as_the_backtracking_engine(
        endpoints in endpoints(),
        rest in 0..RESTS.len(),
        prefix in 0..3usize,
        specs in paths(),
    ) {
        let (x, samples) = body(&endpoints);
        let (pattern_prefix, source_prefix, url_prefix) = [
            ("", "", ""),
            ("https://h", "https://h", "https://h"),
            ("<https|http>://h", "(https|http)://h", "http://h"),
        ][prefix];
        let section = format!("(?!{x}){}", RESTS[rest]);
        let pattern = format!("{pattern_prefix}<{section}>");
        let source = format!("^{source_prefix}({section})$");
        let backtracking = fancy_regex::Regex::new(&source).unwrap();
        let matcher = UrlMatcher::compile(&pattern, Strategy::Regexp).unwrap();
        for spec in &specs {
            let url = format!("{url_prefix}{}", path(&samples, spec));
            let expected = backtracking.captures(&url).unwrap();
            prop_assert_eq!(matcher.is_match(&url), Ok(expected.is_some()), "{} on {:?}", pattern, url);
            let mut groups = Vec::new();
            matcher.captures_into(&url, Strategy::Regexp, &mut groups).unwrap();
            let expected: Vec<String> = expected.iter().flat_map(|caps| {
                caps.iter().skip(1).map(|m| m.map_or("", |m| m.as_str()).to_owned())
            }).collect();
            prop_assert_eq!(groups, expected, "{} on {:?}", pattern, url);
        }
    }
}
