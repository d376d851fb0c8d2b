use super::*;
use crate::env::tests::env;
use crate::env::{JUJU_UNIT_NAME, JujuEnv};

fn event(dispatch: &str, extra: &[(&str, &str)]) -> Result<Event, EnvError> {
    JujuEnv::from_source(&env(dispatch, extra)).map(|e| e.event)
}

/// A dispatch path, its extra variables, and the variable the error must name.
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

const RELATION_VARS: [(&str, &str); 3] = [
    (JUJU_RELATION, "auth-proxy"),
    (JUJU_RELATION_ID, "auth-proxy:7"),
    (JUJU_REMOTE_APP, "spark"),
];

fn relation_vars(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut vars = RELATION_VARS.to_vec();
    vars.extend_from_slice(extra);
    vars
}

#[test]
fn hooks_without_variables_parse_from_the_spec_table() {
    for (path, want) in [
        ("hooks/install", Event::Install),
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
        ("hooks/leader-deposed", Event::LeaderDeposed),
        ("hooks/collect-metrics", Event::CollectMetrics),
        ("hooks/meter-status-changed", Event::MeterStatusChanged),
        ("hooks/pre-series-upgrade", Event::PreSeriesUpgrade),
        ("hooks/post-series-upgrade", Event::PostSeriesUpgrade),
    ] {
        assert_eq!(event(path, &[]).unwrap(), want, "{path}");
    }
}

#[test]
fn relation_hooks_carry_endpoint_id_and_units() {
    let relation =
        |hook, remote_unit: Option<&str>, departing_unit: Option<&str>| Event::Relation {
            hook,
            endpoint: "auth-proxy".into(),
            id: 7,
            remote_app: "spark".into(),
            remote_unit: remote_unit.map(Into::into),
            departing_unit: departing_unit.map(Into::into),
        };
    let cases = [
        (
            "hooks/auth-proxy-relation-created",
            relation_vars(&[]),
            relation(RelationHook::Created, None, None),
        ),
        (
            "hooks/auth-proxy-relation-joined",
            relation_vars(&[(JUJU_REMOTE_UNIT, "spark/1")]),
            relation(RelationHook::Joined, Some("spark/1"), None),
        ),
        (
            "hooks/auth-proxy-relation-changed",
            relation_vars(&[(JUJU_REMOTE_UNIT, "spark/1")]),
            relation(RelationHook::Changed, Some("spark/1"), None),
        ),
        (
            // An app-bag change exports JUJU_REMOTE_UNIT empty.
            "hooks/auth-proxy-relation-changed",
            relation_vars(&[(JUJU_REMOTE_UNIT, "")]),
            relation(RelationHook::Changed, None, None),
        ),
        (
            "hooks/auth-proxy-relation-departed",
            relation_vars(&[
                (JUJU_REMOTE_UNIT, "spark/1"),
                (JUJU_DEPARTING_UNIT, "spark/1"),
            ]),
            relation(RelationHook::Departed, Some("spark/1"), Some("spark/1")),
        ),
        (
            "hooks/auth-proxy-relation-broken",
            relation_vars(&[(JUJU_REMOTE_UNIT, "")]),
            relation(RelationHook::Broken, None, None),
        ),
    ];
    for (path, vars, want) in cases {
        assert_eq!(event(path, &vars).unwrap(), want, "{path} {vars:?}");
    }
}

#[test]
fn a_relation_id_is_the_number_after_the_last_colon() {
    let vars = [
        (JUJU_RELATION, "db"),
        (JUJU_RELATION_ID, "db:42"),
        (JUJU_REMOTE_APP, "pg"),
    ];
    let e = event("hooks/db-relation-created", &vars).unwrap();
    assert!(matches!(e, Event::Relation { id: 42, .. }), "{e:?}");
}

