//! The admin client: gearmand's text protocol (`status`, `workers`, `cancel job` ...) over one
//! server connection, with typed results and a deadline on every call.
//!
//! gearmand 1.1.20 has no `shutdown` command (it was removed in 1.1.15): stop the server with
//! SIGTERM (immediate) or SIGUSR1 (graceful) instead.

use std::time::Duration;

use crate::error::{Error, Result, Waiting};
use crate::net::{Backoff, Connection, Deadline, Link, ServerAddr, ToServers};
use crate::protocol::admin::{
    AdminCommand, AdminParser, AdminReply, FunctionPriorityStatus, FunctionStatus, JobInfo,
    MaxQueue, WorkerInfo,
};
use crate::settings::{settings_setters, Settings, SettingsBuilder};

/// Default deadline of an admin call.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// An admin connection to one gearmand (gearman-ruby's `Server`, `gearadmin`).
///
/// The connection opens on first use. After a timeout or a malformed reply it is closed, since
/// later replies could be out of step, and reopened by the next call.
///
/// ```no_run
/// use gearman_sync::Admin;
/// let mut admin = Admin::new("127.0.0.1:4730")?;
/// println!("gearmand {}", admin.version()?);
/// for function in admin.status()? {
///     println!("{}\t{} queued, {} running, {} workers",
///         function.name, function.total - function.running, function.running,
///         function.available_workers);
/// }
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug)]
pub struct Admin {
    link: Link,
    settings: Settings,
    parser: AdminParser,
    timeout: Duration,
}

/// Builds an [`Admin`] with non-default settings: the settings core shared with
/// [`ClientBuilder`](crate::ClientBuilder) and [`WorkerBuilder`](crate::WorkerBuilder), the
/// deadline of each call, and the reply size limits.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::Admin;
/// let admin = Admin::builder()
///     .servers("127.0.0.1:4730")
///     .connect_timeout(Duration::from_secs(1))
///     .request_timeout(Duration::from_secs(3))
///     .build()?;
/// assert_eq!(admin.request_timeout(), Duration::from_secs(3));
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AdminBuilder {
    core: SettingsBuilder,
    parser: AdminParser,
    timeout: Duration,
}

impl AdminBuilder {
    settings_setters!(Admin, core);

    /// The deadline of each admin call (default [`DEFAULT_ADMIN_TIMEOUT`], 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Admin;
    /// let admin = Admin::builder().servers("gm1").request_timeout(Duration::from_secs(2)).build()?;
    /// assert_eq!(admin.request_timeout(), Duration::from_secs(2));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reply size limits (line length and whole reply; see [`AdminParser`]).
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// use gearman_sync::protocol::admin::AdminParser;
    /// let admin = Admin::builder().servers("gm1").parser(AdminParser::new()).build()?;
    /// assert_eq!(admin.server().to_string(), "gm1:4730");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn parser(mut self, parser: AdminParser) -> Self {
        self.parser = parser;
        self
    }

    /// Checks the settings and builds the admin client (it talks to the first server; no
    /// connection is opened yet).
    ///
    /// ```
    /// use gearman_sync::{Admin, Error};
    /// assert!(matches!(Admin::builder().servers("gm1:0").build(), Err(Error::Address(_))));
    /// ```
    pub fn build(self) -> Result<Admin> {
        let settings = self.core.build()?;
        let server = settings
            .servers
            .first()
            .cloned()
            .ok_or_else(|| Error::NoJobServers(Vec::new()))?;
        Ok(Admin {
            link: Link::new(server),
            settings,
            parser: self.parser,
            timeout: self.timeout,
        })
    }
}

