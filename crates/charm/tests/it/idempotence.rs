//! Idempotence as a property (issue 15 item 2): once a unit has converged, a repeated
//! `update-status`, `config-changed` or relation-changed makes no write at all — no
//! `relation-set`, `status-set`, `application-version-set` or `state-set`, no Kubernetes write
//! (POST, PUT, PATCH, DELETE, server-side apply included), no Pebble layer or service change —
//! and logs no "changed" line. Asserted on the harness's [`Outcome`], across generated worlds.

use std::path::Path;

use harness::{Context, Event, Outcome, Relation, State};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

use crate::support::*;

/// How many hooks a world may take to converge before that counts as a failure.
const MAX_ROUNDS: usize = 4;
/// The workload version the stand-in API reports.
const VERSION: &str = "v0.40.6";

/// What an auth-proxy requirer has written.
#[derive(Debug, Clone, Copy)]
enum Requirer {
    /// Nothing yet.
    Empty,
    /// Valid data.
    Valid,
    /// A header the lib refuses.
    Invalid,
}

/// What Traefik has written on forward-auth.
#[derive(Debug, Clone)]
enum Traefik {
    /// Not `ingress_app_names` yet.
    Silent,
    /// These app names.
    Routes(Vec<&'static str>),
}

/// One unit's world: the relations, leadership, trust, the container, the config source.
#[derive(Debug, Clone)]
struct World {
    leader: bool,
    trusted: bool,
    container_up: bool,
    mounted: bool,
    requirers: Vec<(&'static str, Requirer)>,
    traefik: Option<Traefik>,
    kratos: bool,
    oathkeeper_info: bool,
    /// `Some(true)`: Traefik answered with our URL.
    ingress: Option<bool>,
    /// Related to Prometheus (metrics-endpoint).
    prometheus: bool,
    /// Related to Grafana (grafana-dashboard).
    grafana: bool,
    /// Related to Loki (logging), whose unit wrote: nothing (0), its endpoint (1), garbage (2).
    loki: Option<u8>,
    /// Related to Tempo (tracing), which wrote: nothing (0), its receivers (1), garbage (2).
    tempo: Option<u8>,
    /// Which relation gets the relation-changed (modulo the relations present).
    changed: usize,
}

const APPS: [&str; 2] = ["spark-history-server", "wiki"];

fn world() -> impl Strategy<Value = World> {
    let requirer = prop_oneof![
        Just(Requirer::Empty),
        Just(Requirer::Valid),
        Just(Requirer::Valid),
        Just(Requirer::Invalid),
    ];
    let traefik = prop_oneof![
        Just(None),
        Just(Some(Traefik::Silent)),
        proptest::sample::subsequence(APPS.to_vec(), 0..=2)
            .prop_map(|names| Some(Traefik::Routes(names))),
    ];
    (
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        proptest::collection::vec(requirer, 0..=2),
        traefik,
        (any::<bool>(), any::<bool>()),
        proptest::option::of(any::<bool>()),
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(0u8..3),
            proptest::option::of(0u8..3),
        ),
        any::<usize>(),
    )
        .prop_map(
            |(
                (leader, trusted, container_up, mounted),
                requirers,
                traefik,
                (kratos, oathkeeper_info),
                ingress,
                (prometheus, grafana, loki, tempo),
                changed,
            )| World {
                leader,
                // Mostly trusted: that is where the writes are.
                trusted: trusted || leader,
                container_up,
                mounted,
                requirers: APPS.iter().copied().zip(requirers).collect(),
                traefik,
                kratos,
                oathkeeper_info,
                ingress,
                prometheus,
                grafana,
                loki,
                tempo,
                changed,
            },
        )
}

fn requirer(id: u64, app: &str, data: Requirer) -> Relation {
    let relation = Relation::new("auth-proxy", id, app);
    let header = match data {
        Requirer::Empty => return relation,
        Requirer::Valid => "X-User",
        Requirer::Invalid => "X-Not-Allowed",
    };
    relation.remote_app_data([
        (
            "protected_urls",
            format!(r#"["https://iam.example.com/iam-{app}"]"#),
        ),
        ("headers", format!(r#"["{header}"]"#)),
        ("allowed_endpoints", r#"["welcome"]"#.to_owned()),
    ])
}

/// The harness state of a world, before any hook ran.
fn state(world: &World) -> State {
    let mut state = deployed(world.leader);
    state.kubernetes.trusted = world.trusted;
    if world.mounted {
        state = state.config("config-source", "mounted-volumes");
    }
    if !world.container_up {
        state.containers.get_mut("oathkeeper").unwrap().can_connect = false;
    }
    for (i, (app, data)) in world.requirers.iter().enumerate() {
        state = state.relation(requirer(4 + i as u64, app, *data));
    }
    if let Some(traefik) = &world.traefik {
        let relation = Relation::new("forward-auth", 3, "traefik-public");
        state = state.relation(match traefik {
            Traefik::Silent => relation,
            Traefik::Routes(names) => relation
                .remote_app_data([("ingress_app_names", serde_json::to_string(names).unwrap())]),
        });
    }
    if world.kratos {
        state = state.relation(Relation::new("kratos-info", 2, "kratos").remote_app_data([
            (
                "sessions_endpoint",
                "http://kratos.iam.svc.cluster.local:4433/sessions/whoami",
            ),
            (
                "login_browser_endpoint",
                "https://iam.example.com/iam-kratos/self-service/login/browser",
            ),
            (
                "public_endpoint",
                "http://kratos.iam.svc.cluster.local:4433",
            ),
            ("admin_endpoint", "http://kratos.iam.svc.cluster.local:4434"),
        ]));
    }
    if world.oathkeeper_info {
        state = state.relation(Relation::new("oathkeeper-info", 6, "identity-admin-ui"));
    }
    if let Some(answered) = world.ingress {
        let relation = Relation::new("ingress", 7, "traefik-admin");
        state = state.relation(if answered {
            relation.remote_app_data([(
                "ingress",
                r#"{"url": "https://iam.example.com/iam-oathkeeper"}"#,
            )])
        } else {
            relation
        });
    }
    if world.prometheus {
        state = state.relation(Relation::new("metrics-endpoint", 8, "prometheus"));
    }
    if world.grafana {
        state = state.relation(Relation::new("grafana-dashboard", 10, "grafana"));
    }
    if let Some(loki) = world.loki {
        let relation = Relation::new("logging", 9, "loki");
        state = state.relation(match loki {
            0 => relation,
            1 => relation.remote_unit(
                0,
                [(
                    "endpoint",
                    r#"{"url": "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push"}"#,
                )],
            ),
            _ => relation.remote_unit(0, [("endpoint", "{}")]),
        });
    }
    if let Some(tempo) = world.tempo {
        let relation = Relation::new("tracing", 11, "tempo");
        state = state.relation(match tempo {
            0 => relation,
            1 => relation.remote_app_data([(
                "receivers",
                r#"[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://tempo-0.tempo-endpoints.cos.svc.cluster.local:4318"}]"#,
            )]),
            _ => relation.remote_app_data([("receivers", "[{}]")]),
        });
    }
    state
}

/// Every write an outcome records, one line each.
fn writes(outcome: &Outcome) -> Vec<String> {
    let tools = outcome
        .effects
        .tool_calls
        .iter()
        .filter(|call| {
            matches!(
                call.tool.as_str(),
                "relation-set"
                    | "status-set"
                    | "application-version-set"
                    | "state-set"
                    | "state-delete"
                    | "open-port"
                    | "close-port"
            ) || call.tool.starts_with("secret-") && call.tool != "secret-get"
        })
        .map(|call| format!("{} {}", call.tool, call.args.join(" ")));
    let kubernetes = outcome
        .kubernetes_requests
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|r| format!("kubernetes {} {}", r.method, r.path));
    let pebble = outcome.pebble_calls.iter().flat_map(|(container, calls)| {
        calls
            .iter()
            .filter(|c| c.method != "GET")
            .map(move |c| format!("pebble {container} {} {} {}", c.method, c.path, c.body))
    });
    tools.chain(kubernetes).chain(pebble).collect()
}

fn run(ctx: &Context, state: &State, event: &Event) -> Result<Outcome, TestCaseError> {
    let outcome = ctx
        .run(state, event)
        .map_err(|e| TestCaseError::fail(format!("{}: {e}", event.name)))?;
    prop_assert!(
        outcome.succeeded(),
        "{} failed ({}): {}",
        event.name,
        outcome.exit_code,
        outcome.stderr
    );
    Ok(outcome)
}

/// The hooks Juju runs when a unit starts, then `update-status` until a hook writes nothing.
fn converge(ctx: &Context, world: &World) -> Result<State, TestCaseError> {
    let mut state = state(world);
    let mut start = vec![Event::hook("install")];
    if world.leader {
        start.push(Event::hook("leader-elected"));
    }
    start.push(Event::hook("config-changed"));
    if world.container_up {
        start.push(Event::pebble_ready("oathkeeper"));
    }
    for event in &start {
        state = run(ctx, &state, event)?.state;
    }
    let mut last = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let outcome = run(ctx, &state, &Event::hook("update-status"))?;
        state = outcome.state.clone();
        last = writes(&outcome);
        if last.is_empty() {
            return Ok(state);
        }
    }
    Err(TestCaseError::fail(format!(
        "no convergence after {MAX_ROUNDS} update-status hooks; the last one wrote:\n  {}",
        last.join("\n  ")
    )))
}

/// The events to repeat on a converged unit: `update-status`, `config-changed`, and a
/// relation-changed on one of its relations.
fn repeated(world: &World, state: &State) -> Vec<Event> {
    let mut events = vec![Event::hook("update-status"), Event::hook("config-changed")];
    let relations: Vec<&Relation> = state.relations.iter().collect();
    let relation = relations[world.changed % relations.len()];
    events.push(Event::relation(&relation.endpoint, "changed", relation.id));
    events
}

fn check(dir: &Path, api: &HttpStub, world: &World) -> Result<(), TestCaseError> {
    let ctx = context(dir).env(
        oathkeeper_charm::io::API_URL_ENV,
        &format!("http://127.0.0.1:{}", api.port()),
    );
    let converged = converge(&ctx, world)?;
    for event in repeated(world, &converged) {
        let outcome = run(&ctx, &converged, &event)?;
        let written = writes(&outcome);
        prop_assert!(
            written.is_empty(),
            "{} on a converged unit wrote:\n  {}",
            event.name,
            written.join("\n  ")
        );
        let changed: Vec<&str> = outcome
            .effects
            .juju_log
            .iter()
            .filter(|line| line.level == "INFO")
            .map(|line| line.message.as_str())
            .collect();
        prop_assert!(
            changed.is_empty(),
            "{} on a converged unit logged changes: {changed:?}",
            event.name
        );
    }
    Ok(())
}

/// A running workload (for `/version`), once the container is up.
fn version_api() -> HttpStub {
    HttpStub::start(|target| match target {
        "/version" => (200, format!(r#"{{"version":"{VERSION}"}}"#)),
        _ => (404, "{}".to_owned()),
    })
}

#[test]
fn issue_15_a_converged_unit_writes_nothing_on_a_repeated_hook() {
    let dir = charm_dir();
    let api = version_api();
    let config = Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&world(), |world| check(dir.path(), &api, &world));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn issue_15_the_tutorial_converges_and_then_writes_nothing() {
    // The fullest world: every relation, leader, trusted, container up, both config sources.
    let dir = charm_dir();
    let api = version_api();
    for mounted in [false, true] {
        let world = World {
            leader: true,
            trusted: true,
            container_up: true,
            mounted,
            requirers: vec![(APPS[0], Requirer::Valid), (APPS[1], Requirer::Valid)],
            traefik: Some(Traefik::Routes(APPS.to_vec())),
            kratos: true,
            oathkeeper_info: true,
            ingress: Some(true),
            prometheus: true,
            grafana: true,
            loki: Some(1),
            tempo: Some(1),
            changed: 0,
        };
        if let Err(e) = check(dir.path(), &api, &world) {
            panic!("mounted {mounted}: {e}");
        }
    }
}

#[test]
fn issue_15_the_workload_version_is_set_once_not_on_every_hook() {
    // The version is recorded in the unit's state and set again only when it changes.
    let dir = charm_dir();
    let api = version_api();
    let ctx = context(dir.path()).env(
        oathkeeper_charm::io::API_URL_ENV,
        &format!("http://127.0.0.1:{}", api.port()),
    );
    let mut state = deployed(true);
    state.kubernetes.trusted = true;
    let first = ctx.run(&state, &Event::hook("config-changed")).unwrap();
    let second = ctx
        .run(&first.state, &Event::hook("update-status"))
        .unwrap();
    assert_eq!(second.state.workload_version, VERSION);
    let third = ctx
        .run(&second.state, &Event::hook("update-status"))
        .unwrap();
    assert_eq!(
        third.effects.workload_version_history,
        Vec::<String>::new(),
        "{:#?}",
        writes(&third)
    );
}
