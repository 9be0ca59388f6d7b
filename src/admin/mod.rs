//! The admin client: gearmand's text protocol (`status`, `workers`, `cancel job` ...) with
//! typed results and a deadline on every call, over one connection per configured server.
//!
//! This file holds [`Admin`], its builder and the single-server calls; `all.rs` the calls that
//! ask every server at once ([`ServerAnswer`], the `_all` methods and the totals).
//!
//! gearmand 1.1.20 has no `shutdown` command (it was removed in 1.1.15): stop the server with
//! SIGTERM (immediate) or SIGUSR1 (graceful) instead.

mod all;

pub use all::ServerAnswer;

use std::time::Duration;

use crate::error::{Error, Result, Waiting};
use crate::net::{Backoff, ConnectOptions, Connection, Deadline, Link, ServerAddr, ToServers};
use crate::protocol::admin::{
    AdminCommand, AdminParser, AdminReply, FunctionPriorityStatus, FunctionStatus, JobInfo,
    MaxQueue, WorkerInfo,
};
use crate::settings::{settings_setters, Settings, SettingsBuilder};

/// Default deadline of an admin call.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Admin connections to gearmand servers (gearman-ruby's `Server`, `gearadmin`), one per
/// configured server.
///
/// Each connection opens on first use. After a timeout or a malformed reply it is closed, since
/// later replies could be out of step, and reopened by the next call.
///
/// The plain calls ([`status`](Admin::status), [`workers`](Admin::workers) ...) ask the
/// **first** server of the list, as they always did; the `_all` calls
/// ([`status_all`](Admin::status_all), [`workers_all`](Admin::workers_all) ...) ask every
/// server at once and answer per server, a failed server's error beside the others' answers
/// (see [`ServerAnswer`]). [`Admin::total_status`] sums `status` over the servers. The
/// servers are asked in parallel, so a dead or silent one costs its own connect timeout or
/// request deadline, not the others'.
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
///
/// Over a list, one line per server and function, the totals, and the servers that failed:
///
/// ```no_run
/// use gearman_sync::Admin;
/// let mut admin = Admin::new("gm1,gm2,gm3")?;
/// let answers = admin.status_all();
/// for answer in &answers {
///     match &answer.result {
///         Ok(functions) => {
///             for f in functions {
///                 println!("{}\t{}\t{}\t{}", answer.server, f.name, f.total, f.available_workers);
///             }
///         }
///         Err(error) => eprintln!("{} failed: {error}", answer.server),
///     }
/// }
/// for f in Admin::total_status(&answers) {
///     println!("TOTAL\t{}\t{}\t{}", f.name, f.total, f.available_workers);
/// }
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug)]
pub struct Admin {
    /// The first server's link: the one the plain calls use.
    first: Link,
    /// The other servers' links, in the order of the list.
    others: Vec<Link>,
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

    /// Checks the settings and builds the admin client: one link per server, no connection
    /// opened yet.
    ///
    /// ```
    /// use gearman_sync::{Admin, Error};
    /// assert!(matches!(Admin::builder().servers("gm1:0").build(), Err(Error::Address(_))));
    /// ```
    pub fn build(self) -> Result<Admin> {
        let settings = self.core.build()?;
        let mut links = settings.servers.iter().cloned().map(Link::new);
        let first = links
            .next()
            .ok_or_else(|| Error::NoJobServers(Vec::new()))?;
        let others = links.collect();
        Ok(Admin {
            first,
            others,
            settings,
            parser: self.parser,
            timeout: self.timeout,
        })
    }
}

impl Admin {
    /// An admin client for a server or a list of them (`"host[:port],..."`, as for
    /// [`Client::new`](crate::Client::new)).
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let admin = Admin::new("gm1:4731,gm2")?;
    /// assert_eq!(admin.server().port(), 4731);
    /// assert_eq!(admin.settings().servers().len(), 2);
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

