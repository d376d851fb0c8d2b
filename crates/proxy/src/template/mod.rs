//! A subset of Go's `text/template`, as Ory Oathkeeper uses it in its header
//! and cookie mutators.
//!
//! Oathkeeper builds its templates with `Option("missingkey=zero")`, the sprig
//! function map and two overrides of its own (`print` and `printIndex`). This
//! module reproduces that surface so that existing rule files keep rendering
//! the same header values.
//!
//! A [`Template`] is parsed once when the rules are loaded (every syntax error,
//! unknown function and undefined variable is reported then, as a
//! [`ParseError`]) and rendered per request with [`Template::render`], which
//! appends into a caller-owned, reusable `String`. Rendering never re-parses
//! and, for the common `{{ print .Subject }}` shape, allocates nothing beyond
//! the growth of `out`.
//!
//! # Supported language
//! * text, actions with trim markers (`{{- ` / ` -}}`) and comments;
//! * pipelines with `|`, parenthesised sub-pipelines, field chains on `.`,
//!   `$` and variables, method calls with arguments (`.Header.Get "X"`);
//! * string (interpreted and raw), character, number, `true`/`false`/`nil`
//!   literals;
//! * `$x := ...` / `$x = ...`, `if`/`else if`/`else`, `with`/`else with`/`else`,
//!   `range` (optionally `$i, $v :=`, `else`, `break`, `continue`);
//! * Go builtins `and or not eq ne lt le gt ge len index slice print printf
//!   println urlquery html js`, Oathkeeper's `print`/`printIndex` overrides and
//!   the sprig functions `default empty coalesce toJson toString upper lower
//!   title trim trimPrefix trimSuffix trimAll contains hasPrefix hasSuffix
//!   replace join quote squote b64enc b64dec list first last ternary repeat
//!   substr nospace cat`.
//!
//! # Differences from Go
//! * A missing value printed by an action renders as `""` where Go prints
//!   `<no value>` (and `nil` renders as `""` where Go prints `<nil>`).
//! * `print` accepts any number of arguments (Oathkeeper's accepts exactly one)
//!   and prints missing/nil operands as `""`.
//! * Numbers compare across int/float kinds (`eq .Extra.n 1` is true) where Go
//!   reports incompatible types, and integral floats are accepted where an
//!   `int` argument is expected (JSON numbers are `float64` in Go).
//! * `index` on a header map is case-insensitive.
//! * A struct ([`Value::Object`]) prints through its `String` field when it
//!   has one (Go's `Stringer`), otherwise as `{}`; `toJson` encodes it as `{}`.
//! * A variable declared inside one branch of an `if` is not visible in the
//!   other branch (Go accepts the template and fails when executing it).
//! * `define`, `template`, `block` and `call` are not supported; `repeat`
//!   refuses to produce more than 1 MiB.

use std::borrow::Cow;
use std::fmt;

mod exec;
mod format;
mod funcs;
mod lex;
mod parse;
mod reads;

pub(crate) use format::url_query_escape;

#[cfg(test)]
mod tests;

/// A parsed template, ready to be rendered any number of times.
///
/// Cheap to share between threads: it is immutable plain data.
#[derive(Debug, Clone)]
pub struct Template {
    /// The template text; text nodes refer to ranges of it.
    source: String,
    /// The top-level list of nodes.
    root: Vec<parse::Node>,
}

impl Template {
    /// Parses `source`, checking syntax, function names and variables.
    pub fn parse(source: &str) -> Result<Template, ParseError> {
        let root = parse::parse(source)?;
        Ok(Template {
            source: source.to_owned(),
            root,
        })
    }

    /// Whether rendering reads the dot only through the top-level fields in `fields` (so the
    /// output is the same whenever they are). Conservative: the whole dot, `with` and `range`
    /// answer false.
    pub fn reads_only(&self, fields: &[&str]) -> bool {
        reads::reads_only(&self.root, fields)
    }

