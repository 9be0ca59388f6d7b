//! A job assigned to this worker, with the calls that report on it.

use std::fmt;
use std::time::{Duration, Instant};

use super::ExceptionMode;
use crate::error::{Error, Result};
use crate::net::{Connection, ServerAddr};
use crate::protocol::PacketType;

/// The terminal packet a job ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Terminal {
    Complete,
    Fail,
    Exception,
}

/// A job being run: its handle, function, unique and workload, and the connection it came on.
///
/// Progress (`send_status`, `send_data`, `send_warning`) goes out at once. The job ends with
/// exactly one terminal packet: the handler's return value, or an explicit
/// [`complete`](Job::complete) / [`fail`](Job::fail) / [`exception`](Job::exception) for
/// handlers that stream; anything sent after that is refused with [`Error::JobFinished`].
/// If the connection that assigned the job dies, every later call fails with
/// [`Error::JobConnectionLost`]: nothing is ever sent for it on another connection.
///
/// A `Job` exists only inside a handler registered with
/// [`Worker::add_ability`](crate::Worker::add_ability).
///
/// ```no_run
/// use gearman_sync::Worker;
/// let mut worker = Worker::new("127.0.0.1:4730")?;
/// worker.add_ability("wordcount", |job| {
///     let words = job.workload().split(|&b| b == b' ').filter(|w| !w.is_empty()).count();
///     Ok(words.to_string().into_bytes())
/// })?;
/// worker.work()?;
/// # Ok::<(), gearman_sync::Error>(())
/// ```
pub struct Job<'w> {
    pub(crate) conn: &'w mut Connection,
    pub(crate) handle: Vec<u8>,
    pub(crate) function: Vec<u8>,
    pub(crate) unique: Vec<u8>,
    pub(crate) reducer: Option<Vec<u8>>,
    pub(crate) workload: Vec<u8>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) terminal: Option<Terminal>,
    /// Data of an explicit `complete`/`exception`, kept for the worker's hooks.
    pub(crate) terminal_data: Vec<u8>,
    pub(crate) connection_lost: bool,
    pub(crate) exception_mode: ExceptionMode,
}

impl fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("server", &self.conn.server().to_string())
            .field("handle", &self.handle_str())
            .field("function", &String::from_utf8_lossy(&self.function))
            .field("unique", &String::from_utf8_lossy(&self.unique))
            .field("workload_len", &self.workload.len())
            .finish_non_exhaustive()
    }
}

