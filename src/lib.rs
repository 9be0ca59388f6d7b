//! # gearman-sync
//!
//! A synchronous, blocking [Gearman](http://gearman.org) client and worker for CLI tools and
//! plain threads: no async runtime, plain `std::net` sockets, a sans-IO packet codec, and five
//! small dependencies; TLS (rustls) with the `tls` feature. Tested against gearmand 1.1.20
//! (Debian 12), 1.1.22 and 2.0.0.
//!
//! ## Which type do I use?
//!
//! | to ... | use |
//! | --- | --- |
//! | run a job and wait for its result, or queue a background job | [`Client`] |
//! | describe one submission (priority, unique, retries, callbacks) | [`Task`] |
//! | submit many jobs at once and collect them | [`TaskSet`] (from [`Client::task_set`]) |
//! | take a task set's results as they finish, with progress | [`TaskSet::finished`], [`TaskSet::next_finished`], [`Progress`] |
//! | call from many threads through one client value | [`SharedClient`] (from [`ClientBuilder::build_shared`]) |
//! | ask about a background job | [`Client::status`], [`Client::status_by_unique`] |
//! | run jobs | [`Worker`], with [`Ability`] handlers that receive a [`Job`] |
//! | run up to N jobs at once in one process, handlers registered once | [`ConcurrentWorker`] (from [`WorkerBuilder::build_concurrent`]) |
//! | stop a worker from another thread or a signal handler | [`StopHandle`] |
//! | inspect or manage a server (`status`, `workers`, `cancel job` ...) | [`Admin`] |
//! | speak the wire protocol yourself | [`protocol`] |
//! | encrypt and authenticate connections (feature `tls`) | `TlsConfig`, given to each builder's `tls` |
//!
//! ## Quick start: client
//!
//! ```no_run
//! use gearman_sync::{Client, Task};
//! // "host", "host:port", "a:4730,b:4731", "[::1]:4730"; empty = GEARMAN_SERVERS or 127.0.0.1:4730
//! let mut client = Client::new("127.0.0.1:4730")?;
//! let reversed = client.do_task(
//!     Task::new("reverse", "hello").on_status(|n, d| eprintln!("{n}/{d}")),
//! )?;
//! assert_eq!(reversed, b"olleh");
//! let handle = client.do_background("cleanup", "tmp/*")?;
//! println!("queued as {handle}: {:?}", client.status(&handle)?);
//! # Ok::<(), gearman_sync::Error>(())
//! ```
//!
//! ## Quick start: worker
//!
//! ```no_run
//! use gearman_sync::Worker;
//! let mut worker = Worker::new("127.0.0.1:4730")?;
//! worker.add_ability("reverse", |job| {
//!     job.send_status(1, 2)?;
//!     Ok(job.workload().iter().rev().copied().collect())
//! })?;
//! let stop = worker.stop_handle(); // Clone + Send: give it to a signal handler or a thread
//! worker.work()?;                  // until stopped, or a job/idle limit from the builder
//! # drop(stop);
//! # Ok::<(), gearman_sync::Error>(())
//! ```
//!
//! ## Quick start: concurrent worker
//!
//! ```no_run
//! use gearman_sync::Worker;
//! let mut worker = Worker::builder().servers("127.0.0.1:4730").build_concurrent(4)?;
//! // One handler for the 4 threads: Fn + Send + Sync.
//! worker.add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?;
//! let stop = worker.stop_handle(); // stops all 4; running jobs finish and are delivered
//! let summary = worker.work()?;    // the jobs of all threads, summed
//! # drop(stop);
//! # drop(summary);
//! # Ok::<(), gearman_sync::Error>(())
//! ```
//!
//! ## Errors
//!
//! Every fallible call returns [`Result`] with the one [`Error`] type. Its variants keep apart
//! what a caller handles differently:
//!
//! * [`Error::InvalidArgument`]: refused before anything was sent (a NUL in a function name, a
//!   unique over 63 bytes ...).
//! * [`Error::NoJobServers`]: nothing was sent; lists every server with its last error.
//! * [`Error::SubmitUnconfirmed`]: a submission was sent but never confirmed: the job may exist.
//! * [`Error::JobLost`]: the job was created but its connection died; the result cannot arrive.
//! * [`Error::Server`] / [`Error::Admin`]: the server's `ERROR` packet or `ERR` line, kept as sent.
//! * [`Error::JobFailed`] / [`Error::JobException`]: the job ran and failed.
//! * [`Error::WorkerThread`]: a [`ConcurrentWorker`] thread could not be started (or panicked,
//!   a bug).
//! * [`Error::Tls`]: a TLS connection failed (feature `tls`), with a [`TlsErrorKind`] naming the
//!   cause (unknown issuer, name mismatch, expired, refused, not TLS); [`Error::TlsSetup`]: TLS
//!   settings that cannot be used.
//! * [`Error::Timeout`]: a deadline passed. No call blocks forever: jobs default to 60 s, other
//!   requests to 10 s, and both can be changed per client and per task.
//!
//! ## Guarantees and limits
//!
//! * Delivery is at-least-once: a job running when its worker or server dies is run again.
//!   Foreground jobs do not survive a gearmand restart; background jobs do with a persistent
//!   queue (`gearmand -q libsqlite3`).
//! * Jobs never coalesce unless asked: a task without a unique is sent without one (as
//!   libgearman's random UUIDs behave); gearman-ruby's SHA-1 of function and workload, which
//!   merges identical requests in flight, is [`UniqueMode::Sha1`].
//! * `Client` and `Worker` take `&mut self`, hold no hidden locks and are `Send`: use one per
//!   thread. To share one between threads, use [`SharedClient`] (`Clone + Send + Sync`, calls
//!   through `&self`): each call runs on a pooled client with its own connections, and its
//!   lock is held only to take or return one, never across a round trip. A
//!   [`ConcurrentWorker`] is N `Worker`s on N threads, each with its own connections, sharing
//!   handlers, limits and one stop handle. A [`TaskSet`] borrows its client and holds the
//!   tasks' callbacks, which need not be `Send`, so it stays on the thread that made it.
//!
//! ## Logging
//!
//! The library logs through the [`log`] crate and never prints: `warn` for lost servers and
//! refused results, `info` for reconnects, `debug` for packets that were skipped, `error` for
//! panicking handlers and callbacks.
//!
//! ## Minimum supported Rust version
//!
//! Rust 1.74 (`rust-version` in `Cargo.toml`; clippy's `incompatible_msrv` lint, run with
//! `-D warnings` in CI, rejects newer standard library APIs).
//!
//! ## Layers
//!
//! Everything public is re-exported here, at the crate root, except the codec, which is
//! [`protocol`]. Inside, dependencies flow one way: `protocol/` (the sans-IO codec and its
//! errors) → `net/address.rs`, `net/handle.rs` (server addresses, job handles) → `error.rs` →
//! `net/` (the connection, the one server link, the one wait, the client's pool) → `client/`,
//! `worker/`, `admin.rs`.

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod admin;
mod client;
mod error;
#[cfg(feature = "json")]
mod json;
mod net;
pub mod protocol;
mod settings;
mod worker;

