//! Small text helpers of the fake Pebble: RFC 3339 times, query strings, command lines.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// `time` as RFC 3339 UTC with nanoseconds, as Pebble writes times.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time).map_or_else(|_| String::new(), |t| format!("{t:.9}"))
}

/// Now, as [`rfc3339`].
pub(crate) fn now() -> String {
    rfc3339(SystemTime::now())
}

/// Decodes `%XX` and `+` of a query component.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parameters of a query string; a repeated key keeps every value in order.
pub(crate) fn query(text: Option<&str>) -> BTreeMap<String, Vec<String>> {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in text.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.entry(decode(key)).or_default().push(decode(value));
    }
    params
}

/// The comma-separated values of every `key` parameter (`names=a,b&names=c`).
pub(crate) fn list(params: &BTreeMap<String, Vec<String>>, key: &str) -> Vec<String> {
    params
        .get(key)
        .into_iter()
        .flatten()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits a layer `command` as Pebble does (shell-like words, no shell): quotes and
/// backslashes group, and the `[ ... ]` brackets around default arguments are dropped (the
/// defaults stay).
pub(crate) fn split_command(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    let unterminated = || format!("cannot parse command {command:?}: unterminated quote");
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next().ok_or_else(unterminated)? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next().ok_or_else(unterminated)? {
                        '"' => break,
                        '\\' => word.push(chars.next().ok_or_else(unterminated)?),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words.retain(|w| w != "[" && w != "]");
    Ok(words)
}

/// Whether `name` matches the glob `pattern` (`*`, `?`; no character classes).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    fn matches(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| matches(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && matches(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && matches(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn queries_decode_and_lists_split_on_commas() {
        let q = query(Some("action=read&path=%2Fetc%2Fa+b&names=a,b&names=c&x"));
        assert_eq!(q["path"], ["/etc/a b"]);
        assert_eq!(list(&q, "names"), ["a", "b", "c"]);
        assert_eq!(q["x"], [""]);
        assert_eq!(query(Some("p=%zz%4"))["p"], ["%zz%4"]);
    }

    #[test]
    fn commands_split_like_pebble_with_default_arguments() {
        assert_eq!(
            split_command("oathkeeper serve -c '/etc/a b.yaml' [ --debug \"x y\" ]").unwrap(),
            [
                "oathkeeper",
                "serve",
                "-c",
                "/etc/a b.yaml",
                "--debug",
                "x y"
            ]
        );
        assert!(split_command("sh -c 'unterminated").is_err());
    }

    #[test]
    fn globs_match_names() {
        assert!(glob_match("*.conf", "app.conf"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("*.conf", "app.yaml"));
    }
}
