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

/// The compiled engine behind a pattern.
#[derive(Debug, Clone)]
enum Engine {
    /// Linear-time `regex` crate: every glob and most regexps.
    Linear(regex::Regex),
    /// Backtracking `fancy-regex`, only for patterns that need lookaround or backreferences.
    Backtracking(fancy_regex::Regex),
}

/// A compiled URL pattern.
#[derive(Debug, Clone)]
pub struct UrlMatcher {
    pattern: String,
    source: String,
    engine: Engine,
    prefixes: Vec<Vec<u8>>,
}

/// Bound on backtracking steps for patterns that need the backtracking engine.
pub const BACKTRACK_LIMIT: usize = 1_000_000;

impl UrlMatcher {
    /// Compiles `pattern` with `strategy`.
    pub fn compile(pattern: &str, strategy: Strategy) -> Result<UrlMatcher, PatternError> {
        let segments = split_sections(pattern)?;
        let invalid = |message: String| PatternError::Invalid {
            pattern: pattern.to_owned(),
            message,
        };
        let mut source = String::from("^");
        let mut section_sources = Vec::with_capacity(segments.len());
        for segment in &segments {
            match segment {
                Segment::Literal(text) => {
                    let escaped = regex_syntax::escape(text);
                    source.push_str(&escaped);
                    section_sources.push((true, escaped));
                }
                Segment::Section(inner) => {
                    let translated = match strategy {
                        Strategy::Regexp => (*inner).to_owned(),
                        Strategy::Glob => glob::to_regex(inner).map_err(invalid)?,
                    };
                    source.push('(');
                    source.push_str(&translated);
                    source.push(')');
                    section_sources.push((false, translated));
                }
            }
        }
        source.push('$');
        let engine = match regex::Regex::new(&source) {
            Ok(re) => Engine::Linear(re),
            Err(linear_err) => {
                let re = fancy_regex::RegexBuilder::new(&source)
                    .backtrack_limit(BACKTRACK_LIMIT)
                    .build()
                    .map_err(|e| invalid(format!("{e}; as a linear regex: {linear_err}")))?;
                Engine::Backtracking(re)
            }
        };
        let prefixes = literal_prefixes(&section_sources);
        Ok(UrlMatcher {
            pattern: pattern.to_owned(),
            source,
            engine,
            prefixes,
        })
    }

    /// The pattern as written in the rule.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The anchored regular expression the pattern compiled to.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the pattern runs on the linear-time engine (so it can join a `RegexSet`).
    pub fn is_linear(&self) -> bool {
        matches!(self.engine, Engine::Linear(_))
    }

    /// Literal prefixes: every URL this pattern matches starts with one of them. Never empty
    /// (the empty prefix means "could match anything").
    pub fn prefixes(&self) -> &[Vec<u8>] {
        &self.prefixes
    }

    /// Whether `url` matches the whole pattern.
    pub fn is_match(&self, url: &str) -> Result<bool, MatchError> {
        match &self.engine {
            Engine::Linear(re) => Ok(re.is_match(url)),
            Engine::Backtracking(re) => re.is_match(url).map_err(|_| self.backtrack_error()),
        }
    }

    /// Appends the text of each top-level section to `groups` (the rule's capture groups).
    /// Globs have no capture groups, as upstream.
    pub fn captures_into(
        &self,
        url: &str,
        strategy: Strategy,
        groups: &mut Vec<String>,
    ) -> Result<(), MatchError> {
        if strategy == Strategy::Glob {
            return Ok(());
        }
        match &self.engine {
            Engine::Linear(re) => {
                if let Some(caps) = re.captures(url) {
                    groups.extend(
                        caps.iter()
                            .skip(1)
                            .map(|m| m.map_or("", |m| m.as_str()).to_owned()),
                    );
                }
            }
            Engine::Backtracking(re) => {
                if let Some(caps) = re.captures(url).map_err(|_| self.backtrack_error())? {
                    groups.extend(
                        caps.iter()
                            .skip(1)
                            .map(|m| m.map_or("", |m| m.as_str()).to_owned()),
                    );
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

/// Computes the literal prefixes of a pattern from its pieces (already regex syntax).
///
/// Literal text extends every prefix; a section whose language is a small finite set of exact
/// strings (`https|http`) multiplies them; the first section that is not stops the walk. A
/// section the linear parser cannot read (lookaround) also stops it. Assertions such as `^` are
/// read as empty, which can only widen the set: the index then checks more rules, never fewer.
fn literal_prefixes(pieces: &[(bool, String)]) -> Vec<Vec<u8>> {
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    for (is_literal, source) in pieces {
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
        let all_exact = literals.iter().all(|l| l.is_exact());
        let mut next = Vec::with_capacity(literals.len() * prefixes.len());
        for prefix in &prefixes {
            for literal in literals {
                let mut p = prefix.clone();
                p.extend_from_slice(literal.as_bytes());
                next.push(p);
            }
        }
        next.sort();
        next.dedup();
        prefixes = next;
        if !all_exact {
            break;
        }
        debug_assert!(!*is_literal || prefixes.len() <= MAX_PREFIXES);
    }
    prefixes
}

#[cfg(test)]
mod tests;
