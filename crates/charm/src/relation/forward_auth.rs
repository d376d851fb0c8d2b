//! `forward-auth` (interface `forward_auth`, lib `charms.oathkeeper.v0.forward_auth` LIBPATCH 4):
//! we write the decisions address, the protected apps and their headers into our app databag;
//! Traefik writes the apps it routes (spec §5.2, forward-auth-interop §1–2).

use serde::{Deserialize, Serialize};

use super::{Databag, FieldError, json_dumps_strings, parse_string_list};

/// The endpoint name.
pub const ENDPOINT: &str = "forward-auth";
/// Provider key: where Traefik sends the auth sub-request (a plain string).
pub const DECISIONS_ADDRESS: &str = "decisions_address";
/// Provider key: JSON array of the apps to protect.
pub const APP_NAMES: &str = "app_names";
/// Provider key: JSON array of the identity headers Traefik copies onto the request.
pub const HEADERS: &str = "headers";
/// Requirer key: JSON array of the apps Traefik routes.
pub const INGRESS_APP_NAMES: &str = "ingress_app_names";
/// The decisions path of the API.
pub const DECISIONS_PATH: &str = "/decisions";

/// What we tell Traefik.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardAuthConfig {
    /// `<scheme>://<app>.<model>.svc.cluster.local:4456/decisions`.
    pub decisions_address: String,
    /// Protected apps, sorted.
    pub app_names: Vec<String>,
    /// Identity headers, sorted.
    pub headers: Vec<String>,
}

/// Renders our app databag: the address raw, the lists as `json.dumps` text.
// Differs from upstream: the lists are sorted (upstream's header order comes from a Python set
// and changes between hooks).
pub fn render(config: &ForwardAuthConfig) -> Databag {
    [
        (DECISIONS_ADDRESS, config.decisions_address.clone()),
        (APP_NAMES, json_dumps_strings(&config.app_names)),
        (HEADERS, json_dumps_strings(&config.headers)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Parses Traefik's app databag: `Ok(None)` when it has not written `ingress_app_names` (the
/// Traefik lib writes nothing when it routes no app).
pub fn parse_requirer(bag: &Databag) -> Result<Option<Vec<String>>, FieldError> {
    if !bag.contains_key(INGRESS_APP_NAMES) {
        return Ok(None);
    }
    parse_string_list(bag, INGRESS_APP_NAMES).map(Some)
}

/// Renders Traefik's app databag as its lib writes it (for tests and the harness).
pub fn render_requirer(ingress_app_names: &[String]) -> Databag {
    [(
        INGRESS_APP_NAMES.to_owned(),
        json_dumps_strings(ingress_app_names),
    )]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_databag_is_byte_compatible_with_the_lib() {
        // spec §5.2 example.
        let bag = render(&ForwardAuthConfig {
            decisions_address: "https://oathkeeper.testing.svc.cluster.local:4456/decisions".into(),
            app_names: vec!["charmed-app".into()],
            headers: vec!["X-User".into()],
        });
        assert_eq!(
            bag[DECISIONS_ADDRESS],
            "https://oathkeeper.testing.svc.cluster.local:4456/decisions"
        );
        assert_eq!(bag[APP_NAMES], r#"["charmed-app"]"#);
        assert_eq!(bag[HEADERS], r#"["X-User"]"#);
    }

    #[test]
    fn ingress_app_names_are_json_decoded_not_substring_matched() {
        let bag = render_requirer(&["charmed-app-2".into()]);
        assert_eq!(bag[INGRESS_APP_NAMES], r#"["charmed-app-2"]"#);
        let names = parse_requirer(&bag).unwrap().unwrap();
        assert!(!names.contains(&"charmed-app".to_owned()));
    }

    #[test]
    fn absent_ingress_app_names_is_not_yet_written() {
        assert_eq!(parse_requirer(&Databag::new()), Ok(None));
        let bad: Databag = [(INGRESS_APP_NAMES.to_owned(), "app".to_owned())].into();
        assert_eq!(
            parse_requirer(&bad).unwrap_err().field,
            INGRESS_APP_NAMES.to_owned()
        );
    }
}
