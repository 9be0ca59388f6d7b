//! [`ConcurrentWorker`]: one worker value that runs up to N jobs at once, on N threads that
//! each own a plain [`Worker`] (its own connections, so gearmand sees N workers).

mod pace;
mod run;

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::builder::WorkerOptions;
use super::{Ability, Job, JobEvent, JobResult, StopHandle, Worker, WorkerBuilder};
use crate::error::{ArgumentError, Result};
use crate::net::{ServerAddr, ToServers};
use crate::settings::Settings;
use pace::Activity;

/// A worker that runs up to N jobs at once (gearman-rs's `concurrency(n)`, PECL's "run N
/// worker processes" in one value).
///
/// [`work`](ConcurrentWorker::work) runs N threads. Each owns a plain [`Worker`] built from
/// the same settings, with its own connection to every server, so gearmand sees N workers
/// (admin `workers` lists N connections) and hands each a job of its own. Everything a
/// [`Worker`] does, each thread does for itself: the sleep/wake loop, reconnects with backoff
/// and re-registration, the re-ask after a lost wake-up, the backoff in a NOOP/NO_JOB storm,
/// one terminal packet per job.
///
/// What is shared:
///
/// * **Handlers** are registered once. [`add_ability`](ConcurrentWorker::add_ability) takes a
///   `Fn + Send + Sync` handler that all threads call; for per-thread state (a database
///   connection, a buffer) [`register_per_thread`](ConcurrentWorker::register_per_thread)
///   builds one [`Ability`] per thread.
/// * **One [`StopHandle`]** stops every thread. The stop is graceful: a thread running a job
///   finishes it and sends its result, and `work()` returns once every thread has made sure
///   its servers received its results.
/// * **The limits** count for the whole. [`max_jobs`](WorkerBuilder::max_jobs) is a budget that
///   threads reserve from before they ask for a job, so the threads together never run more.
///   Near its end a thread that finds nothing left ends, while a thread still running a long
///   job holds the job reserved for the request it sends with its result: the budget's last
///   jobs may wait for that long job instead of running on the ended thread.
///   [`max_idle`](WorkerBuilder::max_idle) passes only when no thread has run a job for that
///   long (a running job is activity). [`min_runtime`](WorkerBuilder::min_runtime) applies
///   once, to `work()`.
/// * **Callbacks** (`on_connect`, `on_work_complete` ...) are `Fn + Send + Sync`, and are
///   called on the thread that owns the connection or ran the job: thread 0 is the one that
///   called `work()`, the others are named `gearman-worker-<n>` (see [`std::thread::current`]).
/// * **The summary** adds up: the jobs of all threads, why the whole stopped, and the wall
///   time of `work()`.
///
/// ```no_run
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use gearman_sync::Worker;
///
/// let mut worker = Worker::builder()
///     .servers("127.0.0.1:4730")
///     .client_id("resizer")
///     .build_concurrent(4)?; // 4 jobs at once, 4 connections per server
/// let resized = Arc::new(AtomicU64::new(0));
/// let count = Arc::clone(&resized);
/// worker.add_ability("resize", move |job| {
///     count.fetch_add(1, Ordering::Relaxed); // shared by the 4 threads
///     Ok(job.workload().to_vec())
/// })?;
/// let stop = worker.stop_handle(); // one handle stops all 4; give it to a signal handler
/// # drop(stop);
/// let summary = worker.work()?;
/// println!("{} jobs in {:?} ({:?})", summary.jobs, summary.elapsed, summary.reason);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
pub struct ConcurrentWorker {
    /// One per thread, all with the same abilities, callbacks and stop handle.
    workers: Vec<Worker>,
    /// The options as built: the limits of the whole.
    options: WorkerOptions,
    stop: StopHandle,
    /// The idle clock shared by the threads' handlers; `None` without `max_idle`.
    activity: Option<Arc<Activity>>,
}

impl std::fmt::Debug for ConcurrentWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrentWorker")
            .field("threads", &self.workers.len())
            .field("servers", &self.settings().servers)
            .field("abilities", &self.workers[0].abilities)
            .finish_non_exhaustive()
    }
}

/// A handler all threads call.
type SharedHandler = Arc<dyn Fn(&mut Job<'_>) -> JobResult + Send + Sync>;

macro_rules! shared_callback_setters {
    ($( $(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*); )*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, callback: impl Fn($($ty),*) + Send + Sync + 'static) -> &mut Self {
                let callback = Arc::new(callback);
                for worker in &mut self.workers {
                    let callback = Arc::clone(&callback);
                    worker.$name(move |$($arg),*| callback($($arg),*));
                }
                self
            }
        )*
    };
}

