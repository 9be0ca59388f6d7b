//! [`WorkerBuilder`]: the settings core plus what only a worker has (how it grabs, reports
//! failures, paces itself and stops).

use std::time::Duration;

use super::session::Session;
use super::{
    ConcurrentWorker, ExceptionMode, GrabMode, RequeueGuard, StopHandle, TimeoutUnit, Worker,
    DEFAULT_REASK_INTERVAL,
};
use crate::error::{ArgumentError, Result};
use crate::net::{Backoff, WaitBuffers};
use crate::settings::{settings_setters, SettingsBuilder};

/// What only a worker has.
#[derive(Debug, Clone)]
pub(crate) struct WorkerOptions {
    pub(crate) exceptions: ExceptionMode,
    pub(crate) grab: GrabMode,
    pub(crate) unit: TimeoutUnit,
    pub(crate) max_jobs: u64,
    pub(crate) max_idle: Option<Duration>,
    pub(crate) min_runtime: Option<Duration>,
    pub(crate) prefetch: u32,
    pub(crate) reask: Duration,
}

/// Builds a [`Worker`] with non-default settings. The settings it shares with
/// [`ClientBuilder`](crate::ClientBuilder) and [`AdminBuilder`](crate::AdminBuilder) have the
/// same names there.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::Worker;
/// let worker = Worker::builder()
///     .servers("127.0.0.1:4730,127.0.0.1:4731")
///     .client_id("resize-worker-1")
///     .max_jobs(1000)                       // GearmanBundle `iterations`
///     .max_idle(Duration::from_secs(300))   // GearmanBundle `timeout`
///     .min_runtime(Duration::from_secs(5))  // GearmanBundle `minimum_execution_time`
///     .build()?;
/// assert_eq!(worker.settings().servers().len(), 2);
/// assert_eq!(worker.max_jobs(), 1000);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WorkerBuilder {
    core: SettingsBuilder,
    options: WorkerOptions,
}

impl Default for WorkerBuilder {
    fn default() -> Self {
        WorkerBuilder {
            // A worker retries sooner than a client: it has nothing else to do.
            core: SettingsBuilder::new(Backoff::new(
                Duration::from_millis(100),
                Duration::from_secs(1),
            )),
            options: WorkerOptions {
                exceptions: ExceptionMode::WarningThenFail,
                grab: GrabMode::Unique,
                unit: TimeoutUnit::Auto,
                max_jobs: 0,
                max_idle: None,
                min_runtime: None,
                prefetch: 0,
                reask: DEFAULT_REASK_INTERVAL,
            },
        }
    }
}

impl WorkerBuilder {
    settings_setters!(Worker, core);

