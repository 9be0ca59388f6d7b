//! The worker side: [`Worker`] registers [`Ability`]s and runs the [`Job`]s servers assign.

mod ability;
mod job;
mod lifecycle;
mod session;

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

pub use ability::{Ability, JobError, JobResult};
pub use job::Job;
pub use lifecycle::{JobEvent, StopHandle, StopReason, WorkSummary};
pub use session::TimeoutUnit;

use crate::error::{AddressError, ArgumentError, Error, Result};
use crate::net::{
    resolve_server_list, wait_readable, Backoff, ConnectOptions, ServerAddr, ToServers,
};
use crate::protocol::{validate, Packet, PacketType};
use job::Terminal;
use lifecycle::{guarded, panic_message, Callbacks};
use session::{Assignment, Phase, Registration, Session, Step};

/// Fuzz entry point: see [`crate::__fuzz::worker_session`].
pub(crate) fn fuzz_session(data: &[u8]) {
    session::drive(data);
}

/// Longest single blocking wait while idle, so a [`StopHandle`] is noticed promptly.
const IDLE_SLICE: Duration = Duration::from_millis(200);
/// How long past its deadline (or a stop) the worker waits for the reply to a GRAB already
/// sent, and for the servers to confirm the last results before `work()` returns.
const REPLY_GRACE: Duration = Duration::from_secs(1);
/// A GRAB unanswered this long (or the I/O timeout, if shorter) means the server is gone.
const GRAB_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which GRAB_JOB variant the worker sends (set with [`WorkerBuilder::grab_mode`]).
///
/// ```
/// use gearman_sync::{Worker, worker::GrabMode};
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

/// How a handler's exception (an `Err(JobError::Exception)` or a panic) is reported.
///
/// gearmand forwards `WORK_EXCEPTION` only to clients that asked for exceptions; every other
/// client gets a `WORK_FAIL` carrying a stray NUL after the handle, which libgearman 1.1.20
/// (PECL gearman, GearmanBundle, the `gearman` CLI) cannot match: such a client waits forever.
/// Choose [`ExceptionMode::WarningThenFail`] when libgearman clients without the exceptions
/// option call this worker.
///
/// ```
/// use gearman_sync::{Worker, worker::ExceptionMode};
/// let worker = Worker::builder()
///     .servers("127.0.0.1:4730")
///     .exception_mode(ExceptionMode::WarningThenFail)
///     .build()?;
/// # drop(worker);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExceptionMode {
    /// Send `WORK_EXCEPTION` with the data (the default; this crate's `Client` asks for
    /// exceptions, so it receives them as [`Error::JobException`]).
    #[default]
    Exception,
    /// Send the data as `WORK_WARNING`, then a plain `WORK_FAIL`, which every client handles.
    WarningThenFail,
}

#[derive(Debug, Clone)]
struct Settings {
    exceptions: ExceptionMode,
    connect: ConnectOptions,
    backoff: Backoff,
    client_id: Option<String>,
    prefix: Vec<u8>,
    grab: GrabMode,
    unit: TimeoutUnit,
    max_jobs: u64,
    max_idle: Option<Duration>,
    min_runtime: Option<Duration>,
}

/// Builds a [`Worker`] with non-default settings.
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
/// assert_eq!(worker.servers().len(), 2);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WorkerBuilder {
    servers: std::result::Result<Vec<ServerAddr>, AddressError>,
    settings: Settings,
}

impl Default for WorkerBuilder {
    fn default() -> Self {
        WorkerBuilder {
            servers: Ok(Vec::new()),
            settings: Settings {
                exceptions: ExceptionMode::Exception,
                connect: ConnectOptions::default(),
                backoff: Backoff {
                    initial: Duration::from_millis(100),
                    max: Duration::from_secs(1),
                    jitter: 0.2,
                },
                client_id: None,
                prefix: Vec::new(),
                grab: GrabMode::Unique,
                unit: TimeoutUnit::Auto,
                max_jobs: 0,
                max_idle: None,
                min_runtime: None,
            },
        }
    }
}

