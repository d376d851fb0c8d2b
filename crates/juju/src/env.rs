//! The hook context: Juju's environment variables (spec/juju-runtime.md §1.4), parsed once
//! into a typed [`JujuEnv`], and the event being dispatched, parsed from `JUJU_DISPATCH_PATH`
//! (§1.3) into an [`Event`].
//!
//! Variables are read through a [`Source`], so tests pass a map and never touch the process
//! environment. Validation follows ops': the variables every hook has, and the ones each event
//! kind needs, are required; a missing one is an error naming it.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// `JUJU_DISPATCH_PATH`.
pub const JUJU_DISPATCH_PATH: &str = "JUJU_DISPATCH_PATH";
/// `JUJU_HOOK_NAME` (empty for actions).
pub const JUJU_HOOK_NAME: &str = "JUJU_HOOK_NAME";
/// `JUJU_UNIT_NAME`.
pub const JUJU_UNIT_NAME: &str = "JUJU_UNIT_NAME";
/// `JUJU_MODEL_NAME`.
pub const JUJU_MODEL_NAME: &str = "JUJU_MODEL_NAME";
/// `JUJU_MODEL_UUID`.
pub const JUJU_MODEL_UUID: &str = "JUJU_MODEL_UUID";
/// `JUJU_VERSION`.
pub const JUJU_VERSION: &str = "JUJU_VERSION";
/// `JUJU_CHARM_DIR`.
pub const JUJU_CHARM_DIR: &str = "JUJU_CHARM_DIR";
/// `JUJU_CONTEXT_ID`.
pub const JUJU_CONTEXT_ID: &str = "JUJU_CONTEXT_ID";
/// `JUJU_AVAILABILITY_ZONE`.
pub const JUJU_AVAILABILITY_ZONE: &str = "JUJU_AVAILABILITY_ZONE";
/// `JUJU_DEBUG`.
pub const JUJU_DEBUG: &str = "JUJU_DEBUG";
/// `JUJU_RELATION`.
pub const JUJU_RELATION: &str = "JUJU_RELATION";
/// `JUJU_RELATION_ID`.
pub const JUJU_RELATION_ID: &str = "JUJU_RELATION_ID";
/// `JUJU_REMOTE_APP`.
pub const JUJU_REMOTE_APP: &str = "JUJU_REMOTE_APP";
/// `JUJU_REMOTE_UNIT`.
pub const JUJU_REMOTE_UNIT: &str = "JUJU_REMOTE_UNIT";
/// `JUJU_DEPARTING_UNIT`.
pub const JUJU_DEPARTING_UNIT: &str = "JUJU_DEPARTING_UNIT";
/// `JUJU_ACTION_NAME`.
pub const JUJU_ACTION_NAME: &str = "JUJU_ACTION_NAME";
/// `JUJU_ACTION_UUID`.
pub const JUJU_ACTION_UUID: &str = "JUJU_ACTION_UUID";
/// `JUJU_WORKLOAD_NAME`.
pub const JUJU_WORKLOAD_NAME: &str = "JUJU_WORKLOAD_NAME";
/// `JUJU_NOTICE_ID`.
pub const JUJU_NOTICE_ID: &str = "JUJU_NOTICE_ID";
/// `JUJU_NOTICE_TYPE`.
pub const JUJU_NOTICE_TYPE: &str = "JUJU_NOTICE_TYPE";
/// `JUJU_NOTICE_KEY`.
pub const JUJU_NOTICE_KEY: &str = "JUJU_NOTICE_KEY";
/// `JUJU_PEBBLE_CHECK_NAME`.
pub const JUJU_PEBBLE_CHECK_NAME: &str = "JUJU_PEBBLE_CHECK_NAME";
/// `JUJU_SECRET_ID`.
pub const JUJU_SECRET_ID: &str = "JUJU_SECRET_ID";
/// `JUJU_SECRET_LABEL`.
pub const JUJU_SECRET_LABEL: &str = "JUJU_SECRET_LABEL";
/// `JUJU_SECRET_REVISION`.
pub const JUJU_SECRET_REVISION: &str = "JUJU_SECRET_REVISION";
/// `JUJU_STORAGE_ID`.
pub const JUJU_STORAGE_ID: &str = "JUJU_STORAGE_ID";
/// `JUJU_STORAGE_LOCATION`.
pub const JUJU_STORAGE_LOCATION: &str = "JUJU_STORAGE_LOCATION";

