//! Taking a task set's outcomes one by one as they finish ([`TaskSet::next_finished`],
//! [`TaskSet::finished`]) and counting where it stands ([`TaskSet::progress`]).

use std::time::{Duration, Instant};

use super::{TaskId, TaskOutcome, TaskSet};
use crate::error::Result;

/// Where a [`TaskSet`] stands, for a progress line: read it at any time with
/// [`TaskSet::progress`].
///
/// ```
/// use gearman_sync::Progress;
/// let progress = Progress { submitted: 10, done: 4, failed: 1, open: 6 };
/// assert_eq!(format!("{progress}"), "4/10 done (1 failed), 6 open");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Tasks added to the set.
    pub submitted: usize,
    /// Tasks that ended, well or not.
    pub done: usize,
    /// Of those, the tasks that did not succeed.
    pub failed: usize,
    /// Tasks not ended yet.
    pub open: usize,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} done", self.done, self.submitted)?;
        if self.failed > 0 {
            write!(f, " ({} failed)", self.failed)?;
        }
        write!(f, ", {} open", self.open)
    }
}

impl<'c, 'a> TaskSet<'c, 'a> {
    /// Counts of submitted, done, failed and open tasks, without waiting.
    ///
    /// ```no_run
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// set.add_task(Task::new("reverse", "hello"))?;
    /// let progress = set.progress();
    /// assert_eq!((progress.submitted, progress.done + progress.open), (1, 1));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn progress(&self) -> Progress {
        Progress {
            submitted: self.entries.len(),
            done: self.tables.finished.len(),
            failed: self.tables.failed,
            open: self.tables.router.open(),
        }
    }

    /// The next task to finish, with its outcome (taken out of the set): one that finished
    /// earlier and was not taken yet, or else the first to finish within `timeout`.
    ///
    /// `None` when `timeout` passed first, or when no task is open (tell them apart with
    /// [`open`](TaskSet::open)). A zero `timeout` polls: it takes what has arrived without
    /// blocking. Tasks still open at the timeout stay open and are not reported:
    /// call again, or [`abandon`](TaskSet::abandon) them. Handles replies and fires callbacks
    /// on this thread; blocks in `poll(2)`, never spinning. `Err` only for a failed `poll`.
    /// Outcomes already taken with [`take_outcome`](TaskSet::take_outcome) are skipped.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// set.add_tasks(["slow", "fast"].map(|word| Task::new("reverse", word)))?;
    /// while set.open() > 0 {
    ///     match set.next_finished(Duration::from_millis(200))? {
    ///         Some((id, outcome)) => println!("task {} ended: {:?}", id.index(), outcome.into_result()),
    ///         None => eprintln!("{}", set.progress()), // still waiting
    ///     }
    /// }
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn next_finished(&mut self, timeout: Duration) -> Result<Option<(TaskId, TaskOutcome)>> {
        let deadline = Instant::now() + timeout;
        let mut looked = false;
        loop {
            if let Some(finished) = self.take_next_finished() {
                return Ok(Some(finished));
            }
            self.dispatch_all_buffered();
            if let Some(finished) = self.take_next_finished() {
                return Ok(Some(finished));
            }
            let now = Instant::now();
            if self.tables.router.open() == 0 || (looked && now >= deadline) {
                return Ok(None);
            }
            // At least one look at the sockets, even with no time left: a zero timeout
            // takes what has arrived without blocking.
            self.pump(Some(deadline.saturating_duration_since(now)))?;
            looked = true;
        }
    }

    /// The outcomes in the order the tasks finish, until every task has ended or `timeout`
    /// (the overall deadline) passes; then the tasks still open are
    /// [abandoned](TaskSet::abandon) and come last, failed with [`Error::Timeout`] or
    /// [`Error::SubmitUnconfirmed`]. So every task not taken before is yielded exactly once.
    /// An `Err` item (a failed `poll`) abandons the open tasks, which the following items
    /// yield: keep iterating after it to see them (a `?` on it gives them up).
    ///
    /// [`Error::Timeout`]: crate::Error::Timeout
    /// [`Error::SubmitUnconfirmed`]: crate::Error::SubmitUnconfirmed
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// set.add_tasks((0..100).map(|n| Task::new("reverse", n.to_string())))?;
    /// let mut results = vec![None; 100];
    /// for finished in set.finished(Duration::from_secs(60)) {
    ///     let (id, outcome) = finished?;
    ///     results[id.index()] = Some(outcome.into_result());
    /// }
    /// assert!(results.iter().all(Option::is_some));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn finished(&mut self, timeout: Duration) -> Finished<'_, 'c, 'a> {
        Finished {
            deadline: Instant::now() + timeout,
            set: self,
            abandoned: false,
        }
    }

    fn take_next_finished(&mut self) -> Option<(TaskId, TaskOutcome)> {
        while let Some(&id) = self.tables.finished.get(self.yielded) {
            self.yielded += 1;
            if let Some(outcome) = self.entries[id].outcome.take() {
                return Some((TaskId(id), outcome));
            }
        }
        None
    }
}

/// The outcomes of a [`TaskSet`] as they finish, from [`TaskSet::finished`].
///
/// ```no_run
/// use std::time::Duration;
/// use gearman_sync::{Client, Task};
/// let mut client = Client::new("127.0.0.1:4730")?;
/// let mut set = client.task_set();
/// set.add_task(Task::new("reverse", "hello"))?;
/// let outcomes: Vec<_> = set.finished(Duration::from_secs(10)).collect::<Result<_, _>>()?;
/// assert_eq!(outcomes.len(), 1);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug)]
pub struct Finished<'s, 'c, 'a> {
    set: &'s mut TaskSet<'c, 'a>,
    deadline: Instant,
    abandoned: bool,
}

impl Finished<'_, '_, '_> {
    /// Where the set stands now (see [`TaskSet::progress`]).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// set.add_tasks(["a", "b"].map(|word| Task::new("reverse", word)))?;
    /// let mut finished = set.finished(Duration::from_secs(10));
    /// while let Some(next) = finished.next() {
    ///     next?;
    ///     eprint!("\r{}", finished.progress());
    /// }
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn progress(&self) -> Progress {
        self.set.progress()
    }
}

impl Iterator for Finished<'_, '_, '_> {
    type Item = Result<(TaskId, TaskOutcome)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.set.next_finished(left) {
                Ok(Some(finished)) => return Some(Ok(finished)),
                Ok(None) if self.set.open() == 0 => return None,
                Ok(None) if self.abandoned => return None,
                Ok(None) => {
                    self.abandoned = true;
                    self.set.abandon();
                }
                Err(error) => {
                    self.abandoned = true;
                    self.set.abandon();
                    return Some(Err(error));
                }
            }
        }
    }
}
