//! The worker against a real gearmand: handler outcomes (seen by our client and by the
//! libgearman CLI), progress order, panics, several servers, restarts with a persistent queue,
//! wake-up latency, lifecycle limits, stopping, and CANT_DO.

mod common;
mod util;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{admin, gearman_cli, parse_status, queued, Gearmand};
use gearman_sync::UniqueMode;
use gearman_sync::{Client, Error, Task, Worker};
use gearman_sync::{ExceptionMode, GrabMode, JobError, StopReason};
use util::{reversed, test_client as client, WorkerThread};

/// A worker with one ability per handler outcome; `mode` None keeps the default exception mode.
fn outcomes_worker(addr: &str, mode: Option<ExceptionMode>) -> WorkerThread {
    let mut builder = Worker::builder().servers(addr);
    if let Some(mode) = mode {
        builder = builder.exceptions(mode);
    }
    let mut worker = builder.build().expect("worker");
    worker
        .add_ability("ok", |job| Ok(reversed(job.workload())))
        .expect("ability");
    worker
        .add_ability("fail", |_| Err(JobError::Fail))
        .expect("ability");
    worker
        .add_ability("exception", |_| Err(JobError::exception("bad input")))
        .expect("ability");
    worker
        .add_ability("panic", |_| panic!("handler exploded"))
        .expect("ability");
    worker
        .add_ability("explicit", |job| {
            job.complete(b"explicit result")?;
            assert!(matches!(
                job.send_data(b"late"),
                Err(Error::JobFinished { .. })
            ));
            Ok(b"ignored return value".to_vec())
        })
        .expect("ability");
    worker
        .add_ability("explicit_exception", |job| {
            job.exception(b"explicitly raised")?;
            Ok(b"ignored".to_vec())
        })
        .expect("ability");
    worker
        .add_ability("io_error", |_| {
            let error = std::io::Error::other("disk full");
            Err(error)?
        })
        .expect("ability");
    WorkerThread::run(worker)
}

#[test]
fn every_handler_outcome_as_seen_by_our_client() {
    let server = Gearmand::start();
    let _worker = outcomes_worker(&server.addr(), Some(ExceptionMode::Exception));
    let mut client = client(&server.addr());
    assert_eq!(client.do_normal("ok", "abc").expect("ok"), b"cba");
    assert!(matches!(
        client.do_normal("fail", "x"),
        Err(Error::JobFailed { .. })
    ));
    match client.do_normal("exception", "x") {
        Err(Error::JobException { data, .. }) => assert_eq!(data, b"bad input"),
        other => panic!("expected exception, got {other:?}"),
    }
    match client.do_normal("panic", "x") {
        Err(Error::JobException { data, .. }) => assert_eq!(data, b"panic: handler exploded"),
        other => panic!("expected exception, got {other:?}"),
    }
    assert_eq!(
        client.do_normal("explicit", "x").expect("explicit"),
        b"explicit result"
    );
    match client.do_normal("explicit_exception", "x") {
        Err(Error::JobException { data, .. }) => assert_eq!(data, b"explicitly raised"),
        other => panic!("expected exception, got {other:?}"),
    }
    match client.do_normal("io_error", "x") {
        Err(Error::JobException { data, .. }) => assert_eq!(data, b"disk full"),
        other => panic!("expected exception, got {other:?}"),
    }
    // The worker survived the panic.
    assert_eq!(client.do_normal("ok", "after").expect("ok"), b"retfa");
}

#[test]
fn by_default_failures_with_a_text_reach_our_client_as_a_failure_with_that_text() {
    let server = Gearmand::start();
    let _worker = outcomes_worker(&server.addr(), None);
    let mut client = client(&server.addr());
    let texts = [
        ("fail", None),
        ("exception", Some("bad input")),
        ("panic", Some("panic: handler exploded")),
        ("explicit_exception", Some("explicitly raised")),
        ("io_error", Some("disk full")),
    ];
    for (function, text) in texts {
        match client.do_normal(function, "x") {
            Err(Error::JobFailed { warning, .. }) => {
                assert_eq!(warning.as_deref(), text.map(str::as_bytes), "{function}")
            }
            other => panic!("{function}: expected a failure, got {other:?}"),
        }
    }
    let error = client.do_normal("exception", "x").expect_err("fails");
    assert!(error.to_string().ends_with("failed: bad input"), "{error}");
    assert_eq!(client.do_normal("ok", "after").expect("ok"), b"retfa");
}

