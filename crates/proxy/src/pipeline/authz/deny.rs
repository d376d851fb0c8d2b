//! `deny`: refuses every request with 403.
