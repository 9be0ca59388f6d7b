//! The root [`Error`] of every fallible call, and the errors of the layers below it that it
//! wraps: the codec's [`ProtocolError`] and [`ArgumentError`] (defined in `protocol/error.rs`,
//! so that dependencies flow one way: protocol, then this file) and [`AddressError`].

use std::fmt;
use std::io;
use std::time::Duration;

use std::sync::Arc;

pub(crate) use crate::net::AddressError;
use crate::net::{JobHandle, ServerAddr};
pub(crate) use crate::protocol::error::{ArgumentError, ProtocolError};
use crate::protocol::{Packet, PacketType};

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

/// One server and the last error seen on it, as listed by [`Error::NoJobServers`].
///
/// ```
/// use gearman_sync::{Error, ServerFailure};
/// let failure = ServerFailure::new("10.0.0.1:4730", None);
/// assert_eq!(failure.to_string(), "10.0.0.1:4730: not tried");
/// let closed = Error::ConnectionClosed { server: "10.0.0.1:4730".into() };
/// let failure = ServerFailure::new("10.0.0.1:4730", Some(closed));
/// assert!(matches!(failure.error.as_deref(), Some(Error::ConnectionClosed { .. })));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerFailure {
    /// The server, as `host:port`.
    pub server: String,
    /// The last error seen on it (`None`: it was not tried).
    pub error: Option<Arc<Error>>,
}

impl ServerFailure {
    /// A server and its last error.
    ///
    /// ```
    /// use gearman_sync::ServerFailure;
    /// assert!(ServerFailure::new("gm1:4730", None).error.is_none());
    /// ```
    pub fn new(server: impl Into<String>, error: Option<Error>) -> ServerFailure {
        ServerFailure {
            server: server.into(),
            error: error.map(Arc::new),
        }
    }
}

impl fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(error) => write!(f, "{}: {error}", self.server),
            None => write!(f, "{}: not tried", self.server),
        }
    }
}

/// What a call was waiting for when its deadline passed (in [`Error::Timeout`]).
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::{Error, Waiting};
/// let error = Error::Timeout { waiting_for: Waiting::JobResult, timeout: Duration::from_secs(60) };
/// assert_eq!(error.to_string(), "timed out after 60s waiting for the job's result");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Waiting {
    /// A new connection's `ECHO` probe (and the `OPTION_RES` replies before it).
    Probe,
    /// The reply to a request: `STATUS_RES`, `ECHO_RES`, `OPTION_RES` ...
    Reply(PacketType),
    /// `JOB_CREATED` for a submission.
    JobCreated,
    /// A foreground job's result.
    JobResult,
    /// The reply to a worker's `GRAB_JOB`.
    GrabReply,
    /// The `ECHO` a worker sends before it returns, so the results it sent are not lost.
    Sync,
    /// An admin command's reply.
    AdminReply,
    /// The reply to the admin `version` command a worker sends on connect.
    ServerVersion,
    /// A socket read or write (the I/O timeout).
    Socket,
    /// The TLS handshake of a new connection (bounded by the connect timeout).
    TlsHandshake,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::Probe => f.write_str("the probe of a new connection"),
            Waiting::Reply(kind) => write!(f, "{kind}"),
            Waiting::JobCreated => f.write_str("JOB_CREATED"),
            Waiting::JobResult => f.write_str("the job's result"),
            Waiting::GrabReply => f.write_str("the reply to GRAB_JOB"),
            Waiting::Sync => f.write_str("the server to confirm the results sent"),
            Waiting::AdminReply => f.write_str("an admin reply"),
            Waiting::ServerVersion => f.write_str("the server's version"),
            Waiting::Socket => f.write_str("the socket"),
            Waiting::TlsHandshake => f.write_str("the TLS handshake"),
        }
    }
}

/// The code of a gearmand `ERROR` packet (PROTOCOL.md 3.9), for [`Error::Server`].
///
/// ```
/// use gearman_sync::ServerErrorCode;
/// assert_eq!(ServerErrorCode::from_wire(b"JOB_NOT_FOUND"), ServerErrorCode::JobNotFound);
/// assert_eq!(ServerErrorCode::from_wire(b"NEW_CODE").to_string(), "NEW_CODE");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorCode {
    /// `JOB_NOT_FOUND`: a result or status for a job this connection does not own (also a late
    /// result after gearmand re-queued the job).
    JobNotFound,
    /// `QUEUE_ERROR`: the job could not be queued (a full queue, a failed persistent store).
    QueueError,
    /// `ARGUMENT_TOO_LARGE`: a unique or reducer over 63 bytes, a handle of 64 bytes or more.
    ArgumentTooLarge,
    /// `UNKNOWN_OPTION`: an `OPTION_REQ` gearmand does not know.
    UnknownOption,
    /// `INVALID_COMMAND`: a packet type gearmand does not take from this side.
    InvalidCommand,
    /// `INVALID_MAGIC`: a packet with response magic.
    InvalidMagic,
    /// Any other code, as sent.
    Other(String),
}

