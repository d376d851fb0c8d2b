//! Pebble layers and plans: the layer format, `override: merge | replace`, and how layers
//! combine into a plan (spec/juju-runtime.md §3.4).
//!
//! Pure data and functions: the charm builds layers with these types, and the harness's fake
//! Pebble uses the same rules to combine them, with Pebble's error texts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How an item of a layer applies over the same item of earlier layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Override {
    /// Merge field by field: scalars replace, lists append, maps merge.
    Merge,
    /// Replace the whole item.
    Replace,
}

/// `startup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Startup {
    /// Started by `replan` / `autostart`.
    Enabled,
    /// Started only explicitly.
    Disabled,
}

/// One service of a layer. Unset fields (`None`, empty) do not override on merge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Service {
    /// Required in a layer.
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
    /// One line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The command, not run through a shell. Required in the combined plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Default disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    /// Start after these services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Start before these services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// Services that must run too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// User id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `restart` (default), `shutdown`, `failure-shutdown`, `ignore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    /// `restart` (default), `shutdown`, `success-shutdown`, `ignore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// Check name → action.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_check_failure: BTreeMap<String, String>,
    /// Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<String>,
    /// Factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_factor: Option<f64>,
    /// Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<String>,
    /// Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_delay: Option<String>,
}

/// `checks.<name>.http`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpCheck {
    /// URL to GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// `checks.<name>.tcp`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TcpCheck {
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Host (default localhost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `checks.<name>.exec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ExecCheck {
    /// Command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Run in this service's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_context: Option<String>,
    /// Environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// User id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    /// Group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// One check of a layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Check {
    /// Required in a layer.
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
    /// `alive` or `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Default enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    /// Go duration (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Go duration (default 3s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failures before the check is down (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// HTTP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// TCP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// Exec check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
}

/// One log target of a layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LogTarget {
    /// Required in a layer.
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
    /// `loki`, `opentelemetry`, `syslog`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `all`, a service, or `-service`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A layer (and, combined, a plan).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Layer {
    /// One line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Services by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    /// Checks by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
    /// Log targets by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_targets: BTreeMap<String, LogTarget>,
}

/// Why a layer was refused, with Pebble's texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// The YAML does not parse.
    #[error("cannot parse layer YAML: {0}")]
    Parse(String),
    /// No label.
    #[error("label must be set")]
    NoLabel,
    /// A `pebble-` label.
    #[error("cannot use reserved label prefix \"pebble-\"")]
    ReservedLabel,
    /// `combine: false` with an existing label.
    #[error("layer \"{0}\" already exists")]
    Exists(String),
    /// An item without `override`.
    #[error("layer \"{label}\" must define \"override\" for {kind} \"{name}\"")]
    MissingOverride {
        /// The layer.
        label: String,
        /// `service`, `check` or `log target`.
        kind: &'static str,
        /// The item.
        name: String,
    },
    /// An item whose `override` is neither `merge` nor `replace`.
    #[error("layer \"{label}\" has invalid \"override\" value for {kind} \"{name}\"")]
    InvalidOverride {
        /// The layer.
        label: String,
        /// `service`, `check` or `log target`.
        kind: &'static str,
        /// The item.
        name: String,
    },
    /// A combined service without a command.
    #[error("plan must define \"command\" for service \"{0}\"")]
    NoCommand(String),
}

impl Layer {
    /// Parses a layer's YAML.
    pub fn parse_yaml(text: &str) -> Result<Layer, LayerError> {
        if text.trim().is_empty() {
            return Ok(Layer::default());
        }
        serde_norway::from_str(text).map_err(|e| {
            let message = e.to_string();
            // An invalid override value names the field; keep serde's text otherwise.
            LayerError::Parse(message)
        })
    }