fn cli(port: u16, function: &str, workload: &str) -> std::process::Output {
    Command::new("timeout")
        .args(["10"])
        .arg(gearman_cli())
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-f",
            function,
            workload,
        ])
        .output()
        .expect("run gearman")
}

#[test]
fn every_handler_outcome_as_seen_by_the_libgearman_cli() {
    let server = Gearmand::start();
    // libgearman 1.1.x clients cannot ask for exceptions and hang on the WORK_FAIL gearmand
    // makes of one, so by default the worker reports them as WORK_WARNING + WORK_FAIL, and the
    // CLI exits non-zero (within `cli`'s 10 s bound).
    let _worker = outcomes_worker(&server.addr(), None);
    let ok = cli(server.port(), "ok", "hello");
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(ok.stdout, b"olleh");
    for function in ["fail", "exception", "panic", "explicit_exception"] {
        let output = cli(server.port(), function, "x");
        assert_eq!(output.status.code(), Some(1), "{function}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("failed"),
            "{function}: {output:?}"
        );
    }
    let explicit = cli(server.port(), "explicit", "x");
    assert_eq!(explicit.stdout, b"explicit result");
}

#[test]
fn status_data_and_warnings_arrive_in_order() {
    let server = Gearmand::start();
    let _worker = WorkerThread::spawn(&server.addr(), |worker| {
        worker
            .add_ability("stream", |job| {
                for step in 1..=5u32 {
                    job.send_status(step, 5)?;
                    job.send_data(format!("chunk-{step}"))?;
                    if step == 3 {
                        job.send_warning("halfway")?;
                    }
                }
                Ok(b"end".to_vec())
            })
            .expect("ability");
    });
    let events = std::cell::RefCell::new(Vec::new());
    let task = Task::new("stream", "x")
        .on_status(|n, d| events.borrow_mut().push(format!("s{n}/{d}")))
        .on_data(|data| {
            events
                .borrow_mut()
                .push(String::from_utf8_lossy(data).into_owned())
        })
        .on_warning(|data| {
            events
                .borrow_mut()
                .push(format!("w:{}", String::from_utf8_lossy(data)))
        });
    let mut client = client(&server.addr());
    assert_eq!(client.do_task(task).expect("job"), b"end");
    let expected = [
        "s1/5",
        "chunk-1",
        "s2/5",
        "chunk-2",
        "s3/5",
        "chunk-3",
        "w:halfway",
        "s4/5",
        "chunk-4",
        "s5/5",
        "chunk-5",
    ];
    assert_eq!(events.into_inner(), expected);
}

#[test]
fn callbacks_fire_and_a_panicking_callback_is_not_fatal() {
    let server = Gearmand::start();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut worker = Worker::new(&server.addr()).expect("worker");
    worker
        .add_ability("ok", |job| Ok(job.workload().to_vec()))
        .expect("ability");
    worker
        .add_ability("fail", |_| Err(JobError::Fail))
        .expect("ability");
    let record = |name: &'static str, log: &Arc<Mutex<Vec<String>>>| {
        let log = Arc::clone(log);
        move |event: &gearman_sync::JobEvent<'_>| {
            log.lock().expect("lock").push(format!(
                "{name} {}",
                String::from_utf8_lossy(event.function)
            ));
        }
    };
    let connects = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connects);
    worker.on_connect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    worker.on_job_assign(record("assign", &log));
    worker.on_work_complete(record("complete", &log));
    worker.on_work_fail(record("fail", &log));
    worker.on_no_job(|_| panic!("callback panics are logged, not fatal"));
    let _running = WorkerThread::run(worker);
    let mut client = client(&server.addr());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(client.do_normal("ok", "x").expect("ok"), b"x");
    assert!(client.do_normal("fail", "x").is_err());
    assert_eq!(client.do_normal("ok", "y").expect("still alive"), b"y");
    common::wait_until(Duration::from_secs(5), || {
        log.lock().expect("lock").len() >= 6
    });
    assert_eq!(
        log.lock().expect("lock")[..6],
        [
            "assign ok",
            "complete ok",
            "assign fail",
            "fail fail",
            "assign ok",
            "complete ok"
        ]
    );
    assert_eq!(connects.load(Ordering::SeqCst), 1);
}

