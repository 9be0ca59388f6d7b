//! The worker side: [`Worker`] registers [`Ability`]s and runs the [`Job`]s servers assign.

mod ability;
mod builder;
mod concurrent;
mod cycle;
mod execute;
mod job;
mod lifecycle;
mod outcome;
mod pace;
mod scheduler;
mod session;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use ability::{Ability, JobError, JobResult, TimeLimitMode};
pub use builder::WorkerBuilder;
use builder::WorkerOptions;
pub use concurrent::ConcurrentWorker;
pub use job::Job;
pub use lifecycle::{JobEvent, StopHandle, StopReason, WorkSummary};
pub use session::TimeoutUnit;

use crate::error::{ArgumentError, Error, Result};
use crate::net::{Arrival, ServerAddr, ToServers, WaitBuffers};
use crate::protocol::{Packet, PacketType};
use crate::settings::Settings;
use lifecycle::Callbacks;
use outcome::RequeueGuard;
use pace::LocalPace;
use scheduler::Budget;
use session::{Assignment, Registration, Session};

/// Sleeps until `minimum` has passed since `started` ([`WorkerBuilder::min_runtime`]), or
/// `stop` is used.
fn wait_out(started: Instant, minimum: Duration, stop: &StopHandle) {
    while started.elapsed() < minimum && !stop.is_stopped() {
        std::thread::sleep(minimum.saturating_sub(started.elapsed()).min(IDLE_SLICE));
    }
}

/// Fuzz entry point: see [`crate::__fuzz::worker_session`].
pub(crate) fn fuzz_session(data: &[u8]) {
    cycle::drive(data);
}

/// Longest single blocking wait while idle, so a [`StopHandle`] is noticed promptly.
const IDLE_SLICE: Duration = Duration::from_millis(200);
/// How long past its deadline (or a stop) the worker waits for the reply to a GRAB already
/// sent, and for the servers to confirm the last results before `work()` returns.
const REPLY_GRACE: Duration = Duration::from_secs(1);
/// A GRAB unanswered this long (or the I/O timeout, if shorter) means the server is gone.
const GRAB_REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// The default longest sleep on a server's word (see [`WorkerBuilder::reask_interval`]).
pub const DEFAULT_REASK_INTERVAL: Duration = Duration::from_secs(5);

/// Which GRAB_JOB variant the worker sends (set with [`WorkerBuilder::grab_mode`]).
///
/// ```
/// use gearman_sync::{Worker, GrabMode};
/// assert_eq!(GrabMode::default(), GrabMode::Unique);
/// let worker = Worker::builder().servers("127.0.0.1:4730").grab_mode(GrabMode::All).build()?;
/// # drop(worker);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrabMode {
    /// `GRAB_JOB_UNIQ`: jobs come with the client's unique (the default).
    #[default]
    Unique,
    /// `GRAB_JOB_ALL`: jobs come with unique and, for map/reduce jobs, the reducer.
    All,
    /// Plain `GRAB_JOB`: no unique.
    Plain,
}

impl GrabMode {
    fn packet_type(self) -> PacketType {
        match self {
            GrabMode::Unique => PacketType::GrabJobUniq,
            GrabMode::All => PacketType::GrabJobAll,
            GrabMode::Plain => PacketType::GrabJob,
        }
    }
}

