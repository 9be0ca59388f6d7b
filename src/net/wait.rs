//! The one wait on several server connections: read what has already arrived, block in the
//! read itself when there is one connection, and in one `poll(2)` when there are several.
//! Client task sets and the worker loop both wait here, so sockets stay inside `net/`.

use std::time::{Duration, Instant};

use super::poll::wait_readable;
use super::Connection;
use crate::error::{Error, Result, Waiting};

/// What a wait brought on one connection.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// Nothing new.
    Nothing,
    /// New bytes are buffered: decode them.
    Read,
    /// The connection failed (closed, reset, timed out): drop it.
    Failed(Error),
}

/// Reusable buffers for [`read_any`], so a wait does not allocate once they have grown.
#[derive(Debug, Default)]
pub(crate) struct WaitBuffers {
    ready: Vec<bool>,
}

/// Waits up to `timeout` (`None`: each connection's I/O timeout with one, forever with
/// several) until at least one of `conns` has something, and reads it. `arrivals[i]` tells
/// what happened on `conns[i]`.
///
/// Bytes that have already arrived are read first, without sleeping. With one connection the
/// wait is the blocking read itself (one system call per wake-up). An error of `poll(2)` itself
/// is returned; it names no server.
pub(crate) fn read_any(
    conns: &mut [&mut Connection],
    timeout: Option<Duration>,
    buffers: &mut WaitBuffers,
    arrivals: &mut Vec<Arrival>,
) -> Result<()> {
    arrivals.clear();
    arrivals.extend(conns.iter().map(|_| Arrival::Nothing));
    if let [conn] = conns {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        arrivals[0] = arrival(conn.read_until(deadline));
        return Ok(());
    }
    let mut progress = false;
    for (conn, slot) in conns.iter_mut().zip(arrivals.iter_mut()) {
        *slot = arrival(conn.read_available());
        progress |= !matches!(slot, Arrival::Nothing);
    }
    if progress {
        return Ok(());
    }
    // Every connection was just read without blocking, which also took the plaintext a TLS
    // session held: whatever is still to come has to arrive on a socket.
    let streams: Vec<_> = conns.iter().map(|conn| conn.socket()).collect();
    wait_readable(&streams, timeout, &mut buffers.ready)
        .map_err(|source| Error::Wait(source.into()))?;
    drop(streams);
    for ((conn, slot), &ready) in conns
        .iter_mut()
        .zip(arrivals.iter_mut())
        .zip(&buffers.ready)
    {
        if ready {
            // Without blocking: a readable socket may hold only part of a TLS record, and a
            // blocking read would then wait for the rest while the other connections wait.
            *slot = arrival(conn.read_available());
        }
    }
    Ok(())
}

fn arrival(read: Result<usize>) -> Arrival {
    match read {
        Ok(0) => Arrival::Nothing,
        Ok(_) => Arrival::Read,
        Err(error) => Arrival::Failed(error),
    }
}

/// A deadline with what it is for: every wait that can time out carries one, so its
/// [`Error::Timeout`] says what was awaited and the limit it was given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    limit: Duration,
    waiting_for: Waiting,
}

impl Deadline {
    /// `limit` from now, for `waiting_for`.
    pub(crate) fn after(limit: Duration, waiting_for: Waiting) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
            waiting_for,
        }
    }

    /// The instant it passes.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// True once it has passed.
    pub(crate) fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The [`Error::Timeout`] for it.
    pub(crate) fn timeout(&self) -> Error {
        Error::Timeout {
            waiting_for: self.waiting_for,
            timeout: self.limit,
        }
    }
}
