//! `kratos-info` (interface `kratos_info`, lib `charms.kratos.v0.kratos_info`): Kratos writes its
//! endpoints as plain strings; we use two of them (spec §5.4).

use serde::{Deserialize, Serialize};

use super::{Databag, FieldError};

/// The endpoint name.
pub const ENDPOINT: &str = "kratos-info";
/// Key: Kratos' `/sessions/whoami` URL (cluster-internal).
pub const SESSIONS_ENDPOINT: &str = "sessions_endpoint";
/// Key: the browser login URL (external).
pub const LOGIN_BROWSER_ENDPOINT: &str = "login_browser_endpoint";

/// The Kratos endpoints the workload config uses; absent keys fall back to the template's
/// defaults, as upstream's `kratos_info.get(...)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KratosInfo {
    /// Rendered as `cookie_session.config.check_session_url`.
    pub sessions_endpoint: Option<String>,
    /// Rendered as `errors.handlers.redirect.config.to`.
    pub login_browser_endpoint: Option<String>,
}

/// Parses Kratos' app databag: `Ok(None)` when empty (the lib's `is_ready()` is false). A
/// present endpoint must be an `http(s)://` URL.
pub fn parse(bag: &Databag) -> Result<Option<KratosInfo>, FieldError> {
    if bag.is_empty() {
        return Ok(None);
    }
    let url = |field: &str| -> Result<Option<String>, FieldError> {
        match bag.get(field) {
            None => Ok(None),
            Some(v) if v.starts_with("http://") || v.starts_with("https://") => Ok(Some(v.clone())),
            Some(v) => Err(FieldError::new(field, format!("not an http(s) URL: {v:?}"))),
        }
    };
    Ok(Some(KratosInfo {
        sessions_endpoint: url(SESSIONS_ENDPOINT)?,
        login_browser_endpoint: url(LOGIN_BROWSER_ENDPOINT)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kratos_databag_yields_the_two_endpoints() {
        let bag: Databag = [
            ("admin_endpoint", "http://kratos.iam.svc.cluster.local:4434"),
            (
                "sessions_endpoint",
                "http://kratos.iam.svc.cluster.local:4433/sessions/whoami",
            ),
            (
                "login_browser_endpoint",
                "https://iam.example.com/iam-kratos/self-service/login/browser",
            ),
            ("mfa_enabled", "True"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let info = parse(&bag).unwrap().unwrap();
        assert_eq!(
            info.sessions_endpoint.as_deref(),
            Some("http://kratos.iam.svc.cluster.local:4433/sessions/whoami")
        );
        assert_eq!(
            info.login_browser_endpoint.as_deref(),
            Some("https://iam.example.com/iam-kratos/self-service/login/browser")
        );
    }

    #[test]
    fn a_non_url_endpoint_names_the_field() {
        let bag: Databag = [("sessions_endpoint".to_owned(), "kratos".to_owned())].into();
        assert_eq!(parse(&bag).unwrap_err().field, SESSIONS_ENDPOINT);
        assert_eq!(parse(&Databag::new()), Ok(None));
    }
}
