//! Interop with PHP's PECL gearman extension (libgearman underneath), both ways: a PHP client
//! with our worker, our client with a PHP worker (`tests/peers/*.php`). PHP is installed by
//! `scripts/test` (`php-cli`, `php-gearman`); without it these tests fail with the command to
//! run. The results per case, and PECL's bugs, are in the interop table (docs/INTEROP.md).

mod common;
mod interop;
mod util;

use std::time::Duration;

use common::peer::Peer;
use interop::{from_peer, to_peer, PeerClients};

const PEER: Peer = Peer::Php;

#[test]
fn php_client_binary_payload() {
    from_peer::binary(PEER);
}

#[test]
fn php_client_refuses_an_empty_workload() {
    // libgearman's add_task refuses an empty workload (GEARMAN_INVALID_ARGUMENT "invalid
    // workload"), so PECL cannot submit one; nothing reaches gearmand.
    let fixture = PeerClients::start(PEER);
    let output = fixture.call("call", "bin", b"", "none", 1);
    let lines = output.ok_lines();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error "),
        "{output:#?}"
    );
    assert!(fixture.ours().seen().is_empty());
}

#[test]
fn php_client_events_in_order() {
    from_peer::events(PEER);
}

#[test]
fn php_client_failures() {
    from_peer::failures(PEER);
}

#[test]
fn php_client_exceptions() {
    let fixture = from_peer::exception_with_option(PEER);
    // Without the option (addServer(..., false) and no exception callback, which would ask
    // for it) gearmand sends WORK_FAIL with a stray NUL after the handle; libgearman 1.1.x
    // matches no task with it and waits until its timeout.
    let output = fixture.peer.client_waiting(
        fixture.server.port(),
        Duration::from_millis(1000),
        &["call-plain", "raise", "78", "none", "1"],
    );
    assert_eq!(output.ok_lines(), ["timeout"], "{output:#?}");
}

#[test]
fn php_client_background_priorities() {
    from_peer::background_priorities(PEER);
}

#[test]
fn php_client_background_status() {
    from_peer::background_status(PEER);
}

#[test]
fn php_client_coalesces_with_our_client() {
    // Two PECL tasks with one unique in one runTasks, and one of our client's.
    from_peer::coalesce(PEER, 2, common::peer::PEER_WAIT).assert_one_run_for_all(2);
}

#[test]
fn php_worker_binary_payload() {
    to_peer::binary(PEER);
}

#[test]
fn php_worker_events_in_order() {
    to_peer::events(PEER);
}

#[test]
fn php_worker_fail() {
    to_peer::fail(PEER);
}

#[test]
fn php_worker_exception() {
    to_peer::exception(PEER);
}

#[test]
fn php_worker_background_priorities() {
    to_peer::background_priorities(PEER);
}

#[test]
fn php_worker_background_status() {
    to_peer::background_status(PEER);
}

#[test]
fn php_worker_coalesced_jobs_run_once() {
    let jobs = to_peer::coalesce(PEER);
    assert_eq!(jobs[0].unique, common::peer::hex(b"same-unique"));
}
