//! Networking: server addresses, one [`Connection`] per server, and the round-robin
//! [`ConnectionPool`] with health checks and reconnect backoff.

mod address;
mod backoff;
mod connection;
mod link;
mod poll;
mod pool;
mod read_buffer;
mod wait;

pub use address::{
    default_servers, parse_server_list, resolve_server_list, ServerAddr, ToServers, DEFAULT_PORT,
    DEFAULT_SERVER, SERVERS_ENV,
};
pub(crate) use backoff::random_u64;
pub use backoff::Backoff;
pub use connection::{ConnectOptions, Connection};
pub(crate) use link::Link;
pub use pool::{perl_hash, ConnectionPool, PoolOptions, Routing};
pub(crate) use wait::{read_any, Arrival, WaitBuffers};
