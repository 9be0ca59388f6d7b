//! What a task set reports: task identities, outcomes and the summary of a wait.

use crate::error::{Error, Result};
use crate::net::JobHandle;

/// Identifies a task within its [`TaskSet`](crate::TaskSet), as returned by [`TaskSet::add_task`](crate::TaskSet::add_task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(super) usize);

impl TaskId {
    /// The task's position in the set (0 for the first task added).
    ///
    /// ```no_run
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// let first = set.add_task(Task::new("reverse", "one"))?;
    /// let second = set.add_task(Task::new("reverse", "two"))?;
    /// assert_eq!((first.index(), second.index()), (0, 1));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn index(self) -> usize {
        self.0
    }
}

/// How a task ended, read with [`TaskSet::outcome`](crate::TaskSet::outcome) or [`TaskSet::take_outcome`](crate::TaskSet::take_outcome).
///
/// ```no_run
/// use std::time::Duration;
/// use gearman_sync::{Client, Task, TaskOutcome};
/// let mut client = Client::new("127.0.0.1:4730")?;
/// let mut set = client.task_set();
/// let id = set.add_task(Task::new("reverse", "hello"))?;
/// set.wait(Duration::from_secs(10))?;
/// match set.take_outcome(id) {
///     Some(TaskOutcome::Completed(result)) => println!("{}", String::from_utf8_lossy(&result)),
///     Some(TaskOutcome::Submitted(handle)) => println!("queued as {handle}"),
///     Some(TaskOutcome::Failed(error)) => eprintln!("failed: {error}"),
///     None => unreachable!("wait returns once every task has an outcome"),
/// }
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug)]
pub enum TaskOutcome {
    /// A foreground job completed with this result.
    Completed(Vec<u8>),
    /// A background job was created (nothing more is reported for it).
    Submitted(JobHandle),
    /// The task did not succeed: [`Error::JobFailed`], [`Error::JobException`],
    /// [`Error::Server`], [`Error::SubmitUnconfirmed`], [`Error::JobLost`], [`Error::Timeout`] ...
    Failed(Error),
}

impl TaskOutcome {
    /// The result of a completed foreground job (for a background task, the handle's bytes),
    /// or the error.
    ///
    /// ```
    /// use gearman_sync::{Error, TaskOutcome};
    /// assert_eq!(TaskOutcome::Completed(b"olleh".to_vec()).into_result()?, b"olleh");
    /// let failed = TaskOutcome::Failed(Error::ConnectionClosed { server: "gm1:4730".into() });
    /// assert!(matches!(failed.into_result(), Err(Error::ConnectionClosed { .. })));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn into_result(self) -> Result<Vec<u8>> {
        match self {
            TaskOutcome::Completed(data) => Ok(data),
            TaskOutcome::Submitted(handle) => Ok(handle.as_bytes().to_vec()),
            TaskOutcome::Failed(error) => Err(error),
        }
    }
}

/// What one [`TaskSet::wait`](crate::TaskSet::wait) saw: tasks that ended since the previous call, and tasks still
/// open at its deadline.
///
/// ```no_run
/// use std::time::Duration;
/// use gearman_sync::{Client, Task};
/// let mut client = Client::new("127.0.0.1:4730")?;
/// let mut set = client.task_set();
/// for word in ["a", "b", "c"] {
///     set.add_task(Task::new("reverse", word))?;
/// }
/// let summary = set.wait(Duration::from_secs(10))?;
/// for id in summary.failed.iter().chain(&summary.timed_out) {
///     eprintln!("task {} did not complete", id.index());
/// }
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitSummary {
    /// Completed foreground tasks and created background tasks.
    pub completed: Vec<TaskId>,
    /// Tasks that failed (WORK_FAIL, WORK_EXCEPTION, server ERROR, lost connection ...).
    pub failed: Vec<TaskId>,
    /// Tasks still open when the deadline passed (they stay open; see [`TaskSet::abandon`](crate::TaskSet::abandon)).
    pub timed_out: Vec<TaskId>,
}

impl WaitSummary {
    /// True when every task that ended in this wait completed.
    ///
    /// ```
    /// use gearman_sync::WaitSummary;
    /// assert!(WaitSummary::default().all_completed());
    /// ```
    pub fn all_completed(&self) -> bool {
        self.failed.is_empty() && self.timed_out.is_empty()
    }
}
