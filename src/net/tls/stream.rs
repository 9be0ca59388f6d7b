//! A TLS session over a TCP socket, with blocking and non-blocking reads that return the
//! plaintext rustls already holds before touching the socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::classify::{classify, looks_like_tls};
use super::TlsConfig;
use crate::error::TlsErrorKind;
use crate::net::connection::MAX_READ_WAIT;
use crate::net::poll;
use crate::net::stream::TlsFailure;

/// How many of the peer's first bytes are kept to tell TLS from something else.
const HEAD_LEN: usize = 3;

/// Ciphertext read from the socket per `read` call. rustls reads at most 4 KiB per call
/// (into a buffer it shrinks whenever it empties), which took over 4 000 system calls for a
/// 16 MiB result; reading 64 KiB and feeding rustls from memory costs one copy of the
/// ciphertext and saves most of those calls.
const CIPHERTEXT_CHUNK: usize = 64 * 1024;

/// An established TLS session (the handshake is done) over its socket.
#[derive(Debug)]
pub(crate) struct TlsStream {
    socket: TcpStream,
    session: ClientConnection,
    /// Ciphertext read from the socket and not yet given to the session.
    incoming: Incoming,
}

/// A window of ciphertext bytes in a fixed buffer.
#[derive(Debug)]
struct Incoming {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Incoming {
    fn new() -> Incoming {
        Incoming {
            buf: vec![0; CIPHERTEXT_CHUNK],
            start: 0,
            end: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The whole buffer to read into (only called when it is empty).
    fn refill(&mut self) -> &mut [u8] {
        self.start = 0;
        self.end = 0;
        &mut self.buf
    }
}

/// Why a handshake did not complete.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// TLS said no: a certificate problem, an alert, a peer that does not speak TLS.
    Tls(TlsFailure),
    /// The deadline passed first.
    Timeout,
    /// The socket failed.
    Io(io::Error),
}

impl TlsStream {
    /// Runs the handshake on `socket` for `name` within `limit`, then sets the socket's
    /// timeouts back to `io_timeout`. Nothing but the handshake is sent.
    pub(crate) fn handshake(
        socket: TcpStream,
        config: &TlsConfig,
        name: ServerName<'static>,
        limit: Duration,
        io_timeout: Duration,
    ) -> Result<TlsStream, HandshakeError> {
        let mut session = ClientConnection::new(Arc::clone(config.client_config()), name)
            .map_err(|error| HandshakeError::Tls(classify(&error)))?;
        let started = Instant::now();
        // A limit too large for the clock (`Duration::MAX`) is as good as none: a day.
        let deadline = started
            .checked_add(limit)
            .unwrap_or_else(|| started + Duration::from_secs(86_400));
        drive(&socket, &mut session, deadline)?;
        socket
            .set_read_timeout(Some(io_timeout))
            .and_then(|()| socket.set_write_timeout(Some(io_timeout)))
            .map_err(HandshakeError::Io)?;
        log::debug!(
            "TLS handshake done in {:?}: {:?}, {:?}",
            started.elapsed(),
            session.protocol_version(),
            session.negotiated_cipher_suite().map(|suite| suite.suite())
        );
        Ok(TlsStream {
            socket,
            session,
            incoming: Incoming::new(),
        })
    }

