//! Error types: one root [`Error`] for every fallible call, [`ProtocolError`] for bytes that
//! break the Gearman wire rules, and [`ArgumentError`] for caller input refused before sending.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::protocol::{Magic, PacketType};

/// Result alias used throughout the crate: `Result<T>` is `Result<T, gearman_sync::Error>`.
///
/// ```
/// use gearman_sync::{Client, Result};
/// fn client() -> Result<Client> {
///     Client::new("127.0.0.1:4730")
/// }
/// assert!(client().is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bytes received from a peer that violate the Gearman protocol.
///
/// Produced by the sans-IO codec ([`crate::protocol`]) and therefore cheap to clone and compare.
/// A connection that yields a `ProtocolError` is out of sync and is closed by this crate.
///
/// ```
/// use gearman_sync::ProtocolError;
/// use gearman_sync::protocol::Decoder;
/// let error = Decoder::new().decode(b"HTTP/1.1 200 OK").unwrap_err();
/// assert_eq!(error, ProtocolError::BadMagic(*b"HTTP"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first four bytes of a packet are neither `\0REQ` nor `\0RES`.
    #[error("bad packet magic {0:02x?} (expected \\0REQ or \\0RES)")]
    BadMagic([u8; 4]),
    /// A packet carried the wrong magic for its direction, e.g. a request sent by a server.
    #[error("{kind} packet with {found} magic where {expected} magic was expected")]
    UnexpectedMagic {
        /// The packet's type.
        kind: PacketType,
        /// The magic this side accepts.
        expected: Magic,
        /// The magic that arrived.
        found: Magic,
    },
    /// The packet type number is outside 1..=42.
    #[error("unknown packet type {0}")]
    UnknownPacketType(u32),
    /// The declared body length exceeds the decoder's cap; nothing was allocated for it.
    #[error("packet body of {len} bytes exceeds the limit of {max} bytes")]
    BodyTooLarge {
        /// Declared body length.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The body has fewer NUL-delimited fields than the packet type requires.
    #[error("{kind} packet needs {expected} NUL-delimited fields, found {found}")]
    MissingFields {
        /// The packet's type.
        kind: PacketType,
        /// Delimited fields the type requires.
        expected: usize,
        /// Delimited fields present.
        found: usize,
    },
    /// A numeric field (status numerator, known flag, ...) is not a decimal number.
    #[error("{kind} field {field} is not a valid number: {value:?}")]
    InvalidNumber {
        /// The packet's type.
        kind: PacketType,
        /// Which field.
        field: &'static str,
        /// The field as received (lossy UTF-8, cut to 64 bytes).
        value: String,
    },
    /// A packet arrived that makes no sense at this point of the conversation.
    #[error("unexpected {kind} packet: {context}")]
    UnexpectedPacket {
        /// The packet's type.
        kind: PacketType,
        /// What the receiver was doing.
        context: &'static str,
    },
    /// An admin text reply line is longer than the parser's cap.
    #[error("admin reply line longer than {max} bytes")]
    AdminLineTooLong {
        /// The configured maximum line length.
        max: usize,
    },
    /// A complete admin reply (all its lines) is larger than the parser's cap.
    #[error("admin reply larger than {max} bytes")]
    AdminReplyTooLarge {
        /// The configured maximum reply size.
        max: usize,
    },
    /// An admin text reply line does not have the shape its command produces.
    #[error("malformed admin reply ({reason}): {line:?}")]
    MalformedAdminReply {
        /// What is wrong with it.
        reason: &'static str,
        /// The offending line (lossy UTF-8, cut to 200 bytes).
        line: String,
    },
}

