//! A state-transition harness for compiled Juju charms (spec/juju-runtime.md §5), like ops'
//! Scenario but out of process: State in → one event → State out.
//!
//! It runs a charm's `dispatch` binary exactly as Juju would, against emulations of what cannot
//! run here: the hook tools ([`tools`], installed as one multicall binary), Pebble ([`pebble`],
//! one fake server per container on a unix socket) and the Kubernetes API ([`k8s`], on loopback).
//!
//! It is not a Juju controller: one unit, one hook at a time, no event queue.

pub mod k8s;
pub mod pebble;
