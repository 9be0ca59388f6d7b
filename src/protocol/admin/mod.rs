//! The text admin protocol (PROTOCOL.md section 4): command lines and typed replies, sans-IO.
//!
//! An admin command is one text line sent on the ordinary Gearman port. The reply's shape
//! depends on the command sent, so the reader must know it: [`AdminCommand::encode`] writes the
//! line and [`AdminParser::parse`] turns the reply bytes for that command into an
//! [`AdminReply`]. Replies come back in order, so commands can be pipelined.
//!
//! This file holds the commands; `reply.rs` the typed replies, `parse.rs` the reply parser.
//!
//! ```
//! use gearman_sync::protocol::admin::{AdminCommand, AdminParser, AdminReply, FunctionStatus};
//! let mut wire = Vec::new();
//! AdminCommand::Status.encode(&mut wire)?;
//! assert_eq!(wire, b"status\r\n");
//!
//! let reply = b"rev\t2\t0\t1\n.\n";
//! let parser = AdminParser::new();
//! assert_eq!(parser.parse(&AdminCommand::Status, &reply[..4])?, None); // need more bytes
//! let (status, used) = parser.parse(&AdminCommand::Status, reply)?.expect("complete");
//! assert_eq!(used, reply.len());
//! assert_eq!(
//!     status,
//!     AdminReply::Status(vec![FunctionStatus {
//!         name: "rev".into(),
//!         total: 2,
//!         running: 0,
//!         available_workers: 1,
//!     }])
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod parse;
mod reply;

pub use parse::AdminParser;
pub use reply::{AdminReply, FunctionPriorityStatus, FunctionStatus, JobInfo, WorkerInfo};

use super::error::ArgumentError;

/// Longest command line gearmand accepts, `\r\n` included; a longer one drops the connection.
pub const MAX_COMMAND_LINE: usize = 8192;
/// Default cap on one reply line (1 MiB), see [`AdminParser::with_max_line`].
pub const DEFAULT_MAX_LINE: usize = 1 << 20;
/// Default cap on one whole reply (64 MiB), see [`AdminParser::with_max_reply`].
pub const DEFAULT_MAX_REPLY: usize = 64 << 20;
/// Bytes of an offending line kept in [`ProtocolError::MalformedAdminReply`].
const MAX_REPORTED_LINE: usize = 200;

/// One admin command, as gearmand 1.1.20 accepts it.
///
/// ```
/// use gearman_sync::protocol::admin::{AdminCommand, MaxQueue};
/// let mut wire = Vec::new();
/// AdminCommand::CancelJob(b"H:vm:1".to_vec()).encode(&mut wire)?;
/// let limit = MaxQueue::PerPriority { high: 10, normal: 5, low: 0 };
/// AdminCommand::MaxQueue { function: b"rev".to_vec(), limit }.encode(&mut wire)?;
/// assert_eq!(wire, b"cancel job H:vm:1\r\nmaxqueue rev 10 5 0\r\n");
/// # Ok::<(), gearman_sync::ArgumentError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// `status`: queued/running jobs and available workers per function.
    Status,
    /// `prioritystatus`: queued jobs per priority and available workers per function.
    PriorityStatus,
    /// `workers`: every connection with its client id and registered functions.
    Workers,
    /// `show jobs`: every job the server holds.
    ShowJobs,
    /// `show unique jobs`: the unique id of every job (empty for jobs without one).
    ShowUniqueJobs,
    /// `cancel job HANDLE`: fails the job for its clients and removes it from the queue; a job
    /// that is already running keeps running.
    CancelJob(Vec<u8>),
    /// `create function NAME`: makes the function known to the server.
    CreateFunction(Vec<u8>),
    /// `drop function NAME` (name compared case-insensitively): forgets a function that has no
    /// workers and no running jobs.
    DropFunction(Vec<u8>),
    /// `maxqueue FUNCTION LIMIT...`: caps the function's queue; always answered `OK`, even for
    /// an unknown function (which it does not affect).
    MaxQueue {
        /// The function (compared exactly).
        function: Vec<u8>,
        /// The new limit.
        limit: MaxQueue,
    },
    /// `getpid`: the server's process id.
    GetPid,
    /// `verbose`: the server's log level (read-only).
    Verbose,
    /// `version`: the server's version string.
    Version,
}

/// The queue limit set by [`AdminCommand::MaxQueue`]. Values `<= 0` mean unlimited.
///
/// gearmand refuses a new job when the limit for its priority is positive and the function's
/// total (queued and running, all priorities) has reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxQueue {
    /// One limit for every priority: `maxqueue FUNCTION N`.
    All(i32),
    /// One limit per priority: `maxqueue FUNCTION HIGH NORMAL LOW`.
    PerPriority {
        /// Limit for high-priority submissions.
        high: i32,
        /// Limit for normal-priority submissions.
        normal: i32,
        /// Limit for low-priority submissions.
        low: i32,
    },
}

