//! A Juju charm runtime for compiled charms (issue 4, in progress).
//!
//! You call it; it does not call you: no event bus, no framework lifecycle, every I/O handle a
//! value. So far: [`pebble`] — the layer format and its combine semantics, Pebble's API bodies,
//! and a blocking client over the container's unix socket. Hook tools, the hook context and
//! Kubernetes access come next.

pub mod pebble;