/// Where environment variables come from.
pub trait Source {
    /// The value of variable `key`, if set.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Source for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

/// Why the hook context could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A variable this hook needs is not set.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable has a value that cannot be right.
    #[error("environment variable {var} is invalid: \"{value}\" ({why})")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// `JUJU_DISPATCH_PATH` names no hook or action this runtime knows.
    #[error("unknown hook \"{0}\" in JUJU_DISPATCH_PATH")]
    UnknownHook(String),
}

/// The five relation hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RelationHook {
    Created,
    Joined,
    Changed,
    Departed,
    Broken,
}

/// The four secret hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SecretHook {
    Changed,
    Expired,
    Remove,
    Rotate,
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
    /// `collect-metrics` (legacy).
    CollectMetrics,
    /// `meter-status-changed` (legacy).
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
        /// The departing unit (departed only).
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
    },
    /// `<container>-pebble-ready`.
    PebbleReady {
        /// The container.
        container: String,
    },
    /// `<container>-pebble-custom-notice`.
    PebbleCustomNotice {
        /// The container.
        container: String,
        /// The notice id.
        notice_id: String,
        /// The notice type (`custom`).
        notice_type: String,
        /// The notice key.
        notice_key: String,
    },
    /// `<container>-pebble-check-failed` / `-recovered`.
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
        /// The action id.
        id: String,
    },
}

/// The hook context, read once per dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JujuEnv {
    /// `JUJU_DISPATCH_PATH`.
    pub dispatch_path: String,
    /// The unit, e.g. `oathkeeper/0`.
    pub unit: String,
    /// The application (the unit name before `/`).
    pub app: String,
    /// The model name (the Kubernetes namespace).
    pub model_name: String,
    /// The model UUID.
    pub model_uuid: String,
    /// The Juju version.
    pub version: String,
    /// The charm directory.
    pub charm_dir: Option<PathBuf>,
    /// `JUJU_CONTEXT_ID`.
    pub context_id: Option<String>,
    /// The availability zone.
    pub availability_zone: Option<String>,
    /// `JUJU_DEBUG` is set.
    pub debug: bool,
    /// The event.
    pub event: Event,
}

/// A variable that may be exported empty: empty means absent.
fn optional(source: &dyn Source, var: &str) -> Option<String> {
    source.get(var).filter(|v| !v.is_empty())
}

fn required(source: &dyn Source, var: &'static str) -> Result<String, EnvError> {
    optional(source, var).ok_or(EnvError::Missing(var))
}

impl JujuEnv {
    /// Reads the hook context from `source`.
    pub fn from_source(source: &dyn Source) -> Result<JujuEnv, EnvError> {
        let dispatch_path = required(source, JUJU_DISPATCH_PATH)?;
        let unit = required(source, JUJU_UNIT_NAME)?;
        let app = unit
            .split_once('/')
            .map(|(app, _)| app.to_owned())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| EnvError::Invalid {
                var: JUJU_UNIT_NAME,
                value: unit.clone(),
                why: "expected <app>/<number>",
            })?;
        let event = parse_event(&dispatch_path, source)?;
        Ok(JujuEnv {
            dispatch_path,
            unit,
            app,
            model_name: required(source, JUJU_MODEL_NAME)?,
            model_uuid: required(source, JUJU_MODEL_UUID)?,
            version: required(source, JUJU_VERSION)?,
            charm_dir: optional(source, JUJU_CHARM_DIR).map(PathBuf::from),
            context_id: optional(source, JUJU_CONTEXT_ID),
            availability_zone: optional(source, JUJU_AVAILABILITY_ZONE),
            debug: source.get(JUJU_DEBUG).is_some(),
            event,
        })
    }
}

