//! Job handles and job status values.

use crate::net::ServerAddr;

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
