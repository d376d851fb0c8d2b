//! URL patterns with `<...>` sections, compiled once per reload.
//!
//! Text outside the top-level `<...>` sections is literal; each section is a regular expression
//! ([`regexp`]) or a glob ([`glob`]), depending on `access_rules.matching_strategy`. The whole
//! pattern must match the whole URL. Sections nest: `<` and `>` inside a section are counted.
//!
//! Each compiled pattern also knows the literal prefixes every URL it matches must start with
//! ([`UrlMatcher::prefixes`]); the rule index uses them so a request is only tested against
//! the few rules that could match it.
//!
//! Matching is bounded. A section runs on the linear-time `regex` engine whenever it can. A
//! section that opens with lookaheads and is otherwise linear-time syntax — the charm's deny
//! rule, `<(?!/welcome((/.*$)|$)|/about/app((/.*$)|$))(/.*)?>`, on every request to a protected
//! app — runs there too, as one anchored prefix test per lookahead plus the section without
//! them (module `lookahead`, issue 17); only its capture groups, read when a rule's templates use
//! them, come from the backtracking engine. The tests the charm's rules make for literal
//! endpoints (an endpoint and what lies below it, any path) are decided by comparing bytes
//! rather than searching (module `shape`), with the regular expression as the reference.
//! The backtracking engine is kept for the other lookahead and
//! lookbehind, and every other construct that needs it (backreferences, atomic groups,
//! possessive quantifiers, conditionals, `\K`, recursion, unbounded lookbehind) is refused at
//! load ([`PatternError::Unsupported`]). A backtracking match first runs with a tiny budget
//! ([`Budget::Inline`]), which an ordinary URL never exhausts; only when that budget runs out
//! is it re-run with the larger [`Budget::Full`] — the server does that off its async workers.
//! URLs longer than [`MAX_URL_LEN`] are not matched at all.
//!
//! Budgets count backtracking steps, and a step is cheap unless it evaluates a *scan*: a
//! lookahead whose body can match an unbounded length (`(?!.*x)`), or an unbounded part the
//! engine hands whole to its linear sub-engine after a backtracking part. A scan reads up to
//! the rest of the text and costs no step, so each pattern is classified at load by how often
//! one match can evaluate its scans ([`Cost`]):
//!
//! - a bounded number of times — nothing before a scan offers a choice, and no repetition
//!   holds it: the work is linear in the text ([`Cost::Steps`], the normal budgets). A
//!   lookahead opening the section is one (it runs once); when the rest of the section is
//!   linear-time syntax it does not even reach this engine, except for capture groups.
//! - once per backtracking step — a scan after a part that can backtrack (`.*(?=.*x)`, or a
//!   lookaround section followed by a `<.*x>` section): the steps bound the scans, so these
//!   patterns get budgets scaled to the text ([`Cost::ScanPerStep`]: [`INLINE_SCAN_LIMIT`] and
//!   [`SCAN_BACKTRACK_LIMIT`] steps, a few milliseconds at [`MAX_URL_LEN`]).
//! - once per repetition — a scan inside `*`, `+`, `{n,m}` (`((?!.*x).)*`): the work is the
//!   square of the text and consumes no step (about 65–90 ms at 8 KiB, over half a
//!   millisecond at 512 bytes). Refused at load: the lookahead belongs at the start of the
//!   section (`(?!.*x).*`), where it runs once.
//!
//! The analysis reads fancy-regex's parse tree and assumes the anchored sources this module
//! builds (`^...$`), so a scan is never reached from a second start position.

pub mod glob;
mod lookahead;
pub mod regexp;
mod shape;

use std::sync::Arc;

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

use lookahead::LeadingLookaheads;
use shape::Linear;

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
    /// A section needs unbounded backtracking: a construct other than lookahead or bounded
    /// lookbehind that the linear-time engine cannot run.
    // Differs from upstream: regexp2 runs these under a 250 ms timeout per rule and request.
    #[error(
        "pattern \"{pattern}\" uses {construct}, which needs unbounded backtracking; \
         beyond the linear engine only lookahead and bounded lookbehind are supported"
    )]
    Unsupported {
        /// The pattern.
        pattern: String,
        /// The construct, as a phrase (`a backreference`, `an atomic group`).
        construct: &'static str,
    },
}

