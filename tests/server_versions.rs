//! What differs between the tested gearmand versions, checked on the wire with raw packets
//! (the crate's codec over a plain `TcpStream`, no library client or worker in between).
//!
//! Each test reads the version of the server the harness started and asserts the behaviour of
//! that version, so running the suite against 1.1.20 (Debian 12), 1.1.22 and 2.0.0 (built by
//! `scripts/gearmand-build`) documents the differences; an untested version fails with a
//! message instead of passing as an old one (`common::Generation::of`).
//!
//! In short (1.1.20 and 1.1.22 behave alike):
//!
//! | behaviour | 1.1.x | 2.0.0 |
//! | --- | --- | --- |
//! | epoch job comes due while a worker sleeps | no NOOP; only a later GRAB gets it | NOOP |
//! | one worker, functions `a` then `b` | all of `b`, then all of `a` | `b`, `a`, `b`, `a` |
//! | HIGH job of `a`, NORMAL job of `b` | function order first (`b` first) | HIGH first |
//! | far-future epoch job before a LOW job | NOOP / NO_JOB forever, LOW job stuck | LOW job assigned |
//! | exception sent to a client without the exceptions option | WORK_FAIL `handle\0` | the same |
//! | libgearman `gearman` CLI on that WORK_FAIL | hangs | "Job failed", exit 1 |

mod common;

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::raw::Conn;
use common::{admin, parse_status, Gearmand, Generation};
use gearman_sync::protocol::{Packet, PacketType, HEADER_LEN};

/// How long a reply that should come at once may take.
const PROMPT: Duration = Duration::from_secs(1);

/// A worker connection that can do `functions`, registered in this order; returns once
/// gearmand has processed the registrations (CAN_DO has no reply: an ECHO after it does).
fn worker(gearmand: &Gearmand, functions: &[&str]) -> Conn {
    let mut conn = Conn::open(gearmand);
    for function in functions {
        conn.send_packet(&Packet::can_do(function.as_bytes()).expect("CAN_DO"));
    }
    conn.echo(b"registered");
    conn
}

/// Submits a background job (`kind` is one of the SUBMIT_JOB*_BG types) whose unique and
/// workload are both `name`; returns its handle.
fn submit(client: &mut Conn, kind: PacketType, function: &str, name: &str) -> Vec<u8> {
    let packet = Packet::submit(kind, function.as_bytes(), name.as_bytes(), name.as_bytes())
        .expect("submit packet");
    client.send_packet(&packet);
    created(client)
}

/// Submits a SUBMIT_JOB_EPOCH job due at `epoch` (seconds since 1970); returns its handle.
fn submit_epoch(client: &mut Conn, function: &str, name: &str, epoch: u64) -> Vec<u8> {
    let packet = Packet::submit_epoch(function.as_bytes(), name.as_bytes(), epoch, name.as_bytes())
        .expect("epoch packet");
    client.send_packet(&packet);
    created(client)
}

fn created(client: &mut Conn) -> Vec<u8> {
    let reply = client.read_packet();
    assert_eq!(reply.kind(), PacketType::JobCreated, "{reply:?}");
    reply.arg(0).to_vec()
}

/// What a GRAB_JOB brought.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grab {
    /// JOB_ASSIGN: the job's workload, which these tests make equal to its name.
    Job(String),
    NoJob,
}

fn grab(worker: &mut Conn) -> Grab {
    worker.send_empty(PacketType::GrabJob);
    let reply = worker.read_packet();
    match reply.kind() {
        PacketType::JobAssign => Grab::Job(String::from_utf8_lossy(reply.arg(2)).into_owned()),
        PacketType::NoJob => Grab::NoJob,
        other => panic!("GRAB_JOB answered with {other:?}: {reply:?}"),
    }
}

/// GRABs until NO_JOB (at most `limit` jobs); returns the names of the jobs in order.
fn grab_all(worker: &mut Conn, limit: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..=limit {
        match grab(worker) {
            Grab::Job(name) => names.push(name),
            Grab::NoJob => return names,
        }
    }
    panic!("more than {limit} jobs: {names:?}")
}

