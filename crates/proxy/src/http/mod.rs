//! The HTTP edge: listeners, connection handling and the API routes.

pub mod api;
pub mod cors;
pub mod server;