#[test]
fn grab_modes_deliver_the_unique() {
    let server = Gearmand::start();
    let mut client = client(&server.addr());
    for (mode, expected) in [
        (GrabMode::Unique, "u-1"),
        (GrabMode::All, "u-2"),
        (GrabMode::Plain, ""),
    ] {
        let unique = if expected.is_empty() { "u-3" } else { expected };
        client
            .submit_background(Task::new("uniq", "x").unique(unique))
            .expect("submit");
        let seen = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&seen);
        let mut worker = Worker::builder()
            .servers(&server.addr())
            .grab_mode(mode)
            .build()
            .expect("worker");
        worker
            .add_ability("uniq", move |job| {
                *slot.lock().expect("lock") =
                    Some((job.unique().to_vec(), job.reducer().map(<[u8]>::to_vec)));
                Ok(Vec::new())
            })
            .expect("ability");
        assert!(
            worker.work_one(Duration::from_secs(5)).expect("work_one"),
            "{mode:?}"
        );
        let (unique, reducer) = seen.lock().expect("lock").take().expect("ran");
        assert_eq!(unique, expected.as_bytes(), "{mode:?}");
        assert_eq!(reducer, None, "{mode:?}: plain jobs carry no reducer");
    }
}

#[test]
fn jobs_from_both_servers_are_served_and_one_dying_does_not_stop_the_other() {
    let first = Gearmand::start();
    let mut second = Gearmand::start();
    let list = format!("{},{}", first.addr(), second.addr());
    let served = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let record = Arc::clone(&served);
    let _worker = WorkerThread::spawn(&list, move |worker| {
        worker
            .add_ability("where", move |job| {
                *record
                    .lock()
                    .expect("lock")
                    .entry(job.server().to_string())
                    .or_default() += 1;
                Ok(job.workload().to_vec())
            })
            .expect("ability");
    });
    let mut on_first = client(&first.addr());
    let mut on_second = client(&second.addr());
    for index in 0..5 {
        assert_eq!(
            on_first
                .do_normal("where", format!("a{index}"))
                .expect("first"),
            format!("a{index}").as_bytes()
        );
        assert_eq!(
            on_second
                .do_normal("where", format!("b{index}"))
                .expect("second"),
            format!("b{index}").as_bytes()
        );
    }
    assert_eq!(served.lock().expect("lock").get(&first.addr()), Some(&5));
    assert_eq!(served.lock().expect("lock").get(&second.addr()), Some(&5));
    second.stop();
    for index in 0..5 {
        assert_eq!(
            on_first
                .do_normal("where", format!("c{index}"))
                .expect("first after kill"),
            format!("c{index}").as_bytes()
        );
    }
    assert_eq!(served.lock().expect("lock").get(&first.addr()), Some(&10));
}

#[test]
fn worker_serves_again_within_two_seconds_of_a_restart() {
    let mut server = Gearmand::start();
    let _worker = WorkerThread::spawn(&server.addr(), |worker| {
        worker
            .add_ability("reverse", |job| Ok(reversed(job.workload())))
            .expect("ability");
    });
    let mut client = client(&server.addr());
    assert_eq!(client.do_normal("reverse", "abc").expect("before"), b"cba");
    server.stop();
    std::thread::sleep(Duration::from_secs(3)); // let the worker's backoff grow
    server.restart();
    let back = Instant::now();
    let mut client = Client::builder()
        .servers(&server.addr())
        .unique_mode(UniqueMode::Random)
        .job_timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    assert_eq!(
        client.do_normal("reverse", "xyz").expect("after restart"),
        b"zyx"
    );
    assert!(
        back.elapsed() < Duration::from_secs(2),
        "served again after {:?}",
        back.elapsed()
    );
}

