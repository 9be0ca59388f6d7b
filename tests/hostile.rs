//! A scripted hostile server (gearmand cannot be made to misbehave like this): for every
//! malformed or hostile reply the client or worker gives a typed error or a correct tolerant
//! result, never panics, returns within its deadline, and keeps its memory bounded.
//!
//! One test runs the cases one after another, so the counting allocator's peak belongs to the
//! case being measured.

#[allow(unused)]
mod common;
mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use gearman_sync::protocol::PacketType;
use gearman_sync::{Client, Error, Task, Worker};
use util::fake::{FakeServer, Peer};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = System.alloc(layout);
        if !pointer.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Every case must stay below this much extra heap, whatever lengths the server claims.
const MEMORY_BOUND: usize = 16 << 20;

const H: &[u8] = b"H:fake:1";

fn client(addr: &str) -> Client {
    Client::builder()
        .servers(addr)
        .job_timeout(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(1))
        .probe_timeout(Duration::from_millis(500))
        .build()
        .expect("client")
}

/// Answers the probe, then waits for a SUBMIT_JOB* and acknowledges it with `handle`.
fn accept_submission(peer: &mut Peer, handle: &[u8]) -> bool {
    loop {
        let Some(packet) = peer.packet() else {
            return false;
        };
        if packet.kind().is_submit() {
            peer.reply(PacketType::JobCreated, &[handle]);
            return true;
        }
        peer.answer_probe(&packet);
    }
}

fn expect_err(
    result: gearman_sync::Result<Vec<u8>>,
    check: impl Fn(&Error) -> bool,
) -> Result<(), String> {
    match result {
        Err(error) if check(&error) => Ok(()),
        other => Err(format!("unexpected outcome: {other:?}")),
    }
}

fn no_servers_with(text: &'static str) -> impl Fn(&Error) -> bool {
    move |error| matches!(error, Error::NoJobServers(list) if list.iter().any(|f| f.to_string().contains(text)))
}

type Script = fn(&mut Peer, usize);
type Check = fn(&str) -> Result<(), String>;
type WorkerCheck = fn(&FakeServer) -> Result<(), String>;