    /// The text this template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template with `data` as the dot, appending to `out`.
    ///
    /// `out` is not cleared first, so a caller can reuse one buffer. On error,
    /// whatever was rendered before the failing action stays in `out` (as with
    /// Go's `Execute`); callers that must not emit partial output should
    /// truncate it back.
    pub fn render(&self, data: &dyn Data, out: &mut String) -> Result<(), RenderError> {
        exec::render(self, data, out)
    }
}

/// The dot: anything with named fields, like a Go struct.
///
/// Zero-argument methods (such as Go's `url.URL.String`) are exposed as fields
/// too; a `String` field is also what printing the object shows.
pub trait Data {
    /// The value of field `name`, or [`Value::Missing`] when there is none.
    fn field(&self, name: &str) -> Value<'_>;
}

/// A value flowing through a template: borrowed from the data where possible.
#[derive(Clone)]
pub enum Value<'a> {
    /// An absent field or map key; renders as `""` (Go's `missingkey=zero`).
    Missing,
    /// Go's `nil`; renders as `""`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (Go's `int`).
    Int(i64),
    /// A floating point number (Go's `float64`).
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// Decoded JSON (Go's `interface{}` from `encoding/json`): objects are
    /// maps, arrays are slices and numbers are `float64`.
    Json(&'a serde_json::Value),
    /// A list of strings, such as regexp capture groups (Go's `[]string`).
    Strings(&'a [String]),
    /// An HTTP header map (Go's `http.Header`), with methods `Get` and
    /// `Values`; `index` on it yields the list of values.
    Header(&'a http::HeaderMap),
    /// A nested struct.
    Object(&'a dyn Data),
    /// A list built by the template itself (for example by `list`).
    List(Vec<Value<'a>>),
}

impl Value<'_> {
    /// Go's notion of truth: false, zero, nil, missing and empty strings,
    /// lists and maps are false; everything else is true.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Missing | Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Json(j) => match j {
                serde_json::Value::Null => false,
                serde_json::Value::Bool(b) => *b,
                serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                serde_json::Value::String(s) => !s.is_empty(),
                serde_json::Value::Array(a) => !a.is_empty(),
                serde_json::Value::Object(o) => !o.is_empty(),
            },
            Value::Strings(s) => !s.is_empty(),
            Value::Header(h) => !h.is_empty(),
            Value::Object(_) => true,
            Value::List(l) => !l.is_empty(),
        }
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Missing => f.write_str("Missing"),
            Value::Null => f.write_str("Null"),
            Value::Bool(b) => f.debug_tuple("Bool").field(b).finish(),
            Value::Int(i) => f.debug_tuple("Int").field(i).finish(),
            Value::Float(x) => f.debug_tuple("Float").field(x).finish(),
            Value::Str(s) => f.debug_tuple("Str").field(s).finish(),
            Value::Json(j) => f.debug_tuple("Json").field(j).finish(),
            Value::Strings(s) => f.debug_tuple("Strings").field(s).finish(),
            Value::Header(h) => f.debug_tuple("Header").field(h).finish(),
            // A `dyn Data` cannot enumerate its fields, so only say what it is.
            Value::Object(_) => f.write_str("Object(..)"),
            Value::List(l) => f.debug_tuple("List").field(l).finish(),
        }
    }
}

/// Convenience for tests and JSON-shaped data: keys are fields.
impl Data for serde_json::Map<String, serde_json::Value> {
    fn field(&self, name: &str) -> Value<'_> {
        self.get(name).map_or(Value::Missing, Value::Json)
    }
}

