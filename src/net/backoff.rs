//! Capped, jittered exponential backoff for reconnecting to a failed server.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Reconnect backoff settings: the first retry waits `initial`, each further failure doubles the
/// wait up to `max`, and every wait is shortened by a random amount of up to `jitter` (0.0-1.0)
/// of itself so that many clients do not retry in lockstep.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::Backoff;
/// let backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1), jitter: 0.0 };
/// assert_eq!(backoff.delay(1), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3), Duration::from_millis(400));
/// assert_eq!(backoff.delay(30), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Wait after the first failure.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Fraction of each wait that is randomised away (0.0 = none).
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The wait before retrying after `failures` consecutive failures (1 = first failure;
    /// 0 counts as 1). With jitter, the wait is shortened by a random part of up to `jitter`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Backoff;
    /// let backoff = Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(10), jitter: 0.2 };
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
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.5,
        };
        for failures in 1..10 {
            let delay = backoff.delay(failures);
            let base = Backoff {
                jitter: 0.0,
                ..backoff
            }
            .delay(failures);
            assert!(delay <= base && delay >= base / 2, "{delay:?} vs {base:?}");
        }
        assert_eq!(
            Backoff {
                jitter: 0.0,
                ..backoff
            }
            .delay(0),
            Duration::from_millis(100)
        );
    }
}
