//! The text admin protocol (PROTOCOL.md section 4): command lines and typed replies, sans-IO.
//!
//! An admin command is one text line sent on the ordinary Gearman port. The reply's shape
//! depends on the command sent, so the reader must know it: [`AdminCommand::encode`] writes the
//! line and [`AdminParser::parse`] turns the reply bytes for that command into an
//! [`AdminReply`]. Replies come back in order, so commands can be pipelined.
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

use super::error::{ArgumentError, ProtocolError};

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

/// One reply to an admin command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReply {
    /// `OK\r\n`: the answer to `cancel job`, `create function`, `drop function`, `maxqueue`.
    Ok,
    /// `OK <pid>\n`: the answer to `getpid`.
    Pid(u32),
    /// `OK <version>\n`: the answer to `version`, e.g. `1.1.20+ds`.
    Version(String),
    /// `OK <level>\n`: the answer to `verbose`, e.g. `ERROR` or `INFO`.
    Verbose(String),
    /// The answer to `status`, in the server's (hash) order.
    Status(Vec<FunctionStatus>),
    /// The answer to `prioritystatus`.
    PriorityStatus(Vec<FunctionPriorityStatus>),
    /// The answer to `workers`: one entry per connection, admin connections included.
    Workers(Vec<WorkerInfo>),
    /// The answer to `show jobs`.
    Jobs(Vec<JobInfo>),
    /// The answer to `show unique jobs`: one entry per job, empty for jobs without a unique.
    UniqueJobs(Vec<String>),
    /// `ERR CODE message`: any command can get it.
    ///
    /// `code` is the first word and `message` the rest with `+` decoded to spaces (empty when
    /// there is none). Some gearmand replies have no code, e.g. `ERR function not found` gives
    /// code `function` and message `not found`; join both with a space for the full text.
    Err {
        /// The first word after `ERR`, e.g. `UNKNOWN_JOB`.
        code: String,
        /// The rest of the line, `+` decoded to spaces.
        message: String,
    },
}

/// One line of `status`: `FUNCTION\tTOTAL\tRUNNING\tAVAILABLE_WORKERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionStatus {
    /// The function name (it may contain spaces).
    pub name: String,
    /// Queued plus running jobs.
    pub total: u64,
    /// Running jobs.
    pub running: u64,
    /// `CAN_DO` registrations for the function (duplicates counted).
    pub available_workers: u64,
}

/// One line of `prioritystatus`: `FUNCTION\tHIGH\tNORMAL\tLOW\tAVAILABLE_WORKERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionPriorityStatus {
    /// The function name (it may contain spaces).
    pub name: String,
    /// Queued (not running) high-priority jobs.
    pub high: u64,
    /// Queued (not running) normal-priority jobs.
    pub normal: u64,
    /// Queued (not running) low-priority jobs.
    pub low: u64,
    /// `CAN_DO` registrations for the function (duplicates counted).
    pub available_workers: u64,
}

/// One line of `workers`: `FD IP CLIENT_ID :` followed by ` FUNCTION` per ability.
///
/// A function name containing spaces cannot be told apart from several names here; it shows up
/// as several entries of `functions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The connection's file descriptor on the server.
    pub fd: i64,
    /// The peer's address as the server prints it.
    pub ip: String,
    /// The id set with `SET_CLIENT_ID`; `None` when the server prints `-`.
    pub client_id: Option<String>,
    /// Registered functions, most recent first.
    pub functions: Vec<String>,
}

/// One line of `show jobs`: `HANDLE\tRETRIES\tIGNORE_JOB\tJOB_QUEUED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job handle.
    pub handle: String,
    /// How often the job was retried after its worker died.
    pub retries: u64,
    /// True when the job was cancelled or abandoned.
    pub ignore_job: bool,
    /// True when the job is in the persistent queue (background jobs).
    pub job_queued: bool,
}

/// Incremental, sans-IO parser for admin replies, with caps on line and reply size.
///
/// It keeps no state: call [`parse`](AdminParser::parse) with everything received so far for
/// the oldest outstanding command, and drop the bytes it reports as used. Each call scans the
/// buffer from the start, so call it when new bytes have arrived rather than per byte.
///
/// ```
/// use gearman_sync::protocol::admin::{AdminCommand, AdminParser, AdminReply};
/// let parser = AdminParser::new().with_max_line(4096);
/// let wire = b"OK 1.1.20+ds\nERR UNKNOWN_JOB\r\n";
/// let (version, used) = parser.parse(&AdminCommand::Version, wire)?.expect("complete");
/// assert_eq!(version, AdminReply::Version("1.1.20+ds".into()));
/// let cancel = AdminCommand::CancelJob(b"H:vm:9".to_vec());
/// let (err, _) = parser.parse(&cancel, &wire[used..])?.expect("complete");
/// assert_eq!(err, AdminReply::Err { code: "UNKNOWN_JOB".into(), message: String::new() });
/// # Ok::<(), gearman_sync::ProtocolError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminParser {
    max_line: usize,
    max_reply: usize,
}

impl Default for AdminParser {
    fn default() -> Self {
        AdminParser::new()
    }
}

/// One complete line: its text without `\n` and one preceding `\r`.
struct Line<'a> {
    text: &'a [u8],
    crlf: bool,
    /// Offset just after the `\n`.
    end: usize,
}

/// Where an incomplete line sits, which tells how many more bytes the reply needs at least.
#[derive(Clone, Copy)]
enum Position {
    /// The only line of a single-line reply.
    Single,
    /// The first line of a list reply: data, the final `.`, or an `ERR` line.
    ListFirst,
    /// A later line of a list reply: data or the final `.`.
    ListNext,
}

