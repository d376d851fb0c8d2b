//! The access-rule file format, field for field as Ory Oathkeeper reads it.
//!
//! A rule file holds an array of rules. Decoding follows upstream's fetcher: bytes that are
//! valid JSON are decoded strictly (unknown fields are an error); anything else is read as YAML
//! leniently (unknown fields are ignored). YAML flow syntax covers the Python-repr text that
//! the upstream charm writes (`[{'id': 'app:0:deny', ...}]`). Empty or `null` content is an
//! empty rule list.

use serde::{Deserialize, Serialize};

/// One access rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Unique id (uniqueness is reported, not enforced, as upstream).
    #[serde(default)]
    pub id: String,
    /// The Oathkeeper version the rule was written for (informational).
    #[serde(default)]
    pub version: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// What requests the rule applies to.
    #[serde(default, rename = "match")]
    pub matcher: Match,
    /// Authenticators, tried in order until one is responsible.
    #[serde(default)]
    pub authenticators: Vec<Handler>,
    /// The one authorizer.
    #[serde(default)]
    pub authorizer: Handler,
    /// Mutators, all run in order.
    #[serde(default)]
    pub mutators: Vec<Handler>,
    /// Error handlers for this rule; empty means `errors.fallback`.
    #[serde(default)]
    pub errors: Vec<Handler>,
    /// Where the reverse proxy would forward (unused by the decision API).
    #[serde(default)]
    pub upstream: Upstream,
}

/// The `match` block of a rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// HTTP methods, compared case-insensitively.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The URL pattern, with `<...>` sections in the strategy's syntax.
    #[serde(default)]
    pub url: String,
}

/// A handler reference in a rule: its id and a config merged over the global one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Handler {
    /// The handler id, e.g. `cookie_session`.
    #[serde(default)]
    pub handler: String,
    /// Rule-level config; `null` when absent, as upstream serialises it.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

/// The `upstream` block of a rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    /// Keep the original Host header.
    #[serde(default)]
    pub preserve_host: bool,
    /// Path prefix to strip.
    #[serde(default)]
    pub strip_path: String,
    /// Upstream URL.
    #[serde(default)]
    pub url: String,
}

/// Why a rule file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The file is JSON but does not hold an array of valid rules.
    #[error("invalid JSON rules at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// The file is JSON and a rule has a field upstream does not know.
    #[error("unknown field \"{path}\" in JSON rules (JSON rule files are decoded strictly)")]
    UnknownField {
        /// The path of the field, e.g. `[0].match.urls`.
        path: String,
    },
    /// The file is neither JSON nor YAML holding an array of rules.
    #[error("invalid YAML rules{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Yaml {
        /// 1-based line, when the parser knows it.
        line: Option<usize>,
        /// What was wrong.
        message: String,
    },
}

impl ParseError {
    /// The 1-based line of the problem, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::Json { line, .. } => Some(*line),
            ParseError::UnknownField { .. } => None,
            ParseError::Yaml { line, .. } => *line,
        }
    }
}

