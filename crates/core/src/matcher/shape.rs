//! The few shapes of regular expression our charm renders, decided by comparing bytes.
//!
//! Every rule the charm renders tests, after the URL's literal prefix, one of three texts: an
//! allowed endpoint and what lies below it (`^(welcome((/.*$)|$))$`), the endpoints a deny
//! rule excludes (its lookahead `/welcome((/.*$)|$)|/about/app((/.*$)|$)`) and any path
//! (`(/.*)?`). On the `regex` crate each test costs a few hundred instructions of search
//! set-up for a handful of bytes; as shapes they cost a comparison. A regular expression is
//! read as a shape only when its parse tree is exactly one of them, literal text in the place
//! of the endpoint (no class, no flag that changes the meaning of a literal, `.` or `$`);
//! anything else stays on the `regex` crate. [`Linear`] holds both, and builds with debug
//! assertions check every answer of a shape against the regular expression.

use fancy_regex::{Assertion, Expr};

/// A linear-time test of a whole text: its regular expression, and the shape that decides it
/// without a search when there is one.
#[derive(Debug)]
pub(super) struct Linear {
    regex: regex::Regex,
    shape: Option<Shape>,
}

impl Linear {
    /// Wraps `regex`, reading its source as a shape when it is one.
    pub(super) fn new(regex: regex::Regex) -> Linear {
        let shape = Shape::read(regex.as_str());
        Linear { regex, shape }
    }

    /// The regular expression (for capture groups and sets).
    pub(super) fn regex(&self) -> &regex::Regex {
        &self.regex
    }

    /// Whether the regular expression matches `text` (`is_match`: anywhere, as its anchors
    /// allow).
    pub(super) fn is_match(&self, text: &str) -> bool {
        match &self.shape {
            Some(shape) => {
                let matched = shape.is_match(text);
                debug_assert_eq!(
                    matched,
                    self.regex.is_match(text),
                    "the shape of {} on {text:?}",
                    self.regex.as_str()
                );
                matched
            }
            None => self.regex.is_match(text),
        }
    }

    /// The shape, if the regular expression has one (tests).
    #[cfg(test)]
    pub(super) fn shape(&self) -> Option<&Shape> {
        self.shape.as_ref()
    }
}

/// A regular expression anchored at the start of the text, in one of the charm's shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shape {
    /// One of the literals, each then the end of the text or a `/` and no newline to the end:
    /// `^(L1((/.*$)|$)|L2((/.*$)|$))`, with or without a final `$`.
    Below(Box<[Box<str>]>),
    /// The empty text, or a `/` and no newline to the end: `^((/.*)?)$`.
    AnyPath,
}

impl Shape {
    /// The shape of `source`, if it has one.
    fn read(source: &str) -> Option<Shape> {
        let tree = Expr::parse_tree(source).ok()?;
        let mut pieces = Vec::new();
        flatten(&tree.expr, &mut pieces)?;
        let (Piece::Start, body) = pieces.split_first()? else {
            return None;
        };
        // Trailing `$`s are redundant after a part that ends in `$` on every branch.
        let ends = body.iter().rev().take_while(|p| **p == Piece::End).count();
        let (body, ends) = (&body[..body.len() - ends], ends);
        match body {
            [Piece::Optional(inner)] if ends > 0 && inner[..] == [slash(), Piece::Rest] => {
                Some(Shape::AnyPath)
            }
            [Piece::Alt(branches)] => branches
                .iter()
                .map(|b| below(b))
                .collect::<Option<Box<[_]>>>()
                .map(Shape::Below),
            branch => below(branch).map(|l| Shape::Below(Box::new([l]))),
        }
    }

    /// Whether the text matches.
    fn is_match(&self, text: &str) -> bool {
        match self {
            Shape::Below(literals) => literals.iter().any(|l| match text.strip_prefix(&**l) {
                Some("") => true,
                Some(rest) => rest
                    .strip_prefix('/')
                    .is_some_and(|rest| !rest.contains('\n')),
                None => false,
            }),
            Shape::AnyPath => {
                text.is_empty()
                    || text
                        .strip_prefix('/')
                        .is_some_and(|rest| !rest.contains('\n'))
            }
        }
    }
}

/// A parse tree as a flat sequence: groups dropped, concatenations spliced, adjacent literals
/// joined.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// `^`.
    Start,
    /// `$` (end of text, not of line).
    End,
    /// Case-sensitive literal text.
    Literal(String),
    /// `.*`: anything but a newline, any number of times.
    Rest,
    /// `(...)?`.
    Optional(Vec<Piece>),
    /// `a|b`.
    Alt(Vec<Vec<Piece>>),
}

fn slash() -> Piece {
    Piece::Literal("/".to_owned())
}

/// `L((/.*$)|$)` (branches in either order) as `L`.
fn below(branch: &[Piece]) -> Option<Box<str>> {
    let [Piece::Literal(literal), Piece::Alt(tails)] = branch else {
        return None;
    };
    let down = [slash(), Piece::Rest, Piece::End];
    let end = [Piece::End];
    let shaped = matches!(&tails[..], [a, b] if (a[..] == down && b[..] == end) || (a[..] == end && b[..] == down));
    shaped.then(|| literal.as_str().into())
}

/// Appends the pieces of `expr`; `None` for anything outside the shapes.
fn flatten(expr: &Expr, out: &mut Vec<Piece>) -> Option<()> {
    match expr {
        Expr::Empty => {}
        Expr::Group(inner) => flatten(inner, out)?,
        Expr::Concat(children) => {
            for child in children {
                flatten(child, out)?;
            }
        }
        Expr::Assertion(Assertion::StartText) => out.push(Piece::Start),
        Expr::Assertion(Assertion::EndText) => out.push(Piece::End),
        Expr::Literal { val, casei: false } => match out.last_mut() {
            Some(Piece::Literal(text)) => text.push_str(val),
            _ => out.push(Piece::Literal(val.clone())),
        },
        Expr::Repeat {
            child,
            lo: 0,
            hi: usize::MAX,
            ..
        } if matches!(
            **child,
            Expr::Any {
                newline: false,
                crlf: false
            }
        ) =>
        {
            out.push(Piece::Rest)
        }
        Expr::Repeat {
            child,
            lo: 0,
            hi: 1,
            ..
        } => {
            let mut inner = Vec::new();
            flatten(child, &mut inner)?;
            out.push(Piece::Optional(inner));
        }
        Expr::Alt(branches) => {
            let branches = branches
                .iter()
                .map(|b| {
                    let mut pieces = Vec::new();
                    flatten(b, &mut pieces).map(|()| pieces)
                })
                .collect::<Option<Vec<_>>>()?;
            out.push(Piece::Alt(branches));
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests;
