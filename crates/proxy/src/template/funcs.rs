//! The function map: Go's builtins, Oathkeeper's `print`/`printIndex`
//! overrides and the sprig subset.
//!
//! Functions are resolved to [`Func`] when parsing, so an unknown name is a
//! parse error (as in Go) and a call is a plain `match` when rendering.

use std::borrow::Cow;

use base64::Engine as _;

use super::format::{self, as_str, go_type};
use super::{RenderError, Value};

macro_rules! funcs {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A template function.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Func { $($variant),* }

        impl Func {
            /// Looks a function up by its template name.
            pub(crate) fn from_name(name: &str) -> Option<Func> {
                match name {
                    $($name => Some(Func::$variant),)*
                    _ => None,
                }
            }

            /// The template name, for error messages.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Func::$variant => $name),* }
            }
        }
    };
}

funcs! {
    And => "and", Or => "or", Not => "not",
    Eq => "eq", Ne => "ne", Lt => "lt", Le => "le", Gt => "gt", Ge => "ge",
    Len => "len", Index => "index", Slice => "slice",
    Print => "print", Printf => "printf", Println => "println", PrintIndex => "printIndex",
    UrlQuery => "urlquery", Html => "html", Js => "js",
    Default => "default", Empty => "empty", Coalesce => "coalesce",
    ToJson => "toJson", ToString => "toString",
    Upper => "upper", Lower => "lower", Title => "title",
    Trim => "trim", TrimPrefix => "trimPrefix", TrimSuffix => "trimSuffix", TrimAll => "trimAll",
    Contains => "contains", HasPrefix => "hasPrefix", HasSuffix => "hasSuffix",
    Replace => "replace", Join => "join", Quote => "quote", Squote => "squote",
    B64Enc => "b64enc", B64Dec => "b64dec",
    List => "list", First => "first", Last => "last", Ternary => "ternary",
    Repeat => "repeat", Substr => "substr", Nospace => "nospace", Cat => "cat",
}

/// `repeat` refuses to build strings larger than this before building them: an unbounded
/// count would let a template exhaust memory.
const MAX_REPEAT_BYTES: usize = super::MAX_RENDER_BYTES;

/// Go's `base64.StdEncoding`: padded, but lenient about trailing bits.
const STD_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

impl Func {
    /// Whether the function only formats text, so an action ending with it
    /// can write straight into the output instead of building a string.
    pub(crate) fn writes_text(self) -> bool {
        matches!(self, Func::Print | Func::Printf | Func::Println)
    }
}

fn arg_count(f: Func, want: &'static str, got: usize) -> RenderError {
    RenderError::ArgCount {
        func: f.name(),
        want,
        got,
    }
}

fn exactly<'v, 'a, const N: usize>(
    f: Func,
    args: &'v mut [Value<'a>],
    want: &'static str,
) -> Result<&'v mut [Value<'a>; N], RenderError> {
    let got = args.len();
    <&mut [Value<'a>; N]>::try_from(args).map_err(|_| arg_count(f, want, got))
}

fn type_err(f: Func, expected: &'static str, v: &Value<'_>) -> RenderError {
    RenderError::ArgType {
        func: f.name(),
        expected,
        got: go_type(v),
    }
}

fn str_arg<'v>(f: Func, v: &'v Value<'_>) -> Result<&'v str, RenderError> {
    as_str(v).ok_or_else(|| type_err(f, "string", v))
}

/// An `int` argument; integral floats are accepted because JSON numbers
/// arrive as `float64` (Go would reject them).
fn int_arg(f: Func, v: &Value<'_>) -> Result<i64, RenderError> {
    let float = match v {
        Value::Int(i) => return Ok(*i),
        Value::Float(x) => *x,
        Value::Json(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) => return Ok(i),
            None => n.as_f64().unwrap_or(f64::NAN),
        },
        _ => return Err(type_err(f, "int", v)),
    };
    if float.fract() == 0.0 && float.abs() < 9.0e15 {
        Ok(float as i64)
    } else {
        Err(type_err(f, "int", v))
    }
}