fn job(name: &str) -> Grab {
    Grab::Job(name.to_owned())
}

/// Sends PRE_SLEEP and returns the packet that arrives within `timeout`, if any.
fn pre_sleep(worker: &mut Conn, timeout: Duration) -> Option<PacketType> {
    worker.send_empty(PacketType::PreSleep);
    worker
        .read_packet_within(timeout)
        .map(|packet| packet.kind())
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
}

/// A SUBMIT_JOB_EPOCH job coming due does not wake a sleeping worker on 1.1.x (only a GRAB
/// after the due time gets it); 2.0.0 sends the sleeper a NOOP when the job comes due.
#[test]
fn an_epoch_job_coming_due_wakes_sleeping_workers_on_2_0_only() {
    let gearmand = Gearmand::start();
    let generation = Generation::of_server(&gearmand.addr());
    let mut sleeper = worker(&gearmand, &["epoch_fn"]);
    assert_eq!(grab(&mut sleeper), Grab::NoJob);
    sleeper.send_empty(PacketType::PreSleep);
    // Asleep before the job is submitted from the other connection (gearmand only NOOPs
    // workers that are asleep when a job is queued); an ECHO does not wake a worker.
    sleeper.echo(b"asleep");

    // Due 2 to 3 s from now (the epoch has whole seconds).
    let due_secs = unix_now().as_secs() + 3;
    let due = Instant::now() + (Duration::from_secs(due_secs) - unix_now());
    let mut client = Conn::open(&gearmand);
    submit_epoch(&mut client, "epoch_fn", "epoch-job", due_secs);

    // Every version wakes the sleeper when the job is submitted, although it is not due yet,
    // and then has nothing to give.
    let woken = sleeper
        .read_packet_within(PROMPT)
        .map(|packet| packet.kind());
    assert_eq!(woken, Some(PacketType::Noop), "wake-up on submission");
    assert_eq!(grab(&mut sleeper), Grab::NoJob, "the job is not due yet");
    assert!(
        Instant::now() + Duration::from_millis(500) < due,
        "test too slow"
    );

    // Asleep again: what happens when the job comes due?
    sleeper.send_empty(PacketType::PreSleep);
    match generation {
        Generation::V2_0 => {
            let wake = sleeper.read_packet_within(due + Duration::from_secs(2) - Instant::now());
            let at = Instant::now();
            assert_eq!(
                wake.map(|packet| packet.kind()),
                Some(PacketType::Noop),
                "2.0.0 wakes the sleeper within 2 s of the due time"
            );
            assert!(
                at + Duration::from_millis(500) >= due,
                "woken {:?} before the due time",
                due - at
            );
        }
        Generation::V1_1 => {
            let wake = sleeper.read_packet_within(due + Duration::from_secs(3) - Instant::now());
            assert!(
                wake.is_none(),
                "1.1.x never wakes a sleeper for a job coming due, got {wake:?}"
            );
        }
    }
    // On every version a GRAB after the due time gets the job.
    assert_eq!(grab(&mut sleeper), job("epoch-job"));
}

/// One worker connection that can do `a` (registered first) and `b`: 1.1.x hands out every
/// job of the most recently registered function before the next function's, 2.0.0
/// alternates between the functions. The submission order does not matter, the registration
/// order does.
#[test]
fn functions_are_round_robined_on_2_0_only() {
    let submission_orders = [
        [
            ("rr_a", "a1"),
            ("rr_a", "a2"),
            ("rr_b", "b1"),
            ("rr_b", "b2"),
        ],
        [
            ("rr_a", "a1"),
            ("rr_b", "b1"),
            ("rr_a", "a2"),
            ("rr_b", "b2"),
        ],
    ];
    for submissions in submission_orders {
        let gearmand = Gearmand::start();
        let generation = Generation::of_server(&gearmand.addr());
        let mut worker = worker(&gearmand, &["rr_a", "rr_b"]);
        let mut client = Conn::open(&gearmand);
        for (function, name) in submissions {
            submit(&mut client, PacketType::SubmitJobBg, function, name);
        }
        let order = grab_all(&mut worker, 4);
        match generation {
            Generation::V1_1 => assert_eq!(order, ["b1", "b2", "a1", "a2"], "{submissions:?}"),
            Generation::V2_0 => assert_eq!(order, ["b1", "a1", "b2", "a2"], "{submissions:?}"),
        }
    }
}