/// A position in the template source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// Byte offset from the start of the source.
    pub offset: usize,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Pos {
    /// Computes line and column of byte `offset` in `source`.
    pub(crate) fn at(source: &str, offset: usize) -> Pos {
        let mut line = 1;
        let mut col = 1;
        for (i, c) in source.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        Pos { offset, line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Why a template could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// A token that does not fit the grammar at this point.
    #[error("unexpected {found} at {pos}, expected {expected}")]
    Unexpected {
        /// What was found, e.g. `"}}"` or `{{end}}`.
        found: String,
        /// What the grammar allows here.
        expected: &'static str,
        /// Where.
        pos: Pos,
    },
    /// `{{` without a matching `}}`.
    #[error("unclosed action starting at {pos}")]
    UnclosedAction {
        /// Where the action starts.
        pos: Pos,
    },
    /// `{{/*` without a matching `*/}}`.
    #[error("unclosed comment starting at {pos}")]
    UnclosedComment {
        /// Where the comment starts.
        pos: Pos,
    },
    /// A control structure without its `{{end}}`.
    #[error("unexpected end of template: {{{{{keyword}}}}} at {pos} has no matching {{{{end}}}}")]
    MissingEnd {
        /// `if`, `with` or `range`.
        keyword: &'static str,
        /// Where the structure starts.
        pos: Pos,
    },
    /// A call to a function that does not exist.
    #[error("function {name:?} not defined at {pos}")]
    UnknownFunction {
        /// The function name.
        name: String,
        /// Where.
        pos: Pos,
    },
    /// A `$variable` that was never declared in scope.
    #[error("undefined variable \"${name}\" at {pos}")]
    UndefinedVariable {
        /// The variable name without `$`.
        name: String,
        /// Where.
        pos: Pos,
    },
    /// A malformed literal or character (bad string, bad number, stray byte).
    #[error("{msg} at {pos}")]
    Lexical {
        /// What is wrong, e.g. `unterminated quoted string`.
        msg: String,
        /// Where.
        pos: Pos,
    },
    /// Valid Go template syntax this implementation does not support.
    #[error("{what} is not supported at {pos}")]
    Unsupported {
        /// The construct, e.g. `{{define}}`.
        what: String,
        /// Where.
        pos: Pos,
    },
    /// Parentheses or control structures nested too deeply.
    #[error("template nested too deeply at {pos}")]
    TooDeep {
        /// Where the limit was reached.
        pos: Pos,
    },
}

/// The most a template may produce, and the largest string any step of it may build: a header
/// value never needs more, and a bound keeps a template from exhausting memory or time.
pub const MAX_RENDER_BYTES: usize = 1 << 20;

/// Why rendering a template failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// A function was called with the wrong number of arguments.
    #[error("wrong number of args for {func}: want {want} got {got}")]
    ArgCount {
        /// The function name.
        func: &'static str,
        /// What it accepts, e.g. `2` or `at least 1`.
        want: &'static str,
        /// How many it got.
        got: usize,
    },
    /// A function argument has the wrong type.
    #[error("wrong type for value in {func}; expected {expected}; got {got}")]
    ArgType {
        /// The function name.
        func: &'static str,
        /// The expected Go type.
        expected: &'static str,
        /// The Go type received.
        got: &'static str,
    },
    /// A field was looked up on something that has no fields.
    #[error("can't evaluate field {field} in type {kind}")]
    NoField {
        /// The field name.
        field: String,
        /// The Go type of the receiver.
        kind: &'static str,
    },
    /// Arguments were given to something that is not a method.
    #[error("{name} is not a method but has arguments")]
    NotAMethod {
        /// The field name.
        name: String,
    },
    /// A value or the output grew past [`MAX_RENDER_BYTES`] (e.g. `js` piped into `js` again
    /// and again doubles the backslashes each time).
    #[error("rendering exceeds {MAX_RENDER_BYTES} bytes")]
    TooLarge,
    /// `index` or `slice` failed.
    #[error("error calling {func}: {msg}")]
    Index {
        /// `index`, `slice` or `printIndex`.
        func: &'static str,
        /// What went wrong, e.g. `index out of range: 5`.
        msg: String,
    },
    /// Comparing values of incompatible or uncomparable types.
    #[error("error calling {func}: {msg}")]
    Compare {
        /// The comparison function.
        func: &'static str,
        /// What went wrong.
        msg: String,
    },
    /// `range` over something that is not a collection.
    #[error("range can't iterate over {kind}")]
    Range {
        /// The Go type of the value.
        kind: &'static str,
    },
    /// A function failed for another reason.
    #[error("error calling {func}: {msg}")]
    Func {
        /// The function name.
        func: &'static str,
        /// What went wrong.
        msg: String,
    },
}
