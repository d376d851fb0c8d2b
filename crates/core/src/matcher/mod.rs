//! URL patterns with `<...>` sections, compiled once per reload.
//!
//! Text outside the top-level `<...>` sections is literal; each section is a regular expression
//! ([`regexp`]) or a glob ([`glob`]), depending on `access_rules.matching_strategy`. The whole
//! pattern must match the whole URL. Sections nest: `<` and `>` inside a section are counted.
//!
//! Each compiled pattern also knows the literal prefixes every URL it matches must start with
//! ([`UrlMatcher::prefixes`]); the rule index uses them so a request is only tested against
//! the few rules that could match it.

pub mod glob;
pub mod regexp;

use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// How `<...>` sections are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Regular expressions, with lookaround (the default).
    #[default]
    Regexp,
    /// Globs with `.` and `/` as separators.
    Glob,
}

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatternError {
    /// `<` and `>` do not balance.
    #[error("unbalanced \"<\" and \">\" in pattern \"{pattern}\"")]
    Unbalanced {
        /// The pattern.
        pattern: String,
    },
    /// A section is not a valid regular expression or glob.
    #[error("invalid pattern \"{pattern}\": {message}")]
    Invalid {
        /// The pattern.
        pattern: String,
        /// The engine's complaint.
        message: String,
    },
}

