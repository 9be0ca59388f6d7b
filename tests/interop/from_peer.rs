//! Scenarios with a peer client and our worker, asserting what every correct peer does.

use std::thread;
use std::time::{Duration, Instant};

use gearman_sync::Task;

use super::ours::Seen;
use super::{finish, no_jobs, PeerClients, BOOM, EVENTS};
use crate::common::peer::{all_bytes, hex, Peer, PeerOutput};
use crate::common::{queued, wait_until, POLL};
use crate::util::reversed;

/// Every byte value in the workload reaches our worker, every byte value in the result reaches
/// the peer.
pub fn binary(peer: Peer) {
    let fixture = PeerClients::start(peer);
    let output = fixture.call("call", "bin", &all_bytes(), "none", 1);
    let complete = format!("complete {}", hex(&reversed(&all_bytes())));
    assert_eq!(output.task(0), [complete.as_str()], "{output:#?}");
    assert_eq!(output.ok_lines().last(), Some(&"end"));
    let seen = fixture.ours().seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].workload, all_bytes());
}

/// WORK_DATA, WORK_WARNING and WORK_STATUS arrive in the order our worker sent them.
pub fn events(peer: Peer) {
    let fixture = PeerClients::start(peer);
    let output = fixture.call("call", "events", b"x", "none", 1);
    assert_eq!(output.task(0), EVENTS, "{output:#?}");
    assert_eq!(output.ok_lines().last(), Some(&"end"));
}

/// A plain WORK_FAIL, and our default exception mode (WORK_WARNING with the text, then
/// WORK_FAIL), with and without the peer asking for exceptions.
pub fn failures(peer: Peer) {
    let fixture = PeerClients::start(peer);
    let warning = format!("warning {BOOM}");
    for mode in ["call", "call-plain"] {
        let output = fixture.call(mode, "fail", b"x", "none", 1);
        assert_eq!(output.ok_lines(), ["0 fail", "end"], "{mode}");
        let output = fixture.call(mode, "exception", b"x", "none", 1);
        assert_eq!(
            output.task(0),
            [warning.as_str(), "fail"],
            "{mode}: {output:#?}"
        );
        assert_eq!(output.ok_lines().last(), Some(&"end"));
    }
}

/// `ExceptionMode::Exception` (WORK_EXCEPTION "boom") to a peer that asked for exceptions;
/// returns the fixture so that the caller can try the peer without the option.
pub fn exception_with_option(peer: Peer) -> PeerClients {
    let fixture = PeerClients::start(peer);
    let output = fixture.call("call", "raise", b"x", "none", 1);
    let exception = format!("exception {BOOM}");
    assert_eq!(output.task(0), [exception.as_str()], "{output:#?}");
    assert_eq!(output.ok_lines().last(), Some(&"end"));
    fixture
}

/// Background jobs at low, normal and high priority, queued before our worker starts, run
/// high first, low last.
pub fn background_priorities(peer: Peer) {
    let mut fixture = PeerClients::without_workers(peer);
    let output = fixture.run(&[
        "background",
        "bin",
        "low:6c6f77:none",
        "normal:6e6f726d616c:none",
        "high:68696768:none",
    ]);
    let lines = output.ok_lines();
    assert_eq!(lines.len(), 3, "{output:#?}");
    for (line, priority) in lines.iter().zip(["low", "normal", "high"]) {
        assert!(line.starts_with(&format!("handle {priority} ")), "{line}");
    }
    let addr = fixture.server.addr();
    assert_eq!(queued(&addr, "bin"), 3);
    fixture.start_workers();
    let order: Vec<Vec<u8>> = fixture
        .ours()
        .wait_seen(3)
        .into_iter()
        .map(|seen| seen.workload)
        .collect();
    assert_eq!(order, [&b"high"[..], b"normal", b"low"]);
}

