//! [`SharedClient`]: one client value for many threads. Each call takes a pooled [`Client`]
//! (with its own connections) from an idle list, runs on it, and gives it back; the servers'
//! health, backoff and round-robin position are shared by all of them.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::builder::Blueprint;
use super::{Client, ClientBuilder, JobStatus, Task, UniqueJobStatus, Workload};
use crate::error::Result;
use crate::net::{JobHandle, SharedPoolState, ToServers};
use crate::settings::Settings;

/// The default of [`ClientBuilder::max_idle_connections`].
pub(crate) const DEFAULT_MAX_IDLE: usize = 16;

/// A client shared by many threads: `Clone + Send + Sync`, every call through `&self`, no lock
/// held across a round trip.
///
/// Each call checks out a pooled [`Client`] (taken from an idle list, or made when none is
/// idle), runs on that client's own connections, and returns it to the list when it ends. So
/// calls from different threads run in parallel, each on its own connection to its server, and
/// a slow job blocks only its own thread.
///
/// What a call holds, and for how long:
/// * the idle list's lock: only to take or give back a pooled client, never during I/O;
/// * one pooled client, with at most one connection per server it used, for the whole call
///   (a foreground job: until its result; a background submission: until `JOB_CREATED`);
/// * afterwards, up to [`max_idle_connections`](ClientBuilder::max_idle_connections) pooled
///   clients (default 16) stay idle with their connections open; the rest are closed. An idle
///   connection is checked for a server-side close before it is used again.
///
/// Every pooled client shares each server's health: one thread's failed connect starts the
/// backoff for all, a connection lost by several threads at once counts as one failure, and
/// the round-robin position is common, so load spreads over the servers as from one client.
///
/// For a [`TaskSet`](crate::TaskSet) (or anything else a [`Client`] offers), take a pooled
/// client yourself with [`checkout`](SharedClient::checkout).
///
/// ```no_run
/// use gearman_sync::SharedClient;
/// let client = SharedClient::new("127.0.0.1:4730")?;
/// let workers: Vec<_> = (0..4)
///     .map(|n| {
///         let client = client.clone();
///         std::thread::spawn(move || client.do_normal("reverse", format!("job {n}")))
///     })
///     .collect();
/// for thread in workers {
///     println!("{:?}", thread.join().expect("no panic")?);
/// }
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Clone)]
pub struct SharedClient {
    inner: Arc<Inner>,
}

struct Inner {
    blueprint: Blueprint,
    state: SharedPoolState,
    idle: Mutex<Vec<Client>>,
}

impl fmt::Debug for SharedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedClient")
            .field("servers", &self.inner.blueprint.settings.servers)
            .field("idle", &self.idle_clients())
            .finish_non_exhaustive()
    }
}

