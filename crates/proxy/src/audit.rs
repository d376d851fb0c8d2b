//! The audit log: one line per decision, so an operator can tell who was let in where.
//!
//! Allowed requests are written at `info`, denials at `warn` (so `log.level: warn` keeps only
//! denials, `error` none), in the configured `log.format`, on the same stream and in the same
//! shape as the server's other log lines (target `oathkeeper::audit`). A line holds the original
//! method, the URL the rules were matched against (query dropped), the rule id, the subject, the
//! result, the status, the reason of a denial and the latency; never tokens, cookies or other
//! header values. A refused request also logs the path it forwarded (query dropped), escaped.
//!
//! Why not `tracing::info!`: formatting an event through `tracing-subscriber` costs about 33,000
//! instructions, 1.5 times a whole decision (callgrind, BENCHMARKS.md). Here a line is written
//! into a reused per-thread buffer (the timestamp's date and time formatted once a second) and
//! handed to the log writer thread, which batches writes: a few percent of a decision.

use std::cell::RefCell;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use oathkeeper_core::config::{LogFormat, LogLevel};
use tracing_appender::non_blocking::NonBlocking;

/// The `tracing` target the audit lines carry, as other log lines carry theirs.
pub const TARGET: &str = "oathkeeper::audit";

/// Writes audit lines; built once at start (log settings need a restart).
#[derive(Clone)]
pub struct AuditLog {
    allowed: bool,
    denied: bool,
    json: bool,
    writer: Option<NonBlocking>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("allowed", &self.allowed)
            .field("denied", &self.denied)
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

/// One decision, as the audit log records it. Empty text fields are left out.
#[derive(Debug, Default)]
pub struct Entry<'a> {
    /// Let through (`info`) or not (`warn`).
    pub allowed: bool,
    /// The message: "access request granted", "... denied" or "... refused".
    pub message: &'static str,
    /// The original method.
    pub method: &'a str,
    /// The URL the rules were matched against.
    pub url: &'a str,
    /// The rule id.
    pub rule: &'a str,
    /// The authenticated subject.
    pub subject: &'a str,
    /// `allowed` or the denial kind.
    pub result: &'static str,
    /// Why it was denied.
    pub reason: &'a str,
    /// The path a refused request forwarded (bytes as received, query dropped).
    pub forwarded_path: Option<&'a [u8]>,
    /// The answer's status.
    pub status: u16,
    /// Time spent deciding, in microseconds.
    pub latency_us: u64,
}

impl AuditLog {
    /// An audit log writing to `writer` as `level` and `format` say.
    pub fn new(level: LogLevel, format: LogFormat, writer: NonBlocking) -> AuditLog {
        let at_least = |min: LogLevel| level_rank(level) >= level_rank(min);
        AuditLog {
            allowed: at_least(LogLevel::Info),
            denied: at_least(LogLevel::Warn),
            json: format != LogFormat::Text,
            writer: Some(writer),
        }
    }

    /// An audit log that writes nothing (library users and tests that do not read it).
    pub fn off() -> AuditLog {
        AuditLog {
            allowed: false,
            denied: false,
            json: false,
            writer: None,
        }
    }

    /// Writes the line of one decision, if its level is enabled.
    pub fn record(&self, entry: &Entry<'_>) {
        let Some(writer) = &self.writer else { return };
        if !(if entry.allowed {
            self.allowed
        } else {
            self.denied
        }) {
            return;
        }
        LINE.with(|line| {
            // invariant: `record` does not re-enter itself, so the buffer is never borrowed twice;
            // `try_borrow_mut` keeps a future mistake from panicking on the request path.
            let Ok(mut line) = line.try_borrow_mut() else {
                return;
            };
            let line = &mut *line;
            line.buf.clear();
            line.stamp(SystemTime::now());
            if self.json {
                line.json(entry);
            } else {
                line.text(entry);
            }
            // The writer thread owns the stream; a full channel makes this wait rather than
            // drop an audit line.
            let _ = writer.clone().write_all(&line.buf);
        });
    }
}