    /// Parses the YAML of layer `label` as `POST /v1/layers` does: an `override` other than
    /// `merge` or `replace` is [`LayerError::InvalidOverride`], naming the item; other errors
    /// are [`LayerError::Parse`].
    pub fn parse_labelled(text: &str, label: &str) -> Result<Layer, LayerError> {
        if let Ok(serde_norway::Value::Mapping(root)) =
            serde_norway::from_str::<serde_norway::Value>(text)
        {
            for (section, kind) in [
                ("services", "service"),
                ("checks", "check"),
                ("log-targets", "log target"),
            ] {
                let Some(serde_norway::Value::Mapping(items)) = root.get(section) else {
                    continue;
                };
                for (name, item) in items {
                    let value = item.get("override");
                    let valid = match value {
                        None => true,
                        Some(serde_norway::Value::String(v)) => v == "merge" || v == "replace",
                        Some(_) => false,
                    };
                    if !valid {
                        return Err(LayerError::InvalidOverride {
                            label: label.to_owned(),
                            kind,
                            name: name.as_str().unwrap_or_default().to_owned(),
                        });
                    }
                }
            }
        }
        Layer::parse_yaml(text)
    }

    /// The layer as YAML.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
    }

    /// Checks that every item defines `override`, naming the layer `label`.
    pub fn validate(&self, label: &str) -> Result<(), LayerError> {
        let missing = |kind, name: &String| LayerError::MissingOverride {
            label: label.to_owned(),
            kind,
            name: name.clone(),
        };
        if let Some((name, _)) = self.services.iter().find(|(_, s)| s.override_.is_none()) {
            return Err(missing("service", name));
        }
        if let Some((name, _)) = self.checks.iter().find(|(_, c)| c.override_.is_none()) {
            return Err(missing("check", name));
        }
        if let Some((name, _)) = self.log_targets.iter().find(|(_, t)| t.override_.is_none()) {
            return Err(missing("log target", name));
        }
        Ok(())
    }

    /// Applies `other` over this layer, item by item, by each item's `override`.
    pub fn combine(&mut self, other: &Layer) {
        if other.summary.is_some() {
            self.summary.clone_from(&other.summary);
        }
        if other.description.is_some() {
            self.description.clone_from(&other.description);
        }
        apply(
            &mut self.services,
            &other.services,
            |s| s.override_,
            merge_service,
        );
        apply(
            &mut self.checks,
            &other.checks,
            |c| c.override_,
            merge_check,
        );
        apply(
            &mut self.log_targets,
            &other.log_targets,
            |t| t.override_,
            merge_log_target,
        );
    }
}

fn apply<T: Clone>(
    base: &mut BTreeMap<String, T>,
    over: &BTreeMap<String, T>,
    how: impl Fn(&T) -> Option<Override>,
    merge: impl Fn(&mut T, &T),
) {
    for (name, item) in over {
        match (base.get_mut(name), how(item)) {
            (Some(existing), Some(Override::Merge)) => merge(existing, item),
            _ => {
                base.insert(name.clone(), item.clone());
            }
        }
    }
}

fn set<T: Clone>(base: &mut Option<T>, over: &Option<T>) {
    if over.is_some() {
        base.clone_from(over);
    }
}

fn extend_map(base: &mut BTreeMap<String, String>, over: &BTreeMap<String, String>) {
    base.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
}

fn merge_service(base: &mut Service, over: &Service) {
    set(&mut base.override_, &over.override_);
    set(&mut base.summary, &over.summary);
    set(&mut base.description, &over.description);
    set(&mut base.command, &over.command);
    set(&mut base.startup, &over.startup);
    base.after.extend(over.after.iter().cloned());
    base.before.extend(over.before.iter().cloned());
    base.requires.extend(over.requires.iter().cloned());
    extend_map(&mut base.environment, &over.environment);
    set(&mut base.user, &over.user);
    set(&mut base.user_id, &over.user_id);
    set(&mut base.group, &over.group);
    set(&mut base.group_id, &over.group_id);
    set(&mut base.working_dir, &over.working_dir);
    set(&mut base.on_success, &over.on_success);
    set(&mut base.on_failure, &over.on_failure);
    extend_map(&mut base.on_check_failure, &over.on_check_failure);
    set(&mut base.backoff_delay, &over.backoff_delay);
    set(&mut base.backoff_factor, &over.backoff_factor);
    set(&mut base.backoff_limit, &over.backoff_limit);
    set(&mut base.kill_delay, &over.kill_delay);
}

