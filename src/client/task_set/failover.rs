//! When a connection dies under a task set: which tasks are sent again and how the others
//! end. The decision is [`fate_on_connection_loss`], a pure function; the rest is its I/O.

use super::{TaskOutcome, TaskSet};
use crate::client::router::State;
use crate::client::unique::UniqueMode;
use crate::error::Error;
use crate::net::JobHandle;

/// What happens to a task whose connection died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    /// It has a retry left: send it again, with a fresh unique when the library made the old
    /// one (so it cannot join the job abandoned on the dead connection).
    Resubmit {
        /// Replace the unique before sending.
        fresh_unique: bool,
    },
    /// It was sent but never confirmed: it may exist on the server.
    Unconfirmed,
    /// It was created, and its result can no longer arrive.
    Lost,
}

/// The fate of a task in `state` whose connection died; `retries_left` when it may be sent
/// again, `caller_unique` when the caller chose its unique (kept on a retry).
pub(super) fn fate_on_connection_loss(
    state: State,
    retries_left: bool,
    caller_unique: bool,
) -> Fate {
    if retries_left {
        return Fate::Resubmit {
            fresh_unique: !caller_unique,
        };
    }
    match state {
        State::AwaitingCreated => Fate::Unconfirmed,
        _ => Fate::Lost,
    }
}

impl TaskSet<'_, '_> {
    /// Ends the tasks sent on an earlier connection to `server` when the pool has closed or
    /// replaced it meanwhile (a reconnect after an idle check, another user of the pool), so
    /// that replies on the new connection are never matched with them.
    pub(super) fn check_connection(&mut self, server: usize) {
        let current = self.client.pool.generation(server);
        let owed = self.tables.router.has_open(server) || self.tables.router.owes_replies(server);
        if owed && current != self.tables.generations[server] {
            let reason = match current {
                Some(_) => "the connection was replaced".to_owned(),
                None => "the connection was closed".to_owned(),
            };
            self.connection_gone(server, &reason);
        }
        self.tables.generations[server] = current;
    }

    /// Drops a failed connection and deals honestly with every task that depended on it: a
    /// task with a retry left is sent again (to another server when there is one, with a fresh
    /// unique unless the caller chose it, so it cannot join the job abandoned on this
    /// connection); the others end with [`Error::SubmitUnconfirmed`] or [`Error::JobLost`].
    pub(super) fn fail_server(&mut self, server: usize, error: Error) {
        self.client.pool.mark_failed(server, &error);
        self.tables.generations[server] = None;
        self.connection_gone(server, &error.to_string());
    }

    /// The connection the open tasks on `server` were sent on is gone (see
    /// [`fail_server`](TaskSet::fail_server) for what happens to them).
    pub(super) fn connection_gone(&mut self, server: usize, reason: &str) {
        let name = self.server_name(server);
        for (id, state) in self.tables.router.connection_lost(server) {
            let entry = &self.entries[id];
            let fate =
                fate_on_connection_loss(state, entry.retries_left(), entry.task.unique.is_some());
            let error = match fate {
                Fate::Resubmit { fresh_unique } => {
                    self.take_retry(id);
                    if fresh_unique {
                        if let Some(fresh) = UniqueMode::Random.generate(b"", b"") {
                            self.entries[id].unique = fresh;
                        }
                    }
                    self.resubmit(id);
                    continue;
                }
                Fate::Unconfirmed => Error::SubmitUnconfirmed {
                    server: name.clone(),
                    reason: reason.to_owned(),
                },
                Fate::Lost => Error::JobLost {
                    handle: self.job_handle(id),
                    reason: reason.to_owned(),
                },
            };
            self.finish(id, TaskOutcome::Failed(error));
        }
    }

    pub(super) fn server_name(&self, server: usize) -> String {
        self.client.pool.server(server).to_string()
    }

    /// Task `id`'s handle, with the server that issued it.
    pub(super) fn job_handle(&self, id: usize) -> JobHandle {
        let server = self.client.pool.server(self.tables.router.server(id));
        JobHandle::new(server.clone(), self.tables.router.handle(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates() {
        use State::{AwaitingCreated, Running};
        let resubmit = |fresh_unique| Fate::Resubmit { fresh_unique };
        assert_eq!(
            fate_on_connection_loss(AwaitingCreated, true, false),
            resubmit(true)
        );
        assert_eq!(
            fate_on_connection_loss(Running, true, true),
            resubmit(false)
        );
        assert_eq!(
            fate_on_connection_loss(AwaitingCreated, false, false),
            Fate::Unconfirmed
        );
        assert_eq!(
            fate_on_connection_loss(AwaitingCreated, false, true),
            Fate::Unconfirmed
        );
        assert_eq!(fate_on_connection_loss(Running, false, false), Fate::Lost);
    }
}
