//! [`ConcurrentWorker::work`]: one thread per worker, each in the single worker's loop under
//! the shared limits, joined and summed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::pace::{JobPool, Shared, ThreadPace};
use super::ConcurrentWorker;
use crate::error::{Error, Result};
use crate::worker::lifecycle::panic_message;
use crate::worker::{wait_out, StopReason, WorkSummary, Worker};

/// What one thread did: its jobs and why it ended.
type ThreadOutcome = Result<(u64, StopReason)>;

impl ConcurrentWorker {
    /// Runs jobs on every thread until stopped, the job limit is reached (over all threads),
    /// or no thread has run a job for the idle limit; returns the summed [`WorkSummary`].
    ///
    /// Blocks the calling thread, which serves as thread 0; the others are spawned, named
    /// `gearman-worker-1`, `gearman-worker-2` ... (so with one thread, `work()` is a
    /// [`Worker::work`] on the calling thread). Each thread behaves as [`Worker::work`]: it
    /// waits in one `poll(2)` over its connections, reconnects lost servers by itself, and
    /// before it returns makes sure its servers received its results.
    /// After a [`stop`](crate::StopHandle::stop), a thread running a job finishes it and
    /// sends its result; an idle one notices within about 200 ms.
    ///
    /// Fails with [`Error::InvalidArgument`] when no ability is registered, and with
    /// [`Error::WorkerThread`] when a thread cannot be started or panics (a bug). When one
    /// thread fails, the others are stopped through the [`StopHandle`](crate::StopHandle),
    /// which then stays stopped (reset it before the next `work()`), and the first failure,
    /// in thread order, is returned.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::Worker;
    /// let mut worker = Worker::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .max_jobs(10_000)                  // over all threads
    ///     .max_idle(Duration::from_secs(60)) // when no thread has run a job for a minute
    ///     .build_concurrent(4)?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?;
    /// let summary = worker.work()?;
    /// println!("{} jobs in {:?}, stopped by {:?}", summary.jobs, summary.elapsed, summary.reason);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn work(&mut self) -> Result<WorkSummary> {
        self.workers[0].require_abilities()?;
        let started = Instant::now();
        if let Some(activity) = &self.activity {
            activity.touch();
        }
        let shared = Shared {
            pool: (self.options.max_jobs > 0).then(|| JobPool::new(self.options.max_jobs)),
            idle: self
                .options
                .max_idle
                .zip(self.activity.as_ref().map(Arc::clone)),
            idle_reached: AtomicBool::new(false),
            threads: self.workers.len() as u64,
            depth: u64::from(self.options.prefetch) + 1,
        };
        let outcomes = run_threads(&mut self.workers, &shared, &self.stop);
        let mut jobs = 0;
        let mut stopped = false;
        for outcome in outcomes {
            let (thread_jobs, reason) = outcome?;
            jobs += thread_jobs;
            stopped |= reason == StopReason::Stopped;
        }
        let reason = if stopped {
            StopReason::Stopped
        } else if shared.idle_reached.load(Ordering::SeqCst) {
            StopReason::Idle
        } else {
            StopReason::MaxJobs
        };
        if reason != StopReason::Stopped {
            if let Some(minimum) = self.options.min_runtime {
                wait_out(started, minimum, &self.stop);
            }
        }
        Ok(WorkSummary {
            jobs,
            reason,
            elapsed: started.elapsed(),
        })
    }
}

/// Runs `serve` for every worker: the first on the calling thread, each other one on a thread
/// of its own; returns each outcome, in worker order. A thread that fails, panics or cannot
/// be started stops the others.
fn run_threads(
    workers: &mut [Worker],
    shared: &Shared,
    stop: &crate::StopHandle,
) -> Vec<ThreadOutcome> {
    let Some((first, others)) = workers.split_first_mut() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(others.len());
        let mut not_started = None;
        for (offset, worker) in others.iter_mut().enumerate() {
            let index = offset + 1;
            let spawned = std::thread::Builder::new()
                .name(format!("gearman-worker-{index}"))
                .spawn_scoped(scope, move || serve_guarded(index, worker, shared, stop));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    log::error!("cannot start worker thread {index}: {error}; stopping the others");
                    stop.stop();
                    not_started = Some(Error::WorkerThread {
                        thread: index,
                        reason: format!("could not be started: {error}"),
                    });
                    break;
                }
            }
        }
        let mut outcomes = vec![serve_guarded(0, first, shared, stop)];
        outcomes.extend(handles.into_iter().enumerate().map(|(offset, handle)| {
            handle.join().unwrap_or_else(|panic| {
                Err(Error::WorkerThread {
                    thread: offset + 1,
                    reason: format!("panicked: {}", panic_message(&*panic)),
                })
            })
        }));
        outcomes.extend(not_started.map(Err));
        outcomes
    })
}

/// [`serve`], with a panic turned into [`Error::WorkerThread`] at once, so that the others
/// stop without waiting for a join.
fn serve_guarded(
    index: usize,
    worker: &mut Worker,
    shared: &Shared,
    stop: &crate::StopHandle,
) -> ThreadOutcome {
    catch_unwind(AssertUnwindSafe(|| serve(worker, shared))).unwrap_or_else(|panic| {
        let message = panic_message(&*panic);
        log::error!("worker thread {index} panicked: {message}; stopping the others");
        stop.stop();
        Err(Error::WorkerThread {
            thread: index,
            reason: format!("panicked: {message}"),
        })
    })
}

/// One thread: the single worker's loop under the shared limits, then the sync that makes
/// sure the servers received its results.
fn serve(worker: &mut Worker, shared: &Shared) -> ThreadOutcome {
    let mut pace = ThreadPace::new(shared);
    let reason = worker.work_paced(&mut pace);
    if let Err(error) = &reason {
        log::error!("worker thread failed: {error}; stopping the others");
        worker.stop.stop();
    }
    worker.sync_all();
    pace.release();
    Ok((pace.jobs, reason?))
}
