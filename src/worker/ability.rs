//! Abilities: the functions a worker can run, with their handlers.

use std::fmt;
use std::time::Duration;

use super::job::Job;

/// How a handler says a job did not succeed.
///
/// ```
/// use gearman_sync::JobError;
/// let failed = JobError::Fail;
/// let raised = JobError::exception("disk full");
/// assert_eq!(raised, JobError::Exception(b"disk full".to_vec()));
/// assert_ne!(failed, raised);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Sends `WORK_FAIL`.
    Fail,
    /// Sends `WORK_EXCEPTION` with this data (clients without exceptions see `WORK_FAIL`).
    Exception(Vec<u8>),
}

impl JobError {
    /// A `WORK_EXCEPTION` with `data`.
    ///
    /// ```
    /// use gearman_sync::JobError;
    /// assert_eq!(JobError::exception("bad input"), JobError::Exception(b"bad input".to_vec()));
    /// ```
    pub fn exception(data: impl Into<Vec<u8>>) -> JobError {
        JobError::Exception(data.into())
    }
}

impl<E: std::error::Error> From<E> for JobError {
    /// Any error becomes a `WORK_EXCEPTION` carrying its message, so `?` works in handlers.
    fn from(error: E) -> JobError {
        JobError::Exception(error.to_string().into_bytes())
    }
}

/// The result a handler returns: the `WORK_COMPLETE` data, or a [`JobError`]. Any
/// `std::error::Error` converts into a [`JobError::Exception`], so `?` works in handlers.
///
/// ```
/// use gearman_sync::{Job, JobResult};
/// fn parse_number(job: &mut Job<'_>) -> JobResult {
///     let text = std::str::from_utf8(job.workload())?;
///     let number: u64 = text.trim().parse()?;
///     Ok((number * 2).to_string().into_bytes())
/// }
/// let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
/// worker.add_ability("double", parse_number)?;
/// # Ok::<(), gearman_sync::Error>(())
/// ```
pub type JobResult = Result<Vec<u8>, JobError>;

/// Who enforces an ability's time limit (see [`Ability::timeout`] and
/// [`Ability::server_timeout`]).
///
/// Pick [`TimeLimitMode::Worker`] (what [`Ability::timeout`] and
/// [`Worker::add_ability_with_timeout`](crate::Worker::add_ability_with_timeout) give): the
/// client hears of an overrun exactly once, when the handler returns. Pick
/// [`TimeLimitMode::Server`] only when another worker should get the job while a stuck handler
/// still runs, and only with gearmand started with `--job-retries N`: without it gearmand
/// re-queues an overrunning job forever and a foreground client never hears of it.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::{Ability, TimeLimitMode};
/// let ability = Ability::new("resize", |job| Ok(job.workload().to_vec()))
///     .timeout(Duration::from_secs(30));
/// assert_eq!(ability.time_limit_mode(), Some(TimeLimitMode::Worker));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimitMode {
    /// Only the worker enforces the limit: it registers a plain `CAN_DO`, and a handler that
    /// returns after its limit has its result replaced by a failure with the text `time limit
    /// of ... exceeded`, reported as the worker's [`ExceptionMode`](crate::ExceptionMode)
    /// says (by default `WORK_WARNING` with the text, then `WORK_FAIL`). The job runs once.
    Worker,
    /// gearmand enforces it too (`CAN_DO_TIMEOUT`): at the limit it takes the job back and
    /// queues it again for any worker, counting a retry; this worker's late result is answered
    /// with `ERROR JOB_NOT_FOUND` and dropped. Only `gearmand --job-retries N` ever ends such a
    /// job (the client then gets `WORK_FAIL`). If the re-queued job comes back to this worker,
    /// it fails it at once instead of running it again, so one worker never loops on it.
    /// gearmand 1.1.20's timer is also unreliable: a second job taken right after a first may
    /// never be timed (PROTOCOL.md 3.7).
    Server,
}

pub(crate) type Handler = Box<dyn FnMut(&mut Job<'_>) -> JobResult + Send>;
pub(crate) type AfterComplete = Box<dyn FnMut(&Job<'_>, &[u8]) + Send>;

/// A function the worker can run: its name, its handler, an optional time limit and
/// gearman-ruby's after-complete hook.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::Ability;
/// let ability = Ability::new("reverse", |job| {
///     Ok(job.workload().iter().rev().copied().collect())
/// })
/// .timeout(Duration::from_secs(30))
/// .after_complete(|job, result| log::info!("{} done: {} bytes", job.handle_str(), result.len()));
/// assert_eq!(ability.name(), b"reverse");
/// ```
pub struct Ability {
    pub(crate) name: Vec<u8>,
    pub(crate) handler: Handler,
    pub(crate) timeout: Option<Duration>,
    pub(crate) limit_mode: TimeLimitMode,
    pub(crate) after_complete: Option<AfterComplete>,
}

impl fmt::Debug for Ability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ability")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("timeout", &self.timeout)
            .field("limit_mode", &self.limit_mode)
            .finish_non_exhaustive()
    }
}

