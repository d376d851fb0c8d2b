//! The fake daemon's state and its operations: layers and plan, services and the changes that
//! start and stop them, checks, notices, canned execs and the call log.
//!
//! One `tokio::sync::Mutex` guards it: requests are few and short, and the only long
//! operations (a live service's start delay, stop's kill delay) run outside the lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use juju::pebble::api::{Change, CheckInfo, Notice};
use juju::pebble::layer::{Check, Layer, Layers, Service, Startup};
use serde_json::{Value, json};
use tokio::sync::{Mutex, oneshot, watch};
use tokio::task::JoinHandle;

pub(crate) mod live;

use live::LiveOptions;

use super::state::{ContainerState, Exec, ServiceStatus};
use super::util;

/// Everything the server's tasks share.
pub(crate) struct Shared {
    /// The daemon state.
    pub(crate) daemon: Mutex<Daemon>,
    /// Bumped whenever a change progresses, so `/wait` wakes up.
    pub(crate) updates: watch::Sender<u64>,
    /// The container root: container path `/x` is `<root>/x`.
    pub(crate) root: PathBuf,
    /// Live mode's options; `None` in emulated mode.
    pub(crate) live: Option<LiveOptions>,
    /// Where live services log.
    pub(crate) log_dir: PathBuf,
    /// This daemon's boot id.
    pub(crate) boot_id: String,
}

impl Shared {
    /// Wakes the change waiters.
    pub(crate) fn notify(&self) {
        self.updates.send_modify(|n| *n += 1);
    }
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The body, summarised: JSON compact and cut at 1000 bytes, multipart as its `request`
    /// part and file names.
    pub body: String,
}

/// A running live process of a service.
pub(crate) struct Process {
    /// Its pid (and process group id).
    pub(crate) pid: Option<u32>,
    /// Asks the supervisor to stop it.
    pub(crate) stop: Option<oneshot::Sender<()>>,
    /// The supervisor.
    pub(crate) task: Option<JoinHandle<()>>,
}

/// A service's runtime state.
#[derive(Default)]
pub(crate) struct ServiceRuntime {
    pub(crate) current: ServiceStatus,
    pub(crate) since: String,
    /// The definition it was started with (what replan compares).
    pub(crate) definition: Option<Service>,
    pub(crate) process: Option<Process>,
    /// Bumped per start, so a stale supervisor does not overwrite a newer state.
    pub(crate) generation: u64,
    /// How the last process ended, if it did on its own.
    pub(crate) exit: Option<String>,
}

impl ServiceRuntime {
    fn set(&mut self, current: ServiceStatus) {
        if self.current != current {
            self.current = current;
            self.since = util::now();
        }
    }

    fn running(&self) -> bool {
        matches!(self.current, ServiceStatus::Active | ServiceStatus::Backoff)
    }
}

/// A check's runtime state.
pub(crate) struct CheckRuntime {
    pub(crate) info: CheckInfo,
    pub(crate) definition: Option<Check>,
    pub(crate) runner: Option<JoinHandle<()>>,
    pub(crate) generation: u64,
}

impl CheckRuntime {
    /// Records one run's result: a success brings it up and resets the failures; `threshold`
    /// failures in a row bring it down.
    pub(crate) fn record(&mut self, ok: bool, threshold: u32) {
        if ok {
            self.info.successes += 1;
            self.info.failures = 0;
            self.info.status = "up".to_owned();
        } else {
            self.info.failures += 1;
            if self.info.failures >= threshold {
                self.info.status = "down".to_owned();
            }
        }
    }
}

/// A step of a services change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Start(String),
    Stop(String),
}

impl Op {
    fn task(&self) -> (&'static str, String) {
        match self {
            Op::Start(name) => ("start", format!("Start service {name:?}")),
            Op::Stop(name) => ("stop", format!("Stop service {name:?}")),
        }
    }
}