fn merge_check(base: &mut Check, over: &Check) {
    set(&mut base.override_, &over.override_);
    set(&mut base.level, &over.level);
    set(&mut base.startup, &over.startup);
    set(&mut base.period, &over.period);
    set(&mut base.timeout, &over.timeout);
    set(&mut base.threshold, &over.threshold);
    match (&mut base.http, &over.http) {
        (Some(b), Some(o)) => {
            set(&mut b.url, &o.url);
            extend_map(&mut b.headers, &o.headers);
        }
        (b, o) => set(b, o),
    }
    match (&mut base.tcp, &over.tcp) {
        (Some(b), Some(o)) => {
            set(&mut b.port, &o.port);
            set(&mut b.host, &o.host);
        }
        (b, o) => set(b, o),
    }
    match (&mut base.exec, &over.exec) {
        (Some(b), Some(o)) => {
            set(&mut b.command, &o.command);
            set(&mut b.service_context, &o.service_context);
            extend_map(&mut b.environment, &o.environment);
            set(&mut b.user, &o.user);
            set(&mut b.user_id, &o.user_id);
            set(&mut b.group, &o.group);
            set(&mut b.group_id, &o.group_id);
            set(&mut b.working_dir, &o.working_dir);
        }
        (b, o) => set(b, o),
    }
}

fn merge_log_target(base: &mut LogTarget, over: &LogTarget) {
    set(&mut base.override_, &over.override_);
    set(&mut base.type_, &over.type_);
    set(&mut base.location, &over.location);
    base.services.extend(over.services.iter().cloned());
    extend_map(&mut base.labels, &over.labels);
}

/// The layers of a Pebble daemon, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Layers {
    /// `(label, layer)`, oldest first.
    pub layers: Vec<(String, Layer)>,
}

impl Layers {
    /// Adds a layer as `POST /v1/layers {"action":"add"}` does: a new label appends; an
    /// existing label is an error unless `combine`, which merges the layer into it.
    pub fn add(&mut self, label: &str, layer: Layer, combine: bool) -> Result<(), LayerError> {
        if label.is_empty() {
            return Err(LayerError::NoLabel);
        }
        if label.starts_with("pebble-") {
            return Err(LayerError::ReservedLabel);
        }
        layer.validate(label)?;
        match self.layers.iter_mut().find(|(l, _)| l == label) {
            Some(_) if !combine => Err(LayerError::Exists(label.to_owned())),
            Some((_, existing)) => {
                existing.combine(&layer);
                Ok(())
            }
            None => {
                self.layers.push((label.to_owned(), layer));
                Ok(())
            }
        }
    }