impl WorkerBuilder {
    /// The servers to take jobs from (all at once). Without any: `GEARMAN_SERVERS`, then
    /// `127.0.0.1:4730`. A bad address is reported by [`build`](WorkerBuilder::build).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers(&["gm1", "gm2:4731"]).build()?;
    /// assert_eq!(worker.servers()[1].port(), 4731);
    /// assert!(Worker::builder().servers("gm1:0").build().is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn servers<S: ToServers + ?Sized>(mut self, servers: &S) -> Self {
        self.servers = servers.to_servers();
        self
    }

    /// Label sent with `SET_CLIENT_ID` on every (re)connect (1 to 127 printable ASCII bytes,
    /// no spaces; checked by [`build`](WorkerBuilder::build)).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").client_id("resize-1").build()?;
    /// # drop(worker);
    /// assert!(Worker::builder().servers("127.0.0.1:4730").client_id("resize 1").build().is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.settings.client_id = Some(id.into());
        self
    }

    /// Prefix put before every ability name (GearmanBundle's `job_prefix`): the worker
    /// registers `prefix + name` and [`Job::function`] reports the name without it.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::builder().servers("127.0.0.1:4730").prefix("staging.").build()?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().to_vec()))?;
    /// assert_eq!(worker.abilities(), [b"reverse".to_vec()]); // sent as "staging.reverse"
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// GRAB_JOB variant (default `GRAB_JOB_UNIQ`).
    ///
    /// ```
    /// use gearman_sync::{Worker, worker::GrabMode};
    /// let worker = Worker::builder().servers("127.0.0.1:4730").grab_mode(GrabMode::Plain).build()?;
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn grab_mode(mut self, mode: GrabMode) -> Self {
        self.settings.grab = mode;
        self
    }

    /// Unit of CAN_DO_TIMEOUT (default: ask the server's version).
    ///
    /// ```
    /// use gearman_sync::{Worker, worker::TimeoutUnit};
    /// let worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .timeout_unit(TimeoutUnit::Milliseconds)
    ///     .build()?;
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn timeout_unit(mut self, unit: TimeoutUnit) -> Self {
        self.settings.unit = unit;
        self
    }

    /// Reconnect backoff for lost servers (default 100 ms doubling to 1 s, 20 % jitter).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::{Worker, net::Backoff};
    /// let backoff = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60), jitter: 0.5 };
    /// let worker = Worker::builder().servers("127.0.0.1:4730").backoff(backoff).build()?;
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// How exceptions and panics are reported (default `WORK_EXCEPTION`); see
    /// [`ExceptionMode`].
    ///
    /// ```
    /// use gearman_sync::{Worker, worker::ExceptionMode};
    /// let worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .exception_mode(ExceptionMode::WarningThenFail)
    ///     .build()?;
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn exception_mode(mut self, mode: ExceptionMode) -> Self {
        self.settings.exceptions = mode;
        self
    }

    /// Socket settings: connect and I/O timeouts, keepalive, largest packet accepted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::{Worker, net::ConnectOptions};
    /// let options = ConnectOptions { connect_timeout: Duration::from_secs(1), ..ConnectOptions::default() };
    /// let worker = Worker::builder().servers("127.0.0.1:4730").connect_options(options).build()?;
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn connect_options(mut self, options: ConnectOptions) -> Self {
        self.settings.connect = options;
        self
    }

    /// `work()` returns after this many jobs (0 = unlimited, the default).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").max_jobs(500).build()?;
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_jobs(mut self, jobs: u64) -> Self {
        self.settings.max_jobs = jobs;
        self
    }

    /// `work()` returns after this long without a job (default: never).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").max_idle(Duration::from_secs(60)).build()?;
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_idle(mut self, idle: Duration) -> Self {
        self.settings.max_idle = Some(idle);
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
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn min_runtime(mut self, runtime: Duration) -> Self {
        self.settings.min_runtime = Some(runtime);
        self
    }

    /// Checks the settings and builds the worker (no connection is opened yet).
    ///
    /// Fails with [`Error::Address`] for a bad server address and [`Error::InvalidArgument`]
    /// for a bad client ID or prefix.
    ///
    /// ```
    /// use gearman_sync::{Error, Worker};
    /// let worker = Worker::builder().servers("127.0.0.1:4730").build()?;
    /// assert!(worker.abilities().is_empty());
    /// assert!(matches!(Worker::builder().servers("[::1").build(), Err(Error::Address(_))));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn build(self) -> Result<Worker> {
        let mut servers = self.servers?;
        if servers.is_empty() {
            servers = resolve_server_list("")?;
        }
        if let Some(id) = &self.settings.client_id {
            validate::client_id(id.as_bytes())?;
        }
        validate::delimited("function prefix", &self.settings.prefix)?;
        Ok(Worker {
            sessions: servers.into_iter().map(Session::new).collect(),
            abilities: Vec::new(),
            settings: self.settings,
            callbacks: Callbacks::default(),
            stop: StopHandle::default(),
            cursor: 0,
            ready: Vec::new(),
            stashed: VecDeque::new(),
        })
    }
}

