//! A server's health: consecutive failures, the reconnect backoff's next attempt and the last
//! error. A [`Link`](super::Link) keeps its own; the links of a
//! [`SharedClient`](crate::SharedClient)'s pooled clients share one per server, so every
//! thread sees the same backoff.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Backoff;
use crate::error::Error;

/// The health of one server, behind a lock held only to read or update it (never across I/O).
#[derive(Debug, Default)]
pub(crate) struct ServerHealth {
    state: Mutex<HealthState>,
    /// Shared by several links: a failure while the backoff runs is the same outage seen by
    /// another connection, so it does not count again.
    shared: bool,
}

#[derive(Debug, Default, Clone)]
struct HealthState {
    /// Failures since the server last proved healthy.
    failures: u32,
    /// No reconnect before this instant.
    retry_at: Option<Instant>,
    /// When the last failure that counted happened.
    failed_at: Option<Instant>,
    /// A connect (and probe) to the server is under way on some link until at most this
    /// instant: other links sharing the health try other servers first meanwhile.
    attempt_until: Option<Instant>,
    last_error: Option<Error>,
}

/// What [`ServerHealth::fail`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Failures in a row, this one included.
    pub(crate) count: u32,
    /// Wait before the next attempt.
    pub(crate) delay: Duration,
    /// False when the failure was folded into an outage already counted (shared health).
    pub(crate) counted: bool,
}

impl ServerHealth {
    /// Health for one link.
    pub(crate) fn private() -> Arc<ServerHealth> {
        Arc::new(ServerHealth::default())
    }

    /// Health shared by the links of several connections to the same server.
    pub(crate) fn shared() -> Arc<ServerHealth> {
        Arc::new(ServerHealth {
            state: Mutex::default(),
            shared: true,
        })
    }

