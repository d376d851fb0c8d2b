//! The Juju topology: which model, application, unit and charm a metric, log line or alert
//! comes from, in the shapes the COS libraries exchange (`cosl.JujuTopology`).
//!
//! - [`Topology::metadata`]: the `scrape_metadata` / `metadata` databag value, the five
//!   fields in the library's order;
//! - [`Topology::labels`]: the `juju_*` labels of every alert rule (`juju_model`,
//!   `juju_model_uuid`, `juju_application`, `juju_charm`; never the unit, which only the
//!   leader would match);
//! - [`Topology::expression_matchers`]: what alert expressions are narrowed to (model, its
//!   UUID, application; not the charm, which a subordinate shares with its principal);
//! - [`Topology::identifier`]: `<model>_<first 8 of the UUID>_<application>`, the prefix of
//!   alert group names.

use serde_json::Value;

use crate::relation::json_dumps;

/// The charm's name (`metadata.yaml`), the `juju_charm` label.
pub const CHARM_NAME: &str = "oathkeeper";

/// Where this unit sits in Juju.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The model name.
    pub model: String,
    /// The model UUID (`JUJU_MODEL_UUID`).
    pub model_uuid: String,
    /// The application.
    pub application: String,
    /// This unit, `<app>/<n>`.
    pub unit: String,
    /// The charm, [`CHARM_NAME`].
    pub charm_name: String,
}

impl Topology {
    /// The topology of the snapshot's unit.
    pub fn of(snapshot: &crate::Snapshot) -> Topology {
        Topology {
            model: snapshot.model.clone(),
            model_uuid: snapshot.model_uuid.clone(),
            application: snapshot.app.clone(),
            unit: snapshot.unit.clone(),
            charm_name: CHARM_NAME.to_owned(),
        }
    }

    /// The metadata JSON (`json.dumps` of the library's ordered dict): `model`, `model_uuid`,
    /// `application`, `unit`, `charm_name`.
    pub fn metadata(&self) -> String {
        let fields = [
            ("model", &self.model),
            ("model_uuid", &self.model_uuid),
            ("application", &self.application),
            ("unit", &self.unit),
            ("charm_name", &self.charm_name),
        ];
        let mut out = String::from("{");
        for (i, (key, value)) in fields.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&json_dumps(&Value::String(key.to_owned())));
            out.push_str(": ");
            out.push_str(&json_dumps(&Value::String(value.clone())));
        }
        out.push('}');
        out
    }

    /// The labels every alert rule carries, in the library's order; empty values are left
    /// out as the library does.
    pub fn labels(&self) -> Vec<(&'static str, &str)> {
        [
            ("juju_model", self.model.as_str()),
            ("juju_model_uuid", self.model_uuid.as_str()),
            ("juju_application", self.application.as_str()),
            ("juju_charm", self.charm_name.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    /// The matchers every selector of an alert expression gets.
    pub fn expression_matchers(&self) -> Vec<(&'static str, &str)> {
        self.labels()
            .into_iter()
            .filter(|(k, _)| *k != "juju_charm")
            .collect()
    }

    /// `<model>_<first 8 characters of the model UUID>_<application>`, `/` replaced by `_`.
    pub fn identifier(&self) -> String {
        let short: String = self.model_uuid.chars().take(8).collect();
        format!("{}_{short}_{}", self.model, self.application).replace('/', "_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        crate::testing::topology(0)
    }

    #[test]
    fn metadata_has_the_five_fields_in_the_library_order() {
        assert_eq!(
            topology().metadata(),
            r#"{"model": "iam", "model_uuid": "0b4a7c1e-0000-4000-8000-000000000000", "application": "oathkeeper", "unit": "oathkeeper/0", "charm_name": "oathkeeper"}"#
        );
    }

    #[test]
    fn identifier_crops_the_uuid() {
        assert_eq!(topology().identifier(), "iam_0b4a7c1e_oathkeeper");
    }

    #[test]
    fn expressions_are_not_narrowed_to_the_charm_or_unit() {
        let t = topology();
        assert_eq!(t.labels().len(), 4);
        assert_eq!(
            t.expression_matchers()
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>(),
            ["juju_model", "juju_model_uuid", "juju_application"]
        );
    }
}
