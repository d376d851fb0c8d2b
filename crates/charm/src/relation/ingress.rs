//! `ingress` (Traefik ingress v2, lib `charms.traefik_k8s.v2.ingress`): we ask for a route to
//! our API port with the prefix stripped; Traefik answers with the URL (spec §5.5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Databag, FieldError, json_dumps};

/// The endpoint name.
pub const ENDPOINT: &str = "ingress";
/// Requirer app key: the model (JSON string).
pub const MODEL: &str = "model";
/// Requirer app key: the app name (JSON string).
pub const NAME: &str = "name";
/// Requirer app key: the port (JSON number).
pub const PORT: &str = "port";
/// Requirer app key: strip the route prefix (JSON boolean).
pub const STRIP_PREFIX: &str = "strip-prefix";
/// Requirer unit key: host name (JSON string).
pub const HOST: &str = "host";
/// Requirer unit key: address (JSON string).
pub const IP: &str = "ip";
/// Provider app key: `{"url": ...}` (JSON object).
pub const INGRESS: &str = "ingress";

/// Our request, as the v2 lib's app data (defaults `redirect-https: false` and
/// `scheme: "http"` are left out, as the lib does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressRequest {
    /// Our model.
    pub model: String,
    /// Our app.
    pub name: String,
    /// The port to route to.
    pub port: u16,
    /// Strip the route prefix before forwarding.
    pub strip_prefix: bool,
}

/// Renders our app databag, every value JSON-encoded.
pub fn render_app(request: &IngressRequest) -> Databag {
    [
        (MODEL, json_dumps(&Value::from(request.model.as_str()))),
        (NAME, json_dumps(&Value::from(request.name.as_str()))),
        (PORT, request.port.to_string()),
        (STRIP_PREFIX, json_dumps(&Value::Bool(request.strip_prefix))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Renders our unit databag.
pub fn render_unit(host: &str, ip: &str) -> Databag {
    [
        (HOST, json_dumps(&Value::from(host))),
        (IP, json_dumps(&Value::from(ip))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Parses Traefik's app databag: the URL, or `Ok(None)` before Traefik has answered.
pub fn parse_provider(bag: &Databag) -> Result<Option<String>, FieldError> {
    let Some(raw) = bag.get(INGRESS) else {
        return Ok(None);
    };
    let invalid = || FieldError::new(INGRESS, format!("expected {{\"url\": ...}}, found {raw:?}"));
    let value: Value = serde_json::from_str(raw).map_err(|_| invalid())?;
    match value.get("url") {
        Some(Value::String(url)) => Ok(Some(url.clone())),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_databag_matches_the_lib() {
        // spec §5.5, asserted upstream by test_ingress_relation_created.
        let bag = render_app(&IngressRequest {
            model: "testing".into(),
            name: "oathkeeper".into(),
            port: 4456,
            strip_prefix: true,
        });
        let expected: Databag = [
            ("model", "\"testing\""),
            ("name", "\"oathkeeper\""),
            ("port", "4456"),
            ("strip-prefix", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(bag, expected);
        assert_eq!(render_unit("h", "10.0.0.1")[IP], "\"10.0.0.1\"");
    }

    #[test]
    fn provider_url_is_read_from_json() {
        let bag: Databag = [(
            INGRESS.to_owned(),
            r#"{"url": "http://ingress:80/testing-oathkeeper"}"#.to_owned(),
        )]
        .into();
        assert_eq!(
            parse_provider(&bag).unwrap().as_deref(),
            Some("http://ingress:80/testing-oathkeeper")
        );
        let bad: Databag = [(INGRESS.to_owned(), "x".to_owned())].into();
        assert_eq!(parse_provider(&bad).unwrap_err().field, INGRESS);
        assert_eq!(parse_provider(&Databag::new()), Ok(None));
    }
}
