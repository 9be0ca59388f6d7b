//! Networking: server addresses, one [`Connection`] per server, and the round-robin
//! [`ConnectionPool`] with health checks and reconnect backoff.

mod address;
mod backoff;
mod connection;
mod handle;
mod health;
mod link;
mod poll;
mod pool;
mod read_buffer;
mod stream;
#[cfg(feature = "tls")]
mod tls;
mod wait;

#[cfg(test)]
mod tests;

pub(crate) use address::resolve_server_list;
pub use address::{AddressError, ServerAddr, ToServers, DEFAULT_PORT, SERVERS_ENV};
pub(crate) use backoff::random_u64;
pub use backoff::Backoff;
pub(crate) use connection::{ConnectOptions, Connection};
pub use handle::JobHandle;
pub(crate) use link::Link;
pub use pool::{perl_hash, Routing};
pub(crate) use pool::{ConnectionPool, PoolOptions, SharedPoolState};
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsConfigBuilder};
pub(crate) use wait::{read_any, Arrival, Deadline, WaitBuffers};
