//! Integration tests of the harness against real clients.

mod k8s;
