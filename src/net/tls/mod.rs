//! TLS (feature `tls`): the public settings ([`TlsConfig`]), the session over a socket with its
//! deadline-bound handshake, and what rustls errors mean for the caller. Only this folder
//! names rustls.

mod classify;
mod config;
mod stream;

pub use config::{TlsConfig, TlsConfigBuilder};
pub(crate) use stream::{HandshakeError, TlsStream};
