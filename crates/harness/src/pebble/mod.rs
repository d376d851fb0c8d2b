//! A fake Pebble: Pebble's HTTP API on a container's unix socket (spec/juju-runtime.md §3).