    /// The labels, oldest first.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.layers.iter().map(|(label, _)| label.as_str())
    }

    /// The plan: every layer folded in order.
    pub fn plan(&self) -> Layer {
        let mut plan = Layer::default();
        for (_, layer) in &self.layers {
            plan.combine(layer);
        }
        plan.summary = None;
        plan.description = None;
        plan
    }

    /// Checks the plan: every service needs a command.
    pub fn validate_plan(&self) -> Result<Layer, LayerError> {
        let plan = self.plan();
        if let Some((name, _)) = plan
            .services
            .iter()
            .find(|(_, s)| s.command.as_deref().is_none_or(str::is_empty))
        {
            return Err(LayerError::NoCommand(name.clone()));
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(yaml: &str) -> Layer {
        Layer::parse_yaml(yaml).unwrap()
    }

    const BASE: &str = "
summary: base
services:
  oathkeeper:
    override: replace
    command: oathkeeper serve -c /etc/config/oathkeeper/oathkeeper.yaml
    startup: enabled
    environment: {A: '1', B: '2'}
    after: [db]
checks:
  alive:
    override: replace
    http: {url: 'http://localhost:4456/health/alive'}
";

    #[test]
    fn the_charm_layer_parses_and_round_trips() {
        let l = layer(BASE);
        let s = &l.services["oathkeeper"];
        assert_eq!(s.override_, Some(Override::Replace));
        assert_eq!(s.startup, Some(Startup::Enabled));
        assert_eq!(
            l.checks["alive"].http.as_ref().unwrap().url.as_deref(),
            Some("http://localhost:4456/health/alive")
        );
        assert_eq!(layer(&l.to_yaml()), l);
    }

    #[test]
    fn merge_replaces_scalars_appends_lists_and_merges_maps() {
        let mut layers = Layers::default();
        layers.add("base", layer(BASE), false).unwrap();
        layers
            .add(
                "tweak",
                layer("services:\n  oathkeeper:\n    override: merge\n    command: other\n    environment: {B: '3', C: '4'}\n    after: [cache]\n"),
                false,
            )
            .unwrap();
        let plan = layers.plan();
        let s = &plan.services["oathkeeper"];
        assert_eq!(s.command.as_deref(), Some("other"));
        assert_eq!(
            s.startup,
            Some(Startup::Enabled),
            "unset fields keep the earlier value"
        );
        assert_eq!(s.after, ["db", "cache"]);
        assert_eq!(s.environment["A"], "1");
        assert_eq!(s.environment["B"], "3");
        assert_eq!(s.environment["C"], "4");
    }

    #[test]
    fn replace_replaces_the_whole_item() {
        let mut layers = Layers::default();
        layers.add("base", layer(BASE), false).unwrap();
        layers
            .add(
                "new",
                layer("services:\n  oathkeeper:\n    override: replace\n    command: x\n"),
                false,
            )
            .unwrap();
        let s = &layers.plan().services["oathkeeper"];
        assert_eq!(s.command.as_deref(), Some("x"));
        assert!(s.environment.is_empty());
        assert_eq!(s.startup, None);
    }

    #[test]
    fn combine_merges_into_an_existing_label_and_otherwise_it_is_an_error() {
        let mut layers = Layers::default();
        layers.add("base", layer(BASE), false).unwrap();
        assert_eq!(
            layers.add("base", layer(BASE), false),
            Err(LayerError::Exists("base".into()))
        );
        assert_eq!(
            layers
                .add("base", layer(BASE), false)
                .unwrap_err()
                .to_string(),
            "layer \"base\" already exists"
        );
        layers
            .add(
                "base",
                layer("services:\n  other:\n    override: replace\n    command: y\n"),
                true,
            )
            .unwrap();
        assert_eq!(layers.layers.len(), 1);
        assert_eq!(layers.plan().services.len(), 2);
    }

    #[test]
    fn pebble_error_texts() {
        let mut layers = Layers::default();
        assert_eq!(
            layers
                .add("", Layer::default(), false)
                .unwrap_err()
                .to_string(),
            "label must be set"
        );
        assert_eq!(
            layers
                .add("pebble-x", Layer::default(), false)
                .unwrap_err()
                .to_string(),
            "cannot use reserved label prefix \"pebble-\""
        );
        let no_override = layer("services:\n  s:\n    command: x\n");
        assert_eq!(
            layers.add("l", no_override, false).unwrap_err().to_string(),
            "layer \"l\" must define \"override\" for service \"s\""
        );
        let err = Layer::parse_yaml("services:\n  s:\n    override: sometimes\n").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot parse layer YAML: "),
            "{err}"
        );
        layers
            .add(
                "l",
                layer("services:\n  s:\n    override: merge\n    startup: enabled\n"),
                false,
            )
            .unwrap();
        assert_eq!(
            layers.validate_plan().unwrap_err().to_string(),
            "plan must define \"command\" for service \"s\""
        );
    }

    #[test]
    fn an_invalid_override_names_the_layer_and_the_item() {
        let err =
            Layer::parse_labelled("checks:\n  up:\n    override: sometimes\n", "l").unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer \"l\" has invalid \"override\" value for check \"up\""
        );
        assert!(Layer::parse_labelled(BASE, "l").is_ok());
        assert!(matches!(
            Layer::parse_labelled("services: [", "l"),
            Err(LayerError::Parse(_))
        ));
    }

    #[test]
    fn check_subsections_merge_field_by_field() {
        let mut layers = Layers::default();
        layers.add("base", layer(BASE), false).unwrap();
        layers
            .add("more", layer("checks:\n  alive:\n    override: merge\n    period: 5s\n    http: {headers: {X: y}}\n"), false)
            .unwrap();
        let c = &layers.plan().checks["alive"];
        assert_eq!(c.period.as_deref(), Some("5s"));
        let http = c.http.as_ref().unwrap();
        assert_eq!(
            http.url.as_deref(),
            Some("http://localhost:4456/health/alive")
        );
        assert_eq!(http.headers["X"], "y");
    }
}
