//! The event being dispatched, parsed from `JUJU_DISPATCH_PATH` (spec/juju-runtime.md §1.3)
//! and the variables each event kind carries (§1.4).
//!
//! `hooks/<name>` is a hook, `actions/<name>` an action. Which variables each kind needs
//! follows ops' validation: a missing one is [`EnvError::Missing`] naming it, a hook this
//! runtime does not know is [`EnvError::UnknownHook`].

use crate::env::vars::{
    EnvError, JUJU_ACTION_NAME, JUJU_ACTION_TAG, JUJU_ACTION_UUID, JUJU_DEPARTING_UNIT,
    JUJU_NOTICE_ID, JUJU_NOTICE_KEY, JUJU_NOTICE_TYPE, JUJU_PEBBLE_CHECK_NAME, JUJU_RELATION,
    JUJU_RELATION_ID, JUJU_REMOTE_APP, JUJU_REMOTE_UNIT, JUJU_SECRET_ID, JUJU_SECRET_LABEL,
    JUJU_SECRET_REVISION, JUJU_STORAGE_ID, JUJU_STORAGE_KIND, JUJU_STORAGE_LOCATION,
    JUJU_WORKLOAD_NAME, Source, number, optional, required,
};

/// The dispatch path prefix of hooks.
pub const HOOKS_DIR: &str = "hooks/";
/// The dispatch path prefix of actions.
pub const ACTIONS_DIR: &str = "actions/";

/// The five relation hooks, `<endpoint>-relation-<hook>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelationHook {
    /// `-relation-created`: the relation exists; no remote unit yet.
    Created,
    /// `-relation-joined`: a remote unit entered scope.
    Joined,
    /// `-relation-changed`: a remote unit's or the remote app's databag changed.
    Changed,
    /// `-relation-departed`: a unit left scope (possibly this one).
    Departed,
    /// `-relation-broken`: the relation is being removed.
    Broken,
}

impl RelationHook {
    /// Every relation hook with its hook-name suffix.
    pub const ALL: [(&'static str, RelationHook); 5] = [
        ("-relation-created", RelationHook::Created),
        ("-relation-joined", RelationHook::Joined),
        ("-relation-changed", RelationHook::Changed),
        ("-relation-departed", RelationHook::Departed),
        ("-relation-broken", RelationHook::Broken),
    ];
}

/// The four secret hooks, `secret-<hook>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretHook {
    /// `secret-changed`: a tracked secret has a new revision (consumers).
    Changed,
    /// `secret-expired`: a revision expired (owner).
    Expired,
    /// `secret-remove`: a revision is no longer tracked by anyone (owner).
    Remove,
    /// `secret-rotate`: the secret is due for rotation (owner).
    Rotate,
}

/// `JUJU_STORAGE_KIND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageKind {
    /// `filesystem`.
    Filesystem,
    /// `block`.
    Block,
}

/// What is being dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `install`.
    Install,
    /// `start`.
    Start,
    /// `stop`.
    Stop,
    /// `remove`.
    Remove,
    /// `config-changed`.
    ConfigChanged,
    /// `upgrade-charm`.
    UpgradeCharm,
    /// `update-status`.
    UpdateStatus,
    /// `leader-elected`.
    LeaderElected,
    /// `leader-settings-changed` (non-leaders).
    LeaderSettingsChanged,
    /// `leader-deposed` (defined, never fired).
    LeaderDeposed,
    /// `collect-metrics` (legacy, restricted context).
    CollectMetrics,
    /// `meter-status-changed` (legacy, restricted context).
    MeterStatusChanged,
    /// `pre-series-upgrade` (machines only).
    PreSeriesUpgrade,
    /// `post-series-upgrade` (machines only).
    PostSeriesUpgrade,
    /// `<endpoint>-relation-<hook>`.
    Relation {
        /// Which relation hook.
        hook: RelationHook,
        /// The endpoint.
        endpoint: String,
        /// The relation id (the number in `db:7`).
        id: u64,
        /// The remote application.
        remote_app: String,
        /// The remote unit (none for created, broken, and app-bag changes).
        remote_unit: Option<String>,
        /// The departing unit (departed only; may be this unit).
        departing_unit: Option<String>,
    },
    /// `<storage>-storage-attached` / `-detaching`.
    Storage {
        /// True for attached, false for detaching.
        attached: bool,
        /// The storage name.
        name: String,
        /// `<name>/<n>`.
        id: String,
        /// The mount path, when known.
        location: Option<String>,
        /// Filesystem or block, when known.
        kind: Option<StorageKind>,
    },
    /// `<container>-pebble-ready`.
    PebbleReady {
        /// The container.
        container: String,
    },
    /// `<container>-pebble-custom-notice` (Juju 3.4+).
    PebbleCustomNotice {
        /// The container.
        container: String,
        /// The notice id.
        notice_id: String,
        /// The notice type (`custom`).
        notice_type: String,
        /// The notice key, e.g. `example.com/a`.
        notice_key: String,
    },
    /// `<container>-pebble-check-failed` / `-recovered` (Juju 3.6+).
    PebbleCheck {
        /// True for failed, false for recovered.
        failed: bool,
        /// The container.
        container: String,
        /// The check.
        check: String,
    },
    /// `secret-<hook>`.
    Secret {
        /// Which secret hook.
        hook: SecretHook,
        /// The secret id.
        id: String,
        /// Its label, if any.
        label: Option<String>,
        /// Its revision (expired and remove).
        revision: Option<u64>,
    },
    /// `actions/<name>`.
    Action {
        /// The action name.
        name: String,
        /// The action id (`JUJU_ACTION_UUID`).
        id: String,
        /// `JUJU_ACTION_TAG` (`action-<id>`), when set.
        tag: Option<String>,
    },
}

