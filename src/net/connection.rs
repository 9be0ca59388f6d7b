//! One server connection: socket setup (and, with TLS, the handshake), a read buffer feeding
//! the codec, and a write buffer flushed in one write per batch. With `stream.rs` and `tls/`,
//! the only code that touches `TcpStream`.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};

use super::address::ServerAddr;
use super::read_buffer::ReadBuffer;
use super::stream::{Stream, TlsFailure};
use super::wait::Deadline;
use crate::error::{Error, ProtocolError, Result, Waiting};
use crate::protocol::{
    encode_head_to, encode_to, parse_body_owned, Decoder, Header, Magic, Packet, PacketType,
    HEADER_LEN,
};

/// Bytes read per `read` call when no large packet is pending.
const READ_CHUNK: usize = 64 * 1024;

/// Socket settings for a connection (set through the settings core's builder methods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectOptions {
    /// Limit on each TCP connect attempt (default 5 s).
    pub(crate) connect_timeout: Duration,
    /// Limit on a single blocked write, and a safety net on reads (default 30 s).
    pub(crate) io_timeout: Duration,
    /// TCP keepalive idle time; `None` disables keepalive (default 60 s).
    pub(crate) keepalive: Option<Duration>,
    /// Largest packet body accepted from the server (default 64 MiB).
    pub(crate) max_body_len: u32,
    /// TLS for every connection (feature `tls`; default none: plain TCP).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<super::TlsConfig>,
}

impl ConnectOptions {
    /// True when connections use TLS.
    pub(crate) fn uses_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(60)),
            max_body_len: crate::protocol::DEFAULT_MAX_BODY_LEN,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// A connection to one job server.
///
/// Reads go into a buffer that the codec decodes from; writes are queued in a buffer and sent
/// by [`flush`](Connection::flush), so several packets leave in one `write`. Used by the
/// [`Client`](crate::Client) and [`Worker`](crate::Worker); use it directly to speak the
/// protocol yourself.
#[derive(Debug)]
pub(crate) struct Connection {
    server: ServerAddr,
    stream: Stream,
    read_buf: ReadBuffer,
    /// A large packet being read straight into its own body buffer.
    large: Option<LargeRead>,
    /// A large packet read completely, waiting to be returned by `next_buffered`.
    ready: Option<std::result::Result<Packet, ProtocolError>>,
    write_buf: Vec<u8>,
    decoder: Decoder,
    io_timeout: Duration,
    /// The socket's receive timeout as last set (at most `io_timeout`).
    read_timeout: Duration,
}

/// A packet body of at least [`LARGE_BODY`] bytes, read without a copy through the buffer.
#[derive(Debug)]
struct LargeRead {
    header: Header,
    body: Vec<u8>,
    filled: usize,
}

/// Bodies this large are read into their own buffer and handed over without copying.
const LARGE_BODY: usize = 1 << 20;
/// Tails this large are written straight from the caller's slice instead of being copied.
const DIRECT_TAIL: usize = 256 * 1024;
/// A write buffer that grew beyond this is released after it was flushed.
const KEEP_WRITE_BUFFER: usize = 1 << 20;
/// Waits shorter than this read only what is there (a zero socket timeout means "forever").
const MIN_READ_WAIT: Duration = Duration::from_millis(1);
/// How far past a deadline a blocking read may sleep before its timeout is set again.
const READ_TIMEOUT_SLACK: Duration = Duration::from_millis(2);
/// The longest single blocking read. The kernel's timer wheel rounds a socket timeout up to
/// the granularity of the level it falls in, which grows with the timeout (HZ=250: 4 ms up to
/// 256 ms, 256 ms between 2 and 16 s, 2 s beyond): a 20 s `SO_RCVTIMEO` was measured to fire
/// after 21.8 s. Reads of at most this long end within a few milliseconds of their deadline;
/// a longer wait is several of them.
pub(crate) const MAX_READ_WAIT: Duration = Duration::from_millis(250);

/// How a read waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadMode {
    /// Until data arrives or the socket's receive timeout passes.
    Block,
    /// Not at all: what is there now.
    Now,
}

