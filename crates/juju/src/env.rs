//! The hook context: Juju's environment variables (spec/juju-runtime.md §1.4), parsed once
//! into a typed [`JujuEnv`].
//!
//! Variables are read through a [`Source`], so tests pass a map and never touch the process
//! environment. Juju exports many variables empty when they do not apply; empty means absent
//! here. Validation follows ops': the variables every hook has, and the ones each event kind
//! needs (see [`crate::event`]), are required; a missing or malformed one is an error naming it.

use std::path::PathBuf;

use crate::event::Event;

pub(crate) mod vars;

pub use vars::*;

/// The model's charm proxy settings (`juju-*-proxy`), each absent when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// [`JUJU_CHARM_HTTP_PROXY`].
    pub http: Option<String>,
    /// [`JUJU_CHARM_HTTPS_PROXY`].
    pub https: Option<String>,
    /// [`JUJU_CHARM_FTP_PROXY`].
    pub ftp: Option<String>,
    /// [`JUJU_CHARM_NO_PROXY`].
    pub no_proxy: Option<String>,
}

/// The W3C trace context the agent passes when it is tracing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// [`JUJU_TRACE_ID`].
    pub trace_id: String,
    /// [`JUJU_SPAN_ID`].
    pub span_id: String,
    /// [`JUJU_TRACE_FLAGS`], if set.
    pub flags: Option<String>,
}

/// The hook context, read once per dispatch.
///
/// Required: [`JUJU_DISPATCH_PATH`], [`JUJU_UNIT_NAME`] (`<app>/<number>`),
/// [`JUJU_MODEL_NAME`], [`JUJU_MODEL_UUID`], [`JUJU_VERSION`], plus what the event needs.
/// Everything else is optional; an empty value counts as absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JujuEnv {
    /// [`JUJU_DISPATCH_PATH`].
    pub dispatch_path: String,
    /// [`JUJU_HOOK_NAME`]; absent for actions.
    pub hook_name: Option<String>,
    /// The unit, e.g. `oathkeeper/0`.
    pub unit: String,
    /// The application: the unit name before `/`.
    pub app: String,
    /// The unit number: the unit name after `/`.
    pub unit_number: u32,
    /// The model name (the Kubernetes namespace).
    pub model_name: String,
    /// The model UUID.
    pub model_uuid: String,
    /// The Juju agent version, e.g. `3.6.8`.
    pub version: String,
    /// The charm directory: [`JUJU_CHARM_DIR`], else the legacy [`CHARM_DIR`].
    pub charm_dir: Option<PathBuf>,
    /// [`JUJU_CONTEXT_ID`].
    pub context_id: Option<String>,
    /// [`JUJU_AGENT_SOCKET_ADDRESS`].
    pub agent_socket_address: Option<String>,
    /// [`JUJU_AGENT_SOCKET_NETWORK`].
    pub agent_socket_network: Option<String>,
    /// [`JUJU_API_ADDRESSES`], split on whitespace.
    pub api_addresses: Vec<String>,
    /// [`JUJU_MACHINE_ID`] (absent on Kubernetes).
    pub machine_id: Option<String>,
    /// [`JUJU_PRINCIPAL_UNIT`] (subordinates only).
    pub principal_unit: Option<String>,
    /// [`JUJU_AVAILABILITY_ZONE`].
    pub availability_zone: Option<String>,
    /// [`CLOUD_API_VERSION`].
    pub cloud_api_version: Option<String>,
    /// The model's charm proxy settings.
    pub proxy: ProxySettings,
    /// [`JUJU_DEBUG`] is present (even empty).
    pub debug: bool,
    /// [`JUJU_DEBUG_AT`], split on commas.
    pub debug_at: Vec<String>,
    /// The trace context, when [`JUJU_TRACE_ID`] and [`JUJU_SPAN_ID`] are set.
    pub trace: Option<TraceContext>,
    /// The event being dispatched.
    pub event: Event,
}