fn bool_arg(f: Func, v: &Value<'_>) -> Result<bool, RenderError> {
    match v {
        Value::Bool(b) | Value::Json(serde_json::Value::Bool(b)) => Ok(*b),
        _ => Err(type_err(f, "bool", v)),
    }
}

fn owned<'a>(s: String) -> Value<'a> {
    Value::Str(Cow::Owned(s))
}

fn take<'a>(v: &mut Value<'a>) -> Value<'a> {
    std::mem::replace(v, Value::Missing)
}

fn is_nil(v: &Value<'_>) -> bool {
    matches!(
        v,
        Value::Missing | Value::Null | Value::Json(serde_json::Value::Null)
    )
}

/// Sprig's `strval`: strings as they are, anything else as `%v` (nil as
/// `<nil>`).
fn strval<'a>(v: &Value<'a>) -> Cow<'a, str> {
    match v {
        Value::Str(s) => s.clone(),
        Value::Json(serde_json::Value::String(s)) => Cow::Borrowed(s.as_str()),
        other => {
            let mut s = String::new();
            format::write_v(&mut s, other, "<nil>");
            Cow::Owned(s)
        }
    }
}

/// Go's builtins `html`, `js` and `urlquery` first turn their arguments into
/// one string: a lone string as is, otherwise `fmt.Sprint`.
fn eval_args<'v>(args: &'v [Value<'_>]) -> Cow<'v, str> {
    if let [one] = args
        && let Some(s) = as_str(one)
    {
        return Cow::Borrowed(s);
    }
    let mut s = String::new();
    format::sprint(&mut s, args, "<nil>");
    Cow::Owned(s)
}

/// Writes the output of a text function (`writes_text`) into `out`.
pub(crate) fn write_text(f: Func, args: &[Value<'_>], out: &mut String) -> Result<(), RenderError> {
    match f {
        // Oathkeeper's print: nil prints as "", anything else as `%v`.
        Func::Print => format::sprint(out, args, ""),
        Func::Println => format::sprintln(out, args),
        Func::Printf => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err(arg_count(f, "at least 1", 0));
            };
            format::printf(out, str_arg(f, fmt)?, rest);
        }
        _ => {
            let v = call(f, &mut args.to_vec())?;
            format::write_v(out, &v, "");
        }
    }
    Ok(())
}

