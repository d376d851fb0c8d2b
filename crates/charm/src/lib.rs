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
//! This crate's library is the pure part and does no I/O: start with [`snapshot::Snapshot`],
//! [`reconcile::reconcile`] and [`plan::plan`]. [`relation`] parses and renders databags
//! byte-compatible with the Python libraries, [`rules`] generates access rules, [`workload`]
//! renders the config file and the Pebble layer, [`status`] computes the one status and
//! [`action`] holds the actions' pure parts.
//!
//! The I/O shell is [`io`] (the handles), [`observe`], [`apply`] and [`hook`] (one dispatch);
//! the binary only reads the Juju environment and calls [`hook::run`].

pub mod action;
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
pub mod rules;
pub mod snapshot;
pub mod status;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod workload;

pub use desired::Desired;
pub use plan::{Effect, Effects, plan};
pub use reconcile::reconcile;
pub use snapshot::Snapshot;
