//! Alert rules shipped with the charm: the files in `charm/prometheus_alert_rules/` and
//! `charm/loki_alert_rules/`, embedded in the binary, and their rendering into the
//! `alert_rules` databag values of `metrics-endpoint` and `logging`.
//!
//! The rendering does what the COS libraries' `AlertRules` does with a charm's rule files:
//!
//! - a file holds either Prometheus' official format (`groups: [{name, rules}]`) or a single
//!   rule (`alert` and `expr` at the top); a single rule becomes a group named after the file;
//! - every group is renamed `<model>_<uuid[:8]>_<app>_<name>_alerts` (characters outside
//!   `[a-zA-Z0-9_:]` replaced by `_`);
//! - every rule gets the topology labels it does not set itself (`juju_model`,
//!   `juju_model_uuid`, `juju_application`, `juju_charm`);
//! - in every expression, `%%juju_topology%%` (and a comma after it) is removed (PromQL) or
//!   becomes `job=~".+"` (LogQL), and every selector is narrowed to the rule's
//!   `juju_model`, `juju_model_uuid` and `juju_application` (the library has `cos-tool` do
//!   that; here [`inject_promql`] and [`inject_logql`] do).
//!
//! Pure: no I/O, the files are `include_str!`ed.

use std::ops::Range;

use serde_json::{Map, Value};

use crate::relation::json_dumps;
use crate::topology::Topology;

/// One rule file of the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleFile {
    /// Its name in its directory, e.g. `availability.rules`.
    pub name: &'static str,
    /// Its text.
    pub text: &'static str,
}

macro_rules! rule_files {
    ($dir:literal: $($name:literal),+ $(,)?) => {
        &[$(RuleFile {
            name: $name,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../charm/", $dir, "/", $name)),
        }),+]
    };
}

/// The repository directory of [`PROMETHEUS_RULES`], from the workspace root.
pub const PROMETHEUS_RULES_DIR: &str = "charm/prometheus_alert_rules";
/// The repository directory of [`LOKI_RULES`], from the workspace root.
pub const LOKI_RULES_DIR: &str = "charm/loki_alert_rules";

/// Prometheus alert rules (PromQL), for `metrics-endpoint`.
pub const PROMETHEUS_RULES: &[RuleFile] = rule_files!("prometheus_alert_rules":
    "availability.rules",
    "decisions.rules",
    "session_store.rules",
    "sources.rules",
);

/// Loki alert rules (LogQL), for `logging`.
pub const LOKI_RULES: &[RuleFile] = rule_files!("loki_alert_rules": "high_severity_log.rules");

/// The placeholder a rule expression may hold for the topology matchers.
pub const TOPOLOGY_PLACEHOLDER: &str = "%%juju_topology%%";

/// The query language of a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Prometheus.
    PromQl,
    /// Loki.
    LogQl,
}

/// Why a rule file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleFileError {
    /// Not YAML.
    #[error("rule file {file}: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// Neither the official format nor a single rule.
    #[error("rule file {file}: neither `groups` nor a single rule with `alert` and `expr`")]
    Format {
        /// The file.
        file: String,
    },
}

/// The groups of one file, with topology, as the library renders them.
pub fn render_file(
    file: &RuleFile,
    language: Language,
    topology: &Topology,
) -> Result<Vec<Value>, RuleFileError> {
    let parsed: Value = serde_norway::from_str(file.text).map_err(|e| RuleFileError::Yaml {
        file: file.name.to_owned(),
        message: e.to_string(),
    })?;
    let format = || RuleFileError::Format {
        file: file.name.to_owned(),
    };
    let groups = match parsed {
        Value::Object(mut map) if map.contains_key("groups") => match map.remove("groups") {
            Some(Value::Array(groups)) => groups,
            _ => return Err(format()),
        },
        Value::Object(map) if map.contains_key("alert") && map.contains_key("expr") => {
            let stem = file.name.split('.').next().unwrap_or(file.name);
            let mut group = Map::new();
            group.insert("name".to_owned(), Value::String(stem.to_owned()));
            group.insert("rules".to_owned(), Value::Array(vec![Value::Object(map)]));
            vec![Value::Object(group)]
        }
        _ => return Err(format()),
    };
    groups
        .into_iter()
        .map(|group| match group {
            Value::Object(group) => Ok(Value::Object(render_group(group, language, topology))),
            _ => Err(format()),
        })
        .collect()
}

fn render_group(
    mut group: Map<String, Value>,
    language: Language,
    topology: &Topology,
) -> Map<String, Value> {
    let name = group
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = format!("{}_{name}_alerts", topology.identifier());
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    group.insert("name".to_owned(), Value::String(name));
    if let Some(Value::Array(rules)) = group.get_mut("rules") {
        for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
            render_rule(rule, language, topology);
        }
    }
    group
}