    /// How a handler's failure with a text (an exception, a panic, an overrun time limit) is
    /// reported (default [`ExceptionMode::WarningThenFail`], which no client hangs on); see
    /// [`ExceptionMode`]. (A client's [`ClientBuilder::exceptions`](crate::ClientBuilder::exceptions)
    /// is whether it receives them.)
    ///
    /// ```
    /// use gearman_sync::{ExceptionMode, Worker};
    /// let worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .exceptions(ExceptionMode::Exception)
    ///     .build()?;
    /// assert_eq!(worker.exceptions(), ExceptionMode::Exception);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn exceptions(mut self, mode: ExceptionMode) -> Self {
        self.options.exceptions = mode;
        self
    }

    /// GRAB_JOB variant (default `GRAB_JOB_UNIQ`).
    ///
    /// ```
    /// use gearman_sync::{GrabMode, Worker};
    /// let worker = Worker::builder().servers("127.0.0.1:4730").grab_mode(GrabMode::Plain).build()?;
    /// assert!(worker.grab_mode() == GrabMode::Plain);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn grab_mode(mut self, mode: GrabMode) -> Self {
        self.options.grab = mode;
        self
    }

    /// Unit of CAN_DO_TIMEOUT (default: ask the server's version).
    ///
    /// ```
    /// use gearman_sync::{Worker, TimeoutUnit};
    /// let worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .timeout_unit(TimeoutUnit::Milliseconds)
    ///     .build()?;
    /// assert!(worker.timeout_unit() == TimeoutUnit::Milliseconds);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn timeout_unit(mut self, unit: TimeoutUnit) -> Self {
        self.options.unit = unit;
        self
    }

    /// `work()` returns after this many jobs (0 = unlimited, the default).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").max_jobs(500).build()?;
    /// assert!(worker.max_jobs() == 500);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_jobs(mut self, jobs: u64) -> Self {
        self.options.max_jobs = jobs;
        self
    }

    /// `work()` returns after this long without a job (default: never).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").max_idle(Duration::from_secs(60)).build()?;
    /// assert!(worker.max_idle() == Some(Duration::from_secs(60)));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_idle(mut self, idle: Duration) -> Self {
        self.options.max_idle = Some(idle);
        self
    }

    /// `work()` never returns (for max-jobs or idle) before this much time, so a supervisor
    /// does not take a quick exit for a crash; it waits out the rest. A stop through the
    /// [`StopHandle`] returns at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .max_jobs(100)
    ///     .min_runtime(Duration::from_secs(5))
    ///     .build()?;
    /// assert!(worker.min_runtime() == Some(Duration::from_secs(5)));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn min_runtime(mut self, runtime: Duration) -> Self {
        self.options.min_runtime = Some(runtime);
        self
    }

    /// How many jobs the worker may ask for ahead of the one it runs (default 0: one at a
    /// time, as libgearman and gearman-ruby do).
    ///
    /// With a prefetch, the next GRAB goes out before a job starts, so the next job travels
    /// while this one runs instead of after it: a worker of short jobs stops waiting a server
    /// round trip per job (a drain of 16-byte jobs runs about twice as fast with 1, see
    /// BENCHMARKS.md). The price: a job taken ahead waits for the running one, even when
    /// another worker is idle, and its time limit on the server (CAN_DO_TIMEOUT) runs while
    /// it waits. Use it for queues of many short jobs, not for long ones. Prefetching only
    /// happens while a server keeps answering with jobs; [`Worker::work_one`] never prefetches,
    /// and neither does [`work`](Worker::work) past its [`max_jobs`](WorkerBuilder::max_jobs).
    /// Jobs taken ahead are run before `work()` returns, also after a stop.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").prefetch(1).build()?;
    /// assert!(worker.prefetch() == 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn prefetch(mut self, jobs: u32) -> Self {
        self.options.prefetch = jobs;
        self
    }

    /// The longest a sleeping connection trusts the server to wake it (default
    /// [`DEFAULT_REASK_INTERVAL`], 5 s): after this long without a `NOOP` the worker asks
    /// again with a `GRAB`, as libgearman does (at most every 10 s) and gearman-ruby (30 s).
    ///
    /// gearmand 1.1.x can lose a wake-up: its CAN_DO_TIMEOUT timer may mark a sleeping
    /// worker's `NOOP` as sent without sending it, and it never wakes sleepers when a
    /// scheduled (`SUBMIT_JOB_EPOCH`) job comes due (2.0.0 does). Either way a job waits at
    /// most this long. The interval also caps the pause after repeated empty wake-ups (a
    /// `NOOP` whose `GRAB` brings `NO_JOB`, which gearmand 1.1.x sends in a loop when a
    /// far-future scheduled job sits in front of a runnable one). An idle worker sends one
    /// `GRAB` and one `PRE_SLEEP` per server per interval. Zero is refused by
    /// [`build`](WorkerBuilder::build).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .reask_interval(Duration::from_secs(2))
    ///     .build()?;
    /// assert!(worker.reask_interval() == Duration::from_secs(2));
    /// assert!(Worker::builder().reask_interval(Duration::ZERO).build().is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn reask_interval(mut self, interval: Duration) -> Self {
        self.options.reask = interval;
        self
    }

    /// Checks the settings and builds the worker (no connection is opened yet).
    ///
    /// Fails with [`Error::Address`](crate::Error::Address) for a bad server address and
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a bad client ID or prefix
    /// or a zero re-ask interval.
    ///
    /// ```
    /// use gearman_sync::{Error, Worker};
    /// let worker = Worker::builder().servers("127.0.0.1:4730").build()?;
    /// assert!(worker.abilities().is_empty());
    /// assert!(matches!(Worker::builder().servers("[::1").build(), Err(Error::Address(_))));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn build(self) -> Result<Worker> {
        if self.options.reask.is_zero() {
            return Err(ArgumentError::OutOfRange {
                field: "re-ask interval",
                reason: "must be more than zero",
            }
            .into());
        }
        let settings = self.core.build()?;
        let reask = self.options.reask;
        Ok(Worker {
            sessions: settings
                .servers
                .iter()
                .map(|addr| Session::new(addr.clone(), reask))
                .collect(),
            abilities: Vec::new(),
            settings,
            options: self.options,
            callbacks: Default::default(),
            stop: StopHandle::default(),
            cursor: 0,
            wait_buffers: WaitBuffers::default(),
            arrivals: Vec::new(),
            stashed: Default::default(),
            requeued: RequeueGuard::default(),
        })
    }

    /// Checks the settings and builds a [`ConcurrentWorker`] that runs up to `threads` jobs at
    /// once: one [`Worker`] with these settings per thread, each with its own connections.
    /// [`max_jobs`](WorkerBuilder::max_jobs), [`max_idle`](WorkerBuilder::max_idle) and
    /// [`min_runtime`](WorkerBuilder::min_runtime) count for the whole;
    /// [`prefetch`](WorkerBuilder::prefetch) is per thread.
    ///
    /// Fails as [`build`](WorkerBuilder::build), and with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for zero threads.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").build_concurrent(4)?;
    /// assert_eq!(worker.threads(), 4);
    /// assert!(Worker::builder().build_concurrent(0).is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn build_concurrent(self, threads: usize) -> Result<ConcurrentWorker> {
        ConcurrentWorker::build(self, threads)
    }
}
