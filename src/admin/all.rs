//! Admin calls on every configured server at once: one [`ServerAnswer`] per server, a failed
//! server's error beside the others' answers, and the totals over the servers that answered.
//!
//! The servers are asked in parallel (one short-lived thread per server), so a dead or slow
//! server costs its own connect timeout or request deadline and does not delay the others.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::thread;

use super::{pick, unexpected, Admin, Pick};
use crate::error::{Error, Result};
use crate::net::{JobHandle, Link, ServerAddr};
use crate::protocol::admin::{
    AdminCommand, AdminReply, FunctionPriorityStatus, FunctionStatus, JobInfo, MaxQueue, WorkerInfo,
};

/// One server's answer to an admin call made on every server (the `_all` calls of
/// [`Admin`]): the server, and its result or its own error.
///
/// The answers come in the order of the server list, one per server, whether it answered or
/// not.
///
/// ```
/// use gearman_sync::{Admin, ServerAnswer};
/// let answer = ServerAnswer::new("gm1".parse()?, Ok(7u32));
/// assert_eq!(answer.server.to_string(), "gm1:4730");
/// assert_eq!(answer.result.ok(), Some(7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerAnswer<T> {
    /// The server that was asked.
    pub server: ServerAddr,
    /// Its answer, or why there is none (connection refused, timeout, malformed reply, `ERR`).
    pub result: Result<T>,
}

impl<T> ServerAnswer<T> {
    /// An answer from `server` (the `_all` calls make these; build one yourself to feed
    /// [`Admin::total_status`] from elsewhere, or in tests).
    ///
    /// ```
    /// use gearman_sync::{Error, ServerAnswer};
    /// let closed = Error::ConnectionClosed { server: "gm2:4731".into() };
    /// let failed: ServerAnswer<()> = ServerAnswer::new("gm2:4731".parse()?, Err(closed));
    /// assert!(failed.result.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(server: ServerAddr, result: Result<T>) -> ServerAnswer<T> {
        ServerAnswer { server, result }
    }
}

