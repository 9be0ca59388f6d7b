//! Scenarios with our client and a peer worker, asserting what every correct peer does.

use std::time::Duration;

use gearman_sync::{Client, Error, JobStatus, Task};

use super::from_peer::COALESCED;
use super::ours::call_recording;
use super::{no_jobs, peer_jobs, PeerJob, PeerWorker, BOOM, EVENTS};
use crate::common::peer::{all_bytes, hex, Peer};
use crate::common::{queued, wait_until};
use crate::util::reversed;

/// Every byte value in the workload reaches the peer worker, every byte value in its result
/// reaches our client.
pub fn binary(peer: Peer) {
    let mut fixture = PeerWorker::start(peer);
    let result = fixture.client.do_normal("bin", all_bytes()).expect("bin");
    assert_eq!(result, reversed(&all_bytes()));
    let jobs = peer_jobs(&fixture.stop_worker());
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].workload, hex(&all_bytes()));
}

/// WORK_DATA, WORK_WARNING and WORK_STATUS arrive in the order the peer worker sent them.
pub fn events(peer: Peer) {
    let mut fixture = PeerWorker::start(peer);
    let (events, result) = call_recording(&mut fixture.client, Task::new("events", "x"));
    assert_eq!(result.expect("events"), b"done\0");
    assert_eq!(events, EVENTS);
}

/// The peer worker's WORK_FAIL is `Error::JobFailed` without a warning.
pub fn fail(peer: Peer) {
    let mut fixture = PeerWorker::start(peer);
    match fixture.client.do_normal("fail", "x") {
        Err(Error::JobFailed { warning: None, .. }) => {}
        other => panic!("expected JobFailed without a warning, got {other:?}"),
    }
}

/// The peer worker's exception ("boom"): `Error::JobException` for our client (which asks for
/// exceptions), `Error::JobFailed` for one built with `.exceptions(false)` (gearmand sends it
/// a WORK_FAIL with a stray NUL, which it matches all the same).
pub fn exception(peer: Peer) {
    let mut fixture = PeerWorker::start(peer);
    match fixture.client.do_normal("exception", "x") {
        Err(Error::JobException { data, .. }) => assert_eq!(hex(&data), BOOM),
        other => panic!("expected JobException, got {other:?}"),
    }
    let mut plain = without_exceptions(&fixture);
    match plain.do_normal("exception", "x") {
        Err(Error::JobFailed { warning: None, .. }) => {}
        other => panic!("expected JobFailed without a warning, got {other:?}"),
    }
}

/// Our client for the fixture's gearmand, not asking for exceptions.
pub fn without_exceptions(fixture: &PeerWorker) -> Client {
    Client::builder()
        .servers(fixture.server.addr().as_str())
        .exceptions(false)
        .job_timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Background jobs at low, normal and high priority, queued before the peer worker starts,
/// run high first, low last.
pub fn background_priorities(peer: Peer) {
    let mut fixture = PeerWorker::without_worker(peer);
    let client = &mut fixture.client;
    client.do_low_background("bin", "low").expect("low");
    client.do_background("bin", "normal").expect("normal");
    client.do_high_background("bin", "high").expect("high");
    let addr = fixture.server.addr();
    assert_eq!(queued(&addr, "bin"), 3);
    fixture.start_worker();
    wait_until(Duration::from_secs(10), || no_jobs(&addr, "bin"));
    let order: Vec<String> = peer_jobs(&fixture.stop_worker())
        .into_iter()
        .map(|job| job.workload)
        .collect();
    assert_eq!(order, [hex(b"high"), hex(b"normal"), hex(b"low")]);
}

/// Our client asks for the status of its background job, by handle and by unique, while the
/// peer worker holds it at 1/4, and again after it ended.
pub fn background_status(peer: Peer) {
    let mut fixture = PeerWorker::start(peer);
    let unique = "status-by-unique";
    let handle = fixture
        .client
        .submit_background(Task::new("hold", "x").unique(unique))
        .expect("background");
    let before = fixture
        .worker()
        .wait_for_line("holding", Duration::from_secs(10));
    assert_eq!(before.len(), 1, "{before:?}");
    let holding = JobStatus {
        known: true,
        running: true,
        numerator: 1,
        denominator: 4,
    };
    // The worker's WORK_STATUS and our GET_STATUS travel on different connections, which
    // gearmand does not order: wait for the status instead of reading it once.
    let client = &mut fixture.client;
    wait_until(Duration::from_secs(10), || {
        client.status(&handle).expect("status") == holding
    });
    let found = fixture.client.status_by_unique(unique).expect("status");
    assert_eq!((found.status, found.clients), (holding, 0));
    fixture.worker().send_line("go");
    let client = &mut fixture.client;
    wait_until(Duration::from_secs(10), || {
        !client.status(&handle).expect("status").known
    });
    assert_eq!(
        fixture.client.status(&handle).expect("status"),
        JobStatus::default()
    );
}

/// Two foreground jobs of our client with one unique, queued before the peer worker starts:
/// the peer worker runs one job, both tasks get its result. Returns the peer's job lines.
pub fn coalesce(peer: Peer) -> Vec<PeerJob> {
    let mut fixture = PeerWorker::without_worker(peer);
    let addr = fixture.server.addr();
    let port = fixture.server.port();
    let mut probe = crate::util::test_client(&addr);
    let mut set = fixture.client.task_set();
    let ids = [0, 1].map(|_| {
        set.add_task(Task::new("bin", COALESCED).unique("same-unique"))
            .expect("add")
    });
    wait_until(Duration::from_secs(10), || {
        probe
            .status_by_unique("same-unique")
            .is_ok_and(|found| found.clients == 2)
    });
    fixture.worker = Some(peer.worker(port));
    let summary = set.wait(Duration::from_secs(20)).expect("wait");
    assert!(summary.all_completed(), "{summary:?}");
    for id in ids {
        let result = set.take_outcome(id).expect("outcome").into_result();
        assert_eq!(result.expect("completed"), reversed(COALESCED));
    }
    drop(set);
    let jobs = peer_jobs(&fixture.stop_worker());
    assert_eq!(jobs.len(), 1, "one run for both: {jobs:?}");
    assert_eq!(jobs[0].workload, hex(COALESCED));
    jobs
}