/// The daemon state.
#[derive(Default)]
pub(crate) struct Daemon {
    pub(crate) layers: Layers,
    pub(crate) services: BTreeMap<String, ServiceRuntime>,
    pub(crate) checks: BTreeMap<String, CheckRuntime>,
    /// Check infos of the input state that name no check of the plan (kept for output).
    pub(crate) other_checks: Vec<CheckInfo>,
    pub(crate) changes: BTreeMap<u64, Change>,
    pub(crate) next_id: u64,
    pub(crate) notices: Vec<Notice>,
    pub(crate) next_notice: u64,
    pub(crate) execs: Vec<Exec>,
    /// Exec task id → (stdio, stderr) output, served on the task's websockets.
    pub(crate) exec_outputs: BTreeMap<String, (String, String)>,
    pub(crate) calls: Vec<Call>,
}

/// What an exec request answers.
pub(crate) struct ExecResult {
    pub(crate) change: String,
    pub(crate) task: String,
}

impl Daemon {
    /// The daemon for `state` (services keep their statuses; an active one counts as running
    /// the current plan's definition).
    pub(crate) fn from_state(state: ContainerState) -> Daemon {
        let mut daemon = Daemon {
            layers: state.layers,
            execs: state.execs,
            next_id: 1,
            next_notice: 1,
            ..Daemon::default()
        };
        let plan = daemon.layers.plan();
        let now = util::now();
        for (name, status) in &state.service_statuses {
            let definition = (*status != ServiceStatus::Inactive)
                .then(|| plan.services.get(name).cloned())
                .flatten();
            daemon.services.insert(
                name.clone(),
                ServiceRuntime {
                    current: *status,
                    since: now.clone(),
                    definition,
                    ..ServiceRuntime::default()
                },
            );
        }
        for info in state.check_infos {
            match plan.checks.get(&info.name) {
                Some(definition) => {
                    daemon.checks.insert(
                        info.name.clone(),
                        CheckRuntime {
                            info,
                            definition: Some(definition.clone()),
                            runner: None,
                            generation: 0,
                        },
                    );
                }
                None => daemon.other_checks.push(info),
            }
        }
        for notice in state.notices {
            daemon.add_notice_record(notice);
        }
        daemon
    }

    /// The state document of this daemon (files come from the root, separately).
    pub(crate) fn to_state(&self) -> ContainerState {
        let plan = self.layers.plan();
        let mut service_statuses = BTreeMap::new();
        for name in plan.services.keys().chain(self.services.keys()) {
            let current = self
                .services
                .get(name)
                .map_or(ServiceStatus::Inactive, |s| s.current);
            service_statuses.insert(name.clone(), current);
        }
        // Change ids are runtime bookkeeping, not state.
        let mut check_infos: Vec<CheckInfo> = self
            .checks
            .values()
            .map(|c| CheckInfo {
                change_id: None,
                ..c.info.clone()
            })
            .collect();
        check_infos.extend(self.other_checks.iter().cloned());
        ContainerState {
            can_connect: true,
            layers: self.layers.clone(),
            service_statuses,
            files: BTreeMap::new(),
            check_infos,
            notices: self.notices.clone(),
            execs: self.execs.clone(),
        }
    }

    fn next(&mut self) -> String {
        let id = self.next_id;
        self.next_id += 1;
        id.to_string()
    }

