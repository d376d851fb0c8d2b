//! `auth-proxy` (interface `auth_proxy`, lib `charms.oathkeeper.v0.auth_proxy` LIBPATCH 6):
//! the protected app writes its URLs, unauthenticated endpoints and wanted headers into its app
//! databag; we write nothing (spec §5.1, forward-auth-interop §3).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::{Databag, FieldError, json_dumps_strings, parse_string_list};

/// The endpoint name.
pub const ENDPOINT: &str = "auth-proxy";
/// The interface name.
pub const INTERFACE: &str = "auth_proxy";
/// Key: JSON array of URLs to protect.
pub const PROTECTED_URLS: &str = "protected_urls";
/// Key: JSON array of paths that need no authentication.
pub const ALLOWED_ENDPOINTS: &str = "allowed_endpoints";
/// Key: JSON array of identity headers the app wants.
pub const HEADERS: &str = "headers";
/// The headers the schema allows (`ALLOWED_HEADERS`).
pub const ALLOWED_HEADERS: [&str; 3] = ["X-User", "X-Email", "X-Name"];

/// The lib's `url_regex`, case-insensitive, with its top-level alternation kept: anything
/// starting with `http://` passes; `https://` needs a dotted domain or an IPv4 address.
const URL_REGEX: &str = r"(?i)(^http://)|(^https://)(?:(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+(?:[A-Z]{2,6}\.?|[A-Z0-9-]{2,}\.?)|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::\d+)?(?:/?|[/?]\S+)$";

static URL_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    // invariant: URL_REGEX is a constant tested to compile (url_rule_follows_the_lib).
    regex::Regex::new(URL_REGEX).expect("URL_REGEX compiles")
});

/// One requirer's configuration, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthProxyConfig {
    /// URLs to protect, each passing the lib's URL rule.
    pub protected_urls: Vec<String>,
    /// Paths under each URL that need no authentication (raw regex text, as upstream).
    pub allowed_endpoints: Vec<String>,
    /// Identity headers, each one of [`ALLOWED_HEADERS`].
    pub headers: Vec<String>,
}

/// Whether `url` passes the lib's URL rule (`AuthProxyConfig.validate`).
pub fn is_valid_url(url: &str) -> bool {
    URL_RE.is_match(url)
}

/// Parses a requirer's app databag. An empty databag is `Ok(None)`: the requirer has not
/// written yet (the lib logs and emits nothing). Otherwise the lib's schema applies (all three
/// keys, JSON arrays of strings, headers from [`ALLOWED_HEADERS`]) plus its URL rule.
pub fn parse(bag: &Databag) -> Result<Option<AuthProxyConfig>, FieldError> {
    if bag.is_empty() {
        return Ok(None);
    }
    let protected_urls = parse_string_list(bag, PROTECTED_URLS)?;
    if let Some(bad) = protected_urls.iter().find(|u| !is_valid_url(u)) {
        return Err(FieldError::new(
            PROTECTED_URLS,
            format!("invalid URL {bad:?}"),
        ));
    }
    let allowed_endpoints = parse_string_list(bag, ALLOWED_ENDPOINTS)?;
    let headers = parse_string_list(bag, HEADERS)?;
    if let Some(bad) = headers
        .iter()
        .find(|h| !ALLOWED_HEADERS.contains(&h.as_str()))
    {
        return Err(FieldError::new(
            HEADERS,
            format!(
                "unsupported header {bad:?}, it must be one of {}",
                ALLOWED_HEADERS.join(", ")
            ),
        ));
    }
    Ok(Some(AuthProxyConfig {
        protected_urls,
        allowed_endpoints,
        headers,
    }))
}

/// Renders a requirer's app databag as the lib writes it (for tests and the harness).
pub fn render(config: &AuthProxyConfig) -> Databag {
    [
        (PROTECTED_URLS, json_dumps_strings(&config.protected_urls)),
        (
            ALLOWED_ENDPOINTS,
            json_dumps_strings(&config.allowed_endpoints),
        ),
        (HEADERS, json_dumps_strings(&config.headers)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(pairs: &[(&str, &str)]) -> Databag {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn url_rule_follows_the_lib() {
        // spec §5.1: behaviour verified with Python's re.match.
        for ok in [
            "http://anything at all",
            "https://example.com",
            "https://10.64.140.43/x",
            "https://example.com:8443/path?q=1",
            "HTTPS://EXAMPLE.COM",
        ] {
            assert!(is_valid_url(ok), "{ok}");
        }
        for bad in [
            "https://localhost",
            "https://ingress:80/x",
            "https://a_b.com",
            "invalid-url",
            "ftp://example.com",
        ] {
            assert!(!is_valid_url(bad), "{bad}");
        }
    }

    #[test]
    fn databag_of_the_spec_parses() {
        // spec §5.1 example.
        let parsed = parse(&bag(&[
            ("protected_urls", r#"["https://example.com"]"#),
            ("allowed_endpoints", r#"["welcome", "about/app"]"#),
            ("headers", r#"["X-User"]"#),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(parsed.protected_urls, ["https://example.com"]);
        assert_eq!(parsed.allowed_endpoints, ["welcome", "about/app"]);
        assert_eq!(parsed.headers, ["X-User"]);
    }

    #[test]
    fn empty_databag_is_not_yet_written() {
        assert_eq!(parse(&Databag::new()), Ok(None));
    }

    #[test]
    fn invalid_data_names_the_field() {
        let cases = [
            (
                bag(&[("protected_urls", "invalid-url")]),
                "protected_urls: expected a JSON array of strings, found \"invalid-url\"",
            ),
            (
                bag(&[("protected_urls", r#"["invalid-url"]"#)]),
                "protected_urls: invalid URL \"invalid-url\"",
            ),
            (
                bag(&[("protected_urls", r#"["https://example.com"]"#)]),
                "allowed_endpoints: missing",
            ),
            (
                bag(&[
                    ("protected_urls", r#"["https://example.com"]"#),
                    ("allowed_endpoints", "[]"),
                    ("headers", r#"["X-Auth-Request-User"]"#),
                ]),
                "headers: unsupported header \"X-Auth-Request-User\", it must be one of X-User, X-Email, X-Name",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(&input).unwrap_err().to_string(), expected);
        }
    }

    #[test]
    fn rendered_databag_is_the_libs_bytes() {
        let config = AuthProxyConfig {
            protected_urls: vec!["https://example.com".into()],
            allowed_endpoints: vec!["welcome".into(), "about/app".into()],
            headers: vec!["X-User".into()],
        };
        assert_eq!(
            render(&config),
            bag(&[
                ("protected_urls", r#"["https://example.com"]"#),
                ("allowed_endpoints", r#"["welcome", "about/app"]"#),
                ("headers", r#"["X-User"]"#),
            ])
        );
        assert_eq!(parse(&render(&config)).unwrap(), Some(config));
    }
}
