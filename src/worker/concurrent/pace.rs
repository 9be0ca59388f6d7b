//! The limits a concurrent worker's threads share: one job budget for
//! [`max_jobs`](crate::WorkerBuilder::max_jobs), one idle clock for
//! [`max_idle`](crate::WorkerBuilder::max_idle), and [`ThreadPace`], which each thread's loop
//! asks between jobs (the same loop as a single worker's, see `worker/pace.rs`).
//!
//! The job budget is reserved before a GRAB can go out, never after a job arrived, so the
//! threads together never run more than `max_jobs` jobs: a GRAB that brings a job obliges the
//! worker to run it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::pace::Pace;
use super::super::scheduler::Budget;
use super::super::{StopReason, IDLE_SLICE};

/// Jobs the whole worker may still take on (`max_jobs` minus the jobs run and reserved).
#[derive(Debug)]
pub(super) struct JobPool {
    left: AtomicU64,
}

impl JobPool {
    pub(super) fn new(jobs: u64) -> JobPool {
        JobPool {
            left: AtomicU64::new(jobs),
        }
    }

    /// Takes one job from the pool; false when none is left.
    fn take_one(&self) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    /// Takes up to `want` jobs, but only from what exceeds `keep` (so that every other thread
    /// can still take one); returns how many it took.
    fn take_spare(&self, want: u64, keep: u64) -> u64 {
        let mut taken = 0;
        let _ = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                taken = want.min(left.saturating_sub(keep));
                (taken > 0).then(|| left - taken)
            });
        taken
    }

    /// Returns jobs reserved but not used.
    fn give_back(&self, jobs: u64) {
        self.left.fetch_add(jobs, Ordering::AcqRel);
    }

    /// Jobs left (for the tests).
    #[cfg(test)]
    fn left(&self) -> u64 {
        self.left.load(Ordering::Acquire)
    }
}

/// When a job last ran, and how many run now, over all threads: the whole worker is idle only
/// while no thread runs a job.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    /// When the last job ended (or `work()` started), in nanoseconds after `epoch`.
    last: AtomicU64,
    running: AtomicUsize,
}

/// A job running: counted until dropped (also when its handler panics).
#[derive(Debug)]
pub(crate) struct Busy<'a>(&'a Activity);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            running: AtomicUsize::new(0),
        }
    }

    /// Marks now as the last activity.
    pub(crate) fn touch(&self) {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.store(nanos, Ordering::SeqCst);
    }

    /// A job starts; it counts as running until the guard is dropped.
    pub(crate) fn begin(&self) -> Busy<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        Busy(self)
    }

    /// How long no job has run on any thread; `None` while one runs.
    fn idle_for(&self) -> Option<Duration> {
        if self.running.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = Duration::from_nanos(self.last.load(Ordering::SeqCst));
        Some(self.epoch.elapsed().saturating_sub(last))
    }
}

/// What the threads of one `work()` call share.
#[derive(Debug)]
pub(super) struct Shared {
    /// The job budget; `None` without `max_jobs`.
    pub(super) pool: Option<JobPool>,
    /// The idle limit and the clock it is measured on; `None` without `max_idle`.
    pub(super) idle: Option<(Duration, Arc<Activity>)>,
    /// Set by the first thread that finds the whole worker idle: every thread ends.
    pub(super) idle_reached: AtomicBool,
    /// Threads in all.
    pub(super) threads: u64,
    /// Jobs one thread may hold at once: the running one plus the prefetch.
    pub(super) depth: u64,
}

/// One thread's view of the shared limits: the jobs it has reserved and run.
#[derive(Debug)]
pub(super) struct ThreadPace<'a> {
    shared: &'a Shared,
    /// Jobs reserved from the pool and not yet run; never fewer than the jobs in hand.
    held: u64,
    /// Jobs this thread ran.
    pub(super) jobs: u64,
}

impl<'a> ThreadPace<'a> {
    pub(super) fn new(shared: &'a Shared) -> ThreadPace<'a> {
        ThreadPace {
            shared,
            held: 0,
            jobs: 0,
        }
    }

    /// Returns what is still reserved (when the thread ends).
    pub(super) fn release(&mut self) {
        if let Some(pool) = &self.shared.pool {
            pool.give_back(std::mem::take(&mut self.held));
        }
    }
}

impl Pace for ThreadPace<'_> {
    fn next(&mut self, _in_flight: u64) -> Result<(Budget, Duration), StopReason> {
        let shared = self.shared;
        if shared.idle_reached.load(Ordering::SeqCst) {
            return Err(StopReason::Idle);
        }
        let mut slice = IDLE_SLICE;
        if let Some((limit, activity)) = &shared.idle {
            let left = activity
                .idle_for()
                .map_or(*limit, |idle| limit.saturating_sub(idle));
            if left.is_zero() {
                shared.idle_reached.store(true, Ordering::SeqCst);
                return Err(StopReason::Idle);
            }
            slice = slice.min(left);
        }
        let Some(pool) = &shared.pool else {
            return Ok((Budget::within(shared.depth, u64::MAX), slice));
        };
        // One job for the next GRAB, taken while any is left; one more so that a GRAB can
        // leave with each result, and the prefetch, only from what exceeds one job per
        // thread, so that a few threads do not hold the budget's end between them. Even so,
        // a thread running a long job keeps the job reserved for the GRAB it sends with its
        // result: in the last `threads` jobs of the budget, a thread that finds the pool
        // empty ends, and the job that reservation stands for waits for the long job to end
        // (it is never lost, and never more than `max_jobs` run).
        if self.held == 0 {
            if !pool.take_one() {
                return Err(StopReason::MaxJobs);
            }
            self.held = 1;
        }
        let want = shared.depth + 1;
        if self.held < want {
            self.held += pool.take_spare(want - self.held, shared.threads);
        }
        Ok((Budget::within(shared.depth, self.held), slice))
    }