    fn state(&self) -> MutexGuard<'_, HealthState> {
        // The state is a few plain fields written in one go: a panic elsewhere cannot leave
        // it half-updated, so a poisoned lock is still good to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When the server may be tried again (`None`: now).
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.state().retry_at
    }

    /// True when the server may be connected now: its backoff passed, or it never failed.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.state().retry_at.map_or(true, |at| at <= now)
    }

    /// A connect to the server starts here and ends (with [`connected`](Self::connected) or
    /// [`fail`](Self::fail)) before `until`.
    pub(crate) fn attempt(&self, until: Instant) {
        self.state().attempt_until = Some(until);
    }

    /// Claims the next connect to the server for the caller: false when another link sharing
    /// the health is connecting to it now (a pool then tries the other servers first, so a
    /// dead or hung server stalls one thread per backoff window rather than every thread at
    /// once). Checked and claimed under one lock: of several threads only one gets it. Always
    /// true for private health.
    pub(crate) fn claim_attempt(&self, now: Instant, until: Instant) -> bool {
        let mut state = self.state();
        if self.shared && state.attempt_until.is_some_and(|at| at > now) {
            return false;
        }
        state.attempt_until = Some(until);
        true
    }

    /// The server answered: the backoff starts over. True when it had failed before.
    pub(crate) fn mark_healthy(&self) -> bool {
        let mut state = self.state();
        let recovered = state.failures > 0;
        state.failures = 0;
        state.retry_at = None;
        recovered
    }

    /// A new connection was opened: no wait before the next attempt, though the failure count
    /// stays until [`mark_healthy`](ServerHealth::mark_healthy).
    pub(crate) fn connected(&self) {
        let mut state = self.state();
        state.retry_at = None;
        state.attempt_until = None;
    }

    /// Records `error` and starts (or, for shared health during a running backoff, keeps) the
    /// backoff.
    ///
    /// `opened` is when the connection that failed was opened (`None` for a failed connect).
    /// A connection older than the last counted failure saw that same outage (after a gearmand
    /// restart every connection opened before it is dead), so its failure is not counted
    /// again, even when another link already reconnected.
    pub(crate) fn fail(
        &self,
        error: &Error,
        backoff: &Backoff,
        now: Instant,
        opened: Option<Instant>,
    ) -> Failure {
        let mut state = self.state();
        state.last_error = Some(error.clone());
        state.attempt_until = None;
        let in_backoff = state.retry_at.filter(|&at| at > now);
        let seen_before = opened
            .zip(state.failed_at)
            .is_some_and(|(opened, failed)| opened < failed);
        if self.shared && (in_backoff.is_some() || seen_before) {
            return Failure {
                count: state.failures,
                delay: in_backoff.map_or(Duration::ZERO, |at| at - now),
                counted: false,
            };
        }
        state.failures = state.failures.saturating_add(1);
        state.failed_at = Some(now);
        let delay = backoff.delay(state.failures);
        state.retry_at = Some(now + delay);
        Failure {
            count: state.failures,
            delay,
            counted: true,
        }
    }

    /// The last error seen on the server.
    pub(crate) fn last_error(&self) -> Option<Error> {
        self.state().last_error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error() -> Error {
        Error::ConnectionClosed {
            server: "gm1:4730".into(),
        }
    }

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(10)).with_jitter(0.0)
    }

    #[test]
    fn private_health_counts_every_failure() {
        let health = ServerHealth::private();
        let now = Instant::now();
        assert_eq!(health.fail(&error(), &backoff(), now, None).count, 1);
        let second = health.fail(&error(), &backoff(), now, None);
        assert_eq!(
            (second.count, second.delay),
            (2, Duration::from_millis(200))
        );
        assert!(health.mark_healthy());
        assert_eq!(health.fail(&error(), &backoff(), now, None).count, 1);
    }

    #[test]
    fn shared_health_counts_one_outage_once() {
        let health = ServerHealth::shared();
        let now = Instant::now();
        let first = health.fail(&error(), &backoff(), now, None);
        assert!(first.counted);
        // Seven more threads lose their connections to the same dead server at once.
        for _ in 0..7 {
            let again = health.fail(&error(), &backoff(), now + Duration::from_millis(1), None);
            assert!(!again.counted);
            assert_eq!(again.count, 1);
        }
        // The next attempt after the backoff failed: that one counts.
        let later = health.fail(&error(), &backoff(), now + Duration::from_millis(150), None);
        assert_eq!((later.count, later.delay), (2, Duration::from_millis(200)));
        assert!(health.last_error().is_some());
    }

    #[test]
    fn a_connect_that_ended_frees_the_claim() {
        let shared = ServerHealth::shared();
        let now = Instant::now();
        let until = now + Duration::from_secs(10);
        assert!(shared.claim_attempt(now, until));
        assert!(
            !shared.claim_attempt(now, until),
            "another thread is connecting"
        );
        assert!(
            shared.claim_attempt(now + Duration::from_secs(11), until),
            "a stuck attempt expires"
        );
        shared.fail(&error(), &backoff(), now, None);
        assert!(!shared.due(now), "in backoff");
        assert!(shared.claim_attempt(now, until), "the failed attempt ended");
        assert!(shared.due(now + Duration::from_millis(150)));
    }

    #[test]
    fn connections_older_than_a_counted_failure_do_not_count_it_again() {
        let shared = ServerHealth::shared();
        let before = Instant::now();
        let now = before + Duration::from_secs(1);
        // gearmand restarted: the first pooled client to notice counts it and reconnects.
        assert!(shared.fail(&error(), &backoff(), now, Some(before)).counted);
        shared.connected();
        assert!(shared.mark_healthy());
        // Fifteen idle pooled clients find their connections of before the restart dead.
        let later = now + Duration::from_secs(2);
        for _ in 0..15 {
            let again = shared.fail(&error(), &backoff(), later, Some(before));
            assert!(!again.counted && again.delay.is_zero());
        }
        assert!(shared.due(later), "no backoff for a server that is back");
        // A connection opened after that failure counts when it fails.
        assert!(
            shared
                .fail(&error(), &backoff(), later, Some(later))
                .counted
        );
    }

    #[test]
    fn only_one_link_claims_a_connect() {
        let shared = ServerHealth::shared();
        let now = Instant::now();
        let until = now + Duration::from_secs(5);
        assert!(shared.claim_attempt(now, until));
        assert!(!shared.claim_attempt(now, until));
        shared.connected();
        assert!(shared.claim_attempt(now, until));
        let private = ServerHealth::private();
        assert!(private.claim_attempt(now, until) && private.claim_attempt(now, until));
    }
}