/// Caller input refused before anything is sent, because gearmand would mishandle it.
///
/// ```
/// use gearman_sync::ArgumentError;
/// use gearman_sync::protocol::validate;
/// assert_eq!(
///     validate::function(b"a\0b"),
///     Err(ArgumentError::NulByte { field: "function name" })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgumentError {
    /// A NUL byte inside a field that the protocol delimits with NUL.
    #[error("{field} must not contain a NUL byte")]
    NulByte {
        /// Which argument.
        field: &'static str,
    },
    /// An argument that must not be empty is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// Which argument.
        field: &'static str,
    },
    /// An argument is longer than gearmand handles correctly.
    #[error("{field} is {len} bytes long; the maximum is {max}")]
    TooLong {
        /// Which argument.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// An argument holds a byte that is not allowed there (space, newline, control byte ...).
    #[error("{field} contains a byte not allowed there: {byte:#04x}")]
    InvalidByte {
        /// Which argument.
        field: &'static str,
        /// The first offending byte.
        byte: u8,
    },
    /// The number of arguments does not match the packet type's shape.
    #[error("{kind} takes {expected} arguments, {found} given")]
    WrongArgumentCount {
        /// The packet's type.
        kind: PacketType,
        /// Arguments the type takes.
        expected: usize,
        /// Arguments given.
        found: usize,
    },
    /// A packet type was used with a constructor that does not build it.
    #[error("{kind} cannot be built by this constructor")]
    WrongPacketType {
        /// The type given.
        kind: PacketType,
    },
    /// The whole packet would exceed the protocol's 4 GiB body limit.
    #[error("packet body of {len} bytes exceeds the protocol's u32 length")]
    PacketTooLarge {
        /// The body length that was refused.
        len: usize,
    },
    /// A value is out of its allowed range.
    #[error("{field}: {reason}")]
    OutOfRange {
        /// Which argument.
        field: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// A server address that could not be parsed; names the bad entry.
///
/// ```
/// use gearman_sync::ServerAddr;
/// let error = ServerAddr::parse("host:0").unwrap_err();
/// assert_eq!(error.entry, "host:0");
/// assert_eq!(error.reason, "port out of range 1..=65535");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server address {entry:?}: {reason}")]
pub struct AddressError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// One server and the last error seen on it, as listed by [`Error::NoJobServers`].
///
/// ```
/// use gearman_sync::ServerFailure;
/// let failure = ServerFailure { server: "10.0.0.1:4730".into(), error: "refused".into() };
/// assert_eq!(failure.to_string(), "10.0.0.1:4730: refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFailure {
    /// The server, as `host:port`.
    pub server: String,
    /// The last error seen on it.
    pub error: String,
}

impl fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.server, self.error)
    }
}