/// Parses `JUJU_DISPATCH_PATH` (`hooks/<name>` or `actions/<name>`) and the variables the
/// event needs.
pub fn parse_event(dispatch_path: &str, source: &dyn Source) -> Result<Event, EnvError> {
    if let Some(name) = dispatch_path.strip_prefix("actions/") {
        let declared = required(source, JUJU_ACTION_NAME)?;
        if declared != name {
            return Err(EnvError::Invalid {
                var: JUJU_ACTION_NAME,
                value: declared,
                why: "differs from JUJU_DISPATCH_PATH",
            });
        }
        return Ok(Event::Action {
            name: name.to_owned(),
            id: required(source, JUJU_ACTION_UUID)?,
        });
    }
    let hook = dispatch_path
        .strip_prefix("hooks/")
        .ok_or_else(|| EnvError::UnknownHook(dispatch_path.to_owned()))?;
    let simple = match hook {
        "install" => Some(Event::Install),
        "start" => Some(Event::Start),
        "stop" => Some(Event::Stop),
        "remove" => Some(Event::Remove),
        "config-changed" => Some(Event::ConfigChanged),
        "upgrade-charm" => Some(Event::UpgradeCharm),
        "update-status" => Some(Event::UpdateStatus),
        "leader-elected" => Some(Event::LeaderElected),
        "leader-settings-changed" => Some(Event::LeaderSettingsChanged),
        "leader-deposed" => Some(Event::LeaderDeposed),
        "collect-metrics" => Some(Event::CollectMetrics),
        "meter-status-changed" => Some(Event::MeterStatusChanged),
        "pre-series-upgrade" => Some(Event::PreSeriesUpgrade),
        "post-series-upgrade" => Some(Event::PostSeriesUpgrade),
        _ => None,
    };
    if let Some(event) = simple {
        return Ok(event);
    }
    if let Some(hook) = hook.strip_prefix("secret-") {
        let hook = match hook {
            "changed" => SecretHook::Changed,
            "expired" => SecretHook::Expired,
            "remove" => SecretHook::Remove,
            "rotate" => SecretHook::Rotate,
            _ => return Err(EnvError::UnknownHook(dispatch_path.to_owned())),
        };
        let revision = match hook {
            SecretHook::Expired | SecretHook::Remove => Some(number(
                JUJU_SECRET_REVISION,
                &required(source, JUJU_SECRET_REVISION)?,
            )?),
            _ => None,
        };
        return Ok(Event::Secret {
            hook,
            id: required(source, JUJU_SECRET_ID)?,
            label: optional(source, JUJU_SECRET_LABEL),
            revision,
        });
    }
    const RELATION: [(&str, RelationHook); 5] = [
        ("-relation-created", RelationHook::Created),
        ("-relation-joined", RelationHook::Joined),
        ("-relation-changed", RelationHook::Changed),
        ("-relation-departed", RelationHook::Departed),
        ("-relation-broken", RelationHook::Broken),
    ];
    for (suffix, kind) in RELATION {
        if let Some(endpoint) = hook.strip_suffix(suffix).filter(|e| !e.is_empty()) {
            return relation_event(kind, endpoint, source);
        }
    }
    for (suffix, attached) in [("-storage-attached", true), ("-storage-detaching", false)] {
        if let Some(name) = hook.strip_suffix(suffix).filter(|n| !n.is_empty()) {
            return Ok(Event::Storage {
                attached,
                name: name.to_owned(),
                id: required(source, JUJU_STORAGE_ID)?,
                location: optional(source, JUJU_STORAGE_LOCATION),
            });
        }
    }
    if let Some(container) = hook.strip_suffix("-pebble-ready").filter(|c| !c.is_empty()) {
        return Ok(Event::PebbleReady {
            container: workload(source, container)?,
        });
    }
    if let Some(container) = hook
        .strip_suffix("-pebble-custom-notice")
        .filter(|c| !c.is_empty())
    {
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
        if let Some(container) = hook.strip_suffix(suffix).filter(|c| !c.is_empty()) {
            return Ok(Event::PebbleCheck {
                failed,
                container: workload(source, container)?,
                check: required(source, JUJU_PEBBLE_CHECK_NAME)?,
            });
        }
    }
    Err(EnvError::UnknownHook(dispatch_path.to_owned()))
}