    /// Gives check `name` the change Pebble runs it in: `perform-check` while up,
    /// `recover-check` while down, none while inactive (ops reads a check with `startup` and
    /// no `change-id` as inactive). Keeps the current change when its kind still fits.
    pub(crate) fn refresh_check_change(&mut self, name: &str) {
        let Some(check) = self.checks.get(name) else {
            return;
        };
        let kind = match check.info.status.as_str() {
            "up" => "perform-check",
            "down" => "recover-check",
            _ => {
                if let Some(check) = self.checks.get_mut(name) {
                    check.info.change_id = None;
                }
                return;
            }
        };
        let current = check
            .info
            .change_id
            .as_deref()
            .and_then(|id| id.parse::<u64>().ok())
            .and_then(|id| self.changes.get(&id));
        if current.is_some_and(|c| c.kind == kind) {
            return;
        }
        let verb = if kind == "perform-check" {
            "Perform"
        } else {
            "Recover"
        };
        let summary = format!("{verb} check {name:?}");
        let id = self.next_id;
        self.next_id += 1;
        let now = util::now();
        let mut running = task(&self.next(), kind, &summary, &now, Value::Null);
        running["status"] = json!("Doing");
        self.changes.insert(
            id,
            Change {
                id: id.to_string(),
                kind: kind.to_owned(),
                summary,
                status: "Doing".to_owned(),
                ready: false,
                err: None,
                tasks: vec![running],
                spawn_time: now,
                ready_time: None,
                data: Value::Null,
            },
        );
        if let Some(check) = self.checks.get_mut(name) {
            check.info.change_id = Some(id.to_string());
        }
    }

