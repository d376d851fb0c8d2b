//! The access rules our charm generates for one auth-proxy app (spec §6.2–6.4).
//!
//! Per protected URL: one allow rule per allowed endpoint (no authentication, `noop` mutator,
//! `json` errors) and one deny rule for everything else under the URL (Kratos session cookie,
//! `header` mutator, `redirect` errors). Every pattern is compiled here as the server compiles
//! it, so a requirer's value that the server would refuse is an error naming the input.

use crate::matcher::{PatternError, Strategy, UrlMatcher};
use crate::rule::{Handler, Match, Rule};

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

/// The rules of one app, in generation order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppRules {
    /// Its unauthenticated endpoints: per protected URL, one rule per allowed endpoint.
    pub allow: Vec<Rule>,
    /// Everything else under its protected URLs: one rule per protected URL.
    pub deny: Vec<Rule>,
}

impl AppRules {
    /// The allow rules, then the deny rules.
    pub fn into_rules(self) -> Vec<Rule> {
        let mut rules = self.allow;
        rules.extend(self.deny);
        rules
    }
}

/// Why an app's rules cannot be generated: one of its values makes a pattern the server
/// refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    /// A protected URL makes an invalid deny pattern (e.g. it holds `<` or `>`).
    #[error("protected URL {url:?} makes an invalid rule")]
    ProtectedUrl {
        /// The protected URL, as the requirer wrote it.
        url: String,
        /// Why the server refuses the pattern.
        #[source]
        source: PatternError,
    },
    /// An allowed endpoint makes an invalid allow pattern (not a regular expression, or one
    /// needing unbounded backtracking).
    #[error("allowed endpoint {endpoint:?} makes an invalid rule")]
    AllowedEndpoint {
        /// The endpoint, as the requirer wrote it.
        endpoint: String,
        /// Why the server refuses the pattern.
        #[source]
        source: PatternError,
    },
}

impl RuleError {
    /// The requirer's value that makes the invalid rule.
    pub fn value(&self) -> &str {
        match self {
            RuleError::ProtectedUrl { url, .. } => url,
            RuleError::AllowedEndpoint { endpoint, .. } => endpoint,
        }
    }

    /// Why the server refuses the pattern.
    pub fn pattern_error(&self) -> &PatternError {
        match self {
            RuleError::ProtectedUrl { source, .. } | RuleError::AllowedEndpoint { source, .. } => {
                source
            }
        }
    }
}

/// Generates the rules of `app` (spec §6.2): for each protected URL (numbered from 0), an
/// allow rule `<app>:<endpoint>:<n>:allow` per allowed endpoint and a deny rule `<app>:<n>:deny`.
pub fn app_rules(
    app: &str,
    protected_urls: &[impl AsRef<str>],
    allowed_endpoints: &[impl AsRef<str>],
) -> Result<AppRules, RuleError> {
    let mut rules = AppRules::default();
    for (index, url) in protected_urls.iter().enumerate() {
        let url = url.as_ref();
        let base = url_base(url);
        for endpoint in allowed_endpoints {
            let endpoint = endpoint.as_ref();
            let pattern = format!("{base}/<{endpoint}{BELOW}>");
            check(&pattern).map_err(|source| RuleError::AllowedEndpoint {
                endpoint: endpoint.to_owned(),
                source,
            })?;
            rules.allow.push(rule(
                format!("{app}:{endpoint}:{index}:allow"),
                pattern,
                ALLOW_AUTHENTICATOR,
                ALLOW_MUTATOR,
                ALLOW_ERROR_HANDLER,
            ));
        }
        let pattern = deny_pattern(&base, allowed_endpoints);
        check(&pattern).map_err(|source| RuleError::ProtectedUrl {
            url: url.to_owned(),
            source,
        })?;
        rules.deny.push(rule(
            format!("{app}:{index}:deny"),
            pattern,
            DENY_AUTHENTICATOR,
            DENY_MUTATOR,
            DENY_ERROR_HANDLER,
        ));
    }
    Ok(rules)
}

fn handler(id: &str) -> Handler {
    Handler {
        handler: id.to_owned(),
        config: None,
    }
}

fn rule(id: String, url: String, authn: &str, mutator: &str, error: &str) -> Rule {
    Rule {
        id,
        matcher: Match {
            methods: METHODS.map(str::to_owned).to_vec(),
            url,
        },
        authenticators: vec![handler(authn)],
        authorizer: handler(AUTHORIZER),
        mutators: vec![handler(mutator)],
        errors: vec![handler(error)],
        ..Rule::default()
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
fn deny_pattern(base: &str, allowed_endpoints: &[impl AsRef<str>]) -> String {
    if allowed_endpoints.is_empty() {
        return format!("{base}<(/.*)?>");
    }
    let excluded: Vec<String> = allowed_endpoints
        .iter()
        .map(|e| format!("/{}{BELOW}", e.as_ref()))
        .collect();
    format!("{base}<(?!{})(/.*)?>", excluded.join("|"))
}

/// Compiles `pattern` as the server will.
fn check(pattern: &str) -> Result<(), PatternError> {
    UrlMatcher::compile(pattern, Strategy::Regexp).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_value_names_the_input_and_keeps_the_cause() {
        let err = app_rules("app", &["https://example.com"], &["a(b"]).unwrap_err();
        assert!(matches!(
            &err,
            RuleError::AllowedEndpoint { endpoint, source: PatternError::Invalid { .. } }
                if endpoint == "a(b"
        ));
        assert_eq!(err.value(), "a(b");
        assert_eq!(
            err.to_string(),
            r#"allowed endpoint "a(b" makes an invalid rule"#
        );
        let err = app_rules("app", &["http://example.com/<x"], &[] as &[&str]).unwrap_err();
        assert!(matches!(
            &err,
            RuleError::ProtectedUrl { url, source: PatternError::Unbalanced { .. } }
                if url == "http://example.com/<x"
        ));
    }

    #[test]
    fn allow_rules_come_before_deny_rules() {
        let rules = app_rules("a", &["https://x.example", "https://y.example"], &["w"])
            .unwrap()
            .into_rules();
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a:w:0:allow", "a:w:1:allow", "a:0:deny", "a:1:deny"]);
        assert!(rules.iter().all(|r| r.authorizer.handler == AUTHORIZER
            && r.authenticators.iter().all(|h| h.config.is_none())));
    }
}
