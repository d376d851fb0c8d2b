//! The rules files of one auth-proxy requirer (spec §6.2–6.4) as ConfigMap keys.
//!
//! The rules themselves are [`oathkeeper_core::charm::rules`]'s, shared with the server's tests
//! and the benchmarks. Here they go to two files, `access-rules-<app>-allow.json` and
//! `access-rules-<app>-deny.json`; a file with no rules is not written.

use oathkeeper_core::charm::rules::{self, RuleError};
use oathkeeper_core::matcher::PatternError;
use oathkeeper_core::rule::{self as wire, Rule};

use crate::relation::FieldError;
use crate::relation::auth_proxy::{ALLOWED_ENDPOINTS, AuthProxyConfig, PROTECTED_URLS};

/// Which of the two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RuleType {
    /// Unauthenticated endpoints.
    Allow,
    /// Everything else under the protected URLs.
    Deny,
}

impl RuleType {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::Allow => "allow",
            RuleType::Deny => "deny",
        }
    }
}

/// The ConfigMap key (and file name) of an app's rules of one type.
pub fn file_name(app: &str, rule_type: RuleType) -> String {
    format!("access-rules-{app}-{}.json", rule_type.as_str())
}

/// Whether `key` has the shape of a file this charm generates.
pub fn is_generated_file_name(key: &str) -> bool {
    key.starts_with("access-rules-")
        && (key.ends_with("-allow.json") || key.ends_with("-deny.json"))
}

/// A rules file: its ConfigMap key and its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// `access-rules-<app>-<allow|deny>.json`.
    pub name: String,
    /// The rules, in generation order.
    pub rules: Vec<Rule>,
}

impl RuleFile {
    /// The file content: a JSON array of the rules, as a rules file needs them.
    // Differs from upstream: upstream writes Python repr text (`[{'id': ...}]`) that only
    // parses as YAML.
    pub fn to_json(&self) -> String {
        wire::to_file_json(&self.rules)
    }
}

/// Generates an app's rules files (spec §6.2): the allow file when there are allowed
/// endpoints, the deny file when there are protected URLs. Fails, naming the field, when a
/// generated pattern does not compile (an endpoint that is not a valid regular expression, a
/// `<` or `>` in a URL).
pub fn render_rules(app: &str, config: &AuthProxyConfig) -> Result<Vec<RuleFile>, FieldError> {
    let generated = rules::app_rules(app, &config.protected_urls, &config.allowed_endpoints)
        .map_err(|e| field_error(&e))?;
    let mut files = Vec::new();
    for (rule_type, rules) in [
        (RuleType::Allow, generated.allow),
        (RuleType::Deny, generated.deny),
    ] {
        if !rules.is_empty() {
            files.push(RuleFile {
                name: file_name(app, rule_type),
                rules,
            });
        }
    }
    Ok(files)
}

/// The field and problem of an invalid value: the server would refuse it, so it blocks here,
/// naming the app and field, instead of silently dropping a rule in the workload.
fn field_error(error: &RuleError) -> FieldError {
    let field = match error {
        RuleError::ProtectedUrl { .. } => PROTECTED_URLS,
        RuleError::AllowedEndpoint { .. } => ALLOWED_ENDPOINTS,
    };
    let value = error.value();
    match error.pattern_error() {
        PatternError::Unsupported { construct, .. } => FieldError::new(
            field,
            format!("{value:?} uses {construct}, which the proxy refuses (unbounded backtracking)"),
        ),
        e => FieldError::new(field, format!("{value:?} makes an invalid rule: {e}")),
    }
}

#[cfg(test)]
mod tests;