/// Parses a rule file: strict JSON when the bytes are JSON, lenient YAML otherwise.
pub fn parse_rules(bytes: &[u8]) -> Result<Vec<Rule>, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    // One pass for the common case: decoding succeeds only on valid JSON. A failure is a
    // JSON error only if the bytes are JSON after all (a wrong type, not a syntax error);
    // checking that costs a second pass, on the rare failing file only.
    let error = match parse_json_strict(bytes) {
        Ok(rules) => return Ok(rules),
        Err(error) => error,
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(error);
    }
    let rules: Option<Vec<Rule>> =
        serde_norway::from_slice(bytes).map_err(|e| ParseError::Yaml {
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
    Ok(rules.unwrap_or_default())
}

/// Decodes JSON rules strictly: the whole input must be JSON (nothing after the array), and
/// a field upstream does not know is an error.
fn parse_json_strict(bytes: &[u8]) -> Result<Vec<Rule>, ParseError> {
    let json_error = |e: serde_json::Error| ParseError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let mut unknown = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let rules: Option<Vec<Rule>> = serde_ignored::deserialize(&mut de, |path| {
        unknown.get_or_insert_with(|| display_path(&path.to_string()));
    })
    .map_err(json_error)?;
    de.end().map_err(json_error)?;
    if let Some(path) = unknown {
        return Err(ParseError::UnknownField { path });
    }
    Ok(rules.unwrap_or_default())
}

/// Turns serde_ignored's `?.0.match.urls` into `[0].match.urls`.
fn display_path(raw: &str) -> String {
    let raw = raw.trim_start_matches("?.");
    match raw.split_once('.') {
        Some((first, rest)) if first.parse::<usize>().is_ok() => format!("[{first}].{rest}"),
        _ => raw.to_owned(),
    }
}

/// Serialises rules as the JSON upstream's `/rules` API returns: every field, `config: null`
/// included.
pub fn to_json(rules: &[Rule]) -> String {
    // invariant: these types serialise infallibly (string keys, no non-finite floats from serde_json values).
    serde_json::to_string(rules).unwrap_or_else(|_| "[]".to_owned())
}

/// Serialises rules as a rules file needs them: like [`to_json`] without an empty `version` or
/// `description`, a `null` handler `config` or a default `upstream`, which read back as the
/// same rules.
pub fn to_file_json(rules: &[Rule]) -> String {
    let rules: Vec<FileRule<'_>> = rules.iter().map(FileRule::from).collect();
    // invariant: as in `to_json`, these types serialise infallibly.
    serde_json::to_string(&rules).unwrap_or_else(|_| "[]".to_owned())
}

/// A [`Rule`] as [`to_file_json`] writes it, fields in the same order.
#[derive(Serialize)]
struct FileRule<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(rename = "match")]
    matcher: &'a Match,
    authenticators: Vec<FileHandler<'a>>,
    authorizer: FileHandler<'a>,
    mutators: Vec<FileHandler<'a>>,
    errors: Vec<FileHandler<'a>>,
    #[serde(skip_serializing_if = "is_default")]
    upstream: &'a Upstream,
}

/// A [`Handler`] without a `null` config.
#[derive(Serialize)]
struct FileHandler<'a> {
    handler: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a serde_json::Value>,
}

impl<'a> From<&'a Handler> for FileHandler<'a> {
    fn from(h: &'a Handler) -> Self {
        FileHandler {
            handler: &h.handler,
            config: h.config.as_ref(),
        }
    }
}

impl<'a> From<&'a Rule> for FileRule<'a> {
    fn from(r: &'a Rule) -> Self {
        let handlers = |hs: &'a [Handler]| hs.iter().map(FileHandler::from).collect();
        FileRule {
            id: &r.id,
            version: &r.version,
            description: &r.description,
            matcher: &r.matcher,
            authenticators: handlers(&r.authenticators),
            authorizer: FileHandler::from(&r.authorizer),
            mutators: handlers(&r.mutators),
            errors: handlers(&r.errors),
            upstream: &r.upstream,
        }
    }
}

