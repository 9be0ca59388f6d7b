//! A set of tasks submitted together (pipelined) and waited on together: the public API and
//! the bookkeeping here; sending in `submit.rs`, waiting and dispatching in `dispatch.rs`,
//! connection loss in `failover.rs`, the result types in `outcome.rs`.

mod dispatch;
mod failover;
mod outcome;
mod progress;
mod submit;

pub use outcome::{TaskId, TaskOutcome, WaitSummary};
pub use progress::{Finished, Progress};

use std::fmt;
use std::time::{Duration, Instant};

use super::router::{Router, State};
use super::task::Task;
use super::Client;
use crate::error::{Error, Result, Waiting};
use crate::net::JobHandle;
use crate::net::{Arrival, WaitBuffers};

struct Entry<'a> {
    task: Task<'a>,
    /// The function name as sent (with the client's prefix).
    function: Vec<u8>,
    unique: Vec<u8>,
    attempts: u32,
    /// The data of the latest WORK_WARNING of the current attempt.
    last_warning: Option<Vec<u8>>,
    submitted: Instant,
    outcome: Option<TaskOutcome>,
    /// The task ended well (completed, or created in the background).
    succeeded: bool,
}

/// Tasks submitted together and waited on together (gearman-ruby's `TaskSet`, PECL's
/// `addTask`/`runTasks`).
///
/// [`add_task`](TaskSet::add_task) sends at once, without waiting for `JOB_CREATED`, spreading
/// tasks over the pool; [`wait`](TaskSet::wait) drives every connection until all tasks end or
/// the deadline passes. Replies are matched to tasks by a per-connection queue (`JOB_CREATED`,
/// `ERROR`) and by (server, handle) for `WORK_*`, so the cost per packet does not grow with the
/// number of tasks.
///
/// Callbacks of several tasks that share state borrow it through a `RefCell` (each closure
/// is a separate borrower); alternatively read each task's [`TaskOutcome`] after waiting.
///
/// ```no_run
/// use std::cell::RefCell;
/// use std::time::Duration;
/// use gearman_sync::{Client, Task, TaskOutcome};
/// let mut client = Client::new("127.0.0.1:4730")?;
/// let results = RefCell::new(Vec::new());
/// let mut set = client.task_set();
/// let mut ids = Vec::new();
/// for word in ["one", "two", "three"] {
///     let task = Task::new("reverse", word).on_complete(|r| results.borrow_mut().push(r.to_vec()));
///     ids.push(set.add_task(task)?);
/// }
/// let summary = set.wait(Duration::from_secs(10))?;
/// assert!(summary.all_completed());
/// assert!(matches!(set.outcome(ids[0]), Some(TaskOutcome::Completed(r)) if r == b"eno"));
/// drop(set);
/// assert_eq!(results.into_inner().len(), 3);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
pub struct TaskSet<'c, 'a> {
    client: &'c mut Client,
    entries: Vec<Entry<'a>>,
    tables: Tables,
    /// Finished tasks already reported by `wait`.
    reported: usize,
    /// Finished tasks already handed out by `next_finished`.
    yielded: usize,
    since_pump: usize,
}

/// A task set's bookkeeping that holds no task: lent by the client and given back on drop, so
/// one job after another (`do_task`) does not allocate it each time.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    router: Router,
    /// Per server, the pool's connection generation the router's open tasks were sent on.
    generations: Vec<Option<u64>>,
    finished: Vec<usize>,
    /// How many of the finished tasks did not succeed.
    failed: usize,
    scratch_servers: Vec<usize>,
    arrivals: Vec<Arrival>,
    wait_buffers: WaitBuffers,
}

impl Entry<'_> {
    /// True when the task may be sent again ([`Task::retries`](crate::Task::retries)).
    fn retries_left(&self) -> bool {
        self.attempts.saturating_sub(1) < self.task.retries
    }
}

impl Tables {
    fn reset(&mut self, servers: usize) {
        self.router.reset(servers);
        self.generations.clear();
        self.generations.resize(servers, None);
        self.finished.clear();
        self.failed = 0;
    }
}

impl fmt::Debug for TaskSet<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSet")
            .field("tasks", &self.entries.len())
            .field("open", &self.tables.router.open())
            .finish_non_exhaustive()
    }
}

/// Read replies that are already waiting after this many submissions, so a long pipeline
/// never leaves the server's replies piling up unread.
const PUMP_EVERY: usize = 256;
/// [`TaskSet::add_tasks`] writes a connection's queued submissions once they reach this size.
const BATCH_WRITE: usize = 64 * 1024;