/// Why matching a URL failed (as opposed to not matching).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchError {
    /// A backtracking pattern hit its step bound (upstream: the 250 ms regexp timeout).
    #[error("pattern \"{pattern}\" exceeded the backtracking limit")]
    BacktrackLimit {
        /// The pattern.
        pattern: String,
    },
}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Text outside `<...>`, matched literally.
    Literal(&'a str),
    /// The inside of a top-level `<...>`.
    Section(&'a str),
}

/// Splits a pattern into literal text and top-level `<...>` sections, counting nesting.
pub(crate) fn split_sections(pattern: &str) -> Result<Vec<Segment<'_>>, PatternError> {
    let unbalanced = || PatternError::Unbalanced {
        pattern: pattern.to_owned(),
    };
    let mut segments = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in pattern.char_indices() {
        match c {
            '<' => {
                if depth == 0 {
                    if i > start {
                        segments.push(Segment::Literal(&pattern[start..i]));
                    }
                    start = i + 1;
                }
                depth += 1;
            }
            '>' => {
                depth = depth.checked_sub(1).ok_or_else(unbalanced)?;
                if depth == 0 {
                    segments.push(Segment::Section(&pattern[start..i]));
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(unbalanced());
    }
    if start < pattern.len() {
        segments.push(Segment::Literal(&pattern[start..]));
    }
    Ok(segments)
}

/// Most literal prefixes kept per rule; past this the prefix set stops growing.
const MAX_PREFIXES: usize = 32;

/// Bound on backtracking steps for patterns that need the backtracking engine.
pub const BACKTRACK_LIMIT: usize = 1_000_000;

/// A compiled regular expression.
#[derive(Debug)]
enum Engine {
    /// Linear-time `regex` crate: every glob and most regexps.
    Linear(regex::Regex),
    /// Backtracking `fancy-regex`, only for patterns that need lookaround or backreferences.
    Backtracking(fancy_regex::Regex),
}

impl Engine {
    fn compile(source: &str) -> Result<Engine, String> {
        match regex::Regex::new(source) {
            Ok(re) => Ok(Engine::Linear(re)),
            Err(linear) => fancy_regex::RegexBuilder::new(source)
                .backtrack_limit(BACKTRACK_LIMIT)
                .build()
                .map(Engine::Backtracking)
                .map_err(|e| format!("{e}; as a linear regex: {linear}")),
        }
    }

    fn is_match(&self, text: &str) -> Result<bool, ()> {
        match self {
            Engine::Linear(re) => Ok(re.is_match(text)),
            Engine::Backtracking(re) => re.is_match(text).map_err(|_| ()),
        }
    }
}

/// Compiles patterns of one strategy, sharing engines between patterns with the same source.
///
/// A pattern is split into an exact literal prefix set (`<^(https|http)>://app.example.com`
/// gives two prefixes) and the rest (`<(?!/welcome).*>`). The rule index finds the prefix; only
/// the rest runs as a regular expression, on the text after it. Generated rules differ in their
/// hosts and paths but share their rests, so ten thousand charm rules compile a handful of
/// regular expressions, not twenty thousand — which is what keeps load time and memory low.
#[derive(Debug)]
pub struct Compiler {
    strategy: Strategy,
    engines: std::collections::HashMap<String, std::sync::Arc<Engine>>,
}

impl Compiler {
    /// A compiler for `strategy`.
    pub fn new(strategy: Strategy) -> Compiler {
        Compiler {
            strategy,
            engines: std::collections::HashMap::new(),
        }
    }

    fn engine(&mut self, source: &str) -> Result<std::sync::Arc<Engine>, String> {
        if let Some(e) = self.engines.get(source) {
            return Ok(std::sync::Arc::clone(e));
        }
        let engine = std::sync::Arc::new(Engine::compile(source)?);
        self.engines
            .insert(source.to_owned(), std::sync::Arc::clone(&engine));
        Ok(engine)
    }

    /// Compiles `pattern`. With `captures`, the whole pattern is also compiled so that the
    /// rule's capture groups can be read (only rules whose templates use them need that).
    pub fn compile(&mut self, pattern: &str, captures: bool) -> Result<UrlMatcher, PatternError> {
        let invalid = |message: String| PatternError::Invalid {
            pattern: pattern.to_owned(),
            message,
        };
        let mut pieces = Vec::new();
        for segment in split_sections(pattern)? {
            pieces.push(match segment {
                Segment::Literal(text) => regex_syntax::escape(text),
                Segment::Section(inner) => {
                    let translated = match self.strategy {
                        Strategy::Regexp => inner.to_owned(),
                        Strategy::Glob => glob::to_regex(inner).map_err(invalid)?,
                    };
                    format!("({translated})")
                }
            });
        }
        let full_source = format!("^{}$", pieces.concat());
        let (consumed, exact) = exact_prefixes(&pieces);
        let rest: String = pieces[consumed..].concat();
        let split = consumed > 0 && rest_is_context_free(&rest);
        let (prefixes, rest_source) = if split {
            (exact, format!("^{rest}$"))
        } else {
            (index_prefixes(&pieces), full_source.clone())
        };
        let rest_engine = self.engine(&rest_source).map_err(invalid)?;
        let full = match (split, captures && self.strategy == Strategy::Regexp) {
            (false, _) => Some(std::sync::Arc::clone(&rest_engine)),
            (true, true) => Some(self.engine(&full_source).map_err(invalid)?),
            (true, false) => None,
        };
        Ok(UrlMatcher {
            pattern: pattern.to_owned(),
            prefixes,
            split,
            rest: rest_engine,
            rest_source,
            full,
        })
    }
}

/// A compiled URL pattern.
#[derive(Debug, Clone)]
pub struct UrlMatcher {
    pattern: String,
    prefixes: Vec<Vec<u8>>,
    /// True: `rest` matches what follows an exact prefix. False: `rest` is the whole pattern
    /// and the prefixes only narrow the candidates.
    split: bool,
    rest: std::sync::Arc<Engine>,
    rest_source: String,
    /// The whole pattern, for capture groups (absent when not requested).
    full: Option<std::sync::Arc<Engine>>,
}

impl UrlMatcher {
    /// Compiles one pattern on its own (tests and tools; the server shares a [`Compiler`]).
    pub fn compile(pattern: &str, strategy: Strategy) -> Result<UrlMatcher, PatternError> {
        Compiler::new(strategy).compile(pattern, true)
    }

    /// The pattern as written in the rule.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The anchored regular expression that runs at match time: the rest after the prefix,
    /// or the whole pattern.
    pub fn source(&self) -> &str {
        &self.rest_source
    }

    /// True when the prefixes are exact and [`UrlMatcher::matches_after`] checks the rest.
    pub fn is_split(&self) -> bool {
        self.split
    }

    /// True when the pattern runs on the linear-time engine (so it can join a `RegexSet`).
    pub fn is_linear(&self) -> bool {
        matches!(*self.rest, Engine::Linear(_))
    }

    /// Literal prefixes: every URL this pattern matches starts with one of them. Never empty
    /// (the empty prefix means "could match anything").
    pub fn prefixes(&self) -> &[Vec<u8>] {
        &self.prefixes
    }

    /// Whether `url`, which starts with one of the prefixes `prefix_len` bytes long, matches.
    /// For a pattern that is not split, the whole URL is tested.
    pub fn matches_after(&self, url: &str, prefix_len: usize) -> Result<bool, MatchError> {
        let text = if self.split {
            url.get(prefix_len..).unwrap_or("")
        } else {
            url
        };
        self.rest
            .is_match(text)
            .map_err(|()| self.backtrack_error())
    }

    /// Whether `url` matches the whole pattern.
    pub fn is_match(&self, url: &str) -> Result<bool, MatchError> {
        if !self.split {
            return self.matches_after(url, 0);
        }
        for prefix in &self.prefixes {
            if url.as_bytes().starts_with(prefix) && self.matches_after(url, prefix.len())? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Appends the text of each group of the pattern to `groups` (the rule's capture groups).
    /// Globs have no capture groups, as upstream; nor has a matcher compiled without captures.
    pub fn captures_into(
        &self,
        url: &str,
        strategy: Strategy,
        groups: &mut Vec<String>,
    ) -> Result<(), MatchError> {
        if strategy == Strategy::Glob {
            return Ok(());
        }
        let text = |m: Option<&str>| m.unwrap_or("").to_owned();
        match self.full.as_deref() {
            None => {}
            Some(Engine::Linear(re)) => {
                if let Some(caps) = re.captures(url) {
                    groups.extend(caps.iter().skip(1).map(|m| text(m.map(|m| m.as_str()))));
                }
            }
            Some(Engine::Backtracking(re)) => {
                if let Some(caps) = re.captures(url).map_err(|_| self.backtrack_error())? {
                    groups.extend(caps.iter().skip(1).map(|m| text(m.map(|m| m.as_str()))));
                }
            }
        }
        Ok(())
    }

    fn backtrack_error(&self) -> MatchError {
        MatchError::BacktrackLimit {
            pattern: self.pattern.clone(),
        }
    }
}

/// The leading pieces whose language is a small finite set of exact strings, and those strings.
///
/// A piece with an assertion is consumed only when it is the first (`<^(https|http)>`): there
/// `^` holds. Elsewhere an assertion could fail, so the walk stops before it.
fn exact_prefixes(pieces: &[String]) -> (usize, Vec<Vec<u8>>) {
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    let mut consumed = 0;
    for (i, source) in pieces.iter().enumerate() {
        let Ok(hir) = regex_syntax::Parser::new().parse(source) else {
            break;
        };
        let looks = hir.properties().look_set();
        let only_start = looks.is_empty()
            || (i == 0 && looks.iter().all(|l| l == regex_syntax::hir::Look::Start));
        if !only_start {
            break;
        }
        let mut extractor = Extractor::new();
        extractor
            .kind(ExtractKind::Prefix)
            .limit_total(MAX_PREFIXES);
        let seq = extractor.extract(&hir);
        let Some(literals) = seq.literals() else {
            break;
        };
        if literals.is_empty()
            || literals.len() * prefixes.len() > MAX_PREFIXES
            || !literals.iter().all(|l| l.is_exact())
            || literals
                .iter()
                .any(|l| std::str::from_utf8(l.as_bytes()).is_err())
        {
            break;
        }
        prefixes = cross(&prefixes, literals);
        consumed += 1;
    }
    (consumed, prefixes)
}

/// Every prefix followed by every literal, sorted and without duplicates.
fn cross(prefixes: &[Vec<u8>], literals: &[regex_syntax::hir::literal::Literal]) -> Vec<Vec<u8>> {
    let mut next = Vec::with_capacity(literals.len() * prefixes.len());
    for prefix in prefixes {
        for literal in literals {
            let mut p = prefix.clone();
            p.extend_from_slice(literal.as_bytes());
            next.push(p);
        }
    }
    next.sort();
    next.dedup();
    next
}

/// Literal prefixes for indexing a pattern that is tested whole: exact pieces, then the
/// inexact literal prefixes of the first piece that is not exact. Assertions are read as
/// empty, which can only widen the set.
fn index_prefixes(pieces: &[String]) -> Vec<Vec<u8>> {
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    for source in pieces {
        let Ok(hir) = regex_syntax::Parser::new().parse(source) else {
            break;
        };
        let mut extractor = Extractor::new();
        extractor
            .kind(ExtractKind::Prefix)
            .limit_total(MAX_PREFIXES);
        let seq = extractor.extract(&hir);
        let Some(literals) = seq.literals() else {
            break;
        };
        if literals.is_empty() || literals.len() * prefixes.len() > MAX_PREFIXES {
            break;
        }
        prefixes = cross(&prefixes, literals);
        if !literals.iter().all(|l| l.is_exact()) {
            break;
        }
    }
    prefixes
}

/// Whether the rest of a pattern means the same on its own as after its prefix: nothing in it
/// may look back across the split (lookbehind, backreferences, `^`, `\A`, word boundaries).
fn rest_is_context_free(rest: &str) -> bool {
    if rest.contains("(?<=") || rest.contains("(?<!") {
        return false;
    }
    let bytes = rest.as_bytes();
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            if b.is_ascii_digit() || matches!(b, b'b' | b'B' | b'A' | b'k' | b'<' | b'>') {
                return false;
            }
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'^' if i == 0 || bytes[i - 1] != b'[' => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests;