impl Position {
    /// The fewest bytes that can still complete the reply after the incomplete line `partial`.
    fn min_remaining(self, partial: &[u8]) -> usize {
        let could_be_err = b"ERR ".starts_with(partial) || partial.starts_with(b"ERR ");
        match self {
            Position::Single => 1,
            _ if partial.is_empty() => 2,
            _ if partial == b"." || partial == b".\r" => 1,
            Position::ListFirst if could_be_err => 1,
            // The line's `\n`, then at least `.\n`.
            Position::ListFirst | Position::ListNext => 3,
        }
    }
}

impl AdminParser {
    /// A parser with the default caps: [`DEFAULT_MAX_LINE`] and [`DEFAULT_MAX_REPLY`].
    pub const fn new() -> Self {
        AdminParser {
            max_line: DEFAULT_MAX_LINE,
            max_reply: DEFAULT_MAX_REPLY,
        }
    }

    /// Sets the longest line accepted, in bytes without its `\n` (a `\r` before it counts).
    pub const fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line;
        self
    }

    /// Sets the largest reply accepted, in bytes with every line ending and the final `.` line.
    pub const fn with_max_reply(mut self, max_reply: usize) -> Self {
        self.max_reply = max_reply;
        self
    }

    /// The configured line cap.
    pub const fn max_line(&self) -> usize {
        self.max_line
    }

    /// The configured reply cap.
    pub const fn max_reply(&self) -> usize {
        self.max_reply
    }

    /// Parses one reply to `command` from the front of `buf`.
    ///
    /// Returns `Ok(None)` while the reply is incomplete, or the reply and the number of bytes it
    /// used; bytes after it belong to the next reply. Errors are reported as soon as they are
    /// certain: a line longer than the line cap even before its `\n` arrives, a reply larger than
    /// the reply cap before its end arrives, and a malformed line as soon as it is complete.
    /// Data lines may end in `\n` or `\r\n`; a list ends with a line holding only `.`. A list
    /// command may also be answered with a single `ERR` line, recognised when its first line
    /// starts with `ERR ` and cannot be a data line (no TAB for `status`, `prioritystatus` and
    /// `show jobs`; ending in `\r\n` for `show unique jobs`). Never panics, and allocates nothing
    /// (except a short error) until the reply is complete and within the caps.
    ///
    /// ```
    /// use gearman_sync::protocol::admin::{AdminCommand, AdminParser, AdminReply};
    /// let parser = AdminParser::new();
    /// let wire = b"\n\nu1\n.\n";
    /// let (reply, used) = parser.parse(&AdminCommand::ShowUniqueJobs, wire)?.expect("complete");
    /// assert_eq!(reply, AdminReply::UniqueJobs(vec![String::new(), String::new(), "u1".into()]));
    /// assert_eq!(used, wire.len());
    /// assert!(parser.parse(&AdminCommand::Status, b"rev\tmany\t0\t1\n").is_err());
    /// # Ok::<(), gearman_sync::ProtocolError>(())
    /// ```
    pub fn parse(
        &self,
        command: &AdminCommand,
        buf: &[u8],
    ) -> Result<Option<(AdminReply, usize)>, ProtocolError> {
        let position = match command.reply_shape() {
            ReplyShape::List => Position::ListFirst,
            ReplyShape::Line => Position::Single,
        };
        let Some(first) = self.next_line(buf, 0, position)? else {
            return Ok(None);
        };
        if is_err_line(first.text) {
            let err_here = match command {
                AdminCommand::Status | AdminCommand::PriorityStatus | AdminCommand::ShowJobs => {
                    !first.text.contains(&b'\t')
                }
                AdminCommand::ShowUniqueJobs => first.crlf,
                _ => true,
            };
            if err_here {
                return Ok(Some((parse_err(first.text)?, first.end)));
            }
        }
        let reply = match command {
            AdminCommand::Status => self
                .parse_list(
                    buf,
                    status_line,
                    |(name, [total, running, available_workers])| FunctionStatus {
                        name: text(name),
                        total,
                        running,
                        available_workers,
                    },
                )?
                .map(|(list, used)| (AdminReply::Status(list), used)),
            AdminCommand::PriorityStatus => self
                .parse_list(
                    buf,
                    priority_line,
                    |(name, [high, normal, low, available_workers])| FunctionPriorityStatus {
                        name: text(name),
                        high,
                        normal,
                        low,
                        available_workers,
                    },
                )?
                .map(|(list, used)| (AdminReply::PriorityStatus(list), used)),
            AdminCommand::Workers => self
                .parse_list(buf, worker_line, |worker| WorkerInfo {
                    fd: worker.fd,
                    ip: text(worker.ip),
                    client_id: (worker.client_id != b"-").then(|| text(worker.client_id)),
                    functions: worker
                        .functions
                        .split(|&byte| byte == b' ')
                        .filter(|name| !name.is_empty())
                        .map(text)
                        .collect(),
                })?
                .map(|(list, used)| (AdminReply::Workers(list), used)),
            AdminCommand::ShowJobs => self
                .parse_list(
                    buf,
                    job_line,
                    |(handle, retries, ignore_job, job_queued)| JobInfo {
                        handle: text(handle),
                        retries,
                        ignore_job,
                        job_queued,
                    },
                )?
                .map(|(list, used)| (AdminReply::Jobs(list), used)),
            AdminCommand::ShowUniqueJobs => self
                .parse_list(buf, Ok, text)?
                .map(|(list, used)| (AdminReply::UniqueJobs(list), used)),
            AdminCommand::CancelJob(_)
            | AdminCommand::CreateFunction(_)
            | AdminCommand::DropFunction(_)
            | AdminCommand::MaxQueue { .. } => {
                if first.text != b"OK" {
                    return Err(malformed("expected OK or ERR", first.text));
                }
                Some((AdminReply::Ok, first.end))
            }
            AdminCommand::GetPid => {
                let value = ok_value(first.text)?;
                let pid = parse_number(value)
                    .and_then(|pid| u32::try_from(pid).ok())
                    .ok_or_else(|| malformed("process id is not a number", first.text))?;
                Some((AdminReply::Pid(pid), first.end))
            }
            AdminCommand::Verbose => {
                Some((AdminReply::Verbose(text(ok_value(first.text)?)), first.end))
            }
            AdminCommand::Version => {
                Some((AdminReply::Version(text(ok_value(first.text)?)), first.end))
            }
        };
        Ok(reply)
    }

    /// The line starting at `start`, `Ok(None)` if its `\n` has not arrived and no cap is
    /// certain to be exceeded yet.
    fn next_line<'a>(
        &self,
        buf: &'a [u8],
        start: usize,
        position: Position,
    ) -> Result<Option<Line<'a>>, ProtocolError> {
        let rest = buf.get(start..).unwrap_or_default();
        let window = &rest[..rest.len().min(self.max_line.saturating_add(1))];
        match window.iter().position(|&byte| byte == b'\n') {
            Some(newline) => {
                let end = start + newline + 1;
                if end > self.max_reply {
                    return Err(ProtocolError::AdminReplyTooLarge {
                        max: self.max_reply,
                    });
                }
                let raw = &rest[..newline];
                let (text, crlf) = match raw.strip_suffix(b"\r") {
                    Some(text) => (text, true),
                    None => (raw, false),
                };
                Ok(Some(Line { text, crlf, end }))
            }
            None if rest.len() > self.max_line => {
                Err(ProtocolError::AdminLineTooLong { max: self.max_line })
            }
            None if buf.len().saturating_add(position.min_remaining(rest)) > self.max_reply => {
                Err(ProtocolError::AdminReplyTooLarge {
                    max: self.max_reply,
                })
            }
            None => Ok(None),
        }
    }

    /// Calls `each` with every data line until the `.` line; returns the offset after it.
    fn scan_list<'a>(
        &self,
        buf: &'a [u8],
        mut each: impl FnMut(&'a [u8]) -> Result<(), ProtocolError>,
    ) -> Result<Option<usize>, ProtocolError> {
        let mut start = 0;
        loop {
            let position = if start == 0 {
                Position::ListFirst
            } else {
                Position::ListNext
            };
            let Some(line) = self.next_line(buf, start, position)? else {
                return Ok(None);
            };
            if line.text == b"." {
                return Ok(Some(line.end));
            }
            each(line.text)?;
            start = line.end;
        }
    }

    /// Checks the whole list without allocating, then builds it once it is complete.
    fn parse_list<'a, B, T>(
        &self,
        buf: &'a [u8],
        parse: impl Fn(&'a [u8]) -> Result<B, ProtocolError>,
        own: impl Fn(B) -> T,
    ) -> Result<Option<(Vec<T>, usize)>, ProtocolError> {
        let mut count = 0usize;
        let Some(end) = self.scan_list(buf, |line| {
            parse(line)?;
            count += 1;
            Ok(())
        })?
        else {
            return Ok(None);
        };
        let mut list = Vec::with_capacity(count);
        self.scan_list(&buf[..end], |line| {
            list.push(own(parse(line)?));
            Ok(())
        })?;
        Ok(Some((list, end)))
    }
}