impl ServerErrorCode {
    /// The code for `code` as it appears in an `ERROR` packet.
    pub fn from_wire(code: &[u8]) -> ServerErrorCode {
        match code {
            b"JOB_NOT_FOUND" => ServerErrorCode::JobNotFound,
            b"QUEUE_ERROR" => ServerErrorCode::QueueError,
            b"ARGUMENT_TOO_LARGE" => ServerErrorCode::ArgumentTooLarge,
            b"UNKNOWN_OPTION" => ServerErrorCode::UnknownOption,
            b"INVALID_COMMAND" => ServerErrorCode::InvalidCommand,
            b"INVALID_MAGIC" => ServerErrorCode::InvalidMagic,
            other => ServerErrorCode::Other(String::from_utf8_lossy(other).into_owned()),
        }
    }
}

impl fmt::Display for ServerErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerErrorCode::JobNotFound => "JOB_NOT_FOUND",
            ServerErrorCode::QueueError => "QUEUE_ERROR",
            ServerErrorCode::ArgumentTooLarge => "ARGUMENT_TOO_LARGE",
            ServerErrorCode::UnknownOption => "UNKNOWN_OPTION",
            ServerErrorCode::InvalidCommand => "INVALID_COMMAND",
            ServerErrorCode::InvalidMagic => "INVALID_MAGIC",
            ServerErrorCode::Other(code) => code,
        })
    }
}

/// Why a TLS connection failed (in [`Error::Tls`]): what to fix differs per kind, and none of
/// them goes away by retrying.
///
/// ```
/// use gearman_sync::{Error, TlsErrorKind};
/// let error = Error::Tls {
///     server: "gm1:4730".into(),
///     kind: TlsErrorKind::UnknownIssuer,
///     message: "invalid peer certificate: UnknownIssuer".into(),
/// };
/// assert_eq!(error.tls_kind(), Some(TlsErrorKind::UnknownIssuer));
/// assert!(error.to_string().starts_with("TLS with gm1:4730 failed: the server's certificate"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The server's certificate chain does not lead to a trusted root (wrong CA file, or a
    /// self-signed server certificate that is not in it).
    UnknownIssuer,
    /// The certificate is valid but not for the name checked (the host of the address, or
    /// the configured server name; an IP address is matched against the IP SANs).
    NameMismatch,
    /// The certificate (or one in its chain) has expired.
    Expired,
    /// The certificate (or one in its chain) is not valid yet: check the clocks.
    NotYetValid,
    /// Another problem with the server's certificate (bad signature, revoked, wrong key usage,
    /// unsupported algorithm, bad encoding).
    BadCertificate,
    /// The server (or a TLS proxy) refused the handshake with an alert, for example because
    /// it requires a client certificate that was not sent or that it does not trust.
    HandshakeRefused,
    /// The peer does not speak TLS: it answered the TLS hello with something else, or closed
    /// the connection without a TLS reply (a plain-text gearmand does that).
    NotTls,
    /// Any other TLS failure (a protocol violation, no common cipher suite or version).
    Other,
}

