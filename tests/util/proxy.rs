//! A fault-injecting TCP proxy between our client/worker and a real gearmand.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does to the traffic of new and running connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward unchanged.
    Pass,
    /// Sleep this long before forwarding each chunk (both directions).
    Delay(Duration),
    /// Forward every chunk one byte per write (both directions).
    OneByte,
    /// Forward this many more bytes from the server, then close both sides (a cut mid-packet).
    CutAfter(usize),
    /// Close both sides with a TCP reset at the next chunk.
    Reset,
    /// Accept and read, but forward nothing in either direction.
    Blackhole,
}

/// The proxy: listens on a free loopback port and forwards to `upstream`.
pub struct FaultProxy {
    addr: String,
    fault: Arc<Mutex<Fault>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts forwarding to `upstream` (`host:port`) with `fault`.
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let fault = Arc::new(Mutex::new(fault));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let (shared, halt) = (Arc::clone(&fault), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                client.set_nonblocking(false).ok();
                client.set_nodelay(true).ok();
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                server.set_nodelay(true).ok();
                let closed = Arc::new(AtomicBool::new(false));
                for (from, to, from_server) in [
                    (clone(&client), clone(&server), false),
                    (clone(&server), clone(&client), true),
                ] {
                    let (fault, halt, closed) =
                        (Arc::clone(&shared), Arc::clone(&halt), Arc::clone(&closed));
                    std::thread::spawn(move || pump(from, to, from_server, &fault, &halt, &closed));
                }
            }
        });
        FaultProxy {
            addr,
            fault,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT` to give the client or worker.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Changes the fault for all traffic from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().expect("lock") = fault;
    }
}

fn clone(stream: &TcpStream) -> TcpStream {
    stream.try_clone().expect("clone stream")
}

fn close(from: &TcpStream, to: &TcpStream, reset: bool) {
    if reset {
        let _ = socket2::SockRef::from(from).set_linger(Some(Duration::ZERO));
        let _ = socket2::SockRef::from(to).set_linger(Some(Duration::ZERO));
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    from_server: bool,
    fault: &Mutex<Fault>,
    halt: &AtomicBool,
    closed: &AtomicBool,
) {
    from.set_read_timeout(Some(Duration::from_millis(100))).ok();
    let mut chunk = vec![0u8; 64 * 1024];
    while !halt.load(Ordering::SeqCst) && !closed.load(Ordering::SeqCst) {
        let read = match from.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        let current = *fault.lock().expect("lock");
        let data = &chunk[..read];
        let sent = match current {
            Fault::Pass => to.write_all(data),
            Fault::Delay(delay) => {
                std::thread::sleep(delay);
                to.write_all(data)
            }
            Fault::OneByte => data
                .iter()
                .try_for_each(|byte| to.write_all(std::slice::from_ref(byte))),
            Fault::CutAfter(left) if from_server => {
                let keep = left.min(read);
                let result = to.write_all(&data[..keep]);
                if keep < read || left == read {
                    closed.store(true, Ordering::SeqCst);
                    close(&from, &to, false);
                    return;
                }
                *fault.lock().expect("lock") = Fault::CutAfter(left - keep);
                result
            }
            Fault::CutAfter(_) => to.write_all(data),
            Fault::Reset => {
                closed.store(true, Ordering::SeqCst);
                close(&from, &to, true);
                return;
            }
            Fault::Blackhole => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    closed.store(true, Ordering::SeqCst);
    close(&from, &to, false);
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
