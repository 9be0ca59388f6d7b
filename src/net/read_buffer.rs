//! The receive buffer of a connection: bytes read but not yet decoded.
//!
//! The storage is zeroed only when it grows, never per read (zeroing 64 KiB for every small
//! reply was most of a round trip's CPU time), and it is released again after a large packet.

/// Bytes read from a socket and not yet consumed.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    storage: Vec<u8>,
    start: usize,
    end: usize,
}

/// A buffer this large is released once it is empty (after a large packet went through).
const KEEP_AT_MOST: usize = 1 << 20;

impl ReadBuffer {
    /// The unconsumed bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }

    /// Number of unconsumed bytes.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Marks `count` bytes at the front as consumed.
    pub(crate) fn consume(&mut self, count: usize) {
        self.start = (self.start + count).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.storage.len() > KEEP_AT_MOST {
                self.storage = Vec::new();
            }
        }
    }

    /// Free space of at least `want` bytes after the data, moving the data to the front or
    /// growing the storage when needed.
    pub(crate) fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.storage.len() - self.end < want && self.start > 0 {
            self.storage.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.storage.len() - self.end < want {
            self.storage.resize(self.end + want, 0);
        }
        &mut self.storage[self.end..]
    }

    /// Adds `count` bytes just written into [`spare`](ReadBuffer::spare) to the data.
    pub(crate) fn commit(&mut self, count: usize) {
        self.end = (self.end + count).min(self.storage.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_storage_and_compacts() {
        let mut buffer = ReadBuffer::default();
        buffer.spare(8)[..5].copy_from_slice(b"hello");
        buffer.commit(5);
        assert_eq!(buffer.data(), b"hello");
        buffer.consume(2);
        assert_eq!(buffer.data(), b"llo");
        let capacity = buffer.storage.len();
        let spare = buffer.spare(6);
        assert!(spare.len() >= 6);
        assert_eq!(buffer.data(), b"llo", "compaction keeps the data");
        assert!(buffer.storage.len() <= capacity.max(9));
        buffer.consume(3);
        assert_eq!(buffer.len(), 0);
        buffer.spare(2 << 20);
        buffer.commit(1);
        buffer.consume(1);
        assert!(
            buffer.storage.is_empty(),
            "a large buffer is released once empty"
        );
    }
}
