use proptest::prelude::*;

use super::*;

fn shape(source: &str) -> Option<Shape> {
    Shape::read(source)
}

fn below(literals: &[&str]) -> Option<Shape> {
    Some(Shape::Below(literals.iter().map(|l| (*l).into()).collect()))
}

#[test]
fn the_charms_three_tests_are_read_as_shapes() {
    // An allowed endpoint (the rest after the URL), the deny rule's lookahead as the lookahead
    // engine writes it, and the deny rule's rest.
    assert_eq!(shape("^(welcome((/.*$)|$))$"), below(&["welcome"]));
    assert_eq!(shape("^(about/app((/.*$)|$))$"), below(&["about/app"]));
    assert_eq!(
        shape("^(?:/welcome((/.*$)|$)|/about/app((/.*$)|$))"),
        below(&["/welcome", "/about/app"])
    );
    assert_eq!(shape("^(?:/x(?:$|(?:/.*$)))"), below(&["/x"]));
    assert_eq!(shape("^((/.*)?)$"), Some(Shape::AnyPath));
    assert_eq!(shape("^(?:(?:/.*)?)$"), Some(Shape::AnyPath));
}

#[test]
fn anything_else_stays_a_regular_expression() {
    for source in [
        // Not anchored, or anchored at a line.
        "welcome((/.*$)|$)",
        "(?m)^(welcome((/.*$)|$))$",
        "^(welcome((/.*(?m:$))|$))$",
        // A class, a case-insensitive literal, a dot that takes newlines.
        "^(api/v[0-9]+((/.*$)|$))$",
        "^((?i)welcome((/.*$)|$))$",
        "^(welcome((/(?s:.*)$)|$))$",
        "^(welcome.((/.*$)|$))$",
        // A different tail: no end, one branch, more than `/`.
        "^(welcome((/.*)|$))$",
        "^(welcome(/.*$))$",
        "^(welcome((//.*$)|$))$",
        "^(welcome((/.+$)|$))$",
        // Any path without its end, or more than one `/`.
        "^((/.*)?)",
        "^((//.*)?)$",
        // No literal.
        "^(((/.*$)|$))$",
        "^(?:/a((/.*$)|$)|[b]((/.*$)|$))",
    ] {
        assert_eq!(shape(source), None, "{source}");
    }
}

/// A literal endpoint: text a requirer writes, with the characters that matter here.
fn literal() -> impl Strategy<Value = String> {
    "[a-z/._~é-]{1,8}"
}

/// A text near `literals`: one of them with a tail of `/`, `\n`, letters or nothing, or noise.
fn text(literals: Vec<String>) -> impl Strategy<Value = String> {
    let tail = "(/|\n|a|é|/\n|//)?[a-z/\n]{0,4}";
    prop_oneof![
        (prop::sample::select(literals), tail).prop_map(|(l, t)| format!("{l}{t}")),
        "[a-z/\né.]{0,10}",
    ]
}

proptest! {
    /// A shape answers as its regular expression, for any literal endpoints and texts near
    /// them (the regular expression is the reference).
    #[test]
    fn shapes_answer_as_their_regular_expressions(
        (literals, texts) in prop::collection::vec(literal(), 1..4).prop_flat_map(|literals| {
            let texts = prop::collection::vec(text(literals.clone()), 1..8);
            (Just(literals), texts)
        }),
        anchored_end in any::<bool>(),
    ) {
        let escaped: Vec<String> = literals.iter().map(|l| regex_syntax::escape(l)).collect();
        let alternatives: Vec<String> =
            escaped.iter().map(|l| format!("{l}((/.*$)|$)")).collect();
        let sources = [
            format!("^(?:{}){}", alternatives.join("|"), if anchored_end { "$" } else { "" }),
            format!("^({}((/.*$)|$))$", escaped[0]),
            "^((/.*)?)$".to_owned(),
        ];
        for source in &sources {
            let regex = regex::Regex::new(source).unwrap();
            let linear = Linear::new(regex.clone());
            prop_assert!(linear.shape().is_some(), "{} has no shape", source);
            for text in &texts {
                prop_assert_eq!(linear.shape().unwrap().is_match(text), regex.is_match(text), "{} on {:?}", source, text);
            }
        }
    }
}

#[test]
fn every_rule_the_charm_renders_for_literal_endpoints_is_decided_by_shapes() {
    // (An endpoint with regex syntax, `a.b` or `v[0-9]+`, stays on the regex crate: see above.)
    use crate::matcher::{Compiler, Engine, Strategy};
    let urls = [
        "https://app.example.com",
        "https://shared.example.com/model-app-ui",
    ];
    let rules = crate::charm::app_rules("app", &urls, &["welcome", "about/app", "a-b_c~"])
        .unwrap()
        .into_rules();
    let mut compiler = Compiler::new(Strategy::Regexp);
    for rule in &rules {
        let matcher = compiler.compile(&rule.matcher.url, false).unwrap();
        let shaped = match &*matcher.rest {
            Engine::Linear(linear) => linear.shape().is_some(),
            Engine::Lookahead { linear, .. } => linear.all_shaped(),
            Engine::Backtracking(_) => false,
        };
        assert!(shaped, "{} ({})", rule.id, matcher.source());
    }
}
