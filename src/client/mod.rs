//! The client side: [`Client`] submits jobs and asks about them; [`Task`] describes one
//! submission; [`TaskSet`] runs many at once.

mod builder;
mod job;
mod router;
mod shared;
mod task;
mod task_set;
mod unique;
mod workload;

use std::time::{Duration, SystemTime};

pub use builder::ClientBuilder;
use builder::ClientOptions;
pub use job::{JobStatus, UniqueJobStatus};
pub use shared::{PooledClient, SharedClient};
pub use task::{Priority, Task};
pub use task_set::{Finished, Progress, TaskId, TaskOutcome, TaskSet, WaitSummary};
pub use unique::UniqueMode;
pub use workload::Workload;

use crate::error::{Error, ProtocolError, Result, Waiting};
use crate::net::{ConnectionPool, Deadline, JobHandle, Routing, ServerAddr, ToServers};
use crate::protocol::{parse_decimal, Packet, PacketType};
use crate::settings::Settings;

/// Fuzz entry point: see [`crate::__fuzz::client_router`].
pub(crate) fn fuzz_router(data: &[u8]) {
    router::drive(data);
}

/// Default deadline for a job submitted with [`Client::do_task`] and friends (60 s); change it
/// with [`ClientBuilder::job_timeout`] or per task with [`Task::timeout`].
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(60);
/// Default deadline for a request with a direct reply (status, echo, a background
/// submission's `JOB_CREATED`): 10 s; change it with [`ClientBuilder::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A Gearman client: submits jobs (foreground or background, at any priority), asks for
/// their status, and runs many tasks at once through a [`TaskSet`].
///
/// Every call blocks the calling thread and every wait has a deadline. A `Client` holds no
/// locks and is `Send`: share one between threads behind a `Mutex`, or give each thread its own.
///
/// ```no_run
/// use gearman_sync::Client;
/// let mut client = Client::new("127.0.0.1:4730")?;
/// let reversed = client.do_normal("reverse", "hello")?;
/// assert_eq!(reversed, b"olleh");
/// let handle = client.do_background("send_mail", "to=ops")?;
/// println!("{:?}", client.status(&handle)?);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    pool: ConnectionPool,
    settings: Settings,
    options: ClientOptions,
    /// A finished task set's tables, for the next one.
    spare_tables: Option<task_set::Tables>,
}