pub use admin::{Admin, AdminBuilder, ServerAnswer, DEFAULT_ADMIN_TIMEOUT};
pub use client::{
    Client, ClientBuilder, Finished, JobStatus, PooledClient, Priority, Progress, SharedClient,
    Task, TaskId, TaskOutcome, TaskSet, UniqueJobStatus, UniqueMode, WaitSummary, Workload,
    DEFAULT_JOB_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
};
pub use error::{Error, Result, ServerErrorCode, ServerFailure, TlsErrorKind, Waiting};
pub use net::{
    perl_hash, AddressError, Backoff, JobHandle, Routing, ServerAddr, ToServers, DEFAULT_PORT,
    SERVERS_ENV,
};
#[cfg(feature = "tls")]
pub use net::{TlsConfig, TlsConfigBuilder};
pub use protocol::error::{ArgumentError, ProtocolError};
pub use settings::Settings;
pub use worker::{
    Ability, ConcurrentWorker, ExceptionMode, GrabMode, Job, JobError, JobEvent, JobResult,
    StopHandle, StopReason, TimeLimitMode, TimeoutUnit, WorkSummary, Worker, WorkerBuilder,
    DEFAULT_REASK_INTERVAL,
};

/// Entry points for the fuzz targets in `fuzz/` (not part of the API).
#[doc(hidden)]
pub mod __fuzz {
    /// Drives the client's sans-IO reply router with an operation stream; panics on any
    /// inconsistency.
    pub fn client_router(data: &[u8]) {
        crate::client::fuzz_router(data);
    }

    /// Drives the worker's grab/sleep/wake state machine with a packet stream; panics on any
    /// inconsistency.
    pub fn worker_session(data: &[u8]) {
        crate::worker::fuzz_session(data);
    }
}

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