impl ConcurrentWorker {
    /// A worker for `servers` that runs up to `threads` jobs at once, with default settings
    /// (see [`WorkerBuilder::build_concurrent`]). No connection is opened until
    /// [`work`](ConcurrentWorker::work).
    ///
    /// ```
    /// use gearman_sync::ConcurrentWorker;
    /// let worker = ConcurrentWorker::new("127.0.0.1:4730", 4)?;
    /// assert_eq!(worker.threads(), 4);
    /// assert!(ConcurrentWorker::new("127.0.0.1:4730", 0).is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn new<S: ToServers + ?Sized>(servers: &S, threads: usize) -> Result<ConcurrentWorker> {
        Worker::builder().servers(servers).build_concurrent(threads)
    }

    /// Builds one [`Worker`] per thread from `builder`, sharing one stop handle.
    pub(super) fn build(builder: WorkerBuilder, threads: usize) -> Result<ConcurrentWorker> {
        if threads == 0 {
            return Err(ArgumentError::OutOfRange {
                field: "threads",
                reason: "must be more than zero",
            }
            .into());
        }
        let stop = StopHandle::default();
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let mut worker = builder.clone().build()?;
            worker.stop = stop.clone();
            workers.push(worker);
        }
        let options = workers[0].options.clone();
        Ok(ConcurrentWorker {
            workers,
            activity: options.max_idle.map(|_| Arc::new(Activity::new())),
            options,
            stop,
        })
    }

    /// How many jobs run at once at most: the number of threads, and of connections to each
    /// server.
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").build_concurrent(8)?;
    /// assert_eq!(worker.threads(), 8);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// The settings shared with [`Client`](crate::Client) and [`Admin`](crate::Admin), as
    /// built (every thread has the same).
    ///
    /// ```
    /// use gearman_sync::ConcurrentWorker;
    /// let worker = ConcurrentWorker::new("gm1,gm2:4731", 2)?;
    /// assert_eq!(worker.settings().servers().len(), 2);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.workers[0].settings
    }

    /// Jobs after which `work()` returns, counted over all threads; 0 for no limit
    /// ([`WorkerBuilder::max_jobs`]).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").max_jobs(100).build_concurrent(4)?;
    /// assert_eq!(worker.max_jobs(), 100);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_jobs(&self) -> u64 {
        self.options.max_jobs
    }

    /// Time without a job on any thread after which `work()` returns
    /// ([`WorkerBuilder::max_idle`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .max_idle(Duration::from_secs(60))
    ///     .build_concurrent(2)?;
    /// assert_eq!(worker.max_idle(), Some(Duration::from_secs(60)));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_idle(&self) -> Option<Duration> {
        self.options.max_idle
    }

    /// The least time `work()` runs ([`WorkerBuilder::min_runtime`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .min_runtime(Duration::from_secs(5))
    ///     .build_concurrent(2)?;
    /// assert_eq!(worker.min_runtime(), Some(Duration::from_secs(5)));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn min_runtime(&self) -> Option<Duration> {
        self.options.min_runtime
    }

    /// Jobs each thread asks for ahead of the one it runs ([`WorkerBuilder::prefetch`]).
    ///
    /// ```
    /// use gearman_sync::Worker;
    /// let worker = Worker::builder().servers("127.0.0.1:4730").prefetch(1).build_concurrent(2)?;
    /// assert_eq!(worker.prefetch(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn prefetch(&self) -> u32 {
        self.options.prefetch
    }

    /// The handle that stops every thread: each finishes the job it runs and sends its result,
    /// and [`work`](ConcurrentWorker::work) returns. `Clone + Send`, and safe to use in a
    /// signal handler; every call returns a clone of the same flag.
    ///
    /// ```
    /// use gearman_sync::ConcurrentWorker;
    /// let worker = ConcurrentWorker::new("127.0.0.1:4730", 4)?;
    /// let stop = worker.stop_handle();
    /// stop.stop();
    /// assert!(worker.stop_handle().is_stopped());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Registers `name`, run by `handler` on whichever thread gets the job (`CAN_DO` on every
    /// thread's connections). Replaces an ability of the same name.
    ///
    /// The handler is shared, so it is `Fn + Send + Sync`: keep state behind a `Mutex` or an
    /// atomic, or use [`register_per_thread`](ConcurrentWorker::register_per_thread) for
    /// state of its own per thread. Refused with [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    /// for an invalid name, as [`Worker::add_ability`].
    ///
    /// ```
    /// use gearman_sync::ConcurrentWorker;
    /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 4)?;
    /// worker
    ///     .add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?
    ///     .add_ability("echo", |job| Ok(job.workload().to_vec()))?;
    /// assert_eq!(worker.abilities(), [b"reverse".to_vec(), b"echo".to_vec()]);
    /// assert!(worker.add_ability("", |job| Ok(job.workload().to_vec())).is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn add_ability(
        &mut self,
        name: impl Into<Vec<u8>>,
        handler: impl Fn(&mut Job<'_>) -> JobResult + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let name = name.into();
        let handler: SharedHandler = Arc::new(handler);
        self.register_per_thread(|| {
            let handler = Arc::clone(&handler);
            Ability::new(name.clone(), move |job| handler(job))
        })
    }

    /// Registers `name` with a run-time limit that the worker enforces, and a shared handler
    /// (see [`Worker::add_ability_with_timeout`] for what the limit does, and
    /// [`add_ability`](ConcurrentWorker::add_ability) for the handler).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::ConcurrentWorker;
    /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
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
        handler: impl Fn(&mut Job<'_>) -> JobResult + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let name = name.into();
        let handler: SharedHandler = Arc::new(handler);
        self.register_per_thread(|| {
            let handler = Arc::clone(&handler);
            Ability::new(name.clone(), move |job| handler(job)).timeout(limit)
        })
    }

    /// Registers one [`Ability`] per thread, each made by `factory`, which is called once for
    /// every thread, now. Each thread's handler is its own `FnMut`, so it may keep state that
    /// is not shared (a database connection, a scratch buffer), and the ability may carry
    /// every [`Ability`] option (a time limit, a server time limit, an after-complete hook).
    ///
    /// Every ability takes the name of the first one made. Nothing is registered when one is
    /// refused (an invalid name, a zero time limit: [`Error::InvalidArgument`](crate::Error::InvalidArgument)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::{Ability, ConcurrentWorker};
    /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 4)?;
    /// worker.register_per_thread(|| {
    ///     let mut scratch = Vec::new(); // one per thread, reused for every job it runs
    ///     Ability::new("reverse", move |job| {
    ///         scratch.clear();
    ///         scratch.extend(job.workload().iter().rev());
    ///         Ok(scratch.clone())
    ///     })
    ///     .timeout(Duration::from_secs(10))
    /// })?;
    /// assert_eq!(worker.abilities(), [b"reverse".to_vec()]);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn register_per_thread(
        &mut self,
        mut factory: impl FnMut() -> Ability,
    ) -> Result<&mut Self> {
        let mut abilities: Vec<Ability> = (0..self.workers.len()).map(|_| factory()).collect();
        let name = abilities[0].name.clone();
        for (worker, ability) in self.workers.iter().zip(&mut abilities) {
            ability.name.clone_from(&name);
            worker.check_ability(ability)?;
        }
        for (worker, mut ability) in self.workers.iter_mut().zip(abilities) {
            if let Some(activity) = &self.activity {
                // The idle clock sees the job from its start to its end.
                let activity = Arc::clone(activity);
                let mut inner = ability.handler;
                ability.handler = Box::new(move |job| {
                    let _busy = activity.begin();
                    inner(job)
                });
            }
            worker.register(ability)?;
        }
        Ok(self)
    }

    /// Unregisters `name` on every thread (`CANT_DO`). Returns false when it was not
    /// registered. As with [`Worker::remove_ability`], call it between `work()` calls.
    ///
    /// ```
    /// use gearman_sync::ConcurrentWorker;
    /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().to_vec()))?;
    /// assert!(worker.remove_ability("reverse")?);
    /// assert!(!worker.remove_ability("reverse")?);
    /// assert!(worker.abilities().is_empty());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn remove_ability(&mut self, name: impl AsRef<[u8]>) -> Result<bool> {
        let mut removed = false;
        for worker in &mut self.workers {
            removed |= worker.remove_ability(name.as_ref())?;
        }
        Ok(removed)
    }

    /// Names of the registered abilities (without the prefix), in registration order.
    ///
    /// ```
    /// use gearman_sync::ConcurrentWorker;
    /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
    /// worker.add_ability("a", |job| Ok(job.workload().to_vec()))?;
    /// assert_eq!(worker.abilities(), [b"a".to_vec()]);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn abilities(&self) -> Vec<Vec<u8>> {
        self.workers[0].abilities()
    }

    shared_callback_setters! {
        /// Called after each (re)connect of a thread's worker to a server (once per thread
        /// and server), on the thread that connects: the worker thread in `work()`, the
        /// caller's in [`wait_registered`](ConcurrentWorker::wait_registered). A panic in it
        /// is logged and ignored.
        ///
        /// ```
        /// use gearman_sync::ConcurrentWorker;
        /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
        /// worker.on_connect(|server| {
        ///     eprintln!("{:?} connected to {server}", std::thread::current().name())
        /// });
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_connect(server: &ServerAddr);
        /// Called for each failed attempt of a thread to connect and register with a server
        /// (see [`Worker::on_connect_error`]): with N threads, a server that is down is
        /// reported N times per retry round.
        ///
        /// ```
        /// use gearman_sync::ConcurrentWorker;
        /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
        /// worker.on_connect_error(|server, error| eprintln!("cannot use {server}: {error}"));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_connect_error(server: &ServerAddr, error: &crate::Error);
        /// Called when a thread sends a GRAB_JOB.
        ///
        /// ```
        /// use gearman_sync::ConcurrentWorker;
        /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
        /// worker.on_grab_job(|server| log::trace!("asking {server} for a job"));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_grab_job(server: &ServerAddr);
        /// Called when a server answers a thread's GRAB with NO_JOB.
        ///
        /// ```
        /// use gearman_sync::ConcurrentWorker;
        /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
        /// worker.on_no_job(|server| log::debug!("{server} has nothing for us"));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_no_job(server: &ServerAddr);
        /// Called when a job is assigned, before its handler runs, on the thread that runs it.
        ///
        /// ```
        /// use gearman_sync::ConcurrentWorker;
        /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
        /// worker.on_job_assign(|event| {
        ///     eprintln!("{} from {}", String::from_utf8_lossy(event.handle), event.server)
        /// });
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_job_assign(event: &JobEvent<'_>);
        /// Called after `WORK_COMPLETE` was sent, on the thread that ran the job.
        ///
        /// ```
        /// use std::sync::atomic::{AtomicU64, Ordering};
        /// use std::sync::Arc;
        /// use gearman_sync::ConcurrentWorker;
        /// let done = Arc::new(AtomicU64::new(0));
        /// let counter = Arc::clone(&done);
        /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 4)?;
        /// worker.on_work_complete(move |_event| {
        ///     counter.fetch_add(1, Ordering::Relaxed);
        /// });
        /// assert_eq!(done.load(Ordering::Relaxed), 0);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_work_complete(event: &JobEvent<'_>);
        /// Called after `WORK_FAIL` was sent (see [`Worker::on_work_fail`]), on the thread
        /// that ran the job.
        ///
        /// ```
        /// use gearman_sync::ConcurrentWorker;
        /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
        /// worker.on_work_fail(|event| log::warn!("{} failed", String::from_utf8_lossy(event.function)));
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_work_fail(event: &JobEvent<'_>);
        /// Called after `WORK_EXCEPTION` was sent, with its data, on the thread that ran the
        /// job.
        ///
        /// ```
        /// use gearman_sync::ConcurrentWorker;
        /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 2)?;
        /// worker.on_work_exception(|event, data| {
        ///     log::error!("{}: {}", String::from_utf8_lossy(event.handle), String::from_utf8_lossy(data))
        /// });
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        on_work_exception(event: &JobEvent<'_>, data: &[u8]);
    }

    /// Connects every thread's worker and waits, up to `timeout` in all, until each is
    /// registered on at least one server; returns the fewest servers any thread is registered
    /// on. Fails as [`Worker::wait_registered`] (the first thread's error) when a thread could
    /// use no server in time; servers still down are retried by `work()` later.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::ConcurrentWorker;
    /// let mut worker = ConcurrentWorker::new("gm1,gm2", 4)?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?;
    /// match worker.wait_registered(Duration::from_secs(10)) {
    ///     Ok(servers) => eprintln!("4 threads registered on {servers} server(s) at least"),
    ///     Err(error) => eprintln!("no server yet, retrying in the background: {error}"),
    /// }
    /// worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn wait_registered(&mut self, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        let mut fewest = usize::MAX;
        for worker in &mut self.workers {
            let left = deadline.saturating_duration_since(Instant::now());
            fewest = fewest.min(worker.wait_registered(left)?);
        }
        Ok(fewest)
    }
}