/// How a command's reply is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyShape {
    /// Data lines ending with a line holding only `.` (or a single `ERR` line).
    List,
    /// A single `OK...` or `ERR...` line.
    Line,
}

impl AdminCommand {
    /// Appends the command line, always ending in `\r\n`, to `buf`.
    ///
    /// Refuses empty arguments, arguments containing a space, tab, `\r`, `\n`, NUL or another
    /// control byte (gearmand splits on spaces and ends lines at `\n`), and a line longer than
    /// [`MAX_COMMAND_LINE`] bytes including `\r\n`. Nothing is appended on error.
    ///
    /// ```
    /// use gearman_sync::protocol::admin::AdminCommand;
    /// let mut wire = Vec::new();
    /// AdminCommand::ShowUniqueJobs.encode(&mut wire)?;
    /// assert_eq!(wire, b"show unique jobs\r\n");
    /// assert!(AdminCommand::CreateFunction(b"two words".to_vec()).encode(&mut wire).is_err());
    /// assert_eq!(wire, b"show unique jobs\r\n"); // untouched
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn encode(&self, buf: &mut Vec<u8>) -> Result<(), ArgumentError> {
        let (words, argument): (&[u8], Option<(&'static str, &[u8])>) = match self {
            AdminCommand::Status => (b"status", None),
            AdminCommand::PriorityStatus => (b"prioritystatus", None),
            AdminCommand::Workers => (b"workers", None),
            AdminCommand::ShowJobs => (b"show jobs", None),
            AdminCommand::ShowUniqueJobs => (b"show unique jobs", None),
            AdminCommand::CancelJob(handle) => (b"cancel job", Some(("job handle", handle))),
            AdminCommand::CreateFunction(name) => {
                (b"create function", Some(("function name", name)))
            }
            AdminCommand::DropFunction(name) => (b"drop function", Some(("function name", name))),
            AdminCommand::MaxQueue { function, .. } => {
                (b"maxqueue", Some(("function name", function)))
            }
            AdminCommand::GetPid => (b"getpid", None),
            AdminCommand::Verbose => (b"verbose", None),
            AdminCommand::Version => (b"version", None),
        };
        if let Some((field, value)) = argument {
            check_argument(field, value)?;
        }
        let start = buf.len();
        buf.extend_from_slice(words);
        if let Some((_, value)) = argument {
            buf.push(b' ');
            buf.extend_from_slice(value);
        }
        if let AdminCommand::MaxQueue { limit, .. } = self {
            match *limit {
                MaxQueue::All(all) => push_number(buf, all),
                MaxQueue::PerPriority { high, normal, low } => {
                    for value in [high, normal, low] {
                        push_number(buf, value);
                    }
                }
            }
        }
        buf.extend_from_slice(b"\r\n");
        let len = buf.len() - start;
        if len > MAX_COMMAND_LINE {
            buf.truncate(start);
            return Err(ArgumentError::TooLong {
                field: "admin command line",
                len,
                max: MAX_COMMAND_LINE,
            });
        }
        Ok(())
    }

    /// How the reply to this command is framed.
    ///
    /// ```
    /// use gearman_sync::protocol::admin::{AdminCommand, ReplyShape};
    /// assert_eq!(AdminCommand::Workers.reply_shape(), ReplyShape::List);
    /// assert_eq!(AdminCommand::Version.reply_shape(), ReplyShape::Line);
    /// ```
    pub fn reply_shape(&self) -> ReplyShape {
        match self {
            AdminCommand::Status
            | AdminCommand::PriorityStatus
            | AdminCommand::Workers
            | AdminCommand::ShowJobs
            | AdminCommand::ShowUniqueJobs => ReplyShape::List,
            AdminCommand::CancelJob(_)
            | AdminCommand::CreateFunction(_)
            | AdminCommand::DropFunction(_)
            | AdminCommand::MaxQueue { .. }
            | AdminCommand::GetPid
            | AdminCommand::Verbose
            | AdminCommand::Version => ReplyShape::Line,
        }
    }
}

fn check_argument(field: &'static str, value: &[u8]) -> Result<(), ArgumentError> {
    if value.is_empty() {
        return Err(ArgumentError::Empty { field });
    }
    if value.contains(&0) {
        return Err(ArgumentError::NulByte { field });
    }
    match value.iter().find(|&&byte| byte <= b' ' || byte == 0x7f) {
        Some(&byte) => Err(ArgumentError::InvalidByte { field, byte }),
        None => Ok(()),
    }
}

fn push_number(buf: &mut Vec<u8>, value: i32) {
    buf.push(b' ');
    buf.extend_from_slice(value.to_string().as_bytes());
}

#[cfg(test)]
mod tests;