#[test]
fn persistent_queue_survives_a_restart_with_nothing_lost_or_doubled() {
    let mut server = Gearmand::builder().sqlite_queue().start();
    let runs = Arc::new(Mutex::new(HashMap::<Vec<u8>, usize>::new()));
    let last_started = Arc::new(Mutex::new(None::<Vec<u8>>));
    let (record, current) = (Arc::clone(&runs), Arc::clone(&last_started));
    let worker = {
        let mut worker = Worker::builder()
            .servers(&server.addr())
            .client_id("persist-worker")
            .build()
            .expect("worker");
        worker
            .add_ability("persist", move |job| {
                *current.lock().expect("lock") = Some(job.unique().to_vec());
                std::thread::sleep(Duration::from_millis(10));
                *record
                    .lock()
                    .expect("lock")
                    .entry(job.unique().to_vec())
                    .or_default() += 1;
                Ok(Vec::new())
            })
            .expect("ability");
        worker
    };
    let mut client = client(&server.addr());
    let total = 200;
    let mut set = client.task_set();
    for index in 0..total {
        set.add_task(
            Task::new("persist", "x")
                .background()
                .unique(format!("job-{index}")),
        )
        .expect("add");
    }
    let summary = set.wait(Duration::from_secs(20)).expect("wait");
    assert_eq!(summary.completed.len(), total);
    drop(set);
    let _worker = WorkerThread::run(worker);
    common::wait_until(Duration::from_secs(10), || {
        runs.lock().expect("lock").len() >= 20
    });
    server.stop();
    // The worker holds one job at a time and sends each GRAB after the previous result, so
    // only the last job started before the kill can be replayed (running, or its
    // WORK_COMPLETE not yet processed).
    let in_flight = last_started.lock().expect("lock").clone();
    server.restart();
    common::wait_until(Duration::from_secs(30), || {
        runs.lock().expect("lock").len() == total
    });
    common::wait_until(Duration::from_secs(5), || {
        queued(&server.addr(), "persist") == 0
    });
    let runs = runs.lock().expect("lock").clone();
    let doubled: Vec<_> = runs
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(unique, _)| unique.clone())
        .collect();
    assert!(
        doubled.len() <= 1,
        "only the job running at the kill may run twice: {doubled:?}"
    );
    if let Some(unique) = doubled.first() {
        assert_eq!(
            Some(unique),
            in_flight.as_ref(),
            "the doubled job was the last one started"
        );
    }
    assert!(
        admin(&server.addr(), "workers").contains(" persist-worker : persist"),
        "client id re-sent"
    );
}

#[test]
fn an_idle_worker_wakes_at_once_for_a_job_on_any_server() {
    let first = Gearmand::start();
    let second = Gearmand::start();
    let list = format!("{},{}", first.addr(), second.addr());
    let (started_tx, started_rx) = mpsc::channel::<Instant>();
    let started_tx = Mutex::new(started_tx);
    let _worker = WorkerThread::spawn(&list, move |worker| {
        worker
            .add_ability("wake", move |_| {
                started_tx
                    .lock()
                    .expect("lock")
                    .send(Instant::now())
                    .map_err(|_| JobError::Fail)?;
                Ok(Vec::new())
            })
            .expect("ability");
    });
    let mut latencies = Vec::new();
    for round in 0..6 {
        std::thread::sleep(Duration::from_millis(300)); // idle: PRE_SLEEP sent everywhere
        let addr = if round % 2 == 0 {
            first.addr()
        } else {
            second.addr()
        };
        let mut client = client(&addr);
        let submitted = Instant::now();
        client
            .do_background("wake", format!("{round}"))
            .expect("submit");
        let started = started_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("job started");
        latencies.push(started.saturating_duration_since(submitted));
    }
    latencies.sort();
    // Woken by NOOP, not by the 200 ms idle slice: the median start is far below it.
    assert!(
        latencies[latencies.len() / 2] < Duration::from_millis(50),
        "{latencies:?}"
    );
}

#[test]
fn max_jobs_idle_limit_and_minimum_runtime() {
    let server = Gearmand::start();
    let mut client = client(&server.addr());
    for index in 0..5 {
        client
            .do_background("limited", format!("{index}"))
            .expect("submit");
    }
    let mut worker = Worker::builder()
        .servers(&server.addr())
        .max_jobs(3)
        .build()
        .expect("worker");
    worker
        .add_ability("limited", |_| Ok(Vec::new()))
        .expect("ability");
    let summary = WorkerThread::run(worker).join_within(Duration::from_secs(10));
    assert_eq!((summary.jobs, summary.reason), (3, StopReason::MaxJobs));
    common::wait_until(Duration::from_secs(5), || {
        queued(&server.addr(), "limited") == 2
    });

    let mut idle = Worker::builder()
        .servers(&server.addr())
        .max_idle(Duration::from_millis(300))
        .build()
        .expect("worker");
    idle.add_ability("nothing_here", |_| Ok(Vec::new()))
        .expect("ability");
    let summary = WorkerThread::run(idle).join_within(Duration::from_secs(5));
    assert_eq!((summary.jobs, summary.reason), (0, StopReason::Idle));
    assert!(summary.elapsed >= Duration::from_millis(300));

    let mut minimum = Worker::builder()
        .servers(&server.addr())
        .max_jobs(1)
        .min_runtime(Duration::from_millis(800))
        .build()
        .expect("worker");
    minimum
        .add_ability("limited", |_| Ok(Vec::new()))
        .expect("ability");
    let summary = WorkerThread::run(minimum).join_within(Duration::from_secs(5));
    assert_eq!((summary.jobs, summary.reason), (1, StopReason::MaxJobs));
    assert!(summary.elapsed >= Duration::from_millis(800), "{summary:?}");
}

