//! Workload status: `status-set`, `status-get` (spec/juju-runtime.md §2.2). Immediate, not
//! transactional: a status set by a hook that then fails stays set.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{END_OF_FLAGS, Error, FORMAT_JSON, argv, parse_json};

/// `status-set`.
pub const STATUS_SET: &str = "status-set";
/// `status-get`.
pub const STATUS_GET: &str = "status-get";
/// `--include-data`.
pub const INCLUDE_DATA_FLAG: &str = "--include-data";

/// A workload status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// `active`.
    Active,
    /// `blocked`: a human must act.
    Blocked,
    /// `maintenance`: the charm is busy.
    Maintenance,
    /// `waiting`: waiting for something outside the charm.
    Waiting,
    /// `unknown`: never set.
    Unknown,
    /// `error`: a hook failed (set by Juju).
    Error,
    /// `terminated` (set by Juju).
    Terminated,
}

impl Status {
    /// The status word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Blocked => "blocked",
            Status::Maintenance => "maintenance",
            Status::Waiting => "waiting",
            Status::Unknown => "unknown",
            Status::Error => "error",
            Status::Terminated => "terminated",
        }
    }

    /// True for the four a charm may set: maintenance, blocked, waiting, active.
    pub fn is_settable(self) -> bool {
        matches!(
            self,
            Status::Active | Status::Blocked | Status::Maintenance | Status::Waiting
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose status: this unit's or (leader only) the application's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This unit.
    Unit,
    /// The application; only the leader may read or set it.
    Application,
}

/// `status-set --application=<True|False> <status> [-- <message>]`; an empty message clears it.
///
/// Fails with [`Error::InvalidArgument`] for a status a charm cannot set, with Juju's text.
pub fn status_set_args(
    target: Target,
    status: Status,
    message: &str,
) -> Result<Vec<String>, Error> {
    if !status.is_settable() {
        return Err(Error::invalid_argument(
            STATUS_SET,
            format!(
                "invalid status \"{status}\", expected one of [maintenance blocked waiting active]"
            ),
        ));
    }
    // ops writes Python's bool text; Juju's flag parser accepts it.
    let application = match target {
        Target::Unit => "--application=False",
        Target::Application => "--application=True",
    };
    let mut args = argv(STATUS_SET, [application, status.as_str()]);
    if !message.is_empty() {
        args.extend([END_OF_FLAGS.to_owned(), message.to_owned()]);
    }
    Ok(args)
}

/// `status-get --include-data --format=json --application=<true|false>`.
pub fn status_get_args(target: Target) -> Vec<String> {
    let application = match target {
        Target::Unit => "--application=false",
        Target::Application => "--application=true",
    };
    argv(STATUS_GET, [INCLUDE_DATA_FLAG, FORMAT_JSON, application])
}

/// One status as `status-get` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatusInfo {
    /// The status.
    pub status: Status,
    /// Its message (empty when none).
    #[serde(default)]
    pub message: String,
    /// Extra data Juju attached.
    #[serde(default, rename = "status-data")]
    pub data: Map<String, Value>,
}

/// The application status and its units', as the leader sees them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApplicationStatus {
    /// The application's own status.
    #[serde(flatten)]
    pub status: StatusInfo,
    /// Each unit's status, by unit name.
    #[serde(default)]
    pub units: BTreeMap<String, StatusInfo>,
}

/// Parses this unit's status: `{"status":..,"message":..,"status-data":{}}`.
pub fn parse_status_get_unit(stdout: &[u8]) -> Result<StatusInfo, Error> {
    parse_json(STATUS_GET, stdout)
}

/// Parses the application's status: `{"application-status":{..,"units":{..}}}`.
pub fn parse_status_get_app(stdout: &[u8]) -> Result<ApplicationStatus, Error> {
    #[derive(Deserialize)]
    struct Wrapper {
        #[serde(rename = "application-status")]
        application_status: ApplicationStatus,
    }
    parse_json::<Wrapper>(STATUS_GET, stdout).map(|w| w.application_status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_set_sends_python_bool_text_and_the_message_after_end_of_flags() {
        assert_eq!(
            status_set_args(Target::Unit, Status::Active, "").unwrap(),
            ["status-set", "--application=False", "active"]
        );
        assert_eq!(
            status_set_args(Target::Application, Status::Blocked, "missing relation").unwrap(),
            [
                "status-set",
                "--application=True",
                "blocked",
                "--",
                "missing relation"
            ]
        );
        for (status, word) in [
            (Status::Maintenance, "maintenance"),
            (Status::Waiting, "waiting"),
        ] {
            assert_eq!(
                status_set_args(Target::Unit, status, "-x").unwrap()[2],
                word
            );
        }
    }

    #[test]
    fn status_set_refuses_statuses_only_juju_sets() {
        for status in [Status::Unknown, Status::Error, Status::Terminated] {
            let err = status_set_args(Target::Unit, status, "").unwrap_err();
            assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
            assert!(
                err.to_string().contains(&format!(
                    "invalid status \"{status}\", expected one of [maintenance blocked waiting active]"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn status_get_includes_data_as_json() {
        assert_eq!(
            status_get_args(Target::Unit),
            [
                "status-get",
                "--include-data",
                "--format=json",
                "--application=false"
            ]
        );
        assert_eq!(
            status_get_args(Target::Application),
            [
                "status-get",
                "--include-data",
                "--format=json",
                "--application=true"
            ]
        );
    }

    #[test]
    fn unit_status_parses_from_juju_json() {
        let s = parse_status_get_unit(br#"{"message":"ready","status":"active","status-data":{}}"#)
            .unwrap();
        assert_eq!(s.status, Status::Active);
        assert_eq!(s.message, "ready");
        assert!(s.data.is_empty());
        let unset = parse_status_get_unit(br#"{"message":"","status":"unknown","status-data":{}}"#)
            .unwrap();
        assert_eq!(unset.status, Status::Unknown);
        assert!(parse_status_get_unit(br#"{"status":"sleepy"}"#).is_err());
    }

    #[test]
    fn application_status_parses_with_its_units() {
        let s = parse_status_get_app(
            br#"{"application-status":{"message":"","status":"waiting","status-data":{},"units":{"app/0":{"message":"m","status":"blocked","status-data":{"k":1}}}}}"#,
        )
        .unwrap();
        assert_eq!(s.status.status, Status::Waiting);
        assert_eq!(s.units["app/0"].status, Status::Blocked);
        assert_eq!(s.units["app/0"].message, "m");
        assert_eq!(s.units["app/0"].data["k"], 1);
    }
}
