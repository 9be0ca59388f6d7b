//! One server connection: socket setup, a read buffer feeding the codec, and a write buffer
//! flushed in one write per batch. The only module that touches `TcpStream`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};

use super::address::ServerAddr;
use super::poll;
use crate::error::{ArgumentError, Error, ProtocolError, Result};
use crate::protocol::{encode_to, Decoder, Magic, Packet, PacketType};

/// Bytes read per `read` call when no large packet is pending.
const READ_CHUNK: usize = 64 * 1024;

/// Socket settings for a connection.
///
/// ```
/// use std::time::Duration;
/// use gearman_sync::net::ConnectOptions;
/// let options = ConnectOptions {
///     connect_timeout: Duration::from_secs(2),
///     ..ConnectOptions::default()
/// };
/// assert_eq!(options.max_body_len, 64 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Limit on each TCP connect attempt (default 5 s).
    pub connect_timeout: Duration,
    /// Limit on a single blocked write, and a safety net on reads (default 30 s).
    pub io_timeout: Duration,
    /// TCP keepalive idle time; `None` disables keepalive (default 60 s).
    pub keepalive: Option<Duration>,
    /// Largest packet body accepted from the server (default 64 MiB).
    pub max_body_len: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(60)),
            max_body_len: crate::protocol::DEFAULT_MAX_BODY_LEN,
        }
    }
}

/// A connection to one job server.
///
/// Reads go into a buffer that the codec decodes from; writes are queued in a buffer and sent
/// by [`flush`](Connection::flush), so several packets leave in one `write`.
#[derive(Debug)]
pub struct Connection {
    server: ServerAddr,
    stream: TcpStream,
    read_buf: Vec<u8>,
    read_start: usize,
    write_buf: Vec<u8>,
    decoder: Decoder,
    io_timeout: Duration,
}

impl Connection {
    /// Connects to `server` (every resolved address in turn) with the given options.
    pub fn connect(server: &ServerAddr, options: &ConnectOptions) -> Result<Connection> {
        let io_error = |source| Error::Io {
            server: server.to_string(),
            source,
        };
        let addrs = server.resolve().map_err(io_error)?;
        let mut last_error =
            io::Error::new(io::ErrorKind::NotFound, "host name resolved to no address");
        for addr in addrs {
            match connect_one(&addr, options) {
                Ok(stream) => {
                    log::debug!("connected to {server} ({addr})");
                    return Ok(Connection::from_stream(server.clone(), stream, options));
                }
                Err(error) => last_error = error,
            }
        }
        Err(io_error(last_error))
    }

    fn from_stream(server: ServerAddr, stream: TcpStream, options: &ConnectOptions) -> Connection {
        Connection {
            server,
            stream,
            read_buf: Vec::new(),
            read_start: 0,
            write_buf: Vec::new(),
            decoder: Decoder::new()
                .with_max_body_len(options.max_body_len)
                .accept_only(Magic::Response),
            io_timeout: options.io_timeout,
        }
    }

    /// The server this connection talks to.
    pub fn server(&self) -> &ServerAddr {
        &self.server
    }

    /// The underlying stream, for readiness polling.
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Queues a request packet built from `args` (checked against the type's shape).
    pub fn queue_request(&mut self, kind: PacketType, args: &[&[u8]]) -> Result<(), ArgumentError> {
        encode_to(&mut self.write_buf, Magic::Request, kind, args)
    }

    /// Queues an already built packet.
    pub fn queue_packet(&mut self, packet: &Packet) {
        packet.encode(&mut self.write_buf);
    }

    /// Queues raw bytes (admin text lines).
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.write_buf.extend_from_slice(bytes);
    }

    /// Bytes queued but not yet written.
    pub fn pending_write(&self) -> usize {
        self.write_buf.len()
    }

