//! A proxy between a worker and a real gearmand that swallows NOOP packets, the way gearmand
//! 1.1.x sometimes marks a wake-up as sent without sending it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Forwards everything to `upstream` except the first `to_swallow` NOOPs from the server.
pub struct NoopSwallower {
    addr: String,
    swallowed: Arc<AtomicUsize>,
}

impl NoopSwallower {
    /// Starts listening on a free loopback port.
    pub fn start(upstream: &str, to_swallow: usize) -> NoopSwallower {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let swallowed = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&swallowed);
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    return;
                };
                client.set_nodelay(true).ok();
                server.set_nodelay(true).ok();
                let (mut to_server, mut from_client) = (
                    server.try_clone().expect("clone"),
                    client.try_clone().expect("clone"),
                );
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_client, &mut to_server);
                    let _ = to_server.shutdown(Shutdown::Write);
                });
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    forward_replies(server, client, &counter, to_swallow);
                });
            }
        });
        NoopSwallower { addr, swallowed }
    }

    /// `host:port` to give the worker.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// NOOPs swallowed so far.
    pub fn swallowed(&self) -> usize {
        self.swallowed.load(Ordering::SeqCst)
    }
}

/// Copies the server's replies packet by packet (admin text lines whole), dropping NOOPs while
/// fewer than `limit` were dropped.
fn forward_replies(
    mut server: TcpStream,
    mut client: TcpStream,
    dropped: &AtomicUsize,
    limit: usize,
) {
    server.set_read_timeout(Some(Duration::from_secs(120))).ok();
    loop {
        let mut first = [0u8; 1];
        if server.read_exact(&mut first).is_err() {
            break;
        }
        let mut packet = first.to_vec();
        if first[0] != 0 {
            // An admin text reply (the worker asks `version`): forward up to the newline.
            let mut byte = [0u8; 1];
            while packet.last() != Some(&b'\n') && server.read_exact(&mut byte).is_ok() {
                packet.push(byte[0]);
            }
        } else {
            let mut header = [0u8; 11];
            if server.read_exact(&mut header).is_err() {
                break;
            }
            packet.extend_from_slice(&header);
            let kind = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
            let len = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]) as usize;
            let mut body = vec![0u8; len];
            if server.read_exact(&mut body).is_err() {
                break;
            }
            packet.extend_from_slice(&body);
            const NOOP: u32 = 6;
            if kind == NOOP && dropped.load(Ordering::SeqCst) < limit {
                dropped.fetch_add(1, Ordering::SeqCst);
                continue;
            }
        }
        if client.write_all(&packet).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}