/// `--round-robin` (`-R`) gives 1.1.x the order 2.0.0 always has, and changes nothing on 2.0.0.
#[test]
fn round_robin_option_gives_every_version_the_alternating_order() {
    let gearmand = Gearmand::start_with(&["--round-robin"]);
    Generation::of_server(&gearmand.addr());
    let mut worker = worker(&gearmand, &["rr_a", "rr_b"]);
    let mut client = Conn::open(&gearmand);
    for (function, name) in [
        ("rr_a", "a1"),
        ("rr_a", "a2"),
        ("rr_b", "b1"),
        ("rr_b", "b2"),
    ] {
        submit(&mut client, PacketType::SubmitJobBg, function, name);
    }
    assert_eq!(grab_all(&mut worker, 4), ["b1", "a1", "b2", "a2"]);
}

/// A HIGH job of `a` and a NORMAL job of `b`, one worker that registered `a` first: 1.1.x
/// looks at the functions first (most recently registered first, so `b`) and at priorities
/// only within a function; 2.0.0 gives the HIGH job first whatever its function. (With the
/// HIGH job on the function registered last, both versions give it first, so that order would
/// show nothing.)
#[test]
fn priorities_count_across_functions_on_2_0_only() {
    let gearmand = Gearmand::start();
    let generation = Generation::of_server(&gearmand.addr());
    let mut client = Conn::open(&gearmand);
    submit(&mut client, PacketType::SubmitJobBg, "prio_b", "b-normal");
    submit(&mut client, PacketType::SubmitJobHighBg, "prio_a", "a-high");
    let mut worker = worker(&gearmand, &["prio_a", "prio_b"]);
    let order = grab_all(&mut worker, 2);
    match generation {
        Generation::V1_1 => assert_eq!(order, ["b-normal", "a-high"]),
        Generation::V2_0 => assert_eq!(order, ["a-high", "b-normal"]),
    }

    // The order that both versions agree on: HIGH job on the last-registered function.
    submit(&mut client, PacketType::SubmitJobBg, "prio_a", "a-normal");
    submit(&mut client, PacketType::SubmitJobHighBg, "prio_b", "b-high");
    assert_eq!(grab_all(&mut worker, 2), ["b-high", "a-normal"]);
}

/// PROTOCOL.md 9, the NOOP/NO_JOB storm: a far-future epoch job queued in front of a runnable
/// LOW job of the same function. On 1.1.x PRE_SLEEP is answered by an immediate NOOP (it sees
/// a job queued) and GRAB by NO_JOB (it looks only at the first non-empty priority, the
/// epoch job's), so a worker that obeys both spins and the LOW job never runs. 2.0.0 assigns
/// the LOW job and lets the worker sleep.
#[test]
fn a_far_future_epoch_job_blocks_a_low_job_on_1_1_only() {
    let gearmand = Gearmand::start();
    let generation = Generation::of_server(&gearmand.addr());
    let mut client = Conn::open(&gearmand);
    let far = unix_now().as_secs() + 3600;
    submit_epoch(&mut client, "storm_fn", "far", far);
    submit(&mut client, PacketType::SubmitJobLowBg, "storm_fn", "low");
    let mut worker = worker(&gearmand, &["storm_fn"]);
    match generation {
        Generation::V1_1 => {
            for round in 0..20 {
                let woken = pre_sleep(&mut worker, PROMPT);
                assert_eq!(woken, Some(PacketType::Noop), "round {round}: PRE_SLEEP");
                assert_eq!(grab(&mut worker), Grab::NoJob, "round {round}: GRAB");
            }
            let status = parse_status(&admin(&gearmand.addr(), "status"));
            assert_eq!(
                status,
                [("storm_fn".to_owned(), 2, 0, 1)],
                "both jobs still queued"
            );
        }
        Generation::V2_0 => {
            assert_eq!(pre_sleep(&mut worker, PROMPT), Some(PacketType::Noop));
            assert_eq!(grab(&mut worker), job("low"));
            assert_eq!(
                pre_sleep(&mut worker, PROMPT),
                None,
                "only the far-future job is left: no wake-up"
            );
            assert_eq!(grab(&mut worker), Grab::NoJob);
        }
    }
}

