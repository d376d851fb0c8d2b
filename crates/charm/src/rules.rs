//! Access rules generated from one auth-proxy requirer (spec §6.2–6.4).
//!
//! Per protected URL: one allow rule per allowed endpoint (no authentication, `noop` mutator,
//! `json` errors) and one deny rule for everything else under the URL (Kratos session cookie,
//! `header` mutator, `redirect` errors). Rules go to two files, `access-rules-<app>-allow.json`
//! and `access-rules-<app>-deny.json`; a file with no rules is not written.

use oathkeeper_core::matcher::{PatternError, Strategy, UrlMatcher};
use serde::{Deserialize, Serialize};

use crate::relation::FieldError;
use crate::relation::auth_proxy::{ALLOWED_ENDPOINTS, AuthProxyConfig, PROTECTED_URLS};

/// Methods every generated rule matches.
// Differs from upstream: upstream lists `OPTION` (a typo) and no `HEAD`, so OPTIONS and HEAD
// requests to a protected app never match a rule.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/// The scheme section that lets an `https://` URL match over plain HTTP too.
pub const SCHEME_PATTERN: &str = "<^(https|http)>";
/// The scheme that [`SCHEME_PATTERN`] replaces.
const HTTPS_SCHEME: &str = "https";
/// Suffix of an allowed endpoint: the endpoint itself or anything below it.
const BELOW: &str = "((/.*$)|$)";

/// Authenticator of allow rules.
pub const ALLOW_AUTHENTICATOR: &str = "noop";
/// Mutator of allow rules.
pub const ALLOW_MUTATOR: &str = "noop";
/// Error handler of allow rules.
pub const ALLOW_ERROR_HANDLER: &str = "json";
/// Authenticator of deny rules.
pub const DENY_AUTHENTICATOR: &str = "cookie_session";
/// Mutator of deny rules.
pub const DENY_MUTATOR: &str = "header";
/// Error handler of deny rules.
pub const DENY_ERROR_HANDLER: &str = "redirect";
/// The authorizer of every rule.
pub const AUTHORIZER: &str = "allow";

/// Which of the two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// A handler reference in a generated rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerRef {
    /// The handler id.
    pub handler: String,
}

/// The `match` of a generated rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMatch {
    /// The URL pattern.
    pub url: String,
    /// [`METHODS`].
    pub methods: Vec<String>,
}

/// A generated rule, fields in upstream's order (id, match, authenticators, mutators,
/// authorizer, errors). It reads as an `oathkeeper_core::rule::Rule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedRule {
    /// `<app>:<endpoint>:<url index>:allow` or `<app>:<url index>:deny`.
    pub id: String,
    /// What the rule matches.
    #[serde(rename = "match")]
    pub matcher: RuleMatch,
    /// One authenticator.
    pub authenticators: Vec<HandlerRef>,
    /// One mutator.
    pub mutators: Vec<HandlerRef>,
    /// Always `allow`.
    pub authorizer: HandlerRef,
    /// One error handler.
    pub errors: Vec<HandlerRef>,
}

/// A rules file: its ConfigMap key and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFile {
    /// `access-rules-<app>-<allow|deny>.json`.
    pub name: String,
    /// The rules, in generation order.
    pub rules: Vec<GeneratedRule>,
}

impl RuleFile {
    /// The file content: a JSON array of the rules.
    // Differs from upstream: upstream writes Python repr text (`[{'id': ...}]`) that only
    // parses as YAML.
    pub fn to_json(&self) -> String {
        // invariant: plain strings and vectors serialise infallibly.
        serde_json::to_string(&self.rules).unwrap_or_else(|_| "[]".to_owned())
    }
}

fn handler(id: &str) -> Vec<HandlerRef> {
    vec![HandlerRef {
        handler: id.to_owned(),
    }]
}