    /// The first server: the one the plain (not `_all`) calls talk to.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// assert_eq!(Admin::new("gm1,gm2")?.server().to_string(), "gm1:4730");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn server(&self) -> &ServerAddr {
        self.first.addr()
    }

    /// `status` on the first server: every function with queued + running jobs, running jobs
    /// and workers (see [`status_all`](Admin::status_all) for every server).
    pub fn status(&mut self) -> Result<Vec<FunctionStatus>> {
        self.ask(&AdminCommand::Status, pick::status)
    }

    /// `prioritystatus` on the first server: queued (not running) jobs per priority for every
    /// function.
    pub fn priority_status(&mut self) -> Result<Vec<FunctionPriorityStatus>> {
        self.ask(&AdminCommand::PriorityStatus, pick::priority_status)
    }

    /// `workers` on the first server: every connection with its client ID and registered functions.
    pub fn workers(&mut self) -> Result<Vec<WorkerInfo>> {
        self.ask(&AdminCommand::Workers, pick::workers)
    }

    /// `show jobs` on the first server: every job with its retry count and flags.
    pub fn show_jobs(&mut self) -> Result<Vec<JobInfo>> {
        self.ask(&AdminCommand::ShowJobs, pick::show_jobs)
    }

    /// `show unique jobs` on the first server: the unique of every job (empty for jobs without
    /// one).
    pub fn show_unique_jobs(&mut self) -> Result<Vec<String>> {
        self.ask(&AdminCommand::ShowUniqueJobs, pick::show_unique_jobs)
    }

    /// `cancel job HANDLE` on the first server (see
    /// [`cancel_job_handle`](Admin::cancel_job_handle) for the server that issued it): waiting
    /// clients get `WORK_FAIL`; a running job keeps running.
    /// An unknown handle is [`Error::Admin`] with code `UNKNOWN_JOB`.
    pub fn cancel_job(&mut self, handle: impl AsRef<[u8]>) -> Result<()> {
        self.expect_ok(&AdminCommand::CancelJob(handle.as_ref().to_vec()))
    }

    /// `create function NAME` on the first server.
    pub fn create_function(&mut self, name: impl AsRef<[u8]>) -> Result<()> {
        self.expect_ok(&AdminCommand::CreateFunction(name.as_ref().to_vec()))
    }

    /// `drop function NAME` on the first server: refused while workers are registered or jobs run.
    pub fn drop_function(&mut self, name: impl AsRef<[u8]>) -> Result<()> {
        self.expect_ok(&AdminCommand::DropFunction(name.as_ref().to_vec()))
    }

    /// `maxqueue FUNCTION ...` on the first server: limits the function's queue (values <= 0
    /// mean unlimited).
    pub fn max_queue(&mut self, function: impl AsRef<[u8]>, limit: MaxQueue) -> Result<()> {
        self.expect_ok(&AdminCommand::MaxQueue {
            function: function.as_ref().to_vec(),
            limit,
        })
    }

    /// `getpid` on the first server: its process ID.
    pub fn getpid(&mut self) -> Result<u32> {
        self.ask(&AdminCommand::GetPid, pick::getpid)
    }

    /// `verbose` on the first server: its log level name.
    pub fn verbose(&mut self) -> Result<String> {
        self.ask(&AdminCommand::Verbose, pick::verbose)
    }

    /// `version` on the first server: its version string, e.g. `1.1.20+ds`.
    pub fn version(&mut self) -> Result<String> {
        self.ask(&AdminCommand::Version, pick::version)
    }

    /// Sends `command` to the first server and takes the reply's expected shape out of it.
    fn ask<T>(&mut self, command: &AdminCommand, pick: Pick<T>) -> Result<T> {
        let reply = self.command(command)?;
        pick(reply).map_err(|other| unexpected(self.server(), other))
    }

    fn expect_ok(&mut self, command: &AdminCommand) -> Result<()> {
        match self.command(command)? {
            AdminReply::Ok => Ok(()),
            other => Err(unexpected(self.server(), other)),
        }
    }

    /// Sends any admin command to the first server and returns its typed reply; an `ERR` reply
    /// is [`Error::Admin`] (see [`command_all`](Admin::command_all) for every server).
    pub fn command(&mut self, command: &AdminCommand) -> Result<AdminReply> {
        let mut line = Vec::new();
        command.encode(&mut line)?;
        let call = self.call();
        call.run(&mut self.first, command, &line)
    }

    /// What one exchange needs besides the link (shared by the per-server threads).
    fn call(&self) -> Call {
        Call {
            connect: self.settings.connect.clone(),
            parser: self.parser,
            timeout: self.timeout,
        }
    }
}

