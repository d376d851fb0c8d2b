//! The event to run: a hook name as Juju spells it (`install`, `db-relation-changed`,
//! `web-pebble-ready`) or an action, plus what the hook context needs (relation, remote unit,
//! departing unit, container, check, notice, secret, action parameters).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::State;

/// One event to dispatch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Event {
    /// The hook name (`install`, `<endpoint>-relation-changed`, `<container>-pebble-ready`...),
    /// or the action name when `action` is set.
    pub name: String,
    /// The relation id, for relation hooks.
    pub relation: Option<u64>,
    /// The remote unit (`app/N`) for relation-joined/changed/departed; by default the single
    /// remote unit when there is exactly one, and empty for an app databag change.
    pub remote_unit: Option<String>,
    /// The departing unit, for relation-departed.
    pub departing_unit: Option<String>,
    /// The check, for `<container>-pebble-check-failed` / `-recovered`.
    pub check: Option<String>,
    /// The notice (id, type, key), for `<container>-pebble-custom-notice`.
    pub notice: Option<Notice>,
    /// The secret URI, for `secret-*` hooks.
    pub secret: Option<String>,
    /// The secret revision, for `secret-expired` / `secret-remove`.
    pub secret_revision: Option<u64>,
    /// Set for an action: its parameters and id.
    pub action: Option<ActionCall>,
}

/// A Pebble notice carried by a custom-notice hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// The notice id.
    pub id: String,
    /// The notice type (`custom`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The notice key (`example.com/a`).
    pub key: String,
}

/// An action invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionCall {
    /// The parameters given by the operator.
    pub params: Map<String, Value>,
    /// The action id (Juju 3: a small number).
    pub id: String,
}

impl Default for ActionCall {
    fn default() -> ActionCall {
        ActionCall {
            params: Map::new(),
            id: "1".to_owned(),
        }
    }
}

/// The relation hook suffixes.
pub const RELATION_SUFFIXES: [&str; 5] = [
    "-relation-created",
    "-relation-joined",
    "-relation-changed",
    "-relation-departed",
    "-relation-broken",
];

impl Event {
    /// A hook with no context (`install`, `config-changed`, ...).
    pub fn hook(name: &str) -> Event {
        Event {
            name: name.to_owned(),
            ..Event::default()
        }
    }

    /// A relation hook: `<endpoint>-relation-<kind>` on relation `id`.
    pub fn relation(endpoint: &str, kind: &str, id: u64) -> Event {
        Event {
            name: format!("{endpoint}-relation-{kind}"),
            relation: Some(id),
            ..Event::default()
        }
    }

    /// `<container>-pebble-ready`.
    pub fn pebble_ready(container: &str) -> Event {
        Event::hook(&format!("{container}-pebble-ready"))
    }

    /// An action with parameters.
    pub fn action(name: &str, params: Map<String, Value>) -> Event {
        Event {
            name: name.to_owned(),
            action: Some(ActionCall {
                params,
                ..ActionCall::default()
            }),
            ..Event::default()
        }
    }

    /// `secret-<kind>` (`changed`, `expired`, `remove`, `rotate`) for secret `id`; `revision`
    /// for `expired` and `remove`.
    pub fn secret(kind: &str, id: &str, revision: Option<u64>) -> Event {
        Event {
            name: format!("secret-{kind}"),
            secret: Some(id.to_owned()),
            secret_revision: revision,
            ..Event::default()
        }
    }

    /// Sets the remote unit.
    pub fn remote_unit(mut self, unit: &str) -> Event {
        self.remote_unit = Some(unit.to_owned());
        self
    }

    /// Sets the departing unit.
    pub fn departing_unit(mut self, unit: &str) -> Event {
        self.departing_unit = Some(unit.to_owned());
        self
    }

    /// `(endpoint, suffix)` when this is a relation hook.
    pub fn relation_kind(&self) -> Option<(&str, &str)> {
        if self.action.is_some() {
            return None;
        }
        RELATION_SUFFIXES.iter().find_map(|suffix| {
            let endpoint = self.name.strip_suffix(suffix)?;
            (!endpoint.is_empty()).then_some((endpoint, &suffix["-relation-".len()..]))
        })
    }

    /// The container when this is a workload hook.
    pub fn workload(&self) -> Option<&str> {
        if self.action.is_some() {
            return None;
        }
        [
            "-pebble-ready",
            "-pebble-custom-notice",
            "-pebble-check-failed",
            "-pebble-check-recovered",
        ]
        .iter()
        .find_map(|suffix| self.name.strip_suffix(suffix))
        .filter(|container| !container.is_empty())
    }

    /// `JUJU_DISPATCH_PATH`: `hooks/<name>` or `actions/<name>`.
    pub fn dispatch_path(&self) -> String {
        if self.action.is_some() {
            format!("actions/{}", self.name)
        } else {
            format!("hooks/{}", self.name)
        }
    }
}

impl Event {
    /// `JUJU_REMOTE_UNIT` for a relation hook: the event's, else the single remote unit for
    /// joined/changed/departed (empty when there are several: an app databag change).
    pub fn juju_remote_unit(&self, state: &State) -> Option<String> {
        let (_, kind) = self.relation_kind()?;
        if let Some(unit) = &self.remote_unit {
            return Some(unit.clone());
        }
        if !matches!(kind, "joined" | "changed" | "departed") {
            return Some(String::new());
        }
        let relation = state.find_relation(self.relation?)?;
        let units = relation.remote_unit_names();
        Some(match units.as_slice() {
            [only] => only.clone(),
            _ => String::new(),
        })
    }

    /// `JUJU_DEPARTING_UNIT`: the event's, else the remote unit.
    pub fn juju_departing_unit(&self, state: &State) -> Option<String> {
        self.departing_unit
            .clone()
            .or_else(|| self.juju_remote_unit(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_and_workload_hooks_are_recognised_by_suffix() {
        let event = Event::relation("auth-proxy", "changed", 3);
        assert_eq!(event.name, "auth-proxy-relation-changed");
        assert_eq!(event.relation_kind(), Some(("auth-proxy", "changed")));
        assert_eq!(event.dispatch_path(), "hooks/auth-proxy-relation-changed");
        let ready = Event::pebble_ready("oathkeeper");
        assert_eq!(ready.workload(), Some("oathkeeper"));
        assert_eq!(ready.relation_kind(), None);
        let action = Event::action("list-rules", Map::new());
        assert_eq!(action.dispatch_path(), "actions/list-rules");
        assert_eq!(action.relation_kind(), None);
    }
}