    /// Records a change with one task per op, all `Do`.
    pub(crate) fn new_change(&mut self, kind: &str, summary: String, ops: &[Op]) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let now = util::now();
        let tasks = ops
            .iter()
            .map(|op| {
                let (kind, summary) = op.task();
                task(&self.next(), kind, &summary, &now, Value::Null)
            })
            .collect();
        self.changes.insert(
            id,
            Change {
                id: id.to_string(),
                kind: kind.to_owned(),
                summary,
                status: "Do".to_owned(),
                ready: false,
                err: None,
                tasks,
                spawn_time: now,
                ready_time: None,
                data: Value::Null,
            },
        );
        id
    }

    /// Sets task `index` of change `id` to `status` (with a log line on error).
    pub(crate) fn set_task(&mut self, id: u64, index: usize, status: &str, log: Option<&str>) {
        if let Some(change) = self.changes.get_mut(&id) {
            change.status = "Doing".to_owned();
            if let Some(task) = change.tasks.get_mut(index) {
                task["status"] = json!(status);
                if let Some(line) = log {
                    task["log"] = json!([format!("{} ERROR {line}", util::now())]);
                }
                if matches!(status, "Done" | "Error" | "Hold") {
                    task["ready-time"] = json!(util::now());
                    task["progress"]["done"] = json!(1);
                }
            }
        }
    }

    /// Marks change `id` ready: `Done`, or `Error` with Pebble's summary of failed tasks.
    pub(crate) fn finish_change(&mut self, id: u64, failures: &[(String, String)]) {
        if let Some(change) = self.changes.get_mut(&id) {
            change.ready = true;
            change.ready_time = Some(util::now());
            if failures.is_empty() {
                change.status = "Done".to_owned();
            } else {
                change.status = "Error".to_owned();
                let lines: Vec<String> = failures
                    .iter()
                    .map(|(summary, error)| format!("- {summary} ({error})"))
                    .collect();
                change.err = Some(format!(
                    "cannot perform the following tasks:\n{}",
                    lines.join("\n")
                ));
            }
        }
    }

    /// The ops of a `replan`: stop running services whose definition changed (or left the
    /// plan), then start every `startup: enabled` service not running.
    pub(crate) fn replan_ops(&self, plan: &Layer) -> Vec<Op> {
        let mut stops = Vec::new();
        for (name, runtime) in &self.services {
            if runtime.running() && runtime.definition.as_ref() != plan.services.get(name) {
                stops.push(name.clone());
            }
        }
        let mut ops: Vec<Op> = stops.iter().cloned().map(Op::Stop).collect();
        for (name, service) in &plan.services {
            let running = self.services.get(name).is_some_and(ServiceRuntime::running);
            if service.startup == Some(Startup::Enabled) && (!running || stops.contains(name)) {
                ops.push(Op::Start(name.clone()));
            }
        }
        ops
    }

    /// The enabled services not running (`autostart`).
    pub(crate) fn autostart_ops(&self, plan: &Layer) -> Vec<Op> {
        plan.services
            .iter()
            .filter(|(name, service)| {
                service.startup == Some(Startup::Enabled)
                    && !self
                        .services
                        .get(*name)
                        .is_some_and(ServiceRuntime::running)
            })
            .map(|(name, _)| Op::Start(name.clone()))
            .collect()
    }

    /// Service `name` as the plan defines it, or Pebble's error text.
    pub(crate) fn planned_service(&self, name: &str) -> Result<Service, String> {
        self.layers
            .plan()
            .services
            .get(name)
            .cloned()
            .ok_or_else(|| format!("service {name:?} does not exist"))
    }

    /// Emulated start: the service is active with the plan's definition.
    pub(crate) fn start_emulated(&mut self, name: &str) -> Result<(), String> {
        let definition = self.planned_service(name)?;
        let runtime = self.services.entry(name.to_owned()).or_default();
        if !runtime.running() {
            runtime.generation += 1;
        }
        runtime.set(ServiceStatus::Active);
        runtime.definition = Some(definition);
        runtime.exit = None;
        Ok(())
    }

    /// Emulated stop.
    pub(crate) fn stop_emulated(&mut self, name: &str) {
        let runtime = self.services.entry(name.to_owned()).or_default();
        runtime.set(ServiceStatus::Inactive);
        runtime.definition = None;
    }

    /// The service runtime `name`, created inactive if needed.
    pub(crate) fn service(&mut self, name: &str) -> &mut ServiceRuntime {
        self.services.entry(name.to_owned()).or_default()
    }

    /// The canned result for `command` (longest prefix) as a done exec change; its output
    /// waits for the task's websockets.
    /// Without `split_stderr`, stderr goes to stdio, as Pebble does.
    pub(crate) fn exec(&mut self, command: &[String], split_stderr: bool) -> ExecResult {
        let best = self
            .execs
            .iter()
            .filter(|e| command.starts_with(&e.command_prefix))
            .max_by_key(|e| e.command_prefix.len())
            .cloned();
        let (code, stdout, stderr) = match best {
            Some(exec) => (exec.return_code, exec.stdout, exec.stderr),
            None => (
                NO_EXEC_CODE,
                String::new(),
                format!("fake pebble: no exec result matches {command:?}\n"),
            ),
        };
        let program = command.first().cloned().unwrap_or_default();
        let id = self.next_id;
        self.next_id += 1;
        let task_id = self.next();
        let now = util::now();
        let data = json!({"exit-code": code});
        let outputs = if split_stderr {
            (stdout, stderr)
        } else {
            (stdout + &stderr, String::new())
        };
        self.exec_outputs.insert(task_id.clone(), outputs);
        let summary = format!("Execute command {program:?}");
        let mut done = task(&task_id, "exec", &summary, &now, data);
        done["status"] = json!("Done");
        done["ready-time"] = json!(now);
        done["progress"]["done"] = json!(1);
        self.changes.insert(
            id,
            Change {
                id: id.to_string(),
                kind: "exec".to_owned(),
                summary,
                status: "Done".to_owned(),
                ready: true,
                err: None,
                tasks: vec![done],
                spawn_time: now.clone(),
                ready_time: Some(now),
                data: Value::Null,
            },
        );
        ExecResult {
            change: id.to_string(),
            task: task_id,
        }
    }

    /// Records a notice as given (state input): an id when it has none, times and one
    /// occurrence by default.
    fn add_notice_record(&mut self, mut notice: Notice) {
        if notice.id.is_empty() {
            notice.id = self.next_notice.to_string();
        }
        if let Ok(n) = notice.id.parse::<u64>() {
            self.next_notice = self.next_notice.max(n + 1);
        }
        let now = util::now();
        for time in [
            &mut notice.first_occurred,
            &mut notice.last_occurred,
            &mut notice.last_repeated,
        ] {
            if time.is_empty() {
                time.clone_from(&now);
            }
        }
        notice.occurrences = notice.occurrences.max(1);
        self.notices.push(notice);
    }

    /// `POST /v1/notices` `add`: a new occurrence of (`type`, `key`); returns the id.
    pub(crate) fn notify(
        &mut self,
        type_: &str,
        key: &str,
        data: BTreeMap<String, String>,
        repeat_after: Option<String>,
    ) -> String {
        let now = util::now();
        if let Some(existing) = self
            .notices
            .iter_mut()
            .find(|n| n.type_ == type_ && n.key == key)
        {
            existing.occurrences += 1;
            existing.last_occurred.clone_from(&now);
            existing.last_repeated = now;
            existing.last_data = data;
            if repeat_after.is_some() {
                existing.repeat_after = repeat_after;
            }
            return existing.id.clone();
        }
        self.add_notice_record(Notice {
            type_: type_.to_owned(),
            key: key.to_owned(),
            last_data: data,
            repeat_after,
            ..Notice::default()
        });
        self.notices
            .last()
            .map(|n| n.id.clone())
            .unwrap_or_default()
    }
}

