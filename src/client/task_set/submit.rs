//! Sending a task set's tasks: choosing the server, queuing submissions with one write per
//! server, and sending a task again for a retry.

use std::time::Instant;

use super::{Entry, TaskOutcome, TaskSet};
use crate::client::task::Task;
use crate::error::{ArgumentError, Error, Result};

impl<'a> TaskSet<'_, 'a> {
    /// Checks `task`, fills in its unique, and adds it (not yet sent); returns its id.
    pub(super) fn prepare(&mut self, task: Task<'a>) -> Result<usize> {
        let wire_function = self.client.settings.wire_function(&task.function)?;
        let unique = match &task.unique {
            Some(unique) => unique.clone(),
            None => self
                .client
                .options
                .unique_mode
                .generate(&wire_function, &task.workload)
                .unwrap_or_default(),
        };
        crate::protocol::validate::unique(&unique)?;
        if let Some(reducer) = &task.reducer {
            check_reducer(&task, reducer)?;
        }
        let id = self.tables.router.push(task.background);
        self.entries.push(Entry {
            task,
            function: wire_function,
            unique,
            attempts: 0,
            last_warning: None,
            submitted: Instant::now(),
            outcome: None,
            succeeded: false,
        });
        Ok(id)
    }

    /// Picks a server for entry `id` and queues its submission there (not flushed; a tail of
    /// 256 KiB or more is written at once). Returns the server.
    pub(super) fn queue_submission(&mut self, id: usize) -> Result<usize> {
        let unique = &self.entries[id].unique;
        let routing_key = (!unique.is_empty()).then_some(unique.as_slice());
        let server = self.client.pool.checkout(routing_key)?;
        self.check_connection(server);
        let entry = &self.entries[id];
        let Some(conn) = self.client.pool.connection(server) else {
            return Err(Error::NoJobServers(self.client.pool.failures()));
        };
        let task = &entry.task;
        let kind = task.submit_type();
        let queued = match (task.run_at, &task.reducer) {
            // gearmand's parser needs the 4th delimited field (the aggregator), empty.
            (_, Some(reducer)) => conn.queue_request(
                kind,
                &[&entry.function, &entry.unique, reducer, b"", &task.workload],
            ),
            (Some(at), None) => {
                let epoch = at.to_string();
                conn.queue_request(
                    kind,
                    &[
                        &entry.function,
                        &entry.unique,
                        epoch.as_bytes(),
                        &task.workload,
                    ],
                )
            }
            (None, None) => {
                conn.queue_request(kind, &[&entry.function, &entry.unique, &task.workload])
            }
        };
        match queued {
            Ok(()) => {
                let entry = &mut self.entries[id];
                entry.attempts += 1;
                entry.last_warning = None;
                entry.submitted = Instant::now();
                Ok(server)
            }
            Err(error @ Error::InvalidArgument(_)) => Err(error),
            Err(error) => {
                // A large tail is written at once; the write failed, so the submission did
                // not get out whole and gearmand drops it.
                let reason = Error::ConnectionClosed {
                    server: self.server_name(server),
                };
                self.fail_server(server, error);
                Err(reason)
            }
        }
    }

    /// [`queue_submission`](TaskSet::queue_submission), moving on to the next server when a
    /// large submission could not be written.
    pub(super) fn queue_somewhere(&mut self, id: usize) -> Result<usize> {
        let mut last = None;
        for _ in 0..self.client.pool.len().max(1) {
            match self.queue_submission(id) {
                Err(error @ Error::ConnectionClosed { .. }) => last = Some(error),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| Error::NoJobServers(self.client.pool.failures())))
    }

    /// Writes what is queued for `server`; a failure ends its tasks honestly.
    pub(super) fn flush_server(&mut self, server: usize) {
        let flushed = match self.client.pool.connection(server) {
            Some(conn) => conn.flush(),
            None => Ok(()),
        };
        if let Err(error) = flushed {
            self.fail_server(server, error);
        }
    }

    /// Sends entry `id` to a healthy server at once; on a failed write (the submission did
    /// not get out whole, so gearmand drops it) tries the next server.
    pub(super) fn submit(&mut self, id: usize) -> Result<()> {
        for _ in 0..self.client.pool.len().max(1) {
            let server = self.queue_somewhere(id)?;
            let flushed = match self.client.pool.connection(server) {
                Some(conn) => conn.flush(),
                None => Ok(()),
            };
            match flushed {
                Ok(()) => {
                    self.tables.router.submitted(id, server);
                    return Ok(());
                }
                Err(error) => self.fail_server(server, error),
            }
        }
        Err(Error::NoJobServers(self.client.pool.failures()))
    }

    /// True (after firing `on_retry`) when task `id` has a retry left.
    pub(super) fn take_retry(&mut self, id: usize) -> bool {
        let entry = &mut self.entries[id];
        if !entry.retries_left() {
            return false;
        }
        if let Some(callback) = entry.task.callbacks.on_retry.as_mut() {
            callback(entry.attempts);
        }
        true
    }

    /// Sends task `id` again; a failure to send ends it with that error.
    pub(super) fn resubmit(&mut self, id: usize) {
        if let Err(error) = self.submit(id) {
            self.finish(id, TaskOutcome::Failed(error));
        }
    }
}

/// A reduce job's reducer is checked (at most 63 bytes, no NUL), and its task must be at
/// normal priority and not scheduled: gearmand has no other kind of reduce submission.
fn check_reducer(task: &Task<'_>, reducer: &[u8]) -> Result<()> {
    crate::protocol::validate::reducer(reducer)?;
    if task.priority != crate::Priority::Normal {
        return Err(ArgumentError::OutOfRange {
            field: "priority",
            reason: "reduce jobs run at normal priority",
        }
        .into());
    }
    if task.run_at.is_some() {
        return Err(ArgumentError::OutOfRange {
            field: "run_at",
            reason: "a reduce job cannot be scheduled",
        }
        .into());
    }
    Ok(())
}
