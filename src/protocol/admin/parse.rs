//! The admin reply parser: bytes in, the typed reply for the command sent out, with every
//! line and the whole reply capped before anything is kept.

use super::{
    AdminCommand, AdminReply, FunctionPriorityStatus, FunctionStatus, JobInfo, WorkerInfo,
};
use super::{ReplyShape, DEFAULT_MAX_LINE, DEFAULT_MAX_REPLY, MAX_REPORTED_LINE};
use crate::protocol::error::ProtocolError;

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
