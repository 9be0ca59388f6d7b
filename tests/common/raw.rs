//! A raw connection to gearmand: a `TcpStream` speaking the binary protocol through the crate's
//! sans-IO codec (and admin text lines), with every read bounded. For tests that must control
//! each packet themselves, without the library's client or worker logic in between.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gearman_sync::protocol::{Decoder, Magic, Packet, PacketType};

use super::{connect, Gearmand, IO_TIMEOUT};

/// A raw connection: a socket and the bytes read from it but not yet used.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    decoder: Decoder,
}

impl Conn {
    /// Connects to the harness's gearmand (reads and writes time out after [`IO_TIMEOUT`]).
    #[track_caller]
    pub fn open(gearmand: &Gearmand) -> Conn {
        Conn::connect(&gearmand.addr())
    }

    /// Connects to `addr`.
    #[track_caller]
    pub fn connect(addr: &str) -> Conn {
        Conn {
            stream: connect(addr),
            buf: Vec::new(),
            decoder: Decoder::new().accept_only(Magic::Response),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to gearmand");
    }

    pub fn send_packet(&mut self, packet: &Packet) {
        self.send(&packet.to_bytes());
    }

    /// Sends a packet without arguments (GRAB_JOB, PRE_SLEEP ...).
    pub fn send_empty(&mut self, kind: PacketType) {
        self.send_packet(&Packet::empty(kind).expect("packet without arguments"));
    }

    /// Reads more bytes into the buffer; panics on EOF or after [`IO_TIMEOUT`].
    fn fill(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        let read = self.stream.read(&mut chunk).expect("read from gearmand");
        assert!(
            read > 0,
            "gearmand closed the connection; unread: {:?}",
            self.buf
        );
        self.buf.extend_from_slice(&chunk[..read]);
    }

    /// A whole packet already buffered, if any.
    fn buffered_packet(&mut self) -> Option<Packet> {
        let (packet, used) = self.decoder.decode(&self.buf).expect("valid packet")?;
        self.buf.drain(..used);
        Some(packet)
    }

    /// The next binary packet; panics when none arrives within [`IO_TIMEOUT`].
    pub fn read_packet(&mut self) -> Packet {
        loop {
            if let Some(packet) = self.buffered_packet() {
                return packet;
            }
            self.fill();
        }
    }

    /// The next binary packet and its bytes as they came on the wire (the decoder is lenient,
    /// for example it strips the stray NUL gearmand puts after some handles).
    pub fn read_wire(&mut self) -> (Packet, Vec<u8>) {
        loop {
            if let Some((packet, used)) = self.decoder.decode(&self.buf).expect("valid packet") {
                let wire: Vec<u8> = self.buf.drain(..used).collect();
                return (packet, wire);
            }
            self.fill();
        }
    }

    /// The next binary packet if one arrives within `timeout`, else `None`.
    pub fn read_packet_within(&mut self, timeout: Duration) -> Option<Packet> {
        let deadline = Instant::now() + timeout;
        let packet = loop {
            if let Some(packet) = self.buffered_packet() {
                break Some(packet);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("set the read timeout");
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("gearmand closed the connection; unread: {:?}", self.buf),
                Ok(read) => self.buf.extend_from_slice(&chunk[..read]),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => panic!("read from gearmand: {error}"),
            }
        };
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("restore the read timeout");
        packet
    }

    /// The next text line, `\n` included.
    pub fn read_line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return String::from_utf8(line).expect("admin reply is UTF-8");
            }
            self.fill();
        }
    }

    /// ECHO_REQ with `data`; returns the ECHO_RES. Since gearmand handles a connection's
    /// packets in order, it also means everything sent before has been processed (CAN_DO, for
    /// example, has no reply of its own).
    pub fn echo(&mut self, data: &[u8]) -> Packet {
        self.send_packet(&Packet::echo_req(data).expect("echo packet"));
        let reply = self.read_packet();
        assert_eq!(reply.kind(), PacketType::EchoRes);
        reply
    }
}
