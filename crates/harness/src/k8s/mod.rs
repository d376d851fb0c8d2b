//! A fake Kubernetes API server on loopback (spec/juju-runtime.md §4).