impl Ability {
    /// An ability named `name` run by `handler`. The name is checked when the ability is
    /// [registered](crate::Worker::register).
    ///
    /// ```
    /// use gearman_sync::Ability;
    /// let ability = Ability::new("echo", |job| Ok(job.workload().to_vec()));
    /// assert_eq!(ability.name(), b"echo");
    /// assert_eq!(ability.time_limit(), None);
    /// ```
    pub fn new(
        name: impl Into<Vec<u8>>,
        handler: impl FnMut(&mut Job<'_>) -> JobResult + Send + 'static,
    ) -> Ability {
        Ability {
            name: name.into(),
            handler: Box::new(handler),
            timeout: None,
            limit_mode: TimeLimitMode::Worker,
            after_complete: None,
        }
    }

    /// A run-time limit enforced by the worker alone ([`TimeLimitMode::Worker`], the
    /// recommended mode): the server is sent a plain `CAN_DO`, and a handler that returns after
    /// `limit` has its result replaced by a failure naming the limit. A running closure cannot
    /// be interrupted: long handlers should check [`Job::time_left`](crate::Job::time_left).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Ability;
    /// let ability = Ability::new("thumbnail", |job| Ok(job.workload().to_vec()))
    ///     .timeout(Duration::from_secs(30));
    /// assert_eq!(ability.time_limit(), Some(Duration::from_secs(30)));
    /// ```
    pub fn timeout(mut self, limit: Duration) -> Ability {
        self.timeout = Some(limit);
        self.limit_mode = TimeLimitMode::Worker;
        self
    }

    /// A run-time limit registered with gearmand (`CAN_DO_TIMEOUT`) and enforced by the worker
    /// too ([`TimeLimitMode::Server`]): read its caveats first; it needs `gearmand
    /// --job-retries N` to ever end a job that always overruns.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::{Ability, TimeLimitMode};
    /// let ability = Ability::new("thumbnail", |job| Ok(job.workload().to_vec()))
    ///     .server_timeout(Duration::from_secs(30));
    /// assert_eq!(ability.time_limit_mode(), Some(TimeLimitMode::Server));
    /// ```
    pub fn server_timeout(mut self, limit: Duration) -> Ability {
        self.timeout = Some(limit);
        self.limit_mode = TimeLimitMode::Server;
        self
    }

    /// Called after each successful `WORK_COMPLETE` with the job and its result (not when the
    /// result could not be sent). A panic in it is logged and ignored.
    ///
    /// ```
    /// use gearman_sync::Ability;
    /// let ability = Ability::new("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))
    ///     .after_complete(|job, result| eprintln!("{}: {} bytes", job.handle_str(), result.len()));
    /// assert_eq!(ability.name(), b"reverse");
    /// ```
    pub fn after_complete(mut self, hook: impl FnMut(&Job<'_>, &[u8]) + Send + 'static) -> Ability {
        self.after_complete = Some(Box::new(hook));
        self
    }

    /// The function name (without the worker's prefix).
    ///
    /// ```
    /// use gearman_sync::Ability;
    /// assert_eq!(Ability::new("echo", |job| Ok(job.workload().to_vec())).name(), b"echo");
    /// ```
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The time limit, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Ability;
    /// let ability = Ability::new("echo", |job| Ok(job.workload().to_vec()));
    /// assert_eq!(ability.time_limit(), None);
    /// assert_eq!(ability.timeout(Duration::from_secs(5)).time_limit(), Some(Duration::from_secs(5)));
    /// ```
    pub fn time_limit(&self) -> Option<Duration> {
        self.timeout
    }

    /// Who enforces the time limit, if there is one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::{Ability, TimeLimitMode};
    /// let ability = Ability::new("echo", |job| Ok(job.workload().to_vec()));
    /// assert_eq!(ability.time_limit_mode(), None);
    /// let ability = ability.server_timeout(Duration::from_secs(5));
    /// assert_eq!(ability.time_limit_mode(), Some(TimeLimitMode::Server));
    /// ```
    pub fn time_limit_mode(&self) -> Option<TimeLimitMode> {
        self.timeout.map(|_| self.limit_mode)
    }

    /// The limit to register with `CAN_DO_TIMEOUT`, if the server enforces one.
    pub(crate) fn server_limit(&self) -> Option<Duration> {
        self.timeout
            .filter(|_| self.limit_mode == TimeLimitMode::Server)
    }
}