impl fmt::Display for TlsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsErrorKind::UnknownIssuer => {
                "the server's certificate is not signed by a trusted CA (unknown issuer)"
            }
            TlsErrorKind::NameMismatch => "the server's certificate is not valid for this name",
            TlsErrorKind::Expired => "the server's certificate has expired",
            TlsErrorKind::NotYetValid => "the server's certificate is not valid yet",
            TlsErrorKind::BadCertificate => "the server's certificate is unusable",
            TlsErrorKind::HandshakeRefused => "the peer refused the TLS handshake",
            TlsErrorKind::NotTls => "the peer does not speak TLS (a plain-text port?)",
            TlsErrorKind::Other => "TLS error",
        })
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
#[derive(Debug, Clone, thiserror::Error)]
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
        /// The underlying error (shared, so that errors can be cloned).
        source: Arc<io::Error>,
    },
    /// Waiting on the server connections (`poll(2)`) failed.
    #[error("waiting on the server connections failed: {0}")]
    Wait(#[source] Arc<io::Error>),
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
    /// The server answered with an `ERROR` packet (built only by [`Error::from_error_packet`]).
    #[error("server {server} returned {code}: {text}")]
    Server {
        /// The server that answered.
        server: String,
        /// The error code.
        code: ServerErrorCode,
        /// The message text, as sent.
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
    #[error("job {handle} on {} lost: {reason}", .handle.server())]
    JobLost {
        /// The job's handle, with the server that created it.
        handle: JobHandle,
        /// What happened to the connection.
        reason: String,
    },
    /// The job ran and the worker reported `WORK_FAIL` (or it was cancelled / out of retries).
    #[error("job {handle} failed{}", failure_text(.warning))]
    JobFailed {
        /// The job's handle, with its server.
        handle: JobHandle,
        /// The data of the last `WORK_WARNING` before the `WORK_FAIL`: the error text of a
        /// gearman-sync worker under its default
        /// [`ExceptionMode::WarningThenFail`](crate::ExceptionMode).
        warning: Option<Vec<u8>>,
    },
    /// The worker reported `WORK_EXCEPTION` with data.
    #[error("job {handle} raised an exception: {}", String::from_utf8_lossy(.data))]
    JobException {
        /// The job's handle, with its server.
        handle: JobHandle,
        /// The exception payload.
        data: Vec<u8>,
    },
    /// A payload did not encode to, or decode from, JSON (feature `json`).
    #[error("JSON payload of {function}: {message}")]
    Json {
        /// The function the payload was for.
        function: String,
        /// What serde said.
        message: String,
    },
    /// A deadline passed before the operation finished.
    #[error("timed out after {timeout:?} waiting for {waiting_for}")]
    Timeout {
        /// What was being waited for.
        waiting_for: Waiting,
        /// The time limit that passed.
        timeout: Duration,
    },
    /// A TLS connection to a server failed (feature `tls`): the handshake was refused, the
    /// server's certificate was not trusted, or the peer does not speak TLS. A certificate the
    /// client refuses stops the handshake before anything else is sent; a TLS 1.3 peer that
    /// refuses the client's certificate says so after the handshake, when the first requests
    /// may already have been written (they were never taken in). Retrying does not help until
    /// the certificates, the settings or the server are fixed; see [`TlsErrorKind`].
    #[error("TLS with {server} failed: {kind}: {message}")]
    Tls {
        /// The peer, as `host:port`.
        server: String,
        /// What failed, for the caller to act on.
        kind: TlsErrorKind,
        /// The TLS library's description (the alert, the certificate error ...).
        message: String,
    },
    /// The TLS settings could not be used (feature `tls`): a CA, certificate or key file that
    /// cannot be read or holds nothing usable, or a bad server name. Reported by
    /// `TlsConfigBuilder::build`, before any connection.
    #[error("TLS settings: {reason}")]
    TlsSetup {
        /// What is wrong, naming the file or value.
        reason: String,
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
    /// A thread of a [`ConcurrentWorker`](crate::ConcurrentWorker) could not be started, or
    /// ended by a panic (a bug: handlers' and callbacks' panics are caught).
    #[error("worker thread {thread}: {reason}")]
    WorkerThread {
        /// The thread's number: 0 is the thread that called `work()`, any other is named
        /// `gearman-worker-<thread>`.
        thread: usize,
        /// What happened to it.
        reason: String,
    },
}

impl Error {
    /// The error for an `ERROR` packet from `server`: the one place where one is built.
    ///
    /// ```
    /// use gearman_sync::{Error, ServerAddr, ServerErrorCode};
    /// use gearman_sync::protocol::{Magic, Packet, PacketType};
    /// let packet =
    ///     Packet::new(Magic::Response, PacketType::Error, &[b"QUEUE_ERROR", b"Job queue is full"])?;
    /// let error = Error::from_error_packet(&ServerAddr::new("gm1", 4730)?, &packet);
    /// assert!(matches!(error, Error::Server { code: ServerErrorCode::QueueError, .. }));
    /// assert_eq!(error.to_string(), "server gm1:4730 returned QUEUE_ERROR: Job queue is full");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_error_packet(server: &ServerAddr, packet: &Packet) -> Error {
        Error::Server {
            server: server.to_string(),
            code: ServerErrorCode::from_wire(packet.arg(0)),
            text: String::from_utf8_lossy(packet.arg(1)).into_owned(),
        }
    }

    /// True for [`Error::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::{Error, Waiting};
    /// let error = Error::Timeout { waiting_for: Waiting::JobResult, timeout: Duration::from_secs(60) };
    /// assert!(error.is_timeout());
    /// assert!(!Error::ConnectionClosed { server: "gm1:4730".into() }.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The kind of TLS failure behind this error: [`Error::Tls`] itself, or the first TLS
    /// failure among the servers of [`Error::NoJobServers`] (a client that found no usable
    /// server). `None` for every other error.
    ///
    /// ```
    /// use gearman_sync::{Error, ServerFailure, TlsErrorKind};
    /// let refused = Error::Tls {
    ///     server: "gm1:4730".into(),
    ///     kind: TlsErrorKind::NameMismatch,
    ///     message: "certificate not valid for name \"gm1\"".into(),
    /// };
    /// let none_left = Error::NoJobServers(vec![ServerFailure::new("gm1:4730", Some(refused))]);
    /// assert_eq!(none_left.tls_kind(), Some(TlsErrorKind::NameMismatch));
    /// assert_eq!(Error::NoJobServers(Vec::new()).tls_kind(), None);
    /// ```
    pub fn tls_kind(&self) -> Option<TlsErrorKind> {
        match self {
            Error::Tls { kind, .. } => Some(*kind),
            Error::NoJobServers(failures) => failures
                .iter()
                .find_map(|failure| failure.error.as_deref().and_then(Error::tls_kind)),
            _ => None,
        }
    }

    /// True when the job may exist on the server although this call failed: a submission
    /// that was sent without confirmation ([`Error::SubmitUnconfirmed`]), or a job that was
    /// created and then lost its connection ([`Error::JobLost`]). Resubmitting may then run
    /// the job twice.
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
        matches!(
            self,
            Error::SubmitUnconfirmed { .. } | Error::JobLost { .. }
        )
    }
}
