//! A scripted fake Gearman server, only for what gearmand cannot be made to do: malformed or
//! hostile replies, silence, floods, cuts in the middle of a packet.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gearman_sync::protocol::{encode_to, Decoder, Magic, Packet, PacketType};

/// One accepted connection as the script sees it.
pub struct Peer {
    stream: TcpStream,
    buffer: Vec<u8>,
    decoder: Decoder,
}

impl Peer {
    /// The next request packet, or `None` on EOF, error or a 10 s silence. Text lines (admin
    /// commands) are returned as `Err(line)`.
    pub fn next(&mut self) -> Option<Result<Packet, Vec<u8>>> {
        loop {
            if self.buffer.first().is_some_and(|&byte| byte != 0) {
                if let Some(end) = self.buffer.iter().position(|&byte| byte == b'\n') {
                    let line: Vec<u8> = self.buffer.drain(..=end).collect();
                    return Some(Err(line));
                }
            } else if let Ok(Some((packet, used))) = self.decoder.decode(&self.buffer) {
                self.buffer.drain(..used);
                return Some(Ok(packet));
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(read) => self.buffer.extend_from_slice(&chunk[..read]),
            }
        }
    }

    /// The next binary request, skipping nothing; `None` when the peer went away.
    pub fn packet(&mut self) -> Option<Packet> {
        loop {
            match self.next()? {
                Ok(packet) => return Some(packet),
                // A worker asks the version to pick the CAN_DO_TIMEOUT unit.
                Err(line) if line.starts_with(b"version") => self.raw(b"OK 1.1.20+ds\n"),
                Err(_) => return None,
            }
        }
    }

    /// Waits for a request of `kind` (answering ECHO_REQ and OPTION_REQ probes on the way).
    pub fn expect(&mut self, kind: PacketType) -> Option<Packet> {
        loop {
            let packet = self.packet()?;
            if packet.kind() == kind {
                return Some(packet);
            }
            self.answer_probe(&packet);
        }
    }

    /// Answers the pool's health probe (ECHO_REQ, OPTION_REQ) like gearmand would.
    pub fn answer_probe(&mut self, packet: &Packet) {
        match packet.kind() {
            PacketType::EchoReq => self.reply(PacketType::EchoRes, &[packet.arg(0)]),
            PacketType::OptionReq => self.reply(PacketType::OptionRes, &[packet.arg(0)]),
            _ => {}
        }
    }

    /// Sends a well-formed response packet.
    pub fn reply(&mut self, kind: PacketType, args: &[&[u8]]) {
        let mut wire = Vec::new();
        encode_to(&mut wire, Magic::Response, kind, args).expect("valid reply");
        self.raw(&wire);
    }

    /// Sends raw bytes (errors ignored: the client may have gone).
    pub fn raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// A raw header with any magic, type and declared length.
    pub fn header(&mut self, magic: &[u8; 4], kind: u32, len: u32) {
        let mut wire = magic.to_vec();
        wire.extend_from_slice(&kind.to_be_bytes());
        wire.extend_from_slice(&len.to_be_bytes());
        self.raw(&wire);
    }

    /// Keeps the connection open, reading and discarding, until the peer closes it.
    pub fn linger(&mut self) {
        let mut sink = [0u8; 4096];
        while matches!(self.stream.read(&mut sink), Ok(read) if read > 0) {}
    }

    /// Closes with a TCP reset.
    pub fn reset(self) {
        let socket = socket2::SockRef::from(&self.stream);
        let _ = socket.set_linger(Some(Duration::ZERO));
    }
}

/// The fake server: runs `script` for every accepted connection on its own thread.
pub struct FakeServer {
    addr: String,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts listening on a free loopback port.
    pub fn start(script: impl Fn(&mut Peer, usize) + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let (count, halt) = (Arc::clone(&connections), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let index = count.fetch_add(1, Ordering::SeqCst);
                        stream.set_nonblocking(false).ok();
                        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
                        stream.set_nodelay(true).ok();
                        let script = Arc::clone(&script);
                        std::thread::spawn(move || {
                            let mut peer = Peer {
                                stream,
                                buffer: Vec::new(),
                                decoder: Decoder::new().with_max_body_len(1 << 20),
                            };
                            script(&mut peer, index);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        FakeServer {
            addr,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