fn cases() -> Vec<(&'static str, Script, Check, Duration)> {
    let second = Duration::from_secs(3);
    vec![
        (
            "bad magic",
            |peer, _| {
                peer.expect(PacketType::EchoReq);
                peer.raw(b"XRES\0\0\0\x11\0\0\0\0");
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("bad packet magic"),
                )
            },
            second,
        ),
        (
            "unknown packet type",
            |peer, _| {
                peer.expect(PacketType::EchoReq);
                peer.header(b"\0RES", 99, 0);
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("unknown packet type 99"),
                )
            },
            second,
        ),
        (
            "request magic from the server",
            |peer, _| {
                peer.expect(PacketType::EchoReq);
                peer.header(b"\0REQ", PacketType::EchoRes.code(), 0);
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("REQ magic"),
                )
            },
            second,
        ),
        (
            "declared length 0xFFFFFFFF",
            |peer, _| {
                peer.expect(PacketType::EchoReq);
                peer.header(b"\0RES", PacketType::EchoRes.code(), u32::MAX);
                peer.raw(&[0u8; 1000]);
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("exceeds the limit"),
                )
            },
            second,
        ),
        (
            "declared length just above the cap",
            |peer, _| {
                peer.expect(PacketType::EchoReq);
                peer.header(b"\0RES", PacketType::EchoRes.code(), (64 << 20) + 1);
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("exceeds the limit"),
                )
            },
            second,
        ),
        (
            "truncated body then EOF",
            |peer, _| {
                peer.expect(PacketType::EchoReq);
                peer.header(b"\0RES", PacketType::EchoRes.code(), 100);
                peer.raw(b"only ten b");
            },
            |addr| expect_err(client(addr).do_normal("f", "x"), no_servers_with("closed")),
            second,
        ),
        (
            "closed right after accept",
            |_, _| {},
            |addr| {
                let result = client(addr).do_normal("f", "x");
                expect_err(result, |e| {
                    no_servers_with("closed")(e) || no_servers_with("reset")(e)
                })
            },
            second,
        ),
        (
            "probe answered one byte every 50 ms",
            |peer, _| {
                let Some(echo) = peer.expect(PacketType::EchoReq) else {
                    return;
                };
                let mut wire = Vec::new();
                gearman_sync::protocol::encode_to(
                    &mut wire,
                    gearman_sync::protocol::Magic::Response,
                    PacketType::EchoRes,
                    &[echo.arg(0)],
                )
                .expect("encode");
                for byte in wire {
                    peer.raw(&[byte]);
                    std::thread::sleep(Duration::from_millis(50));
                }
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("timed out"),
                )
            },
            second,
        ),
        (
            "ERROR to OPTION_REQ exceptions",
            |peer, _| {
                peer.expect(PacketType::OptionReq);
                peer.reply(
                    PacketType::Error,
                    &[b"UNKNOWN_OPTION", b"Server does not recognize given option"],
                );
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("UNKNOWN_OPTION"),
                )
            },
            second,
        ),
        (
            "ECHO_RES with the wrong data",
            |peer, _| {
                peer.expect(PacketType::EchoReq);
                peer.reply(PacketType::EchoRes, &[b"not the probe"]);
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("unexpected ECHO_RES"),
                )
            },
            second,
        ),
        (
            "JOB_CREATED then silence",
            |peer, _| {
                accept_submission(peer, H);
                peer.linger();
            },
            |addr| {
                expect_err(client(addr).do_normal("f", "x"), |e| {
                    matches!(e, Error::Timeout { .. })
                })
            },
            second,
        ),
        (
            "results for handles never submitted are ignored",
            |peer, _| {
                accept_submission(peer, H);
                peer.reply(PacketType::WorkComplete, &[b"H:fake:999", b"wrong"]);
                peer.reply(PacketType::WorkData, &[b"H:fake:77", b"wrong"]);
                peer.reply(PacketType::WorkFail, &[b"H:fake:5"]);
                peer.reply(PacketType::WorkComplete, &[H, b"right"]);
                peer.linger();
            },
            |addr| match client(addr).do_normal("f", "x") {
                Ok(result) if result == b"right" => Ok(()),
                other => Err(format!("{other:?}")),
            },
            second,
        ),
        (
            "duplicate WORK_COMPLETE, then a second job on the same connection",
            |peer, _| {
                accept_submission(peer, H);
                peer.reply(PacketType::WorkComplete, &[H, b"first"]);
                peer.reply(PacketType::WorkComplete, &[H, b"stale copy"]);
                accept_submission(peer, b"H:fake:2");
                peer.reply(PacketType::WorkComplete, &[b"H:fake:2", b"second"]);
                peer.linger();
            },
            |addr| {
                let mut client = client(addr);
                let first = client.do_normal("f", "1").map_err(|e| e.to_string())?;
                let second = client.do_normal("f", "2").map_err(|e| e.to_string())?;
                (first == b"first" && second == b"second")
                    .then_some(())
                    .ok_or_else(|| format!("{first:?} {second:?}"))
            },
            second,
        ),
        (
            "NOOP flood to a client",
            |peer, _| {
                accept_submission(peer, H);
                let mut noops = Vec::new();
                for _ in 0..100_000 {
                    noops.extend_from_slice(b"\0RES\0\0\0\x06\0\0\0\0");
                }
                peer.raw(&noops);
                drop(noops);
                peer.reply(PacketType::WorkComplete, &[H, b"done"]);
                peer.linger();
            },
            |addr| match client(addr).do_normal("f", "x") {
                Ok(result) if result == b"done" => Ok(()),
                other => Err(format!("{other:?}")),
            },
            second,
        ),
        (
            "endless WORK_DATA stream",
            |peer, _| {
                accept_submission(peer, H);
                let mut chunk = Vec::new();
                for _ in 0..64 {
                    gearman_sync::protocol::encode_to(
                        &mut chunk,
                        gearman_sync::protocol::Magic::Response,
                        PacketType::WorkData,
                        &[H, &[b'd'; 1024]],
                    )
                    .expect("encode");
                }
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(5) {
                    peer.raw(&chunk);
                }
            },
            |addr| {
                expect_err(client(addr).do_normal("f", "x"), |e| {
                    matches!(e, Error::Timeout { .. })
                })
            },
            second,
        ),
        (
            "ERROR in reply to a submission",
            |peer, _| {
                loop {
                    let Some(packet) = peer.packet() else { return };
                    if packet.kind().is_submit() {
                        peer.reply(PacketType::Error, &[b"QUEUE_ERROR", b"Job queue is full"]);
                        break;
                    }
                    peer.answer_probe(&packet);
                }
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    |e| matches!(e, Error::Server { code, text, .. } if *code == gearman_sync::ServerErrorCode::QueueError && text == "Job queue is full"),
                )
            },
            second,
        ),
        (
            "unsolicited ERROR before the submission is answered",
            |peer, _| {
                loop {
                    let Some(packet) = peer.packet() else { return };
                    if packet.kind() == PacketType::EchoReq {
                        peer.reply(PacketType::Error, &[b"SURPRISE", b"nobody asked"]);
                    }
                    if packet.kind().is_submit() {
                        peer.reply(PacketType::JobCreated, &[H]);
                        peer.reply(PacketType::WorkComplete, &[H, b"fine"]);
                        break;
                    }
                    peer.answer_probe(&packet);
                }
                peer.linger();
            },
            // The ERROR arrives before the probe's ECHO_RES: the probe fails honestly.
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    no_servers_with("SURPRISE"),
                )
            },
            second,
        ),
        (
            "STATUS_RES with missing fields",
            |peer, _| {
                let Some(_) = peer.expect(PacketType::GetStatus) else {
                    return;
                };
                peer.raw(b"\0RES\0\0\0\x14\0\0\0\x05H:1\x001");
                peer.linger();
            },
            |addr| {
                let handle = gearman_sync::JobHandle::new(addr.parse().expect("addr"), "H:1");
                match client(addr).status(&handle) {
                    Err(Error::Protocol {
                        source: gearman_sync::ProtocolError::MissingFields { .. },
                        ..
                    }) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
            second,
        ),
        (
            "STATUS_RES with words for numbers",
            |peer, _| {
                let Some(_) = peer.expect(PacketType::GetStatus) else {
                    return;
                };
                peer.reply(PacketType::StatusRes, &[b"H:1", b"yes", b"no", b"a", b"b"]);
                peer.linger();
            },
            |addr| {
                let handle = gearman_sync::JobHandle::new(addr.parse().expect("addr"), "H:1");
                match client(addr).status(&handle) {
                    Err(Error::Protocol {
                        source: gearman_sync::ProtocolError::InvalidNumber { field: "known", .. },
                        ..
                    }) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
            second,
        ),
        (
            "STATUS_RES_UNIQUE with extra fields in the tail",
            |peer, _| {
                let Some(_) = peer.expect(PacketType::GetStatusUnique) else {
                    return;
                };
                peer.reply(
                    PacketType::StatusResUnique,
                    &[b"u", b"1", b"0", b"0", b"0", b"3\0junk\0more"],
                );
                peer.linger();
            },
            |addr| match client(addr).status_by_unique("u") {
                Ok(status) if status.status.known && status.clients == 3 => Ok(()),
                other => Err(format!("{other:?}")),
            },
            second,
        ),
        (
            "garbage WORK_STATUS numbers",
            |peer, _| {
                accept_submission(peer, H);
                peer.reply(PacketType::WorkStatus, &[H, b"abc", b"-5"]);
                peer.reply(PacketType::WorkStatus, &[H, b"99999999999999", b"7x"]);
                peer.reply(PacketType::WorkComplete, &[H, b"ok"]);
                peer.linger();
            },
            |addr| {
                let seen = std::cell::RefCell::new(Vec::new());
                let result = client(addr)
                    .do_task(Task::new("f", "x").on_status(|n, d| seen.borrow_mut().push((n, d))))
                    .map_err(|e| e.to_string())?;
                let seen = seen.into_inner();
                (result == b"ok" && seen == [(0, 0), (u32::MAX, 7)])
                    .then_some(())
                    .ok_or_else(|| format!("{seen:?}"))
            },
            second,
        ),
        (
            "a 1000-byte handle",
            |peer, _| {
                let long = vec![b'h'; 1000];
                accept_submission(peer, &long);
                peer.reply(PacketType::WorkComplete, &[&long, b"long ok"]);
                peer.linger();
            },
            |addr| match client(addr).do_normal("f", "x") {
                Ok(result) if result == b"long ok" => Ok(()),
                other => Err(format!("{other:?}")),
            },
            second,
        ),
        (
            "an empty handle",
            |peer, _| {
                accept_submission(peer, b"");
                peer.reply(PacketType::WorkComplete, &[b"", b"empty ok"]);
                peer.linger();
            },
            |addr| match client(addr).do_normal("f", "x") {
                Ok(result) if result == b"empty ok" => Ok(()),
                other => Err(format!("{other:?}")),
            },
            second,
        ),
        (
            "worker packets sent to a client",
            |peer, _| {
                accept_submission(peer, H);
                peer.reply(PacketType::JobAssign, &[H, b"f", b"data"]);
                peer.reply(PacketType::NoJob, &[]);
                peer.reply(PacketType::WorkComplete, &[H, b"still fine"]);
                peer.linger();
            },
            |addr| match client(addr).do_normal("f", "x") {
                Ok(result) if result == b"still fine" => Ok(()),
                other => Err(format!("{other:?}")),
            },
            second,
        ),
        (
            "reset in the middle of WORK_COMPLETE",
            |peer, _| {
                accept_submission(peer, H);
                peer.raw(b"\0RES\0\0\0\x0d\0\0\0\x20H:fa");
                std::thread::sleep(Duration::from_millis(50));
            },
            |addr| {
                expect_err(client(addr).do_normal("f", "x"), |e| {
                    matches!(e, Error::JobLost { .. })
                })
            },
            second,
        ),
        (
            "WORK_FAIL with gearmand's stray NUL",
            |peer, _| {
                accept_submission(peer, H);
                peer.raw(b"\0RES\0\0\0\x0e\0\0\0\x09H:fake:1\0");
                peer.linger();
            },
            |addr| {
                expect_err(
                    client(addr).do_normal("f", "x"),
                    |e| matches!(e, Error::JobFailed { handle, .. } if handle.as_bytes() == b"H:fake:1"),
                )
            },
            second,
        ),
    ]
}

fn worker_cases() -> Vec<(&'static str, Script, WorkerCheck)> {
    vec![
        (
            "job assigned without a GRAB",
            |peer, _| {
                peer.expect(PacketType::CanDo);
                peer.reply(PacketType::JobAssignUniq, &[H, b"f", b"u", b"payload"]);
                if let Some(done) = peer.expect(PacketType::WorkComplete) {
                    peer.reply(PacketType::EchoRes, &[done.arg(1)]);
                }
                peer.linger();
            },
            |server| {
                let ran = run_worker(server.addr(), Duration::from_secs(2))?;
                (ran == [b"payload".to_vec()])
                    .then_some(())
                    .ok_or_else(|| format!("{ran:?}"))
            },
        ),
        (
            "JOB_ASSIGN_UNIQ with missing fields, then an honest server",
            |peer, index| {
                if index == 0 {
                    peer.expect(PacketType::GrabJobUniq);
                    peer.raw(b"\0RES\0\0\0\x1f\0\0\0\x05H:1\0f");
                    peer.linger();
                } else {
                    peer.expect(PacketType::GrabJobUniq);
                    peer.reply(PacketType::JobAssignUniq, &[H, b"f", b"", b"second try"]);
                    peer.expect(PacketType::WorkComplete);
                    peer.linger();
                }
            },
            |server| {
                let ran = run_worker(server.addr(), Duration::from_secs(3))?;
                (ran == [b"second try".to_vec()] && server.connections() == 2)
                    .then_some(())
                    .ok_or_else(|| format!("{ran:?} after {} connections", server.connections()))
            },
        ),
        (
            "server closes every connection at once: backoff, no busy loop",
            |_, _| {},
            |server| {
                let ran = run_worker(server.addr(), Duration::from_millis(1500))?;
                let count = server.connections();
                (ran.is_empty() && (2..=15).contains(&count))
                    .then_some(())
                    .ok_or_else(|| format!("{count} connections in 1.5 s"))
            },
        ),
        (
            "NOOP flood and NO_JOB answers, then a job",
            |peer, _| {
                peer.expect(PacketType::GrabJobUniq);
                peer.reply(PacketType::NoJob, &[]);
                peer.expect(PacketType::PreSleep);
                let mut noops = Vec::new();
                for _ in 0..50_000 {
                    noops.extend_from_slice(b"\0RES\0\0\0\x06\0\0\0\0");
                }
                peer.raw(&noops);
                drop(noops);
                peer.expect(PacketType::GrabJobUniq);
                peer.reply(
                    PacketType::JobAssignUniq,
                    &[H, b"f", b"", b"after the flood"],
                );
                peer.expect(PacketType::WorkComplete);
                peer.linger();
            },
            |server| {
                let ran = run_worker(server.addr(), Duration::from_secs(3))?;
                (ran == [b"after the flood".to_vec()])
                    .then_some(())
                    .ok_or_else(|| format!("{ran:?}"))
            },
        ),
        (
            "JOB_ASSIGN declaring a 4 GiB body",
            |peer, _| {
                peer.expect(PacketType::GrabJobUniq);
                peer.header(b"\0RES", PacketType::JobAssignUniq.code(), u32::MAX);
                peer.linger();
            },
            |server| {
                let ran = run_worker(server.addr(), Duration::from_millis(800))?;
                (ran.is_empty() && server.connections() >= 2)
                    .then_some(())
                    .ok_or_else(|| format!("{ran:?}"))
            },
        ),
    ]
}

/// Runs a worker for `f` until `budget` passes; returns the workloads it ran.
fn run_worker(addr: &str, budget: Duration) -> Result<Vec<Vec<u8>>, String> {
    let (sender, receiver) = mpsc::channel();
    let sender = Mutex::new(sender);
    let mut worker = Worker::builder()
        .servers(addr)
        .max_idle(budget)
        .build()
        .map_err(|e| e.to_string())?;
    worker
        .add_ability("f", move |job| {
            let _ = sender
                .lock()
                .map_err(|_| gearman_sync::JobError::Fail)?
                .send(job.workload().to_vec());
            Ok(Vec::new())
        })
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    worker.work().map_err(|e| e.to_string())?;
    if started.elapsed() > budget + Duration::from_secs(3) {
        return Err(format!(
            "work() overran its idle limit: {:?}",
            started.elapsed()
        ));
    }
    Ok(receiver.try_iter().collect())
}

#[test]
fn hostile_servers_get_typed_errors_bounded_memory_and_deadlines() {
    let mut failures = Vec::new();
    let client_cases = cases();
    let worker_cases = worker_cases();
    assert!(
        client_cases.len() + worker_cases.len() >= 25,
        "at least 25 hostile behaviours"
    );
    for (name, script, check, limit) in client_cases {
        let server = FakeServer::start(script);
        let base = CURRENT.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        let started = Instant::now();
        let outcome = check(server.addr());
        let elapsed = started.elapsed();
        let grown = PEAK.load(Ordering::SeqCst).saturating_sub(base);
        if let Err(problem) = outcome {
            failures.push(format!("{name}: {problem}"));
        }
        if elapsed > limit {
            failures.push(format!("{name}: took {elapsed:?} (limit {limit:?})"));
        }
        if grown > MEMORY_BOUND {
            failures.push(format!("{name}: heap grew by {grown} bytes"));
        }
        eprintln!("{name}: {elapsed:?}, peak heap +{} KiB", grown / 1024);
    }
    for (name, script, check) in worker_cases {
        let server = FakeServer::start(script);
        let base = CURRENT.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        let outcome = check(&server);
        let grown = PEAK.load(Ordering::SeqCst).saturating_sub(base);
        if let Err(problem) = outcome {
            failures.push(format!("worker, {name}: {problem}"));
        }
        if grown > MEMORY_BOUND {
            failures.push(format!("worker, {name}: heap grew by {grown} bytes"));
        }
        eprintln!("worker, {name}: peak heap +{} KiB", grown / 1024);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