fn is_default(upstream: &&Upstream) -> bool {
    **upstream == Upstream::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM_CHARM_PYTHON_REPR: &str = "[{'id': 'requirer:welcome:0:allow', 'match': {'url': '<^(https|http)>://example.com/<welcome((/.*$)|$)>', 'methods': ['GET', 'POST', 'OPTION', 'PUT', 'PATCH', 'DELETE']}, 'authenticators': [{'handler': 'noop'}], 'mutators': [{'handler': 'noop'}], 'authorizer': {'handler': 'allow'}, 'errors': [{'handler': 'json'}]}]";

    #[test]
    fn python_repr_written_by_upstream_charm_loads() {
        let rules = parse_rules(UPSTREAM_CHARM_PYTHON_REPR.as_bytes()).unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].id, "requirer:welcome:0:allow");
        assert_eq!(
            rules[0].matcher.url,
            "<^(https|http)>://example.com/<welcome((/.*$)|$)>"
        );
        assert_eq!(rules[0].matcher.methods[2], "OPTION");
        assert_eq!(rules[0].authorizer.handler, "allow");
        assert_eq!(rules[0].errors[0].handler, "json");
    }

    #[test]
    fn json_rules_reject_unknown_fields_with_path() {
        let err = parse_rules(br#"[{"id": "a", "match": {"url": "x", "urls": []}}]"#).unwrap_err();
        assert!(err.to_string().contains("[0].match.urls"), "{err}");
    }

    #[test]
    fn yaml_rules_ignore_unknown_fields() {
        let rules = parse_rules(b"- id: a\n  extra: 1\n  match: {url: 'http://x/<.*>'}\n").unwrap();
        assert_eq!(rules[0].id, "a");
    }

    #[test]
    fn json_is_told_from_yaml_by_the_whole_text() {
        // JSON followed by more text is not JSON: read as YAML (which refuses it).
        let err = parse_rules(br#"[{"id": "a"}] x"#).unwrap_err();
        assert!(matches!(err, ParseError::Yaml { .. }), "{err}");
        // JSON with a wrong type is a JSON error, even when a syntax error follows it.
        let err = parse_rules(br#"[{"id": 1}]"#).unwrap_err();
        assert!(matches!(err, ParseError::Json { .. }), "{err}");
        let err = parse_rules(br#"[{"id": 1}, {"#).unwrap_err();
        assert!(matches!(err, ParseError::Yaml { .. }), "{err}");
        // An unknown field only counts once the whole text is known to be JSON.
        let err = parse_rules(br#"[{"id": "a", "x": 1}]"#).unwrap_err();
        assert!(matches!(err, ParseError::UnknownField { .. }), "{err}");
        let rules = parse_rules(b"[{id: a, x: 1}]").unwrap();
        assert_eq!(rules[0].id, "a", "YAML flow syntax is not JSON");
    }

    #[test]
    fn empty_content_is_no_rules() {
        assert!(parse_rules(b"").unwrap().is_empty());
        assert!(parse_rules(b"  \n").unwrap().is_empty());
        assert!(parse_rules(b"null").unwrap().is_empty());
        assert!(parse_rules(b"[]").unwrap().is_empty());
    }

    #[test]
    fn json_errors_carry_line() {
        let err = parse_rules(b"[\n{\"id\": 1}\n]").unwrap_err();
        assert_eq!(err.line(), Some(2));
    }

    #[test]
    fn yaml_errors_carry_line() {
        let err = parse_rules(b"- id: a\n  match: [unclosed\n").unwrap_err();
        assert!(err.line().is_some(), "{err}");
    }

    #[test]
    fn a_rules_file_omits_what_reads_back_as_the_default() {
        let text = r#"[{"id":"a","match":{"methods":["GET"],"url":"u"},"authenticators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"header","config":{"headers":{}}}],"errors":[]}]"#;
        let rules = parse_rules(text.as_bytes()).unwrap();
        assert_eq!(to_file_json(&rules), text);
        assert_eq!(parse_rules(to_file_json(&rules).as_bytes()).unwrap(), rules);
        let mut full = rules[0].clone();
        full.version = "v0.40.0".into();
        full.description = "d".into();
        full.upstream.url = "http://up".into();
        let json: serde_json::Value =
            serde_json::from_str(&to_file_json(std::slice::from_ref(&full))).unwrap();
        assert_eq!(json[0]["version"], "v0.40.0");
        assert_eq!(json[0]["description"], "d");
        assert_eq!(json[0]["upstream"]["url"], "http://up");
        assert_eq!(parse_rules(json.to_string().as_bytes()).unwrap(), [full]);
    }

    #[test]
    fn rule_serialises_like_upstream_api() {
        let rules = parse_rules(br#"[{"id":"a","match":{"url":"u","methods":["GET"]}}]"#).unwrap();
        let json: serde_json::Value = serde_json::from_str(&to_json(&rules)).unwrap();
        assert_eq!(
            json[0]["authorizer"],
            serde_json::json!({"handler": "", "config": null})
        );
        assert_eq!(json[0]["upstream"]["preserve_host"], false);
        assert_eq!(json[0]["match"]["methods"][0], "GET");
    }
}