/// How a handler's failure with a text (an `Err(JobError::Exception)`, a panic, an overrun
/// time limit) is reported.
///
/// gearmand forwards `WORK_EXCEPTION` only to clients that asked for exceptions
/// (`OPTION_REQ exceptions`); every other client gets a `WORK_FAIL` with a stray NUL after the
/// handle (gearmand 1.1.20 `libgearman-server/server.cc`, the `GEARMAN_COMMAND_WORK_EXCEPTION`
/// case, which forwards the exception's two-argument packet as a `WORK_FAIL`). Measured here:
/// the libgearman 1.1.x `gearman` CLI then hangs forever, Perl `Gearman::Client` without
/// `exceptions => 1` dies with "unknown handle", Python gearman3 raises `KeyError`, and Node's
/// `gearman` cannot match the handle. PECL gearman 2.x asks for exceptions and the libgearman
/// 2.0.0 client matches the stray NUL, so both cope. Hence the default,
/// [`ExceptionMode::WarningThenFail`], which every client handles: the text travels as a
/// `WORK_WARNING` and the job ends with a plain `WORK_FAIL`. This crate's
/// [`Client`](crate::Client) reports it as [`Error::JobFailed`] with
/// the warning's text.
///
/// ```
/// use gearman_sync::{Worker, ExceptionMode};
/// assert_eq!(ExceptionMode::default(), ExceptionMode::WarningThenFail);
/// // Only when every client asks for exceptions:
/// let worker = Worker::builder()
///     .servers("127.0.0.1:4730")
///     .exceptions(ExceptionMode::Exception)
///     .build()?;
/// # drop(worker);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExceptionMode {
    /// Send the text as `WORK_WARNING`, then a plain `WORK_FAIL` (the default; every client
    /// handles it).
    #[default]
    WarningThenFail,
    /// Send `WORK_EXCEPTION` with the text. Only for deployments whose clients all ask for
    /// exceptions (this crate's [`Client`](crate::Client) does by default, PECL 2.x does): to
    /// the others gearmand sends a `WORK_FAIL` that many of them cannot match.
    Exception,
}

/// A Gearman worker: registers abilities with every server, asks for jobs, runs them and
/// reports the result (PECL's `GearmanWorker`, gearman-ruby's `Worker`).
///
/// The loop sends `GRAB_JOB_UNIQ`, answers `NO_JOB` with `PRE_SLEEP`, and then blocks (in one
/// `poll(2)` over all servers, or in the read itself with one) until a `NOOP` arrives, so an
/// idle worker uses no CPU and a job on any server starts at once. While a server keeps
/// answering with jobs, the next `GRAB` leaves in the same write as each result; while it
/// seems idle, `PRE_SLEEP` goes with the result instead (gearmand answers it with a `NOOP` at
/// once if a job is queued), which saves a `GRAB`/`NO_JOB` round trip per job under light
/// load. Lost servers are retried with backoff; on reconnect the client ID and every ability
/// are registered again. Delivery is at-least-once: a job that was running when its server or
/// connection died is run again.
///
/// # gearmand's faults, and what the worker does about them
///
/// Source lines are gearmand 1.1.22's (1.1.20 has the same code).
///
/// | fault | where in gearmand | what the worker does |
/// | --- | --- | --- |
/// | A lost wake-up (1.1.x): the `CAN_DO_TIMEOUT` timer re-queues a job from its own event and marks a sleeping worker's `NOOP` as sent (`is_noop_sent`) without it reaching the worker. | `libgearman-server/connection.cc:648` `_server_job_timeout` calls `gearman_server_job_queue`, `job.cc:399-410` | A connection asleep for [`WorkerBuilder::reask_interval`] (5 s) asks again. |
/// | Scheduled jobs never wake sleepers (1.1.x; 2.0.0 does). | only `gearman_server_job_queue` sends `NOOP`s (`job.cc:392`); nothing runs when a `SUBMIT_JOB_EPOCH` job comes due | The same re-ask: such a job starts within the interval after it is due. |
/// | The NOOP/NO_JOB storm (1.1.20, 1.1.22): with a far-future scheduled job in front of a runnable `LOW` job, `PRE_SLEEP` answers `NOOP` at once and `GRAB` answers `NO_JOB`, forever. | `gearmand_con.cc:312` `gearman_server_job_peek` looks at every priority; `gearmand_con.cc:360` `gearman_server_job_take` only at the first non-empty one (lines 380-388) | After two empty wake-ups in a row it waits 10 ms before the next `GRAB`, doubling up to the re-ask interval; a job resets it. |
/// | `CAN_DO_TIMEOUT` re-queues instead of failing, forever without `--job-retries`; the late result gets `ERROR JOB_NOT_FOUND`. | `connection.cc:648` `_server_job_timeout` | Time limits are enforced by the worker by default ([`TimeLimitMode`]); a server-limited job that comes back is failed at once. |
/// | `WORK_EXCEPTION` reaches clients that did not ask for exceptions as a `WORK_FAIL` with a stray NUL, which many clients cannot match. | `server.cc:1033` `_server_queue_work_data` | [`ExceptionMode::WarningThenFail`] by default. |
///
/// ```no_run
/// use gearman_sync::Worker;
/// let mut worker = Worker::new("127.0.0.1:4730")?;
/// worker.add_ability("reverse", |job| {
///     job.send_status(1, 2)?;
///     Ok(job.workload().iter().rev().copied().collect())
/// })?;
/// worker.work()?;
/// # Ok::<(), gearman_sync::Error>(())
/// ```
pub struct Worker {
    sessions: Vec<Session>,
    abilities: Vec<Ability>,
    settings: Settings,
    options: WorkerOptions,
    callbacks: Callbacks,
    stop: StopHandle,
    cursor: usize,
    wait_buffers: WaitBuffers,
    arrivals: Vec<Arrival>,
    /// Jobs assigned by a late GRAB reply while stopping (server, connection generation, job);
    /// run first by the next `work*` if that connection is still open.
    stashed: VecDeque<(usize, u64, Assignment)>,
    /// Jobs gearmand re-queued after they overran their `CAN_DO_TIMEOUT` here.
    requeued: RequeueGuard,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("servers", &self.settings.servers)
            .field("abilities", &self.abilities)
            .finish_non_exhaustive()
    }
}

