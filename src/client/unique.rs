//! Unique IDs for submissions without an explicit one.

use crate::net::random_u64;

/// How a [`Client`](crate::Client) fills in the unique ID of a task that has none.
///
/// gearmand merges jobs with the same function and unique ("coalescing"), so the choice
/// decides which submissions share one execution. Set it with
/// [`ClientBuilder::unique_mode`](crate::ClientBuilder::unique_mode); a task's own
/// [`unique`](crate::Task::unique) always wins.
///
/// The default is [`None`](UniqueMode::None): like libgearman (PECL gearman, GearmanBundle),
/// which sends a fresh UUID, and Perl's `Gearman::Client`, nothing coalesces unless asked, so
/// two identical requests with side effects both run; gearmand also has no unique to hash and
/// index, and the client no payload to hash (SHA-1 of a 64 MiB workload takes ~0.2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UniqueMode {
    /// gearman-ruby's rule: lowercase hex SHA-1 of function name + workload, so identical
    /// requests in flight at the same time run once.
    ///
    /// ```
    /// use gearman_sync::UniqueMode;
    /// assert_eq!(
    ///     UniqueMode::Sha1.generate(b"unique_id", b"abcdef").as_deref(),
    ///     Some(&b"bc2ca93d86a28cb72fedf36326d1da0cc3d4ed6a"[..])
    /// );
    /// ```
    Sha1,
    /// No unique (the default): every submission is a separate job.
    #[default]
    None,
    /// A random 32-hex-digit unique per submission (never coalesces, but every job has a
    /// unique to look up with [`Client::status_by_unique`](crate::Client::status_by_unique),
    /// as libgearman's UUIDs).
    Random,
}

impl UniqueMode {
    /// The unique for a task of `function` with `workload`, or `None` for an empty unique.
    ///
    /// ```
    /// use gearman_sync::UniqueMode;
    /// let sha1 = UniqueMode::Sha1.generate(b"reverse", b"hello").expect("a unique");
    /// assert_eq!(sha1.len(), 40); // lowercase hex
    /// assert_eq!(UniqueMode::Sha1.generate(b"reverse", b"hello"), Some(sha1));
    /// assert_eq!(UniqueMode::None.generate(b"reverse", b"hello"), None);
    /// assert_eq!(UniqueMode::Random.generate(b"reverse", b"hello").map(|u| u.len()), Some(32));
    /// ```
    pub fn generate(self, function: &[u8], workload: &[u8]) -> Option<Vec<u8>> {
        match self {
            UniqueMode::Sha1 => {
                let mut hasher = sha1_smol::Sha1::new();
                hasher.update(function);
                hasher.update(workload);
                Some(hex(&hasher.digest().bytes()))
            }
            UniqueMode::None => None,
            UniqueMode::Random => {
                Some(format!("{:016x}{:016x}", random_u64(), random_u64()).into_bytes())
            }
        }
    }
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(UniqueMode::None.generate(b"f", b"w"), None);
        let first = UniqueMode::Random.generate(b"f", b"w").expect("random");
        let second = UniqueMode::Random.generate(b"f", b"w").expect("random");
        assert_eq!(first.len(), 32);
        assert_ne!(first, second);
        assert_eq!(
            UniqueMode::Sha1.generate(b"f", b"w"),
            UniqueMode::Sha1.generate(b"f", b"w")
        );
    }
}