    /// Writes everything queued, blocking at most the I/O timeout per stalled write.
    pub fn flush(&mut self) -> Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.write_buf);
        self.write_buf.clear();
        result.map_err(|source| self.io_error(source))
    }

    /// Queues one packet and flushes.
    pub fn send(&mut self, packet: &Packet) -> Result<()> {
        self.queue_packet(packet);
        self.flush()
    }

    /// Decodes the next packet from bytes already read, without touching the socket.
    pub fn next_buffered(&mut self) -> Result<Option<Packet>> {
        let decoder = self.decoder;
        self.parse_buffered(|bytes| decoder.decode(bytes))
    }

    /// Runs a sans-IO parser over the buffered bytes and consumes what it used.
    pub fn parse_buffered<T>(
        &mut self,
        parse: impl FnOnce(&[u8]) -> std::result::Result<Option<(T, usize)>, ProtocolError>,
    ) -> Result<Option<T>> {
        match parse(&self.read_buf[self.read_start..]) {
            Ok(Some((value, used))) => {
                self.read_start += used;
                if self.read_start == self.read_buf.len() {
                    self.read_buf.clear();
                    self.read_start = 0;
                }
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
    pub fn buffered(&self) -> usize {
        self.read_buf.len() - self.read_start
    }

    /// One `read` call appending to the buffer (blocks unless the socket is readable).
    /// End of stream is [`Error::ConnectionClosed`].
    pub fn read_some(&mut self) -> Result<usize> {
        if self.read_start > 0 && self.read_start * 2 >= self.read_buf.len() {
            self.read_buf.drain(..self.read_start);
            self.read_start = 0;
        }
        let want = self.wanted_bytes();
        let filled = self.read_buf.len();
        self.read_buf.resize(filled + want, 0);
        let result = loop {
            match self.stream.read(&mut self.read_buf[filled..]) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match result {
            Ok(0) => {
                self.read_buf.truncate(filled);
                Err(Error::ConnectionClosed {
                    server: self.server.to_string(),
                })
            }
            Ok(count) => {
                self.read_buf.truncate(filled + count);
                Ok(count)
            }
            Err(source) => {
                self.read_buf.truncate(filled);
                Err(self.io_error(source))
            }
        }
    }

    /// How much to read next: the rest of a large packet whose header is known, else a chunk.
    fn wanted_bytes(&self) -> usize {
        let pending = &self.read_buf[self.read_start..];
        if let Ok(Some(header)) = self.decoder.decode_header(pending) {
            let missing = header.packet_len().saturating_sub(pending.len());
            if missing > READ_CHUNK {
                return missing;
            }
        }
        READ_CHUNK
    }

    /// Waits until the socket is readable or `deadline` passes; true when readable.
    pub fn wait_readable(&self, deadline: Option<Instant>) -> Result<bool> {
        let timeout = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        let mut ready = Vec::with_capacity(1);
        poll::wait_readable(&[&self.stream], timeout, &mut ready)
            .map(|count| count > 0)
            .map_err(|source| self.io_error(source))
    }

    /// Receives the next packet, reading as needed until `deadline`.
    pub fn recv(
        &mut self,
        deadline: Instant,
        during: &'static str,
        started: Instant,
    ) -> Result<Packet> {
        loop {
            if let Some(packet) = self.next_buffered()? {
                return Ok(packet);
            }
            if !self.wait_readable(Some(deadline))? {
                return Err(Error::Timeout {
                    during,
                    after: deadline.saturating_duration_since(started),
                });
            }
            self.read_some()?;
        }
    }

    /// Checks, without blocking, that the server has not closed the connection. Any bytes that
    /// are waiting are kept in the buffer.
    pub fn check_alive(&mut self) -> Result<()> {
        let mut ready = Vec::with_capacity(1);
        let readable = poll::wait_readable(&[&self.stream], Some(Duration::ZERO), &mut ready)
            .map_err(|source| self.io_error(source))?;
        if readable > 0 {
            self.read_some()?;
        }
        Ok(())
    }

    /// The I/O timeout configured for this connection.
    pub fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// Closes both directions of the socket.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn io_error(&self, source: io::Error) -> Error {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return Error::Timeout {
                during: "waiting for the socket",
                after: self.io_timeout,
            };
        }
        Error::Io {
            server: self.server.to_string(),
            source,
        }
    }
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