/// Why matching a URL failed (as opposed to not matching).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchError {
    /// A backtracking pattern exhausted the [`Budget::Full`] budget of its [`Cost`] (upstream:
    /// the 250 ms regexp timeout). The request is denied.
    #[error("pattern \"{pattern}\" exceeded its backtracking limit")]
    BacktrackLimit {
        /// The pattern.
        pattern: String,
    },
    /// A backtracking pattern did not finish within the [`Budget::Inline`] budget: run it
    /// again with [`Budget::Full`] (off the async workers, in the server).
    #[error("pattern needs more than the inline backtracking budget")]
    OverInlineBudget,
}

/// How much work a backtracking match may do. Linear-time patterns ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// [`INLINE_BACKTRACK_LIMIT`] steps ([`INLINE_SCAN_LIMIT`] for [`Cost::ScanPerStep`]) on
    /// texts up to [`INLINE_MAX_LEN`] bytes: cheap enough to run on an async worker. Running out is [`MatchError::OverInlineBudget`].
    Inline,
    /// [`BACKTRACK_LIMIT`] steps ([`SCAN_BACKTRACK_LIMIT`] for [`Cost::ScanPerStep`]). Running
    /// out is [`MatchError::BacktrackLimit`].
    Full,
}

/// Longest URL (scheme, host and path) that is matched against rules, in bytes. Longer
/// requests are refused before any pattern runs: it bounds the work of every match,
/// backtracking or not (a lookaround tried at every position costs the square of the length).
pub const MAX_URL_LEN: usize = 8 * 1024;

/// Backtracking steps a match may take on an async worker ([`Budget::Inline`]). A lookahead
/// opening a section takes 2 (when it runs here at all: for its capture groups); a tempered
/// token (`((?!/x).)*`) takes one per byte.
pub const INLINE_BACKTRACK_LIMIT: usize = 1_000;

/// Longest text a backtracking pattern runs on inline, in bytes. Longer texts go straight to
/// the [`Budget::Full`] run: step counts do not cover the lookaround bodies a step evaluates,
/// so the text length bounds them instead.
pub const INLINE_MAX_LEN: usize = 512;

/// Backtracking steps a match may take at all ([`Budget::Full`]): a few milliseconds of one
/// core. (It was 1,000,000, tens of milliseconds, before matching moved off the workers.)
pub const BACKTRACK_LIMIT: usize = 100_000;

/// Backtracking steps a [`Cost::ScanPerStep`] match may take on an async worker: each step may
/// scan up to [`INLINE_MAX_LEN`] bytes, so at most about 4 KiB are read inline.
pub const INLINE_SCAN_LIMIT: usize = 8;

/// Backtracking steps a [`Cost::ScanPerStep`] match may take at all: each step may scan up to
/// [`MAX_URL_LEN`] bytes, so at most 2 MiB are read — a few milliseconds of one core.
pub const SCAN_BACKTRACK_LIMIT: usize = 256;

/// How the work of one match grows with the text, as classified at load. Ordered from the
/// cheapest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cost {
    /// The linear-time engine: no budget.
    Linear,
    /// Backtracking, where the scans (see the [module docs](self)) run a bounded number of
    /// times: the step budgets bound the work ([`INLINE_BACKTRACK_LIMIT`],
    /// [`BACKTRACK_LIMIT`]).
    Steps,
    /// Backtracking, where a scan may run again on every backtracking step: the budgets are
    /// scaled to the text ([`INLINE_SCAN_LIMIT`], [`SCAN_BACKTRACK_LIMIT`]).
    ScanPerStep,
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

/// A compiled regular expression.
#[derive(Debug)]
enum Engine {
    /// Linear-time `regex` crate: every glob and most regexps; the charm's allowed endpoints
    /// decided as a [`shape`] without a search.
    Linear(Linear),
    /// Lookaheads at the very start, then linear-time syntax (the charm's deny rule): matched
    /// as several linear-time regular expressions ([`lookahead`]). Capture groups come from
    /// the backtracking engine, which matching never runs (except to check the linear form,
    /// in builds with debug assertions).
    Lookahead {
        linear: LeadingLookaheads,
        captures: Backtracking,
    },
    /// Backtracking `fancy-regex`, only for patterns that need lookaround.
    Backtracking(Backtracking),
}