fn level_rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Panic | LogLevel::Fatal | LogLevel::Error => 0,
        LogLevel::Warn => 1,
        LogLevel::Info => 2,
        LogLevel::Debug => 3,
        LogLevel::Trace => 4,
    }
}

thread_local! {
    static LINE: RefCell<Line> = const {
        RefCell::new(Line { buf: Vec::new(), second: u64::MAX, micros: 0, date_time: String::new() })
    };
}

/// A worker thread's line buffer and its cached `YYYY-MM-DDTHH:MM:SS`.
struct Line {
    buf: Vec<u8>,
    second: u64,
    micros: u32,
    date_time: String,
}

impl Line {
    fn stamp(&mut self, now: SystemTime) {
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = since.as_secs();
        self.micros = since.subsec_micros();
        if second != self.second {
            self.second = second;
            self.date_time = i64::try_from(second)
                .ok()
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .map(|t| t.to_string().trim_end_matches('Z').to_owned())
                .unwrap_or_default();
        }
    }

    /// `2026-12-06T05:41:53.123456Z`.
    fn timestamp(&mut self) {
        self.buf.extend_from_slice(self.date_time.as_bytes());
        let mut digits = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
        let mut micros = self.micros;
        for digit in digits[1..7].iter_mut().rev() {
            // invariant: `micros % 10` is a single digit.
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        self.buf.extend_from_slice(&digits);
    }

    /// tracing-subscriber's JSON shape: `{"timestamp","level","fields":{...},"target"}`.
    fn json(&mut self, e: &Entry<'_>) {
        let buf = &mut self.buf;
        buf.extend_from_slice(b"{\"timestamp\":\"");
        self.timestamp();
        let buf = &mut self.buf;
        buf.extend_from_slice(if e.allowed {
            b"\",\"level\":\"INFO\",\"fields\":{\"message\":"
        } else {
            b"\",\"level\":\"WARN\",\"fields\":{\"message\":"
        });
        json_string(buf, e.message);
        let forwarded = e.forwarded_path.map(String::from_utf8_lossy);
        for (name, value) in fields(e, forwarded.as_deref()) {
            if !value.is_empty() {
                buf.extend_from_slice(b",\"");
                buf.extend_from_slice(name.as_bytes());
                buf.extend_from_slice(b"\":");
                json_string(buf, value);
            }
        }
        buf.extend_from_slice(b",\"status\":");
        buf.extend_from_slice(itoa::Buffer::new().format(e.status).as_bytes());
        buf.extend_from_slice(b",\"latency_us\":");
        buf.extend_from_slice(itoa::Buffer::new().format(e.latency_us).as_bytes());
        buf.extend_from_slice(b"},\"target\":\"");
        buf.extend_from_slice(TARGET.as_bytes());
        buf.extend_from_slice(b"\"}\n");
    }

    /// tracing-subscriber's text shape: `timestamp  LEVEL target: message key=value ...`.
    fn text(&mut self, e: &Entry<'_>) {
        self.timestamp();
        let buf = &mut self.buf;
        buf.extend_from_slice(if e.allowed { b"  INFO " } else { b"  WARN " });
        buf.extend_from_slice(TARGET.as_bytes());
        buf.extend_from_slice(b": ");
        buf.extend_from_slice(e.message.as_bytes());
        let forwarded = e.forwarded_path.map(String::from_utf8_lossy);
        for (name, value) in fields(e, forwarded.as_deref()) {
            if !value.is_empty() {
                buf.push(b' ');
                buf.extend_from_slice(name.as_bytes());
                buf.push(b'=');
                text_value(buf, value);
            }
        }
        buf.extend_from_slice(b" status=");
        buf.extend_from_slice(itoa::Buffer::new().format(e.status).as_bytes());
        buf.extend_from_slice(b" latency_us=");
        buf.extend_from_slice(itoa::Buffer::new().format(e.latency_us).as_bytes());
        buf.push(b'\n');
    }
}

/// The text fields of a line, in order; `forwarded` is the refused path as text.
fn fields<'a>(e: &Entry<'a>, forwarded: Option<&'a str>) -> [(&'static str, &'a str); 7] {
    [
        ("method", e.method),
        ("url", e.url),
        ("rule", e.rule),
        ("subject", e.subject),
        ("result", e.result),
        ("reason", e.reason),
        ("forwarded_path", forwarded.unwrap_or_default()),
    ]
}