impl Connection {
    /// Connects to `server` (every resolved address in turn) with the given options, and with
    /// TLS configured runs the handshake.
    ///
    /// Blocks for the DNS lookup and up to `connect_timeout` per address; sets `TCP_NODELAY`,
    /// keepalive (when configured) and the I/O timeout. Fails with [`Error::Io`] carrying the
    /// lookup's or the last address's error. The TLS handshake gets another `connect_timeout`
    /// per address that accepted ([`Error::Timeout`] for [`Waiting::TlsHandshake`], and the
    /// next address is tried) and fails with [`Error::Tls`] when the server cannot be trusted
    /// or refuses (at once: that is the same at every address); nothing but the handshake is
    /// sent.
    pub(crate) fn connect(server: &ServerAddr, options: &ConnectOptions) -> Result<Connection> {
        let io_error = |source: io::Error| Error::Io {
            server: server.to_string(),
            source: source.into(),
        };
        let addrs = server.resolve().map_err(io_error)?;
        let mut last_error = io_error(io::Error::new(
            io::ErrorKind::NotFound,
            "host name resolved to no address",
        ));
        for addr in addrs {
            match connect_one(&addr, options) {
                Ok(socket) => {
                    log::debug!("connected to {server} ({addr})");
                    match secure(server, socket, options) {
                        Ok(stream) => {
                            return Ok(Connection::from_stream(server.clone(), stream, options))
                        }
                        // A certificate or a refusal is the same at every address.
                        Err(error @ (Error::Tls { .. } | Error::TlsSetup { .. })) => {
                            return Err(error)
                        }
                        // A stalled or broken handshake may be this address only.
                        Err(error) => last_error = error,
                    }
                }
                Err(error) => last_error = io_error(error),
            }
        }
        Err(last_error)
    }

    fn from_stream(server: ServerAddr, stream: Stream, options: &ConnectOptions) -> Connection {
        Connection {
            server,
            stream,
            read_buf: ReadBuffer::default(),
            large: None,
            ready: None,
            write_buf: Vec::new(),
            decoder: Decoder::new()
                .with_max_body_len(options.max_body_len)
                .accept_only(Magic::Response),
            io_timeout: options.io_timeout,
            read_timeout: options.io_timeout,
        }
    }

    /// The server this connection talks to.
    pub(crate) fn server(&self) -> &ServerAddr {
        &self.server
    }

    /// The TCP socket, for readiness polling. Over TLS, plaintext may be waiting inside the
    /// session while the socket is not readable: [`read_available`](Connection::read_available)
    /// takes it, and callers try that before they wait on the socket.
    pub(crate) fn socket(&self) -> &TcpStream {
        self.stream.socket()
    }

    /// Queues a request packet built from `args` (checked against the type's shape, see
    /// [`encode_to`]); nothing is sent until [`flush`](Connection::flush), except that a tail
    /// of 256 KiB or more is written at once, after everything queued before it, straight from
    /// `args` instead of being copied. Fails with [`Error::InvalidArgument`] before anything is
    /// queued, or as [`flush`](Connection::flush) for such a large tail.
    pub(crate) fn queue_request(&mut self, kind: PacketType, args: &[&[u8]]) -> Result<()> {
        let tail = args
            .last()
            .filter(|_| kind.has_tail() && args.len() == kind.arg_count());
        match tail {
            Some(tail) if tail.len() >= DIRECT_TAIL => {
                encode_head_to(&mut self.write_buf, Magic::Request, kind, args)?;
                self.flush()?;
                self.stream
                    .write_all(tail)
                    .map_err(|source| self.io_error(source))
            }
            _ => Ok(encode_to(&mut self.write_buf, Magic::Request, kind, args)?),
        }
    }

    /// Queues an already built packet; nothing is sent until [`flush`](Connection::flush).
    pub(crate) fn queue_packet(&mut self, packet: &Packet) {
        packet.encode(&mut self.write_buf);
    }

    /// Queues raw bytes (admin text lines); nothing is sent until [`flush`](Connection::flush).
    pub(crate) fn queue_raw(&mut self, bytes: &[u8]) {
        self.write_buf.extend_from_slice(bytes);
    }

    /// Bytes queued but not yet written.
    pub(crate) fn pending_write(&self) -> usize {
        self.write_buf.len()
    }

