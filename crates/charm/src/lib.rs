//! The oathkeeper charm: a drop-in for Charmed Oathkeeper, built as one reconcile.
//!
//! Every hook (except actions and teardown) runs the same four steps:
//!
//! ```text
//! let snapshot = observe(&io)?;               // I/O: hook tools, Pebble, Kubernetes (the shell)
//! let desired  = reconcile(&snapshot);        // pure, total
//! let effects  = plan(&snapshot, &desired);   // pure: only what differs
//! apply(&io, &effects)?                       // I/O (the shell)
//! ```
//!
//! The pure part does no I/O: start with [`snapshot::Snapshot`], [`reconcile::reconcile`] and
//! [`plan::plan`]. [`relation`] parses and renders databags byte-compatible with the Python
//! libraries, [`rules`] files each requirer's access rules and [`workload`] renders the config
//! file (both built by `oathkeeper_core::charm`, which the server's tests share) and the Pebble
//! layer, [`kubernetes`] names the Kubernetes objects the charm manages, [`status`]
//! holds the statuses (the facts of a snapshot decide which one applies), [`action`] holds
//! the actions' pure parts and [`tls`] decides the scheme from the `certificates` relation;
//! [`alert_rules`] renders the rule files shipped for Prometheus and Loki with the Juju
//! [`topology`].
//!
//! The I/O shell is [`io`] (the handles), [`observe`], [`apply`] and [`hook`] (one dispatch);
//! [`report`] words what a hook observed and changed for `juju debug-log`;
//! what fails there is an [`error::HookError`], which decides the exit code. The binary only
//! calls [`hook::run_in_process`] and exits.

pub mod action;
pub mod alert_rules;
pub mod apply;
pub mod desired;
pub mod error;
mod facts;
pub mod hook;
pub mod io;
pub mod kubernetes;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod relation;
pub mod report;
pub mod rules;
pub mod snapshot;
pub mod status;
#[cfg(test)]
pub mod testing;
pub mod tls;
pub mod topology;
pub mod workload;

pub use desired::Desired;
pub use plan::{Effect, Effects, plan};
pub use reconcile::reconcile;
pub use snapshot::Snapshot;
