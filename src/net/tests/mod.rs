//! Unit tests of the crate-private network types.

mod connection;
mod pool;
#[cfg(feature = "tls")]
mod tls;