    /// Writes everything queued, blocking at most the I/O timeout per stalled write.
    ///
    /// The queue is emptied even when the write fails: [`Error::Timeout`] for a stalled
    /// write, [`Error::Io`] otherwise. The connection should then be dropped.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.write_buf);
        self.write_buf.clear();
        if self.write_buf.capacity() > KEEP_WRITE_BUFFER {
            self.write_buf = Vec::new();
        }
        result.map_err(|source| self.io_error(source))
    }

    /// Queues one packet and flushes (with anything queued before it); fails as
    /// [`flush`](Connection::flush).
    pub(crate) fn send(&mut self, packet: &Packet) -> Result<()> {
        self.queue_packet(packet);
        self.flush()
    }

    /// Decodes the next packet from bytes already read, without touching the socket: `None`
    /// until a whole packet is buffered. Bytes that break the protocol give
    /// [`Error::Protocol`].
    pub(crate) fn next_buffered(&mut self) -> Result<Option<Packet>> {
        if let Some(ready) = self.ready.take() {
            return ready.map(Some).map_err(|source| Error::Protocol {
                server: self.server.to_string(),
                source,
            });
        }
        if self.large.is_some() {
            return Ok(None);
        }
        let decoder = self.decoder;
        self.parse_buffered(|bytes| decoder.decode(bytes))
    }

    /// Runs a sans-IO parser over the buffered bytes and consumes what it used.
    ///
    /// `parse` returns `Ok(None)` for "need more bytes", or the value and how many bytes it
    /// used; a [`ProtocolError`] becomes [`Error::Protocol`].
    pub(crate) fn parse_buffered<T>(
        &mut self,
        parse: impl FnOnce(&[u8]) -> std::result::Result<Option<(T, usize)>, ProtocolError>,
    ) -> Result<Option<T>> {
        match parse(self.read_buf.data()) {
            Ok(Some((value, used))) => {
                self.read_buf.consume(used);
                Ok(Some(value))
            }
            Ok(None) => Ok(None),
            Err(source) => Err(Error::Protocol {
                server: self.server.to_string(),
                source,
            }),
        }
    }

    /// Bytes read from the socket but not yet decoded.
    pub(crate) fn buffered(&self) -> usize {
        let large = self
            .large
            .as_ref()
            .map_or(0, |large| HEADER_LEN + large.filled);
        let ready = self.ready.as_ref().map_or(0, |ready| match ready {
            Ok(packet) => packet.encoded_len(),
            Err(_) => 1,
        });
        self.read_buf.len() + large + ready
    }

    /// One `read` call appending to the buffer (blocks unless the socket is readable, at
    /// most the I/O timeout, then [`Error::Timeout`]). Returns the number of bytes read.
    /// End of stream is [`Error::ConnectionClosed`].
    #[cfg_attr(not(test), allow(dead_code))] // the waits read without blocking since TLS
    pub(crate) fn read_some(&mut self) -> Result<usize> {
        self.set_read_timeout(self.io_timeout)?;
        match self.read_into(ReadMode::Block)? {
            Some(count) => Ok(count),
            None => Err(self.io_error(io::ErrorKind::TimedOut.into())),
        }
    }

    /// Reads what has already arrived, without blocking: `Ok(0)` when nothing has. Saves a
    /// sleep in `poll(2)` when a reply is already there, which is often the case right after a
    /// request. End of stream is [`Error::ConnectionClosed`].
    pub(crate) fn read_available(&mut self) -> Result<usize> {
        Ok(self.read_into(ReadMode::Now)?.unwrap_or(0))
    }

    /// Reads what arrives before `deadline` (`None`: within the I/O timeout), sleeping in
    /// `read(2)` itself: one system call per wake-up where `poll(2)` and a read take two.
    /// Returns `Ok(0)` when the time passed without data, and after at most 250 ms
    /// ([`MAX_READ_WAIT`]) even when the deadline is further: callers loop until their
    /// deadline. A deadline already past only takes what is there. The socket timeout behind
    /// the wait counts in the kernel's ticks, so it may end up to a tick (1-10 ms) late, never
    /// early by more than 2 ms. End of stream is [`Error::ConnectionClosed`].
    pub(crate) fn read_until(&mut self, deadline: Option<Instant>) -> Result<usize> {
        let left = match deadline {
            None => self.io_timeout,
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
        };
        if left.is_zero() {
            return self.read_available();
        }
        // Never a busy wait: less than a millisecond left still sleeps for one.
        let wanted = left
            .max(MIN_READ_WAIT)
            .min(self.io_timeout)
            .min(MAX_READ_WAIT);
        // Re-arm the timeout only when it would overshoot the deadline, or is far too short:
        // a deadline that draws nearer by a few microseconds per read costs no system call.
        if self.read_timeout > wanted.saturating_add(READ_TIMEOUT_SLACK)
            || self.read_timeout.saturating_mul(2) < wanted
        {
            self.set_read_timeout(wanted)?;
        }
        Ok(self.read_into(ReadMode::Block)?.unwrap_or(0))
    }

    /// Sets the socket's receive timeout unless it is set already.
    fn set_read_timeout(&mut self, timeout: Duration) -> Result<()> {
        if self.read_timeout != timeout {
            self.stream
                .socket()
                .set_read_timeout(Some(timeout))
                .map_err(|source| self.io_error(source))?;
            self.read_timeout = timeout;
        }
        Ok(())
    }

    /// One read into the buffer (or the large body being filled). `None`: nothing arrived
    /// (would block now, or the receive timeout passed).
    fn read_into(&mut self, mode: ReadMode) -> Result<Option<usize>> {
        if self.large.is_none() && self.ready.is_none() {
            self.start_large_read();
        }
        let spare = match self.large.as_mut() {
            Some(large) => &mut large.body[large.filled..],
            None => {
                let want = self.wanted_bytes();
                self.read_buf.spare(want)
            }
        };
        let result = match mode {
            ReadMode::Block => loop {
                match self.stream.read(spare) {
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(0) => break Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                    other => break other,
                }
            },
            ReadMode::Now => self.stream.read_now(spare),
        };
        let count = match result {
            Ok(0) => return Ok(None),
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(Error::ConnectionClosed {
                    server: self.server.to_string(),
                })
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(source) => return Err(self.io_error(source)),
        };
        match self.large.as_mut() {
            Some(large) => {
                large.filled += count;
                if large.filled == large.body.len() {
                    if let Some(large) = self.large.take() {
                        self.ready = Some(parse_body_owned(large.header, large.body));
                    }
                }
            }
            None => self.read_buf.commit(count),
        }
        Ok(Some(count))
    }

    /// When the buffer starts with the header of a large packet that is not all here yet,
    /// moves its body into a buffer of its own, so the rest is read into place.
    fn start_large_read(&mut self) {
        let data = self.read_buf.data();
        let Ok(Some(header)) = self.decoder.decode_header(data) else {
            return;
        };
        let body_len = header.body_len as usize;
        if body_len < LARGE_BODY || data.len() >= header.packet_len() {
            return;
        }
        // Zeroed by the allocator (fresh pages from the OS for a buffer this size), not by us.
        let mut body = vec![0u8; body_len];
        let have = data.len() - HEADER_LEN;
        body[..have].copy_from_slice(&data[HEADER_LEN..]);
        let used = data.len();
        self.read_buf.consume(used);
        self.large = Some(LargeRead {
            header,
            body,
            filled: have,
        });
    }

    /// How much to read next: the rest of a large packet whose header is known, else a chunk.
    fn wanted_bytes(&self) -> usize {
        let pending = self.read_buf.data();
        if let Ok(Some(header)) = self.decoder.decode_header(pending) {
            let missing = header.packet_len().saturating_sub(pending.len());
            if missing > READ_CHUNK {
                return missing;
            }
        }
        READ_CHUNK
    }

    /// Receives the next packet, reading as needed until `deadline` passes, then
    /// [`Error::Timeout`] naming what was awaited. A buffered packet is returned at once, and
    /// one that has already arrived counts even when the deadline has passed. A closed
    /// connection is [`Error::ConnectionClosed`] and bad bytes [`Error::Protocol`].
    pub(crate) fn recv(&mut self, deadline: &Deadline) -> Result<Packet> {
        loop {
            if let Some(packet) = self.next_buffered()? {
                return Ok(packet);
            }
            if self.read_until(Some(deadline.at()))? == 0 && deadline.passed() {
                return Err(deadline.timeout());
            }
        }
    }

    /// Receives packets until one of type `expect` arrives, which it returns; an `ERROR`
    /// packet is the error ([`Error::from_error_packet`]), other packets are skipped. The one
    /// request/reply primitive: every call that sends a request and waits for its answer
    /// ends here or in [`recv`](Connection::recv).
    pub(crate) fn recv_reply(&mut self, expect: PacketType, deadline: &Deadline) -> Result<Packet> {
        loop {
            let packet = self.recv(deadline)?;
            match packet.kind() {
                kind if kind == expect => return Ok(packet),
                PacketType::Error => return Err(Error::from_error_packet(&self.server, &packet)),
                kind => log::debug!(
                    "{}: skipping {kind} while waiting for {expect}",
                    self.server
                ),
            }
        }
    }

    /// Reads until `parse` finds a whole text reply (an admin line or block) in the buffer,
    /// or `deadline` passes.
    pub(crate) fn recv_text<T>(
        &mut self,
        deadline: &Deadline,
        mut parse: impl FnMut(&[u8]) -> std::result::Result<Option<(T, usize)>, ProtocolError>,
    ) -> Result<T> {
        loop {
            if let Some(reply) = self.parse_buffered(&mut parse)? {
                return Ok(reply);
            }
            if self.read_until(Some(deadline.at()))? == 0 && deadline.passed() {
                return Err(deadline.timeout());
            }
        }
    }

    /// Checks, without blocking, that the server has not closed the connection. Any bytes that
    /// are waiting are kept in the buffer. A closed connection is [`Error::ConnectionClosed`].
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        self.read_available().map(drop)
    }

    /// The I/O timeout configured for this connection ([`ConnectOptions::io_timeout`]).
    pub(crate) fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// Closes both directions of the socket; later reads and writes fail.
    ///
    /// Over TLS no `close_notify` is sent, on purpose: gearmand 2.0.0 answers one with its own
    /// close record written after it released the descriptor, onto whatever new connection
    /// reuses it; 3 000 back-to-back connects with `close_notify` broke about 190 later
    /// handshakes ("cannot decrypt"), without it none.
    pub(crate) fn shutdown(&self) {
        let _ = self.stream.socket().shutdown(Shutdown::Both);
    }

    fn io_error(&self, source: io::Error) -> Error {
        if let Some(failure) = TlsFailure::inside(&source) {
            return Error::Tls {
                server: self.server.to_string(),
                kind: failure.kind,
                message: failure.message.clone(),
            };
        }
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return Error::Timeout {
                waiting_for: Waiting::Socket,
                timeout: self.io_timeout,
            };
        }
        Error::Io {
            server: self.server.to_string(),
            source: source.into(),
        }
    }
}

