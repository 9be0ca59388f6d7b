//! Job handles: what a server calls a job, with the server that issued it.

use std::fmt;

use super::ServerAddr;

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
