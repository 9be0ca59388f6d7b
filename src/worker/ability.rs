//! Abilities: the functions a worker can run, with their handlers.

use std::fmt;
use std::time::Duration;

use super::job::Job;

/// How a handler says a job did not succeed.
///
/// ```
/// use gearman_sync::worker::JobError;
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
    /// use gearman_sync::worker::JobError;
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
/// use gearman_sync::worker::{Job, JobResult};
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

pub(crate) type Handler = Box<dyn FnMut(&mut Job<'_>) -> JobResult + Send>;
pub(crate) type AfterComplete = Box<dyn FnMut(&Job<'_>, &[u8]) + Send>;

/// A function the worker can run: its name, its handler, an optional time limit and
/// gearman-ruby's after-complete hook.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::worker::Ability;
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
    pub(crate) after_complete: Option<AfterComplete>,
}

impl fmt::Debug for Ability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ability")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("timeout", &self.timeout)
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
            after_complete: None,
        }
    }

    /// A run-time limit: registered with `CAN_DO_TIMEOUT` and also enforced by the worker (see
    /// [`Worker::add_ability_with_timeout`](crate::Worker::add_ability_with_timeout)).
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
}