impl<'c, 'a> TaskSet<'c, 'a> {
    pub(crate) fn new(client: &'c mut Client) -> TaskSet<'c, 'a> {
        let servers = client.pool.len();
        let mut tables = client.spare_tables.take().unwrap_or_default();
        tables.reset(servers);
        TaskSet {
            client,
            entries: Vec::new(),
            tables,
            reported: 0,
            yielded: 0,
            since_pump: 0,
        }
    }

    /// Submits `task` now and returns its id. Fails without sending anything on invalid
    /// arguments ([`Error::InvalidArgument`]) or when no server is reachable
    /// ([`Error::NoJobServers`]).
    ///
    /// Does not wait for `JOB_CREATED`; it blocks only to connect (and probe) a server and to
    /// write the submission, and every 256 submissions reads replies that are already waiting.
    ///
    /// ```no_run
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// let id = set.add_task(Task::new("reverse", "hello"))?;
    /// assert_eq!(set.open(), 1);
    /// # drop(id);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn add_task(&mut self, task: Task<'a>) -> Result<TaskId> {
        let id = self.prepare(task)?;
        if let Err(error) = self.submit(id) {
            self.entries.pop();
            self.tables.router.pop_idle();
            return Err(error);
        }
        self.since_pump += 1;
        if self.since_pump >= PUMP_EVERY {
            self.since_pump = 0;
            self.pump(Some(Duration::ZERO))?;
        }
        Ok(TaskId(id))
    }

    /// Submits many tasks with one write per connection per 64 KiB of submissions (instead of
    /// one write per task), reading replies that are already waiting in between. Returns their
    /// ids in order.
    ///
    /// On an error ([`Error::InvalidArgument`], [`Error::NoJobServers`]) the tasks before the
    /// failing one stay added and sent (ids `0..len()`). A write that fails after several
    /// submissions were queued ends those honestly ([`Error::SubmitUnconfirmed`], or a retry
    /// when the task has one), since part of the write may have reached the server.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// let ids = set.add_tasks((0..1000).map(|n| Task::new("reverse", n.to_string())))?;
    /// assert_eq!(ids.len(), 1000);
    /// set.wait(Duration::from_secs(30))?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn add_tasks(&mut self, tasks: impl IntoIterator<Item = Task<'a>>) -> Result<Vec<TaskId>> {
        let mut ids = Vec::new();
        let mut dirty = vec![false; self.tables.router.servers()];
        let mut result = Ok(());
        for task in tasks {
            let id = match self.prepare(task) {
                Ok(id) => id,
                Err(error) => {
                    result = Err(error);
                    break;
                }
            };
            let server = match self.queue_somewhere(id) {
                Ok(server) => server,
                Err(error) => {
                    self.entries.pop();
                    self.tables.router.pop_idle();
                    result = Err(error);
                    break;
                }
            };
            self.tables.router.submitted(id, server);
            dirty[server] = true;
            ids.push(TaskId(id));
            let full = self
                .client
                .pool
                .connection(server)
                .is_some_and(|conn| conn.pending_write() >= BATCH_WRITE);
            if full {
                dirty[server] = false;
                self.flush_server(server);
                if let Err(error) = self.pump(Some(Duration::ZERO)) {
                    result = Err(error);
                    break;
                }
            }
        }
        for (server, dirty) in dirty.into_iter().enumerate() {
            if dirty {
                self.flush_server(server);
            }
        }
        result.map(|()| ids)
    }

    /// Waits until every task has ended or `timeout` passes, handling replies and firing
    /// callbacks on this thread; blocks in `poll(2)` on the connections with open tasks, never
    /// spinning. With no open task it returns at once.
    ///
    /// Returns the tasks that ended since the previous `wait` (completed or failed) and the
    /// tasks still open at the deadline (`timed_out`). Open tasks stay open: call `wait` again
    /// to keep waiting, or [`abandon`](TaskSet::abandon) to end them with an error. Failures
    /// of single tasks are in the summary, not the `Result`; `Err` only for a failed `poll`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// set.add_task(Task::new("reverse", "hello"))?;
    /// let summary = set.wait(Duration::from_secs(30))?;
    /// assert_eq!(summary.completed.len() + summary.failed.len() + summary.timed_out.len(), 1);
    /// set.abandon(); // end whatever is still open
    /// assert_eq!(set.open(), 0);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn wait(&mut self, timeout: Duration) -> Result<WaitSummary> {
        let deadline = Instant::now() + timeout;
        let mut looked = false;
        loop {
            self.dispatch_all_buffered();
            if self.tables.router.open() == 0 {
                break;
            }
            let now = Instant::now();
            if looked && now >= deadline {
                break;
            }
            // At least one look at the sockets: a zero timeout polls without blocking.
            self.pump(Some(deadline.saturating_duration_since(now)))?;
            looked = true;
        }
        let mut summary = WaitSummary::default();
        for &id in &self.tables.finished[self.reported..] {
            if self.entries[id].succeeded {
                summary.completed.push(TaskId(id));
            } else {
                summary.failed.push(TaskId(id));
            }
        }
        self.reported = self.tables.finished.len();
        if self.tables.router.open() > 0 {
            summary.timed_out = (0..self.entries.len())
                .filter(|&id| {
                    matches!(
                        self.tables.router.state(id),
                        State::AwaitingCreated | State::Running
                    )
                })
                .map(TaskId)
                .collect();
        }
        Ok(summary)
    }

    /// Ends every open task: one never confirmed by `JOB_CREATED` with
    /// [`Error::SubmitUnconfirmed`] (it may exist on the server), a running one with
    /// [`Error::Timeout`]. Their late replies are ignored. Returns how many were ended.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Error, Task, TaskOutcome};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// let id = set.add_task(Task::new("slow", "x"))?;
    /// set.wait(Duration::from_millis(100))?;
    /// if set.abandon() > 0 {
    ///     assert!(matches!(set.outcome(id), Some(TaskOutcome::Failed(Error::Timeout { .. }))));
    /// }
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn abandon(&mut self) -> usize {
        let mut ended = 0;
        for id in 0..self.entries.len() {
            let waited = self.entries[id].submitted.elapsed();
            let server = self.tables.router.server(id);
            let error = match self.tables.router.abandon(id) {
                State::AwaitingCreated => Error::SubmitUnconfirmed {
                    server: self.server_name(server),
                    reason: format!("no JOB_CREATED after {waited:?}"),
                },
                State::Running => Error::Timeout {
                    waiting_for: Waiting::JobResult,
                    timeout: waited,
                },
                State::Idle | State::Done => continue,
            };
            self.finish(id, TaskOutcome::Failed(error));
            ended += 1;
        }
        ended
    }

    /// The outcome of a finished task (`None` while it is open or once taken).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task, TaskOutcome};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// let id = set.add_task(Task::new("reverse", "hello"))?;
    /// set.wait(Duration::from_secs(10))?;
    /// assert!(matches!(set.outcome(id), Some(TaskOutcome::Completed(r)) if r == b"olleh"));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn outcome(&self, id: TaskId) -> Option<&TaskOutcome> {
        self.entries.get(id.0)?.outcome.as_ref()
    }

    /// Takes a finished task's outcome out of the set (`None` while open or once taken).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// let id = set.add_task(Task::new("reverse", "hello"))?;
    /// set.wait(Duration::from_secs(10))?;
    /// let result = set.take_outcome(id).expect("finished").into_result()?;
    /// assert_eq!(result, b"olleh");
    /// assert!(set.take_outcome(id).is_none());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn take_outcome(&mut self, id: TaskId) -> Option<TaskOutcome> {
        self.entries.get_mut(id.0)?.outcome.take()
    }

    /// The job handle of a task, once the server created it (`None` before `JOB_CREATED`).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// let id = set.add_task(Task::new("cleanup", "tmp/*").background())?;
    /// set.wait(Duration::from_secs(10))?;
    /// if let Some(handle) = set.handle(id) {
    ///     println!("queued as {handle}");
    /// }
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn handle(&self, id: TaskId) -> Option<JobHandle> {
        let handle = self
            .tables
            .router
            .handle(self.entries.get(id.0).map(|_| id.0)?);
        if handle.is_empty() {
            return None;
        }
        Some(JobHandle::new(
            self.client
                .pool
                .server(self.tables.router.server(id.0))
                .clone(),
            handle.to_vec(),
        ))
    }

    /// Number of tasks added.
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// assert_eq!(client.task_set().len(), 0);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no task was added.
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// assert!(client.task_set().is_empty());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of tasks not yet ended.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let mut set = client.task_set();
    /// assert_eq!(set.open(), 0);
    /// assert!(set.wait(Duration::from_secs(1))?.all_completed()); // nothing open: returns at once
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn open(&self) -> usize {
        self.tables.router.open()
    }
}

impl Drop for TaskSet<'_, '_> {
    /// Connections that still owe a `JOB_CREATED` or `ERROR` to a task that gave up waiting
    /// are closed, so a later request can never be matched with that stale reply.
    fn drop(&mut self) {
        for server in 0..self.tables.router.servers() {
            if self.tables.router.owes_replies(server) {
                self.client.pool.discard(server);
            }
        }
        self.client.spare_tables = Some(std::mem::take(&mut self.tables));
    }
}