/// The exit code of a command that no canned exec answers (Scenario's).
pub(crate) const NO_EXEC_CODE: i32 = 127;

fn task(id: &str, kind: &str, summary: &str, now: &str, data: Value) -> Value {
    let mut task = json!({
        "id": id,
        "kind": kind,
        "summary": summary,
        "status": "Do",
        "log": [],
        "progress": {"label": "", "done": 0, "total": 1},
        "spawn-time": now,
    });
    if !data.is_null() {
        task["data"] = data;
    }
    task
}

/// Pebble's summary of a services change, e.g. `Start service "a" and "b"`.
pub(crate) fn change_summary(verb: &str, names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let list = match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    format!("{verb} service {list}")
}

/// Runs the ops of change `id` in order; the first failure puts the rest on `Hold` and fails
/// the change.
pub(crate) async fn run_change(shared: Arc<Shared>, id: u64, ops: Vec<Op>) {
    let mut failures = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        if !failures.is_empty() {
            shared.daemon.lock().await.set_task(id, index, "Hold", None);
            continue;
        }
        shared
            .daemon
            .lock()
            .await
            .set_task(id, index, "Doing", None);
        let result = match (&shared.live, op) {
            (None, Op::Start(name)) => shared.daemon.lock().await.start_emulated(name),
            (None, Op::Stop(name)) => {
                shared.daemon.lock().await.stop_emulated(name);
                Ok(())
            }
            (Some(_), Op::Start(name)) => live::start(&shared, name).await,
            (Some(_), Op::Stop(name)) => {
                live::stop(&shared, name).await;
                Ok(())
            }
        };
        let mut daemon = shared.daemon.lock().await;
        match result {
            Ok(()) => daemon.set_task(id, index, "Done", None),
            Err(error) => {
                daemon.set_task(id, index, "Error", Some(&error));
                failures.push((op.task().1, error));
            }
        }
        drop(daemon);
        shared.notify();
    }
    shared.daemon.lock().await.finish_change(id, &failures);
    shared.notify();
}