/// A JSON string: quotes, backslashes and control bytes escaped. Plain runs are copied whole.
fn json_string(buf: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    // The common case, checked without branching per byte: nothing to escape.
    if bytes.iter().fold(true, |plain, &b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\') & (b != 0x7f)
    }) {
        buf.reserve(bytes.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(bytes);
        buf.push(b'"');
        return;
    }
    buf.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            b if b < 0x20 || b == 0x7f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.extend_from_slice(b"\\u00");
            buf.push(HEX[usize::from(b >> 4)]);
            buf.push(HEX[usize::from(b & 0xf)]);
        } else {
            buf.extend_from_slice(escape);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// A text value: bare when it is plain, else quoted and escaped as Rust's `Debug` does, so a
/// value cannot forge a field or a line.
fn text_value(buf: &mut Vec<u8>, value: &str) {
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b'=' || b >= 0x80);
    if plain {
        buf.extend_from_slice(value.as_bytes());
    } else {
        let _ = write!(buf, "{value:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(json: bool, entry: &Entry<'_>) -> String {
        let mut line = Line {
            buf: Vec::new(),
            second: u64::MAX,
            micros: 0,
            date_time: String::new(),
        };
        line.stamp(UNIX_EPOCH + std::time::Duration::from_secs(1_780_000_000));
        if json {
            line.json(entry);
        } else {
            line.text(entry);
        }
        String::from_utf8(line.buf).unwrap()
    }

    fn granted() -> Entry<'static> {
        Entry {
            allowed: true,
            message: "access request granted",
            method: "GET",
            url: "https://app.example.com/a b",
            rule: "app:0:deny",
            subject: "user-1",
            result: "allowed",
            status: 200,
            latency_us: 42,
            ..Entry::default()
        }
    }

    #[test]
    fn json_lines_have_tracing_subscribers_shape() {
        let text = line(true, &granted());
        let value: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert!(text.ends_with("}\n"));
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["target"], TARGET);
        assert_eq!(value["fields"]["message"], "access request granted");
        assert_eq!(value["fields"]["url"], "https://app.example.com/a b");
        assert_eq!(value["fields"]["subject"], "user-1");
        assert_eq!(value["fields"]["status"], 200);
        assert_eq!(value["fields"]["latency_us"], 42);
        assert!(
            value["fields"].get("reason").is_none(),
            "empty fields are left out"
        );
        let stamp = value["timestamp"].as_str().unwrap();
        assert!(stamp.starts_with("2026-05-28T"), "{stamp}");
        assert!(stamp.ends_with('Z') && stamp.len() == 27, "{stamp}");
    }

    #[test]
    fn values_cannot_forge_fields_or_lines() {
        let forged = Entry {
            subject: "eve\" admin=\"yes\nFAKE",
            forwarded_path: Some(b"/a\xff\"\n"),
            ..granted()
        };
        let json = line(true, &forged);
        assert_eq!(json.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(value["fields"]["subject"], "eve\" admin=\"yes\nFAKE");
        assert_eq!(value["fields"]["forwarded_path"], "/a\u{fffd}\"\n");
        let text = line(false, &forged);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains(r#"subject="eve\" admin=\"yes\nFAKE""#),
            "{text}"
        );
        assert!(
            text.contains(" url=\"https://app.example.com/a b\""),
            "{text}"
        );
        assert!(text.contains(" rule=app:0:deny "), "{text}");
    }

    #[test]
    fn levels_follow_log_level() {
        let (writer, _guard) = tracing_appender::non_blocking(std::io::sink());
        let at = |level| AuditLog::new(level, LogFormat::Json, writer.clone());
        assert!(at(LogLevel::Info).allowed && at(LogLevel::Info).denied);
        assert!(!at(LogLevel::Warn).allowed && at(LogLevel::Warn).denied);
        assert!(!at(LogLevel::Error).allowed && !at(LogLevel::Error).denied);
        assert!(at(LogLevel::Debug).allowed);
    }
}