/// The stream over a connected socket: the socket itself, or with TLS configured a session
/// after its handshake.
#[cfg_attr(not(feature = "tls"), allow(clippy::unnecessary_wraps))]
fn secure(server: &ServerAddr, socket: TcpStream, options: &ConnectOptions) -> Result<Stream> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &options.tls {
        use super::tls::{HandshakeError, TlsStream};
        let name = tls.name_for(server)?;
        let limit = options.connect_timeout;
        return match TlsStream::handshake(socket, tls, name, limit, options.io_timeout) {
            Ok(session) => Ok(Stream::Tls(Box::new(session))),
            Err(HandshakeError::Tls(failure)) => Err(Error::Tls {
                server: server.to_string(),
                kind: failure.kind,
                message: failure.message,
            }),
            Err(HandshakeError::Timeout) => Err(Error::Timeout {
                waiting_for: Waiting::TlsHandshake,
                timeout: limit,
            }),
            Err(HandshakeError::Io(source)) => Err(Error::Io {
                server: server.to_string(),
                source: source.into(),
            }),
        };
    }
    let _ = (server, options);
    Ok(Stream::Plain(socket))
}

fn connect_one(addr: &std::net::SocketAddr, options: &ConnectOptions) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nodelay(true)?;
    if let Some(idle) = options.keepalive {
        socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle))?;
    }
    socket.connect_timeout(&(*addr).into(), options.connect_timeout)?;
    let stream: TcpStream = socket.into();
    stream.set_write_timeout(Some(options.io_timeout))?;
    stream.set_read_timeout(Some(options.io_timeout))?;
    Ok(stream)
}
