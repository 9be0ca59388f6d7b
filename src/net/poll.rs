//! Waiting until any of several sockets is readable, without threads or busy polling.
//!
//! On Unix this is one `poll(2)` call. Elsewhere it falls back to short non-blocking peeks
//! with 1 ms sleeps (correct, but wakes up to 1000 times a second while waiting).

use std::io;
use std::net::TcpStream;
use std::time::Duration;

/// Blocks until at least one stream is readable (data, EOF or error) or the timeout passes.
/// Sets `ready[i]` for each readable stream and returns how many are ready (0 on timeout).
pub(crate) fn wait_readable(
    streams: &[&TcpStream],
    timeout: Option<Duration>,
    ready: &mut Vec<bool>,
) -> io::Result<usize> {
    ready.clear();
    ready.resize(streams.len(), false);
    if streams.is_empty() {
        if let Some(timeout) = timeout {
            std::thread::sleep(timeout);
        }
        return Ok(0);
    }
    imp::wait_readable(streams, timeout, ready)
}

/// Reads what is already there without blocking: `Ok(0)` when nothing is (the caller then
/// polls), `Ok(n)` for n bytes, or the error. End of stream is reported as `UnexpectedEof`.
pub(crate) fn read_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    imp::read_now(stream, buf)
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod imp {
    use super::*;
    use std::os::unix::io::AsRawFd;

    pub(super) fn wait_readable(
        streams: &[&TcpStream],
        timeout: Option<Duration>,
        ready: &mut [bool],
    ) -> io::Result<usize> {
        let mut fds: Vec<libc::pollfd> = streams
            .iter()
            .map(|stream| libc::pollfd {
                fd: stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let deadline = timeout.map(|timeout| std::time::Instant::now() + timeout);
        loop {
            let millis: libc::c_int = match deadline {
                None => -1,
                // Round up so that a 0.5 ms remainder does not become a busy 0 ms poll.
                Some(deadline) => deadline
                    .saturating_duration_since(std::time::Instant::now())
                    .as_micros()
                    .div_ceil(1000)
                    .min(libc::c_int::MAX as u128) as libc::c_int,
            };
            // SAFETY: `fds` is a live, properly initialised array of `fds.len()` pollfd structs
            // that poll(2) may write `revents` into; the file descriptors belong to streams that
            // outlive the call.
            let result = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
            if result >= 0 {
                break;
            }
            // Interrupted by a signal: wait again, for what is left of the timeout only.
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
        let mut count = 0;
        for (slot, fd) in ready.iter_mut().zip(&fds) {
            if fd.revents != 0 {
                *slot = true;
                count += 1;
            }
        }
        Ok(count)
    }

    pub(super) fn read_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is a live, writable byte slice of `buf.len()` bytes; recv(2) writes
            // at most that many bytes into it. The descriptor belongs to `stream`.
            let result = unsafe {
                libc::recv(
                    stream.as_raw_fd(),
                    buf.as_mut_ptr().cast::<libc::c_void>(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if result > 0 {
                return Ok(result as usize);
            }
            if result == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(0),
                _ => return Err(error),
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use super::*;
    use std::time::Instant;

    pub(super) fn wait_readable(
        streams: &[&TcpStream],
        timeout: Option<Duration>,
        ready: &mut [bool],
    ) -> io::Result<usize> {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        let mut probe = [0u8; 1];
        loop {
            let mut count = 0;
            for (slot, stream) in ready.iter_mut().zip(streams) {
                stream.set_nonblocking(true)?;
                let peeked = stream.peek(&mut probe);
                stream.set_nonblocking(false)?;
                match peeked {
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    _ => {
                        *slot = true;
                        count += 1;
                    }
                }
            }
            if count > 0 {
                return Ok(count);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(0);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub(super) fn read_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        stream.set_nonblocking(true)?;
        let mut reader = stream;
        let result = reader.read(buf);
        stream.set_nonblocking(false)?;
        match result {
            Ok(0) => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(count) => Ok(count),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(error) => Err(error),
        }
    }
}