fn number(var: &'static str, value: &str) -> Result<u64, EnvError> {
    value.parse().map_err(|_| EnvError::Invalid {
        var,
        value: value.to_owned(),
        why: "expected a number",
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

fn relation_event(
    hook: RelationHook,
    endpoint: &str,
    source: &dyn Source,
) -> Result<Event, EnvError> {
    let declared = required(source, JUJU_RELATION)?;
    if declared != endpoint {
        return Err(EnvError::Invalid {
            var: JUJU_RELATION,
            value: declared,
            why: "differs from the hook's endpoint",
        });
    }
    let relation_id = required(source, JUJU_RELATION_ID)?;
    let id_text = relation_id.rsplit(':').next().unwrap_or("");
    let id = number(JUJU_RELATION_ID, id_text).map_err(|_| EnvError::Invalid {
        var: JUJU_RELATION_ID,
        value: relation_id.clone(),
        why: "expected <endpoint>:<number>",
    })?;
    let needs_unit_var = matches!(
        hook,
        RelationHook::Joined | RelationHook::Changed | RelationHook::Departed
    );
    if needs_unit_var && source.get(JUJU_REMOTE_UNIT).is_none() {
        return Err(EnvError::Missing(JUJU_REMOTE_UNIT));
    }
    let departing_unit = if hook == RelationHook::Departed {
        Some(required(source, JUJU_DEPARTING_UNIT)?)
    } else {
        None
    };
    Ok(Event::Relation {
        hook,
        endpoint: endpoint.to_owned(),
        id,
        remote_app: required(source, JUJU_REMOTE_APP)?,
        remote_unit: optional(source, JUJU_REMOTE_UNIT),
        departing_unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dispatch: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut vars: BTreeMap<String, String> = [
            (JUJU_DISPATCH_PATH, dispatch),
            (
                JUJU_HOOK_NAME,
                dispatch.strip_prefix("hooks/").unwrap_or(""),
            ),
            (JUJU_UNIT_NAME, "oathkeeper/0"),
            (JUJU_MODEL_NAME, "iam"),
            (JUJU_MODEL_UUID, "0b4a7c1e-0000-4000-8000-000000000000"),
            (JUJU_VERSION, "3.6.8"),
            (
                JUJU_CHARM_DIR,
                "/var/lib/juju/agents/unit-oathkeeper-0/charm",
            ),
            (JUJU_AVAILABILITY_ZONE, ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        vars
    }

    fn event(dispatch: &str, extra: &[(&str, &str)]) -> Result<Event, EnvError> {
        JujuEnv::from_source(&env(dispatch, extra)).map(|e| e.event)
    }

    #[test]
    fn the_common_context_is_typed() {
        let e = JujuEnv::from_source(&env("hooks/install", &[])).unwrap();
        assert_eq!(e.app, "oathkeeper");
        assert_eq!(e.unit, "oathkeeper/0");
        assert_eq!(e.model_name, "iam");
        assert_eq!(e.availability_zone, None, "exported empty means absent");
        assert!(!e.debug);
        assert_eq!(e.event, Event::Install);
    }

    #[test]
    fn lifecycle_hooks_parse() {
        for (path, want) in [
            ("hooks/start", Event::Start),
            ("hooks/stop", Event::Stop),
            ("hooks/remove", Event::Remove),
            ("hooks/config-changed", Event::ConfigChanged),
            ("hooks/upgrade-charm", Event::UpgradeCharm),
            ("hooks/update-status", Event::UpdateStatus),
            ("hooks/leader-elected", Event::LeaderElected),
            (
                "hooks/leader-settings-changed",
                Event::LeaderSettingsChanged,
            ),
            ("hooks/collect-metrics", Event::CollectMetrics),
        ] {
            assert_eq!(event(path, &[]).unwrap(), want, "{path}");
        }
    }

    #[test]
    fn relation_hooks_carry_endpoint_id_and_units() {
        let rel = [
            (JUJU_RELATION, "auth-proxy"),
            (JUJU_RELATION_ID, "auth-proxy:7"),
            (JUJU_REMOTE_APP, "spark"),
        ];
        let mut joined = rel.to_vec();
        joined.push((JUJU_REMOTE_UNIT, "spark/1"));
        assert_eq!(
            event("hooks/auth-proxy-relation-joined", &joined).unwrap(),
            Event::Relation {
                hook: RelationHook::Joined,
                endpoint: "auth-proxy".into(),
                id: 7,
                remote_app: "spark".into(),
                remote_unit: Some("spark/1".into()),
                departing_unit: None
            }
        );
        let created = event("hooks/auth-proxy-relation-created", &rel).unwrap();
        assert!(matches!(
            created,
            Event::Relation {
                hook: RelationHook::Created,
                remote_unit: None,
                ..
            }
        ));
        let mut app_change = rel.to_vec();
        app_change.push((JUJU_REMOTE_UNIT, ""));
        let changed = event("hooks/auth-proxy-relation-changed", &app_change).unwrap();
        assert!(
            matches!(
                changed,
                Event::Relation {
                    hook: RelationHook::Changed,
                    remote_unit: None,
                    ..
                }
            ),
            "an app-bag change has an empty remote unit"
        );
        let mut departed = joined.clone();
        departed.push((JUJU_DEPARTING_UNIT, "spark/1"));
        let d = event("hooks/auth-proxy-relation-departed", &departed).unwrap();
        assert!(matches!(d, Event::Relation { departing_unit: Some(ref u), .. } if u == "spark/1"));
    }

    #[test]
    fn missing_event_variables_are_named() {
        assert_eq!(
            event(
                "hooks/db-relation-joined",
                &[
                    (JUJU_RELATION, "db"),
                    (JUJU_RELATION_ID, "db:1"),
                    (JUJU_REMOTE_APP, "pg")
                ]
            ),
            Err(EnvError::Missing(JUJU_REMOTE_UNIT))
        );
        assert_eq!(
            event("hooks/oathkeeper-pebble-ready", &[]),
            Err(EnvError::Missing(JUJU_WORKLOAD_NAME))
        );
        assert_eq!(
            event("actions/list-rules", &[]),
            Err(EnvError::Missing(JUJU_ACTION_NAME))
        );
        assert_eq!(
            event("hooks/secret-remove", &[(JUJU_SECRET_ID, "secret:x")]),
            Err(EnvError::Missing(JUJU_SECRET_REVISION))
        );
        let mut vars = env("hooks/install", &[]);
        vars.remove(JUJU_MODEL_UUID);
        assert_eq!(
            JujuEnv::from_source(&vars),
            Err(EnvError::Missing(JUJU_MODEL_UUID))
        );
    }

    #[test]
    fn invalid_values_are_errors_naming_the_variable() {
        let bad = event(
            "hooks/db-relation-broken",
            &[
                (JUJU_RELATION, "db"),
                (JUJU_RELATION_ID, "db:x"),
                (JUJU_REMOTE_APP, "pg"),
            ],
        )
        .unwrap_err();
        assert!(bad.to_string().contains("JUJU_RELATION_ID"), "{bad}");
        let mut vars = env("hooks/install", &[]);
        vars.insert(JUJU_UNIT_NAME.into(), "nounit".into());
        assert!(matches!(
            JujuEnv::from_source(&vars),
            Err(EnvError::Invalid {
                var: JUJU_UNIT_NAME,
                ..
            })
        ));
    }

    #[test]
    fn workload_hooks_parse() {
        assert_eq!(
            event(
                "hooks/oathkeeper-pebble-ready",
                &[(JUJU_WORKLOAD_NAME, "oathkeeper")]
            )
            .unwrap(),
            Event::PebbleReady {
                container: "oathkeeper".into()
            }
        );
        let notice = event(
            "hooks/oathkeeper-pebble-custom-notice",
            &[
                (JUJU_WORKLOAD_NAME, "oathkeeper"),
                (JUJU_NOTICE_ID, "3"),
                (JUJU_NOTICE_TYPE, "custom"),
                (JUJU_NOTICE_KEY, "example.com/a"),
            ],
        )
        .unwrap();
        assert!(
            matches!(notice, Event::PebbleCustomNotice { ref notice_key, .. } if notice_key == "example.com/a")
        );
        let check = event(
            "hooks/oathkeeper-pebble-check-failed",
            &[
                (JUJU_WORKLOAD_NAME, "oathkeeper"),
                (JUJU_PEBBLE_CHECK_NAME, "alive"),
            ],
        )
        .unwrap();
        assert_eq!(
            check,
            Event::PebbleCheck {
                failed: true,
                container: "oathkeeper".into(),
                check: "alive".into()
            }
        );
    }

    #[test]
    fn secrets_storage_and_actions_parse() {
        let s = event(
            "hooks/secret-expired",
            &[
                (JUJU_SECRET_ID, "secret:abc"),
                (JUJU_SECRET_REVISION, "3"),
                (JUJU_SECRET_LABEL, ""),
            ],
        )
        .unwrap();
        assert_eq!(
            s,
            Event::Secret {
                hook: SecretHook::Expired,
                id: "secret:abc".into(),
                label: None,
                revision: Some(3)
            }
        );
        let st = event(
            "hooks/data-storage-attached",
            &[(JUJU_STORAGE_ID, "data/0"), (JUJU_STORAGE_LOCATION, "/srv")],
        )
        .unwrap();
        assert!(matches!(st, Event::Storage { attached: true, ref name, .. } if name == "data"));
        let a = event(
            "actions/get-rule",
            &[(JUJU_ACTION_NAME, "get-rule"), (JUJU_ACTION_UUID, "42")],
        )
        .unwrap();
        assert_eq!(
            a,
            Event::Action {
                name: "get-rule".into(),
                id: "42".into()
            }
        );
    }

    #[test]
    fn unknown_hooks_are_errors() {
        assert_eq!(
            event("hooks/frobnicate", &[]),
            Err(EnvError::UnknownHook("hooks/frobnicate".into()))
        );
        assert_eq!(
            event("elsewhere/x", &[]),
            Err(EnvError::UnknownHook("elsewhere/x".into()))
        );
    }
}