impl Admin {
    /// `status` on every server: per server, every function with queued + running jobs,
    /// running jobs and workers. Sum them with [`Admin::total_status`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Admin;
    /// // Nothing listens on port 1: that server's answer is its error.
    /// let mut admin = Admin::builder()
    ///     .servers("127.0.0.1:1")
    ///     .connect_timeout(Duration::from_secs(1))
    ///     .build()?;
    /// let answers = admin.status_all();
    /// assert_eq!(answers.len(), 1);
    /// assert_eq!(answers[0].server.to_string(), "127.0.0.1:1");
    /// assert!(answers[0].result.is_err());
    /// let totals = Admin::total_status(&answers);
    /// assert!(totals.is_empty());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn status_all(&mut self) -> Vec<ServerAnswer<Vec<FunctionStatus>>> {
        self.ask_all(&AdminCommand::Status, pick::status)
    }

    /// `prioritystatus` on every server: per server, queued (not running) jobs per priority.
    /// Sum them with [`Admin::total_priority_status`].
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.priority_status_all()[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn priority_status_all(&mut self) -> Vec<ServerAnswer<Vec<FunctionPriorityStatus>>> {
        self.ask_all(&AdminCommand::PriorityStatus, pick::priority_status)
    }

    /// `workers` on every server: per server, every connection with its client ID and
    /// registered functions.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.workers_all()[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn workers_all(&mut self) -> Vec<ServerAnswer<Vec<WorkerInfo>>> {
        self.ask_all(&AdminCommand::Workers, pick::workers)
    }

    /// `show jobs` on every server: per server, every job with its retry count and flags.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.show_jobs_all()[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn show_jobs_all(&mut self) -> Vec<ServerAnswer<Vec<JobInfo>>> {
        self.ask_all(&AdminCommand::ShowJobs, pick::show_jobs)
    }

    /// `show unique jobs` on every server: per server, the unique of every job (empty for jobs
    /// without one).
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.show_unique_jobs_all()[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn show_unique_jobs_all(&mut self) -> Vec<ServerAnswer<Vec<String>>> {
        self.ask_all(&AdminCommand::ShowUniqueJobs, pick::show_unique_jobs)
    }

    /// `getpid` on every server: each server's process ID.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.getpid_all()[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn getpid_all(&mut self) -> Vec<ServerAnswer<u32>> {
        self.ask_all(&AdminCommand::GetPid, pick::getpid)
    }

    /// `verbose` on every server: each server's log level name.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.verbose_all()[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn verbose_all(&mut self) -> Vec<ServerAnswer<String>> {
        self.ask_all(&AdminCommand::Verbose, pick::verbose)
    }

    /// `version` on every server: each server's version string, e.g. `1.1.20+ds`.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.version_all()[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn version_all(&mut self) -> Vec<ServerAnswer<String>> {
        self.ask_all(&AdminCommand::Version, pick::version)
    }

    /// `create function NAME` on every server. A bad name is refused before anything is sent
    /// (the outer error); each server's own refusal is in its answer.
    ///
    /// ```
    /// use gearman_sync::{Admin, Error};
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(matches!(admin.create_function_all("has space"), Err(Error::InvalidArgument(_))));
    /// assert!(admin.create_function_all("resize")?[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn create_function_all(&mut self, name: impl AsRef<[u8]>) -> Result<Vec<ServerAnswer<()>>> {
        self.expect_ok_all(&AdminCommand::CreateFunction(name.as_ref().to_vec()))
    }

    /// `drop function NAME` on every server (each refuses while workers are registered or jobs
    /// run there). A bad name is refused before anything is sent.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.drop_function_all("resize")?[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn drop_function_all(&mut self, name: impl AsRef<[u8]>) -> Result<Vec<ServerAnswer<()>>> {
        self.expect_ok_all(&AdminCommand::DropFunction(name.as_ref().to_vec()))
    }

    /// `maxqueue FUNCTION ...` on every server: the same limit on each server's queue (values
    /// <= 0 mean unlimited). A bad name is refused before anything is sent.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// use gearman_sync::protocol::admin::MaxQueue;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// assert!(admin.max_queue_all("resize", MaxQueue::All(100))?[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn max_queue_all(
        &mut self,
        function: impl AsRef<[u8]>,
        limit: MaxQueue,
    ) -> Result<Vec<ServerAnswer<()>>> {
        self.expect_ok_all(&AdminCommand::MaxQueue {
            function: function.as_ref().to_vec(),
            limit,
        })
    }

    /// `cancel job HANDLE` on the server that issued `handle` (its
    /// [`server`](JobHandle::server)), found in the list by address; a server not in the list
    /// is reached through a one-off connection with the same settings.
    ///
    /// There is no `cancel_job_all`: handles are `H:<hostname>:<n>`, so two servers on one host
    /// issue the same handles, and sending one to every server could cancel another job.
    ///
    /// ```
    /// use gearman_sync::{Admin, Error, JobHandle};
    /// let mut admin = Admin::new("127.0.0.1:4730")?;
    /// let handle = JobHandle::new("127.0.0.1:1".parse()?, "H:gm1:42");
    /// // The handle's server (nothing listens on port 1) is asked, not the admin's first one.
    /// match admin.cancel_job_handle(&handle) {
    ///     Err(Error::Io { server, .. }) => assert_eq!(server, "127.0.0.1:1"),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_job_handle(&mut self, handle: &JobHandle) -> Result<()> {
        let command = AdminCommand::CancelJob(handle.as_bytes().to_vec());
        let mut line = Vec::new();
        command.encode(&mut line)?;
        let call = self.call();
        let server = handle.server();
        let listed = std::iter::once(&mut self.first)
            .chain(self.others.iter_mut())
            .find(|link| link.addr() == server);
        let reply = match listed {
            Some(link) => call.run(link, &command, &line)?,
            None => {
                log::debug!("cancelling {handle} on {server}, which is not in the admin's list");
                call.run(&mut Link::new(server.clone()), &command, &line)?
            }
        };
        match reply {
            AdminReply::Ok => Ok(()),
            other => Err(unexpected(server, other)),
        }
    }

    /// Sends any admin command to every server and returns each one's typed reply (an `ERR`
    /// reply is that server's [`Error::Admin`]). A command that cannot be encoded is refused
    /// before anything is sent.
    ///
    /// ```
    /// use gearman_sync::Admin;
    /// use gearman_sync::protocol::admin::AdminCommand;
    /// let mut admin = Admin::new("127.0.0.1:1")?;
    /// let answers = admin.command_all(&AdminCommand::Version)?;
    /// assert!(answers[0].result.is_err());
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn command_all(&mut self, command: &AdminCommand) -> Result<Vec<ServerAnswer<AdminReply>>> {
        let mut line = Vec::new();
        command.encode(&mut line)?;
        Ok(self.run_all(command, &line))
    }

    /// `status` summed over the servers that answered: per function name, `total`, `running`
    /// and `available_workers` added up, sorted by name. Failed servers count for nothing (they
    /// are in their own answers).
    ///
    /// ```
    /// use gearman_sync::{Admin, ServerAnswer};
    /// use gearman_sync::protocol::admin::FunctionStatus;
    /// let status = |name: &str, total, running, available_workers| FunctionStatus {
    ///     name: name.into(), total, running, available_workers,
    /// };
    /// let answers = [
    ///     ServerAnswer::new("gm1".parse()?, Ok(vec![status("resize", 3, 1, 2)])),
    ///     ServerAnswer::new(
    ///         "gm2".parse()?,
    ///         Ok(vec![status("resize", 4, 0, 1), status("mail", 1, 0, 0)]),
    ///     ),
    /// ];
    /// assert_eq!(
    ///     Admin::total_status(&answers),
    ///     [status("mail", 1, 0, 0), status("resize", 7, 1, 3)]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total_status(answers: &[ServerAnswer<Vec<FunctionStatus>>]) -> Vec<FunctionStatus> {
        let mut totals: BTreeMap<&str, FunctionStatus> = BTreeMap::new();
        for function in answers
            .iter()
            .filter_map(|a| a.result.as_ref().ok())
            .flatten()
        {
            let total = totals
                .entry(function.name.as_str())
                .or_insert_with(|| FunctionStatus {
                    name: function.name.clone(),
                    total: 0,
                    running: 0,
                    available_workers: 0,
                });
            total.total = total.total.saturating_add(function.total);
            total.running = total.running.saturating_add(function.running);
            total.available_workers = total
                .available_workers
                .saturating_add(function.available_workers);
        }
        totals.into_values().collect()
    }

    /// `prioritystatus` summed over the servers that answered: per function name, the queued
    /// jobs of each priority and `available_workers` added up, sorted by name.
    ///
    /// ```
    /// use gearman_sync::{Admin, ServerAnswer};
    /// use gearman_sync::protocol::admin::FunctionPriorityStatus;
    /// let line = |high, normal, low| FunctionPriorityStatus {
    ///     name: "resize".into(), high, normal, low, available_workers: 1,
    /// };
    /// let answers = [
    ///     ServerAnswer::new("gm1".parse()?, Ok(vec![line(1, 2, 0)])),
    ///     ServerAnswer::new("gm2".parse()?, Ok(vec![line(0, 5, 3)])),
    /// ];
    /// let total = &Admin::total_priority_status(&answers)[0];
    /// assert_eq!((total.high, total.normal, total.low, total.available_workers), (1, 7, 3, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total_priority_status(
        answers: &[ServerAnswer<Vec<FunctionPriorityStatus>>],
    ) -> Vec<FunctionPriorityStatus> {
        let mut totals: BTreeMap<&str, FunctionPriorityStatus> = BTreeMap::new();
        for function in answers
            .iter()
            .filter_map(|a| a.result.as_ref().ok())
            .flatten()
        {
            let total =
                totals
                    .entry(function.name.as_str())
                    .or_insert_with(|| FunctionPriorityStatus {
                        name: function.name.clone(),
                        high: 0,
                        normal: 0,
                        low: 0,
                        available_workers: 0,
                    });
            total.high = total.high.saturating_add(function.high);
            total.normal = total.normal.saturating_add(function.normal);
            total.low = total.low.saturating_add(function.low);
            total.available_workers = total
                .available_workers
                .saturating_add(function.available_workers);
        }
        totals.into_values().collect()
    }

    fn expect_ok_all(&mut self, command: &AdminCommand) -> Result<Vec<ServerAnswer<()>>> {
        let mut line = Vec::new();
        command.encode(&mut line)?;
        Ok(pick_all(
            self.run_all(command, &line),
            |reply| match reply {
                AdminReply::Ok => Ok(()),
                other => Err(other),
            },
        ))
    }

    /// A command without arguments on every server (its encoding cannot fail; if it did, every
    /// answer would carry the error).
    fn ask_all<T>(&mut self, command: &AdminCommand, pick: Pick<T>) -> Vec<ServerAnswer<T>> {
        let mut line = Vec::new();
        if let Err(error) = command.encode(&mut line) {
            let error = Error::from(error);
            return self
                .settings
                .servers
                .iter()
                .map(|server| ServerAnswer::new(server.clone(), Err(error.clone())))
                .collect();
        }
        pick_all(self.run_all(command, &line), pick)
    }

    /// Sends `line` to every server, one thread per server when there are several, and
    /// collects the replies in the order of the list.
    fn run_all(&mut self, command: &AdminCommand, line: &[u8]) -> Vec<ServerAnswer<AdminReply>> {
        let call = self.call();
        if self.others.is_empty() {
            let result = call.run(&mut self.first, command, line);
            return vec![ServerAnswer::new(self.first.addr().clone(), result)];
        }
        let links = std::iter::once(&mut self.first).chain(self.others.iter_mut());
        let call = &call;
        thread::scope(|scope| {
            let running: Vec<_> = links
                .map(|link| {
                    let server = link.addr().clone();
                    let thread = thread::Builder::new()
                        .name(format!("gearman-admin {server}"))
                        .spawn_scoped(scope, move || call.run(link, command, line));
                    (server, thread)
                })
                .collect();
            running
                .into_iter()
                .map(|(server, thread)| {
                    let result = match thread {
                        Ok(thread) => thread
                            .join()
                            .unwrap_or_else(|_| Err(thread_error(&server, "admin call panicked"))),
                        Err(error) => Err(Error::Io {
                            server: server.to_string(),
                            source: Arc::new(error),
                        }),
                    };
                    ServerAnswer::new(server, result)
                })
                .collect()
        })
    }
}

/// The wanted shape out of every answer; a reply of another shape is that server's error.
fn pick_all<T>(answers: Vec<ServerAnswer<AdminReply>>, pick: Pick<T>) -> Vec<ServerAnswer<T>> {
    answers
        .into_iter()
        .map(|answer| {
            let result = answer
                .result
                .and_then(|reply| pick(reply).map_err(|other| unexpected(&answer.server, other)));
            if let Err(error) = &result {
                log::debug!("admin call on {} failed: {error}", answer.server);
            }
            ServerAnswer::new(answer.server, result)
        })
        .collect()
}

/// An error for a per-server thread that could not report its own.
fn thread_error(server: &ServerAddr, what: &str) -> Error {
    Error::Io {
        server: server.to_string(),
        source: Arc::new(io::Error::other(what.to_string())),
    }
}