#[test]
fn missing_event_variables_are_named() {
    let cases: [Case; 12] = [
        ("hooks/db-relation-joined", vec![], JUJU_RELATION),
        (
            "hooks/db-relation-joined",
            vec![(JUJU_RELATION, "db")],
            JUJU_RELATION_ID,
        ),
        (
            "hooks/db-relation-joined",
            vec![(JUJU_RELATION, "db"), (JUJU_RELATION_ID, "db:1")],
            JUJU_REMOTE_APP,
        ),
        (
            "hooks/db-relation-joined",
            vec![
                (JUJU_RELATION, "db"),
                (JUJU_RELATION_ID, "db:1"),
                (JUJU_REMOTE_APP, "pg"),
            ],
            JUJU_REMOTE_UNIT,
        ),
        (
            "hooks/db-relation-departed",
            vec![
                (JUJU_RELATION, "db"),
                (JUJU_RELATION_ID, "db:1"),
                (JUJU_REMOTE_APP, "pg"),
                (JUJU_REMOTE_UNIT, "pg/0"),
            ],
            JUJU_DEPARTING_UNIT,
        ),
        ("hooks/oathkeeper-pebble-ready", vec![], JUJU_WORKLOAD_NAME),
        (
            "hooks/oathkeeper-pebble-custom-notice",
            vec![(JUJU_WORKLOAD_NAME, "oathkeeper")],
            JUJU_NOTICE_ID,
        ),
        (
            "hooks/oathkeeper-pebble-check-recovered",
            vec![(JUJU_WORKLOAD_NAME, "oathkeeper")],
            JUJU_PEBBLE_CHECK_NAME,
        ),
        ("actions/list-rules", vec![], JUJU_ACTION_NAME),
        (
            "actions/list-rules",
            vec![(JUJU_ACTION_NAME, "list-rules")],
            JUJU_ACTION_UUID,
        ),
        (
            "hooks/secret-remove",
            vec![(JUJU_SECRET_ID, "secret:x")],
            JUJU_SECRET_REVISION,
        ),
        ("hooks/data-storage-attached", vec![], JUJU_STORAGE_ID),
    ];
    for (path, vars, missing) in cases {
        assert_eq!(
            event(path, &vars),
            Err(EnvError::Missing(missing)),
            "{path} {vars:?}"
        );
    }
    assert_eq!(
        event("hooks/secret-changed", &[]),
        Err(EnvError::Missing(JUJU_SECRET_ID))
    );
}

#[test]
fn invalid_values_are_errors_naming_the_variable() {
    let cases: [Case; 6] = [
        (
            "hooks/db-relation-broken",
            vec![
                (JUJU_RELATION, "db"),
                (JUJU_RELATION_ID, "db:x"),
                (JUJU_REMOTE_APP, "pg"),
            ],
            JUJU_RELATION_ID,
        ),
        (
            "hooks/db-relation-broken",
            vec![
                (JUJU_RELATION, "other"),
                (JUJU_RELATION_ID, "db:1"),
                (JUJU_REMOTE_APP, "pg"),
            ],
            JUJU_RELATION,
        ),
        (
            "hooks/oathkeeper-pebble-ready",
            vec![(JUJU_WORKLOAD_NAME, "other")],
            JUJU_WORKLOAD_NAME,
        ),
        (
            "actions/get-rule",
            vec![(JUJU_ACTION_NAME, "list-rules"), (JUJU_ACTION_UUID, "1")],
            JUJU_ACTION_NAME,
        ),
        (
            "hooks/secret-expired",
            vec![
                (JUJU_SECRET_ID, "secret:x"),
                (JUJU_SECRET_REVISION, "three"),
            ],
            JUJU_SECRET_REVISION,
        ),
        (
            "hooks/data-storage-attached",
            vec![(JUJU_STORAGE_ID, "data/0"), (JUJU_STORAGE_KIND, "tape")],
            JUJU_STORAGE_KIND,
        ),
    ];
    for (path, vars, var) in cases {
        let err = event(path, &vars).unwrap_err();
        assert!(
            matches!(err, EnvError::Invalid { var: v, .. } if v == var),
            "{path}: {err:?}"
        );
        assert!(err.to_string().contains(var), "{err}");
    }
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
    assert_eq!(
        event(
            "hooks/oathkeeper-pebble-custom-notice",
            &[
                (JUJU_WORKLOAD_NAME, "oathkeeper"),
                (JUJU_NOTICE_ID, "3"),
                (JUJU_NOTICE_TYPE, "custom"),
                (JUJU_NOTICE_KEY, "example.com/a"),
            ],
        )
        .unwrap(),
        Event::PebbleCustomNotice {
            container: "oathkeeper".into(),
            notice_id: "3".into(),
            notice_type: "custom".into(),
            notice_key: "example.com/a".into(),
        }
    );
    for (path, failed) in [
        ("hooks/oathkeeper-pebble-check-failed", true),
        ("hooks/oathkeeper-pebble-check-recovered", false),
    ] {
        assert_eq!(
            event(
                path,
                &[
                    (JUJU_WORKLOAD_NAME, "oathkeeper"),
                    (JUJU_PEBBLE_CHECK_NAME, "alive"),
                ],
            )
            .unwrap(),
            Event::PebbleCheck {
                failed,
                container: "oathkeeper".into(),
                check: "alive".into()
            },
            "{path}"
        );
    }
}

