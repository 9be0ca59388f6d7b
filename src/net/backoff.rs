//! Capped, jittered exponential backoff for reconnecting to a failed server.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Reconnect backoff: the first retry waits `initial`, each further failure doubles the wait up
/// to `max`, and every wait is shortened by a random part of up to `jitter` (0.0-1.0) of
/// itself, so that many clients do not retry in lockstep.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::Backoff;
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).with_jitter(0.0);
/// assert_eq!(backoff.delay(1), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3), Duration::from_millis(400));
/// assert_eq!(backoff.delay(30), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
}

impl Default for Backoff {
    /// 250 ms doubling up to 10 s, 20 % jitter.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(10))
    }
}

impl Backoff {
    /// `initial` doubling up to `max` (a `max` below `initial` is raised to it), with the
    /// default 20 % jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Backoff;
    /// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    /// assert_eq!((backoff.initial(), backoff.max(), backoff.jitter()), (Duration::from_secs(1), Duration::from_secs(60), 0.2));
    /// ```
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            jitter: 0.2,
        }
    }

    /// The same backoff with `jitter` (clamped to 0.0-1.0) as the randomised part of each wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Backoff;
    /// let exact = Backoff::new(Duration::from_secs(1), Duration::from_secs(8)).with_jitter(0.0);
    /// assert_eq!(exact.delay(2), Duration::from_secs(2));
    /// assert_eq!(exact.with_jitter(7.0).jitter(), 1.0);
    /// ```
    pub fn with_jitter(mut self, jitter: f64) -> Backoff {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// The wait after the first failure.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The longest wait.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The randomised fraction of each wait.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The wait before retrying after `failures` consecutive failures (1 = first failure;
    /// 0 counts as 1). With jitter, the wait is shortened by a random part of up to `jitter`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Backoff;
    /// let backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    /// let second = backoff.delay(2); // 500 ms less up to 20 %
    /// assert!(second <= Duration::from_millis(500) && second >= Duration::from_millis(400));
    /// assert!(backoff.delay(100) <= Duration::from_secs(10));
    /// ```
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let base = self
            .initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return base;
        }
        base.mul_f64(1.0 - jitter * random_fraction())
    }
}

/// A random number in [0, 1) from the standard library's per-process random hash keys.
pub(crate) fn random_fraction() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random 64-bit number (not cryptographic).
pub(crate) fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds() {
        let backoff =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).with_jitter(0.5);
        for failures in 1..10 {
            let delay = backoff.delay(failures);
            let base = backoff.with_jitter(0.0).delay(failures);
            assert!(delay <= base && delay >= base / 2, "{delay:?} vs {base:?}");
        }
        assert_eq!(
            backoff.with_jitter(0.0).delay(0),
            Duration::from_millis(100)
        );
    }
}
