//! The debug log: `juju-log` (spec/juju-runtime.md §2.2). Immediate, not transactional.

use super::{END_OF_FLAGS, argv};

/// `juju-log`.
pub const JUJU_LOG: &str = "juju-log";
/// `--log-level`.
pub const LOG_LEVEL_FLAG: &str = "--log-level";
/// The longest message, in characters, ops sends in one call; longer ones are split.
pub const MAX_MESSAGE_CHARS: usize = 131_071;

/// A `juju-log` level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LogLevel {
    /// `TRACE`.
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARNING`.
    Warning,
    /// `ERROR`.
    Error,
    /// `CRITICAL`.
    Critical,
}

impl LogLevel {
    /// The level as `juju-log` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }
}

/// `juju-log --log-level <LEVEL> -- <message>`. `message` must fit one call: see
/// [`split_message`].
pub fn juju_log_args(level: LogLevel, message: &str) -> Vec<String> {
    argv(
        JUJU_LOG,
        [LOG_LEVEL_FLAG, level.as_str(), END_OF_FLAGS, message],
    )
}

/// Splits `message` into pieces of at most [`MAX_MESSAGE_CHARS`] characters, on character
/// boundaries. An empty message is one empty piece.
pub fn split_message(message: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = message;
    loop {
        let end = rest
            .char_indices()
            .nth(MAX_MESSAGE_CHARS)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        if tail.is_empty() {
            return pieces;
        }
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn juju_log_passes_the_level_and_the_message_after_end_of_flags() {
        assert_eq!(
            juju_log_args(LogLevel::Debug, "hello"),
            ["juju-log", "--log-level", "DEBUG", "--", "hello"]
        );
        let levels = [
            (LogLevel::Trace, "TRACE"),
            (LogLevel::Info, "INFO"),
            (LogLevel::Warning, "WARNING"),
            (LogLevel::Error, "ERROR"),
            (LogLevel::Critical, "CRITICAL"),
        ];
        for (level, text) in levels {
            assert_eq!(juju_log_args(level, "-x")[2], text);
            assert_eq!(juju_log_args(level, "-x")[4], "-x");
        }
    }

    #[test]
    fn long_messages_split_on_character_boundaries() {
        assert_eq!(split_message(""), [""]);
        assert_eq!(split_message("short"), ["short"]);
        let long = "é".repeat(MAX_MESSAGE_CHARS + 5);
        let pieces = split_message(&long);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].chars().count(), MAX_MESSAGE_CHARS);
        assert_eq!(pieces[1].chars().count(), 5);
        assert_eq!(pieces.concat(), long);
        let exact = "a".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(split_message(&exact).len(), 1);
    }
}