fn is_err_line(line: &[u8]) -> bool {
    line == b"ERR" || line.starts_with(b"ERR ")
}

/// `ERR CODE message+with+plus`.
fn parse_err(line: &[u8]) -> Result<AdminReply, ProtocolError> {
    let rest = line.strip_prefix(b"ERR ").unwrap_or_default();
    let (code, message) = split_once(rest, b' ').unwrap_or((rest, b""));
    if code.is_empty() {
        return Err(malformed("ERR reply without a code", line));
    }
    let message: Vec<u8> = message
        .iter()
        .map(|&byte| if byte == b'+' { b' ' } else { byte })
        .collect();
    Ok(AdminReply::Err {
        code: text(code),
        message: text(&message),
    })
}

/// The value of `OK <value>`.
fn ok_value(line: &[u8]) -> Result<&[u8], ProtocolError> {
    match line.strip_prefix(b"OK ") {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(malformed("expected OK <value> or ERR", line)),
    }
}

/// `NAME\tN1\t...\tNn`, split from the right because the name may contain anything.
fn tabbed<'a, const N: usize>(
    line: &'a [u8],
    reason: &'static str,
) -> Result<(&'a [u8], [u64; N]), ProtocolError> {
    let mut numbers = [0u64; N];
    let mut rest = line;
    for slot in numbers.iter_mut().rev() {
        let tab = rest
            .iter()
            .rposition(|&byte| byte == b'\t')
            .ok_or_else(|| malformed(reason, line))?;
        *slot = parse_number(&rest[tab + 1..]).ok_or_else(|| malformed(reason, line))?;
        rest = &rest[..tab];
    }
    Ok((rest, numbers))
}

fn status_line(line: &[u8]) -> Result<(&[u8], [u64; 3]), ProtocolError> {
    tabbed(line, "expected FUNCTION\\tTOTAL\\tRUNNING\\tWORKERS")
}

fn priority_line(line: &[u8]) -> Result<(&[u8], [u64; 4]), ProtocolError> {
    tabbed(line, "expected FUNCTION\\tHIGH\\tNORMAL\\tLOW\\tWORKERS")
}

fn job_line(line: &[u8]) -> Result<(&[u8], u64, bool, bool), ProtocolError> {
    const REASON: &str = "expected HANDLE\\tRETRIES\\tIGNORE_JOB\\tJOB_QUEUED with 0/1 flags";
    let (handle, [retries, ignore_job, job_queued]) = tabbed(line, REASON)?;
    let flag = |value: u64| match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(malformed(REASON, line)),
    };
    Ok((handle, retries, flag(ignore_job)?, flag(job_queued)?))
}

struct WorkerLine<'a> {
    fd: i64,
    ip: &'a [u8],
    client_id: &'a [u8],
    functions: &'a [u8],
}

