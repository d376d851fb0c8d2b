//! Go's duration text: a sequence of decimal numbers, each with a unit (`ns`, `us`/`µs`,
//! `ms`, `s`, `m`, `h`), optionally signed with `+`; `0` alone needs no unit. Negative
//! durations are refused: every duration we read is a timeout, period or lifetime.

use std::time::Duration;

/// Why a text is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing to read.
    #[error("empty duration")]
    Empty,
    /// A `-` sign: the value would be negative.
    #[error("invalid duration \"{0}\": negative durations are not allowed")]
    Negative(String),
    /// A unit without a number before it, or a number that does not parse.
    #[error("invalid duration \"{0}\": expected a number")]
    Number(String),
    /// A number without a unit after it.
    #[error("invalid duration \"{0}\": missing unit")]
    MissingUnit(String),
    /// A unit Go does not know (`d`, `w`, spaces…).
    #[error("invalid duration \"{text}\": unknown unit \"{unit}\"")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit.
        unit: String,
    },
    /// Too large to represent.
    #[error("invalid duration \"{0}\": out of range")]
    Range(String),
}

/// Parses a Go duration such as `1h2m3.5s`, `100ms`, `+5s` or `0` (surrounding whitespace is
/// ignored).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let owned = || text.to_owned();
    if trimmed.starts_with('-') {
        return Err(DurationError::Negative(owned()));
    }
    let mut rest = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut seconds = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_end == 0 {
            return Err(DurationError::Number(owned()));
        }
        let number: f64 = rest[..number_end]
            .parse()
            .map_err(|_| DurationError::Number(owned()))?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(DurationError::MissingUnit(owned())),
            unit => {
                return Err(DurationError::UnknownUnit {
                    text: owned(),
                    unit: unit.to_owned(),
                });
            }
        };
        seconds += number * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| DurationError::Range(owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        for (text, expected) in [
            ("5s", Duration::from_secs(5)),
            ("120s", Duration::from_secs(120)),
            ("1m30s", Duration::from_secs(90)),
            ("250ms", Duration::from_millis(250)),
            ("300ms", Duration::from_millis(300)),
            ("1.5h", Duration::from_secs(5400)),
            ("1h2m3.5s", Duration::from_millis(3_723_500)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("0", Duration::ZERO),
            (" 5s ", Duration::from_secs(5)),
            // Go accepts a leading plus sign.
            ("+5s", Duration::from_secs(5)),
            ("+0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn what_go_refuses_is_refused_with_the_reason() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("+"), Err(DurationError::Empty));
        for (text, what) in [
            ("5", "missing unit"),
            ("10", "missing unit"),
            ("1s2", "missing unit"),
            ("s", "expected a number"),
            (".s", "expected a number"),
            ("5x", "unknown unit \"x\""),
            ("1d", "unknown unit \"d\""),
            ("5 s", "unknown unit \" s\""),
            ("-1s", "negative"),
        ] {
            let err = parse_duration(text).unwrap_err().to_string();
            assert!(err.contains(what), "{text}: {err}");
            assert!(err.contains(&format!("\"{text}\"")), "{text}: {err}");
        }
    }
}
