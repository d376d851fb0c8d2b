//! A Juju charm runtime for compiled charms (issue 4, in progress).
//!
//! You call it; it does not call you: no event bus, no framework lifecycle, every I/O handle a
//! value. So far: [`env`] — the hook context and the dispatched event, parsed once from Juju's
//! environment; [`pebble`] — the layer format and its combine semantics, Pebble's API bodies,
//! and a blocking client over the container's unix socket. Hook tools and Kubernetes access
//! come next.

pub mod env;
pub mod pebble;