    /// The TCP socket under the session.
    pub(crate) fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Blocking read (see [`Stream::read`](crate::net::stream::Stream::read)): plaintext
    /// already decrypted first, then ciphertext already read, then one socket read (blocking
    /// up to the socket's timeout). When that read brought only part of a record, it returns
    /// `WouldBlock` rather than reading on, so the caller checks its deadline between reads: a
    /// peer that trickles a record byte by byte cannot hold a wait past its deadline.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(count) = self.take_plaintext(buf)? {
                return Ok(count);
            }
            if !self.incoming.is_empty() {
                self.decrypt_incoming()?;
                continue;
            }
            match (&self.socket).read(self.incoming.refill()) {
                Ok(0) => self.received(0)?,
                Ok(count) => {
                    self.received(count)?;
                    if let Some(count) = self.take_plaintext(buf)? {
                        return Ok(count);
                    }
                    if self.incoming.is_empty() {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Non-blocking read (see [`Stream::read_now`](crate::net::stream::Stream::read_now)):
    /// plaintext already decrypted, else ciphertext already read, else what the socket has
    /// now. `Ok(0)` therefore means that nothing is held anywhere: a wait may block on the
    /// socket.
    pub(crate) fn read_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.take_plaintext(buf)? {
                Some(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Some(count) => return Ok(count),
                None => {}
            }
            if !self.incoming.is_empty() {
                self.decrypt_incoming()?;
                continue;
            }
            match poll::read_now(&self.socket, self.incoming.refill()) {
                Ok(0) => return Ok(0),
                Ok(count) => self.received(count)?,
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => self.received(0)?,
                Err(error) => return Err(error),
            }
        }
    }

    /// `count` bytes were read into the incoming buffer (0: the end of the stream).
    fn received(&mut self, count: usize) -> io::Result<()> {
        self.incoming.end = count;
        if count == 0 {
            // Tell the session: it then reports a close without close_notify as such.
            self.session.read_tls(&mut io::empty())?;
            return self.process();
        }
        self.decrypt_incoming()
    }

    /// Gives the session the ciphertext read so far and decrypts it, until it is all taken
    /// or the session holds as much plaintext as it will (then the caller takes some first).
    fn decrypt_incoming(&mut self) -> io::Result<()> {
        while !self.incoming.is_empty() {
            match self.session.read_tls(&mut self.incoming.pending()) {
                Ok(0) => {
                    // After close_notify nothing more is read: what follows is dropped.
                    self.incoming.start = self.incoming.end;
                }
                Ok(count) => {
                    self.incoming.start += count;
                    self.process()?;
                }
                // Reading from memory cannot fail: this is rustls' "plaintext buffer full".
                Err(error) if error.kind() == io::ErrorKind::Other => return Ok(()),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Plaintext the session holds: `Some(n)` bytes, `Some(0)` after the peer's
    /// `close_notify`, `None` when more must be read; a TCP close without `close_notify` is
    /// `UnexpectedEof` (gearmand closes that way).
    fn take_plaintext(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if buf.is_empty() {
            return Ok(Some(0));
        }
        match self.session.reader().read(buf) {
            Ok(count) => Ok(Some(count)),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Decrypts what was read; sends what the session wants to send in return (a key update).
    fn process(&mut self) -> io::Result<()> {
        match self.session.process_new_packets() {
            Ok(_) => self.flush_tls(),
            Err(error) => {
                // Tell the peer why (the alert rustls queued); the session is over either way.
                let _ = self.session.write_tls(&mut &self.socket);
                Err(io::Error::new(io::ErrorKind::InvalidData, classify(&error)))
            }
        }
    }

    /// Encrypts and writes all of `buf`, at most rustls' buffer limit (64 KiB) at a time, so a
    /// large payload is never held twice.
    pub(crate) fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let accepted = self.session.writer().write(buf)?;
            if accepted == 0 && !self.session.wants_write() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[accepted..];
            self.flush_tls()?;
        }
        Ok(())
    }

    /// Writes every TLS record the session has ready.
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut &self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// The socket, keeping the first bytes the peer sends.
struct Recording<'a> {
    socket: &'a TcpStream,
    head: &'a mut Vec<u8>,
}

impl Read for Recording<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut socket = self.socket;
        let count = socket.read(buf)?;
        let keep = (HEAD_LEN - self.head.len().min(HEAD_LEN)).min(count);
        self.head.extend_from_slice(&buf[..keep]);
        Ok(count)
    }
}

/// The handshake loop: write what the session has, read what it needs, until it is done
/// (and its last flight is written) or `deadline` passes.
fn drive(
    socket: &TcpStream,
    session: &mut ClientConnection,
    deadline: Instant,
) -> Result<(), HandshakeError> {
    let mut head = Vec::with_capacity(HEAD_LEN);
    loop {
        if session.wants_write() {
            socket
                .set_write_timeout(Some(left(deadline)?))
                .map_err(HandshakeError::Io)?;
            match session.write_tls(&mut &*socket) {
                Ok(_) => continue,
                Err(error) if step_timed_out(&error, deadline) => continue,
                Err(error) => return Err(socket_error(error, &head)),
            }
        }
        if !session.is_handshaking() {
            return Ok(());
        }
        socket
            .set_read_timeout(Some(left(deadline)?))
            .map_err(HandshakeError::Io)?;
        let read = session.read_tls(&mut Recording {
            socket,
            head: &mut head,
        });
        match read {
            Ok(0) => return Err(closed(&head)),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) if step_timed_out(&error, deadline) => continue,
            Err(error) => return Err(socket_error(error, &head)),
        }
        if !looks_like_tls(&head) {
            return Err(HandshakeError::Tls(TlsFailure {
                kind: TlsErrorKind::NotTls,
                message: format!(
                    "it answered the TLS hello with {:?}, which is not TLS (a plain-text \
                     gearmand answers with an error line or packet)",
                    String::from_utf8_lossy(&head)
                ),
            }));
        }
        if let Err(error) = session.process_new_packets() {
            let _ = session.write_tls(&mut &*socket);
            return Err(HandshakeError::Tls(classify(&error)));
        }
    }
}

/// The socket timeout for the handshake's next step: the time left before `deadline`, at
/// most [`MAX_READ_WAIT`] (the kernel rounds longer socket timeouts up, so a long one would
/// end late; the loop sets it again) and at least a millisecond (a zero socket timeout means
/// none); or the timeout, once `deadline` passed.
fn left(deadline: Instant) -> Result<Duration, HandshakeError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(HandshakeError::Timeout);
    }
    Ok(left.clamp(Duration::from_millis(1), MAX_READ_WAIT))
}

/// True when one step's socket timeout passed but the handshake's deadline has not: the
/// loop goes on (and `left` ends it once the deadline passed).
fn step_timed_out(error: &io::Error, deadline: Instant) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) && Instant::now() < deadline
}

/// The peer closed during the handshake: before any TLS byte, it does not speak TLS.
fn closed(head: &[u8]) -> HandshakeError {
    HandshakeError::Tls(if head.is_empty() {
        TlsFailure {
            kind: TlsErrorKind::NotTls,
            message: "it closed the connection in answer to the TLS hello without a TLS reply, \
                      as a plain-text gearmand does"
                .to_owned(),
        }
    } else {
        TlsFailure {
            kind: TlsErrorKind::HandshakeRefused,
            message: "it closed the connection during the TLS handshake".to_owned(),
        }
    })
}

fn socket_error(error: io::Error, head: &[u8]) -> HandshakeError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HandshakeError::Timeout,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => closed(head),
        _ => HandshakeError::Io(error),
    }
}