impl<'w> Job<'w> {
    /// The job handle as the server sent it.
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("echo", |job| {
    ///     assert!(job.handle().starts_with(b"H:"));
    ///     Ok(job.workload().to_vec())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn handle(&self) -> &[u8] {
        &self.handle
    }

    /// The job handle as text (lossy UTF-8; gearmand handles are ASCII).
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("echo", |job| {
    ///     eprintln!("running {}", job.handle_str());
    ///     Ok(job.workload().to_vec())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn handle_str(&self) -> String {
        String::from_utf8_lossy(&self.handle).into_owned()
    }

    /// The function name (without the worker's prefix).
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("echo", |job| {
    ///     assert_eq!(job.function(), b"echo");
    ///     Ok(job.workload().to_vec())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn function(&self) -> &[u8] {
        &self.function
    }

    /// The client's unique ID (empty when none was given or when grabbing with plain GRAB_JOB).
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("import", |job| {
    ///     eprintln!("import {}", String::from_utf8_lossy(job.unique()));
    ///     Ok(Vec::new())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn unique(&self) -> &[u8] {
        &self.unique
    }

    /// The reducer of a map/reduce job (only with [`GrabMode::All`](crate::GrabMode::All);
    /// `None` otherwise).
    ///
    /// ```no_run
    /// use gearman_sync::{Worker, GrabMode};
    /// let mut worker = Worker::builder().servers("127.0.0.1:4730").grab_mode(GrabMode::All).build()?;
    /// worker.add_ability("map", |job| {
    ///     if let Some(reducer) = job.reducer() {
    ///         eprintln!("results go to {}", String::from_utf8_lossy(reducer));
    ///     }
    ///     Ok(job.workload().to_vec())
    /// })?;
    /// worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn reducer(&self) -> Option<&[u8]> {
        self.reducer.as_deref()
    }

    /// The workload bytes.
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("reverse", |job| Ok(job.workload().iter().rev().copied().collect()))?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn workload(&self) -> &[u8] {
        &self.workload
    }

    /// Moves the workload out (leaving it empty), avoiding a copy of large payloads.
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("uppercase", |job| {
    ///     let mut data = job.take_workload();
    ///     data.make_ascii_uppercase();
    ///     assert!(job.workload().is_empty());
    ///     Ok(data)
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn take_workload(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.workload)
    }

    /// The server that assigned the job.
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("echo", |job| {
    ///     eprintln!("job from {}", job.server());
    ///     Ok(job.workload().to_vec())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn server(&self) -> &ServerAddr {
        self.conn.server()
    }

    /// Time left under the ability's limit (`None` without a limit). A handler that loops
    /// should check it: a running closure cannot be interrupted from outside.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability_with_timeout("crunch", Duration::from_secs(10), |job| {
    ///     let mut rounds = 0u32;
    ///     while job.time_left().map_or(true, |left| left > Duration::from_secs(1)) && rounds < 1000 {
    ///         rounds += 1; // one slice of work
    ///     }
    ///     Ok(rounds.to_string().into_bytes())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// True once the ability's time limit has passed (never without a limit). A result
    /// returned after that is replaced by `WORK_FAIL`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::JobError;
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability_with_timeout("crunch", Duration::from_secs(10), |job| {
    ///     for chunk in job.workload().to_vec().chunks(1024) {
    ///         if job.is_expired() {
    ///             return Err(JobError::Fail);
    ///         }
    ///         job.send_data(chunk)?;
    ///     }
    ///     Ok(Vec::new())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn is_expired(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// True once a terminal packet was sent (by [`complete`](Job::complete),
    /// [`fail`](Job::fail) or [`exception`](Job::exception)).
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("stream", |job| {
    ///     job.complete(b"all at once")?;
    ///     assert!(job.is_finished());
    ///     Ok(Vec::new()) // ignored: the job already ended
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.terminal.is_some()
    }

    /// Sends `WORK_STATUS numerator/denominator` (shown to clients as progress).
    ///
    /// Written at once, blocking at most the connection's I/O timeout. Fails with
    /// [`Error::JobFinished`] after a terminal packet and [`Error::JobConnectionLost`] when the
    /// connection is gone.
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("batch", |job| {
    ///     let items: Vec<Vec<u8>> = job.workload().split(|&b| b == b',').map(<[u8]>::to_vec).collect();
    ///     for (done, _item) in items.iter().enumerate() {
    ///         job.send_status(done as u32 + 1, items.len() as u32)?;
    ///     }
    ///     Ok(b"ok".to_vec())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn send_status(&mut self, numerator: u32, denominator: u32) -> Result<()> {
        let (numerator, denominator) = (numerator.to_string(), denominator.to_string());
        self.send_now(
            PacketType::WorkStatus,
            &[numerator.as_bytes(), denominator.as_bytes()],
        )
    }

    /// Sends a `WORK_DATA` chunk (partial result) to the waiting clients. Written at once;
    /// fails as [`send_status`](Job::send_status).
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("lines", |job| {
    ///     for line in job.workload().to_vec().split(|&b| b == b'\n') {
    ///         job.send_data(line)?;
    ///     }
    ///     Ok(Vec::new())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn send_data(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.send_now(PacketType::WorkData, &[data.as_ref()])
    }

    /// Sends a `WORK_WARNING` to the waiting clients. Written at once; fails as
    /// [`send_status`](Job::send_status).
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("import", |job| {
    ///     if job.workload().is_empty() {
    ///         job.send_warning("empty input, nothing imported")?;
    ///     }
    ///     Ok(Vec::new())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn send_warning(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.send_now(PacketType::WorkWarning, &[data.as_ref()])
    }

    /// Ends the job with `WORK_COMPLETE data` now; the handler's return value is then ignored.
    /// Fails with [`Error::JobFinished`] when the job already ended and
    /// [`Error::JobConnectionLost`] when the connection is gone.
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("notify", |job| {
    ///     let reply = job.workload().to_vec();
    ///     job.complete(&reply)?; // the client has its answer now
    ///     // ... slow clean-up that the client need not wait for ...
    ///     Ok(Vec::new())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn complete(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.finish(Terminal::Complete, data.as_ref(), true)?;
        self.terminal_data = data.as_ref().to_vec();
        Ok(())
    }

    /// Ends the job with `WORK_FAIL` now; fails as [`complete`](Job::complete).
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("validate", |job| {
    ///     if job.workload().is_empty() {
    ///         job.fail()?;
    ///     }
    ///     Ok(job.workload().to_vec()) // ignored when the job already failed
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn fail(&mut self) -> Result<()> {
        self.finish(Terminal::Fail, &[], true)
    }

    /// Ends the job with `WORK_EXCEPTION data` now; fails as [`complete`](Job::complete).
    /// Under [`ExceptionMode::WarningThenFail`](crate::ExceptionMode) it sends the data
    /// as `WORK_WARNING` and then `WORK_FAIL`, like an `Err` returned from the handler.
    ///
    /// ```no_run
    /// # let mut worker = gearman_sync::Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("parse", |job| {
    ///     if std::str::from_utf8(job.workload()).is_err() {
    ///         job.exception("workload is not UTF-8")?;
    ///     }
    ///     Ok(job.workload().to_vec())
    /// })?;
    /// # worker.work()?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn exception(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        if self.exception_mode == ExceptionMode::WarningThenFail {
            self.send_warning(data.as_ref())?;
            return self.finish(Terminal::Fail, &[], true);
        }
        self.finish(Terminal::Exception, data.as_ref(), true)?;
        self.terminal_data = data.as_ref().to_vec();
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.connection_lost {
            return Err(Error::JobConnectionLost {
                handle: self.handle_str(),
            });
        }
        if self.terminal.is_some() {
            return Err(Error::JobFinished {
                handle: self.handle_str(),
            });
        }
        Ok(())
    }

    /// Queues a `WORK_WARNING` to leave with the terminal packet.
    pub(crate) fn queue_warning(&mut self, data: &[u8]) -> Result<()> {
        self.check_open()?;
        self.queue(PacketType::WorkWarning, &[data])
    }

    fn send_now(&mut self, kind: PacketType, rest: &[&[u8]]) -> Result<()> {
        self.check_open()?;
        self.queue(kind, rest)?;
        self.flush()
    }

    fn queue(&mut self, kind: PacketType, rest: &[&[u8]]) -> Result<()> {
        let mut args: Vec<&[u8]> = Vec::with_capacity(rest.len() + 1);
        args.push(&self.handle);
        args.extend_from_slice(rest);
        match self.conn.queue_request(kind, &args) {
            Ok(()) => Ok(()),
            Err(error @ Error::InvalidArgument(_)) => Err(error),
            // A large tail is written at once, so the connection can fail here too.
            Err(error) => Err(self.lost(error)),
        }
    }

    fn flush(&mut self) -> Result<()> {
        match self.conn.flush() {
            Ok(()) => Ok(()),
            Err(error) => Err(self.lost(error)),
        }
    }

    /// Marks the job's connection as gone after `error`.
    fn lost(&mut self, error: Error) -> Error {
        log::warn!("job {}: connection lost: {error}", self.handle_str());
        self.connection_lost = true;
        Error::JobConnectionLost {
            handle: self.handle_str(),
        }
    }

    /// Queues the terminal packet (flushing at once when `flush`), exactly once.
    pub(crate) fn finish(&mut self, terminal: Terminal, data: &[u8], flush: bool) -> Result<()> {
        self.check_open()?;
        match terminal {
            Terminal::Complete => self.queue(PacketType::WorkComplete, &[data])?,
            Terminal::Fail => self.queue(PacketType::WorkFail, &[])?,
            Terminal::Exception => self.queue(PacketType::WorkException, &[data])?,
        }
        self.terminal = Some(terminal);
        if flush {
            self.flush()?;
        }
        Ok(())
    }
}