/// Calls `f`; arguments may be moved out of `args`.
pub(crate) fn call<'a>(f: Func, args: &mut [Value<'a>]) -> Result<Value<'a>, RenderError> {
    Ok(match f {
        Func::And | Func::Or => {
            // The executor short-circuits; this is the eager equivalent.
            let Some((last, init)) = args.split_last_mut() else {
                return Err(arg_count(f, "at least 1", 0));
            };
            let want = f == Func::Or;
            for v in init {
                if v.is_truthy() == want {
                    return Ok(take(v));
                }
            }
            take(last)
        }
        Func::Not => {
            let [v] = exactly(f, args, "1")?;
            Value::Bool(!v.is_truthy())
        }
        Func::Eq | Func::Ne => {
            let Some((first, rest)) = args.split_first() else {
                return Err(arg_count(f, "at least 2", 0));
            };
            if rest.is_empty() {
                return Err(arg_count(f, "at least 2", 1));
            }
            // Only `eq` compares against several candidates.
            if f == Func::Ne && rest.len() > 1 {
                return Err(arg_count(f, "2", rest.len() + 1));
            }
            let mut any = false;
            for other in rest {
                if equal(f, first, other)? {
                    any = true;
                    break;
                }
            }
            Value::Bool(any == (f == Func::Eq))
        }
        Func::Lt | Func::Le | Func::Gt | Func::Ge => {
            let [a, b] = exactly(f, args, "2")?;
            let ord = order(f, a, b)?;
            Value::Bool(match f {
                Func::Lt => ord.is_lt(),
                Func::Le => ord.is_le(),
                Func::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        Func::Len => {
            let [v] = exactly(f, args, "1")?;
            Value::Int(i64::try_from(length(f, v)?).unwrap_or(i64::MAX))
        }
        Func::Index => {
            let Some((item, indices)) = args.split_first_mut() else {
                return Err(arg_count(f, "at least 1", 0));
            };
            let mut cur = take(item);
            for idx in indices.iter() {
                cur = index(cur, idx)?;
            }
            cur
        }
        Func::Slice => slice(args)?,
        Func::Print | Func::Printf | Func::Println => {
            // A lone string prints as itself: no copy needed.
            if f == Func::Print
                && let [Value::Str(s)] = args
            {
                return Ok(Value::Str(std::mem::take(s)));
            }
            let mut s = String::new();
            write_text(f, args, &mut s)?;
            owned(s)
        }
        Func::PrintIndex => {
            let [list, i] = exactly(f, args, "2")?;
            let i = int_arg(f, i)?;
            print_index(list, i)
        }
        Func::UrlQuery | Func::Html | Func::Js => {
            let text = eval_args(args);
            let mut s = String::with_capacity(text.len());
            match f {
                Func::UrlQuery => format::url_query_escape(&mut s, &text),
                Func::Html => format::html_escape(&mut s, &text),
                _ => format::js_escape(&mut s, &text),
            }
            owned(s)
        }
        Func::Default => {
            // sprig: default DEFAULT GIVEN -> GIVEN unless it is empty.
            let Some((dflt, given)) = args.split_first_mut() else {
                return Err(arg_count(f, "at least 1", 0));
            };
            match given.first_mut() {
                Some(g) if g.is_truthy() => take(g),
                _ => take(dflt),
            }
        }
        Func::Empty => {
            let [v] = exactly(f, args, "1")?;
            Value::Bool(!v.is_truthy())
        }
        Func::Coalesce => args
            .iter_mut()
            .find(|v| v.is_truthy())
            .map_or(Value::Null, take),
        Func::ToJson => {
            let [v] = exactly(f, args, "1")?;
            let mut s = String::new();
            // Like sprig, an unencodable value yields "".
            if !format::write_json(&mut s, v) {
                s.clear();
            }
            owned(s)
        }
        Func::ToString => {
            let [v] = exactly(f, args, "1")?;
            Value::Str(strval(v))
        }
        Func::Upper | Func::Lower | Func::Title | Func::Trim | Func::Nospace => {
            let [v] = exactly(f, args, "1")?;
            let s = str_arg(f, v)?;
            owned(match f {
                Func::Upper => map_chars(s, char::to_uppercase),
                Func::Lower => map_chars(s, char::to_lowercase),
                Func::Title => title(s),
                Func::Trim => s.trim().to_owned(),
                _ => s.chars().filter(|c| !c.is_whitespace()).collect(),
            })
        }
        Func::TrimPrefix | Func::TrimSuffix | Func::TrimAll => {
            let [a, b] = exactly(f, args, "2")?;
            let (a, b) = (str_arg(f, a)?, str_arg(f, b)?);
            owned(
                match f {
                    Func::TrimPrefix => b.strip_prefix(a).unwrap_or(b),
                    Func::TrimSuffix => b.strip_suffix(a).unwrap_or(b),
                    _ => b.trim_matches(|c| a.contains(c)),
                }
                .to_owned(),
            )
        }
        Func::Contains | Func::HasPrefix | Func::HasSuffix => {
            let [a, b] = exactly(f, args, "2")?;
            let (a, b) = (str_arg(f, a)?, str_arg(f, b)?);
            Value::Bool(match f {
                Func::Contains => b.contains(a),
                Func::HasPrefix => b.starts_with(a),
                _ => b.ends_with(a),
            })
        }
        Func::Replace => {
            let [old, new, s] = exactly(f, args, "3")?;
            owned(str_arg(f, s)?.replace(str_arg(f, old)?, str_arg(f, new)?))
        }
        Func::Join => {
            let [sep, list] = exactly(f, args, "2")?;
            let sep = str_arg(f, sep)?;
            owned(str_slice(list).join(sep))
        }
        Func::Quote | Func::Squote | Func::Cat => {
            let mut s = String::new();
            for (i, v) in args.iter().filter(|v| !is_nil(v)).enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                let text = strval(v);
                match f {
                    Func::Quote => format::quote(&mut s, &text, false),
                    Func::Squote => {
                        s.push('\'');
                        s.push_str(&text);
                        s.push('\'');
                    }
                    _ => s.push_str(&text),
                }
            }
            owned(s)
        }
        Func::B64Enc => {
            let [v] = exactly(f, args, "1")?;
            owned(STD_B64.encode(str_arg(f, v)?))
        }
        Func::B64Dec => {
            let [v] = exactly(f, args, "1")?;
            let input = str_arg(f, v)?;
            // sprig returns the error text instead of failing.
            owned(match STD_B64.decode(input) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => format!(
                    "illegal base64 data at input byte {}",
                    b64_error_offset(&e, input)
                ),
            })
        }
        Func::List => Value::List(args.iter_mut().map(take).collect()),
        Func::First | Func::Last => {
            let [v] = exactly(f, args, "1")?;
            first_or_last(f, take(v))?
        }
        Func::Ternary => {
            let [yes, no, cond] = exactly(f, args, "3")?;
            if bool_arg(f, cond)? {
                take(yes)
            } else {
                take(no)
            }
        }
        Func::Repeat => {
            let [count, s] = exactly(f, args, "2")?;
            let count = int_arg(f, count)?;
            let s = str_arg(f, s)?;
            let count = usize::try_from(count).map_err(|_| RenderError::Func {
                func: f.name(),
                msg: "negative repeat count".to_owned(),
            })?;
            if count.saturating_mul(s.len()) > MAX_REPEAT_BYTES {
                return Err(RenderError::Func {
                    func: f.name(),
                    msg: format!("result longer than {MAX_REPEAT_BYTES} bytes"),
                });
            }
            owned(s.repeat(count))
        }
        Func::Substr => {
            let [start, end, s] = exactly(f, args, "3")?;
            let (start, end) = (int_arg(f, start)?, int_arg(f, end)?);
            substr(f, start, end, str_arg(f, s)?)?
        }
    })
}