fn rule(id: String, url: String, authn: &str, mutator: &str, error: &str) -> GeneratedRule {
    GeneratedRule {
        id,
        matcher: RuleMatch {
            url,
            methods: METHODS.iter().map(|m| (*m).to_owned()).collect(),
        },
        authenticators: handler(authn),
        mutators: handler(mutator),
        authorizer: HandlerRef {
            handler: AUTHORIZER.to_owned(),
        },
        errors: handler(error),
    }
}

/// The literal URL part of a protected URL's patterns: one trailing `/` stripped and an
/// `https` scheme widened to [`SCHEME_PATTERN`].
// Differs from upstream: upstream replaces every "https" in the URL, host and path included,
// which breaks URLs such as `https://host/https-docs`. Only the scheme is replaced here.
fn url_base(url: &str) -> String {
    let url = url.strip_suffix('/').unwrap_or(url);
    match url.strip_prefix(HTTPS_SCHEME) {
        Some(rest) if rest.starts_with("://") => format!("{SCHEME_PATTERN}{rest}"),
        _ => url.to_owned(),
    }
}

/// The deny pattern for a protected URL.
///
/// Differs from upstream: upstream's `<url><(?!...).*>` lets `https://host/prefix` also match
/// `https://host/prefix-other/...` (and `https://host.evil.org` for a bare host), so one app's
/// deny rule captured the requests of another app whose URL it prefixes, and the two rules
/// overlapped. Here the rest must be empty or start with `/` (a path boundary).
fn deny_pattern(base: &str, allowed_endpoints: &[String]) -> String {
    if allowed_endpoints.is_empty() {
        return format!("{base}<(/.*)?>");
    }
    let excluded: Vec<String> = allowed_endpoints
        .iter()
        .map(|e| format!("/{e}{BELOW}"))
        .collect();
    format!("{base}<(?!{})(/.*)?>", excluded.join("|"))
}

/// Generates an app's rules files (spec §6.2): the allow file when there are allowed
/// endpoints, the deny file when there are protected URLs. Fails, naming the field, when a
/// generated pattern does not compile (an endpoint that is not a valid regular expression, a
/// `<` or `>` in a URL).
pub fn render_rules(app: &str, config: &AuthProxyConfig) -> Result<Vec<RuleFile>, FieldError> {
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    for (index, url) in config.protected_urls.iter().enumerate() {
        let base = url_base(url);
        for endpoint in &config.allowed_endpoints {
            let pattern = format!("{base}/<{endpoint}{BELOW}>");
            check(&pattern, ALLOWED_ENDPOINTS, endpoint)?;
            allow.push(rule(
                format!("{app}:{endpoint}:{index}:allow"),
                pattern,
                ALLOW_AUTHENTICATOR,
                ALLOW_MUTATOR,
                ALLOW_ERROR_HANDLER,
            ));
        }
        let pattern = deny_pattern(&base, &config.allowed_endpoints);
        check(&pattern, PROTECTED_URLS, url)?;
        deny.push(rule(
            format!("{app}:{index}:deny"),
            pattern,
            DENY_AUTHENTICATOR,
            DENY_MUTATOR,
            DENY_ERROR_HANDLER,
        ));
    }
    let mut files = Vec::new();
    for (rule_type, rules) in [(RuleType::Allow, allow), (RuleType::Deny, deny)] {
        if !rules.is_empty() {
            files.push(RuleFile {
                name: file_name(app, rule_type),
                rules,
            });
        }
    }
    Ok(files)
}

/// Compiles `pattern` as the server will, so a requirer's value that the server would refuse
/// blocks here, naming the app and field, instead of silently dropping a rule in the workload.
fn check(pattern: &str, field: &str, value: &str) -> Result<(), FieldError> {
    match UrlMatcher::compile(pattern, Strategy::Regexp) {
        Ok(_) => Ok(()),
        Err(PatternError::Unsupported { construct, .. }) => Err(FieldError::new(
            field,
            format!("{value:?} uses {construct}, which the proxy refuses (unbounded backtracking)"),
        )),
        Err(e) => Err(FieldError::new(
            field,
            format!("{value:?} makes an invalid rule: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests;
