//! `fake-hook-tool` (in progress).

fn main() {}
