//! Malformed input never panics: random templates, rule files, patterns and configs.

use oathkeeper::template::Template;
use oathkeeper_core::config::{NoEnv, parse_config};
use oathkeeper_core::matcher::{Strategy, UrlMatcher};
use oathkeeper_core::rule::parse_rules;

/// xorshift64: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A string of up to `max` pieces drawn from `alphabet`.
    fn text(&mut self, alphabet: &[&str], max: usize) -> String {
        let n = (self.next() as usize) % max;
        (0..n)
            .map(|_| alphabet[(self.next() as usize) % alphabet.len()])
            .collect()
    }
}

#[test]
fn random_templates_parse_or_fail_cleanly_and_render_without_panicking() {
    let alphabet = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        ".",
        "Subject",
        ".Extra",
        ".a.b",
        "print",
        "printf",
        "\"%s\"",
        "if",
        "else",
        "end",
        "range",
        "with",
        "$x",
        ":=",
        "|",
        "(",
        ")",
        "eq",
        "index",
        "1",
        "\"",
        "`",
        "/*",
        "*/",
        "nil",
        "printIndex",
        "len",
        "toJson",
        "default",
        "x",
    ];
    let mut data = serde_json::Map::new();
    data.insert("Subject".into(), serde_json::json!("u"));
    data.insert(
        "Extra".into(),
        serde_json::json!({"a": {"b": [1, "two", null]}}),
    );
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut parsed = 0;
    for _ in 0..5_000 {
        let source = rng.text(&alphabet, 16);
        if let Ok(t) = Template::parse(&source) {
            parsed += 1;
            let mut out = String::new();
            let _ = t.render(&data, &mut out);
        }
    }
    assert!(
        parsed > 25,
        "the generator reaches valid templates too: {parsed}"
    );
}

#[test]
fn random_rule_files_and_patterns_fail_cleanly() {
    let alphabet = [
        "[",
        "]",
        "{",
        "}",
        "'",
        "\"",
        ":",
        ",",
        " ",
        "\n",
        "- ",
        "id",
        "match",
        "url",
        "<",
        ">",
        ".*",
        "(?!",
        ")",
        "|",
        "\\",
        "[[:digit:]]",
        "*",
        "**",
        "?",
        "{a,b}",
        "[!x]",
        "null",
        "1",
    ];
    let mut rng = Rng(0xdead_beef_0bad_cafe);
    for _ in 0..5_000 {
        let text = rng.text(&alphabet, 24);
        let _ = parse_rules(text.as_bytes());
        let _ = parse_config(&text, &NoEnv);
        for strategy in [Strategy::Regexp, Strategy::Glob] {
            if let Ok(m) = UrlMatcher::compile(&text, strategy) {
                let _ = m.is_match("http://example.com/a/b.c");
                let mut groups = Vec::new();
                let _ = m.captures_into("http://example.com/a/b.c", strategy, &mut groups);
            }
        }
    }
}
