//! [`ClientBuilder`]: the settings core plus what only a client has (job and request
//! deadlines, the probe of a new connection, server choice, uniques, exceptions).

use std::time::Duration;

use super::shared::{SharedClient, DEFAULT_MAX_IDLE};
use super::{Client, UniqueMode, DEFAULT_JOB_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};
use crate::error::Result;
use crate::net::{Backoff, ConnectionPool, PoolOptions, Routing, SharedPoolState};
use crate::settings::{settings_setters, Settings, SettingsBuilder};

/// What only a client has.
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    pub(crate) job_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) probe_timeout: Duration,
    pub(crate) unique_mode: UniqueMode,
    pub(crate) routing: Routing,
    pub(crate) exceptions: bool,
    /// Idle pooled clients a [`SharedClient`] keeps (so idle connections per server).
    pub(crate) max_idle: usize,
}

/// Everything a client is made of, checked once: a [`SharedClient`] makes its pooled clients
/// from it.
#[derive(Debug, Clone)]
pub(crate) struct Blueprint {
    pub(crate) settings: Settings,
    pub(crate) options: ClientOptions,
    pub(crate) pool: PoolOptions,
}

impl Blueprint {
    /// A new client with no connection; its pool shares `shared` when given.
    pub(crate) fn client(&self, shared: Option<&SharedPoolState>) -> Client {
        let servers = self.settings.servers.clone();
        let pool = match shared {
            Some(shared) => ConnectionPool::with_shared(servers, self.pool.clone(), shared),
            None => ConnectionPool::new(servers, self.pool.clone()),
        };
        Client {
            pool,
            settings: self.settings.clone(),
            options: self.options.clone(),
            spare_tables: None,
        }
    }
}

/// Builds a [`Client`] with non-default settings. The settings it shares with
/// [`WorkerBuilder`](crate::WorkerBuilder) and [`AdminBuilder`](crate::AdminBuilder) have the
/// same names there.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::{Client, UniqueMode, Routing};
/// let client = Client::builder()
///     .servers("10.0.0.1,10.0.0.2:4731")
///     .job_timeout(Duration::from_secs(5))
///     .client_id("billing-cli")
///     .prefix("billing.")
///     .routing(Routing::UniqueHash)
///     .unique_mode(UniqueMode::Random)
///     .build()?;
/// assert_eq!(client.settings().servers().len(), 2);
/// assert_eq!(client.job_timeout(), Duration::from_secs(5));
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    core: SettingsBuilder,
    options: ClientOptions,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            core: SettingsBuilder::new(Backoff::default()),
            options: ClientOptions {
                job_timeout: DEFAULT_JOB_TIMEOUT,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                probe_timeout: Duration::from_secs(5),
                unique_mode: UniqueMode::None,
                routing: Routing::RoundRobin,
                exceptions: true,
                max_idle: DEFAULT_MAX_IDLE,
            },
        }
    }
}

impl ClientBuilder {
    settings_setters!(Client, core);

    /// The default deadline of a foreground job run by [`Client::do_task`] and its `do_*`
    /// shortcuts (default 60 s); a [`Task::timeout`](crate::Task::timeout) overrides it per
    /// task.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").job_timeout(Duration::from_secs(300)).build()?;
    /// assert_eq!(client.job_timeout(), Duration::from_secs(300));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn job_timeout(mut self, timeout: Duration) -> Self {
        self.options.job_timeout = timeout;
        self
    }

    /// The deadline of a request with a direct reply: status, echo, and the `JOB_CREATED` of a
    /// background submission (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").request_timeout(Duration::from_secs(2)).build()?;
    /// assert_eq!(client.request_timeout(), Duration::from_secs(2));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.options.request_timeout = timeout;
        self
    }

    /// The limit on the `ECHO` probe that proves a new connection healthy (default 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").probe_timeout(Duration::from_millis(500)).build()?;
    /// assert_eq!(client.settings().servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.options.probe_timeout = timeout;
        self
    }

    /// Which server a new task goes to (default round-robin; see [`Routing`]).
    ///
    /// ```
    /// use gearman_sync::{Client, Routing};
    /// let client = Client::builder().servers("gm1,gm2").routing(Routing::UniqueHash).build()?;
    /// assert_eq!(client.settings().servers().len(), 2);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn routing(mut self, routing: Routing) -> Self {
        self.options.routing = routing;
        self
    }

    /// How uniques are made for tasks without one (default [`UniqueMode::None`]: no unique,
    /// so nothing coalesces).
    ///
    /// ```
    /// use gearman_sync::{Client, UniqueMode};
    /// // gearman-ruby's rule: identical requests in flight at the same time run once.
    /// let client = Client::builder().servers("gm1").unique_mode(UniqueMode::Sha1).build()?;
    /// assert_eq!(client.settings().servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn unique_mode(mut self, mode: UniqueMode) -> Self {
        self.options.unique_mode = mode;
        self
    }

    /// Asks the servers to forward `WORK_EXCEPTION` (default on). Off, gearmand turns
    /// exceptions into plain `WORK_FAIL`, so jobs end with
    /// [`Error::JobFailed`](crate::Error::JobFailed) instead of
    /// [`Error::JobException`](crate::Error::JobException). (A worker's
    /// [`WorkerBuilder::exceptions`](crate::WorkerBuilder::exceptions) is how it reports them.)
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").exceptions(false).build()?;
    /// assert_eq!(client.settings().servers().len(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn exceptions(mut self, enabled: bool) -> Self {
        self.options.exceptions = enabled;
        self
    }

    /// How many idle connections per server a [`SharedClient`] keeps for reuse (default 16);
    /// more are closed when their call ends. Calls in flight are not limited: each holds its
    /// own connection. No effect on a plain [`Client`].
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").max_idle_connections(4).build_shared()?;
    /// assert_eq!(client.max_idle_connections(), 4);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_idle_connections(mut self, count: usize) -> Self {
        self.options.max_idle = count;
        self
    }

    /// Checks the settings and builds a client for many threads at once (see
    /// [`SharedClient`]); no connection is opened yet. Fails as [`build`](ClientBuilder::build).
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1,gm2").build_shared()?;
    /// let for_a_thread = client.clone();
    /// assert_eq!(for_a_thread.settings().servers().len(), 2);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn build_shared(self) -> Result<SharedClient> {
        Ok(SharedClient::from_blueprint(self.blueprint()?))
    }

    /// Checks the settings and builds the client (no connection is opened yet).
    ///
    /// Fails with [`Error::Address`](crate::Error::Address) for a bad server address and
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a bad client ID or prefix.
    ///
    /// ```
    /// use gearman_sync::{Client, Error};
    /// let client = Client::builder().servers("127.0.0.1:4730").build()?;
    /// assert_eq!(client.settings().servers()[0].to_string(), "127.0.0.1:4730");
    /// assert!(matches!(Client::builder().servers("a,,b").build(), Err(Error::Address(_))));
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn build(self) -> Result<Client> {
        Ok(self.blueprint()?.client(None))
    }

    fn blueprint(self) -> Result<Blueprint> {
        let settings = self.core.build()?;
        let options = self.options;
        let pool = PoolOptions {
            connect: settings.connect.clone(),
            probe_timeout: options.probe_timeout,
            backoff: settings.backoff,
            routing: options.routing,
            client_id: settings.client_id.clone(),
            server_options: match options.exceptions {
                true => vec!["exceptions".to_owned()],
                false => Vec::new(),
            },
        };
        Ok(Blueprint {
            settings,
            options,
            pool,
        })
    }
}
