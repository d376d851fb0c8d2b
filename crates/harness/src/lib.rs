//! A state-transition harness for compiled Juju charms (spec/juju-runtime.md §5), like ops'
//! Scenario but out of process: State in → one event → State out.
//!
//! It runs a charm's `dispatch` exactly as Juju would, against emulations of what cannot run
//! here: the hook tools ([`tools`], reached through the `fake-hook-tool` multicall binary over
//! an agent socket), Pebble ([`pebble`], one fake server per container on a unix socket) and the
//! Kubernetes API ([`k8s`], on loopback).
//!
//! Remote charms the tests need are played by fakes that edit the State between hooks:
//! [`certificates::CertificateProvider`] answers a `tls-certificates` requirer as a v4 provider
//! (self-signed-certificates) does, with a CA made at test time.
//! [`live`] holds what tests of live processes and sockets share: a free port, a wait, and an
//! HTTPS server with one fixed answer.
//!
//! Start with [`Context::run`]: a [`State`] and an [`Event`] in, an [`Outcome`] out (the new
//! state, the exit code, juju-log lines, status history, action results, every tool call).
//! It is not a Juju controller: one unit, one hook at a time, no event queue.

pub mod certificates;
pub mod charm;
pub mod consistency;
pub mod context;
pub mod event;
pub mod k8s;
pub mod kubelet;
pub mod live;
pub mod pebble;
pub mod pod;
pub mod protocol;
pub mod session;
pub mod state;
pub mod tools;

pub use context::{Context, Error, Outcome};
pub use event::Event;
pub use state::{Relation, State, Status};