/// The peer asks for the status of its background job while our worker holds it at 1/4, and
/// again after it ended. Peers with a status-by-unique call ask that too.
pub fn background_status(peer: Peer) {
    let fixture = PeerClients::start(peer);
    let unique = "status-by-unique";
    let output = fixture.run(&["background", "hold", &format!("normal:00:{unique}")]);
    let lines = output.ok_lines();
    let handle = lines
        .first()
        .and_then(|line| line.strip_prefix("handle normal "))
        .unwrap_or_else(|| panic!("no handle: {output:#?}"))
        .to_owned();
    fixture.ours().wait_holding();
    // Our WORK_STATUS and the peer's GET_STATUS travel on different connections, which
    // gearmand does not order: ask again until the status is there (a few runs at most).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = fixture.run(&["status", &handle]);
        if output.ok_lines() == ["status 1 1 1 4"] {
            break;
        }
        assert!(Instant::now() < deadline, "{output:#?}");
        thread::sleep(POLL);
    }
    if peer == Peer::Php {
        // Only PECL has a status-by-unique call (jobStatusByUniqueKey); it returns known,
        // running, numerator and denominator, not STATUS_RES_UNIQUE's client count.
        assert_eq!(
            fixture.run(&["status-unique", unique]).ok_lines(),
            ["status 1 1 1 4"]
        );
    }
    fixture.ours().release();
    let addr = fixture.server.addr();
    wait_until(Duration::from_secs(10), || no_jobs(&addr, "hold"));
    assert_eq!(
        fixture.run(&["status", &handle]).ok_lines(),
        ["status 0 0 0 0"]
    );
}

/// What a coalescing run saw.
#[derive(Debug)]
pub struct Coalesced {
    /// The peer client's output.
    pub peer: PeerOutput,
    /// Our client's result for the same unique.
    pub ours: gearman_sync::Result<Vec<u8>>,
    /// The jobs our worker ran.
    pub seen: Vec<Seen>,
}

/// The workload of the coalescing runs.
pub const COALESCED: &[u8] = b"coalesce me";

/// `peer_tasks` foreground jobs from one peer client and one from our client, all with the
/// same unique, queued before our worker starts (waiting `wait` at most in the peer).
pub fn coalesce(peer: Peer, peer_tasks: usize, wait: Duration) -> Coalesced {
    let mut fixture = PeerClients::without_workers(peer);
    let unique = "same-unique";
    let port = fixture.server.port();
    let mut process = peer.spawn_client_waiting(
        port,
        wait,
        &[
            "call",
            "bin",
            &hex(COALESCED),
            unique,
            &peer_tasks.to_string(),
        ],
    );
    let mut client = fixture.our_client();
    let ours = thread::spawn(move || client.do_task(Task::new("bin", COALESCED).unique(unique)));
    let mut probe = fixture.our_client();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe
        .status_by_unique(unique)
        .is_ok_and(|found| found.clients as usize == peer_tasks + 1)
    {
        if Instant::now() > deadline || process.has_exited() {
            panic!("the jobs were not all queued: {:#?}", process.kill());
        }
        thread::sleep(POLL);
    }
    fixture.start_workers();
    let ours = ours.join().expect("our client thread");
    let peer = finish(process);
    let seen = fixture.ours().seen();
    Coalesced { peer, ours, seen }
}

impl Coalesced {
    /// Our worker ran the job once, with the peer's unique, and every client got its result.
    #[track_caller]
    pub fn assert_one_run_for_all(&self, peer_tasks: usize) {
        let result = reversed(COALESCED);
        assert_eq!(self.ours.as_ref().expect("our result"), &result);
        assert_eq!(self.seen.len(), 1, "{:?}", self.seen);
        assert_eq!(self.seen[0].unique, b"same-unique");
        let complete = format!("complete {}", hex(&result));
        for task in 0..peer_tasks {
            assert_eq!(
                self.peer.task(task),
                [complete.as_str()],
                "{:#?}",
                self.peer
            );
        }
        assert_eq!(self.peer.ok_lines().last(), Some(&"end"));
    }
}