/// A reply of the wrong shape (the parser is told the command, so this means a bug).
fn unexpected(server: &ServerAddr, reply: AdminReply) -> Error {
    let mut line = format!("{reply:?}");
    line.truncate(200);
    Error::Protocol {
        server: server.to_string(),
        source: crate::ProtocolError::MalformedAdminReply {
            reason: "reply does not match the command",
            line,
        },
    }
}

/// The settings of one admin exchange on any link.
#[derive(Debug, Clone)]
struct Call {
    connect: ConnectOptions,
    parser: AdminParser,
    timeout: Duration,
}

impl Call {
    /// Sends `line` (the encoded `command`) on `link`, connecting first if needed, and reads
    /// the reply within the deadline. After any failure but an `ERR` reply the connection is
    /// closed (later replies could be out of step) and reopened by the next call.
    fn run(&self, link: &mut Link, command: &AdminCommand, line: &[u8]) -> Result<AdminReply> {
        let result = self.round_trip(link, command, line);
        if let Err(error) = &result {
            if !matches!(error, Error::Admin { .. }) && link.is_open() {
                log::debug!("admin connection to {} closed after: {error}", link.addr());
                link.close();
            }
        }
        result
    }

    fn round_trip(
        &self,
        link: &mut Link,
        command: &AdminCommand,
        line: &[u8],
    ) -> Result<AdminReply> {
        let deadline = Deadline::after(self.timeout, Waiting::AdminReply);
        if !link.is_open() {
            link.attach(Connection::connect(link.addr(), &self.connect)?);
        }
        let server = link.addr().to_string();
        let Some(conn) = link.conn_mut() else {
            return Err(Error::ConnectionClosed { server });
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

/// Takes the wanted shape out of a reply, or gives the reply back.
type Pick<T> = fn(AdminReply) -> std::result::Result<T, AdminReply>;

/// The expected reply shape of each command, for the first-server calls and the `_all` calls
/// alike.
mod pick {
    use crate::protocol::admin::{
        AdminReply, FunctionPriorityStatus, FunctionStatus, JobInfo, WorkerInfo,
    };

    pub(super) fn status(reply: AdminReply) -> Result<Vec<FunctionStatus>, AdminReply> {
        match reply {
            AdminReply::Status(functions) => Ok(functions),
            other => Err(other),
        }
    }

    pub(super) fn priority_status(
        reply: AdminReply,
    ) -> Result<Vec<FunctionPriorityStatus>, AdminReply> {
        match reply {
            AdminReply::PriorityStatus(functions) => Ok(functions),
            other => Err(other),
        }
    }

    pub(super) fn workers(reply: AdminReply) -> Result<Vec<WorkerInfo>, AdminReply> {
        match reply {
            AdminReply::Workers(workers) => Ok(workers),
            other => Err(other),
        }
    }

    pub(super) fn show_jobs(reply: AdminReply) -> Result<Vec<JobInfo>, AdminReply> {
        match reply {
            AdminReply::Jobs(jobs) => Ok(jobs),
            other => Err(other),
        }
    }

    pub(super) fn show_unique_jobs(reply: AdminReply) -> Result<Vec<String>, AdminReply> {
        match reply {
            AdminReply::UniqueJobs(uniques) => Ok(uniques),
            other => Err(other),
        }
    }

    pub(super) fn getpid(reply: AdminReply) -> Result<u32, AdminReply> {
        match reply {
            AdminReply::Pid(pid) => Ok(pid),
            other => Err(other),
        }
    }

    pub(super) fn verbose(reply: AdminReply) -> Result<String, AdminReply> {
        match reply {
            AdminReply::Verbose(level) => Ok(level),
            other => Err(other),
        }
    }

    pub(super) fn version(reply: AdminReply) -> Result<String, AdminReply> {
        match reply {
            AdminReply::Version(version) => Ok(version),
            other => Err(other),
        }
    }
}