/// Brings the check runtimes in line with the plan: new checks appear (`up`, or `inactive`
/// when `startup: disabled`), checks that left the plan go, and a check whose definition
/// changed restarts. In live mode the enabled checks run; `restart_all` (re)starts every
/// enabled check's runner.
pub(crate) fn sync_checks(shared: &Arc<Shared>, daemon: &mut Daemon, restart_all: bool) {
    let plan = daemon.layers.plan();
    daemon.checks.retain(|name, check| {
        let keep = plan.checks.contains_key(name);
        if let Some(runner) = check.runner.take_if(|_| !keep) {
            runner.abort();
        }
        keep
    });
    for (name, definition) in &plan.checks {
        let check = daemon
            .checks
            .entry(name.clone())
            .or_insert_with(|| CheckRuntime {
                info: CheckInfo {
                    name: name.clone(),
                    level: String::new(),
                    startup: String::new(),
                    status: "up".to_owned(),
                    successes: 0,
                    failures: 0,
                    threshold: live::DEFAULT_THRESHOLD,
                    change_id: None,
                },
                definition: None,
                runner: None,
                generation: 0,
            });
        let enabled = definition.startup != Some(Startup::Disabled);
        check.info.level = definition.level.clone().unwrap_or_default();
        check.info.startup = if enabled { "enabled" } else { "disabled" }.to_owned();
        check.info.threshold = definition.threshold.unwrap_or(live::DEFAULT_THRESHOLD);
        let changed = check.definition.as_ref() != Some(definition);
        if changed {
            check.definition = Some(definition.clone());
            check.info.failures = 0;
            check.info.status = "up".to_owned();
        }
        if !enabled {
            if let Some(runner) = check.runner.take() {
                runner.abort();
            }
            check.info.status = "inactive".to_owned();
        } else if shared.live.is_some() && (changed || restart_all || check.runner.is_none()) {
            live::start_check(shared, check, name);
        }
    }
    for name in plan.checks.keys() {
        daemon.refresh_check_change(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(yaml: &str) -> Layer {
        Layer::parse_yaml(yaml).unwrap()
    }

    #[test]
    fn replan_restarts_changed_services_and_starts_enabled_ones() {
        let mut daemon = Daemon::default();
        daemon
            .layers
            .add(
                "l",
                layer("services:\n  a: {override: replace, command: a, startup: enabled}\n  b: {override: replace, command: b, startup: enabled}\n  c: {override: replace, command: c}\n"),
                false,
            )
            .unwrap();
        let plan = daemon.layers.plan();
        assert_eq!(
            daemon.replan_ops(&plan),
            [Op::Start("a".into()), Op::Start("b".into())]
        );
        daemon.start_emulated("a").unwrap();
        daemon.start_emulated("b").unwrap();
        assert_eq!(daemon.replan_ops(&plan), []);
        daemon
            .layers
            .add(
                "m",
                layer("services:\n  a: {override: merge, command: a2}\n"),
                false,
            )
            .unwrap();
        let plan = daemon.layers.plan();
        assert_eq!(
            daemon.replan_ops(&plan),
            [Op::Stop("a".into()), Op::Start("a".into())]
        );
    }

    #[test]
    fn exec_answers_with_the_longest_matching_prefix_or_127() {
        let mut daemon = Daemon::default();
        let exec = |prefix: &[&str], code| Exec {
            command_prefix: prefix.iter().map(|s| s.to_string()).collect(),
            return_code: code,
            ..Exec::default()
        };
        daemon.execs = vec![exec(&["ls"], 1), exec(&["ls", "-l"], 2)];
        let code = |daemon: &mut Daemon, argv: &[&str]| {
            let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            let id: u64 = daemon.exec(&argv, true).change.parse().unwrap();
            daemon.changes[&id].tasks[0]["data"]["exit-code"].clone()
        };
        assert_eq!(code(&mut daemon, &["ls", "-l", "/"]), json!(2));
        assert_eq!(code(&mut daemon, &["ls", "/"]), json!(1));
        assert_eq!(code(&mut daemon, &["cat"]), json!(127));
    }

    #[test]
    fn summaries_list_services_like_pebble() {
        assert_eq!(
            change_summary("Start", &["a".into()]),
            "Start service \"a\""
        );
        assert_eq!(
            change_summary("Stop", &["a".into(), "b".into(), "c".into()]),
            "Stop service \"a\", \"b\" and \"c\""
        );
    }

    #[test]
    fn a_repeated_notice_counts_occurrences_under_one_id() {
        let mut daemon = Daemon {
            next_notice: 1,
            ..Daemon::default()
        };
        let first = daemon.notify("custom", "example.com/a", BTreeMap::new(), None);
        let again = daemon.notify("custom", "example.com/a", BTreeMap::new(), None);
        let other = daemon.notify("custom", "example.com/b", BTreeMap::new(), None);
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert_eq!(daemon.notices[0].occurrences, 2);
    }
}
