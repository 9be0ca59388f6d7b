//! How `work()` paces itself between jobs: whether it goes on, how many jobs it may hold around
//! the next one, and how long it may wait for it. [`LocalPace`] is a single [`Worker`]'s (its
//! own job and idle limits); the threads of a
//! [`ConcurrentWorker`](crate::ConcurrentWorker) share theirs (`concurrent/pace.rs`). The loop
//! that asks a pace is one, [`Worker::work_paced`], so both run the same code between jobs.

use std::time::{Duration, Instant};

use super::builder::WorkerOptions;
use super::scheduler::Budget;
use super::{StopReason, Worker, IDLE_SLICE};
use crate::error::Result;

/// The limits `work()` runs under.
pub(super) trait Pace {
    /// Before the next job, with `in_flight` jobs in hand (GRABs out, jobs received but not
    /// run): the budget and the longest wait for it, or why `work()` ends now.
    fn next(&mut self, in_flight: u64) -> std::result::Result<(Budget, Duration), StopReason>;

    /// After a call for the next job: whether it `ran` a job, and the jobs still in hand.
    fn after(&mut self, ran: bool, in_flight: u64);
}

/// A single worker's limits: its own job count and time since its last job.
#[derive(Debug)]
pub(super) struct LocalPace {
    max_jobs: u64,
    max_idle: Option<Duration>,
    /// Jobs held at most at once: the running one plus the prefetch.
    depth: u64,
    /// Jobs run so far in this `work()`.
    pub(super) jobs: u64,
    last_job: Instant,
}

impl LocalPace {
    /// The limits of `options`, counted from `started`.
    pub(super) fn new(options: &WorkerOptions, started: Instant) -> LocalPace {
        LocalPace {
            max_jobs: options.max_jobs,
            max_idle: options.max_idle,
            depth: u64::from(options.prefetch) + 1,
            jobs: 0,
            last_job: started,
        }
    }
}

impl Pace for LocalPace {
    fn next(&mut self, _in_flight: u64) -> std::result::Result<(Budget, Duration), StopReason> {
        if self.max_jobs > 0 && self.jobs >= self.max_jobs {
            return Err(StopReason::MaxJobs);
        }
        let mut slice = IDLE_SLICE;
        if let Some(idle) = self.max_idle {
            let left = idle.saturating_sub(self.last_job.elapsed());
            if left.is_zero() {
                return Err(StopReason::Idle);
            }
            slice = slice.min(left);
        }
        let left = match self.max_jobs {
            0 => u64::MAX,
            max => max.saturating_sub(self.jobs),
        };
        Ok((Budget::within(self.depth, left), slice))
    }

    fn after(&mut self, ran: bool, _in_flight: u64) {
        if ran {
            self.jobs += 1;
            self.last_job = Instant::now();
        }
    }
}

impl Worker {
    /// The loop of `work()`: jobs until the [`StopHandle`](super::StopHandle) is used or
    /// `pace` ends it, then the replies to GRABs already out (a job they bring is ours, so it
    /// runs, also after a stop). Returns why it ended; the caller syncs.
    pub(super) fn work_paced(&mut self, pace: &mut impl Pace) -> Result<StopReason> {
        let reason = loop {
            if self.stop.is_stopped() {
                break StopReason::Stopped;
            }
            let (budget, slice) = match pace.next(self.in_flight()) {
                Ok(next) => next,
                Err(reason) => break reason,
            };
            let ran = self.next_job_with(slice, budget)?;
            pace.after(ran, self.in_flight());
        };
        while self.awaiting_reply() && self.next_job_with(Duration::ZERO, Budget::DRAIN)? {
            pace.after(true, self.in_flight());
        }
        Ok(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::WorkerBuilder;

    fn options(max_jobs: u64, max_idle: Option<Duration>, prefetch: u32) -> WorkerOptions {
        let mut builder = WorkerBuilder::default()
            .servers("127.0.0.1:4730")
            .max_jobs(max_jobs)
            .prefetch(prefetch);
        if let Some(idle) = max_idle {
            builder = builder.max_idle(idle);
        }
        builder.build().expect("worker").options
    }

    #[test]
    fn local_pace_counts_jobs_and_narrows_the_budget_at_the_end() {
        let mut pace = LocalPace::new(&options(3, None, 1), Instant::now());
        let (budget, slice) = pace.next(0).expect("go on");
        assert_eq!(budget, Budget { now: 2, after: 2 });
        assert_eq!(slice, IDLE_SLICE);
        pace.after(true, 0);
        pace.after(false, 0);
        assert_eq!(pace.next(0).expect("go on").0, Budget { now: 2, after: 1 });
        pace.after(true, 0);
        assert_eq!(pace.next(0).expect("go on").0, Budget { now: 1, after: 0 });
        pace.after(true, 0);
        assert_eq!(pace.next(0), Err(StopReason::MaxJobs));
        assert_eq!(pace.jobs, 3);
    }

    #[test]
    fn local_pace_without_limits_keeps_the_full_budget() {
        let mut pace = LocalPace::new(&options(0, None, 0), Instant::now());
        for _ in 0..5 {
            assert_eq!(pace.next(0).expect("go on").0, Budget { now: 1, after: 1 });
            pace.after(true, 0);
        }
    }

    #[test]
    fn local_pace_ends_after_the_idle_limit_and_waits_no_longer_than_it() {
        let idle = Duration::from_millis(50);
        let started = Instant::now();
        let mut pace = LocalPace::new(&options(0, Some(idle), 0), started);
        let (_, slice) = pace.next(0).expect("not idle yet");
        assert!(slice <= idle);
        while started.elapsed() < idle {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(pace.next(0), Err(StopReason::Idle));
        pace.after(true, 0);
        assert!(pace.next(0).is_ok(), "a job resets the idle clock");
    }
}
