//! Job handles and job status values.

use std::fmt;

use crate::net::ServerAddr;

/// A job handle as issued by one server (`JOB_CREATED`), remembering that server.
///
/// Handles are only unique per server and per server start, so the server is part of the
/// identity; [`Client::status`](crate::Client::status) asks the server that issued it.
///
/// ```
/// use gearman_sync::{JobHandle, ServerAddr};
/// let handle = JobHandle::new("127.0.0.1:4730".parse::<ServerAddr>()?, "H:vm:1");
/// assert_eq!(handle.to_string(), "H:vm:1");
/// assert_eq!(handle.server().port(), 4730);
/// # Ok::<(), gearman_sync::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobHandle {
    server: ServerAddr,
    handle: Vec<u8>,
}

impl JobHandle {
    /// A handle issued by `server` (normally made by the client from `JOB_CREATED`; build one
    /// yourself to ask about a handle stored elsewhere).
    ///
    /// ```
    /// use gearman_sync::{JobHandle, ServerAddr};
    /// let handle = JobHandle::new(ServerAddr::new("10.0.0.1", 4730)?, "H:gm1:42");
    /// assert_eq!(handle.as_bytes(), b"H:gm1:42");
    /// # Ok::<(), gearman_sync::AddressError>(())
    /// ```
    pub fn new(server: ServerAddr, handle: impl Into<Vec<u8>>) -> JobHandle {
        JobHandle {
            server,
            handle: handle.into(),
        }
    }

    /// The server that issued the handle.
    ///
    /// ```
    /// use gearman_sync::{JobHandle, ServerAddr};
    /// let handle = JobHandle::new(ServerAddr::new("10.0.0.1", 4731)?, "H:gm1:42");
    /// assert_eq!(handle.server().to_string(), "10.0.0.1:4731");
    /// # Ok::<(), gearman_sync::AddressError>(())
    /// ```
    pub fn server(&self) -> &ServerAddr {
        &self.server
    }

    /// The handle bytes as sent by the server.
    ///
    /// ```
    /// use gearman_sync::{JobHandle, ServerAddr};
    /// let handle = JobHandle::new(ServerAddr::new("10.0.0.1", 4730)?, "H:gm1:42");
    /// assert_eq!(handle.as_bytes(), b"H:gm1:42");
    /// # Ok::<(), gearman_sync::AddressError>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.handle
    }
}

impl fmt::Display for JobHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.handle))
    }
}

/// A job's state as reported by `STATUS_RES`.
///
/// ```
/// use gearman_sync::JobStatus;
/// let status = JobStatus { known: true, running: true, numerator: 1, denominator: 4 };
/// assert_eq!(status.percent(), Some(25.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobStatus {
    /// The server knows the job (queued or running). False once it finished or never existed.
    pub known: bool,
    /// A worker is running it.
    pub running: bool,
    /// Last progress numerator sent by the worker.
    pub numerator: u32,
    /// Last progress denominator sent by the worker.
    pub denominator: u32,
}

impl JobStatus {
    /// Progress in percent, `None` while the denominator is 0.
    ///
    /// ```
    /// use gearman_sync::JobStatus;
    /// let halfway = JobStatus { known: true, running: true, numerator: 5, denominator: 10 };
    /// assert_eq!(halfway.percent(), Some(50.0));
    /// assert_eq!(JobStatus::default().percent(), None);
    /// ```
    pub fn percent(&self) -> Option<f64> {
        (self.denominator != 0)
            .then(|| f64::from(self.numerator) * 100.0 / f64::from(self.denominator))
    }
}

/// A job's state looked up by its unique ID (`STATUS_RES_UNIQUE`), as returned by
/// [`Client::status_by_unique`](crate::Client::status_by_unique).
///
/// ```no_run
/// use gearman_sync::Client;
/// let mut client = Client::new("127.0.0.1:4730")?;
/// let found = client.status_by_unique("import-feed")?;
/// if found.status.known {
///     println!("on {}: {} clients waiting", found.server, found.clients);
/// }
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueJobStatus {
    /// The server that answered (the first that knows the job, or the last asked).
    pub server: ServerAddr,
    /// Known, running and progress, as for a handle.
    pub status: JobStatus,
    /// Number of foreground clients waiting on the job.
    pub clients: u32,
}
