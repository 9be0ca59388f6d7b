//! A set of tasks submitted together (pipelined) and waited on together.

use std::fmt;
use std::time::{Duration, Instant};

use super::router::{Route, Router, State};
use super::task::Task;
use super::unique::UniqueMode;
use super::Client;
use crate::error::{Error, Result, Waiting};
use crate::net::JobHandle;
use crate::net::{read_any, Arrival, WaitBuffers};
use crate::protocol::{parse_decimal, Packet};

/// Identifies a task within its [`TaskSet`], as returned by [`TaskSet::add_task`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(usize);

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

/// How a task ended, read with [`TaskSet::outcome`] or [`TaskSet::take_outcome`].
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

/// What one [`TaskSet::wait`] saw: tasks that ended since the previous call, and tasks still
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
    /// Tasks still open when the deadline passed (they stay open; see [`TaskSet::abandon`]).
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
    reported: usize,
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
    scratch_servers: Vec<usize>,
    arrivals: Vec<Arrival>,
    wait_buffers: WaitBuffers,
}

impl Tables {
    fn reset(&mut self, servers: usize) {
        self.router.reset(servers);
        self.generations.clear();
        self.generations.resize(servers, None);
        self.finished.clear();
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

    /// Checks `task`, fills in its unique, and adds it (not yet sent); returns its id.
    fn prepare(&mut self, task: Task<'a>) -> Result<usize> {
        let wire_function = self.client.wire_function(&task.function)?;
        let unique = match &task.unique {
            Some(unique) => unique.clone(),
            None => self
                .client
                .options
                .unique_mode
                .generate(&wire_function, &task.workload)
                .unwrap_or_default(),
        };
        crate::protocol::validate::unique(&unique)?;
        let id = self.tables.router.push(task.background);
        self.entries.push(Entry {
            task,
            function: wire_function,
            unique,
            attempts: 0,
            last_warning: None,
            submitted: Instant::now(),
            outcome: None,
            succeeded: false,
        });
        Ok(id)
    }

    /// Picks a server for entry `id` and queues its submission there (not flushed; a tail of
    /// 256 KiB or more is written at once). Returns the server.
    fn queue_submission(&mut self, id: usize) -> Result<usize> {
        let unique = &self.entries[id].unique;
        let routing_key = (!unique.is_empty()).then_some(unique.as_slice());
        let server = self.client.pool.checkout(routing_key)?;
        self.check_connection(server);
        let entry = &self.entries[id];
        let Some(conn) = self.client.pool.connection(server) else {
            return Err(Error::NoJobServers(self.client.pool.failures()));
        };
        let task = &entry.task;
        let kind = task.submit_type();
        let queued = match task.run_at {
            Some(at) => {
                let epoch = at.to_string();
                conn.queue_request(
                    kind,
                    &[
                        &entry.function,
                        &entry.unique,
                        epoch.as_bytes(),
                        &task.workload,
                    ],
                )
            }
            None => conn.queue_request(kind, &[&entry.function, &entry.unique, &task.workload]),
        };
        match queued {
            Ok(()) => {
                let entry = &mut self.entries[id];
                entry.attempts += 1;
                entry.last_warning = None;
                entry.submitted = Instant::now();
                Ok(server)
            }
            Err(error @ Error::InvalidArgument(_)) => Err(error),
            Err(error) => {
                // A large tail is written at once; the write failed, so the submission did
                // not get out whole and gearmand drops it.
                let reason = Error::ConnectionClosed {
                    server: self.server_name(server),
                };
                self.fail_server(server, error);
                Err(reason)
            }
        }
    }

    /// [`queue_submission`](TaskSet::queue_submission), moving on to the next server when a
    /// large submission could not be written.
    fn queue_somewhere(&mut self, id: usize) -> Result<usize> {
        let mut last = None;
        for _ in 0..self.client.pool.len().max(1) {
            match self.queue_submission(id) {
                Err(error @ Error::ConnectionClosed { .. }) => last = Some(error),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| Error::NoJobServers(self.client.pool.failures())))
    }

    /// Writes what is queued for `server`; a failure ends its tasks honestly.
    fn flush_server(&mut self, server: usize) {
        let flushed = match self.client.pool.connection(server) {
            Some(conn) => conn.flush(),
            None => Ok(()),
        };
        if let Err(error) = flushed {
            self.fail_server(server, error);
        }
    }

    /// Sends entry `id` to a healthy server at once; on a failed write (the submission did
    /// not get out whole, so gearmand drops it) tries the next server.
    fn submit(&mut self, id: usize) -> Result<()> {
        for _ in 0..self.client.pool.len().max(1) {
            let server = self.queue_somewhere(id)?;
            let flushed = match self.client.pool.connection(server) {
                Some(conn) => conn.flush(),
                None => Ok(()),
            };
            match flushed {
                Ok(()) => {
                    self.tables.router.submitted(id, server);
                    return Ok(());
                }
                Err(error) => self.fail_server(server, error),
            }
        }
        Err(Error::NoJobServers(self.client.pool.failures()))
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
        loop {
            self.dispatch_all_buffered();
            if self.tables.router.open() == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.pump(Some(deadline - now))?;
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

    /// Waits on the connections that have open tasks (see [`read_any`]) and dispatches what
    /// arrived.
    fn pump(&mut self, timeout: Option<Duration>) -> Result<()> {
        let mut servers = std::mem::take(&mut self.tables.scratch_servers);
        servers.clear();
        for server in 0..self.tables.router.servers() {
            if self.tables.router.has_open(server) {
                self.check_connection(server);
                // Ended, or sent elsewhere again: the caller looks afresh.
                if self.tables.router.has_open(server)
                    && self.client.pool.generation(server).is_some()
                {
                    servers.push(server);
                }
            }
        }
        let mut arrivals = std::mem::take(&mut self.tables.arrivals);
        let waited = match servers[..] {
            [] => Ok(()),
            [server] => match self.client.pool.connection(server) {
                Some(conn) => read_any(
                    &mut [conn],
                    timeout,
                    &mut self.tables.wait_buffers,
                    &mut arrivals,
                ),
                None => Ok(()),
            },
            _ => {
                let mut conns = self.client.pool.connections(&servers);
                read_any(
                    &mut conns,
                    timeout,
                    &mut self.tables.wait_buffers,
                    &mut arrivals,
                )
            }
        };
        for (&server, arrival) in servers.iter().zip(arrivals.drain(..)) {
            match arrival {
                Arrival::Nothing => {}
                Arrival::Read => self.dispatch_buffered(server),
                Arrival::Failed(error) => self.fail_server(server, error),
            }
        }
        self.tables.arrivals = arrivals;
        self.tables.scratch_servers = servers;
        waited
    }

    fn dispatch_all_buffered(&mut self) {
        for server in 0..self.tables.router.servers() {
            if self.tables.router.has_open(server) {
                self.dispatch_buffered(server);
            }
        }
    }

    /// Decodes and handles every complete packet buffered for `server`.
    fn dispatch_buffered(&mut self, server: usize) {
        loop {
            let next = match self.client.pool.connection(server) {
                Some(conn) if conn.buffered() > 0 => conn.next_buffered(),
                _ => return,
            };
            match next {
                Ok(Some(packet)) => self.handle_packet(server, packet),
                Ok(None) => return,
                Err(error) => {
                    self.fail_server(server, error);
                    return;
                }
            }
        }
    }

    fn handle_packet(&mut self, server: usize, packet: Packet) {
        match self.tables.router.route(server, &packet) {
            Route::Created { id, background } => {
                if !background && self.entries[id].task.callbacks.on_created.is_none() {
                    return; // a running foreground task nobody asked a handle for
                }
                let job = JobHandle::new(
                    self.client.pool.server(server).clone(),
                    packet.arg(0).to_vec(),
                );
                if let Some(callback) = self.entries[id].task.callbacks.on_created.as_mut() {
                    callback(&job);
                }
                if background {
                    self.finish(id, TaskOutcome::Submitted(job));
                }
            }
            Route::Data(id) => {
                if let Some(callback) = self.entries[id].task.callbacks.on_data.as_mut() {
                    callback(packet.arg(1));
                }
            }
            Route::Warning(id) => {
                let entry = &mut self.entries[id];
                if let Some(callback) = entry.task.callbacks.on_warning.as_mut() {
                    callback(packet.arg(1));
                }
                entry.last_warning = Some(packet.into_tail());
            }
            Route::Status(id) => {
                if let Some(callback) = self.entries[id].task.callbacks.on_status.as_mut() {
                    let numerator = parse_decimal(packet.arg(1)).unwrap_or(0);
                    let denominator = parse_decimal(packet.arg(2)).unwrap_or(0);
                    callback(numerator, denominator);
                }
            }
            Route::Complete(id) => {
                let data = packet.into_tail();
                if let Some(callback) = self.entries[id].task.callbacks.on_complete.as_mut() {
                    callback(&data);
                }
                self.finish(id, TaskOutcome::Completed(data));
            }
            Route::Fail(id) => self.on_work_fail(id),
            Route::Exception(id) => {
                let handle = self.job_handle(id);
                let data = packet.into_tail();
                if let Some(callback) = self.entries[id].task.callbacks.on_exception.as_mut() {
                    callback(&data);
                }
                self.finish(
                    id,
                    TaskOutcome::Failed(Error::JobException { handle, data }),
                );
            }
            Route::Error(id) => {
                let error = Error::from_error_packet(self.client.pool.server(server), &packet);
                self.finish(id, TaskOutcome::Failed(error));
            }
            Route::Stale => log::debug!(
                "{}: {} for a task nobody waits for; ignored",
                self.server_name(server),
                packet.kind()
            ),
            Route::Unrouted(kind) => log::warn!(
                "{}: unexpected {kind} in a task set; ignored",
                self.server_name(server)
            ),
        }
    }

    /// True (after firing `on_retry`) when task `id` has a retry left.
    fn take_retry(&mut self, id: usize) -> bool {
        let entry = &mut self.entries[id];
        let retries_used = entry.attempts.saturating_sub(1);
        if retries_used >= entry.task.retries {
            return false;
        }
        if let Some(callback) = entry.task.callbacks.on_retry.as_mut() {
            callback(retries_used + 1);
        }
        true
    }

    /// Sends task `id` again; a failure to send ends it with that error.
    fn resubmit(&mut self, id: usize) {
        if let Err(error) = self.submit(id) {
            self.finish(id, TaskOutcome::Failed(error));
        }
    }

    fn on_work_fail(&mut self, id: usize) {
        if self.take_retry(id) {
            self.resubmit(id);
            return;
        }
        if let Some(callback) = self.entries[id].task.callbacks.on_fail.as_mut() {
            callback();
        }
        let handle = self.job_handle(id);
        let warning = self.entries[id].last_warning.take();
        self.finish(
            id,
            TaskOutcome::Failed(Error::JobFailed { handle, warning }),
        );
    }

    fn finish(&mut self, id: usize, outcome: TaskOutcome) {
        let entry = &mut self.entries[id];
        entry.succeeded = !matches!(outcome, TaskOutcome::Failed(_));
        entry.outcome = Some(outcome);
        self.tables.finished.push(id);
    }

    /// Ends the tasks sent on an earlier connection to `server` when the pool has closed or
    /// replaced it meanwhile (a reconnect after an idle check, another user of the pool), so
    /// that replies on the new connection are never matched with them.
    fn check_connection(&mut self, server: usize) {
        let current = self.client.pool.generation(server);
        let owed = self.tables.router.has_open(server) || self.tables.router.owes_replies(server);
        if owed && current != self.tables.generations[server] {
            let reason = match current {
                Some(_) => "the connection was replaced".to_owned(),
                None => "the connection was closed".to_owned(),
            };
            self.connection_gone(server, &reason);
        }
        self.tables.generations[server] = current;
    }

    /// Drops a failed connection and deals honestly with every task that depended on it: a
    /// task with a retry left is sent again (to another server when there is one, with a fresh
    /// unique unless the caller chose it, so it cannot join the job abandoned on this
    /// connection); the others end with [`Error::SubmitUnconfirmed`] or [`Error::JobLost`].
    fn fail_server(&mut self, server: usize, error: Error) {
        self.client.pool.mark_failed(server, &error);
        self.tables.generations[server] = None;
        self.connection_gone(server, &error.to_string());
    }

    /// The connection the open tasks on `server` were sent on is gone (see
    /// [`fail_server`](TaskSet::fail_server) for what happens to them).
    fn connection_gone(&mut self, server: usize, reason: &str) {
        let name = self.server_name(server);
        for (id, state) in self.tables.router.connection_lost(server) {
            if self.take_retry(id) {
                if self.entries[id].task.unique.is_none() {
                    if let Some(fresh) = UniqueMode::Random.generate(b"", b"") {
                        self.entries[id].unique = fresh;
                    }
                }
                self.resubmit(id);
                continue;
            }
            let error = match state {
                State::AwaitingCreated => Error::SubmitUnconfirmed {
                    server: name.clone(),
                    reason: reason.to_owned(),
                },
                _ => Error::JobLost {
                    handle: self.job_handle(id),
                    reason: reason.to_owned(),
                },
            };
            self.finish(id, TaskOutcome::Failed(error));
        }
    }

    fn server_name(&self, server: usize) -> String {
        self.client.pool.server(server).to_string()
    }

    /// Task `id`'s handle, with the server that issued it.
    fn job_handle(&self, id: usize) -> JobHandle {
        let server = self.client.pool.server(self.tables.router.server(id));
        JobHandle::new(server.clone(), self.tables.router.handle(id))
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