fn render_rule(rule: &mut Map<String, Value>, language: Language, topology: &Topology) {
    let labels = rule
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(labels) = labels.as_object_mut() else {
        return;
    };
    for (key, value) in topology.labels() {
        labels
            .entry(key)
            .or_insert_with(|| Value::String(value.to_owned()));
    }
    let matchers: Vec<(String, String)> = ["juju_model", "juju_model_uuid", "juju_application"]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), labels.get(k)?.as_str()?.to_owned())))
        .collect();
    if let Some(Value::String(expr)) = rule.get_mut("expr") {
        *expr = match language {
            Language::PromQl => inject_promql(&strip_placeholder(expr, ""), &matchers),
            Language::LogQl => inject_logql(&strip_placeholder(expr, r#"job=~".+""#), &matchers),
        };
    }
}

/// `%%juju_topology%%` and one comma right after it replaced by `with`.
fn strip_placeholder(expr: &str, with: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find(TOPOLOGY_PLACEHOLDER) {
        out.push_str(&rest[..at]);
        out.push_str(with);
        rest = &rest[at + TOPOLOGY_PLACEHOLDER.len()..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    out.push_str(rest);
    out
}

/// The `alert_rules` databag value: `{"groups": [...]}` of every file, `json.dumps`-style.
/// A file that does not parse is left out, as the library does (the tests prove ours parse).
pub fn databag_value(files: &[RuleFile], language: Language, topology: &Topology) -> String {
    let groups: Vec<Value> = files
        .iter()
        .filter_map(|file| render_file(file, language, topology).ok())
        .flatten()
        .collect();
    let mut map = Map::new();
    if !groups.is_empty() {
        map.insert("groups".to_owned(), Value::Array(groups));
    }
    json_dumps(&Value::Object(map))
}

/// A vector selector found in a PromQL expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name, when the selector has one.
    pub name: Option<Range<usize>>,
    /// The label matchers, `{` to `}` included, when the selector has them.
    pub matchers: Option<Range<usize>>,
    /// Where the selector ends (where matchers go when it has none).
    pub end: usize,
}

/// Aggregation operators: an identifier, never a metric, even before `by`/`without`.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Other keywords and literals.
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end",
];

/// The vector selectors of a PromQL expression, in order. A lexical scan: strings, comments,
/// ranges and label lists are skipped; an identifier is a metric name unless it is a keyword
/// or an aggregation or is followed by `(` (a function).
pub fn promql_selectors(expr: &str) -> Vec<Selector> {
    let bytes = expr.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    let ident_start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b == b':';
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' | b'`' => i = skip_string(bytes, i),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'[' => i = skip_until(bytes, i, b']'),
            b'{' => {
                let end = skip_braces(bytes, i);
                found.push(Selector {
                    name: None,
                    matchers: Some(i..end),
                    end,
                });
                i = end;
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
            }
            _ if ident_start(b) => {
                let start = i;
                while i < bytes.len() && ident(bytes[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let mut next = i;
                while next < bytes.len() && bytes[next].is_ascii_whitespace() {
                    next += 1;
                }
                let lower = word.to_ascii_lowercase();
                if LABEL_LISTS.contains(&lower.as_str()) {
                    if bytes.get(next) == Some(&b'(') {
                        i = skip_until(bytes, next, b')');
                    }
                } else if AGGREGATIONS.contains(&lower.as_str())
                    || KEYWORDS.contains(&lower.as_str())
                    || bytes.get(next) == Some(&b'(')
                {
                    // A function, an aggregation or a keyword.
                } else if bytes.get(next) == Some(&b'{') {
                    let end = skip_braces(bytes, next);
                    found.push(Selector {
                        name: Some(start..i),
                        matchers: Some(next..end),
                        end,
                    });
                    i = end;
                } else {
                    found.push(Selector {
                        name: Some(start..i),
                        matchers: None,
                        end: i,
                    });
                }
            }
            _ => i += 1,
        }
    }
    found
}

/// The index after the string literal starting at `start`.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the first `close` from `start`, strings skipped.
fn skip_until(bytes: &[u8], start: usize, close: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => i = skip_string(bytes, i),
            c if c == close => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the `}` closing the `{` at `start`.
fn skip_braces(bytes: &[u8], start: usize) -> usize {
    skip_until(bytes, start, b'}')
}

/// `k="v",…` with PromQL string escapes.
fn matcher_text(matchers: &[(String, String)]) -> String {
    matchers
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(",")
}

/// `braces` (`{…}`) with `extra` matchers added, into `out` (unclosed braces stay as they are).
fn push_braces_with(out: &mut String, braces: &str, extra: &str) {
    let Some(inner) = braces.strip_prefix('{').and_then(|b| b.strip_suffix('}')) else {
        out.push_str(braces);
        return;
    };
    let inner = inner.trim_end();
    out.push('{');
    out.push_str(inner);
    if !inner.trim().is_empty() && !inner.ends_with(',') {
        out.push(',');
    }
    out.push_str(extra);
    out.push('}');
}

/// `expr` with `matchers` added to every vector selector.
pub fn inject_promql(expr: &str, matchers: &[(String, String)]) -> String {
    if matchers.is_empty() {
        return expr.to_owned();
    }
    let extra = matcher_text(matchers);
    let mut out = String::with_capacity(expr.len() + 64);
    let mut copied = 0;
    for selector in promql_selectors(expr) {
        match selector.matchers {
            Some(range) => {
                out.push_str(&expr[copied..range.start]);
                push_braces_with(&mut out, &expr[range.clone()], &extra);
                copied = range.end;
            }
            None => {
                out.push_str(&expr[copied..selector.end]);
                out.push('{');
                out.push_str(&extra);
                out.push('}');
                copied = selector.end;
            }
        }
    }
    out.push_str(&expr[copied..]);
    out
}

/// `expr` with `matchers` added to every stream selector (`{…}` outside strings).
pub fn inject_logql(expr: &str, matchers: &[(String, String)]) -> String {
    if matchers.is_empty() {
        return expr.to_owned();
    }
    let extra = matcher_text(matchers);
    let bytes = expr.as_bytes();
    let mut out = String::with_capacity(expr.len() + 64);
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => i = skip_string(bytes, i),
            b'{' => {
                let end = skip_braces(bytes, i);
                out.push_str(&expr[copied..i]);
                push_braces_with(&mut out, &expr[i..end], &extra);
                copied = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&expr[copied..]);
    out
}

#[cfg(test)]
mod tests;