impl Admin {
    /// An admin client for one server (`host[:port]`; the first entry of a list is used).
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let admin = Admin::new("gm1:4731")?;
    /// assert_eq!(admin.server().port(), 4731);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn new<S: ToServers + ?Sized>(server: &S) -> Result<Admin> {
        Admin::builder().servers(server).build()
    }

    /// A builder for non-default settings (see [`AdminBuilder`]).
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let admin = Admin::builder().servers("gm1").build()?;
    /// assert_eq!(admin.settings().servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn builder() -> AdminBuilder {
        AdminBuilder {
            core: SettingsBuilder::new(Backoff::default()),
            parser: AdminParser::new(),
            timeout: DEFAULT_ADMIN_TIMEOUT,
        }
    }

    /// The settings shared with [`Client`](crate::Client) and [`Worker`](crate::Worker).
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let admin = Admin::new("gm1")?;
    /// assert_eq!(admin.settings().servers()[0].to_string(), "gm1:4730");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The deadline of each call.
    ///
    /// ```
    /// use gearman_sync::{Admin, DEFAULT_ADMIN_TIMEOUT};
    /// assert_eq!(Admin::new("gm1")?.request_timeout(), DEFAULT_ADMIN_TIMEOUT);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// The server this client talks to.
    pub fn server(&self) -> &ServerAddr {
        self.link.addr()
    }

    /// `status`: every function with queued + running jobs, running jobs and workers.
    pub fn status(&mut self) -> Result<Vec<FunctionStatus>> {
        match self.command(&AdminCommand::Status)? {
            AdminReply::Status(functions) => Ok(functions),
            other => Err(self.unexpected(other)),
        }
    }

    /// `prioritystatus`: queued (not running) jobs per priority for every function.
    pub fn priority_status(&mut self) -> Result<Vec<FunctionPriorityStatus>> {
        match self.command(&AdminCommand::PriorityStatus)? {
            AdminReply::PriorityStatus(functions) => Ok(functions),
            other => Err(self.unexpected(other)),
        }
    }

    /// `workers`: every connection with its client ID and registered functions.
    pub fn workers(&mut self) -> Result<Vec<WorkerInfo>> {
        match self.command(&AdminCommand::Workers)? {
            AdminReply::Workers(workers) => Ok(workers),
            other => Err(self.unexpected(other)),
        }
    }

    /// `show jobs`: every job with its retry count and flags.
    pub fn show_jobs(&mut self) -> Result<Vec<JobInfo>> {
        match self.command(&AdminCommand::ShowJobs)? {
            AdminReply::Jobs(jobs) => Ok(jobs),
            other => Err(self.unexpected(other)),
        }
    }

    /// `show unique jobs`: the unique of every job (empty for jobs without one).
    pub fn show_unique_jobs(&mut self) -> Result<Vec<String>> {
        match self.command(&AdminCommand::ShowUniqueJobs)? {
            AdminReply::UniqueJobs(uniques) => Ok(uniques),
            other => Err(self.unexpected(other)),
        }
    }

    /// `cancel job HANDLE`: waiting clients get `WORK_FAIL`; a running job keeps running.
    /// An unknown handle is [`Error::Admin`] with code `UNKNOWN_JOB`.
    pub fn cancel_job(&mut self, handle: impl AsRef<[u8]>) -> Result<()> {
        self.expect_ok(&AdminCommand::CancelJob(handle.as_ref().to_vec()))
    }

    /// `create function NAME`.
    pub fn create_function(&mut self, name: impl AsRef<[u8]>) -> Result<()> {
        self.expect_ok(&AdminCommand::CreateFunction(name.as_ref().to_vec()))
    }

    /// `drop function NAME`: refused while workers are registered or jobs run.
    pub fn drop_function(&mut self, name: impl AsRef<[u8]>) -> Result<()> {
        self.expect_ok(&AdminCommand::DropFunction(name.as_ref().to_vec()))
    }

    /// `maxqueue FUNCTION ...`: limits the function's queue (values <= 0 mean unlimited).
    pub fn max_queue(&mut self, function: impl AsRef<[u8]>, limit: MaxQueue) -> Result<()> {
        self.expect_ok(&AdminCommand::MaxQueue {
            function: function.as_ref().to_vec(),
            limit,
        })
    }

    /// `getpid`: the server's process ID.
    pub fn getpid(&mut self) -> Result<u32> {
        match self.command(&AdminCommand::GetPid)? {
            AdminReply::Pid(pid) => Ok(pid),
            other => Err(self.unexpected(other)),
        }
    }

    /// `verbose`: the server's log level name.
    pub fn verbose(&mut self) -> Result<String> {
        match self.command(&AdminCommand::Verbose)? {
            AdminReply::Verbose(level) => Ok(level),
            other => Err(self.unexpected(other)),
        }
    }

    /// `version`: the server's version string, e.g. `1.1.20+ds`.
    pub fn version(&mut self) -> Result<String> {
        match self.command(&AdminCommand::Version)? {
            AdminReply::Version(version) => Ok(version),
            other => Err(self.unexpected(other)),
        }
    }

    /// A reply of the wrong shape (the parser is told the command, so this means a bug).
    fn unexpected(&self, reply: AdminReply) -> Error {
        let mut line = format!("{reply:?}");
        line.truncate(200);
        Error::Protocol {
            server: self.link.addr().to_string(),
            source: crate::ProtocolError::MalformedAdminReply {
                reason: "reply does not match the command",
                line,
            },
        }
    }

    fn expect_ok(&mut self, command: &AdminCommand) -> Result<()> {
        match self.command(command)? {
            AdminReply::Ok => Ok(()),
            other => Err(self.unexpected(other)),
        }
    }

    /// Sends any admin command and returns its typed reply; an `ERR` reply is
    /// [`Error::Admin`].
    pub fn command(&mut self, command: &AdminCommand) -> Result<AdminReply> {
        let mut line = Vec::new();
        command.encode(&mut line)?;
        let result = self.round_trip(command, &line);
        if let Err(error) = &result {
            if !matches!(error, Error::Admin { .. }) && self.link.is_open() {
                log::debug!(
                    "admin connection to {} closed after: {error}",
                    self.link.addr()
                );
                self.link.close();
            }
        }
        result
    }

    fn round_trip(&mut self, command: &AdminCommand, line: &[u8]) -> Result<AdminReply> {
        let deadline = Deadline::after(self.timeout, Waiting::AdminReply);
        if !self.link.is_open() {
            self.link.attach(Connection::connect(
                self.link.addr(),
                &self.settings.connect,
            )?);
        }
        let Some(conn) = self.link.conn_mut() else {
            return Err(Error::ConnectionClosed {
                server: self.link.addr().to_string(),
            });
        };
        conn.queue_raw(line);
        conn.flush()?;
        let parser = self.parser;
        match conn.recv_text(&deadline, |buf| parser.parse(command, buf))? {
            AdminReply::Err { code, message } => Err(Error::Admin { code, message }),
            reply => Ok(reply),
        }
    }
}