#[test]
fn stop_from_another_thread_ends_work_after_the_current_job() {
    let server = Gearmand::start();
    let (started_tx, started_rx) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let mut worker = Worker::new(&server.addr()).expect("worker");
    worker
        .add_ability("long", move |_| {
            let _ = started_tx.lock().expect("lock").send(());
            std::thread::sleep(Duration::from_millis(500));
            Ok(b"finished".to_vec())
        })
        .expect("ability");
    let stop = worker.stop_handle();
    let running = WorkerThread::run(worker);
    let mut client = client(&server.addr());
    let mut set = client.task_set();
    let id = set.add_task(Task::new("long", "x")).expect("add");
    let second = set.add_task(Task::new("long", "y")).expect("add");
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("started");
    let stopped_at = Instant::now();
    stop.stop();
    let summary = running.join_within(Duration::from_secs(5));
    assert_eq!((summary.jobs, summary.reason), (1, StopReason::Stopped));
    assert!(stopped_at.elapsed() < Duration::from_secs(2));
    set.wait(Duration::from_secs(1)).expect("wait");
    assert!(
        matches!(set.outcome(id), Some(gearman_sync::TaskOutcome::Completed(data)) if data == b"finished")
    );
    assert!(set.outcome(second).map_or(true, |outcome| !matches!(
        outcome,
        gearman_sync::TaskOutcome::Completed(_)
    )));
}

#[test]
fn cant_do_unregisters_and_other_abilities_keep_working() {
    let server = Gearmand::start();
    let mut worker = Worker::new(&server.addr()).expect("worker");
    worker
        .add_ability("keep", |_| Ok(b"kept".to_vec()))
        .expect("ability");
    worker
        .add_ability("drop_me", |_| Ok(Vec::new()))
        .expect("ability");
    let mut client = client(&server.addr());
    client.do_background("keep", "warm-up").expect("submit");
    assert!(worker.work_one(Duration::from_secs(5)).expect("work"));
    let workers_for = |function: &str| {
        parse_status(&admin(&server.addr(), "status"))
            .into_iter()
            .find(|(name, ..)| name == function)
            .map_or(0, |(_, _, _, workers)| workers)
    };
    assert_eq!(workers_for("drop_me"), 1);
    assert!(worker.remove_ability("drop_me").expect("remove"));
    assert!(!worker.remove_ability("never_added").expect("remove"));
    common::wait_until(Duration::from_secs(5), || workers_for("drop_me") == 0);
    assert_eq!(workers_for("keep"), 1);
    let _running = WorkerThread::run(worker);
    assert_eq!(client.do_normal("keep", "x").expect("keep"), b"kept");
}

#[test]
fn data_for_a_job_whose_connection_died_is_an_error() {
    let mut server = Gearmand::start();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (result_tx, result_rx) = mpsc::channel();
    let (started_tx, release_rx, result_tx) = (
        Mutex::new(started_tx),
        Mutex::new(release_rx),
        Mutex::new(result_tx),
    );
    let mut worker = Worker::new(&server.addr()).expect("worker");
    worker
        .add_ability("orphan", move |job| {
            let _ = started_tx.lock().expect("lock").send(());
            let _ = release_rx
                .lock()
                .expect("lock")
                .recv_timeout(Duration::from_secs(10));
            let mut outcome = Ok(());
            for _ in 0..50 {
                outcome = job.send_data(b"into the void");
                if outcome.is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let again = job.send_status(1, 1);
            let _ = result_tx.lock().expect("lock").send((outcome, again));
            Ok(Vec::new())
        })
        .expect("ability");
    let _running = WorkerThread::run(worker);
    client(&server.addr())
        .do_background("orphan", "x")
        .expect("submit");
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("started");
    server.stop();
    release_tx.send(()).expect("release");
    let (first, again) = result_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("result");
    assert!(
        matches!(first, Err(Error::JobConnectionLost { .. })),
        "{first:?}"
    );
    assert!(
        matches!(again, Err(Error::JobConnectionLost { .. })),
        "{again:?}"
    );
}

#[test]
fn work_one_needs_an_ability() {
    let mut worker = Worker::new("127.0.0.1:1").expect("worker");
    assert!(matches!(
        worker.work_one(Duration::from_millis(10)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        worker.add_ability("bad\0name", |_| Ok(Vec::new())),
        Err(Error::InvalidArgument(_))
    ));
    let too_long = "f".repeat(513);
    assert!(matches!(
        worker.add_ability(too_long, |_| Ok(Vec::new())),
        Err(Error::InvalidArgument(_))
    ));
}