/// A backtracking program: the same program twice, with the inline and the full step budget
/// of its [`Cost`] (the budget is fixed at build time).
#[derive(Debug)]
struct Backtracking {
    inline: fancy_regex::Regex,
    full: fancy_regex::Regex,
    cost: Cost,
}

impl Backtracking {
    /// The program for `budget` on a text `len` bytes long. `Err` names the budget when it
    /// rules the text out at once.
    fn program(&self, len: usize, budget: Budget) -> Result<&fancy_regex::Regex, Budget> {
        match budget {
            // Step counts do not cover the lookaround bodies a step evaluates: the text
            // length bounds them instead.
            Budget::Inline if len > INLINE_MAX_LEN => Err(Budget::Inline),
            Budget::Inline => Ok(&self.inline),
            Budget::Full => Ok(&self.full),
        }
    }
}

/// Why an engine could not be compiled.
enum EngineError {
    /// Neither engine accepts the syntax.
    Invalid(String),
    /// The backtracking engine would need a construct we refuse.
    Unsupported(&'static str),
}

impl Engine {
    fn compile(source: &str) -> Result<Engine, EngineError> {
        let linear = match regex::Regex::new(source) {
            Ok(re) => return Ok(Engine::Linear(Linear::new(re))),
            Err(linear) => linear,
        };
        let invalid = |e: fancy_regex::Error| {
            EngineError::Invalid(format!("{e}; as a linear regex: {linear}"))
        };
        let tree = fancy_regex::Expr::parse_tree(source).map_err(invalid)?;
        if let Some(construct) = unsupported(&tree.expr) {
            return Err(EngineError::Unsupported(construct));
        }
        let cost = classify(&tree.expr).map_err(EngineError::Unsupported)?;
        let (inline_limit, full_limit) = match cost {
            Cost::ScanPerStep => (INLINE_SCAN_LIMIT, SCAN_BACKTRACK_LIMIT),
            Cost::Steps | Cost::Linear => (INLINE_BACKTRACK_LIMIT, BACKTRACK_LIMIT),
        };
        let build = |limit: usize| {
            fancy_regex::RegexBuilder::new(source)
                .backtrack_limit(limit)
                .build()
        };
        let backtracking = Backtracking {
            inline: build(inline_limit).map_err(invalid)?,
            full: build(full_limit).map_err(invalid)?,
            cost,
        };
        Ok(match LeadingLookaheads::compile(&tree.expr) {
            Some(linear) => Engine::Lookahead {
                linear,
                captures: backtracking,
            },
            None => Engine::Backtracking(backtracking),
        })
    }

    /// How the work of [`Engine::is_match`] grows with the text.
    fn cost(&self) -> Cost {
        match self {
            Engine::Linear(_) | Engine::Lookahead { .. } => Cost::Linear,
            Engine::Backtracking(b) => b.cost,
        }
    }

    /// How the work of reading capture groups grows with the text.
    fn capture_cost(&self) -> Cost {
        match self {
            Engine::Linear(_) => Cost::Linear,
            Engine::Lookahead { captures: b, .. } | Engine::Backtracking(b) => b.cost,
        }
    }

    /// Whether `text` matches, within `budget`. `Err` names the budget that ran out.
    fn is_match(&self, text: &str, budget: Budget) -> Result<bool, Budget> {
        match self {
            Engine::Linear(re) => Ok(re.is_match(text)),
            Engine::Lookahead { linear, captures } => {
                let matched = linear.is_match(text);
                // The backtracking engine on the same source is the reference: builds with
                // debug assertions (tests, the fuzz targets) check every answer against it.
                debug_assert!(
                    !captures.full.is_match(text).is_ok_and(|r| r != matched),
                    "the linear form of {} answers {matched} on {text:?}",
                    captures.full.as_str()
                );
                Ok(matched)
            }
            Engine::Backtracking(b) => b
                .program(text.len(), budget)?
                .is_match(text)
                .map_err(|_| budget),
        }
    }