macro_rules! callback_setters {
    ($( $(#[$doc:meta])* $name:ident: $($arg:ty),* ; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, callback: impl FnMut($($arg),*) + Send + 'static) -> &mut Self {
                self.callbacks.$name = Some(Box::new(callback));
                self
            }
        )*
    };
}

impl Worker {
    /// A worker for `servers` with default settings (see [`WorkerBuilder::servers`]). No
    /// connection is opened until [`work`](Worker::work), so this only fails for a bad address.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::new("127.0.0.1:4730,127.0.0.1:4731")?;
    /// assert_eq!(worker.settings().servers().len(), 2);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn new<S: ToServers + ?Sized>(servers: &S) -> Result<Worker> {
        Worker::builder().servers(servers).build()
    }

    /// A builder for non-default settings (see [`WorkerBuilder`]).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").max_jobs(1).build()?;
    /// assert_eq!(worker.settings().servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::default()
    }

    /// The settings shared with [`Client`](crate::Client) and [`Admin`](crate::Admin), as
    /// built (see [`Settings`]).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::new("gm1, gm2:4731")?;
    /// let names: Vec<String> = worker.settings().servers().iter().map(ToString::to_string).collect();
    /// assert_eq!(names, ["gm1:4730", "gm2:4731"]);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How failures with a text are reported ([`WorkerBuilder::exceptions`]).
    pub fn exceptions(&self) -> ExceptionMode {
        self.options.exceptions
    }

    /// The GRAB_JOB variant sent ([`WorkerBuilder::grab_mode`]).
    pub fn grab_mode(&self) -> GrabMode {
        self.options.grab
    }

    /// The unit of CAN_DO_TIMEOUT ([`WorkerBuilder::timeout_unit`]).
    pub fn timeout_unit(&self) -> TimeoutUnit {
        self.options.unit
    }

    /// Jobs after which `work()` returns, 0 for no limit ([`WorkerBuilder::max_jobs`]).
    pub fn max_jobs(&self) -> u64 {
        self.options.max_jobs
    }

    /// Time without a job after which `work()` returns ([`WorkerBuilder::max_idle`]).
    pub fn max_idle(&self) -> Option<Duration> {
        self.options.max_idle
    }

    /// The least time `work()` runs ([`WorkerBuilder::min_runtime`]).
    pub fn min_runtime(&self) -> Option<Duration> {
        self.options.min_runtime
    }

    /// Jobs asked for ahead of the running one ([`WorkerBuilder::prefetch`]).
    pub fn prefetch(&self) -> u32 {
        self.options.prefetch
    }

    /// The longest a sleeping connection waits for a NOOP ([`WorkerBuilder::reask_interval`]).
    pub fn reask_interval(&self) -> Duration {
        self.options.reask
    }

    /// A handle that stops [`work`](Worker::work) from another thread or a signal handler.
    /// Every call returns a clone of the same flag.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::new("127.0.0.1:4730")?;
    /// let stop = worker.stop_handle();
    /// stop.stop();
    /// assert!(worker.stop_handle().is_stopped());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Registers `name`, run by `handler` (`CAN_DO`). Replaces an ability of the same name.
    ///
    /// Sent at once on open connections and on every later (re)connect. An invalid name is
    /// refused with [`Error::InvalidArgument`]; a server whose write fails is dropped and
    /// reconnected later, not reported here.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::new("127.0.0.1:4730")?;
    /// worker
    ///     .add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?
    ///     .add_ability("echo", |job| Ok(job.workload().to_vec()))?;
    /// assert_eq!(worker.abilities().len(), 2);
    /// assert!(worker.add_ability("", |job| Ok(job.workload().to_vec())).is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn add_ability(
        &mut self,
        name: impl Into<Vec<u8>>,
        handler: impl FnMut(&mut Job<'_>) -> JobResult + Send + 'static,
    ) -> Result<&mut Self> {
        self.register(Ability::new(name, handler))
    }

    /// Registers `name` with a run-time limit that the worker enforces
    /// ([`TimeLimitMode::Worker`], the recommended mode; for gearmand's own `CAN_DO_TIMEOUT`
    /// see [`Ability::server_timeout`]).
    ///
    /// A handler that returns after the limit has its result replaced by a failure with the
    /// text `time limit of ... exceeded`, which reaches the client once, as the
    /// [`ExceptionMode`] says (by default a `WORK_WARNING` with the text, then `WORK_FAIL`).
    /// [`Job`] calls after the limit keep working but [`Job::is_expired`] turns true. A running
    /// closure cannot be interrupted: long handlers should check [`Job::time_left`]. A zero
    /// limit is refused with [`Error::InvalidArgument`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability_with_timeout("thumbnail", Duration::from_secs(30), |job| {
    ///     Ok(job.workload().to_vec())
    /// })?;
    /// assert!(worker
    ///     .add_ability_with_timeout("never", Duration::ZERO, |job| Ok(job.workload().to_vec()))
    ///     .is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn add_ability_with_timeout(
        &mut self,
        name: impl Into<Vec<u8>>,
        limit: Duration,
        handler: impl FnMut(&mut Job<'_>) -> JobResult + Send + 'static,
    ) -> Result<&mut Self> {
        self.register(Ability::new(name, handler).timeout(limit))
    }

    /// Registers a prepared [`Ability`] (with its time limit and after-complete hook); fails
    /// as [`add_ability_with_timeout`](Worker::add_ability_with_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::{Ability, Worker};
    /// let mut worker = Worker::new("127.0.0.1:4730")?;
    /// let ability = Ability::new("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))
    ///     .timeout(Duration::from_secs(10))
    ///     .after_complete(|job, _result| eprintln!("done: {}", job.handle_str()));
    /// worker.register(ability)?;
    /// assert_eq!(worker.abilities(), [b"reverse".to_vec()]);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn register(&mut self, ability: Ability) -> Result<&mut Self> {
        let wire = self.check_ability(&ability)?;
        let limit = ability.server_limit();
        let previous = self
            .abilities
            .iter()
            .position(|existing| existing.name == ability.name)
            .map(|position| self.abilities.remove(position).server_limit());
        self.abilities.push(ability);
        if previous == Some(limit) {
            return Ok(self); // same registration: only the handler changed
        }
        // gearmand keeps one entry per CAN_DO, so a changed limit replaces the old entry.
        let unregister = match previous {
            Some(_) => Some(Packet::cant_do(&wire)?),
            None => None,
        };
        for session in &mut self.sessions {
            let mut result = Ok(());
            if let (Some(packet), Some(conn)) = (&unregister, session.link.conn_mut()) {
                result = conn.send(packet);
            }
            if let Err(error) = result.and_then(|()| session.register(&wire, limit)) {
                session.fail(&error, &self.settings.backoff);
            }
        }
        Ok(self)
    }

    /// The name of `ability` as sent (with the prefix), or why it cannot be registered.
    fn check_ability(&self, ability: &Ability) -> Result<Vec<u8>> {
        let wire = self.settings.wire_function(&ability.name)?;
        if ability.timeout.is_some_and(|limit| limit.is_zero()) {
            return Err(ArgumentError::OutOfRange {
                field: "time limit",
                reason: "must be more than zero",
            }
            .into());
        }
        Ok(wire)
    }

    /// Unregisters `name` (`CANT_DO`). Returns false when it was not registered.
    ///
    /// gearmand re-queues any job of that function this worker holds, so call it between jobs.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().to_vec()))?;
    /// assert!(worker.remove_ability("reverse")?);
    /// assert!(!worker.remove_ability("reverse")?);
    /// assert!(worker.abilities().is_empty());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn remove_ability(&mut self, name: impl AsRef<[u8]>) -> Result<bool> {
        let name = name.as_ref();
        let before = self.abilities.len();
        self.abilities.retain(|ability| ability.name != name);
        if self.abilities.len() == before {
            return Ok(false);
        }
        let packet = Packet::cant_do(&self.settings.wire_function(name)?)?;
        for session in &mut self.sessions {
            if let Some(conn) = session.link.conn_mut() {
                if let Err(error) = conn.send(&packet) {
                    session.fail(&error, &self.settings.backoff);
                }
            }
        }
        Ok(true)
    }

    /// Names of the registered abilities (without the prefix), in registration order.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("a", |job| Ok(job.workload().to_vec()))?;
    /// worker.add_ability("b", |job| Ok(job.workload().to_vec()))?;
    /// assert_eq!(worker.abilities(), [b"a".to_vec(), b"b".to_vec()]);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn abilities(&self) -> Vec<Vec<u8>> {
        self.abilities
            .iter()
            .map(|ability| ability.name.clone())
            .collect()
    }

    callback_setters! {
        /// Called after each (re)connect to a server. Like every worker callback it runs on
        /// the thread in [`work`](Worker::work); a panic in it is logged and ignored.
        ///
        /// ```
        /// use gearman_sync::Worker;
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_connect(|server| eprintln!("connected to {server}"));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_connect: &ServerAddr;
        /// Called for each failed attempt to connect and register with a server, with the
        /// error (refused, timed out, a server that closed at once ...). The worker retries
        /// with backoff ([`WorkerBuilder::backoff`]), so a server that stays down calls it
        /// again at every attempt: print the first and count the rest, or use
        /// [`wait_registered`](Worker::wait_registered) at start-up.
        ///
        /// ```
        /// use gearman_sync::Worker;
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_connect_error(|server, error| eprintln!("cannot use {server}: {error}"));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_connect_error: &ServerAddr, &crate::Error;
        /// Called when a GRAB_JOB is sent.
        ///
        /// ```
        /// use gearman_sync::Worker;
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_grab_job(|server| log::trace!("asking {server} for a job"));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_grab_job: &ServerAddr;
        /// Called when a server answers a GRAB with NO_JOB. A worker that expects no more
        /// jobs sleeps right after a result without asking, so not every idle spell starts
        /// with a NO_JOB.
        ///
        /// ```
        /// use gearman_sync::Worker;
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_no_job(|server| log::debug!("{server} has nothing for us"));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_no_job: &ServerAddr;
        /// Called when a job is assigned, before its handler runs.
        ///
        /// ```
        /// use gearman_sync::Worker;
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_job_assign(|event| {
        ///     eprintln!("{} from {}", String::from_utf8_lossy(event.handle), event.server)
        /// });
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_job_assign: &JobEvent<'_>;
        /// Called after `WORK_COMPLETE` was sent.
        ///
        /// ```
        /// use std::sync::atomic::{AtomicU64, Ordering};
        /// use std::sync::Arc;
        /// use gearman_sync::Worker;
        /// let done = Arc::new(AtomicU64::new(0));
        /// let counter = Arc::clone(&done);
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_work_complete(move |_event| {
        ///     counter.fetch_add(1, Ordering::Relaxed);
        /// });
        /// assert_eq!(done.load(Ordering::Relaxed), 0);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_work_complete: &JobEvent<'_>;
        /// Called after `WORK_FAIL` was sent (also for an exception sent as a warning and a
        /// fail under [`ExceptionMode::WarningThenFail`]).
        ///
        /// ```
        /// use gearman_sync::Worker;
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_work_fail(|event| log::warn!("{} failed", String::from_utf8_lossy(event.function)));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_work_fail: &JobEvent<'_>;
        /// Called after `WORK_EXCEPTION` was sent, with its data.
        ///
        /// ```
        /// use gearman_sync::Worker;
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_work_exception(|event, data| {
        ///     log::error!("{}: {}", String::from_utf8_lossy(event.handle), String::from_utf8_lossy(data))
        /// });
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_work_exception: &JobEvent<'_>, &[u8];
    }

    /// Connects to the servers and waits, up to `timeout`, until the worker is registered on
    /// at least one of them; returns how many it is registered on. Servers still down are
    /// retried by [`work`](Worker::work) later, as usual.
    ///
    /// Fails with [`Error::NoJobServers`], listing every server
    /// with its last error, when none could be used in time, and with
    /// [`Error::InvalidArgument`] when no ability is registered.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::new("gm1,gm2")?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?;
    /// match worker.wait_registered(Duration::from_secs(10)) {
    ///     Ok(servers) => eprintln!("registered on {servers} server(s)"),
    ///     Err(error) => eprintln!("no server yet, retrying in the background: {error}"),
    /// }
    /// worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn wait_registered(&mut self, timeout: Duration) -> Result<usize> {
        self.require_abilities()?;
        let deadline = Instant::now() + timeout;
        loop {
            self.reconnect_due();
            let connected = self
                .sessions
                .iter()
                .filter(|session| session.link.is_open())
                .count();
            let now = Instant::now();
            if connected > 0 {
                return Ok(connected);
            }
            if now >= deadline || self.stop.is_stopped() {
                return Err(Error::NoJobServers(
                    self.sessions
                        .iter()
                        .map(|session| session.link.failure())
                        .collect(),
                ));
            }
            let retry = self
                .sessions
                .iter()
                .filter_map(|session| session.link.retry_at())
                .min();
            let wake = retry
                .unwrap_or(deadline)
                .min(deadline)
                .min(now + IDLE_SLICE);
            std::thread::sleep(wake.saturating_duration_since(now));
        }
    }

    /// Runs jobs until stopped, the job limit is reached, or the idle limit passes.
    ///
    /// Blocks the calling thread: while idle it waits in one `poll(2)` over all servers,
    /// waking at least every 200 ms to notice a [`StopHandle`]. Lost servers are reconnected
    /// with backoff, so connection problems are not returned; the only error is
    /// [`Error::InvalidArgument`] when no ability is registered. Before returning it makes
    /// sure every server received the results sent (an ECHO round trip, 1 s in all at most).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .max_idle(Duration::from_secs(60))
    ///     .build()?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?;
    /// let summary = worker.work()?;
    /// println!("{} jobs in {:?}, stopped by {:?}", summary.jobs, summary.elapsed, summary.reason);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn work(&mut self) -> Result<WorkSummary> {
        let started = Instant::now();
        let mut pace = LocalPace::new(&self.options, started);
        let reason = self.work_paced(&mut pace)?;
        if reason != StopReason::Stopped {
            if let Some(minimum) = self.options.min_runtime {
                wait_out(started, minimum, &self.stop);
            }
        }
        self.sync_all();
        Ok(WorkSummary {
            jobs: pace.jobs,
            reason,
            elapsed: started.elapsed(),
        })
    }

    /// Handles at most one job, waiting up to `timeout` for one. Returns true when a job ran.
    ///
    /// A GRAB that is already out when the time is up is still answered (within one more
    /// second), and a job it brings is run, so no job is left assigned to an idle worker.
    /// Fails with [`Error::InvalidArgument`] when no ability is registered.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?;
    /// while worker.work_one(Duration::from_secs(5))? {
    ///     println!("ran a job; looking for the next");
    /// }
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn work_one(&mut self, timeout: Duration) -> Result<bool> {
        self.next_job_with(timeout, Budget::ONE)
    }

    /// Refuses to work without an ability.
    fn require_abilities(&self) -> Result<()> {
        if self.abilities.is_empty() {
            return Err(ArgumentError::Empty {
                field: "abilities (register one before working)",
            }
            .into());
        }
        Ok(())
    }

    fn registration(&self) -> Registration {
        Registration {
            client_id: self.settings.client_id.clone(),
            abilities: self
                .abilities
                .iter()
                .filter_map(|ability| {
                    Some((
                        self.settings.wire_function(&ability.name).ok()?,
                        ability.server_limit(),
                    ))
                })
                .collect(),
            unit: self.options.unit,
        }
    }
}
