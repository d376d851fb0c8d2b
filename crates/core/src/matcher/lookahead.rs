//! Lookaheads at the very start of a pattern, run on the linear engine.
//!
//! Why: the charm's deny rule is a negative lookahead opening its section
//! (`^((?!/welcome((/.*$)|$)|/about/app((/.*$)|$))(/.*)?)$` after the literal URL), and it runs
//! on every request to a protected app. On fancy-regex's backtracking VM that costs about 3,500
//! instructions a match (issue 17); split into plain regular expressions it costs a few hundred.
//!
//! A lookahead at the start of an anchored pattern is tested exactly once, at position 0, and
//! keeps none of its choices, so with `X` and `R` free of lookaround:
//!
//! - `^(?!X)R$` matches a text exactly when `^(?:X)` matches no prefix of it (the `regex`
//!   crate's `is_match`, anchored at the start, with any end) and `^R$` matches it;
//! - `^(?=X)R$` likewise, with `^(?:X)` matching some prefix.
//!
//! Several lookaheads in a row are each such a condition. "At the start" means before anything
//! that consumes text: after `^`, empty flag groups and other leading lookaheads, at any depth
//! of groups (`^((?!X)R)$`, the shape this module's caller builds). A lookahead anywhere else
//! (after a character, inside an alternation or a repetition) is left to the backtracking
//! engine, and so is every pattern whose parts the `regex` crate cannot run.
//!
//! `X` and `R` are written back as `regex` syntax by fancy-regex's own printer
//! ([`fancy_regex::Expr::to_str`]), the one it uses to hand easy parts to the same crate, so
//! flags (`(?i)`, `(?s)`), classes and `.` mean what they meant in the source. Capture groups
//! are not reproduced: [`LeadingLookaheads`] only answers whether a text matches.

use fancy_regex::{Assertion, Expr, LookAround};

use super::shape::Linear;

/// A pattern `^(?!X)…(?=Y)…R$` as linear regular expressions: one per lookahead, anchored at
/// the start, and the pattern without its lookaheads.
#[derive(Debug)]
pub(super) struct LeadingLookaheads {
    /// `^(?:X)` for each lookahead, with `true` for a positive lookahead (it must match) and
    /// `false` for a negative one (it must not).
    conditions: Box<[(Linear, bool)]>,
    /// The pattern with its leading lookaheads removed (it keeps its `^` and `$`).
    rest: Linear,
}

impl LeadingLookaheads {
    /// The linear form of the pattern parsed as `root`, or `None` when it has no leading
    /// lookahead, holds a lookaround or another construct elsewhere, or a part does not compile
    /// on the `regex` crate.
    ///
    /// `root` must be an anchored source (`^...$`, as the matcher builds them): the
    /// lookaheads are taken from its start, where `^` holds.
    pub(super) fn compile(root: &Expr) -> Option<LeadingLookaheads> {
        if !matches!(root, Expr::Concat(children)
            if matches!(children.first(), Some(Expr::Assertion(Assertion::StartText))))
        {
            return None;
        }
        let mut rest = root.clone();
        let mut lookaheads = Vec::new();
        take_leading(&mut rest, &mut lookaheads);
        if lookaheads.is_empty()
            || !linear_syntax(&rest)
            || !lookaheads.iter().all(|(body, _)| linear_syntax(body))
        {
            return None;
        }
        let conditions = lookaheads
            .iter()
            .map(|(body, positive)| {
                let source = format!("^(?:{})", print(body));
                regex::Regex::new(&source)
                    .ok()
                    .map(|re| (Linear::new(re), *positive))
            })
            .collect::<Option<Box<[_]>>>()?;
        let rest = Linear::new(regex::Regex::new(&print(&rest)).ok()?);
        Some(LeadingLookaheads { conditions, rest })
    }

    /// Whether `text` matches: every lookahead condition holds and the rest matches. Linear
    /// in the text, with no budget.
    pub(super) fn is_match(&self, text: &str) -> bool {
        self.conditions
            .iter()
            .all(|(re, positive)| re.is_match(text) == *positive)
            && self.rest.is_match(text)
    }

    /// Whether every part is decided as a shape, without a search (tests).
    #[cfg(test)]
    pub(super) fn all_shaped(&self) -> bool {
        self.conditions.iter().all(|(re, _)| re.shape().is_some()) && self.rest.shape().is_some()
    }

    /// The linear sources, lookahead conditions first (tests).
    #[cfg(test)]
    pub(super) fn sources(&self) -> Vec<(&str, bool)> {
        self.conditions
            .iter()
            .map(|(re, positive)| (re.regex().as_str(), *positive))
            .chain([(self.rest.regex().as_str(), true)])
            .collect()
    }
}

/// Moves the lookaheads that `expr` tests before consuming any text into `lookaheads` (body
/// and whether it is positive), leaving `Expr::Empty` in their place. Returns whether all of
/// `expr` is zero-width and was walked, so that what follows it is still at the start.
fn take_leading(expr: &mut Expr, lookaheads: &mut Vec<(Expr, bool)>) -> bool {
    match expr {
        // `^` holds at the start; an empty expression is what a flag group `(?i)` leaves.
        Expr::Empty | Expr::Assertion(Assertion::StartText) => true,
        Expr::LookAround(body, kind @ (LookAround::LookAhead | LookAround::LookAheadNeg)) => {
            let positive = *kind == LookAround::LookAhead;
            lookaheads.push((std::mem::replace(&mut **body, Expr::Empty), positive));
            *expr = Expr::Empty;
            true
        }
        // A group keeps its number; without the lookahead it captures the same text.
        Expr::Group(inner) => take_leading(std::sync::Arc::make_mut(inner), lookaheads),
        Expr::Concat(children) => children
            .iter_mut()
            .all(|child| take_leading(child, lookaheads)),
        _ => false,
    }
}

/// Whether `expr` is syntax the `regex` crate runs and [`fancy_regex::Expr::to_str`] prints
/// (it panics on the rest): no lookaround, backreference, `\Z`, `\R`, raw bytes or other
/// construct only the backtracking VM runs.
fn linear_syntax(expr: &Expr) -> bool {
    match expr {
        Expr::Empty | Expr::Any { .. } | Expr::Literal { .. } | Expr::Delegate { .. } => true,
        Expr::Assertion(assertion) => {
            !matches!(assertion, Assertion::EndTextIgnoreTrailingNewlines { .. })
        }
        Expr::Concat(children) | Expr::Alt(children) => children.iter().all(linear_syntax),
        Expr::Group(child) => linear_syntax(child),
        Expr::Repeat { child, .. } => linear_syntax(child),
        _ => false,
    }
}

/// `expr` in `regex` syntax. The caller checked it with [`linear_syntax`].
fn print(expr: &Expr) -> String {
    let mut source = String::new();
    expr.to_str(&mut source, 0);
    source
}

#[cfg(test)]
mod tests;
