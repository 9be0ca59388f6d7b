//! # gearman-sync
//!
//! A synchronous, blocking [Gearman](http://gearman.org) client and worker library for CLI tools
//! and plain threads: no async runtime, plain `std::net` sockets, and a sans-IO packet codec.
//!
//! The crate is built in layers that depend on each other in one direction only:
//!
//! * [`protocol`]: the sans-IO codec (binary packets and admin text lines).
//! * [`error`]: [`Error`], [`ProtocolError`], [`ArgumentError`].
//!
//! Logging goes through the [`log`] crate; the library never prints.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod net;
pub mod protocol;
pub mod worker;

pub use client::{
    Client, ClientBuilder, JobHandle, JobStatus, Priority, Task, TaskId, TaskOutcome, TaskSet,
    UniqueJobStatus, WaitSummary,
};
pub use error::{AddressError, ArgumentError, Error, ProtocolError, Result, ServerFailure};
pub use net::ServerAddr;
pub use worker::{Ability, Job, JobError, StopHandle, Worker, WorkerBuilder};