/// `FD IP CLIENT_ID :` then ` FUNCTION` per ability.
fn worker_line(line: &[u8]) -> Result<WorkerLine<'_>, ProtocolError> {
    let bad = || malformed("expected FD IP CLIENT_ID : FUNCTION...", line);
    let (fd, rest) = split_once(line, b' ').ok_or_else(bad)?;
    let (ip, rest) = split_once(rest, b' ').ok_or_else(bad)?;
    let (client_id, rest) = split_once(rest, b' ').ok_or_else(bad)?;
    let functions = match rest.strip_prefix(b":") {
        Some(b"") => &b""[..],
        Some(functions) => functions.strip_prefix(b" ").ok_or_else(bad)?,
        None => return Err(bad()),
    };
    let fd = match fd.strip_prefix(b"-") {
        Some(digits) => parse_number(digits).and_then(|n| 0i64.checked_sub_unsigned(n)),
        None => parse_number(fd).and_then(|n| i64::try_from(n).ok()),
    }
    .ok_or_else(bad)?;
    if ip.is_empty() || client_id.is_empty() {
        return Err(bad());
    }
    Ok(WorkerLine {
        fd,
        ip,
        client_id,
        functions,
    })
}

/// A plain decimal number: digits only, no sign, no overflow.
fn parse_number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &byte| {
        let digit = byte.checked_sub(b'0').filter(|digit| *digit <= 9)?;
        value.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&byte| byte == separator)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn malformed(reason: &'static str, line: &[u8]) -> ProtocolError {
    ProtocolError::MalformedAdminReply {
        reason,
        line: text(&line[..line.len().min(MAX_REPORTED_LINE)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_commands() -> Vec<AdminCommand> {
        vec![
            AdminCommand::Status,
            AdminCommand::PriorityStatus,
            AdminCommand::Workers,
            AdminCommand::ShowJobs,
            AdminCommand::ShowUniqueJobs,
            AdminCommand::CancelJob(b"H:vm:1".to_vec()),
            AdminCommand::CreateFunction(b"cf2".to_vec()),
            AdminCommand::DropFunction(b"cf2".to_vec()),
            AdminCommand::MaxQueue {
                function: b"rev".to_vec(),
                limit: MaxQueue::All(5),
            },
            AdminCommand::GetPid,
            AdminCommand::Verbose,
            AdminCommand::Version,
        ]
    }

    fn status(name: &str, total: u64, running: u64, available_workers: u64) -> FunctionStatus {
        FunctionStatus {
            name: name.into(),
            total,
            running,
            available_workers,
        }
    }

    fn worker(fd: i64, ip: &str, client_id: Option<&str>, functions: &[&str]) -> WorkerInfo {
        WorkerInfo {
            fd,
            ip: ip.into(),
            client_id: client_id.map(Into::into),
            functions: functions.iter().map(|&name| name.into()).collect(),
        }
    }

    fn job(handle: &str, retries: u64, ignore_job: bool, job_queued: bool) -> JobInfo {
        JobInfo {
            handle: handle.into(),
            retries,
            ignore_job,
            job_queued,
        }
    }

    fn err(code: &str, message: &str) -> AdminReply {
        AdminReply::Err {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Parses a complete reply, checking that every strict prefix asks for more bytes, that the
    /// whole input is used, and that bytes after the reply are left alone.
    fn parse_complete(command: &AdminCommand, wire: &[u8]) -> AdminReply {
        let parser = AdminParser::new();
        for cut in 0..wire.len() {
            assert_eq!(
                parser.parse(command, &wire[..cut]),
                Ok(None),
                "prefix of {} bytes of {:?}",
                cut,
                String::from_utf8_lossy(wire)
            );
        }
        let (reply, used) = parser
            .parse(command, wire)
            .expect("valid reply")
            .expect("complete reply");
        assert_eq!(used, wire.len(), "{:?}", String::from_utf8_lossy(wire));
        let mut longer = wire.to_vec();
        longer.extend_from_slice(b"OK\r\nrest");
        assert_eq!(
            parser.parse(command, &longer),
            Ok(Some((reply.clone(), used)))
        );
        reply
    }

    fn malformed_reason(result: Result<Option<(AdminReply, usize)>, ProtocolError>) -> String {
        match result {
            Err(ProtocolError::MalformedAdminReply { line, .. }) => line,
            other => panic!("expected MalformedAdminReply, got {other:?}"),
        }
    }

    #[test]
    fn list_replies_as_gearmand_sends_them() {
        use AdminCommand::*;
        let table: Vec<(AdminCommand, &[u8], AdminReply)> = vec![
            (Status, b".\n", AdminReply::Status(vec![])),
            (PriorityStatus, b".\n", AdminReply::PriorityStatus(vec![])),
            (Workers, b".\n", AdminReply::Workers(vec![])),
            (ShowJobs, b".\n", AdminReply::Jobs(vec![])),
            (ShowUniqueJobs, b".\n", AdminReply::UniqueJobs(vec![])),
            (
                Status,
                b"rev\t0\t0\t1\n.\n",
                AdminReply::Status(vec![status("rev", 0, 0, 1)]),
            ),
            // Captured from gearmand 1.1.20+ds.
            (
                Status,
                b"fun with space\t1\t0\t1\nrev\t2\t0\t1\n.\n",
                AdminReply::Status(vec![
                    status("fun with space", 1, 0, 1),
                    status("rev", 2, 0, 1),
                ]),
            ),
            (
                Status,
                b"a\tb\t7\t3\t18446744073709551615\n.\n",
                AdminReply::Status(vec![status("a\tb", 7, 3, u64::MAX)]),
            ),
            (
                PriorityStatus,
                b"fun with space\t1\t0\t0\t1\nrev\t0\t2\t0\t1\n.\n",
                AdminReply::PriorityStatus(vec![
                    FunctionPriorityStatus {
                        name: "fun with space".into(),
                        high: 1,
                        normal: 0,
                        low: 0,
                        available_workers: 1,
                    },
                    FunctionPriorityStatus {
                        name: "rev".into(),
                        high: 0,
                        normal: 2,
                        low: 0,
                        available_workers: 1,
                    },
                ]),
            ),
            (
                Workers,
                b"40 127.0.0.1 - :\n38 127.0.0.1 worker-1 : rev cf2\n39 127.0.0.1 - :\n.\n",
                AdminReply::Workers(vec![
                    worker(40, "127.0.0.1", None, &[]),
                    worker(38, "127.0.0.1", Some("worker-1"), &["rev", "cf2"]),
                    worker(39, "127.0.0.1", None, &[]),
                ]),
            ),
            // A trailing space, an IPv6 peer, and a name with spaces (indistinguishable).
            (
                Workers,
                b"7 ::1 w : \n8 ::1 w : fun with space\n.\n",
                AdminReply::Workers(vec![
                    worker(7, "::1", Some("w"), &[]),
                    worker(8, "::1", Some("w"), &["fun", "with", "space"]),
                ]),
            ),
            (
                Workers,
                b"-1 127.0.0.1 - : rev\n.\n",
                AdminReply::Workers(vec![worker(-1, "127.0.0.1", None, &["rev"])]),
            ),
            (
                ShowJobs,
                b"H:vm:1\t0\t1\t0\nH:vm:2\t0\t0\t1\nH:vm:3\t2\t0\t0\n.\n",
                AdminReply::Jobs(vec![
                    job("H:vm:1", 0, true, false),
                    job("H:vm:2", 0, false, true),
                    job("H:vm:3", 2, false, false),
                ]),
            ),
            (
                ShowUniqueJobs,
                b"\n\nu1\n.\n",
                AdminReply::UniqueJobs(vec!["".into(), "".into(), "u1".into()]),
            ),
            // A unique that looks like ERR but ends in a bare LF is still a unique.
            (
                ShowUniqueJobs,
                b"ERR lookalike\n.\n",
                AdminReply::UniqueJobs(vec!["ERR lookalike".into()]),
            ),
            // A function named like an ERR line still has TABs.
            (
                Status,
                b"ERR x\t0\t0\t0\n.\n",
                AdminReply::Status(vec![status("ERR x", 0, 0, 0)]),
            ),
            // Tolerated CRLF line endings, also on the final dot.
            (
                Status,
                b"rev\t0\t0\t1\r\n.\r\n",
                AdminReply::Status(vec![status("rev", 0, 0, 1)]),
            ),
            (
                ShowUniqueJobs,
                b"u1\r\n\r\n.\r\n",
                AdminReply::UniqueJobs(vec!["u1".into(), "".into()]),
            ),
            // Invalid UTF-8 is replaced, not refused.
            (
                ShowUniqueJobs,
                b"\xff\n.\n",
                AdminReply::UniqueJobs(vec!["\u{fffd}".into()]),
            ),
            // List commands answered with ERR (gearmand does this for `show` variants).
            (
                ShowJobs,
                b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n",
                err("UNKNOWN_SHOW_ARGUMENTS", ""),
            ),
            (
                ShowUniqueJobs,
                b"ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\n",
                err("UNKNOWN_COMMAND", "Unknown server commandshow"),
            ),
            (
                Status,
                b"ERR UNKNOWN_COMMAND Unknown+server+commandstatus\r\n",
                err("UNKNOWN_COMMAND", "Unknown server commandstatus"),
            ),
            (Workers, b"ERR X\n", err("X", "")),
        ];
        for (command, wire, expected) in table {
            assert_eq!(command.reply_shape(), ReplyShape::List);
            assert_eq!(
                parse_complete(&command, wire),
                expected,
                "{command:?} {:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn line_replies_as_gearmand_sends_them() {
        let cancel = AdminCommand::CancelJob(b"H:vm:1".to_vec());
        let create = AdminCommand::CreateFunction(b"cf2".to_vec());
        let drop = AdminCommand::DropFunction(b"cf2".to_vec());
        let maxqueue = AdminCommand::MaxQueue {
            function: b"rev".to_vec(),
            limit: MaxQueue::All(0),
        };
        let table: Vec<(&AdminCommand, &[u8], AdminReply)> = vec![
            (&cancel, b"OK\r\n", AdminReply::Ok),
            (&create, b"OK\r\n", AdminReply::Ok),
            (&drop, b"OK\r\n", AdminReply::Ok),
            (&maxqueue, b"OK\r\n", AdminReply::Ok),
            (&maxqueue, b"OK\n", AdminReply::Ok),
            (&AdminCommand::GetPid, b"OK 22471\n", AdminReply::Pid(22471)),
            (
                &AdminCommand::GetPid,
                b"OK 4294967295\r\n",
                AdminReply::Pid(u32::MAX),
            ),
            (
                &AdminCommand::Verbose,
                b"OK ERROR\n",
                AdminReply::Verbose("ERROR".into()),
            ),
            (
                &AdminCommand::Version,
                b"OK 1.1.20+ds\n",
                AdminReply::Version("1.1.20+ds".into()),
            ),
            (
                &AdminCommand::Version,
                b"OK 1.1.20+ds\r\n",
                AdminReply::Version("1.1.20+ds".into()),
            ),
            (&cancel, b"ERR UNKNOWN_JOB\r\n", err("UNKNOWN_JOB", "")),
            (&cancel, b"ERR UNKNOWN_ERROR\r\n", err("UNKNOWN_ERROR", "")),
            (
                &AdminCommand::Version,
                b"ERR UNKNOWN_COMMAND Unknown+server+commandfoo\r\n",
                err("UNKNOWN_COMMAND", "Unknown server commandfoo"),
            ),
            (
                &create,
                b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n",
                err(
                    "INVALID_ARGUMENTS",
                    "An incomplete set of arguments was sent to this command create",
                ),
            ),
            // gearmand's drop function errors have no code word.
            (
                &drop,
                b"ERR function not found\r\n",
                err("function", "not found"),
            ),
            (
                &drop,
                b"ERR there are still connected workers or executing clients\r\n",
                err("there", "are still connected workers or executing clients"),
            ),
            (&AdminCommand::GetPid, b"ERR X a+b\n", err("X", "a b")),
        ];
        for (command, wire, expected) in table {
            assert_eq!(command.reply_shape(), ReplyShape::Line);
            assert_eq!(
                parse_complete(command, wire),
                expected,
                "{command:?} {:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn pipelined_replies() {
        let parser = AdminParser::new();
        let wire = b"rev\t0\t0\t1\n.\nOK 1.1.20+ds\n.\nOK\r\n";
        let (first, used) = parser.parse(&AdminCommand::Status, wire).unwrap().unwrap();
        assert_eq!(first, AdminReply::Status(vec![status("rev", 0, 0, 1)]));
        assert_eq!(used, 12);
        let rest = &wire[used..];
        let (second, used2) = parser.parse(&AdminCommand::Version, rest).unwrap().unwrap();
        assert_eq!(second, AdminReply::Version("1.1.20+ds".into()));
        let rest = &rest[used2..];
        let (third, used3) = parser.parse(&AdminCommand::Workers, rest).unwrap().unwrap();
        assert_eq!(third, AdminReply::Workers(vec![]));
        let rest = &rest[used3..];
        let cancel = AdminCommand::CancelJob(b"H:x:1".to_vec());
        assert_eq!(parser.parse(&cancel, rest), Ok(Some((AdminReply::Ok, 4))));
    }

    #[test]
    fn line_too_long_is_reported_early() {
        let parser = AdminParser::new().with_max_line(16);
        let too_long = Err(ProtocolError::AdminLineTooLong { max: 16 });
        // A list without its final dot, then a line longer than the cap: no newline needed.
        let mut wire = b"rev\t0\t0\t1\n".to_vec();
        wire.extend_from_slice(&[b'x'; 16]);
        assert_eq!(parser.parse(&AdminCommand::ShowUniqueJobs, &wire), Ok(None));
        wire.push(b'x');
        assert_eq!(parser.parse(&AdminCommand::ShowUniqueJobs, &wire), too_long);
        wire.push(b'\n');
        assert_eq!(parser.parse(&AdminCommand::ShowUniqueJobs, &wire), too_long);
        // A single-line reply.
        let mut version = b"OK ".to_vec();
        version.extend_from_slice(&[b'9'; 13]);
        assert_eq!(parser.parse(&AdminCommand::Version, &version), Ok(None));
        version.push(b'\r'); // a \r counts; only the \n does not
        assert_eq!(parser.parse(&AdminCommand::Version, &version), too_long);
        version.pop();
        version.push(b'\n'); // exactly 16 bytes before the \n is fine
        assert!(matches!(
            parser.parse(&AdminCommand::Version, &version),
            Ok(Some((AdminReply::Version(_), 17)))
        ));
        // The default cap is 1 MiB.
        let huge = vec![b'a'; DEFAULT_MAX_LINE + 1];
        assert_eq!(
            AdminParser::new().parse(&AdminCommand::ShowUniqueJobs, &huge),
            Err(ProtocolError::AdminLineTooLong {
                max: DEFAULT_MAX_LINE
            })
        );
    }

    #[test]
    fn reply_too_large_is_reported_early() {
        let parser = AdminParser::new().with_max_reply(20);
        let too_large = Err(ProtocolError::AdminReplyTooLarge { max: 20 });
        let command = AdminCommand::ShowUniqueJobs;
        // Exactly 20 bytes including the final ".\n" is fine.
        let exact = b"aaaaaaaa\nbbbbbbbb\n.\n";
        assert_eq!(exact.len(), 20);
        assert!(matches!(
            parser.parse(&command, exact),
            Ok(Some((AdminReply::UniqueJobs(_), 20)))
        ));
        // Reported as soon as the smallest possible rest of the list no longer fits:
        // 19 bytes of data lines, and the end needs at least ".\n".
        assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbbb\n"), too_large);
        assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbb\n"), Ok(None));
        assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbb\n."), Ok(None));
        assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbb\n.x"), too_large);
        // An unfinished data line needs its "\n" and then ".\n".
        assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbb"), Ok(None));
        assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbbb"), too_large);
        // A first line that may be an ERR line needs only its "\n".
        let parser = AdminParser::new().with_max_reply(6);
        assert_eq!(parser.parse(&AdminCommand::Status, b"ERR X"), Ok(None));
        assert_eq!(
            parser.parse(&AdminCommand::Status, b"ERR X\n"),
            Ok(Some((err("X", ""), 6)))
        );
        assert_eq!(
            parser.parse(&AdminCommand::Status, b"rev\t0"),
            Err(ProtocolError::AdminReplyTooLarge { max: 6 })
        );
        // Single-line replies obey the reply cap too.
        let parser = AdminParser::new().with_max_reply(4);
        assert_eq!(
            parser.parse(&AdminCommand::CreateFunction(b"f".to_vec()), b"OK\r\n"),
            Ok(Some((AdminReply::Ok, 4)))
        );
        assert_eq!(
            parser.parse(&AdminCommand::Version, b"OK 1.1.20+ds\n"),
            Err(ProtocolError::AdminReplyTooLarge { max: 4 })
        );
    }

    #[test]
    fn malformed_lines() {
        let parser = AdminParser::new();
        let cases: Vec<(AdminCommand, &[u8])> = vec![
            (AdminCommand::Status, b"rev\tx\t0\t1\n.\n"),
            (AdminCommand::Status, b"rev\t0\t0\n.\n"),
            (AdminCommand::Status, b"rev\t-1\t0\t1\n.\n"),
            (AdminCommand::Status, b"rev\t0\t0\t 1\n.\n"),
            (AdminCommand::Status, b"rev\t0\t0\t1\t\n.\n"),
            (
                AdminCommand::Status,
                b"rev\t18446744073709551616\t0\t1\n.\n",
            ),
            (AdminCommand::Status, b"OK\r\n"),
            (AdminCommand::Status, b"ERR\r\n"),
            (AdminCommand::PriorityStatus, b"rev\t0\t0\t1\n.\n"),
            (AdminCommand::ShowJobs, b"H:vm:1\t0\t2\t0\n.\n"),
            (AdminCommand::ShowJobs, b"H:vm:1\t0\t0\n.\n"),
            (AdminCommand::Workers, b"40 127.0.0.1 -\n.\n"),
            (
                AdminCommand::Workers,
                b"40 127.0.0.1 - : \n40 127.0.0.1 - x\n.\n",
            ),
            (AdminCommand::Workers, b"40 127.0.0.1 - :rev\n.\n"),
            (AdminCommand::Workers, b"fd 127.0.0.1 - :\n.\n"),
            (
                AdminCommand::Workers,
                b"99999999999999999999 127.0.0.1 - :\n.\n",
            ),
            (AdminCommand::Workers, b"40  - :\n.\n"),
            (AdminCommand::Workers, b"ERR\r\n"),
            (AdminCommand::Workers, b"ERR  two+spaces\r\n"),
            (AdminCommand::GetPid, b"OK abc\n"),
            (AdminCommand::GetPid, b"OK 4294967296\n"),
            (AdminCommand::GetPid, b"OK\r\n"),
            (AdminCommand::Version, b"OK\n"),
            (AdminCommand::Version, b"OK \n"),
            (AdminCommand::Verbose, b"INFO\n"),
            (AdminCommand::CancelJob(b"H:vm:1".to_vec()), b"OK done\r\n"),
            (AdminCommand::CancelJob(b"H:vm:1".to_vec()), b"\r\n"),
            (AdminCommand::CancelJob(b"H:vm:1".to_vec()), b"ERR\r\n"),
        ];
        for (command, wire) in cases {
            malformed_reason(parser.parse(&command, wire));
        }
        // A bad line is reported as soon as it is complete, before the list ends.
        let line = malformed_reason(parser.parse(&AdminCommand::Status, b"rev\tjunk\t0\t1\n"));
        assert_eq!(line, "rev\tjunk\t0\t1");
        assert_eq!(
            parser.parse(&AdminCommand::Status, b"rev\tjunk\t0\t1"),
            Ok(None)
        );
        // The offending line is cut to 200 bytes.
        let mut long = vec![b'x'; 500];
        long.push(b'\n');
        let line = malformed_reason(parser.parse(&AdminCommand::Status, &long));
        assert_eq!(line, "x".repeat(200));
    }

    #[test]
    fn encodes_every_command() {
        let table: Vec<(AdminCommand, &[u8])> = vec![
            (AdminCommand::Status, b"status\r\n"),
            (AdminCommand::PriorityStatus, b"prioritystatus\r\n"),
            (AdminCommand::Workers, b"workers\r\n"),
            (AdminCommand::ShowJobs, b"show jobs\r\n"),
            (AdminCommand::ShowUniqueJobs, b"show unique jobs\r\n"),
            (
                AdminCommand::CancelJob(b"H:vm:1".to_vec()),
                b"cancel job H:vm:1\r\n",
            ),
            (
                AdminCommand::CreateFunction(b"cf2".to_vec()),
                b"create function cf2\r\n",
            ),
            (
                AdminCommand::DropFunction("r\u{e9}v".into()),
                "drop function r\u{e9}v\r\n".as_bytes(),
            ),
            (
                AdminCommand::MaxQueue {
                    function: b"rev".to_vec(),
                    limit: MaxQueue::All(5),
                },
                b"maxqueue rev 5\r\n",
            ),
            (
                AdminCommand::MaxQueue {
                    function: b"rev".to_vec(),
                    limit: MaxQueue::All(0),
                },
                b"maxqueue rev 0\r\n",
            ),
            (
                AdminCommand::MaxQueue {
                    function: b"rev".to_vec(),
                    limit: MaxQueue::PerPriority {
                        high: 1,
                        normal: -2,
                        low: i32::MIN,
                    },
                },
                b"maxqueue rev 1 -2 -2147483648\r\n",
            ),
            (AdminCommand::GetPid, b"getpid\r\n"),
            (AdminCommand::Verbose, b"verbose\r\n"),
            (AdminCommand::Version, b"version\r\n"),
        ];
        let mut all = Vec::new();
        for (command, expected) in &table {
            let mut buf = b"prefix".to_vec();
            command.encode(&mut buf).unwrap();
            assert_eq!(&buf[6..], *expected);
            command.encode(&mut all).unwrap();
        }
        let joined: Vec<u8> = table.iter().flat_map(|(_, line)| line.to_vec()).collect();
        assert_eq!(all, joined);
        assert_eq!(all_commands().len(), 12);
        for command in all_commands() {
            let mut buf = Vec::new();
            command.encode(&mut buf).unwrap();
            assert!(buf.ends_with(b"\r\n"));
        }
    }

    #[test]
    fn refuses_bad_arguments() {
        let refused: Vec<(AdminCommand, ArgumentError)> = vec![
            (
                AdminCommand::CreateFunction(b"two words".to_vec()),
                ArgumentError::InvalidByte {
                    field: "function name",
                    byte: b' ',
                },
            ),
            (
                AdminCommand::DropFunction(b"f\n".to_vec()),
                ArgumentError::InvalidByte {
                    field: "function name",
                    byte: b'\n',
                },
            ),
            (
                AdminCommand::DropFunction(b"f\rx".to_vec()),
                ArgumentError::InvalidByte {
                    field: "function name",
                    byte: b'\r',
                },
            ),
            (
                AdminCommand::CancelJob(b"H:\tvm".to_vec()),
                ArgumentError::InvalidByte {
                    field: "job handle",
                    byte: b'\t',
                },
            ),
            (
                AdminCommand::CancelJob(b"H\x7f".to_vec()),
                ArgumentError::InvalidByte {
                    field: "job handle",
                    byte: 0x7f,
                },
            ),
            (
                AdminCommand::CreateFunction(b"a\x01".to_vec()),
                ArgumentError::InvalidByte {
                    field: "function name",
                    byte: 1,
                },
            ),
            (
                AdminCommand::CreateFunction(b"a b\0".to_vec()),
                ArgumentError::NulByte {
                    field: "function name",
                },
            ),
            (
                AdminCommand::CreateFunction(Vec::new()),
                ArgumentError::Empty {
                    field: "function name",
                },
            ),
            (
                AdminCommand::CancelJob(Vec::new()),
                ArgumentError::Empty {
                    field: "job handle",
                },
            ),
            (
                AdminCommand::MaxQueue {
                    function: b"my fn".to_vec(),
                    limit: MaxQueue::All(1),
                },
                ArgumentError::InvalidByte {
                    field: "function name",
                    byte: b' ',
                },
            ),
        ];
        for (command, expected) in refused {
            let mut buf = b"kept".to_vec();
            assert_eq!(command.encode(&mut buf), Err(expected), "{command:?}");
            assert_eq!(buf, b"kept");
        }
    }

    #[test]
    fn line_length_limit() {
        // gearmand 1.1.20 accepts 8192 bytes including \r\n and drops the connection at 8193.
        let prefix = b"create function ".len() + 2;
        let fits = AdminCommand::CreateFunction(vec![b'f'; MAX_COMMAND_LINE - prefix]);
        let mut buf = Vec::new();
        fits.encode(&mut buf).unwrap();
        assert_eq!(buf.len(), MAX_COMMAND_LINE);

        let too_long = AdminCommand::CreateFunction(vec![b'f'; MAX_COMMAND_LINE - prefix + 1]);
        let mut buf = b"kept".to_vec();
        assert_eq!(
            too_long.encode(&mut buf),
            Err(ArgumentError::TooLong {
                field: "admin command line",
                len: MAX_COMMAND_LINE + 1,
                max: MAX_COMMAND_LINE,
            })
        );
        assert_eq!(buf, b"kept");

        let per_priority = |len: usize| AdminCommand::MaxQueue {
            function: vec![b'f'; len],
            limit: MaxQueue::PerPriority {
                high: -1,
                normal: -1,
                low: -1,
            },
        };
        let overhead = b"maxqueue  -1 -1 -1\r\n".len();
        let mut buf = Vec::new();
        per_priority(MAX_COMMAND_LINE - overhead)
            .encode(&mut buf)
            .unwrap();
        assert_eq!(buf.len(), MAX_COMMAND_LINE);
        assert!(matches!(
            per_priority(MAX_COMMAND_LINE - overhead + 1).encode(&mut Vec::new()),
            Err(ArgumentError::TooLong { .. })
        ));
    }

    #[test]
    fn reply_shapes() {
        let shapes: Vec<ReplyShape> = all_commands()
            .iter()
            .map(AdminCommand::reply_shape)
            .collect();
        let mut expected = vec![ReplyShape::List; 5];
        expected.extend([ReplyShape::Line; 7]);
        assert_eq!(shapes, expected);
    }

    #[test]
    fn parser_settings() {
        let parser = AdminParser::default();
        assert_eq!(parser, AdminParser::new());
        assert_eq!(parser.max_line(), 1 << 20);
        assert_eq!(parser.max_reply(), 64 << 20);
        let tuned = parser.with_max_line(10).with_max_reply(100);
        assert_eq!((tuned.max_line(), tuned.max_reply()), (10, 100));
        // Zero caps refuse everything instead of panicking.
        let zero_line = AdminParser::new().with_max_line(0);
        let zero_reply = AdminParser::new().with_max_reply(0);
        for command in all_commands() {
            assert_eq!(zero_line.parse(&command, b""), Ok(None));
            assert!(zero_line.parse(&command, b"x").is_err());
            assert!(zero_line.parse(&command, b"OK\r\n").is_err());
            assert!(zero_reply.parse(&command, b"").is_err());
        }
        assert_eq!(
            AdminParser::new()
                .with_max_line(usize::MAX)
                .with_max_reply(usize::MAX)
                .parse(&AdminCommand::Status, b".\n"),
            Ok(Some((AdminReply::Status(vec![]), 2)))
        );
    }

    /// Deterministic random inputs built from reply fragments: no panics, and the invariants
    /// the fuzz target checks.
    #[test]
    fn random_inputs_keep_invariants() {
        let fragments: &[&[u8]] = &[
            b"\n",
            b"\r\n",
            b".",
            b".\n",
            b"\t",
            b" ",
            b":",
            b"-",
            b"0",
            b"1",
            b"42",
            b"ERR",
            b"ERR ",
            b"OK",
            b"OK ",
            b"+",
            b"rev",
            b"127.0.0.1",
            b"\xff",
            b"99999999999999999999",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let parser = AdminParser::new().with_max_line(24).with_max_reply(96);
        let commands = all_commands();
        let (mut complete, mut failed) = (0, 0);
        for _ in 0..50_000 {
            let mut input = Vec::new();
            for _ in 0..next() % 16 {
                input.extend_from_slice(fragments[(next() % fragments.len() as u64) as usize]);
            }
            let command = &commands[(next() % 12) as usize];
            let result = parser.parse(command, &input);
            assert_eq!(result, parser.parse(command, &input));
            failed += usize::from(result.is_err());
            if let Ok(Some((reply, used))) = &result {
                complete += 1;
                assert!(*used > 0 && *used <= input.len());
                assert_eq!(
                    parser.parse(command, &input[..*used]),
                    Ok(Some((reply.clone(), *used)))
                );
                for cut in 0..*used {
                    assert_eq!(parser.parse(command, &input[..cut]), Ok(None));
                }
            }
        }
        // The generator must reach both outcomes, or the test proves little.
        assert!(complete > 1_000 && failed > 1_000, "{complete} {failed}");
    }
}
