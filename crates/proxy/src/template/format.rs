//! Go-compatible text output: `fmt`'s `%v` and `printf` verbs, `strconv`
//! quoting, `encoding/json` encoding and the template escapers.
//!
//! Everything writes straight into the caller's `String` so that printing a
//! value costs no allocation of its own in the common cases.

use std::fmt::Write as _;

use super::Value;

/// The Go type name of a value, as `fmt` shows it in `%!d(string=x)`.
pub(crate) fn go_type(v: &Value<'_>) -> &'static str {
    match v {
        Value::Missing | Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Json(j) => match j {
            serde_json::Value::Null => "<nil>",
            serde_json::Value::Bool(_) => "bool",
            serde_json::Value::Number(_) => "float64",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "[]interface {}",
            serde_json::Value::Object(_) => "map[string]interface {}",
        },
        Value::Strings(_) => "[]string",
        Value::Header(_) => "http.Header",
        Value::Object(_) => "struct",
        Value::List(_) => "[]interface {}",
    }
}

/// The string inside a value, when it is a Go string.
pub(crate) fn as_str<'v>(v: &'v Value<'_>) -> Option<&'v str> {
    match v {
        Value::Str(s) => Some(s),
        Value::Json(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Writes a float as Go's `%v` does (strconv 'g' with the shortest
/// precision: exponent form below 1e-4 and from 1e6 on: `1e+06`).
pub(crate) fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if f == 0.0 {
        out.push_str(if f.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // The scientific rendering gives the shortest digits and the exact
    // decimal exponent, which decides between the two forms.
    let start = out.len();
    let _ = write!(out, "{f:e}");
    let exp = exponent_of(out, start).unwrap_or(0);
    if (-4..6).contains(&exp) {
        out.truncate(start);
        let _ = write!(out, "{f}");
    } else {
        go_exponent(out, start);
    }
}

/// Reads the exponent of a Rust `{:e}` rendering written at `start`.
fn exponent_of(out: &str, start: usize) -> Option<i32> {
    let s = out.get(start..)?;
    let e = s.rfind('e')?;
    s.get(e + 1..)?.parse().ok()
}

/// Rewrites the exponent of a Rust `{:e}` rendering at `start` to Go's form:
/// `1e6` becomes `1e+06`, `1e-7` becomes `1e-07`.
fn go_exponent(out: &mut String, start: usize) {
    let Some(exp) = exponent_of(out, start) else {
        return;
    };
    let Some(e) = out.get(start..).and_then(|s| s.rfind('e')) else {
        return;
    };
    out.truncate(start + e);
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
}

/// Writes `%v` of a value. `nil_text` is what a missing/nil value itself
/// prints as (`""` for template output, `<nil>` for Go's `fmt`); nested nils
/// always print as `<nil>`.
pub(crate) fn write_v(out: &mut String, v: &Value<'_>, nil_text: &str) {
    match v {
        Value::Missing | Value::Null => out.push_str(nil_text),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => write_float(out, *f),
        Value::Str(s) => out.push_str(s),
        Value::Json(j) => write_json_v(out, j, nil_text),
        Value::Strings(list) => join(out, "[", ' ', ']', list.iter(), |out, s| out.push_str(s)),
        Value::List(list) => join(out, "[", ' ', ']', list.iter(), |out, item| {
            write_v(out, item, "<nil>");
        }),
        Value::Header(h) => header_map(out, h, "map[", ' ', ']', |out, s| out.push_str(s)),
        Value::Object(d) => match d.field("String") {
            // Go's fmt prints a Stringer through its String method.
            Value::Str(s) => out.push_str(&s),
            _ => out.push_str("{}"),
        },
    }
}

fn write_json_v(out: &mut String, j: &serde_json::Value, nil_text: &str) {
    match j {
        serde_json::Value::Null => out.push_str(nil_text),
        serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => write_float(out, n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => out.push_str(s),
        serde_json::Value::Array(a) => join(out, "[", ' ', ']', a, |out, item| {
            write_json_v(out, item, "<nil>");
        }),
        serde_json::Value::Object(m) => {
            join(out, "map[", ' ', ']', sorted_map(m), |out, (k, item)| {
                out.push_str(k);
                out.push(':');
                write_json_v(out, item, "<nil>");
            })
        }
    }
}

/// Writes `open`, each item with `write` and `sep` between, then `close`: how Go prints a slice
/// (`[a b]`) or a map (`map[k:v]`), and how JSON writes an array or an object.
fn join<T>(
    out: &mut String,
    open: &str,
    sep: char,
    close: char,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T),
) {
    try_join(out, open, sep, close, items, |out, item| {
        write(out, item);
        true
    });
}

/// [`join`] with a `write` that can fail: stops at the first item that returns `false` (having
/// written a partial result, without `close`) and returns `false`.
fn try_join<T>(
    out: &mut String,
    open: &str,
    sep: char,
    close: char,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T) -> bool,
) -> bool {
    out.push_str(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        if !write(out, item) {
            return false;
        }
    }
    out.push(close);
    true
}

/// An `http.Header` as Go's `fmt` prints it (`map[Name:[v1 v2]]`: `open`, `sep` and `close`
/// of `map[`, a space and `]`) or `json` encodes it (`{"Name":["v1","v2"]}`): names in
/// canonical order, each name and value written by `write`.
fn header_map(
    out: &mut String,
    h: &http::HeaderMap,
    open: &str,
    sep: char,
    close: char,
    mut write: impl FnMut(&mut String, &str),
) {
    join(
        out,
        open,
        sep,
        close,
        sorted_header(h),
        |out, (name, values)| {
            write(out, &name);
            out.push(':');
            join(out, "[", sep, ']', values, |out, value| write(out, &value));
        },
    );
}

/// Map entries in key order: Go's `fmt`, `range` and `json` all sort keys,
/// and `serde_json::Map` may preserve insertion order instead.
pub(crate) fn sorted_map(
    m: &serde_json::Map<String, serde_json::Value>,
) -> Vec<(&String, &serde_json::Value)> {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Header entries by canonical name (`X-Foo`), values in order, as Go's
/// `http.Header` holds them.
pub(crate) fn sorted_header(h: &http::HeaderMap) -> Vec<(String, Vec<std::borrow::Cow<'_, str>>)> {
    let mut entries: Vec<_> = h
        .keys()
        .map(|name| {
            let values = h
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect();
            (canonical_header(name.as_str()), values)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for an already valid name.
pub(crate) fn canonical_header(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let mapped = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            mapped
        })
        .collect()
}

/// `fmt.Sprint`-style concatenation: a space between operands when neither
/// is a string. Missing/nil operands print as `nil_text`.
pub(crate) fn sprint(out: &mut String, args: &[Value<'_>], nil_text: &str) {
    let mut prev_string = true;
    for (i, arg) in args.iter().enumerate() {
        let is_string = as_str(arg).is_some();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_v(out, arg, nil_text);
        prev_string = is_string;
    }
}

/// `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(crate) fn sprintln(out: &mut String, args: &[Value<'_>]) {
    join(out, "", ' ', '\n', args, |out, arg| {
        write_v(out, arg, "<nil>")
    });
}

/// Go's `unicode.IsPrint`, approximated: no control, format or non-space
/// separator characters.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{fffd}'..='\u{ffff}'))
}

/// Go's `strconv.Quote` (or `QuoteToASCII` when `ascii`).
pub(crate) fn quote(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    for c in s.chars() {
        quote_char(out, c, '"', ascii);
    }
    out.push('"');
}

/// Go's `strconv.QuoteRune` (or `QuoteRuneToASCII`).
pub(crate) fn quote_rune(out: &mut String, c: char, ascii: bool) {
    out.push('\'');
    quote_char(out, c, '\'', ascii);
    out.push('\'');
}

fn quote_char(out: &mut String, c: char, quote: char, ascii: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) && (!ascii || c.is_ascii()) {
        out.push(c);
        return;
    }
    let _ = match c {
        '\u{7}' => write!(out, "\\a"),
        '\u{8}' => write!(out, "\\b"),
        '\u{c}' => write!(out, "\\f"),
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        '\u{b}' => write!(out, "\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\x{:02x}", c as u32),
        c if (c as u32) < 0x10000 => write!(out, "\\u{:04x}", c as u32),
        c => write!(out, "\\U{:08x}", c as u32),
    };
}

/// Encodes a value as Go's `json.Marshal` would. Returns `false` (having
/// written a partial result) for values JSON cannot hold (NaN, infinities).
pub(crate) fn write_json(out: &mut String, v: &Value<'_>) -> bool {
    match v {
        Value::Missing | Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => return write_json_float(out, *f),
        Value::Str(s) => write_json_str(out, s),
        Value::Json(j) => return write_json_value(out, j),
        Value::Strings(list) => join(out, "[", ',', ']', list.iter(), |out, s| {
            write_json_str(out, s);
        }),
        Value::List(list) => return try_join(out, "[", ',', ']', list.iter(), write_json),
        Value::Header(h) => header_map(out, h, "{", ',', '}', write_json_str),
        // Fields of a `dyn Data` cannot be enumerated.
        Value::Object(_) => out.push_str("{}"),
    }
    true
}

fn write_json_value(out: &mut String, j: &serde_json::Value) -> bool {
    match j {
        serde_json::Value::Null => out.push_str("null"),
        serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // Go decoded the number into a float64, and encodes it back as one.
        serde_json::Value::Number(n) => return write_json_float(out, n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => write_json_str(out, s),
        serde_json::Value::Array(a) => return try_join(out, "[", ',', ']', a, write_json_value),
        serde_json::Value::Object(m) => {
            return try_join(out, "{", ',', '}', sorted_map(m), |out, (k, item)| {
                write_json_str(out, k);
                out.push(':');
                write_json_value(out, item)
            });
        }
    }
    true
}

/// `encoding/json`'s float64 form: plain decimals, exponent form below 1e-6
/// and from 1e21 on (`1e+21`, `1e-7`).
fn write_json_float(out: &mut String, f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let start = out.len();
        let _ = write!(out, "{f:e}");
        let exp = exponent_of(out, start).unwrap_or(0);
        if let Some(e) = out.get(start..).and_then(|s| s.rfind('e')) {
            out.truncate(start + e);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{}", exp.unsigned_abs());
    } else if f == 0.0 {
        out.push_str(if f.is_sign_negative() { "-0" } else { "0" });
    } else {
        let _ = write!(out, "{f}");
    }
    true
}

/// A JSON string with Go's escaping (HTML-sensitive characters and the JS
/// line separators escaped, as `json.Marshal` does by default).
pub(crate) fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        let _ = match c {
            '"' => write!(out, "\\\""),
            '\\' => write!(out, "\\\\"),
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            '\t' => write!(out, "\\t"),
            '\u{8}' => write!(out, "\\b"),
            '\u{c}' => write!(out, "\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => write!(out, "\\u{:04x}", c as u32),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32),
            c => {
                out.push(c);
                Ok(())
            }
        };
    }
    out.push('"');
}

/// Go's `url.QueryEscape`: unreserved bytes stay, space becomes `+`, every other byte `%XX`.
pub(crate) fn url_query_escape(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        let _ = match c {
            '\\' => write!(out, "\\\\"),
            '\'' => write!(out, "\\'"),
            '"' => write!(out, "\\\""),
            '<' | '>' | '&' | '=' => write!(out, "\\u{:04X}", c as u32),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04X}", c as u32),
            c if c.is_ascii() || is_print(c) => {
                out.push(c);
                Ok(())
            }
            c => write!(out, "\\u{:04X}", c as u32),
        };
    }
}

/// A parsed `printf` directive.
#[derive(Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's limit on widths and precisions (larger ones are reported).
const MAX_WIDTH: usize = 1_000_000;

/// Go's `fmt.Sprintf` for the verbs `v s d q x X o b c U t f F e E g G %`
/// with flags `+ - # 0`, width and precision (also `*`). Argument-count
/// mismatches print as Go does (`%!s(MISSING)`, `%!(EXTRA ...)`).
pub(crate) fn printf(out: &mut String, format: &str, args: &[Value<'_>]) {
    let bytes = format.as_bytes();
    let mut next_arg = 0;
    let mut i = 0;
    let mut literal = 0;
    while i < bytes.len() {
        if bytes.get(i) != Some(&b'%') {
            i += 1;
            continue;
        }
        out.push_str(format.get(literal..i).unwrap_or_default());
        i += 1;
        let mut spec = Spec::default();
        while let Some(b) = bytes.get(i) {
            match b {
                b'+' => spec.plus = true,
                b'-' => spec.minus = true,
                b'#' => spec.sharp = true,
                b'0' => spec.zero = true,
                b' ' => {}
                _ => break,
            }
            i += 1;
        }
        let mut bad_width = false;
        if bytes.get(i) == Some(&b'*') {
            i += 1;
            match args.get(next_arg) {
                Some(Value::Int(w)) => {
                    if *w < 0 {
                        spec.minus = true;
                    }
                    match usize::try_from(w.unsigned_abs()) {
                        Ok(w) if w <= MAX_WIDTH => spec.width = Some(w),
                        _ => bad_width = true,
                    }
                }
                _ => bad_width = true,
            }
            next_arg += 1;
        } else {
            let (n, used) = digits(bytes, i);
            i += used;
            if used > 0 {
                if n > MAX_WIDTH {
                    bad_width = true;
                } else {
                    spec.width = Some(n);
                }
            }
        }
        if bad_width {
            out.push_str("%!(BADWIDTH)");
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if bytes.get(i) == Some(&b'*') {
                i += 1;
                match args.get(next_arg) {
                    Some(Value::Int(p)) if *p >= 0 && *p as u64 <= MAX_WIDTH as u64 => {
                        spec.prec = usize::try_from(*p).ok();
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                next_arg += 1;
            } else {
                let (n, used) = digits(bytes, i);
                i += used;
                if n > MAX_WIDTH {
                    out.push_str("%!(BADPREC)");
                } else {
                    spec.prec = Some(n);
                }
            }
        }
        let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
            out.push_str("%!(NOVERB)");
            literal = bytes.len();
            break;
        };
        i += verb.len_utf8();
        literal = i;
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next_arg) {
            Some(arg) => fmt_verb(out, arg, spec, verb),
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
        }
        next_arg += 1;
    }
    out.push_str(format.get(literal..).unwrap_or_default());
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (n, arg) in args.iter().skip(next_arg).enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            if !matches!(
                arg,
                Value::Missing | Value::Null | Value::Json(serde_json::Value::Null)
            ) {
                out.push_str(go_type(arg));
                out.push('=');
            }
            write_v(out, arg, "<nil>");
        }
        out.push(')');
    }
}

/// Parses decimal digits at `i`: (value, bytes used). Saturates on overflow.
fn digits(bytes: &[u8], i: usize) -> (usize, usize) {
    let mut n: usize = 0;
    let mut used = 0;
    while let Some(b) = bytes.get(i + used).filter(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(usize::from(b - b'0'));
        used += 1;
    }
    (n, used)
}

/// Formats one argument; collections are formatted element by element, as
/// Go does.
fn fmt_verb(out: &mut String, v: &Value<'_>, spec: Spec, verb: char) {
    match v {
        Value::Missing | Value::Null | Value::Json(serde_json::Value::Null) => {
            let start = out.len();
            if verb == 'v' {
                out.push_str("<nil>");
            } else {
                let _ = write!(out, "%!{verb}(<nil>)");
            }
            pad(out, start, spec, false);
        }
        Value::Bool(b) | Value::Json(serde_json::Value::Bool(b)) => {
            let start = out.len();
            if matches!(verb, 'v' | 't') {
                out.push_str(if *b { "true" } else { "false" });
                pad(out, start, spec, false);
            } else {
                bad_verb(out, verb, v);
            }
        }
        Value::Int(i) => fmt_int(out, *i, spec, verb, v),
        Value::Float(f) => fmt_float(out, *f, spec, verb, v),
        Value::Json(serde_json::Value::Number(n)) => {
            fmt_float(out, n.as_f64().unwrap_or(0.0), spec, verb, v)
        }
        Value::Str(s) => fmt_str(out, s, spec, verb),
        Value::Json(serde_json::Value::String(s)) => fmt_str(out, s, spec, verb),
        Value::Json(serde_json::Value::Array(a)) => join(out, "[", ' ', ']', a, |out, item| {
            fmt_verb(out, &Value::Json(item), spec, verb);
        }),
        Value::Json(serde_json::Value::Object(m)) => {
            join(out, "map[", ' ', ']', sorted_map(m), |out, (k, item)| {
                fmt_str(out, k, spec, verb);
                out.push(':');
                fmt_verb(out, &Value::Json(item), spec, verb);
            });
        }
        Value::Strings(list) => join(out, "[", ' ', ']', list.iter(), |out, s| {
            fmt_str(out, s, spec, verb);
        }),
        Value::List(list) => join(out, "[", ' ', ']', list.iter(), |out, item| {
            fmt_verb(out, item, spec, verb);
        }),
        Value::Header(h) => header_map(out, h, "map[", ' ', ']', |out, s| {
            fmt_str(out, s, spec, verb);
        }),
        Value::Object(d) => match d.field("String") {
            Value::Str(s) => fmt_str(out, &s, spec, verb),
            _ => {
                let start = out.len();
                out.push_str("{}");
                pad(out, start, spec, false);
            }
        },
    }
}

/// `%!d(string=abc)`: Go's report of a verb that does not fit the value.
fn bad_verb(out: &mut String, verb: char, v: &Value<'_>) {
    let _ = write!(out, "%!{verb}({}=", go_type(v));
    write_v(out, v, "<nil>");
    out.push(')');
}

fn fmt_str(out: &mut String, s: &str, spec: Spec, verb: char) {
    let start = out.len();
    match verb {
        'v' | 's' => match spec.prec {
            Some(p) => out.extend(s.chars().take(p)),
            None => out.push_str(s),
        },
        'q' => quote(out, s, spec.plus),
        'x' | 'X' => {
            if spec.sharp {
                out.push_str(if verb == 'x' { "0x" } else { "0X" });
            }
            for b in s.bytes() {
                let _ = if verb == 'x' {
                    write!(out, "{b:02x}")
                } else {
                    write!(out, "{b:02X}")
                };
            }
        }
        // An element of a collection reports itself, not the collection.
        _ => {
            let _ = write!(out, "%!{verb}(string={s})");
        }
    }
    pad(out, start, spec, false);
}

fn fmt_int(out: &mut String, i: i64, spec: Spec, verb: char, whole: &Value<'_>) {
    let start = out.len();
    let sign = if i < 0 {
        "-"
    } else if spec.plus {
        "+"
    } else {
        ""
    };
    let mag = i.unsigned_abs();
    let _ = match verb {
        'v' | 'd' => write!(out, "{sign}{mag}"),
        'x' => write!(out, "{sign}{}{mag:x}", if spec.sharp { "0x" } else { "" }),
        'X' => write!(out, "{sign}{}{mag:X}", if spec.sharp { "0X" } else { "" }),
        'o' => write!(out, "{sign}{}{mag:o}", if spec.sharp { "0" } else { "" }),
        'O' => write!(out, "{sign}0o{mag:o}"),
        'b' => write!(out, "{sign}{mag:b}"),
        'c' => {
            out.push(
                u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}'),
            );
            Ok(())
        }
        'q' => {
            quote_rune(
                out,
                u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}'),
                spec.plus,
            );
            Ok(())
        }
        'U' => write!(out, "U+{mag:04X}"),
        _ => {
            bad_verb(out, verb, whole);
            return;
        }
    };
    pad(out, start, spec, true);
}

