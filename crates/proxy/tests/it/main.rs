//! Integration tests of the decision server: the library against a fake Kratos, and the real
//! `oathkeeper` binary over loopback HTTP.

mod cli;
mod reload;
mod server;
mod session;
mod support;