fn list(source: &dyn Source, var: &str, separator: Option<char>) -> Vec<String> {
    let Some(value) = optional(source, var) else {
        return Vec::new();
    };
    let items: Vec<&str> = match separator {
        Some(c) => value.split(c).map(str::trim).collect(),
        None => value.split_whitespace().collect(),
    };
    items
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl JujuEnv {
    /// Reads the hook context, and the event it dispatches, from `source`.
    pub fn from_source(source: &dyn Source) -> Result<JujuEnv, EnvError> {
        let dispatch_path = required(source, JUJU_DISPATCH_PATH)?;
        let unit = required(source, JUJU_UNIT_NAME)?;
        let (app, unit_number) = parse_unit_name(&unit)?;
        let model_name = required(source, JUJU_MODEL_NAME)?;
        let model_uuid = required(source, JUJU_MODEL_UUID)?;
        let version = required(source, JUJU_VERSION)?;
        let event = Event::parse(&dispatch_path, source)?;
        let trace = match (
            optional(source, JUJU_TRACE_ID),
            optional(source, JUJU_SPAN_ID),
        ) {
            (Some(trace_id), Some(span_id)) => Some(TraceContext {
                trace_id,
                span_id,
                flags: optional(source, JUJU_TRACE_FLAGS),
            }),
            _ => None,
        };
        Ok(JujuEnv {
            dispatch_path,
            hook_name: optional(source, JUJU_HOOK_NAME),
            unit,
            app,
            unit_number,
            model_name,
            model_uuid,
            version,
            charm_dir: optional(source, JUJU_CHARM_DIR)
                .or_else(|| optional(source, CHARM_DIR))
                .map(PathBuf::from),
            context_id: optional(source, JUJU_CONTEXT_ID),
            agent_socket_address: optional(source, JUJU_AGENT_SOCKET_ADDRESS),
            agent_socket_network: optional(source, JUJU_AGENT_SOCKET_NETWORK),
            api_addresses: list(source, JUJU_API_ADDRESSES, None),
            machine_id: optional(source, JUJU_MACHINE_ID),
            principal_unit: optional(source, JUJU_PRINCIPAL_UNIT),
            availability_zone: optional(source, JUJU_AVAILABILITY_ZONE),
            cloud_api_version: optional(source, CLOUD_API_VERSION),
            proxy: ProxySettings {
                http: optional(source, JUJU_CHARM_HTTP_PROXY),
                https: optional(source, JUJU_CHARM_HTTPS_PROXY),
                ftp: optional(source, JUJU_CHARM_FTP_PROXY),
                no_proxy: optional(source, JUJU_CHARM_NO_PROXY),
            },
            debug: source.get(JUJU_DEBUG).is_some(),
            debug_at: list(source, JUJU_DEBUG_AT, Some(',')),
            trace,
            event,
        })
    }

    /// Reads the hook context from the process environment.
    pub fn from_process() -> Result<JujuEnv, EnvError> {
        JujuEnv::from_source(&ProcessEnv)
    }
}

/// Splits `<app>/<number>` into the application and the unit number.
fn parse_unit_name(unit: &str) -> Result<(String, u32), EnvError> {
    let invalid = || EnvError::Invalid {
        var: JUJU_UNIT_NAME,
        value: unit.to_owned(),
        why: "expected <app>/<number>",
    };
    let (app, number) = unit.split_once('/').ok_or_else(invalid)?;
    if app.is_empty() {
        return Err(invalid());
    }
    let number = number.parse().map_err(|_| invalid())?;
    Ok((app.to_owned(), number))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The variables every hook has, for `dispatch`, plus `extra` (which override).
    pub(crate) fn env(dispatch: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
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
            (JUJU_MACHINE_ID, ""),
            (JUJU_PRINCIPAL_UNIT, ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        vars
    }

    #[test]
    fn the_common_context_is_typed() {
        let e = JujuEnv::from_source(&env("hooks/install", &[])).unwrap();
        assert_eq!(e.app, "oathkeeper");
        assert_eq!(e.unit, "oathkeeper/0");
        assert_eq!(e.unit_number, 0);
        assert_eq!(e.model_name, "iam");
        assert_eq!(e.model_uuid, "0b4a7c1e-0000-4000-8000-000000000000");
        assert_eq!(e.version, "3.6.8");
        assert_eq!(e.hook_name.as_deref(), Some("install"));
        assert_eq!(
            e.charm_dir,
            Some(PathBuf::from(
                "/var/lib/juju/agents/unit-oathkeeper-0/charm"
            ))
        );
        assert_eq!(e.availability_zone, None, "exported empty means absent");
        assert_eq!(e.machine_id, None);
        assert_eq!(e.principal_unit, None);
        assert_eq!(e.proxy, ProxySettings::default());
        assert_eq!(e.trace, None);
        assert!(!e.debug);
        assert!(e.debug_at.is_empty());
        assert_eq!(e.event, Event::Install);
    }

    #[test]
    fn optional_variables_are_read_when_set() {
        let vars = env(
            "hooks/start",
            &[
                (JUJU_CONTEXT_ID, "oathkeeper/0-start-4329861541925437441"),
                (JUJU_AGENT_SOCKET_ADDRESS, "@/var/lib/juju/agent.socket"),
                (JUJU_AGENT_SOCKET_NETWORK, "unix"),
                (JUJU_API_ADDRESSES, "10.0.0.1:17070 10.0.0.2:17070"),
                (JUJU_AVAILABILITY_ZONE, "zone-a"),
                (CLOUD_API_VERSION, "1.31.0"),
                (JUJU_CHARM_HTTP_PROXY, "http://proxy:3128"),
                (JUJU_CHARM_NO_PROXY, "127.0.0.1,localhost"),
                (JUJU_DEBUG, ""),
                (JUJU_DEBUG_AT, "all, hook"),
                (JUJU_TRACE_ID, "4bf92f3577b34da6a3ce929d0e0e4736"),
                (JUJU_SPAN_ID, "00f067aa0ba902b7"),
                (JUJU_TRACE_FLAGS, "01"),
            ],
        );
        let e = JujuEnv::from_source(&vars).unwrap();
        assert_eq!(
            e.context_id.as_deref(),
            Some("oathkeeper/0-start-4329861541925437441")
        );
        assert_eq!(e.agent_socket_network.as_deref(), Some("unix"));
        assert_eq!(e.api_addresses, ["10.0.0.1:17070", "10.0.0.2:17070"]);
        assert_eq!(e.availability_zone.as_deref(), Some("zone-a"));
        assert_eq!(e.cloud_api_version.as_deref(), Some("1.31.0"));
        assert_eq!(e.proxy.http.as_deref(), Some("http://proxy:3128"));
        assert_eq!(e.proxy.https, None);
        assert_eq!(e.proxy.no_proxy.as_deref(), Some("127.0.0.1,localhost"));
        assert!(e.debug, "JUJU_DEBUG counts when present, even empty");
        assert_eq!(e.debug_at, ["all", "hook"]);
        assert_eq!(
            e.trace,
            Some(TraceContext {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                span_id: "00f067aa0ba902b7".into(),
                flags: Some("01".into()),
            })
        );
    }

    #[test]
    fn the_legacy_charm_dir_is_a_fallback() {
        let mut vars = env("hooks/install", &[(CHARM_DIR, "/legacy")]);
        vars.remove(JUJU_CHARM_DIR);
        let e = JujuEnv::from_source(&vars).unwrap();
        assert_eq!(e.charm_dir, Some(PathBuf::from("/legacy")));
    }

    #[test]
    fn every_always_required_variable_is_named_when_missing() {
        for var in [
            JUJU_DISPATCH_PATH,
            JUJU_UNIT_NAME,
            JUJU_MODEL_NAME,
            JUJU_MODEL_UUID,
            JUJU_VERSION,
        ] {
            let mut vars = env("hooks/install", &[]);
            vars.remove(var);
            assert_eq!(
                JujuEnv::from_source(&vars),
                Err(EnvError::Missing(var)),
                "{var}"
            );
            let err = EnvError::Missing(var).to_string();
            assert_eq!(err, format!("environment variable {var} is not set"));
        }
    }

    #[test]
    fn a_unit_name_must_be_app_slash_number() {
        for bad in ["nounit", "/0", "oathkeeper/", "oathkeeper/x"] {
            let vars = env("hooks/install", &[(JUJU_UNIT_NAME, bad)]);
            assert!(
                matches!(
                    JujuEnv::from_source(&vars),
                    Err(EnvError::Invalid {
                        var: JUJU_UNIT_NAME,
                        ..
                    })
                ),
                "{bad}"
            );
        }
        let vars = env("hooks/install", &[(JUJU_UNIT_NAME, "oathkeeper/12")]);
        assert_eq!(JujuEnv::from_source(&vars).unwrap().unit_number, 12);
    }
}