    fn after(&mut self, ran: bool, in_flight: u64) {
        // The idle clock needs nothing here: a handler's end is marked by its `Busy` guard.
        if ran {
            self.jobs += 1;
            self.held = self.held.saturating_sub(1);
        }
        // What backs no GRAB out and no job received goes back, so that a thread that waits
        // holds nothing another thread could use.
        if let Some(pool) = &self.shared.pool {
            let spare = self.held.saturating_sub(in_flight);
            if spare > 0 {
                pool.give_back(spare);
                self.held -= spare;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(max_jobs: u64, idle: Option<Duration>, threads: u64, depth: u64) -> Shared {
        Shared {
            pool: (max_jobs > 0).then(|| JobPool::new(max_jobs)),
            idle: idle.map(|limit| (limit, Arc::new(Activity::new()))),
            idle_reached: AtomicBool::new(false),
            threads,
            depth,
        }
    }

    #[test]
    fn without_limits_every_thread_gets_the_full_budget() {
        let shared = shared(0, None, 4, 2);
        let mut pace = ThreadPace::new(&shared);
        for _ in 0..3 {
            let (budget, slice) = pace.next(0).expect("go on");
            assert_eq!(budget, Budget { now: 2, after: 2 });
            assert_eq!(slice, IDLE_SLICE);
            pace.after(true, 1);
        }
        assert_eq!(pace.jobs, 3);
    }

    #[test]
    fn the_pool_never_hands_out_more_jobs_than_max_jobs() {
        let shared = shared(5, None, 2, 1);
        let (mut a, mut b) = (ThreadPace::new(&shared), ThreadPace::new(&shared));
        // Plenty left: each takes one for the next job and one for the GRAB after it.
        assert_eq!(a.next(0).expect("a").0, Budget { now: 1, after: 1 });
        assert_eq!(shared.pool.as_ref().map(JobPool::left), Some(3));
        // Only what b cannot miss is spare: b gets one, and one more as 2 stay for others.
        assert_eq!(b.next(0).expect("b").0, Budget { now: 1, after: 0 });
        assert_eq!(shared.pool.as_ref().map(JobPool::left), Some(2));
        // a ran a job and pipelined a GRAB: it keeps the job that GRAB may bring.
        a.after(true, 1);
        assert_eq!(a.held, 1);
        // b ran its job with nothing out: it holds nothing.
        b.after(true, 0);
        assert_eq!(b.held, 0);
        let mut run = a.jobs + b.jobs;
        loop {
            let (a_next, b_next) = (a.next(a.held), b.next(0));
            if a_next.is_err() && b_next.is_err() {
                break;
            }
            if a_next.is_ok() {
                a.after(true, 0);
                run += 1;
            }
            if b_next.is_ok() {
                b.after(true, 0);
                run += 1;
            }
        }
        assert_eq!(run, 5, "exactly max_jobs jobs");
        assert_eq!(a.next(0), Err(StopReason::MaxJobs));
        assert_eq!(shared.pool.as_ref().map(JobPool::left), Some(0));
    }

    #[test]
    fn a_thread_that_waits_gives_its_reservation_back() {
        let shared = shared(1, None, 2, 1);
        let (mut a, mut b) = (ThreadPace::new(&shared), ThreadPace::new(&shared));
        assert!(a.next(0).is_ok());
        assert_eq!(b.next(0), Err(StopReason::MaxJobs), "a holds the last job");
        a.after(false, 0);
        assert_eq!(a.held, 0);
        assert!(b.next(0).is_ok(), "a gave it back: b may take it");
        b.after(true, 0);
        assert_eq!(a.next(0), Err(StopReason::MaxJobs));
    }

    #[test]
    fn a_reserved_grab_out_is_kept_while_waiting() {
        let shared = shared(3, None, 1, 1);
        let mut pace = ThreadPace::new(&shared);
        assert!(pace.next(0).is_ok());
        // The slice ended with a GRAB out: its reservation stays.
        pace.after(false, 1);
        assert_eq!(pace.held, 1);
        pace.release();
        assert_eq!(shared.pool.as_ref().map(JobPool::left), Some(3));
    }

    #[test]
    fn the_whole_is_idle_only_when_no_thread_runs_a_job() {
        let limit = Duration::from_millis(30);
        let shared = shared(0, Some(limit), 2, 1);
        let activity = Arc::clone(&shared.idle.as_ref().expect("idle").1);
        activity.touch();
        let (mut a, mut b) = (ThreadPace::new(&shared), ThreadPace::new(&shared));
        let busy = activity.begin();
        std::thread::sleep(limit * 2);
        assert!(a.next(0).is_ok(), "b runs a job: not idle");
        drop(busy);
        let (_, slice) = a.next(0).expect("the job just ended");
        assert!(slice <= limit);
        std::thread::sleep(limit * 2);
        assert_eq!(a.next(0), Err(StopReason::Idle));
        assert_eq!(b.next(0), Err(StopReason::Idle), "one idle end ends all");
    }
}
