//! The `glob` strategy: `<...>` sections are globs with `.` and `/` as separators.
//!
//! `*` matches within one segment (crossing neither `.` nor `/`), `**` matches across, `?` one
//! non-separator character, `[abc]`, `[a-z]`, `[!abc]` one character of (or not of) a set,
//! `{a,b}` one of the alternatives (each itself a glob), and `\x` a literal `x`. A glob
//! translates to a regular expression for the linear-time engine.

const SEPARATORS: &str = "./";

/// Deepest `{` nesting accepted: the translation recurses once per level, and a deeper glob
/// (thousands of `{`) would overflow the stack (found while fuzzing the matcher).
const MAX_BRACE_DEPTH: usize = 32;

/// Translates one glob section into regular-expression syntax.
pub fn to_regex(glob: &str) -> Result<String, String> {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::with_capacity(glob.len() * 2);
    let mut pos = 0;
    translate(&chars, &mut pos, &mut out, 0)?;
    Ok(out)
}

fn translate(
    chars: &[char],
    pos: &mut usize,
    out: &mut String,
    braces: usize,
) -> Result<(), String> {
    let any_but_sep = format!("[^{}]", regex_syntax::escape(SEPARATORS));
    while *pos < chars.len() {
        let c = chars[*pos];
        match c {
            '*' if chars.get(*pos + 1) == Some(&'*') => {
                out.push_str(".*");
                *pos += 2;
            }
            '*' => {
                out.push_str(&any_but_sep);
                out.push('*');
                *pos += 1;
            }
            '?' => {
                out.push_str(&any_but_sep);
                *pos += 1;
            }
            '[' => {
                *pos += 1;
                class(chars, pos, out)?;
            }
            '{' if braces >= MAX_BRACE_DEPTH => {
                return Err(format!(
                    "glob nests \"{{\" more than {MAX_BRACE_DEPTH} deep"
                ));
            }
            '{' => {
                *pos += 1;
                out.push_str("(?:");
                translate(chars, pos, out, braces + 1)?;
                if chars.get(*pos) != Some(&'}') {
                    return Err("unclosed \"{\" in glob".to_owned());
                }
                out.push(')');
                *pos += 1;
            }
            ',' if braces > 0 => {
                out.push('|');
                *pos += 1;
            }
            '}' if braces > 0 => return Ok(()),
            '\\' => {
                let escaped = chars.get(*pos + 1).ok_or("trailing \"\\\" in glob")?;
                out.push_str(&regex_syntax::escape(&escaped.to_string()));
                *pos += 2;
            }
            other => {
                out.push_str(&regex_syntax::escape(&other.to_string()));
                *pos += 1;
            }
        }
    }
    if braces > 0 {
        return Err("unclosed \"{\" in glob".to_owned());
    }
    Ok(())
}

fn class(chars: &[char], pos: &mut usize, out: &mut String) -> Result<(), String> {
    out.push('[');
    if chars.get(*pos) == Some(&'!') {
        out.push('^');
        *pos += 1;
    }
    let start = *pos;
    while *pos < chars.len() && chars[*pos] != ']' {
        let c = chars[*pos];
        if c == '-' && *pos > start && chars.get(*pos + 1).is_some_and(|n| *n != ']') {
            out.push('-');
        } else {
            // Escape everything that is not alphanumeric: class syntax differs between glob
            // and regex (`&&`, `~~`, `[:`), and an escaped character is always itself.
            if !c.is_alphanumeric() {
                out.push('\\');
            }
            out.push(c);
        }
        *pos += 1;
    }
    if *pos >= chars.len() {
        return Err("unclosed \"[\" in glob".to_owned());
    }
    if *pos == start {
        return Err("empty \"[]\" in glob".to_owned());
    }
    *pos += 1;
    out.push(']');
    Ok(())
}
