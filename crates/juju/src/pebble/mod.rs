//! Pebble, the workload containers' service manager: the layer format and plan semantics
//! ([`layer`]), the API bodies ([`api`]), and a blocking client over the unix socket
//! ([`client`]).

pub mod api;
pub mod client;
pub mod layer;
pub mod multipart;
pub mod websocket;
