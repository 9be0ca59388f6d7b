//! Client and worker through a fault-injecting proxy in front of a real gearmand: split and
//! delayed traffic still works; cuts, resets and blackholes give honest errors within the
//! deadline, never a hang or a wrong result.

mod common;
mod util;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use common::Gearmand;
use gearman_sync::UniqueMode;
use gearman_sync::{Client, Error, Task, TaskOutcome};
use util::proxy::{Fault, FaultProxy};
use util::{reversed, WorkerThread};

fn client(addr: &str, timeout: Duration) -> Client {
    Client::builder()
        .servers(addr)
        .unique_mode(UniqueMode::Random)
        .job_timeout(timeout)
        .probe_timeout(Duration::from_millis(500))
        .build()
        .expect("client")
}

fn slow_reverse_worker(addr: &str, delay: Duration) -> WorkerThread {
    WorkerThread::spawn(addr, move |worker| {
        worker
            .add_ability("reverse", move |job| {
                job.send_status(1, 2)?;
                std::thread::sleep(delay);
                job.send_data(b"partial")?;
                Ok(reversed(job.workload()))
            })
            .expect("ability");
    })
}

#[test]
fn every_operation_works_with_one_byte_writes_and_delays() {
    let server = Gearmand::start();
    for fault in [Fault::OneByte, Fault::Delay(Duration::from_millis(3))] {
        let worker_proxy = FaultProxy::start(&server.addr(), fault);
        let client_proxy = FaultProxy::start(&server.addr(), fault);
        let _worker = slow_reverse_worker(worker_proxy.addr(), Duration::ZERO);
        let mut client = client(client_proxy.addr(), Duration::from_secs(20));
        let progress = RefCell::new(Vec::new());
        let result = client
            .do_task(
                Task::new("reverse", "split me")
                    .on_status(|n, d| progress.borrow_mut().push((n, d)))
                    .on_data(|data| assert_eq!(data, b"partial")),
            )
            .expect("foreground job");
        assert_eq!(result, b"em tilps", "{fault:?}");
        assert_eq!(progress.into_inner(), [(1, 2)]);
        let payload: Vec<u8> = (0..=255u8).collect();
        assert_eq!(client.echo(&payload).expect("echo"), payload);
        let handle = client
            .submit_background(Task::new("queued_only", "x").unique("fault-unique"))
            .expect("background");
        assert!(client.status(&handle).expect("status").known);
        assert!(
            client
                .status_by_unique("fault-unique")
                .expect("by unique")
                .status
                .known
        );
        let mut set = client.task_set();
        for index in 0..20 {
            set.add_task(Task::new("reverse", format!("item-{index}")))
                .expect("add");
        }
        let summary = set.wait(Duration::from_secs(30)).expect("wait");
        assert_eq!(summary.completed.len(), 20, "{fault:?}: {summary:?}");
        for id in summary.completed {
            let expected = reversed(format!("item-{}", id.index()).as_bytes());
            assert!(
                matches!(set.outcome(id), Some(TaskOutcome::Completed(data)) if *data == expected)
            );
        }
    }
}

