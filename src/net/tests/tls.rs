//! Unit tests of [`Connection`](crate::net::Connection) over TLS against an in-process rustls
//! server, for what timing rarely shows against gearmand: a packet that sits decrypted inside
//! the TLS session, behind the end of a large body, must be read before any wait blocks.
//! Certificates are made by the `openssl` command in a temporary directory.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::net::{read_any, Arrival, ConnectOptions, Connection, ServerAddr, WaitBuffers};
use crate::protocol::{Magic, Packet, PacketType};
use crate::TlsConfig;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A CA and a server certificate for `127.0.0.1`, removed on drop.
struct Certs(PathBuf);

impl Certs {
    fn generate() -> Result<Certs, Box<dyn std::error::Error>> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gearman-sync-unit-tls.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let certs = Certs(dir);
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        certs.openssl(&[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ])?;
        certs.openssl(&[
            &["req"],
            &ec[..],
            &["-keyout", "server.key", "-out", "server.csr"],
        ])?;
        std::fs::write(certs.0.join("ext"), "subjectAltName=IP:127.0.0.1\n")?;
        certs.openssl(&[&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-extfile",
            "ext",
        ]])?;
        Ok(certs)
    }

    fn openssl(&self, parts: &[&[&str]]) -> TestResult {
        let args: Vec<&str> = parts.iter().flat_map(|part| part.iter().copied()).collect();
        let output = Command::new("openssl")
            .args(&args)
            .args(["-subj", "/CN=127.0.0.1", "-days", "2"])
            .current_dir(&self.0)
            .output()?;
        if !output.status.success() {
            return Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn server_config(dir: &Path) -> Result<Arc<rustls::ServerConfig>, Box<dyn std::error::Error>> {
    let chain = CertificateDer::pem_file_iter(dir.join("server.pem"))?.collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key"))?;
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// A TLS server that, after the handshake, sends `bytes` in one write (so the end of one
/// packet and the next share a TLS record) and then keeps the connection open, silent, for
/// `hold` before it closes it (without `close_notify`, as gearmand does).
fn serve_once(
    certs: &Certs,
    bytes: Vec<u8>,
    hold: Duration,
) -> Result<(ServerAddr, thread::JoinHandle<()>), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = ServerAddr::new("127.0.0.1", listener.local_addr()?.port())?;
    let config = server_config(&certs.0)?;
    let server = thread::spawn(move || {
        let Ok((socket, _)) = listener.accept() else {
            return;
        };
        let Ok(session) = rustls::ServerConnection::new(config) else {
            return;
        };
        let mut stream = rustls::StreamOwned::new(session, socket);
        let _ = stream.write_all(&bytes);
        let _ = stream.flush();
        thread::sleep(hold);
    });
    Ok((addr, server))
}

fn tls_options(certs: &Certs) -> Result<ConnectOptions, Box<dyn std::error::Error>> {
    let tls = TlsConfig::builder().ca_file(certs.path("ca.pem")).build()?;
    Ok(ConnectOptions {
        tls: Some(tls),
        ..ConnectOptions::default()
    })
}

/// A 1.2 MiB ECHO_RES (read straight into its own buffer) followed by a NOOP.
fn large_then_noop() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let body = vec![7u8; 1_200_000];
    let mut bytes = Vec::new();
    Packet::new(Magic::Response, PacketType::EchoRes, &[&body])?.encode(&mut bytes);
    Packet::new(Magic::Response, PacketType::Noop, &[])?.encode(&mut bytes);
    Ok(bytes)
}

/// Reads packets from `conns[0]` through `read_any` until two arrived or `limit` passed.
fn two_packets(
    conns: &mut [&mut Connection],
    limit: Duration,
) -> Result<Vec<PacketType>, crate::Error> {
    let deadline = Instant::now() + limit;
    let mut kinds = Vec::new();
    let (mut buffers, mut arrivals) = (WaitBuffers::default(), Vec::new());
    while kinds.len() < 2 && Instant::now() < deadline {
        while let Some(packet) = conns[0].next_buffered()? {
            kinds.push(packet.kind());
        }
        if kinds.len() == 2 {
            break;
        }
        read_any(
            conns,
            Some(Duration::from_millis(100)),
            &mut buffers,
            &mut arrivals,
        )?;
        if let Some(Arrival::Failed(error)) = arrivals.pop() {
            return Err(error);
        }
    }
    Ok(kinds)
}

#[test]
fn the_multi_connection_wait_takes_a_packet_held_inside_tls_before_polling() -> TestResult {
    let certs = Certs::generate()?;
    let (addr, _server) = serve_once(&certs, large_then_noop()?, Duration::from_secs(3))?;
    let mut conn = Connection::connect(&addr, &tls_options(&certs)?)?;
    // A second, silent connection makes read_any poll(2) instead of blocking in one read.
    let quiet = TcpListener::bind("127.0.0.1:0")?;
    let quiet_addr = ServerAddr::new("127.0.0.1", quiet.local_addr()?.port())?;
    let mut other = Connection::connect(&quiet_addr, &ConnectOptions::default())?;
    let started = Instant::now();
    let kinds = two_packets(&mut [&mut conn, &mut other], Duration::from_secs(2))?;
    assert_eq!(kinds, [PacketType::EchoRes, PacketType::Noop]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn a_blocking_read_takes_a_packet_held_inside_tls_before_reading_the_socket() -> TestResult {
    let certs = Certs::generate()?;
    let (addr, _server) = serve_once(&certs, large_then_noop()?, Duration::from_secs(3))?;
    let mut conn = Connection::connect(&addr, &tls_options(&certs)?)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut first = None;
    while first.is_none() && Instant::now() < deadline {
        conn.read_available()?;
        first = conn.next_buffered()?;
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(first.map(|packet| packet.kind()), Some(PacketType::EchoRes));
    // The NOOP shared the large body's last record: it is inside the TLS session now. A read
    // that went to the socket first would sleep until the server closes, 3 s from now.
    let started = Instant::now();
    while conn.next_buffered()?.is_none() {
        conn.read_some()?;
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn check_alive_sees_a_tls_close_and_keeps_held_data() -> TestResult {
    let certs = Certs::generate()?;
    let mut noop = Vec::new();
    Packet::new(Magic::Response, PacketType::Noop, &[])?.encode(&mut noop);
    let (addr, server) = serve_once(&certs, noop, Duration::from_millis(200))?;
    let mut conn = Connection::connect(&addr, &tls_options(&certs)?)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while conn.buffered() == 0 && Instant::now() < deadline {
        conn.check_alive()?;
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        conn.next_buffered()?.map(|packet| packet.kind()),
        Some(PacketType::Noop)
    );
    server.join().map_err(|_| "server thread panicked")?;
    assert!(matches!(
        conn.check_alive(),
        Err(crate::Error::ConnectionClosed { .. })
    ));
    Ok(())
}

/// A TLS server that, after the handshake, sends one ECHO_RES whose record trickles in a
/// byte every `gap`.
fn trickle_server(
    certs: &Certs,
    gap: Duration,
) -> Result<(ServerAddr, thread::JoinHandle<()>), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = ServerAddr::new("127.0.0.1", listener.local_addr()?.port())?;
    let config = server_config(&certs.0)?;
    let mut packet = Vec::new();
    Packet::new(Magic::Response, PacketType::EchoRes, &[&[b'x'; 300]])?.encode(&mut packet);
    let server = thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return;
        };
        let Ok(mut session) = rustls::ServerConnection::new(config) else {
            return;
        };
        while session.is_handshaking() || session.wants_write() {
            if session.complete_io(&mut socket).is_err() {
                return;
            }
        }
        let mut wire = Vec::new();
        if session.writer().write_all(&packet).is_err() {
            return;
        }
        while session.wants_write() {
            if session.write_tls(&mut wire).is_err() {
                return;
            }
        }
        for byte in wire {
            if socket.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(gap);
        }
    });
    Ok((addr, server))
}

#[test]
fn a_record_that_trickles_in_does_not_hold_a_read_past_its_deadline() -> TestResult {
    let certs = Certs::generate()?;
    // About 340 bytes of record at 10 ms each: 3.4 s to arrive whole.
    let (addr, _server) = trickle_server(&certs, Duration::from_millis(10))?;
    let mut conn = Connection::connect(&addr, &tls_options(&certs)?)?;
    let started = Instant::now();
    let deadline = crate::net::Deadline::after(Duration::from_millis(300), crate::Waiting::Probe);
    let outcome = conn.recv(&deadline);
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(crate::Error::Timeout { .. })),
        "{outcome:?}"
    );
    assert!(took < Duration::from_millis(700), "took {took:?}");
    Ok(())
}

#[test]
fn a_connect_timeout_too_large_for_the_clock_does_not_panic() -> TestResult {
    let certs = Certs::generate()?;
    let (addr, _server) = serve_once(&certs, Vec::new(), Duration::from_millis(100))?;
    let mut options = tls_options(&certs)?;
    options.connect_timeout = Duration::MAX;
    Connection::connect(&addr, &options)?;
    Ok(())
}
