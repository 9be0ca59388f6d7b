//! A job assigned to this worker, with the calls that report on it.

use std::fmt;
use std::time::{Duration, Instant};

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
    pub fn handle(&self) -> &[u8] {
        &self.handle
    }

    /// The job handle as text (lossy UTF-8; gearmand handles are ASCII).
    pub fn handle_str(&self) -> String {
        String::from_utf8_lossy(&self.handle).into_owned()
    }

    /// The function name (without the worker's prefix).
    pub fn function(&self) -> &[u8] {
        &self.function
    }

    /// The client's unique ID (empty when none was given or when grabbing with plain GRAB_JOB).
    pub fn unique(&self) -> &[u8] {
        &self.unique
    }

    /// The reducer of a map/reduce job (only with `GrabMode::All`).
    pub fn reducer(&self) -> Option<&[u8]> {
        self.reducer.as_deref()
    }

    /// The workload bytes.
    pub fn workload(&self) -> &[u8] {
        &self.workload
    }

    /// Moves the workload out (leaving it empty), avoiding a copy of large payloads.
    pub fn take_workload(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.workload)
    }

    /// The server that assigned the job.
    pub fn server(&self) -> &ServerAddr {
        self.conn.server()
    }

    /// Time left under the ability's limit (`None` without a limit). A handler that loops
    /// should check it: a running closure cannot be interrupted from outside.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// True once the ability's time limit has passed.
    pub fn is_expired(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// True once a terminal packet was sent.
    pub fn is_finished(&self) -> bool {
        self.terminal.is_some()
    }

    /// Sends `WORK_STATUS numerator/denominator` (shown to clients as progress).
    pub fn send_status(&mut self, numerator: u32, denominator: u32) -> Result<()> {
        let (numerator, denominator) = (numerator.to_string(), denominator.to_string());
        self.send_now(
            PacketType::WorkStatus,
            &[numerator.as_bytes(), denominator.as_bytes()],
        )
    }

    /// Sends a `WORK_DATA` chunk (partial result) to the waiting clients.
    pub fn send_data(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.send_now(PacketType::WorkData, &[data.as_ref()])
    }

    /// Sends a `WORK_WARNING` to the waiting clients.
    pub fn send_warning(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.send_now(PacketType::WorkWarning, &[data.as_ref()])
    }

    /// Ends the job with `WORK_COMPLETE data` now; the handler's return value is then ignored.
    pub fn complete(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
        self.finish(Terminal::Complete, data.as_ref(), true)?;
        self.terminal_data = data.as_ref().to_vec();
        Ok(())
    }

    /// Ends the job with `WORK_FAIL` now.
    pub fn fail(&mut self) -> Result<()> {
        self.finish(Terminal::Fail, &[], true)
    }

    /// Ends the job with `WORK_EXCEPTION data` now.
    pub fn exception(&mut self, data: impl AsRef<[u8]>) -> Result<()> {
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

    fn send_now(&mut self, kind: PacketType, rest: &[&[u8]]) -> Result<()> {
        self.check_open()?;
        self.queue(kind, rest)?;
        self.flush()
    }

    fn queue(&mut self, kind: PacketType, rest: &[&[u8]]) -> Result<()> {
        let mut args: Vec<&[u8]> = Vec::with_capacity(rest.len() + 1);
        args.push(&self.handle);
        args.extend_from_slice(rest);
        self.conn.queue_request(kind, &args)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match self.conn.flush() {
            Ok(()) => Ok(()),
            Err(error) => {
                log::warn!("job {}: connection lost: {error}", self.handle_str());
                self.connection_lost = true;
                Err(Error::JobConnectionLost {
                    handle: self.handle_str(),
                })
            }
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