#[test]
fn a_cut_before_job_created_is_reported_as_maybe_submitted() {
    let server = Gearmand::start();
    let proxy = FaultProxy::start(&server.addr(), Fault::Pass);
    let mut client = client(proxy.addr(), Duration::from_secs(5));
    client.echo("warm up").expect("connect through the proxy");
    proxy.set(Fault::CutAfter(3)); // JOB_CREATED is cut three bytes into its header
    let started = Instant::now();
    match client.do_normal("reverse", "x") {
        Err(error @ Error::SubmitUnconfirmed { .. }) => assert!(error.may_have_been_submitted()),
        other => panic!("expected SubmitUnconfirmed, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_cut_or_reset_after_job_created_loses_the_job_honestly() {
    let server = Gearmand::start();
    let _worker = slow_reverse_worker(&server.addr(), Duration::from_millis(400));
    for fault in [Fault::CutAfter(5), Fault::Reset] {
        let proxy = FaultProxy::start(&server.addr(), Fault::Pass);
        let mut client = client(proxy.addr(), Duration::from_secs(10));
        let mut set = client.task_set();
        let id = set.add_task(Task::new("reverse", "abc")).expect("add");
        // Wait in slices (open tasks stay open) until the job is created and running.
        common::wait_until(Duration::from_secs(5), || {
            let _ = set.wait(Duration::from_millis(10));
            set.handle(id).is_some()
        });
        assert!(set.outcome(id).is_none(), "still running");
        proxy.set(fault); // the next bytes from the server are cut mid-packet, or reset
        let started = Instant::now();
        set.wait(Duration::from_secs(5)).expect("wait");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{fault:?}: no hang"
        );
        match set.take_outcome(id) {
            Some(TaskOutcome::Failed(Error::JobLost { .. })) => {}
            other => panic!("{fault:?}: expected JobLost, got {other:?}"),
        }
    }
}

#[test]
fn a_blackholed_server_hits_the_deadline() {
    let server = Gearmand::start();
    let proxy = FaultProxy::start(&server.addr(), Fault::Blackhole);
    let mut fresh = client(proxy.addr(), Duration::from_secs(1));
    let started = Instant::now();
    assert!(matches!(
        fresh.do_normal("reverse", "x"),
        Err(Error::NoJobServers(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(2), "probe deadline");

    proxy.set(Fault::Pass);
    let mut client = client(proxy.addr(), Duration::from_secs(1));
    client.echo("connected").expect("echo");
    proxy.set(Fault::Blackhole);
    let started = Instant::now();
    assert!(matches!(
        client.do_normal("reverse", "x"),
        Err(Error::SubmitUnconfirmed { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(2), "job deadline");
    // The connection that owed a JOB_CREATED was closed; a new one cannot pass the probe.
    let started = Instant::now();
    match client.echo("x") {
        Err(Error::NoJobServers(failures)) => {
            assert!(
                failures[0].to_string().contains("timed out"),
                "{failures:?}"
            )
        }
        other => panic!("expected NoJobServers, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "probe deadline");
}

#[test]
fn a_worker_behind_a_resetting_proxy_reconnects_and_serves() {
    let server = Gearmand::start();
    let proxy = FaultProxy::start(&server.addr(), Fault::Pass);
    let _worker = slow_reverse_worker(proxy.addr(), Duration::ZERO);
    let mut client = client(&server.addr(), Duration::from_secs(10));
    assert_eq!(client.do_normal("reverse", "one").expect("first"), b"eno");
    proxy.set(Fault::Reset);
    // Any traffic now resets the worker's connection; gearmand notices the close.
    client.do_background("reverse", "trigger").expect("submit");
    std::thread::sleep(Duration::from_millis(300));
    proxy.set(Fault::Pass);
    assert_eq!(
        client.do_normal("reverse", "two").expect("after reconnect"),
        b"owt"
    );
}

/// A scripted server (gearmand cannot be told to do this): the first connection swallows a
/// submission and closes; the pool's idle check then reconnects under the open task set.
#[test]
fn a_reconnect_under_a_task_set_never_hands_a_reply_to_the_wrong_task() {
    use gearman_sync::protocol::PacketType;
    let server = util::fake::FakeServer::start(|peer, index| {
        if index == 0 {
            peer.expect(PacketType::SubmitJob);
            std::thread::sleep(Duration::from_millis(200));
            return; // closes without answering
        }
        let Some(_) = peer.expect(PacketType::SubmitJob) else {
            return;
        };
        peer.reply(PacketType::JobCreated, &[b"H:2"]);
        peer.reply(PacketType::WorkComplete, &[b"H:2", b"result-of-B"]);
        peer.linger();
    });
    let mut client = client(server.addr(), Duration::from_secs(5));
    let mut set = client.task_set();
    let first = set.add_task(Task::new("f", "A")).expect("add A");
    assert_eq!(
        set.wait(Duration::from_millis(100))
            .expect("wait")
            .timed_out,
        [first]
    );
    std::thread::sleep(Duration::from_millis(700)); // closed, and idle long enough to be re-checked
    let second = set.add_task(Task::new("f", "B")).expect("add B");
    set.wait(Duration::from_secs(2)).expect("wait");
    match set.outcome(first) {
        Some(TaskOutcome::Failed(Error::SubmitUnconfirmed { .. })) => {}
        other => panic!("A: expected SubmitUnconfirmed, got {other:?}"),
    }
    match set.outcome(second) {
        Some(TaskOutcome::Completed(data)) => assert_eq!(data, b"result-of-B"),
        other => panic!("B: expected its own result, got {other:?}"),
    }
}

mod worker_replies {
    //! Scripted servers that answer a worker's GRAB late, with an ERROR, or never.
    use super::*;
    use gearman_sync::protocol::PacketType;
    use gearman_sync::Worker;
    use util::fake::FakeServer;

    fn worker(addr: &str, idle: Duration, io_timeout: Duration) -> Worker {
        let mut worker = Worker::builder()
            .servers(addr)
            .max_idle(idle)
            .io_timeout(io_timeout)
            .build()
            .expect("worker");
        worker
            .add_ability("f", |job| Ok(job.workload().to_vec()))
            .expect("ability");
        worker
    }

    #[test]
    fn a_grab_reply_arriving_while_stopping_is_not_lost() {
        let server = FakeServer::start(|peer, _| {
            peer.expect(PacketType::GrabJobUniq);
            // Past the reply grace of work() and of its stop drain: it arrives during the final sync.
            std::thread::sleep(Duration::from_millis(2500));
            peer.reply(PacketType::NoJob, &[]);
            let Some(echo) = peer.expect(PacketType::EchoReq) else {
                return;
            };
            peer.reply(PacketType::EchoRes, &[echo.arg(0)]);
            peer.expect(PacketType::GrabJobUniq);
            peer.reply(PacketType::JobAssignUniq, &[b"H:1", b"f", b"", b"later"]);
            peer.expect(PacketType::WorkComplete);
            peer.linger();
        });
        let mut worker = worker(
            server.addr(),
            Duration::from_millis(300),
            Duration::from_secs(30),
        );
        let summary = worker.work().expect("work");
        assert_eq!(summary.jobs, 0);
        assert!(
            worker.work_one(Duration::from_secs(3)).expect("work_one"),
            "the worker grabs again"
        );
    }

    #[test]
    fn an_error_in_reply_to_grab_or_no_reply_at_all_makes_the_worker_reconnect() {
        for silent in [false, true] {
            let script = move |peer: &mut util::fake::Peer, index: usize| {
                peer.expect(PacketType::GrabJobUniq);
                if index == 0 {
                    if !silent {
                        peer.reply(
                            PacketType::Error,
                            &[b"INVALID_COMMAND", b"Command not expected"],
                        );
                    }
                    peer.linger(); // the ERROR, or nothing at all, is all this GRAB gets
                    return;
                }
                peer.reply(
                    PacketType::JobAssignUniq,
                    &[b"H:2", b"f", b"", b"second server connection"],
                );
                peer.expect(PacketType::WorkComplete);
                peer.linger();
            };
            let server = FakeServer::start(script);
            let mut worker = worker(
                server.addr(),
                Duration::from_secs(5),
                Duration::from_secs(1),
            );
            let started = Instant::now();
            assert!(
                worker.work_one(Duration::from_secs(5)).expect("work_one"),
                "silent={silent}"
            );
            assert!(server.connections() >= 2, "silent={silent}: reconnected");
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "silent={silent}: {:?}",
                started.elapsed()
            );
        }
    }
}