/// Maps each character like Go's simple case mapping: a character whose
/// mapping is not a single character is kept (Go's `ToUpper("ß")` is `ß`).
fn map_chars<I: Iterator<Item = char>>(s: &str, map: fn(char) -> I) -> String {
    s.chars()
        .map(|c| {
            let mut m = map(c);
            match (m.next(), m.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    fn separator(c: char) -> bool {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    }
    let mut prev_sep = true;
    s.chars()
        .map(|c| {
            let mapped = if prev_sep {
                let mut m = c.to_uppercase();
                match (m.next(), m.next()) {
                    (Some(one), None) => one,
                    _ => c,
                }
            } else {
                c
            };
            prev_sep = separator(c);
            mapped
        })
        .collect()
}

/// Go's `StdEncoding` reports the offset of the first bad byte.
fn b64_error_offset(e: &base64::DecodeError, input: &str) -> usize {
    match e {
        base64::DecodeError::InvalidByte(at, _) => *at,
        base64::DecodeError::InvalidLastSymbol { offset, .. } => *offset,
        _ => input.len(),
    }
}

/// Sprig's `strslice`, used by `join`.
fn str_slice<'a>(v: &Value<'a>) -> Vec<Cow<'a, str>> {
    match v {
        Value::Strings(list) => list.iter().map(|s| Cow::Borrowed(s.as_str())).collect(),
        Value::Json(serde_json::Value::Array(a)) => a
            .iter()
            .map(Value::Json)
            .filter(|v| !is_nil(v))
            .map(|v| strval(&v))
            .collect(),
        Value::List(list) => list.iter().filter(|v| !is_nil(v)).map(strval).collect(),
        v if is_nil(v) => Vec::new(),
        other => vec![strval(other)],
    }
}

fn first_or_last<'a>(f: Func, v: Value<'a>) -> Result<Value<'a>, RenderError> {
    let pick_first = f == Func::First;
    Ok(match v {
        Value::Json(serde_json::Value::Array(a)) => {
            let item = if pick_first { a.first() } else { a.last() };
            item.map_or(Value::Null, Value::Json)
        }
        Value::Strings(list) => {
            let item = if pick_first {
                list.first()
            } else {
                list.last()
            };
            item.map_or(Value::Null, |s| Value::Str(Cow::Borrowed(s.as_str())))
        }
        Value::List(list) => {
            let item = if pick_first {
                list.into_iter().next()
            } else {
                list.into_iter().next_back()
            };
            item.unwrap_or(Value::Null)
        }
        other => {
            return Err(RenderError::Func {
                func: f.name(),
                msg: format!("cannot find {} on type {}", f.name(), go_type(&other)),
            });
        }
    })
}

