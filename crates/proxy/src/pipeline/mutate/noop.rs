//! `noop`: adds no header.
//!
//! Differs from upstream: upstream answers with every header of the client's request, so a
//! client-sent `X-User` on an allowed endpoint would reach the protected app through the
//! proxy's copy of the answer headers. Here the answer carries only headers that a handler set.