/// Runs a [`Client`] method on a pooled client.
macro_rules! on_pooled {
    ($(
        $(#[$doc:meta])*
        fn $name:ident$(<$($lt:lifetime),*>)?(&self $(, $arg:ident: $ty:ty)*) -> $out:ty;
    )*) => {$(
        $(#[$doc])*
        pub fn $name$(<$($lt),*>)?(&self $(, $arg: $ty)*) -> $out {
            self.checkout().$name($($arg),*)
        }
    )*};
}

impl SharedClient {
    /// A shared client for `servers` with default settings (an empty list means
    /// `GEARMAN_SERVERS`, then `127.0.0.1:4730`); nothing is connected yet. Use
    /// [`ClientBuilder::build_shared`] for other settings.
    ///
    /// ```
    /// use gearman_sync::SharedClient;
    /// let client = SharedClient::new("gm1,gm2:4731")?;
    /// assert_eq!(client.settings().servers().len(), 2);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn new<S: ToServers + ?Sized>(servers: &S) -> Result<SharedClient> {
        ClientBuilder::default().servers(servers).build_shared()
    }

    pub(crate) fn from_blueprint(blueprint: Blueprint) -> SharedClient {
        let state = SharedPoolState::new(blueprint.settings.servers.len());
        SharedClient {
            inner: Arc::new(Inner {
                blueprint,
                state,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The settings every pooled client has (see [`Settings`]).
    ///
    /// ```
    /// use gearman_sync::Client;
    /// let client = Client::builder().servers("gm1").prefix("billing.").build_shared()?;
    /// assert_eq!(client.settings().prefix(), b"billing.");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.inner.blueprint.settings
    }

    /// How many idle pooled clients are kept at most
    /// ([`ClientBuilder::max_idle_connections`]).
    ///
    /// ```
    /// use gearman_sync::SharedClient;
    /// assert_eq!(SharedClient::new("gm1")?.max_idle_connections(), 16);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_idle_connections(&self) -> usize {
        self.inner.blueprint.options.max_idle
    }

    /// How many pooled clients are idle now, waiting for the next call.
    ///
    /// ```
    /// use gearman_sync::SharedClient;
    /// let client = SharedClient::new("127.0.0.1:4730")?;
    /// assert_eq!(client.idle_clients(), 0); // nothing made yet
    /// drop(client.checkout());
    /// assert_eq!(client.idle_clients(), 1);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn idle_clients(&self) -> usize {
        self.idle().len()
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Client>> {
        // The list is only pushed to and popped from: a panic elsewhere cannot leave it
        // inconsistent, so a poisoned lock is still good to use.
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a pooled client for this thread's exclusive use, until the returned guard drops
    /// (it derefs to [`Client`]): an idle one, or a new one when none is idle. Never blocks and
    /// opens no connection itself.
    ///
    /// Use it for a [`TaskSet`](crate::TaskSet), for several calls in a row on the same
    /// connections, or for any [`Client`] method. Changes made through it (such as
    /// [`Client::set_client_id`]) stay with that pooled client: set them in the builder.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use gearman_sync::{SharedClient, Task};
    /// let client = SharedClient::new("127.0.0.1:4730")?;
    /// let mut pooled = client.checkout();
    /// let mut set = pooled.task_set();
    /// set.add_tasks(["a", "b", "c"].map(|word| Task::new("reverse", word)))?;
    /// assert!(set.wait(Duration::from_secs(10))?.all_completed());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn checkout(&self) -> PooledClient {
        let client = self.idle().pop();
        let client = client.unwrap_or_else(|| self.inner.blueprint.client(Some(&self.inner.state)));
        PooledClient {
            client: Some(client),
            home: Arc::clone(&self.inner),
        }
    }

    on_pooled! {
        /// Runs one task to its end on a pooled client ([`Client::do_task`]); the task's
        /// callbacks run on this thread.
        ///
        /// ```no_run
        /// use gearman_sync::{SharedClient, Task};
        /// let client = SharedClient::new("127.0.0.1:4730")?;
        /// let result = client.do_task(Task::new("reverse", "abc").on_status(|n, d| eprintln!("{n}/{d}")))?;
        /// assert_eq!(result, b"cba");
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn do_task(&self, task: Task<'_>) -> Result<Vec<u8>>;

        /// A foreground job at normal priority ([`Client::do_normal`]).
        ///
        /// ```no_run
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// assert_eq!(client.do_normal("reverse", "abc")?, b"cba");
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn do_normal<'w>(&self, function: &str, workload: impl Into<Workload<'w>>) -> Result<Vec<u8>>;

        /// A foreground job at high priority ([`Client::do_high`]).
        ///
        /// ```no_run
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// assert_eq!(client.do_high("reverse", "abc")?, b"cba");
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn do_high<'w>(&self, function: &str, workload: impl Into<Workload<'w>>) -> Result<Vec<u8>>;

        /// A foreground job at low priority ([`Client::do_low`]).
        ///
        /// ```no_run
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// assert_eq!(client.do_low("reverse", "abc")?, b"cba");
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn do_low<'w>(&self, function: &str, workload: impl Into<Workload<'w>>) -> Result<Vec<u8>>;

        /// Queues a background task and returns its handle once the server confirmed it
        /// ([`Client::submit_background`]).
        ///
        /// ```no_run
        /// use gearman_sync::{SharedClient, Task};
        /// let client = SharedClient::new("127.0.0.1:4730")?;
        /// let handle = client.submit_background(Task::new("send_mail", "to=ops").unique("mail-7"))?;
        /// println!("queued as {handle}");
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn submit_background(&self, task: Task<'_>) -> Result<JobHandle>;

        /// Queues a background job at normal priority ([`Client::do_background`]).
        ///
        /// ```no_run
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// let handle = client.do_background("cleanup", "tmp/*")?;
        /// # drop(handle);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn do_background<'w>(&self, function: &str, workload: impl Into<Workload<'w>>) -> Result<JobHandle>;

        /// Queues a background job at high priority ([`Client::do_high_background`]).
        ///
        /// ```no_run
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// let handle = client.do_high_background("cleanup", "tmp/*")?;
        /// # drop(handle);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn do_high_background<'w>(&self, function: &str, workload: impl Into<Workload<'w>>) -> Result<JobHandle>;

        /// Queues a background job at low priority ([`Client::do_low_background`]).
        ///
        /// ```no_run
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// let handle = client.do_low_background("cleanup", "tmp/*")?;
        /// # drop(handle);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn do_low_background<'w>(&self, function: &str, workload: impl Into<Workload<'w>>) -> Result<JobHandle>;

        /// Queues a background job to run at `when` ([`Client::schedule`]).
        ///
        /// ```no_run
        /// use std::time::{Duration, SystemTime};
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// let handle = client.schedule("report", "daily", SystemTime::now() + Duration::from_secs(60))?;
        /// # drop(handle);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn schedule<'w>(&self, function: &str, workload: impl Into<Workload<'w>>, when: SystemTime) -> Result<JobHandle>;

        /// Asks the server that owns `handle` about a job ([`Client::status`]).
        ///
        /// ```no_run
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// let handle = client.do_background("cleanup", "tmp/*")?;
        /// println!("{:?}", client.status(&handle)?);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn status(&self, handle: &JobHandle) -> Result<JobStatus>;

        /// Asks every server about a job by its unique ([`Client::status_by_unique`]).
        ///
        /// ```no_run
        /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
        /// println!("{:?}", client.status_by_unique("mail-7")?);
        /// # Ok::<(), gearman_sync::Error>(())
        /// ```
        fn status_by_unique(&self, unique: &str) -> Result<UniqueJobStatus>;
    }

    /// Sends `data` to a server and returns its echo ([`Client::echo`]).
    ///
    /// ```no_run
    /// let client = gearman_sync::SharedClient::new("127.0.0.1:4730")?;
    /// assert_eq!(client.echo("ping")?, b"ping");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn echo(&self, data: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        self.checkout().echo(data)
    }
}

/// A [`Client`] taken from a [`SharedClient`] for one thread's exclusive use; derefs to
/// [`Client`] and goes back to the idle list when dropped (or is closed, when the list is
/// full or the thread is panicking).
///
/// ```no_run
/// use gearman_sync::SharedClient;
/// let shared = SharedClient::new("127.0.0.1:4730")?;
/// let mut client = shared.checkout();
/// let handle = client.do_background("cleanup", "tmp/*")?;
/// println!("{:?}", client.status(&handle)?); // the same connection as the submission
/// # Ok::<(), gearman_sync::Error>(())
/// ```
pub struct PooledClient {
    /// `Some` from `checkout` until `Drop::drop` takes it out to return it to the idle list.
    /// `drop` runs last, with the only reference there is, so `Deref` never sees `None`
    /// (moving the client out of `&mut self` in `drop` needs the `Option`: the crate forbids
    /// the `unsafe` of `ManuallyDrop::take`).
    client: Option<Client>,
    home: Arc<Inner>,
}

impl fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PooledClient").field(&self.client).finish()
    }
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("unreachable: the client is only taken out in drop")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("unreachable: the client is only taken out in drop")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if std::thread::panicking() {
            return; // the call may have stopped anywhere: close its connections
        }
        let mut idle = self
            .home
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < self.home.blueprint.options.max_idle {
            idle.push(client);
            return;
        }
        drop(idle);
        drop(client); // closes its connections outside the lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}

    #[test]
    fn a_shared_client_is_clone_send_and_sync() {
        assert_shareable::<SharedClient>();
    }

    #[test]
    fn pooled_clients_are_reused_and_bounded() {
        let shared = Client::builder()
            .servers("127.0.0.1:1")
            .max_idle_connections(2)
            .build_shared()
            .expect("valid settings");
        let held: Vec<_> = (0..3).map(|_| shared.checkout()).collect();
        assert_eq!(shared.idle_clients(), 0);
        drop(held);
        assert_eq!(shared.idle_clients(), 2, "the third is closed");
        let again = shared.checkout();
        assert_eq!(shared.idle_clients(), 1);
        drop(again);
        assert_eq!(shared.idle_clients(), 2);
    }
}