/// Sprig's `substr` on byte offsets: a negative start means 0, a negative or
/// too large end means the end of the string.
fn substr<'a>(f: Func, start: i64, end: i64, s: &str) -> Result<Value<'a>, RenderError> {
    let len = s.len();
    let to_usize = |i: i64| usize::try_from(i).ok();
    let range = if start < 0 {
        to_usize(end).filter(|e| *e <= len).map(|e| 0..e)
    } else if end < 0 || to_usize(end).is_none_or(|e| e > len) {
        to_usize(start).filter(|s| *s <= len).map(|s| s..len)
    } else {
        match (to_usize(start), to_usize(end)) {
            (Some(a), Some(b)) if a <= b => Some(a..b),
            _ => None,
        }
    };
    let Some(range) = range else {
        return Err(RenderError::Index {
            func: f.name(),
            msg: format!("slice bounds out of range [{start}:{end}] with length {len}"),
        });
    };
    // Offsets inside a multi-byte character cut it, as Go's byte slicing does.
    let bytes = s.as_bytes().get(range).unwrap_or_default();
    Ok(owned(String::from_utf8_lossy(bytes).into_owned()))
}

/// Oathkeeper's `printIndex`: the `%v` of element `i` of a list, or "".
fn print_index<'a>(list: &Value<'a>, i: i64) -> Value<'a> {
    let Ok(i) = usize::try_from(i) else {
        return Value::Str(Cow::Borrowed(""));
    };
    match list {
        Value::Strings(items) => items.get(i).map_or(Value::Str(Cow::Borrowed("")), |s| {
            Value::Str(Cow::Borrowed(s.as_str()))
        }),
        Value::Json(serde_json::Value::Array(items)) => {
            items.get(i).map_or(Value::Str(Cow::Borrowed("")), |v| {
                let mut s = String::new();
                format::write_v(&mut s, &Value::Json(v), "<nil>");
                owned(s)
            })
        }
        Value::List(items) => items.get(i).map_or(Value::Str(Cow::Borrowed("")), |v| {
            let mut s = String::new();
            format::write_v(&mut s, v, "<nil>");
            owned(s)
        }),
        _ => Value::Str(Cow::Borrowed("")),
    }
}

/// A comparable view of a value.
enum Scalar<'v> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'v str),
    Other(&'static str),
}

fn scalar<'v>(v: &'v Value<'_>) -> Scalar<'v> {
    match v {
        Value::Missing | Value::Null | Value::Json(serde_json::Value::Null) => Scalar::Nil,
        Value::Bool(b) | Value::Json(serde_json::Value::Bool(b)) => Scalar::Bool(*b),
        Value::Int(i) => Scalar::Int(*i),
        Value::Float(f) => Scalar::Float(*f),
        Value::Json(serde_json::Value::Number(n)) => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::Str(s) => Scalar::Str(s),
        Value::Json(serde_json::Value::String(s)) => Scalar::Str(s),
        other => Scalar::Other(go_type(other)),
    }
}

