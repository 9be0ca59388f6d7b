//! One server link: the address, the open connection (if any), which connection it is (its
//! generation), and the server's health: consecutive failures, the reconnect backoff and the
//! last error. Client pools, worker sessions and the admin client all keep their servers in
//! these, so health and backoff are written once.

use std::sync::Arc;
use std::time::Instant;

use super::health::ServerHealth;
use super::{Backoff, Connection, ServerAddr};
use crate::error::{Error, ServerFailure};

/// A server and, while connected, its connection.
#[derive(Debug)]
pub(crate) struct Link {
    addr: ServerAddr,
    conn: Option<Connection>,
    /// Counts connections opened, so a user of an older one can tell it was replaced.
    generation: u64,
    /// When the open connection was opened.
    opened_at: Option<Instant>,
    /// Failures, backoff and last error: this link's own, or shared with the other links to
    /// the same server of a [`SharedClient`](crate::SharedClient).
    health: Arc<ServerHealth>,
}

impl Link {
    /// A link to `addr`, not connected yet.
    pub(crate) fn new(addr: ServerAddr) -> Link {
        Link::with_health(addr, ServerHealth::private())
    }

    /// A link to `addr` whose health is `health` (shared with other links to it).
    pub(crate) fn with_health(addr: ServerAddr, health: Arc<ServerHealth>) -> Link {
        Link {
            addr,
            conn: None,
            generation: 0,
            opened_at: None,
            health,
        }
    }

    /// The server.
    pub(crate) fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// The open connection.
    pub(crate) fn conn(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }

    /// The open connection, to use.
    pub(crate) fn conn_mut(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }

    /// True while a connection is open.
    pub(crate) fn is_open(&self) -> bool {
        self.conn.is_some()
    }

    /// Which connection is (or was last) open: it changes with every new one, so a user of an
    /// older connection can tell it was replaced.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// When a closed link may be connected again (`None`: now, or it is open).
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        match self.conn {
            Some(_) => None,
            None => self.health.retry_at(),
        }
    }

    /// True when closed and its backoff has passed (or it never failed).
    pub(crate) fn reconnect_due(&self, now: Instant) -> bool {
        self.conn.is_none() && self.health.due(now)
    }

    /// A connect to this server starts, to end before `until` (see [`ServerHealth::busy`]).
    pub(crate) fn attempt(&self, until: Instant) {
        self.health.attempt(until);
    }

    /// Claims the next connect for this link (see [`ServerHealth::claim_attempt`]): false
    /// while another link sharing the health connects to the server.
    pub(crate) fn claim_attempt(&self, now: Instant, until: Instant) -> bool {
        self.health.claim_attempt(now, until)
    }

    /// Takes a freshly opened connection into use. The failure count stays until the server
    /// proves healthy ([`mark_healthy`](Link::mark_healthy)): a server that accepts and then
    /// closes at once keeps its growing backoff.
    pub(crate) fn attach(&mut self, conn: Connection) {
        if let Some(old) = self.conn.replace(conn) {
            old.shutdown();
        }
        self.generation += 1;
        self.opened_at = Some(Instant::now());
        self.health.connected();
    }

    /// The server answered on this link: its backoff starts over.
    pub(crate) fn mark_healthy(&mut self) {
        if self.health.mark_healthy() {
            log::info!("{} is reachable again", self.addr);
        }
    }

    /// Drops the connection after `error`, counts the failure and starts the backoff; returns
    /// the delay before the next attempt.
    pub(crate) fn fail(&mut self, error: &Error, backoff: &Backoff) -> std::time::Duration {
        let opened = self.conn.as_ref().and(self.opened_at);
        self.close();
        let failure = self.health.fail(error, backoff, Instant::now(), opened);
        let delay = failure.delay;
        if error.tls_kind().is_some() {
            // Not a server that is down: retrying cannot help until certificates, settings or
            // the server change, so every attempt is reported.
            log::warn!("cannot use {}: {error}; retrying in {delay:?}", self.addr);
        } else if failure.count == 1 && failure.counted {
            log::warn!("lost {}: {error}; retrying in {delay:?}", self.addr);
        } else {
            log::debug!("cannot reach {}: {error}; retrying in {delay:?}", self.addr);
        }
        delay
    }

    /// Closes the connection without counting a failure (it is reopened on next use).
    pub(crate) fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.shutdown();
        }
    }

    /// Takes the connection out for a while (to borrow it beside the link's other fields); give
    /// it back with [`restore`](Link::restore).
    pub(crate) fn take(&mut self) -> Option<Connection> {
        self.conn.take()
    }

    /// Gives back a connection from [`take`](Link::take): same generation.
    pub(crate) fn restore(&mut self, conn: Connection) {
        self.conn = Some(conn);
    }

    /// This server with its last error, for [`Error::NoJobServers`].
    pub(crate) fn failure(&self) -> ServerFailure {
        ServerFailure::new(self.addr.to_string(), self.health.last_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn link() -> Link {
        Link::new(ServerAddr::parse("gm1").expect("address"))
    }

    #[test]
    fn a_new_link_is_due_and_never_failed() {
        let link = link();
        assert!(!link.is_open());
        assert_eq!(link.generation(), 0);
        assert!(link.reconnect_due(Instant::now()));
        assert_eq!(link.failure().to_string(), "gm1:4730: not tried");
    }

    #[test]
    fn failures_grow_the_backoff_and_keep_the_last_error() {
        let backoff =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).with_jitter(0.0);
        let mut link = link();
        let error = Error::ConnectionClosed {
            server: "gm1:4730".into(),
        };
        assert_eq!(link.fail(&error, &backoff), Duration::from_millis(100));
        assert_eq!(link.fail(&error, &backoff), Duration::from_millis(200));
        assert!(!link.reconnect_due(Instant::now()));
        assert!(link.retry_at().is_some());
        assert!(matches!(
            link.failure().error.as_deref(),
            Some(Error::ConnectionClosed { .. })
        ));
        link.mark_healthy();
        assert_eq!(link.fail(&error, &backoff), Duration::from_millis(100));
    }
}