    /// Appends the text of each capture group of `text` to `groups` (nothing when it does not
    /// match), within `budget`. `Err` names the budget that ran out; `groups` is then untouched.
    fn captures_into(
        &self,
        text: &str,
        budget: Budget,
        groups: &mut Vec<String>,
    ) -> Result<(), Budget> {
        let group = |m: Option<&str>| m.unwrap_or("").to_owned();
        match self {
            Engine::Linear(re) => {
                if let Some(caps) = re.regex().captures(text) {
                    groups.extend(caps.iter().skip(1).map(|m| group(m.map(|m| m.as_str()))));
                }
            }
            Engine::Lookahead { captures: b, .. } | Engine::Backtracking(b) => {
                let program = b.program(text.len(), budget)?;
                if let Some(caps) = program.captures(text).map_err(|_| budget)? {
                    groups.extend(caps.iter().skip(1).map(|m| group(m.map(|m| m.as_str()))));
                }
            }
        }
        Ok(())
    }
}

/// The first construct in `expr` that needs more than lookaround from the backtracking
/// engine, as a phrase for the error message; `None` when there is none.
///
/// Lookahead is accepted anywhere; lookbehind only with a maximum length, since the engine
/// scans back over up to that many characters each time it tries one (an unbounded body
/// rescans the text at every position). Everything else the tree can hold is either
/// linear-time syntax the `regex` crate would also accept or a construct whose cost grows with
/// the backtracking it invites.
fn unsupported(expr: &fancy_regex::Expr) -> Option<&'static str> {
    use fancy_regex::{Expr, LookAround};
    match expr {
        Expr::Empty
        | Expr::Any { .. }
        | Expr::Assertion(_)
        | Expr::GeneralNewline { .. }
        | Expr::Literal { .. }
        | Expr::LiteralBytes { .. }
        | Expr::Delegate { .. } => None,
        Expr::Concat(children) | Expr::Alt(children) => children.iter().find_map(unsupported),
        Expr::Group(child) => unsupported(child),
        Expr::Repeat { child, .. } => unsupported(child),
        Expr::LookAround(body, LookAround::LookAhead | LookAround::LookAheadNeg) => {
            unsupported(body)
        }
        Expr::LookAround(body, LookAround::LookBehind | LookAround::LookBehindNeg) => {
            match max_len(body) {
                Some(_) => unsupported(body),
                None => Some("a lookbehind without a maximum length"),
            }
        }
        Expr::Backref { .. } | Expr::BackrefWithRelativeRecursionLevel { .. } => {
            Some("a backreference")
        }
        Expr::AtomicGroup(_) => Some("an atomic group or a possessive quantifier"),
        Expr::KeepOut => Some("\\K"),
        Expr::ContinueFromPreviousMatchEnd => Some("\\G"),
        Expr::BackrefExistsCondition { .. } | Expr::Conditional { .. } => Some("a conditional"),
        Expr::SubroutineCall(_) => Some("a subroutine call or recursion"),
        Expr::BacktrackingControlVerb(_) => Some("a backtracking control verb"),
        Expr::Absent(_) => Some("an absent operator"),
        Expr::DefineGroup { .. } => Some("a DEFINE group"),
        Expr::AstNode(..) => Some("an unresolved group reference"),
    }
}

/// The most characters `expr` can match, or `None` when it is unbounded (or unknown).
fn max_len(expr: &fancy_regex::Expr) -> Option<usize> {
    use fancy_regex::Expr;
    match expr {
        Expr::Empty | Expr::Assertion(_) | Expr::LookAround(..) => Some(0),
        // A delegate matches exactly one character (a class); `\R` at most two.
        Expr::Any { .. } | Expr::Delegate { .. } => Some(1),
        Expr::GeneralNewline { .. } => Some(2),
        Expr::Literal { val, .. } => Some(val.chars().count()),
        Expr::LiteralBytes { bytes } => Some(bytes.len()),
        Expr::Concat(children) => children
            .iter()
            .try_fold(0usize, |sum, c| sum.checked_add(max_len(c)?)),
        Expr::Alt(children) => children
            .iter()
            .try_fold(0usize, |most, c| Some(most.max(max_len(c)?))),
        Expr::Group(child) => max_len(child),
        Expr::Repeat { child, hi, .. } if *hi != usize::MAX => max_len(child)?.checked_mul(*hi),
        _ => None,
    }
}