fn compare_err(f: Func, msg: impl Into<String>) -> RenderError {
    RenderError::Compare {
        func: f.name(),
        msg: msg.into(),
    }
}

/// Go's `eq` for one pair: nil equals only nil; numbers compare across int
/// and float (Go would report incompatible types).
fn equal(f: Func, a: &Value<'_>, b: &Value<'_>) -> Result<bool, RenderError> {
    Ok(match (scalar(a), scalar(b)) {
        (Scalar::Nil, Scalar::Nil) => true,
        (Scalar::Nil, _) | (_, Scalar::Nil) => false,
        (Scalar::Other(t), _) | (_, Scalar::Other(t)) => {
            return Err(compare_err(f, format!("non-comparable type {t}")));
        }
        (Scalar::Bool(x), Scalar::Bool(y)) => x == y,
        (Scalar::Int(x), Scalar::Int(y)) => x == y,
        (Scalar::Int(x), Scalar::Float(y)) | (Scalar::Float(y), Scalar::Int(x)) => x as f64 == y,
        (Scalar::Float(x), Scalar::Float(y)) => x == y,
        (Scalar::Str(x), Scalar::Str(y)) => x == y,
        _ => return Err(compare_err(f, "incompatible types for comparison")),
    })
}

/// Go's ordering for `lt`/`le`/`gt`/`ge`: numbers and strings only.
fn order(f: Func, a: &Value<'_>, b: &Value<'_>) -> Result<std::cmp::Ordering, RenderError> {
    let ord = match (scalar(a), scalar(b)) {
        (Scalar::Int(x), Scalar::Int(y)) => Some(x.cmp(&y)),
        (Scalar::Int(x), Scalar::Float(y)) => (x as f64).partial_cmp(&y),
        (Scalar::Float(x), Scalar::Int(y)) => x.partial_cmp(&(y as f64)),
        (Scalar::Float(x), Scalar::Float(y)) => x.partial_cmp(&y),
        (Scalar::Str(x), Scalar::Str(y)) => Some(x.cmp(y)),
        (Scalar::Nil | Scalar::Bool(_) | Scalar::Other(_), _)
        | (_, Scalar::Nil | Scalar::Bool(_) | Scalar::Other(_)) => {
            return Err(compare_err(f, "invalid type for comparison"));
        }
        _ => return Err(compare_err(f, "incompatible types for comparison")),
    };
    // NaN is unordered: every comparison with it is false, as in Go.
    Ok(ord.unwrap_or(match f {
        Func::Lt | Func::Le => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Less,
    }))
}

