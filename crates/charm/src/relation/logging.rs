//! `logging` (requires, interface `loki_push_api`), as ops' `LogForwarder` does it
//! (spec/charm-parity.md §5.8): Pebble forwards the workload's logs to every Loki unit.
//!
//! - Each Loki **unit** databag holds `endpoint` = `{"url": "http://…:3100/loki/api/v1/push"}`.
//! - Our Pebble layer [`LAYER_LABEL`] has one log target per Loki unit, named after it:
//!   `{override: replace, type: loki, location: <url>, services: [all], labels: {product:
//!   Juju, charm, juju_model, juju_model_uuid, juju_application, juju_unit}}`; a target whose
//!   unit is gone (departed, relation broken) is replaced by `services: [-all]`, so Pebble
//!   stops forwarding to it.
//! - App databag (leader): `metadata` (the topology JSON) and `alert_rules` (Loki rules from
//!   `charm/loki_alert_rules/`).
//!
//! The workload already logs JSON (the rendered config has `log.format: json`, as upstream's),
//! so LogQL's `| json` finds `level`, and the decision audit lines carry their result and rule
//! as fields: nothing switches when logging is related.

use std::collections::BTreeMap;

use juju::pebble::layer::{Layer, LogTarget, Override};
use serde_json::Value;

use super::{Databag, FieldError};
use crate::alert_rules::{self, Language};
use crate::topology::Topology;

/// The endpoint.
pub const ENDPOINT: &str = "logging";
/// Loki unit key: the push endpoint.
pub const ENDPOINT_KEY: &str = "endpoint";
/// App key: the topology.
pub const METADATA: &str = "metadata";
/// App key: the Loki alert rules.
pub const ALERT_RULES: &str = "alert_rules";
/// The keys of our app databag.
pub const APP_KEYS: [&str; 2] = [METADATA, ALERT_RULES];
/// The label of the log-forwarding layer (`<container>-log-forwarding`).
pub const LAYER_LABEL: &str = "oathkeeper-log-forwarding";
/// The log target type.
pub const LOKI: &str = "loki";
/// Forward every service.
pub const ALL: &str = "all";
/// Forward no service.
pub const NONE: &str = "-all";

/// One Loki unit's push URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiEndpoint {
    /// The Loki unit, e.g. `loki/0` (the log target's name).
    pub unit: String,
    /// Its push URL.
    pub url: String,
}

/// The push URL in a Loki unit's databag: `None` while it has written none; an error naming
/// the unit and field when it is not `{"url": "<http(s) URL>"}`.
pub fn parse_unit(unit: &str, bag: &Databag) -> Result<Option<LokiEndpoint>, FieldError> {
    let Some(raw) = bag.get(ENDPOINT_KEY) else {
        return Ok(None);
    };
    let field = format!("{ENDPOINT_KEY} of {unit}");
    let url = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => match map.get("url") {
            Some(Value::String(url)) => url.clone(),
            Some(_) => return Err(FieldError::new(&field, "url is not a string")),
            None => return Err(FieldError::new(&field, "no url")),
        },
        _ => {
            return Err(FieldError::new(
                &field,
                format!("expected a JSON object with a url, found {raw:?}"),
            ));
        }
    };
    let valid = url
        .split_once("://")
        .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && !rest.is_empty());
    if !valid {
        return Err(FieldError::new(
            &field,
            format!("not an http(s) URL: {url:?}"),
        ));
    }
    Ok(Some(LokiEndpoint {
        unit: unit.to_owned(),
        url,
    }))
}