impl Event {
    /// Parses `dispatch_path` (`hooks/<name>` or `actions/<name>`), reading the variables the
    /// event needs from `source`.
    pub fn parse(dispatch_path: &str, source: &dyn Source) -> Result<Event, EnvError> {
        if let Some(name) = dispatch_path.strip_prefix(ACTIONS_DIR) {
            return action(dispatch_path, name, source);
        }
        let unknown = || EnvError::UnknownHook(dispatch_path.to_owned());
        let hook = dispatch_path.strip_prefix(HOOKS_DIR).ok_or_else(unknown)?;
        if let Some(event) = simple(hook) {
            return Ok(event);
        }
        if let Some(kind) = hook.strip_prefix("secret-") {
            return secret(kind, source).ok_or_else(unknown)?;
        }
        for (suffix, kind) in RelationHook::ALL {
            if let Some(endpoint) = prefix(hook, suffix) {
                return relation(kind, endpoint, source);
            }
        }
        for (suffix, attached) in [("-storage-attached", true), ("-storage-detaching", false)] {
            if let Some(name) = prefix(hook, suffix) {
                return storage(attached, name, source);
            }
        }
        if let Some(container) = prefix(hook, "-pebble-ready") {
            return Ok(Event::PebbleReady {
                container: workload(source, container)?,
            });
        }
        if let Some(container) = prefix(hook, "-pebble-custom-notice") {
            return Ok(Event::PebbleCustomNotice {
                container: workload(source, container)?,
                notice_id: required(source, JUJU_NOTICE_ID)?,
                notice_type: required(source, JUJU_NOTICE_TYPE)?,
                notice_key: required(source, JUJU_NOTICE_KEY)?,
            });
        }
        for (suffix, failed) in [
            ("-pebble-check-failed", true),
            ("-pebble-check-recovered", false),
        ] {
            if let Some(container) = prefix(hook, suffix) {
                return Ok(Event::PebbleCheck {
                    failed,
                    container: workload(source, container)?,
                    check: required(source, JUJU_PEBBLE_CHECK_NAME)?,
                });
            }
        }
        Err(unknown())
    }

    /// True for `actions/<name>`.
    pub fn is_action(&self) -> bool {
        matches!(self, Event::Action { .. })
    }
}

/// `hook` without `suffix`, when what remains is a non-empty name.
fn prefix<'a>(hook: &'a str, suffix: &str) -> Option<&'a str> {
    hook.strip_suffix(suffix).filter(|name| !name.is_empty())
}

/// The hooks that carry no variables of their own.
fn simple(hook: &str) -> Option<Event> {
    Some(match hook {
        "install" => Event::Install,
        "start" => Event::Start,
        "stop" => Event::Stop,
        "remove" => Event::Remove,
        "config-changed" => Event::ConfigChanged,
        "upgrade-charm" => Event::UpgradeCharm,
        "update-status" => Event::UpdateStatus,
        "leader-elected" => Event::LeaderElected,
        "leader-settings-changed" => Event::LeaderSettingsChanged,
        "leader-deposed" => Event::LeaderDeposed,
        "collect-metrics" => Event::CollectMetrics,
        "meter-status-changed" => Event::MeterStatusChanged,
        "pre-series-upgrade" => Event::PreSeriesUpgrade,
        "post-series-upgrade" => Event::PostSeriesUpgrade,
        _ => return None,
    })
}