/// A Gearman worker: registers abilities with every server, asks for jobs, runs them and
/// reports the result (PECL's `GearmanWorker`, gearman-ruby's `Worker`).
///
/// The loop sends `GRAB_JOB_UNIQ`, answers `NO_JOB` with `PRE_SLEEP`, and then blocks in one
/// `poll(2)` over all servers until a `NOOP` arrives, so an idle worker uses no CPU and a job on
/// any server starts at once. Lost servers are retried with backoff; on reconnect the client
/// ID and every ability are registered again. Delivery is at-least-once: a job that was
/// running when its server or connection died is run again.
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
    callbacks: Callbacks,
    stop: StopHandle,
    cursor: usize,
    ready: Vec<bool>,
    /// Jobs assigned by a late GRAB reply while stopping; run first by the next `work*`.
    stashed: VecDeque<(usize, Assignment)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("servers", &self.servers())
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
    /// assert_eq!(worker.servers().len(), 2);
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
    /// assert_eq!(worker.servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::default()
    }

    /// The configured servers, in order.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::new("gm1, gm2:4731")?;
    /// let names: Vec<String> = worker.servers().iter().map(ToString::to_string).collect();
    /// assert_eq!(names, ["gm1:4730", "gm2:4731"]);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn servers(&self) -> Vec<ServerAddr> {
        self.sessions
            .iter()
            .map(|session| session.addr.clone())
            .collect()
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

    /// Registers `name` with a run-time limit (`CAN_DO_TIMEOUT`, in milliseconds for gearmand
    /// 1.1.19 and later, seconds before; see [`TimeoutUnit`]).
    ///
    /// gearmand 1.1.20's own timer is unreliable (it can re-queue the wrong job), so the worker
    /// enforces the limit too: a handler that returns after the limit has its result replaced
    /// by `WORK_FAIL`, and [`Job`] calls after the limit keep working but
    /// [`Job::is_expired`] turns true. A running closure cannot be interrupted: long handlers
    /// should check [`Job::time_left`]. A zero limit is refused with [`Error::InvalidArgument`].
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
        let wire = self.wire_name(&ability.name)?;
        if ability.timeout.is_some_and(|limit| limit.is_zero()) {
            return Err(ArgumentError::OutOfRange {
                field: "time limit",
                reason: "must be more than zero",
            }
            .into());
        }
        let limit = ability.timeout;
        let previous = self
            .abilities
            .iter()
            .position(|existing| existing.name == ability.name)
            .map(|position| self.abilities.remove(position).timeout);
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
            if let (Some(packet), Some(conn)) = (&unregister, session.conn.as_mut()) {
                result = conn.send(packet);
            }
            if let Err(error) = result.and_then(|()| session.register(&wire, limit)) {
                session.fail(&error, &self.settings.backoff);
            }
        }
        Ok(self)
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
        let packet = Packet::cant_do(&self.wire_name(name)?)?;
        for session in &mut self.sessions {
            if let Some(conn) = session.conn.as_mut() {
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
        /// Called when a GRAB_JOB is sent.
        ///
        /// ```
        /// use gearman_sync::Worker;
        /// let mut worker = Worker::new("127.0.0.1:4730")?;
        /// worker.on_grab_job(|server| log::trace!("asking {server} for a job"));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_grab_job: &ServerAddr;
        /// Called when a server has no job (before the worker sleeps).
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
        let mut last_job = started;
        let mut jobs = 0u64;
        let reason = loop {
            if self.stop.is_stopped() {
                break StopReason::Stopped;
            }
            if self.settings.max_jobs > 0 && jobs >= self.settings.max_jobs {
                break StopReason::MaxJobs;
            }
            let mut slice = IDLE_SLICE;
            if let Some(idle) = self.settings.max_idle {
                let left = idle.saturating_sub(last_job.elapsed());
                if left.is_zero() {
                    break StopReason::Idle;
                }
                slice = slice.min(left);
            }
            let pipeline = self.settings.max_jobs == 0 || jobs + 1 < self.settings.max_jobs;
            if self.next_job(slice, pipeline)? {
                jobs += 1;
                last_job = Instant::now();
            }
        };
        // A GRAB pipelined before the stop may still bring a job: it is ours, so run it.
        while self.awaiting_reply() && self.next_job_with(Duration::ZERO, false, false)? {
            jobs += 1;
        }
        if reason != StopReason::Stopped {
            if let Some(minimum) = self.settings.min_runtime {
                while started.elapsed() < minimum && !self.stop.is_stopped() {
                    std::thread::sleep((minimum - started.elapsed()).min(IDLE_SLICE));
                }
            }
        }
        self.sync_all();
        Ok(WorkSummary {
            jobs,
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
        self.next_job(timeout, false)
    }

    /// The worker loop. With `pipeline`, the GRAB for the next job leaves in the same write as
    /// this job's result when no other server is due.
    fn next_job(&mut self, timeout: Duration, pipeline: bool) -> Result<bool> {
        self.next_job_with(timeout, pipeline, true)
    }

    /// [`next_job`](Worker::next_job); without `allow_grab` no new GRAB is sent (only the
    /// replies to GRABs already out are awaited, and a job they bring is run).
    fn next_job_with(
        &mut self,
        timeout: Duration,
        pipeline: bool,
        allow_grab: bool,
    ) -> Result<bool> {
        if self.abilities.is_empty() {
            return Err(ArgumentError::Empty {
                field: "abilities (register one before working)",
            }
            .into());
        }
        let deadline = Instant::now() + timeout;
        let grace = deadline + REPLY_GRACE;
        loop {
            let grabbing = allow_grab && !self.stop.is_stopped();
            if grabbing {
                self.reconnect_due();
                self.send_next_grab();
            }
            if let Some((index, assignment)) = self.next_assignment() {
                self.run(index, assignment, pipeline);
                return Ok(true);
            }
            if grabbing && self.can_grab() {
                continue;
            }
            self.expire_unanswered_grabs();
            let now = Instant::now();
            let awaiting = self.awaiting_reply();
            if (!grabbing || now >= deadline) && (!awaiting || now >= grace) {
                return Ok(false);
            }
            let until = if now >= deadline || !grabbing {
                grace
            } else {
                deadline
            };
            let mut wake = until.min(now + IDLE_SLICE);
            if let Some(retry) = self.sessions.iter().filter_map(Session::retry_at).min() {
                wake = wake.min(retry.max(now));
            }
            self.wait_and_read(wake - now);
        }
    }

    /// A server that leaves a GRAB unanswered for [`GRAB_REPLY_TIMEOUT`] is treated as dead:
    /// one GRAB is out at a time, so it would otherwise keep every other server waiting.
    fn expire_unanswered_grabs(&mut self) {
        let limit = self.settings.connect.io_timeout.min(GRAB_REPLY_TIMEOUT);
        for session in &mut self.sessions {
            if session.conn.is_some() && session.grab_overdue(limit) {
                let error = Error::Timeout {
                    during: "waiting for the reply to GRAB_JOB",
                    after: limit,
                };
                session.fail(&error, &self.settings.backoff);
            }
        }
    }

    /// True while a GRAB is out without its reply.
    fn awaiting_reply(&self) -> bool {
        self.sessions
            .iter()
            .any(|session| session.conn.is_some() && session.phase == Phase::AwaitingReply)
    }

    fn wire_name(&self, name: &[u8]) -> Result<Vec<u8>, ArgumentError> {
        validate::function(name)?;
        let mut wire = self.settings.prefix.clone();
        wire.extend_from_slice(name);
        validate::function(&wire)?;
        Ok(wire)
    }

    fn registration(&self) -> Registration {
        Registration {
            client_id: self.settings.client_id.clone(),
            abilities: self
                .abilities
                .iter()
                .filter_map(|ability| Some((self.wire_name(&ability.name).ok()?, ability.timeout)))
                .collect(),
            unit: self.settings.unit,
        }
    }

    fn reconnect_due(&mut self) {
        let now = Instant::now();
        if !self
            .sessions
            .iter()
            .any(|session| session.reconnect_due(now))
        {
            return;
        }
        let registration = self.registration();
        let mut connected = Vec::new();
        let mut failed = Vec::new();
        for (index, session) in self.sessions.iter().enumerate() {
            if session.reconnect_due(now) {
                connected.push(index);
            }
        }
        for &index in &connected {
            if let Err(error) = self.sessions[index].connect(&self.settings.connect, &registration)
            {
                failed.push((index, error));
            }
        }
        drop(registration);
        for (index, error) in failed {
            connected.retain(|&other| other != index);
            self.sessions[index].fail(&error, &self.settings.backoff);
        }
        for index in connected {
            let addr = &self.sessions[index].addr;
            if let Some(callback) = self.callbacks.on_connect.as_mut() {
                guarded("on_connect", || callback(addr));
            }
        }
    }

    /// True when a server is ready for a GRAB and none is awaiting a reply.
    fn can_grab(&self) -> bool {
        let awaiting = self
            .sessions
            .iter()
            .any(|s| s.conn.is_some() && s.phase == Phase::AwaitingReply);
        !awaiting
            && self
                .sessions
                .iter()
                .any(|s| s.conn.is_some() && s.phase == Phase::NeedGrab)
    }

    /// The next server in turn that is ready for a GRAB.
    fn next_grab_target(&self) -> Option<usize> {
        let count = self.sessions.len();
        (0..count)
            .map(|offset| (self.cursor + offset) % count)
            .find(|&index| {
                let session = &self.sessions[index];
                session.conn.is_some() && session.phase == Phase::NeedGrab
            })
    }

    /// Sends one GRAB to the next ready server, keeping at most one GRAB outstanding so the
    /// worker never holds a job it is not running.
    fn send_next_grab(&mut self) {
        if !self.can_grab() {
            return;
        }
        let Some(index) = self.next_grab_target() else {
            return;
        };
        let kind = self.settings.grab.packet_type();
        let session = &mut self.sessions[index];
        let Some(conn) = session.conn.as_mut() else {
            return;
        };
        let sent = conn.queue_request(kind, &[]).and_then(|()| conn.flush());
        match sent {
            Ok(()) => {
                session.grab_sent();
                if let Some(callback) = self.callbacks.on_grab_job.as_mut() {
                    let addr = &session.addr;
                    guarded("on_grab_job", || callback(addr));
                }
            }
            Err(error) => session.fail(&error, &self.settings.backoff),
        }
    }

    /// Handles every buffered packet until a job is assigned.
    fn next_assignment(&mut self) -> Option<(usize, Assignment)> {
        while let Some((index, assignment)) = self.stashed.pop_front() {
            if self
                .sessions
                .get(index)
                .is_some_and(|session| session.conn.is_some())
            {
                return Some((index, assignment));
            }
            // Its connection died meanwhile: gearmand has re-queued the job.
        }
        let count = self.sessions.len();
        for offset in 0..count {
            let index = (self.cursor + offset) % count;
            loop {
                let session = &mut self.sessions[index];
                let next = match session.conn.as_mut() {
                    Some(conn) if conn.buffered() > 0 => conn.next_buffered(),
                    _ => break,
                };
                let packet = match next {
                    Ok(Some(packet)) => {
                        session.mark_healthy();
                        packet
                    }
                    Ok(None) => break,
                    Err(error) => {
                        session.fail(&error, &self.settings.backoff);
                        break;
                    }
                };
                let (next_phase, step) = session::step(session.phase, packet.kind());
                match step {
                    Step::Wake => session.phase = next_phase,
                    Step::Ignore => log::debug!("{}: ignoring {}", session.addr, packet.kind()),
                    Step::PreSleep => {
                        let slept = session.conn.as_mut().map(|conn| {
                            conn.queue_request(PacketType::PreSleep, &[])
                                .and_then(|()| conn.flush())
                        });
                        match slept {
                            Some(Ok(())) => session.phase = next_phase,
                            Some(Err(error)) => {
                                session.fail(&error, &self.settings.backoff);
                                break;
                            }
                            None => break,
                        }
                        if let Some(callback) = self.callbacks.on_no_job.as_mut() {
                            let addr = &session.addr;
                            guarded("on_no_job", || callback(addr));
                        }
                    }
                    Step::Run => {
                        if session.phase != Phase::AwaitingReply {
                            log::warn!("{}: job assigned without a GRAB outstanding", session.addr);
                        }
                        session.phase = next_phase;
                        return Some((index, Assignment::from_packet(packet)));
                    }
                    Step::ServerError => {
                        let code = String::from_utf8_lossy(packet.arg(0)).into_owned();
                        let text = String::from_utf8_lossy(packet.arg(1)).into_owned();
                        log::warn!("{}: server error {code}: {text}", session.addr);
                        // JOB_NOT_FOUND answers a late result; any other error while a GRAB
                        // is out may be its answer, and the connection would wait forever.
                        if session.phase == Phase::AwaitingReply && code != "JOB_NOT_FOUND" {
                            let error = Error::Server {
                                server: session.addr.to_string(),
                                code,
                                text,
                            };
                            session.fail(&error, &self.settings.backoff);
                            break;
                        }
                    }
                }
            }
        }
        None
    }

    /// Blocks in one poll over all connections for up to `timeout`, then reads what arrived.
    fn wait_and_read(&mut self, timeout: Duration) {
        // The reply to a GRAB just sent is often there already: read it without sleeping.
        let mut progress = false;
        for session in &mut self.sessions {
            if session.phase != Phase::AwaitingReply {
                continue;
            }
            let Some(conn) = session.conn.as_mut() else {
                continue;
            };
            match conn.read_available() {
                Ok(0) => {}
                Ok(_) => progress = true,
                Err(error) => {
                    progress = true;
                    session.fail(&error, &self.settings.backoff);
                }
            }
        }
        if progress {
            return;
        }
        let mut indices = Vec::with_capacity(self.sessions.len());
        let polled = {
            let mut streams = Vec::with_capacity(self.sessions.len());
            for (index, session) in self.sessions.iter().enumerate() {
                if let Some(conn) = &session.conn {
                    indices.push(index);
                    streams.push(conn.stream());
                }
            }
            wait_readable(&streams, Some(timeout), &mut self.ready)
        };
        if let Err(error) = polled {
            log::error!("poll failed: {error}");
            std::thread::sleep(timeout.min(IDLE_SLICE));
            return;
        }
        for (position, index) in indices.into_iter().enumerate() {
            if !self.ready[position] {
                continue;
            }
            let session = &mut self.sessions[index];
            if let Some(conn) = session.conn.as_mut() {
                if let Err(error) = conn.read_some() {
                    session.fail(&error, &self.settings.backoff);
                }
            }
        }
    }

    /// Runs one assigned job and sends exactly one terminal packet for it.
    fn run(&mut self, index: usize, assignment: Assignment, pipeline: bool) {
        self.cursor = (index + 1) % self.sessions.len().max(1);
        let prefix_len = self.settings.prefix.len();
        let Some(position) = self.abilities.iter().position(|ability| {
            assignment.function.len() == prefix_len + ability.name.len()
                && assignment.function.starts_with(&self.settings.prefix)
                && assignment.function[prefix_len..] == ability.name[..]
        }) else {
            log::warn!(
                "{}: job for unregistered function {}; failing it",
                self.sessions[index].addr,
                String::from_utf8_lossy(&assignment.function)
            );
            self.send_unowned_fail(index, &assignment.handle);
            return;
        };
        let Worker {
            sessions,
            abilities,
            callbacks,
            settings,
            stop,
            ..
        } = self;
        let ability = &mut abilities[position];
        let session = &mut sessions[index];
        let Some(conn) = session.conn.as_mut() else {
            return;
        };
        let addr = conn.server().clone();
        let event_function = ability.name.clone();
        let started = Instant::now();
        let mut job = Job {
            conn,
            handle: assignment.handle,
            function: ability.name.clone(),
            unique: assignment.unique,
            reducer: assignment.reducer,
            workload: assignment.workload,
            deadline: ability.timeout.map(|limit| started + limit),
            terminal: None,
            terminal_data: Vec::new(),
            connection_lost: false,
            exception_mode: settings.exceptions,
        };
        let handle = job.handle.clone();
        let event = JobEvent {
            server: &addr,
            function: &event_function,
            handle: &handle,
        };
        if let Some(callback) = callbacks.on_job_assign.as_mut() {
            guarded("on_job_assign", || callback(&event));
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| (ability.handler)(&mut job)));
        let (terminal, data) = match outcome {
            _ if job.terminal.is_some() => (None, Vec::new()),
            Ok(Ok(result)) if job.is_expired() => {
                log::warn!(
                    "job {} ({}) exceeded its time limit; sending WORK_FAIL",
                    job.handle_str(),
                    String::from_utf8_lossy(&event_function)
                );
                drop(result);
                (Some(Terminal::Fail), Vec::new())
            }
            Ok(Ok(result)) => (Some(Terminal::Complete), result),
            Ok(Err(JobError::Fail)) => (Some(Terminal::Fail), Vec::new()),
            Ok(Err(JobError::Exception(data))) => (Some(Terminal::Exception), data),
            Err(panic) => {
                let message = panic_message(&*panic);
                log::error!("handler for job {} panicked: {message}", job.handle_str());
                (
                    Some(Terminal::Exception),
                    format!("panic: {message}").into_bytes(),
                )
            }
        };
        let warn_then_fail = settings.exceptions == ExceptionMode::WarningThenFail;
        let terminal = match terminal {
            Some(Terminal::Exception) if warn_then_fail => {
                // A failed warning means the connection is gone; `finish` reports that.
                let _ = job.send_warning(&data);
                Some(Terminal::Fail)
            }
            other => other,
        };
        let mut sent = true;
        let mut terminal = terminal;
        if let Some(kind) = terminal {
            match job.finish(kind, &data, false) {
                Ok(()) => {}
                Err(Error::InvalidArgument(refused)) => {
                    // A result that cannot be encoded (over 4 GiB) still ends the job.
                    log::error!(
                        "job {}: result refused ({refused}); sending WORK_FAIL",
                        job.handle_str()
                    );
                    terminal = Some(Terminal::Fail);
                    sent = job.finish(Terminal::Fail, &[], false).is_ok();
                }
                Err(_) => sent = false,
            }
        }
        let (final_terminal, final_data) = match terminal {
            Some(terminal) => (Some(terminal), data),
            None => (job.terminal, std::mem::take(&mut job.terminal_data)),
        };
        let lost = job.connection_lost;
        if final_terminal == Some(Terminal::Complete) && sent && !lost {
            if let Some(hook) = ability.after_complete.as_mut() {
                guarded("after_complete", || hook(&job, &final_data));
            }
        }
        drop(job);
        // Ask for the next job in the same write as the result when no other server is due.
        let others_due = (0..sessions.len()).any(|other| {
            other != index
                && sessions[other].conn.is_some()
                && sessions[other].phase == Phase::NeedGrab
        });
        let session = &mut sessions[index];
        let mut flushed = Ok(());
        let mut grabbed = false;
        if let Some(conn) = session.conn.as_mut() {
            grabbed = pipeline
                && !stop.is_stopped()
                && !others_due
                && !lost
                && conn.queue_request(settings.grab.packet_type(), &[]).is_ok();
            flushed = conn.flush();
        }
        if grabbed && flushed.is_ok() {
            session.grab_sent();
            if let Some(callback) = callbacks.on_grab_job.as_mut() {
                guarded("on_grab_job", || callback(&addr));
            }
        }
        if lost || flushed.is_err() {
            let error = flushed.err().unwrap_or(Error::JobConnectionLost {
                handle: String::from_utf8_lossy(&handle).into_owned(),
            });
            session.fail(&error, &settings.backoff);
            return;
        }
        match final_terminal {
            Some(Terminal::Complete) => {
                if let Some(callback) = callbacks.on_work_complete.as_mut() {
                    guarded("on_work_complete", || callback(&event));
                }
            }
            Some(Terminal::Fail) => {
                if let Some(callback) = callbacks.on_work_fail.as_mut() {
                    guarded("on_work_fail", || callback(&event));
                }
            }
            Some(Terminal::Exception) => {
                if let Some(callback) = callbacks.on_work_exception.as_mut() {
                    guarded("on_work_exception", || callback(&event, &final_data));
                }
            }
            None => {}
        }
    }

    fn send_unowned_fail(&mut self, index: usize, handle: &[u8]) {
        let session = &mut self.sessions[index];
        if let Some(conn) = session.conn.as_mut() {
            let sent = conn
                .queue_request(PacketType::WorkFail, &[handle])
                .and_then(|()| conn.flush());
            if let Err(error) = sent {
                session.fail(&error, &self.settings.backoff);
            }
        }
    }

    /// Makes sure every server has processed what was sent (an ECHO round trip each), so a
    /// result written just before the worker stops is never lost to a connection reset.
    fn sync_all(&mut self) {
        let started = Instant::now();
        let deadline = started + REPLY_GRACE;
        for (index, session) in self.sessions.iter_mut().enumerate() {
            let Some(conn) = session.conn.as_mut() else {
                continue;
            };
            let stashed = &mut self.stashed;
            let synced = conn
                .queue_request(PacketType::EchoReq, &[b"gearman-sync sync"])
                .and_then(|()| conn.flush())
                .and_then(|()| loop {
                    let packet = conn.recv(deadline, "syncing with the server", started)?;
                    if packet.kind() == PacketType::EchoRes {
                        break Ok(());
                    }
                    // Late replies still count: a NO_JOB ends the GRAB (no PRE_SLEEP: the next
                    // work() asks again), a job is kept to run first next time.
                    let (next, step) = session::step(session.phase, packet.kind());
                    match step {
                        Step::Wake | Step::PreSleep => session.phase = Phase::NeedGrab,
                        Step::Run => {
                            session.phase = next;
                            stashed.push_back((index, Assignment::from_packet(packet)));
                        }
                        Step::Ignore | Step::ServerError => {}
                    }
                });
            if let Err(error) = synced {
                log::debug!("{}: sync before stopping failed: {error}", session.addr);
                session.fail(&error, &self.settings.backoff);
            }
        }
    }
}