/// The [`Cost`] of a backtracking pattern from its parse tree, or the construct that makes it
/// quadratic (a scan inside a repetition) as a phrase for [`PatternError::Unsupported`].
///
/// The root is read as fancy-regex compiles it: the parts after its last backtracking part are
/// handed whole to the linear sub-engine, so when they can match an unbounded length they are a
/// scan, reached again each time the parts before them backtrack.
fn classify(root: &fancy_regex::Expr) -> Result<Cost, &'static str> {
    let mut cost = Cost::Steps;
    scans(root, Place::START, &mut cost)?;
    if let fancy_regex::Expr::Concat(children) = root
        && let Some(last_hard) = children.iter().rposition(needs_backtracking)
        && children[last_hard + 1..]
            .iter()
            .any(|c| max_len(c).is_none())
        && !children[..=last_hard]
            .iter()
            .fold(Place::START, |place, c| place.then(c))
            .reached_boundedly()
    {
        // Reached again on each step back into the parts before it: `<((?=.).)*><.*x>`.
        cost = Cost::ScanPerStep;
    }
    Ok(cost)
}

/// Where an expression sits, for [`scans`].
#[derive(Clone, Copy)]
struct Place {
    /// Inside a repetition that can run more than once.
    repeated: bool,
    /// How many ways the parts before it can match, so how often backtracking can reach it;
    /// `None` when that grows with the text.
    arrivals: Option<usize>,
}

impl Place {
    const START: Place = Place {
        repeated: false,
        arrivals: Some(1),
    };

    /// Whether a scan here runs a bounded number of times.
    fn reached_boundedly(self) -> bool {
        self.arrivals.is_some_and(|a| a <= MAX_ARRIVALS)
    }

    fn then(self, before: &fancy_regex::Expr) -> Place {
        Place {
            arrivals: self
                .arrivals
                .zip(ways(before))
                .map(|(a, w)| a.saturating_mul(w)),
            ..self
        }
    }
}

/// Most ways to reach a scan for it to count as bounded (`(https|http)` before it gives 2).
const MAX_ARRIVALS: usize = 16;

/// Walks `expr` at `place`, raising `cost` for each scan reached once per step and failing on
/// a scan reached once per repetition.
fn scans(expr: &fancy_regex::Expr, place: Place, cost: &mut Cost) -> Result<(), &'static str> {
    use fancy_regex::{Expr, LookAround};
    match expr {
        Expr::LookAround(body, kind) => {
            // Lookbehinds are bounded (see `unsupported`): only a lookahead scans.
            let ahead = matches!(kind, LookAround::LookAhead | LookAround::LookAheadNeg);
            if ahead && max_len(body).is_none() {
                if place.repeated {
                    return Err(REPEATED_SCAN);
                }
                if !place.reached_boundedly() {
                    *cost = Cost::ScanPerStep;
                }
            }
            scans(body, place, cost)
        }
        Expr::Concat(children) => {
            let mut place = place;
            for child in children {
                scans(child, place, cost)?;
                place = place.then(child);
            }
            Ok(())
        }
        Expr::Alt(children) => children.iter().try_for_each(|c| scans(c, place, cost)),
        Expr::Group(child) => scans(child, place, cost),
        Expr::Repeat { child, hi, .. } => {
            let place = Place {
                repeated: place.repeated || *hi > 1,
                // A later iteration follows the choices of the earlier ones.
                ..place.then(expr)
            };
            scans(child, place, cost)
        }
        _ => Ok(()),
    }
}

/// The phrase naming a scan inside a repetition.
const REPEATED_SCAN: &str = "a lookahead that can match an unbounded length inside a repetition \
     (its cost grows with the square of the URL; put it at the start of the section instead)";

