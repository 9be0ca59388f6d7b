//! Interop with Python's `gear` (pure Python, from PyPI), both ways: a gear client with our
//! worker, our client with a gear worker (`tests/peers/*.py`). `scripts/test` installs gear in
//! a venv (`~/.cache/gearman-sync/venv`, or the interpreter in `$GEAR_PYTHON`); without it these
//! tests fail with the command to run. The results per case, and gear's bugs asserted below,
//! are in the interop table (docs/INTEROP.md).

mod common;
mod interop;
mod util;

use std::time::Duration;

use common::peer::{hex, Peer, PEER_WAIT};
use interop::{from_peer, to_peer};

const PEER: Peer = Peer::Python;

#[test]
fn python_client_binary_payload() {
    from_peer::binary(PEER);
}

#[test]
fn python_client_events_in_order() {
    // gear appends WORK_DATA and WORK_WARNING payloads to one list and keeps only the last
    // status; the peer script sees the order by overriding gear's packet handlers, which is
    // gear's documented way to react to events.
    from_peer::events(PEER);
}

#[test]
fn python_client_failures() {
    from_peer::failures(PEER);
}

#[test]
fn python_client_exceptions() {
    // With setOption("exceptions") gear reports WORK_EXCEPTION; without it gearmand's
    // WORK_FAIL with a stray NUL is matched all the same (gear splits the body at NULs).
    let fixture = from_peer::exception_with_option(PEER);
    let output = fixture.call("call-plain", "raise", b"x", "none", 1);
    assert_eq!(output.ok_lines(), ["0 fail", "end"]);
}

#[test]
fn python_client_background_priorities() {
    from_peer::background_priorities(PEER);
}

#[test]
fn python_client_background_status() {
    // gear has no call that sends GET_STATUS (only a STATUS_RES handler for jobs it
    // submitted): the peer script sends it with gear's own Packet and connection. It has no
    // status-by-unique call.
    from_peer::background_status(PEER);
}

#[test]
fn python_client_coalesces_with_our_client() {
    from_peer::coalesce(PEER, 1, PEER_WAIT).assert_one_run_for_all(1);
}

#[test]
fn python_client_loses_a_coalesced_job_on_its_own_connection() {
    // gear keeps one Job per handle and connection: a second submission with the same unique
    // gets the same handle and replaces the first Job, which never completes; the second
    // WORK_COMPLETE for that handle then raises UnknownJobError in gear's poll thread.
    let coalesced = from_peer::coalesce(PEER, 2, Duration::from_millis(1000));
    let complete = format!("complete {}", hex(&util::reversed(from_peer::COALESCED)));
    assert_eq!(coalesced.peer.task(0), Vec::<&str>::new(), "{coalesced:#?}");
    assert_eq!(
        coalesced.peer.task(1),
        [complete.as_str()],
        "{coalesced:#?}"
    );
    assert_eq!(coalesced.peer.ok_lines().last(), Some(&"timeout"));
    assert!(
        coalesced.peer.stderr.contains("UnknownJobError"),
        "{coalesced:#?}"
    );
    // gearmand itself did its part: one run, and our client got the result.
    assert_eq!(coalesced.seen.len(), 1, "{coalesced:#?}");
    assert!(coalesced.ours.is_ok(), "{coalesced:#?}");
}

#[test]
fn python_worker_binary_payload() {
    to_peer::binary(PEER);
}

#[test]
fn python_worker_events_in_order() {
    to_peer::events(PEER);
}

#[test]
fn python_worker_fail() {
    to_peer::fail(PEER);
}

#[test]
fn python_worker_exception() {
    to_peer::exception(PEER);
}

#[test]
fn python_worker_background_priorities() {
    to_peer::background_priorities(PEER);
}

#[test]
fn python_worker_background_status() {
    to_peer::background_status(PEER);
}

#[test]
fn python_worker_coalesced_jobs_run_once() {
    let jobs = to_peer::coalesce(PEER);
    assert_eq!(jobs[0].unique, hex(b"same-unique"));
}