fn action(dispatch_path: &str, name: &str, source: &dyn Source) -> Result<Event, EnvError> {
    if name.is_empty() {
        return Err(EnvError::UnknownHook(dispatch_path.to_owned()));
    }
    let declared = required(source, JUJU_ACTION_NAME)?;
    if declared != name {
        return Err(EnvError::Invalid {
            var: JUJU_ACTION_NAME,
            value: declared,
            why: "differs from JUJU_DISPATCH_PATH",
        });
    }
    Ok(Event::Action {
        name: declared,
        id: required(source, JUJU_ACTION_UUID)?,
        tag: optional(source, JUJU_ACTION_TAG),
    })
}

/// `None` when `kind` is no secret hook.
fn secret(kind: &str, source: &dyn Source) -> Option<Result<Event, EnvError>> {
    let hook = match kind {
        "changed" => SecretHook::Changed,
        "expired" => SecretHook::Expired,
        "remove" => SecretHook::Remove,
        "rotate" => SecretHook::Rotate,
        _ => return None,
    };
    let event = || {
        let id = required(source, JUJU_SECRET_ID)?;
        let revision = match hook {
            SecretHook::Expired | SecretHook::Remove => Some(number(
                JUJU_SECRET_REVISION,
                &required(source, JUJU_SECRET_REVISION)?,
            )?),
            SecretHook::Changed | SecretHook::Rotate => None,
        };
        Ok(Event::Secret {
            hook,
            id,
            label: optional(source, JUJU_SECRET_LABEL),
            revision,
        })
    };
    Some(event())
}

fn storage(attached: bool, name: &str, source: &dyn Source) -> Result<Event, EnvError> {
    let kind = match optional(source, JUJU_STORAGE_KIND).as_deref() {
        None => None,
        Some("filesystem") => Some(StorageKind::Filesystem),
        Some("block") => Some(StorageKind::Block),
        Some(other) => {
            return Err(EnvError::Invalid {
                var: JUJU_STORAGE_KIND,
                value: other.to_owned(),
                why: "expected filesystem or block",
            });
        }
    };
    Ok(Event::Storage {
        attached,
        name: name.to_owned(),
        id: required(source, JUJU_STORAGE_ID)?,
        location: optional(source, JUJU_STORAGE_LOCATION),
        kind,
    })
}

fn workload(source: &dyn Source, container: &str) -> Result<String, EnvError> {
    let declared = required(source, JUJU_WORKLOAD_NAME)?;
    if declared != container {
        return Err(EnvError::Invalid {
            var: JUJU_WORKLOAD_NAME,
            value: declared,
            why: "differs from the hook's container",
        });
    }
    Ok(declared)
}

fn relation(hook: RelationHook, endpoint: &str, source: &dyn Source) -> Result<Event, EnvError> {
    let declared = required(source, JUJU_RELATION)?;
    if declared != endpoint {
        return Err(EnvError::Invalid {
            var: JUJU_RELATION,
            value: declared,
            why: "differs from the hook's endpoint",
        });
    }
    let relation_id = required(source, JUJU_RELATION_ID)?;
    // The id is the text after the last `:` (`db:7`), as Juju and ops read it.
    let id_text = relation_id.rsplit(':').next().unwrap_or_default();
    let id = id_text.parse().map_err(|_| EnvError::Invalid {
        var: JUJU_RELATION_ID,
        value: relation_id.clone(),
        why: "expected <endpoint>:<number>",
    })?;
    let remote_app = required(source, JUJU_REMOTE_APP)?;
    // Juju exports JUJU_REMOTE_UNIT for these, empty when an app databag changed.
    let needs_unit_var = matches!(
        hook,
        RelationHook::Joined | RelationHook::Changed | RelationHook::Departed
    );
    if needs_unit_var && source.get(JUJU_REMOTE_UNIT).is_none() {
        return Err(EnvError::Missing(JUJU_REMOTE_UNIT));
    }
    let departing_unit = match hook {
        RelationHook::Departed => Some(required(source, JUJU_DEPARTING_UNIT)?),
        _ => None,
    };
    Ok(Event::Relation {
        hook,
        endpoint: endpoint.to_owned(),
        id,
        remote_app,
        remote_unit: optional(source, JUJU_REMOTE_UNIT),
        departing_unit,
    })
}

#[cfg(test)]
mod tests;
