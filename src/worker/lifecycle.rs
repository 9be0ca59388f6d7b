//! Stopping a worker, its limits, and the callbacks it fires.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::net::ServerAddr;

/// Stops a [`Worker`](crate::Worker) from another thread or a signal handler: `work()` returns
/// after the current job (an idle worker notices within about 200 ms).
///
/// `stop` only stores an atomic flag, so it is safe to call from a signal handler.
///
/// ```
/// use gearman_sync::Worker;
/// let worker = Worker::new("127.0.0.1:4730")?;
/// let stop = worker.stop_handle();
/// std::thread::spawn(move || stop.stop());
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks the worker to stop after the current job (an atomic store; safe in a signal
    /// handler).
    ///
    /// ```
    /// use gearman_sync::StopHandle;
    /// let stop = StopHandle::default();
    /// stop.stop();
    /// assert!(stop.is_stopped());
    /// ```
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once [`stop`](StopHandle::stop) was called (on this handle or any clone).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::new("127.0.0.1:4730")?;
    /// let stop = worker.stop_handle();
    /// assert!(!stop.is_stopped());
    /// stop.clone().stop();
    /// assert!(stop.is_stopped());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Clears the flag so that `work()` can run again (a stopped worker's `work()` returns at
    /// once).
    ///
    /// ```
    /// use gearman_sync::StopHandle;
    /// let stop = StopHandle::default();
    /// stop.stop();
    /// stop.reset();
    /// assert!(!stop.is_stopped());
    /// ```
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Why [`Worker::work`](crate::Worker::work) returned.
///
/// ```no_run
/// use gearman_sync::{Worker, StopReason};
/// let mut worker = Worker::builder().servers("127.0.0.1:4730").max_jobs(100).build()?;
/// worker.add_ability("echo", |job| Ok(job.workload().to_vec()))?;
/// match worker.work()?.reason {
///     StopReason::MaxJobs => eprintln!("recycling after 100 jobs"),
///     StopReason::Idle | StopReason::Stopped => eprintln!("shutting down"),
/// }
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The [`StopHandle`] was used.
    Stopped,
    /// The job limit ([`WorkerBuilder::max_jobs`](crate::WorkerBuilder::max_jobs)) was reached.
    MaxJobs,
    /// No job arrived within the idle limit.
    Idle,
}

/// What [`Worker::work`](crate::Worker::work) did.
///
/// ```no_run
/// use gearman_sync::Worker;
/// let mut worker = Worker::new("127.0.0.1:4730")?;
/// worker.add_ability("echo", |job| Ok(job.workload().to_vec()))?;
/// let summary = worker.work()?;
/// eprintln!("{} jobs in {:?} ({:?})", summary.jobs, summary.elapsed, summary.reason);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkSummary {
    /// Jobs handled during this call.
    pub jobs: u64,
    /// Why it returned.
    pub reason: StopReason,
    /// How long it ran.
    pub elapsed: Duration,
}

/// The job a worker callback is about (see [`Worker::on_job_assign`](crate::Worker::on_job_assign)
/// and the other `on_work_*` callbacks).
///
/// ```
/// use gearman_sync::Worker;
/// let mut worker = Worker::new("127.0.0.1:4730")?;
/// worker.on_work_complete(|event| {
///     eprintln!(
///         "{} ({}) done on {}",
///         String::from_utf8_lossy(event.handle),
///         String::from_utf8_lossy(event.function),
///         event.server
///     )
/// });
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct JobEvent<'a> {
    /// The server that assigned the job.
    pub server: &'a ServerAddr,
    /// The function name (without the worker's prefix).
    pub function: &'a [u8],
    /// The job handle.
    pub handle: &'a [u8],
}

type ServerCallback = Box<dyn FnMut(&ServerAddr) + Send>;
type ServerErrorCallback = Box<dyn FnMut(&ServerAddr, &Error) + Send>;
type JobCallback = Box<dyn FnMut(&JobEvent<'_>) + Send>;
type DataCallback = Box<dyn FnMut(&JobEvent<'_>, &[u8]) + Send>;

/// gearman-ruby's worker callbacks. A callback that panics is logged and the worker goes on.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) on_connect: Option<ServerCallback>,
    pub(crate) on_connect_error: Option<ServerErrorCallback>,
    pub(crate) on_grab_job: Option<ServerCallback>,
    pub(crate) on_no_job: Option<ServerCallback>,
    pub(crate) on_job_assign: Option<JobCallback>,
    pub(crate) on_work_complete: Option<JobCallback>,
    pub(crate) on_work_fail: Option<JobCallback>,
    pub(crate) on_work_exception: Option<DataCallback>,
}

/// Runs a user callback, logging instead of unwinding when it panics.
pub(crate) fn guarded(name: &str, call: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(call)) {
        log::error!(
            "worker callback {name} panicked: {}",
            panic_message(&*panic)
        );
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
