//! `charm-harness` (in progress).

fn main() {}