fn list_failures(failures: &[ServerFailure]) -> String {
    if failures.is_empty() {
        return "no servers configured".to_owned();
    }
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `": text"` for a failure that came with a warning's text.
fn failure_text(warning: &Option<Vec<u8>>) -> String {
    match warning {
        Some(text) => format!(": {}", String::from_utf8_lossy(text)),
        None => String::new(),
    }
}

/// Every error this crate returns.
///
/// The variants separate what a caller must handle differently: input refused before sending
/// ([`Error::InvalidArgument`]), nothing sent ([`Error::NoJobServers`]), a submission whose fate
/// is unknown ([`Error::SubmitUnconfirmed`]), a server's `ERROR` reply ([`Error::Server`]), a job
/// that ran and failed ([`Error::JobFailed`], [`Error::JobException`]) and a deadline
/// ([`Error::Timeout`]).
///
/// ```no_run
/// use gearman_sync::{Client, Error};
/// let mut client = Client::new("127.0.0.1:4730")?;
/// match client.do_normal("reverse", "hello") {
///     Ok(result) => println!("{}", String::from_utf8_lossy(&result)),
///     Err(Error::JobFailed { handle, .. }) => eprintln!("job {handle} failed"),
///     Err(error) if error.may_have_been_submitted() => eprintln!("unknown fate: {error}"),
///     Err(error) if error.is_timeout() => eprintln!("too slow: {error}"),
///     Err(error) => return Err(error),
/// }
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Caller input was refused before anything was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(#[from] ArgumentError),
    /// A server address could not be parsed.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// A peer sent bytes that break the protocol; the connection was closed.
    #[error("protocol error from {server}: {source}")]
    Protocol {
        /// The peer, as `host:port`.
        server: String,
        /// What was wrong.
        source: ProtocolError,
    },
    /// No server could be reached, so nothing was sent. Lists every server with its last error.
    #[error("no job server reachable: {}", list_failures(.0))]
    NoJobServers(Vec<ServerFailure>),
    /// An I/O error on one server's connection (connect, read or write).
    #[error("I/O error with {server}: {source}")]
    Io {
        /// The peer, as `host:port`.
        server: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Waiting on the server connections (`poll(2)`) failed.
    #[error("waiting on the server connections failed: {0}")]
    Wait(#[source] io::Error),
    /// The server closed the connection.
    #[error("connection to {server} closed by the server")]
    ConnectionClosed {
        /// The peer, as `host:port`.
        server: String,
    },
    /// A submission was written but no `JOB_CREATED` arrived before the connection died or the
    /// deadline passed: the job may or may not exist on the server.
    #[error("submission to {server} was sent but not confirmed ({reason}); the job may exist on the server")]
    SubmitUnconfirmed {
        /// The server the submission went to.
        server: String,
        /// Why confirmation is missing.
        reason: String,
    },
    /// The server answered with an `ERROR` packet; code and text are kept as sent.
    #[error("server {server} returned {code}: {text}")]
    Server {
        /// The server that answered.
        server: String,
        /// The error code, e.g. `QUEUE_ERROR`.
        code: String,
        /// The message text.
        text: String,
    },
    /// The admin text protocol answered `ERR code message`.
    #[error("admin command failed: {code} {message}")]
    Admin {
        /// The error code, e.g. `UNKNOWN_JOB`.
        code: String,
        /// The message with `+` decoded to spaces.
        message: String,
    },
    /// The connection died after the server created the job: it may still run there, but its
    /// result can no longer reach this client.
    #[error("job {handle} on {server} lost: {reason}")]
    JobLost {
        /// The server that created the job.
        server: String,
        /// The job handle.
        handle: String,
        /// What happened to the connection.
        reason: String,
    },
    /// The job ran and the worker reported `WORK_FAIL` (or it was cancelled / out of retries).
    #[error("job {handle} failed{}", failure_text(.warning))]
    JobFailed {
        /// The job handle.
        handle: String,
        /// The data of the last `WORK_WARNING` before the `WORK_FAIL`: the error text of a
        /// gearman-sync worker under its default
        /// [`ExceptionMode::WarningThenFail`](crate::worker::ExceptionMode).
        warning: Option<Vec<u8>>,
    },
    /// The worker reported `WORK_EXCEPTION` with data.
    #[error("job {handle} raised an exception: {}", String::from_utf8_lossy(.data))]
    JobException {
        /// The job handle.
        handle: String,
        /// The exception payload.
        data: Vec<u8>,
    },
    /// A deadline passed before the operation finished.
    #[error("timed out after {after:?} while {during}")]
    Timeout {
        /// What was being waited for.
        during: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// A job's connection died, so data for it can no longer be sent.
    #[error("the connection that assigned job {handle} is gone")]
    JobConnectionLost {
        /// The job handle.
        handle: String,
    },
    /// A job was already finished (a terminal packet was sent) when more was sent for it.
    #[error("job {handle} is already finished")]
    JobFinished {
        /// The job handle.
        handle: String,
    },
}

impl Error {
    /// True for [`Error::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Error;
    /// let error = Error::Timeout { during: "waiting for the job", after: Duration::from_secs(60) };
    /// assert!(error.is_timeout());
    /// assert!(!Error::JobFailed { handle: "H:vm:1".into(), warning: None }.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// True when the submission may have reached the server ([`Error::SubmitUnconfirmed`]):
    /// resubmitting may then run the job twice.
    ///
    /// ```
    /// use gearman_sync::Error;
    /// let error = Error::SubmitUnconfirmed {
    ///     server: "127.0.0.1:4730".into(),
    ///     reason: "connection reset".into(),
    /// };
    /// assert!(error.may_have_been_submitted());
    /// assert!(!Error::NoJobServers(Vec::new()).may_have_been_submitted());
    /// ```
    pub fn may_have_been_submitted(&self) -> bool {
        matches!(self, Error::SubmitUnconfirmed { .. })
    }
}
