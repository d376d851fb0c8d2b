//! `oathkeeper-info` (interface `oathkeeper_info`, lib `charms.oathkeeper.v0.oathkeeper_info`
//! LIBPATCH 2): we tell e.g. the admin UI where our API is and which ConfigMap holds the rules,
//! as plain strings in our app databag (spec §5.3).

use serde::{Deserialize, Serialize};

use super::Databag;

/// The endpoint name.
pub const ENDPOINT: &str = "oathkeeper-info";
/// Key: our public endpoint (the ingress URL, else the Service URL).
pub const PUBLIC_ENDPOINT: &str = "public_endpoint";
/// Key: the rules ConfigMap name.
pub const RULES_CONFIGMAP_NAME: &str = "rules_configmap_name";
/// Key: the ConfigMaps' namespace.
pub const CONFIGMAPS_NAMESPACE: &str = "configmaps_namespace";

/// What we publish.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OathkeeperInfo {
    /// The ingress URL, else `<scheme>://<app>.<model>.svc.cluster.local:4456`.
    pub public_endpoint: String,
    /// `access-rules`.
    pub rules_configmap_name: String,
    /// The model name.
    pub configmaps_namespace: String,
}

/// Renders our app databag.
pub fn render(info: &OathkeeperInfo) -> Databag {
    [
        (PUBLIC_ENDPOINT, &info.public_endpoint),
        (RULES_CONFIGMAP_NAME, &info.rules_configmap_name),
        (CONFIGMAPS_NAMESPACE, &info.configmaps_namespace),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databag_holds_plain_strings() {
        // spec §5.3 example.
        let bag = render(&OathkeeperInfo {
            public_endpoint: "http://oathkeeper.testing.svc.cluster.local:4456".into(),
            rules_configmap_name: "access-rules".into(),
            configmaps_namespace: "testing".into(),
        });
        assert_eq!(
            serde_json::to_string(&bag).unwrap(),
            r#"{"configmaps_namespace":"testing","public_endpoint":"http://oathkeeper.testing.svc.cluster.local:4456","rules_configmap_name":"access-rules"}"#
        );
    }
}
