//! Unit tests of the crate-private network types.

mod connection;
mod pool;
