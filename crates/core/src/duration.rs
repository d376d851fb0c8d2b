//! Go duration text (`5s`, `1m30s`, `250ms`), as Oathkeeper's config writes it.

pub use envconf::{DurationError, parse_duration};