#[test]
fn secret_hooks_carry_id_label_and_revision() {
    for (path, hook, revision) in [
        ("hooks/secret-changed", SecretHook::Changed, None),
        ("hooks/secret-rotate", SecretHook::Rotate, None),
        ("hooks/secret-expired", SecretHook::Expired, Some(3)),
        ("hooks/secret-remove", SecretHook::Remove, Some(3)),
    ] {
        assert_eq!(
            event(
                path,
                &[
                    (JUJU_SECRET_ID, "secret:d0j8m7"),
                    (JUJU_SECRET_LABEL, "creds"),
                    (JUJU_SECRET_REVISION, "3"),
                ],
            )
            .unwrap(),
            Event::Secret {
                hook,
                id: "secret:d0j8m7".into(),
                label: Some("creds".into()),
                revision
            },
            "{path}"
        );
    }
    let unlabelled = event(
        "hooks/secret-changed",
        &[(JUJU_SECRET_ID, "secret:x"), (JUJU_SECRET_LABEL, "")],
    )
    .unwrap();
    assert!(matches!(unlabelled, Event::Secret { label: None, .. }));
}

#[test]
fn storage_hooks_carry_name_id_location_and_kind() {
    assert_eq!(
        event(
            "hooks/data-storage-attached",
            &[
                (JUJU_STORAGE_ID, "data/0"),
                (JUJU_STORAGE_LOCATION, "/srv"),
                (JUJU_STORAGE_KIND, "filesystem"),
            ],
        )
        .unwrap(),
        Event::Storage {
            attached: true,
            name: "data".into(),
            id: "data/0".into(),
            location: Some("/srv".into()),
            kind: Some(StorageKind::Filesystem),
        }
    );
    let detaching = event(
        "hooks/data-storage-detaching",
        &[(JUJU_STORAGE_ID, "data/0"), (JUJU_STORAGE_KIND, "block")],
    )
    .unwrap();
    assert!(matches!(
        detaching,
        Event::Storage {
            attached: false,
            location: None,
            kind: Some(StorageKind::Block),
            ..
        }
    ));
}

#[test]
fn actions_carry_name_id_and_tag_with_an_empty_hook_name() {
    let vars = env(
        "actions/get-rule",
        &[
            (JUJU_ACTION_NAME, "get-rule"),
            (JUJU_ACTION_UUID, "42"),
            (JUJU_ACTION_TAG, "action-42"),
        ],
    );
    let e = JujuEnv::from_source(&vars).unwrap();
    assert_eq!(e.hook_name, None, "JUJU_HOOK_NAME is empty for actions");
    assert!(e.event.is_action());
    assert_eq!(
        e.event,
        Event::Action {
            name: "get-rule".into(),
            id: "42".into(),
            tag: Some("action-42".into()),
        }
    );
}

#[test]
fn unknown_hooks_are_errors_not_panics() {
    for path in [
        "hooks/frobnicate",
        "hooks/",
        "hooks/-relation-joined",
        "hooks/-pebble-ready",
        "hooks/secret-forgotten",
        "actions/",
        "elsewhere/x",
        "install",
    ] {
        assert_eq!(
            event(path, &[]),
            Err(EnvError::UnknownHook(path.into())),
            "{path}"
        );
    }
    let err = EnvError::UnknownHook("hooks/frobnicate".into());
    assert_eq!(
        err.to_string(),
        "unknown hook \"hooks/frobnicate\" in JUJU_DISPATCH_PATH"
    );
}

#[test]
fn the_unit_is_checked_before_the_event() {
    let vars = env("hooks/frobnicate", &[(JUJU_UNIT_NAME, "")]);
    assert_eq!(
        JujuEnv::from_source(&vars),
        Err(EnvError::Missing(JUJU_UNIT_NAME))
    );
}