/// How many ways backtracking can make `expr` match (an upper bound, saturating), or `None`
/// when that grows with the text (an unbounded repetition). A lookaround keeps none of its
/// choices, and a delegate is one character.
fn ways(expr: &fancy_regex::Expr) -> Option<usize> {
    use fancy_regex::Expr;
    match expr {
        Expr::Alt(children) => children
            .iter()
            .try_fold(0usize, |sum, c| Some(sum.saturating_add(ways(c)?))),
        Expr::Concat(children) => children
            .iter()
            .try_fold(1usize, |product, c| Some(product.saturating_mul(ways(c)?))),
        Expr::Group(child) => ways(child),
        Expr::Repeat { hi: usize::MAX, .. } => None,
        Expr::Repeat { child, lo, hi, .. } => {
            // Up to (ways + 1) choices per iteration: the child's ways or stopping.
            let per = ways(child)?.saturating_add(usize::from(lo != hi));
            Some((0..*hi).fold(1usize, |total, _| total.saturating_mul(per)))
        }
        _ => Some(1),
    }
}

/// Whether fancy-regex runs `expr` on its backtracking VM rather than handing it to the linear
/// sub-engine: it holds a lookaround (or another construct only the VM runs).
fn needs_backtracking(expr: &fancy_regex::Expr) -> bool {
    use fancy_regex::Expr;
    match expr {
        Expr::LookAround(..) | Expr::GeneralNewline { .. } | Expr::LiteralBytes { .. } => true,
        Expr::Concat(children) | Expr::Alt(children) => children.iter().any(needs_backtracking),
        Expr::Group(child) => needs_backtracking(child),
        Expr::Repeat { child, .. } => needs_backtracking(child),
        _ => false,
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
    engines: std::collections::HashMap<String, Arc<Engine>>,
    /// What prefix extraction reads of each section, by its source (sections repeat across
    /// generated rules; their literal text between them is read without a parser).
    sections: std::collections::HashMap<String, Option<PieceFacts>>,
}

impl Compiler {
    /// A compiler for `strategy`.
    pub fn new(strategy: Strategy) -> Compiler {
        Compiler {
            strategy,
            engines: std::collections::HashMap::new(),
            sections: std::collections::HashMap::new(),
        }
    }

    fn engine(&mut self, source: &str) -> Result<Arc<Engine>, EngineError> {
        if let Some(e) = self.engines.get(source) {
            return Ok(Arc::clone(e));
        }
        let engine = Arc::new(Engine::compile(source)?);
        self.engines.insert(source.to_owned(), Arc::clone(&engine));
        Ok(engine)
    }

    /// Compiles `pattern`. With `captures`, the whole pattern is also compiled so that the
    /// rule's capture groups can be read (only rules whose templates use them need that).
    pub fn compile(&mut self, pattern: &str, captures: bool) -> Result<UrlMatcher, PatternError> {
        let invalid = |message: String| PatternError::Invalid {
            pattern: pattern.to_owned(),
            message,
        };
        let refused = |e: EngineError| match e {
            EngineError::Invalid(message) => invalid(message),
            EngineError::Unsupported(construct) => PatternError::Unsupported {
                pattern: pattern.to_owned(),
                construct,
            },
        };
        let mut pieces = Vec::new();
        let mut facts = Vec::new();
        for segment in split_sections(pattern)? {
            match segment {
                Segment::Literal(text) => {
                    pieces.push(regex_syntax::escape(text));
                    facts.push(PieceFacts::of_literal(text));
                }
                Segment::Section(inner) => {
                    let translated = match self.strategy {
                        Strategy::Regexp => inner.to_owned(),
                        Strategy::Glob => glob::to_regex(inner).map_err(invalid)?,
                    };
                    let source = format!("({translated})");
                    let known = self
                        .sections
                        .entry(source.clone())
                        .or_insert_with(|| PieceFacts::parse(&source));
                    facts.push(known.clone());
                    pieces.push(source);
                }
            }
        }
        let full_source = format!("^{}$", pieces.concat());
        let (consumed, exact) = exact_prefixes(&facts);
        let rest: String = pieces[consumed..].concat();
        let split = consumed > 0 && rest_is_context_free(&rest);
        let (prefixes, rest_source) = if split {
            (exact, format!("^{rest}$"))
        } else {
            (index_prefixes(&facts), full_source.clone())
        };
        // Checking the rest is enough: the pieces before it are exact literal sets, which the
        // linear engine runs.
        let rest_engine = self.engine(&rest_source).map_err(refused)?;
        let full = match (split, captures && self.strategy == Strategy::Regexp) {
            (false, _) => Some(Arc::clone(&rest_engine)),
            (true, true) => Some(self.engine(&full_source).map_err(refused)?),
            (true, false) => None,
        };
        Ok(UrlMatcher {
            pattern: pattern.into(),
            prefixes: prefixes.into(),
            split,
            rest: rest_engine,
            rest_source: rest_source.into(),
            full,
        })
    }
}

/// A compiled URL pattern. Cloning it is cheap (reference counts only), so a match can be
/// handed to another thread.
#[derive(Debug, Clone)]
pub struct UrlMatcher {
    pattern: Arc<str>,
    prefixes: Arc<[Vec<u8>]>,
    /// True: `rest` matches what follows an exact prefix. False: `rest` is the whole pattern
    /// and the prefixes only narrow the candidates.
    split: bool,
    rest: Arc<Engine>,
    rest_source: Arc<str>,
    /// The whole pattern, for capture groups (absent when not requested).
    full: Option<Arc<Engine>>,
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

    /// True when the pattern runs as one regular expression on the linear-time engine, so
    /// that its [`UrlMatcher::source`] can join a `RegexSet`. A section opening with a
    /// lookahead also matches in linear time ([`Cost::Linear`]), but as several expressions:
    /// false.
    pub fn is_linear(&self) -> bool {
        matches!(*self.rest, Engine::Linear(_))
    }

    /// How the work of a match grows with the URL: the class of the expression that runs at
    /// match time, or of the capture groups when they are compiled and cost more.
    pub fn cost(&self) -> Cost {
        let captures = self
            .full
            .as_deref()
            .map_or(Cost::Linear, Engine::capture_cost);
        self.rest.cost().max(captures)
    }

    /// Literal prefixes: every URL this pattern matches starts with one of them. Never empty
    /// (the empty prefix means "could match anything").
    pub fn prefixes(&self) -> &[Vec<u8>] {
        &self.prefixes
    }

    /// Whether `url`, which starts with one of the prefixes `prefix_len` bytes long, matches,
    /// with the [`Budget::Full`] budget. For a pattern that is not split, the whole URL is
    /// tested.
    pub fn matches_after(&self, url: &str, prefix_len: usize) -> Result<bool, MatchError> {
        self.matches_after_within(url, prefix_len, Budget::Full)
    }

    /// [`UrlMatcher::matches_after`] within `budget`.
    pub fn matches_after_within(
        &self,
        url: &str,
        prefix_len: usize,
        budget: Budget,
    ) -> Result<bool, MatchError> {
        let text = if self.split {
            url.get(prefix_len..).unwrap_or("")
        } else {
            url
        };
        self.rest
            .is_match(text, budget)
            .map_err(|b| self.budget_error(b))
    }

    /// Whether `url` matches the whole pattern, with the [`Budget::Full`] budget.
    pub fn is_match(&self, url: &str) -> Result<bool, MatchError> {
        if !self.split {
            return self.matches_after(url, 0);
        }
        for prefix in self.prefixes.iter() {
            if url.as_bytes().starts_with(prefix) && self.matches_after(url, prefix.len())? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Appends the text of each group of the pattern to `groups` (the rule's capture groups),
    /// with the [`Budget::Full`] budget. Globs have no capture groups, as upstream; nor has a
    /// matcher compiled without captures.
    pub fn captures_into(
        &self,
        url: &str,
        strategy: Strategy,
        groups: &mut Vec<String>,
    ) -> Result<(), MatchError> {
        self.captures_into_within(url, strategy, groups, Budget::Full)
    }

    /// [`UrlMatcher::captures_into`] within `budget`; `groups` is untouched on an error.
    pub fn captures_into_within(
        &self,
        url: &str,
        strategy: Strategy,
        groups: &mut Vec<String>,
        budget: Budget,
    ) -> Result<(), MatchError> {
        match (strategy, self.full.as_deref()) {
            (Strategy::Glob, _) | (_, None) => Ok(()),
            (Strategy::Regexp, Some(full)) => full
                .captures_into(url, budget, groups)
                .map_err(|b| self.budget_error(b)),
        }
    }

    fn budget_error(&self, budget: Budget) -> MatchError {
        match budget {
            Budget::Inline => MatchError::OverInlineBudget,
            Budget::Full => MatchError::BacktrackLimit {
                pattern: self.pattern.to_string(),
            },
        }
    }
}

/// The leading pieces whose language is a small finite set of exact strings, and those strings.
///
/// A piece with an assertion is consumed only when it is the first (`<^(https|http)>`): there
/// `^` holds. Elsewhere an assertion could fail, so the walk stops before it.
fn exact_prefixes(pieces: &[Option<PieceFacts>]) -> (usize, Vec<Vec<u8>>) {
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    let mut consumed = 0;
    for (i, facts) in pieces.iter().enumerate() {
        let Some(facts) = facts else {
            break;
        };
        // A `^` may only open the first piece: anywhere else it can never match after the
        // literal text before it, so splitting it off would over-match (`<a^>` matching `a`,
        // found by the matcher fuzz target).
        let only_start = !facts.looks || (i == 0 && facts.leading_start);
        if !only_start {
            break;
        }
        let Some(literals) = &facts.literals else {
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

/// What prefix extraction reads of one piece of a pattern.
#[derive(Debug, Clone)]
struct PieceFacts {
    /// It holds an assertion.
    looks: bool,
    /// Its only assertion is a `^` that opens it.
    leading_start: bool,
    /// Its literal prefixes ([`literal_prefixes`]); `None` when they are not a finite set.
    literals: Option<Vec<regex_syntax::hir::literal::Literal>>,
}

/// The longest literal the prefix extractor keeps whole (regex-syntax's default).
const LITERAL_LEN_LIMIT: usize = 100;

impl PieceFacts {
    /// The facts of a regular-expression piece; `None` when it does not parse.
    fn parse(source: &str) -> Option<PieceFacts> {
        let hir = regex_syntax::Parser::new().parse(source).ok()?;
        Some(PieceFacts {
            looks: !hir.properties().look_set().is_empty(),
            leading_start: leading_start(&hir),
            literals: literal_prefixes(&hir).literals().map(<[_]>::to_vec),
        })
    }

    /// The facts of literal text, as the parser would find them for its escaped form: one
    /// exact literal (longer text goes through the parser, which cuts it).
    fn of_literal(text: &str) -> Option<PieceFacts> {
        if text.len() > LITERAL_LEN_LIMIT {
            return PieceFacts::parse(&regex_syntax::escape(text));
        }
        Some(PieceFacts {
            looks: false,
            leading_start: false,
            literals: Some(vec![regex_syntax::hir::literal::Literal::exact(
                text.as_bytes(),
            )]),
        })
    }
}

/// Whether the only assertion of `hir` is a `^` that opens it (inside capture groups).
fn leading_start(hir: &regex_syntax::hir::Hir) -> bool {
    use regex_syntax::hir::{HirKind, Look};
    match hir.kind() {
        HirKind::Capture(capture) => leading_start(&capture.sub),
        HirKind::Look(Look::Start) => true,
        HirKind::Concat(items) => items.split_first().is_none_or(|(first, rest)| {
            leading_start(first) && rest.iter().all(|h| h.properties().look_set().is_empty())
        }),
        _ => hir.properties().look_set().is_empty(),
    }
}

/// The literal prefixes of `hir`, at most [`MAX_PREFIXES`] of them.
fn literal_prefixes(hir: &regex_syntax::hir::Hir) -> Seq {
    let mut extractor = Extractor::new();
    extractor
        .kind(ExtractKind::Prefix)
        .limit_total(MAX_PREFIXES);
    extractor.extract(hir)
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
fn index_prefixes(pieces: &[Option<PieceFacts>]) -> Vec<Vec<u8>> {
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    for facts in pieces {
        let Some(literals) = facts.as_ref().and_then(|f| f.literals.as_ref()) else {
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
