//! A Juju charm runtime for compiled charms.
//!
//! You call it; it does not call you: no event bus, no framework lifecycle, every I/O handle a
//! value. Start with [`env::JujuEnv::from_process`], which reads the hook context once and
//! parses the dispatched [`event::Event`]; then talk to Juju through [`tool::HookTools`] over a
//! [`tool::ProcessRunner`] (tests pass a fake [`tool::Runner`]).
//!
//! - [`env`](mod@env): the hook context, typed, read through an injectable source.
//! - [`event`]: the hook or action being dispatched.
//! - [`tool`]: hook tools, sans-I/O: an argv builder and an output parser per tool, a `Runner`
//!   seam that executes them, and a typed facade.
//! - [`pebble`]: the layer format and its combine semantics, Pebble's API bodies, and a blocking
//!   client over the container's unix socket.
//! - [`k8s`]: Kubernetes access (ConfigMaps, StatefulSet and Service patches) through `kube`,
//!   in-cluster or through a kubeconfig, with a 403 turned into a typed "not trusted" error.

pub mod env;
pub mod event;
pub mod k8s;
pub mod pebble;
pub mod tool;
