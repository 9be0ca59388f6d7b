//! Waiting for a task set's replies and dispatching them: the wait over its connections, one
//! routed packet at a time to its task's callbacks, and each task's end.

use std::time::Duration;

use super::{TaskOutcome, TaskSet};
use crate::client::router::Route;
use crate::error::{Error, Result};
use crate::net::JobHandle;
use crate::net::{read_any, Arrival};
use crate::protocol::{parse_decimal, Packet};

impl TaskSet<'_, '_> {
    /// Waits on the connections that have open tasks (see [`read_any`]) and dispatches what
    /// arrived.
    pub(super) fn pump(&mut self, timeout: Option<Duration>) -> Result<()> {
        let mut servers = std::mem::take(&mut self.tables.scratch_servers);
        servers.clear();
        for server in 0..self.tables.router.servers() {
            if self.tables.router.has_open(server) {
                self.check_connection(server);
                // Ended, or sent elsewhere again: the caller looks afresh.
                if self.tables.router.has_open(server)
                    && self.client.pool.generation(server).is_some()
                {
                    servers.push(server);
                }
            }
        }
        let mut arrivals = std::mem::take(&mut self.tables.arrivals);
        let waited = match servers[..] {
            [] => Ok(()),
            [server] => match self.client.pool.connection(server) {
                Some(conn) => read_any(
                    &mut [conn],
                    timeout,
                    &mut self.tables.wait_buffers,
                    &mut arrivals,
                ),
                None => Ok(()),
            },
            _ => {
                let mut conns = self.client.pool.connections(&servers);
                read_any(
                    &mut conns,
                    timeout,
                    &mut self.tables.wait_buffers,
                    &mut arrivals,
                )
            }
        };
        for (&server, arrival) in servers.iter().zip(arrivals.drain(..)) {
            match arrival {
                Arrival::Nothing => {}
                Arrival::Read => self.dispatch_buffered(server),
                Arrival::Failed(error) => self.fail_server(server, error),
            }
        }
        self.tables.arrivals = arrivals;
        self.tables.scratch_servers = servers;
        waited
    }

    pub(super) fn dispatch_all_buffered(&mut self) {
        for server in 0..self.tables.router.servers() {
            if self.tables.router.has_open(server) {
                self.dispatch_buffered(server);
            }
        }
    }

    /// Decodes and handles every complete packet buffered for `server`.
    pub(super) fn dispatch_buffered(&mut self, server: usize) {
        loop {
            let next = match self.client.pool.connection(server) {
                Some(conn) if conn.buffered() > 0 => conn.next_buffered(),
                _ => return,
            };
            match next {
                Ok(Some(packet)) => self.handle_packet(server, packet),
                Ok(None) => return,
                Err(error) => {
                    self.fail_server(server, error);
                    return;
                }
            }
        }
    }

    pub(super) fn handle_packet(&mut self, server: usize, packet: Packet) {
        match self.tables.router.route(server, &packet) {
            Route::Created { id, background } => {
                if !background && self.entries[id].task.callbacks.on_created.is_none() {
                    return; // a running foreground task nobody asked a handle for
                }
                let job = JobHandle::new(
                    self.client.pool.server(server).clone(),
                    packet.arg(0).to_vec(),
                );
                if let Some(callback) = self.entries[id].task.callbacks.on_created.as_mut() {
                    callback(&job);
                }
                if background {
                    self.finish(id, TaskOutcome::Submitted(job));
                }
            }
            Route::Data(id) => {
                if let Some(callback) = self.entries[id].task.callbacks.on_data.as_mut() {
                    callback(packet.arg(1));
                }
            }
            Route::Warning(id) => {
                let entry = &mut self.entries[id];
                if let Some(callback) = entry.task.callbacks.on_warning.as_mut() {
                    callback(packet.arg(1));
                }
                entry.last_warning = Some(packet.into_tail());
            }
            Route::Status(id) => {
                if let Some(callback) = self.entries[id].task.callbacks.on_status.as_mut() {
                    let numerator = parse_decimal(packet.arg(1)).unwrap_or(0);
                    let denominator = parse_decimal(packet.arg(2)).unwrap_or(0);
                    callback(numerator, denominator);
                }
            }
            Route::Complete(id) => {
                let data = packet.into_tail();
                if let Some(callback) = self.entries[id].task.callbacks.on_complete.as_mut() {
                    callback(&data);
                }
                self.finish(id, TaskOutcome::Completed(data));
            }
            Route::Fail(id) => self.on_work_fail(id),
            Route::Exception(id) => {
                let handle = self.job_handle(id);
                let data = packet.into_tail();
                if let Some(callback) = self.entries[id].task.callbacks.on_exception.as_mut() {
                    callback(&data);
                }
                self.finish(
                    id,
                    TaskOutcome::Failed(Error::JobException { handle, data }),
                );
            }
            Route::Error(id) => {
                let error = Error::from_error_packet(self.client.pool.server(server), &packet);
                self.finish(id, TaskOutcome::Failed(error));
            }
            Route::Stale => log::debug!(
                "{}: {} for a task nobody waits for; ignored",
                self.server_name(server),
                packet.kind()
            ),
            Route::Unrouted(kind) => log::warn!(
                "{}: unexpected {kind} in a task set; ignored",
                self.server_name(server)
            ),
        }
    }

    pub(super) fn on_work_fail(&mut self, id: usize) {
        if self.take_retry(id) {
            self.resubmit(id);
            return;
        }
        if let Some(callback) = self.entries[id].task.callbacks.on_fail.as_mut() {
            callback();
        }
        let handle = self.job_handle(id);
        let warning = self.entries[id].last_warning.take();
        self.finish(
            id,
            TaskOutcome::Failed(Error::JobFailed { handle, warning }),
        );
    }

    pub(super) fn finish(&mut self, id: usize, outcome: TaskOutcome) {
        let entry = &mut self.entries[id];
        entry.succeeded = !matches!(outcome, TaskOutcome::Failed(_));
        if !entry.succeeded {
            self.tables.failed += 1;
        }
        entry.outcome = Some(outcome);
        self.tables.finished.push(id);
    }
}
