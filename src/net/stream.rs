//! The byte stream under a [`Connection`](super::Connection): a plain TCP socket, or (feature
//! `tls`) a TLS session over one. The connection reads, writes and waits through this type
//! only, so everything above it works the same over both.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;

use super::poll;
#[cfg(feature = "tls")]
use super::tls::TlsStream;
use crate::error::TlsErrorKind;

/// A connected stream to one server.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the session state is large).
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The TCP socket, for timeouts, readiness polling and shutdown.
    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(socket) => socket,
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.socket(),
        }
    }

    /// Reads into `buf`, blocking up to the socket's receive timeout (then `WouldBlock` or
    /// `TimedOut`). `Ok(0)` is the end of the stream. Over TLS, data the TLS layer already
    /// holds is returned first, and records that carry no data are read past.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.read(buf),
        }
    }

    /// Reads what is there now without blocking: `Ok(0)` when nothing is, `UnexpectedEof` at
    /// the end of the stream. Over TLS, data the TLS layer already holds counts as there.
    pub(crate) fn read_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => poll::read_now(socket, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.read_now(buf),
        }
    }

    /// Writes all of `buf`, each blocked write bounded by the socket's send timeout.
    pub(crate) fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.write_all(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.write_all(buf),
        }
    }
}

/// A TLS failure on an established session, carried inside an [`io::Error`] from the stream
/// up to the connection, which turns it into [`Error::Tls`](crate::Error::Tls).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))] // only the TLS stream makes one
pub(crate) struct TlsFailure {
    pub(crate) kind: TlsErrorKind,
    pub(crate) message: String,
}

impl TlsFailure {
    /// The failure inside `error`, if it carries one.
    pub(crate) fn inside(error: &io::Error) -> Option<&TlsFailure> {
        error.get_ref()?.downcast_ref::<TlsFailure>()
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for TlsFailure {}