/// Unchanged on every version: a WORK_EXCEPTION sent to a client that did not ask for
/// exceptions reaches it as a WORK_FAIL whose body is the handle plus a stray NUL.
#[test]
fn an_exception_becomes_a_work_fail_with_a_stray_nul_on_every_version() {
    let gearmand = Gearmand::start();
    Generation::of_server(&gearmand.addr());
    let mut worker = worker(&gearmand, &["exc_fn"]);
    let mut client = Conn::open(&gearmand);
    client.send_packet(
        &Packet::submit(PacketType::SubmitJob, b"exc_fn", b"", b"x").expect("submit packet"),
    );
    let handle = created(&mut client);
    worker.send_empty(PacketType::GrabJob);
    let assigned = worker.read_packet();
    assert_eq!(assigned.kind(), PacketType::JobAssign);
    assert_eq!(assigned.arg(0), handle);
    worker.send_packet(
        &Packet::work_with_data(PacketType::WorkException, &handle, b"boom").expect("packet"),
    );
    let (fail, wire) = client.read_wire();
    assert_eq!(fail.kind(), PacketType::WorkFail);
    assert_eq!(fail.body(), handle, "the codec strips the stray NUL");
    assert_eq!(
        &wire[HEADER_LEN..],
        [&handle[..], b"\0"].concat(),
        "on the wire"
    );
}

/// The same converted WORK_FAIL seen by the libgearman `gearman` CLI (`$GEARMAN`): the 1.1.x
/// client cannot match the handle with the stray NUL and waits forever, the 2.0.0 client
/// reports the failure. This depends on the CLI's libgearman, not on the server.
#[test]
fn libgearman_cli_gives_up_on_the_stray_nul_work_fail_from_2_0_on() {
    let gearmand = Gearmand::start();
    Generation::of_server(&gearmand.addr());
    let cli_generation = Generation::of(common::libgearman_cli_version());
    let mut worker = worker(&gearmand, &["cli_exc_fn"]);
    let mut cli = KillOnDrop(
        Command::new(common::gearman_cli())
            .args(["-h", "127.0.0.1", "-p", &gearmand.port().to_string()])
            .args(["-f", "cli_exc_fn", "x"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the gearman CLI"),
    );
    // The CLI connects, submits and waits; take its job and throw an exception.
    let deadline = Instant::now() + Duration::from_secs(10);
    let handle = loop {
        worker.send_empty(PacketType::GrabJob);
        let reply = worker.read_packet();
        if reply.kind() == PacketType::JobAssign {
            break reply.arg(0).to_vec();
        }
        assert_eq!(reply.kind(), PacketType::NoJob, "{reply:?}");
        assert!(Instant::now() < deadline, "the CLI's job never arrived");
        thread::sleep(Duration::from_millis(20));
    };
    worker.send_packet(
        &Packet::work_with_data(PacketType::WorkException, &handle, b"boom").expect("packet"),
    );
    let exited = wait_for_exit(&mut cli.0, Duration::from_secs(3));
    match cli_generation {
        Generation::V1_1 => assert!(
            exited.is_none(),
            "the libgearman 1.1.x CLI was expected to hang, it exited with {exited:?}"
        ),
        Generation::V2_0 => {
            let status = exited.expect("the libgearman 2.0.0 CLI reports the failure within 3 s");
            assert_eq!(status.code(), Some(1));
            let mut stderr = String::new();
            let mut pipe = cli.0.stderr.take().expect("stderr pipe");
            pipe.read_to_string(&mut stderr)
                .expect("read the CLI's stderr");
            assert!(stderr.contains("Job failed"), "CLI stderr: {stderr:?}");
        }
    }
}

/// Polls `child` until it exits or `timeout` passes.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed (and reaped) when dropped, also when the test panics.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