impl Client {
    /// A client for `servers` with default settings; an empty list means `GEARMAN_SERVERS`,
    /// then `127.0.0.1:4730`. No connection is opened until the first request, so this only
    /// fails for a bad address ([`Error::Address`]).
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let client = Client::new("gearman-1,gearman-2:4731")?;
    /// assert_eq!(client.settings().servers().len(), 2);
    /// assert!(Client::new("gearman-1:notaport").is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn new<S: ToServers + ?Sized>(servers: &S) -> Result<Client> {
        Client::builder().servers(servers).build()
    }

    /// A builder for non-default settings (see [`ClientBuilder`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Client;
    /// let client = Client::builder()
    ///     .servers("127.0.0.1:4730")
    ///     .job_timeout(Duration::from_secs(5))
    ///     .build()?;
    /// assert_eq!(client.settings().servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The settings shared with [`Worker`](crate::Worker) and [`Admin`](crate::Admin), as
    /// built (see [`Settings`]).
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").prefix("billing.").build()?;
    /// assert_eq!(client.settings().prefix(), b"billing.");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The default deadline of a foreground job ([`ClientBuilder::job_timeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").job_timeout(Duration::from_secs(5)).build()?;
    /// assert_eq!(client.job_timeout(), Duration::from_secs(5));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn job_timeout(&self) -> Duration {
        self.options.job_timeout
    }

    /// The deadline of a request with a direct reply ([`ClientBuilder::request_timeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").request_timeout(Duration::from_secs(2)).build()?;
    /// assert_eq!(client.request_timeout(), Duration::from_secs(2));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn request_timeout(&self) -> Duration {
        self.options.request_timeout
    }

    /// Sets the label sent with `SET_CLIENT_ID`, now on open connections and on every later
    /// connect.
    ///
    /// An invalid ID is refused with [`Error::InvalidArgument`] and changes nothing. A server
    /// whose write fails is marked failed (and reconnected later) without an error here.
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// client.set_client_id("nightly-report")?; // no connection yet: used on the first connect
    /// assert!(client.set_client_id("two words").is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn set_client_id(&mut self, id: &str) -> Result<()> {
        let packet = Packet::set_client_id(id.as_bytes())?;
        self.pool.options_mut().client_id = Some(id.to_owned());
        self.settings.client_id = Some(id.to_owned());
        let open: Vec<usize> = self.pool.connected().collect();
        for index in open {
            if let Some(conn) = self.pool.connection(index) {
                if let Err(error) = conn.send(&packet) {
                    self.pool.mark_failed(index, &error);
                }
            }
        }
        Ok(())
    }

    /// An empty task set borrowing this client (see [`TaskSet`]). Nothing is sent until a
    /// task is added.
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let set = client.task_set();
    /// assert!(set.is_empty());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn task_set<'a>(&mut self) -> TaskSet<'_, 'a> {
        TaskSet::new(self)
    }

    /// Runs one task to its end and returns the result of a foreground job (or, for a
    /// background task, the handle's bytes). The task's callbacks fire as usual.
    ///
    /// Blocks until the job ends or the task's [`timeout`](Task::timeout) (default
    /// [`ClientBuilder::job_timeout`], 60 s) passes. Errors include [`Error::JobFailed`] and
    /// [`Error::JobException`] (the job ran and failed), [`Error::Timeout`],
    /// [`Error::SubmitUnconfirmed`] (no `JOB_CREATED` arrived), [`Error::JobLost`],
    /// [`Error::Server`], [`Error::NoJobServers`] and [`Error::InvalidArgument`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let task = Task::new("resize", "img-42.png")
    ///     .timeout(Duration::from_secs(120))
    ///     .on_status(|done, total| eprintln!("{done}/{total}"));
    /// let thumbnail = client.do_task(task)?;
    /// println!("{} bytes", thumbnail.len());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn do_task(&mut self, task: Task<'_>) -> Result<Vec<u8>> {
        let timeout = task.timeout.unwrap_or(self.options.job_timeout);
        let mut set = self.task_set();
        let id = set.add_task(task)?;
        set.wait(timeout)?;
        set.abandon();
        match set.take_outcome(id) {
            Some(outcome) => outcome.into_result(),
            None => Err(Error::Timeout {
                waiting_for: Waiting::JobResult,
                timeout,
            }),
        }
    }

    /// Runs a foreground job at normal priority and returns its result (PECL `doNormal`).
    /// Blocks and fails as [`do_task`](Client::do_task).
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// assert_eq!(client.do_normal("reverse", "hello")?, b"olleh");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn do_normal<'w>(
        &mut self,
        function: &str,
        workload: impl Into<Workload<'w>>,
    ) -> Result<Vec<u8>> {
        self.do_task(Task::new(function, workload))
    }

    /// Runs a foreground job at high priority (PECL `doHigh`). Blocks and fails as
    /// [`do_task`](Client::do_task).
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let result = client.do_high("reverse", "urgent")?;
    /// assert_eq!(result, b"tnegru");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn do_high<'w>(
        &mut self,
        function: &str,
        workload: impl Into<Workload<'w>>,
    ) -> Result<Vec<u8>> {
        self.do_task(Task::new(function, workload).priority(Priority::High))
    }

    /// Runs a foreground job at low priority (PECL `doLow`). Blocks and fails as
    /// [`do_task`](Client::do_task).
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let result = client.do_low("reverse", "whenever")?;
    /// assert_eq!(result, b"revenehw");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn do_low<'w>(
        &mut self,
        function: &str,
        workload: impl Into<Workload<'w>>,
    ) -> Result<Vec<u8>> {
        self.do_task(Task::new(function, workload).priority(Priority::Low))
    }

    /// Submits a background task and returns its handle once the server created it.
    ///
    /// Blocks until `JOB_CREATED` arrives or the task's [`timeout`](Task::timeout) (default
    /// [`ClientBuilder::request_timeout`], 10 s) passes; without a confirmation the error is
    /// [`Error::SubmitUnconfirmed`] and the job may exist. Other errors: [`Error::Server`],
    /// [`Error::NoJobServers`], [`Error::InvalidArgument`].
    ///
    /// ```no_run
    /// use gearman_sync::{Client, Priority, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let task = Task::new("send_mail", "to=ops").unique("mail-ops-1").priority(Priority::High);
    /// let handle = client.submit_background(task)?;
    /// println!("queued as {handle} on {}", handle.server());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn submit_background(&mut self, task: Task<'_>) -> Result<JobHandle> {
        let timeout = task.timeout.unwrap_or(self.options.request_timeout);
        let mut set = self.task_set();
        let id = set.add_task(task.background())?;
        set.wait(timeout)?;
        set.abandon();
        match set.take_outcome(id) {
            Some(TaskOutcome::Submitted(handle)) => Ok(handle),
            Some(TaskOutcome::Failed(error)) => Err(error),
            _ => Err(Error::Timeout {
                waiting_for: Waiting::JobCreated,
                timeout,
            }),
        }
    }

    /// Submits a background job at normal priority (PECL `doBackground`). Blocks and fails as
    /// [`submit_background`](Client::submit_background).
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let handle = client.do_background("cleanup", "tmp/*")?;
    /// println!("queued as {handle}");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn do_background<'w>(
        &mut self,
        function: &str,
        workload: impl Into<Workload<'w>>,
    ) -> Result<JobHandle> {
        self.submit_background(Task::new(function, workload))
    }

    /// Submits a background job at high priority (PECL `doHighBackground`). Blocks and fails
    /// as [`submit_background`](Client::submit_background).
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let handle = client.do_high_background("invalidate_cache", "user:42")?;
    /// println!("queued as {handle}");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn do_high_background<'w>(
        &mut self,
        function: &str,
        workload: impl Into<Workload<'w>>,
    ) -> Result<JobHandle> {
        self.submit_background(Task::new(function, workload).priority(Priority::High))
    }

    /// Submits a background job at low priority (PECL `doLowBackground`). Blocks and fails as
    /// [`submit_background`](Client::submit_background).
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let handle = client.do_low_background("reindex", "all")?;
    /// println!("queued as {handle}");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn do_low_background<'w>(
        &mut self,
        function: &str,
        workload: impl Into<Workload<'w>>,
    ) -> Result<JobHandle> {
        self.submit_background(Task::new(function, workload).priority(Priority::Low))
    }

    /// Submits a background job that becomes runnable at `when` (`SUBMIT_JOB_EPOCH`).
    ///
    /// gearmand before 2.0 runs such jobs late: it checks the time only when a worker asks for
    /// work, and a future job holds back the function's low-priority jobs until it is due.
    ///
    /// Blocks and fails as [`submit_background`](Client::submit_background).
    ///
    /// ```no_run
    /// use std::time::{Duration, SystemTime};
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
    /// let handle = client.schedule("send_reminder", "user=42", in_an_hour)?;
    /// println!("scheduled as {handle}");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn schedule<'w>(
        &mut self,
        function: &str,
        workload: impl Into<Workload<'w>>,
        when: SystemTime,
    ) -> Result<JobHandle> {
        self.submit_background(Task::new(function, workload).run_at(when))
    }

    /// Asks the server that issued `handle` for the job's status (`GET_STATUS`).
    ///
    /// A server outside this client's list is reached through a one-off connection. Blocks
    /// for the reply up to [`ClientBuilder::request_timeout`] (10 s by default), then
    /// [`Error::Timeout`]. A finished or unknown job is not an error: its status has
    /// `known == false`.
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let handle = client.do_background("long_report", "2024")?;
    /// let status = client.status(&handle)?;
    /// if status.known {
    ///     println!("running: {}, progress: {:?} %", status.running, status.percent());
    /// }
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn status(&mut self, handle: &JobHandle) -> Result<JobStatus> {
        let packet = Packet::get_status(handle.as_bytes())?;
        let reply = match self.pool.index_of(handle.server()) {
            Some(index) => self.request(index, &packet, PacketType::StatusRes)?,
            None => {
                let mut conn =
                    crate::net::Connection::connect(handle.server(), &self.pool.options().connect)?;
                conn.send(&packet)?;
                self.await_reply(&mut conn, PacketType::StatusRes)?
            }
        };
        parse_status(&reply, 1, handle.server())
    }

    /// Looks a job up by its unique ID (`GET_STATUS_UNIQUE`), asking the servers in turn
    /// (the hashed one first with [`Routing::UniqueHash`]) until one knows it.
    ///
    /// Each request blocks up to [`ClientBuilder::request_timeout`]. Returns the first
    /// server's answer that knows the job, else the last answer (`status.known == false`);
    /// when no server answered, the last error (or [`Error::NoJobServers`]).
    ///
    /// ```no_run
    /// use gearman_sync::{Client, Task};
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// client.submit_background(Task::new("import", "feed.csv").unique("import-feed"))?;
    /// let found = client.status_by_unique("import-feed")?;
    /// println!("{} knows it: {:?}, {} clients wait", found.server, found.status, found.clients);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn status_by_unique(&mut self, unique: &str) -> Result<UniqueJobStatus> {
        let packet = Packet::get_status_unique(unique.as_bytes())?;
        let count = self.pool.len();
        let first = match self.pool.options().routing {
            Routing::UniqueHash if count > 0 => {
                crate::net::perl_hash(unique.as_bytes()) as usize % count
            }
            _ => 0,
        };
        let mut last = None;
        let mut last_error = None;
        for offset in 0..count {
            let index = (first + offset) % count;
            match self.request(index, &packet, PacketType::StatusResUnique) {
                Ok(reply) => {
                    let server = self.pool.server(index).clone();
                    let status = parse_status(&reply, 1, &server)?;
                    let clients = parse_number(&reply, 5, "client_count", &server)?;
                    let found = UniqueJobStatus {
                        server,
                        status,
                        clients,
                    };
                    if status.known {
                        return Ok(found);
                    }
                    last = Some(found);
                }
                Err(error) => last_error = Some(error),
            }
        }
        match (last, last_error) {
            (Some(found), _) => Ok(found),
            (None, Some(error)) => Err(error),
            (None, None) => Err(Error::NoJobServers(self.pool.failures())),
        }
    }

    /// Sends `ECHO_REQ` to the next server and returns the echoed bytes.
    ///
    /// Blocks for the reply up to [`ClientBuilder::request_timeout`]; fails with
    /// [`Error::NoJobServers`] when no server can be reached.
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// assert_eq!(client.echo("ping")?, b"ping");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn echo(&mut self, data: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        let packet = Packet::echo_req(data.as_ref())?;
        let index = self.pool.checkout(None)?;
        Ok(self
            .request(index, &packet, PacketType::EchoRes)?
            .into_tail())
    }

    /// Applies the function prefix and checks the resulting name.
    /// Sends `packet` to server `index` and waits for a reply of type `expect`; a failure
    /// other than the server's `ERROR` reply drops the connection.
    fn request(&mut self, index: usize, packet: &Packet, expect: PacketType) -> Result<Packet> {
        let timeout = self.options.request_timeout;
        let conn = self.pool.ensure_connected(index)?;
        let result = conn.send(packet).and_then(|()| {
            conn.recv_reply(expect, &Deadline::after(timeout, Waiting::Reply(expect)))
        });
        if let Err(error) = &result {
            if !matches!(error, Error::Server { .. }) {
                self.pool.mark_failed(index, error);
            }
        }
        result
    }

    fn await_reply(&self, conn: &mut crate::net::Connection, expect: PacketType) -> Result<Packet> {
        let timeout = self.options.request_timeout;
        conn.recv_reply(expect, &Deadline::after(timeout, Waiting::Reply(expect)))
    }
}

fn parse_number(
    packet: &Packet,
    index: usize,
    field: &'static str,
    server: &ServerAddr,
) -> Result<u32> {
    parse_decimal(packet.arg(index)).ok_or_else(|| Error::Protocol {
        server: server.to_string(),
        source: ProtocolError::InvalidNumber {
            kind: packet.kind(),
            field,
            value: String::from_utf8_lossy(&packet.arg(index)[..packet.arg(index).len().min(64)])
                .into_owned(),
        },
    })
}

/// Reads known/running/numerator/denominator starting at argument `first`.
fn parse_status(packet: &Packet, first: usize, server: &ServerAddr) -> Result<JobStatus> {
    Ok(JobStatus {
        known: parse_number(packet, first, "known", server)? != 0,
        running: parse_number(packet, first + 1, "running", server)? != 0,
        numerator: parse_number(packet, first + 2, "numerator", server)?,
        denominator: parse_number(packet, first + 3, "denominator", server)?,
    })
}
