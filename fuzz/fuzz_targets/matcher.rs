//! URL patterns come from rule files, and with the charm from requirers' `allowed_endpoints`.
//! Compiling any pattern under either strategy must succeed or fail with an error, never panic
//! or hang. Matching a URL derived from a pattern must agree three ways: the rule index's
//! answer equals a plain scan of every rule, and a pattern split into literal prefix + rest
//! matches exactly when the whole pattern (compiled for its capture groups) does.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use oathkeeper_core::index::{FindError, IndexEntry, RuleIndex};
use oathkeeper_core::matcher::{Compiler, Strategy, UrlMatcher};

const METHODS: [&str; 4] = ["GET", "POST", "delete", "PUT"];

#[derive(Debug, Arbitrary)]
struct Input {
    glob: bool,
    /// Patterns, each with a bit mask over [`METHODS`].
    rules: Vec<(String, u8)>,
    /// Texts substituted for the `<...>` sections when deriving a URL.
    fillers: Vec<String>,
    /// Which rule's pattern the URL is derived from.
    pick: u8,
    method: u8,
}

/// A URL shaped like `pattern`: literal text kept, each top-level section replaced by a
/// filler (or by its own text, which matches sections that are plain words).
fn derive_url(pattern: &str, fillers: &[String]) -> String {
    let mut url = String::new();
    let mut depth = 0usize;
    let mut section = String::new();
    let mut n = 0usize;
    for c in pattern.chars() {
        match c {
            '<' => {
                if depth > 0 {
                    section.push(c);
                }
                depth += 1;
            }
            '>' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    match fillers.get(n % fillers.len().max(1)) {
                        Some(f) => url.push_str(f),
                        None => url.push_str(&section),
                    }
                    section.clear();
                    n += 1;
                } else {
                    section.push(c);
                }
            }
            c if depth > 0 => section.push(c),
            c => url.push(c),
        }
    }
    url
}

fn check(
    strategy: Strategy,
    entries: &[IndexEntry],
    whole: &[UrlMatcher],
    index: &RuleIndex,
    method: &str,
    url: &str,
) {
    let mut hits = Vec::new();
    for (position, entry) in entries.iter().enumerate() {
        let Ok(matched) = entry.matcher.is_match(url) else {
            // A backtracking bound was hit: the index reports it too, nothing to compare.
            return;
        };
        // The same pattern compiled alone, with its capture groups, must agree.
        let mut groups = Vec::new();
        if strategy == Strategy::Regexp && entry.matcher.pattern().contains('<') {
            if let (Ok(alone), Ok(())) = (
                whole[position].is_match(url),
                whole[position].captures_into(url, strategy, &mut groups),
            ) {
                assert_eq!(
                    matched,
                    alone,
                    "pattern {:?} on {url:?}: shared compiler and standalone disagree",
                    entry.matcher.pattern()
                );
                // No match, no groups. (A match may have none: a section that opens with `?`
                // is a group of another kind, e.g. `<?!x>` is the lookahead `(?!x)`.)
                assert!(
                    matched || groups.is_empty(),
                    "pattern {:?} on {url:?}: no split match but whole-pattern captures {groups:?}",
                    entry.matcher.pattern()
                );
            }
        }
        if matched && entry.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            hits.push(position);
        }
    }
    match (index.find(method, url), hits.as_slice()) {
        (Err(FindError::NoMatch), []) => {}
        (Ok(found), [only]) => assert_eq!(found, *only, "index found another rule for {url:?}"),
        (Err(FindError::Ambiguous { rules: [a, b] }), [_, _, ..]) => {
            assert!(
                a != b && hits.contains(&a) && hits.contains(&b),
                "index ambiguity {a}/{b} not among {hits:?} for {url:?}"
            );
        }
        (Err(FindError::Match(_)), _) => {}
        (got, want) => panic!(
            "index answered {got:?} for {method} {url:?}, a scan of every rule matches {want:?}"
        ),
    }
}

fuzz_target!(|input: Input| {
    let strategy = if input.glob {
        Strategy::Glob
    } else {
        Strategy::Regexp
    };
    let mut compiler = Compiler::new(strategy);
    let mut entries = Vec::new();
    let mut whole = Vec::new();
    for (pattern, mask) in input.rules.iter().take(16) {
        let Ok(matcher) = compiler.compile(pattern, mask & 0x80 != 0) else {
            assert!(
                UrlMatcher::compile(pattern, strategy).is_err(),
                "pattern {pattern:?} compiles only standalone"
            );
            continue;
        };
        let alone = UrlMatcher::compile(pattern, strategy).unwrap_or_else(|e| {
            panic!("pattern {pattern:?} compiles only in a shared compiler: {e}")
        });
        let methods = METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, m)| (*m).to_owned())
            .collect();
        entries.push(IndexEntry { methods, matcher });
        whole.push(alone);
    }
    let index = RuleIndex::build(entries.clone());
    let _ = index.overlaps();
    if entries.is_empty() {
        return;
    }
    let method = METHODS[usize::from(input.method) % METHODS.len()];
    let source = entries[usize::from(input.pick) % entries.len()]
        .matcher
        .pattern()
        .to_owned();
    check(
        strategy,
        &entries,
        &whole,
        &index,
        method,
        &derive_url(&source, &input.fillers),
    );
    check(
        strategy,
        &entries,
        &whole,
        &index,
        method,
        &derive_url(&source, &[]),
    );
    for prefix in entries.iter().flat_map(|e| e.matcher.prefixes()) {
        if let Ok(prefix) = std::str::from_utf8(prefix) {
            let mut url = prefix.to_owned();
            url.push_str(input.fillers.first().map_or("", String::as_str));
            check(strategy, &entries, &whole, &index, method, &url);
        }
    }
});