/// The labels of every forwarded line.
fn labels(topology: &Topology) -> BTreeMap<String, String> {
    [
        ("product", "Juju"),
        ("charm", topology.charm_name.as_str()),
        ("juju_model", topology.model.as_str()),
        ("juju_model_uuid", topology.model_uuid.as_str()),
        ("juju_application", topology.application.as_str()),
        ("juju_unit", topology.unit.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The log-forwarding layer: a target per endpoint, and `-all` for every target of `plan`
/// that is no longer wanted and still forwards. `None` when nothing is or was forwarded.
pub fn layer(endpoints: &[LokiEndpoint], plan: &Layer, topology: &Topology) -> Option<Layer> {
    let mut targets: BTreeMap<String, LogTarget> = endpoints
        .iter()
        .map(|e| {
            let target = LogTarget {
                override_: Some(Override::Replace),
                type_: Some(LOKI.to_owned()),
                location: Some(e.url.clone()),
                services: vec![ALL.to_owned()],
                labels: labels(topology),
            };
            (e.unit.clone(), target)
        })
        .collect();
    for (name, current) in &plan.log_targets {
        if targets.contains_key(name) || current.type_.as_deref() != Some(LOKI) {
            continue;
        }
        targets.insert(
            name.clone(),
            LogTarget {
                override_: Some(Override::Replace),
                type_: Some(LOKI.to_owned()),
                location: current.location.clone(),
                services: vec![NONE.to_owned()],
                labels: BTreeMap::new(),
            },
        );
    }
    (!targets.is_empty()).then(|| Layer {
        log_targets: targets,
        ..Layer::default()
    })
}

/// Whether every log target of `wanted` is in `plan` as wanted (`override` aside).
pub fn is_planned(plan: &Layer, wanted: &Layer) -> bool {
    wanted.log_targets.iter().all(|(name, target)| {
        plan.log_targets.get(name).is_some_and(|current| {
            LogTarget {
                override_: None,
                ..current.clone()
            } == LogTarget {
                override_: None,
                ..target.clone()
            }
        })
    })
}

/// Our app databag.
pub fn render_app(topology: &Topology) -> Databag {
    Databag::from([
        (METADATA.to_owned(), topology.metadata()),
        (
            ALERT_RULES.to_owned(),
            alert_rules::databag_value(alert_rules::LOKI_RULES, Language::LogQl, topology),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        crate::testing::topology(1)
    }

    fn bag(endpoint: &str) -> Databag {
        Databag::from([(ENDPOINT_KEY.to_owned(), endpoint.to_owned())])
    }

    #[test]
    fn a_loki_unit_endpoint_parses_and_errors_name_unit_and_field() {
        let url = "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push";
        assert_eq!(
            parse_unit("loki/0", &bag(&format!(r#"{{"url": "{url}"}}"#))).unwrap(),
            Some(LokiEndpoint {
                unit: "loki/0".into(),
                url: url.into()
            })
        );
        assert_eq!(parse_unit("loki/0", &Databag::new()).unwrap(), None);
        for (raw, problem) in [
            ("nope", r#"expected a JSON object with a url, found "nope""#),
            ("{}", "no url"),
            (r#"{"url": 3}"#, "url is not a string"),
            (
                r#"{"url": "loki:3100"}"#,
                r#"not an http(s) URL: "loki:3100""#,
            ),
        ] {
            assert_eq!(
                parse_unit("loki/0", &bag(raw)).unwrap_err().to_string(),
                format!("endpoint of loki/0: {problem}")
            );
        }
    }

    #[test]
    fn targets_forward_all_with_topology_labels_and_gone_ones_forward_nothing() {
        let wanted = [LokiEndpoint {
            unit: "loki/1".into(),
            url: "http://b/loki/api/v1/push".into(),
        }];
        let mut plan = Layer::default();
        plan.log_targets.insert(
            "loki/0".into(),
            LogTarget {
                type_: Some(LOKI.into()),
                location: Some("http://a/loki/api/v1/push".into()),
                services: vec![ALL.into()],
                ..LogTarget::default()
            },
        );
        let layer = layer(&wanted, &plan, &topology()).unwrap();
        let on = &layer.log_targets["loki/1"];
        assert_eq!(on.services, [ALL]);
        assert_eq!(on.labels["juju_unit"], "oathkeeper/1");
        assert_eq!(on.labels["product"], "Juju");
        assert_eq!(on.labels["charm"], "oathkeeper");
        assert_eq!(on.labels.len(), 6);
        let off = &layer.log_targets["loki/0"];
        assert_eq!(off.services, [NONE]);
        assert_eq!(off.location.as_deref(), Some("http://a/loki/api/v1/push"));
        assert!(!is_planned(&plan, &layer));
        assert!(super::layer(&[], &Layer::default(), &topology()).is_none());
    }
}
