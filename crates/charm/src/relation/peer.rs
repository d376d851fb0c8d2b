//! The peer relation `oathkeeper` (interface `oathkepeer_peers`, typo kept): the leader records
//! which rules files each auth-proxy relation owns, under `auth_proxy_<relation_id>`, so that
//! they can be removed when the relation goes (spec §5.9, §6.5).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Databag, json_dumps};

/// The endpoint name.
pub const ENDPOINT: &str = "oathkeeper";
/// Prefix of the bookkeeping keys.
pub const AUTH_PROXY_KEY_PREFIX: &str = "auth_proxy_";
/// The field of a bookkeeping value.
pub const ACCESS_RULES_FILENAMES: &str = "access_rules_filenames";

/// What upstream's CertHandler kept in this unit's peer databag, the private key in plain
/// relation data among it (spec §5.9). We keep the key in a Juju secret and remove these keys
/// when a unit refreshed from the Python charm still has them.
pub const UPSTREAM_CERT_KEYS: [&str; 5] = ["private_key", "csr", "ca", "certificate", "chain"];

/// The bookkeeping key of an auth-proxy relation.
pub fn auth_proxy_key(relation_id: u64) -> String {
    format!("{AUTH_PROXY_KEY_PREFIX}{relation_id}")
}

/// The bookkeeping value: `{"access_rules_filenames": [...]}` as `json.dumps` writes it.
pub fn render_filenames(filenames: &[String]) -> String {
    json_dumps(&json!({ ACCESS_RULES_FILENAMES: filenames }))
}

/// Every rules file recorded in the peer app databag, by relation id. Values that do not
/// parse are skipped: bookkeeping only widens what may be removed.
pub fn recorded_filenames(bag: &Databag) -> BTreeMap<u64, Vec<String>> {
    bag.iter()
        .filter_map(|(key, value)| {
            let id = key.strip_prefix(AUTH_PROXY_KEY_PREFIX)?.parse().ok()?;
            let parsed: Value = serde_json::from_str(value).ok()?;
            let names = parsed
                .get(ACCESS_RULES_FILENAMES)?
                .as_array()?
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect();
            Some((id, names))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_value_has_the_exact_upstream_format() {
        // spec §5.9, test_peer_data_set_on_auth_proxy_config_changed.
        let value = render_filenames(&[
            "access-rules-requirer-allow.json".into(),
            "access-rules-requirer-deny.json".into(),
        ]);
        assert_eq!(
            value,
            r#"{"access_rules_filenames": ["access-rules-requirer-allow.json", "access-rules-requirer-deny.json"]}"#
        );
        let bag: Databag = [
            (auth_proxy_key(7), value),
            ("auth_proxy_x".to_owned(), "{}".to_owned()),
            ("other".to_owned(), "1".to_owned()),
        ]
        .into();
        assert_eq!(
            recorded_filenames(&bag),
            BTreeMap::from([(
                7,
                vec![
                    "access-rules-requirer-allow.json".to_owned(),
                    "access-rules-requirer-deny.json".to_owned()
                ]
            )])
        );
    }
}