fn fmt_float(out: &mut String, f: f64, spec: Spec, verb: char, whole: &Value<'_>) {
    let start = out.len();
    if spec.plus && f >= 0.0 {
        out.push('+');
    }
    match verb {
        'v' | 'g' | 'G' => write_float(out, f),
        'f' | 'F' => {
            let _ = write!(out, "{f:.*}", spec.prec.unwrap_or(6));
        }
        'e' | 'E' => {
            let at = out.len();
            let _ = write!(out, "{f:.*e}", spec.prec.unwrap_or(6));
            go_exponent(out, at);
            if verb == 'E' {
                let upper = out.get(at..).unwrap_or_default().to_ascii_uppercase();
                out.truncate(at);
                out.push_str(&upper);
            }
        }
        _ => {
            out.truncate(start);
            bad_verb(out, verb, whole);
            return;
        }
    }
    pad(out, start, spec, true);
}

/// Pads what was written since `start` to the spec's width (in characters).
fn pad(out: &mut String, start: usize, spec: Spec, numeric: bool) {
    let Some(width) = spec.width else {
        return;
    };
    let len = out.get(start..).map_or(0, |s| s.chars().count());
    if len >= width {
        return;
    }
    let n = width - len;
    if spec.minus {
        out.extend(std::iter::repeat_n(' ', n));
    } else if spec.zero && numeric {
        let at = if out.get(start..).is_some_and(|s| s.starts_with(['+', '-'])) {
            start + 1
        } else {
            start
        };
        out.insert_str(at, &"0".repeat(n));
    } else {
        out.insert_str(start, &" ".repeat(n));
    }
}