fn length(f: Func, v: &Value<'_>) -> Result<usize, RenderError> {
    Ok(match v {
        Value::Str(s) => s.len(),
        Value::Json(serde_json::Value::String(s)) => s.len(),
        Value::Json(serde_json::Value::Array(a)) => a.len(),
        Value::Json(serde_json::Value::Object(m)) => m.len(),
        Value::Strings(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Header(h) => h.keys_len(),
        other => {
            return Err(RenderError::Func {
                func: f.name(),
                msg: format!("len of type {}", go_type(other)),
            });
        }
    })
}

fn index_err(msg: String) -> RenderError {
    RenderError::Index { func: "index", msg }
}

/// A position argument of `index`/`slice`, checked against `len`.
fn position(idx: &Value<'_>, len: usize, func: &'static str) -> Result<usize, RenderError> {
    let i = int_arg(Func::Index, idx).map_err(|_| RenderError::Index {
        func,
        msg: format!("cannot index slice/array with type {}", go_type(idx)),
    })?;
    usize::try_from(i)
        .ok()
        .filter(|i| *i < len)
        .ok_or_else(|| RenderError::Index {
            func,
            msg: format!("index out of range: {i}"),
        })
}

/// One step of Go's `index`.
fn index<'a>(item: Value<'a>, idx: &Value<'_>) -> Result<Value<'a>, RenderError> {
    Ok(match item {
        Value::Json(serde_json::Value::Array(a)) => {
            let i = position(idx, a.len(), "index")?;
            a.get(i).map_or(Value::Missing, Value::Json)
        }
        Value::Json(serde_json::Value::Object(m)) => {
            let key = as_str(idx).ok_or_else(|| {
                index_err(format!("value has type {}; should be string", go_type(idx)))
            })?;
            m.get(key).map_or(Value::Missing, Value::Json)
        }
        Value::Json(serde_json::Value::String(s)) => {
            let i = position(idx, s.len(), "index")?;
            s.as_bytes()
                .get(i)
                .map_or(Value::Missing, |b| Value::Int(i64::from(*b)))
        }
        Value::Str(s) => {
            let i = position(idx, s.len(), "index")?;
            s.as_bytes()
                .get(i)
                .map_or(Value::Missing, |b| Value::Int(i64::from(*b)))
        }
        Value::Strings(list) => {
            let i = position(idx, list.len(), "index")?;
            list.get(i)
                .map_or(Value::Missing, |s| Value::Str(Cow::Borrowed(s.as_str())))
        }
        Value::List(list) => {
            let i = position(idx, list.len(), "index")?;
            list.into_iter().nth(i).unwrap_or(Value::Missing)
        }
        Value::Header(h) => {
            let key = as_str(idx).ok_or_else(|| {
                index_err(format!("value has type {}; should be string", go_type(idx)))
            })?;
            Value::List(
                h.get_all(key)
                    .iter()
                    .map(|v| Value::Str(String::from_utf8_lossy(v.as_bytes())))
                    .collect(),
            )
        }
        v if is_nil(&v) => return Err(index_err("index of untyped nil".to_owned())),
        other => {
            return Err(index_err(format!(
                "can't index item of type {}",
                go_type(&other)
            )));
        }
    })
}

/// Go's `slice`: `slice x`, `slice x i`, `slice x i j` on strings and lists.
fn slice<'a>(args: &mut [Value<'a>]) -> Result<Value<'a>, RenderError> {
    let f = Func::Slice;
    let Some((item, bounds)) = args.split_first_mut() else {
        return Err(arg_count(f, "1 to 3", 0));
    };
    if bounds.len() > 2 {
        return Err(arg_count(f, "1 to 3", bounds.len() + 1));
    }
    let item = take(item);
    let len = match &item {
        Value::Str(s) => s.len(),
        Value::Json(serde_json::Value::String(s)) => s.len(),
        Value::Json(serde_json::Value::Array(a)) => a.len(),
        Value::Strings(s) => s.len(),
        Value::List(l) => l.len(),
        v if is_nil(v) => {
            return Err(RenderError::Index {
                func: "slice",
                msg: "slice of untyped nil".to_owned(),
            });
        }
        other => {
            return Err(RenderError::Index {
                func: "slice",
                msg: format!("can't slice item of type {}", go_type(other)),
            });
        }
    };
    // Bounds may equal the length, so check against len + 1.
    let lo = match bounds.first() {
        Some(b) => position(b, len + 1, "slice")?,
        None => 0,
    };
    let hi = match bounds.get(1) {
        Some(b) => position(b, len + 1, "slice")?,
        None => len,
    };
    if lo > hi {
        return Err(RenderError::Index {
            func: "slice",
            msg: format!("invalid slice index: {lo} > {hi}"),
        });
    }
    let bytes_of = |s: &str| {
        String::from_utf8_lossy(s.as_bytes().get(lo..hi).unwrap_or_default()).into_owned()
    };
    Ok(match item {
        Value::Str(s) => owned(bytes_of(&s)),
        Value::Json(serde_json::Value::String(s)) => owned(bytes_of(s)),
        Value::Json(serde_json::Value::Array(a)) => Value::List(
            a.get(lo..hi)
                .unwrap_or_default()
                .iter()
                .map(Value::Json)
                .collect(),
        ),
        Value::Strings(s) => Value::Strings(s.get(lo..hi).unwrap_or_default()),
        Value::List(l) => Value::List(l.into_iter().skip(lo).take(hi - lo).collect()),
        _ => Value::Missing,
    })
}
