//! Interop with Perl's `Gearman::Client` and `Gearman::Worker` (Debian's
//! `libgearman-client-perl`, pure Perl), both ways: a Perl client with our worker, our client
//! with a Perl worker (`tests/peers/*.pl`). `scripts/test` installs the package; without it
//! these tests fail with the command to run. The results per case, and the bugs of these
//! modules asserted below, are in the interop table (docs/INTEROP.md).

mod common;
mod interop;
mod util;

use std::time::Duration;

use common::peer::{hex, Peer};
use gearman_sync::{Client, Error};
use interop::{from_peer, to_peer, PeerClients, PeerWorker};

const PEER: Peer = Peer::Perl;

#[test]
fn perl_client_binary_payload() {
    from_peer::binary(PEER);
}

#[test]
fn perl_client_drops_a_workload_or_unique_of_0() {
    // Gearman::Task::pack_submit_packet writes `$uniq || ''` and `${ $argref } || ''`: the
    // Perl-false strings "0" (and "") go out empty.
    let fixture = PeerClients::start(PEER);
    let output = fixture.call("call", "bin", b"0", "0", 1);
    assert_eq!(output.ok_lines(), ["0 complete ", "end"]);
    let seen = fixture.ours().seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (&seen[0].workload[..], &seen[0].unique[..]),
        (&b""[..], &b""[..])
    );
}

#[test]
fn perl_client_events_in_order() {
    from_peer::events(PEER);
}

#[test]
fn perl_client_failures() {
    from_peer::failures(PEER);
}

#[test]
fn perl_client_exceptions() {
    // With `exceptions => 1` on_exception gets the text (and neither on_fail nor on_complete
    // runs).
    let fixture = from_peer::exception_with_option(PEER);
    // Without it (the default) gearmand sends WORK_FAIL with a stray NUL after the handle;
    // Gearman::Taskset looks the handle up with the NUL and dies.
    let output = fixture.call("call-plain", "raise", b"x", "none", 1);
    assert!(!output.status.success() && !output.killed, "{output:#?}");
    assert!(output.lines.is_empty(), "{output:#?}");
    assert!(
        output
            .stderr
            .contains("Got work_fail for unknown handle: H:"),
        "{output:#?}"
    );
}

#[test]
fn perl_client_background_priorities() {
    from_peer::background_priorities(PEER);
}

#[test]
fn perl_client_background_status() {
    // Gearman::Client has get_status (by handle, which it writes "host:port//H:..."); it has
    // no status-by-unique call.
    from_peer::background_status(PEER);
}

#[test]
fn perl_client_coalesces_with_our_client() {
    // Gearman::Taskset keeps a list of tasks per handle, so two tasks with one unique in one
    // task set both get the result.
    from_peer::coalesce(PEER, 2, common::peer::PEER_WAIT).assert_one_run_for_all(2);
}

#[test]
fn perl_worker_binary_payload() {
    to_peer::binary(PEER);
}

#[test]
fn perl_worker_result_0_or_empty_is_never_delivered() {
    // Gearman::Worker::_job_request sends `$v ? "$handle\0$v" : $handle`: a result of "0" or
    // "" goes out as WORK_COMPLETE without the NUL after the handle. gearmand (1.1.x, 2.0.0)
    // take it for a broken packet and close the worker's connection; the job goes back to the
    // queue, the worker reconnects and runs it again, and again, and the client never gets a
    // result.
    let mut fixture = PeerWorker::start(PEER);
    let callers = ["0", ""].map(|workload| {
        let mut client = Client::builder()
            .servers(fixture.server.addr().as_str())
            .job_timeout(Duration::from_secs(1))
            .build()
            .expect("client");
        std::thread::spawn(move || client.do_normal("bin", workload))
    });
    // Both jobs run at least twice (and go on until the worker is killed).
    let mut runs = [0, 0];
    while runs.iter().any(|&count| count < 2) {
        let line = fixture.worker().next_line(Duration::from_secs(10));
        match line.as_str() {
            "job bin - 30" => runs[0] += 1,
            "job bin - " => runs[1] += 1,
            other => panic!("unexpected line {other:?}"),
        }
    }
    for caller in callers {
        match caller.join().expect("our client") {
            Err(error) if error.is_timeout() => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
}

#[test]
fn perl_worker_events_in_order() {
    // Gearman::Job::set_status sends both numbers; Gearman::Worker::send_work_status would
    // drop the denominator (it passes two values to _job_request, which takes one), so the
    // peer script does not use it.
    to_peer::events(PEER);
}

#[test]
fn perl_worker_fail() {
    to_peer::fail(PEER);
}

#[test]
fn perl_worker_dies_after_an_exception() {
    // A handler that dies makes Gearman::Worker send WORK_EXCEPTION with the error frozen by
    // Storable::nfreeze (not the text), then a WORK_FAIL for the same job. gearmand has already
    // ended the job, answers ERROR JOB_NOT_FOUND, and Gearman::Worker::work dies on that
    // "unexpected packet type": one exception ends the worker process.
    let frozen_boom = format!("050b0a05{}0a", interop::BOOM); // \"boom\n"
    let mut fixture = PeerWorker::start(PEER);
    match fixture.client.do_normal("exception", "x") {
        Err(Error::JobException { data, .. }) => assert_eq!(hex(&data), frozen_boom),
        other => panic!("expected JobException, got {other:?}"),
    }
    assert_died_on_job_not_found(&mut fixture);
    // A client without exceptions gets WORK_FAIL (with gearmand's stray NUL); the same death.
    fixture.start_worker();
    match to_peer::without_exceptions(&fixture).do_normal("exception", "x") {
        Err(Error::JobFailed { warning: None, .. }) => {}
        other => panic!("expected JobFailed without a warning, got {other:?}"),
    }
    assert_died_on_job_not_found(&mut fixture);
}

#[track_caller]
fn assert_died_on_job_not_found(fixture: &mut PeerWorker) {
    let output = fixture.worker_exits();
    assert!(!output.killed, "the worker did not exit: {output:#?}");
    assert!(
        output
            .stderr
            .contains("unexpected packet type: error [JOB_NOT_FOUND"),
        "{output:#?}"
    );
}

#[test]
fn perl_worker_background_priorities() {
    to_peer::background_priorities(PEER);
}

#[test]
fn perl_worker_background_status() {
    to_peer::background_status(PEER);
}

#[test]
fn perl_worker_coalesced_jobs_run_once() {
    let jobs = to_peer::coalesce(PEER);
    // Gearman::Worker grabs with GRAB_JOB, so it never sees the unique.
    assert_eq!(jobs[0].unique, "-");
}
