//! Map/reduce submissions (`SUBMIT_REDUCE_JOB`, `SUBMIT_REDUCE_JOB_BACKGROUND`) against a real
//! gearmand: the reducer reaches our worker's `Job::reducer` through `JOB_ASSIGN_ALL`, a
//! libgearman worker (the `gearman -w` CLI) serves our reduce jobs, and bad reduce tasks are
//! refused before anything is sent.

mod common;
mod util;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{queued, wait_until, Gearmand};
use gearman_sync::{ArgumentError, Error, GrabMode, Priority, Task, Worker};
use util::{reversed, test_client, CliWorker, WorkerThread};

/// The reducer of each job a worker ran, in order.
type SeenReducers = Arc<Mutex<Vec<Option<Vec<u8>>>>>;

/// A worker for `count` that records the reducer of each job it runs.
fn recording_worker(addr: &str, grab: GrabMode) -> (WorkerThread, SeenReducers) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let mut worker = Worker::builder()
        .servers(addr)
        .grab_mode(grab)
        .build()
        .expect("worker");
    worker
        .add_ability("count", move |job| {
            log.lock()
                .expect("lock")
                .push(job.reducer().map(<[u8]>::to_vec));
            let words = job.workload().split(|&byte| byte == b' ').count();
            Ok(words.to_string().into_bytes())
        })
        .expect("ability");
    (WorkerThread::run(worker), seen)
}

#[test]
fn a_foreground_reduce_job_brings_its_reducer_to_the_worker() {
    let server = Gearmand::start();
    let (_worker, seen) = recording_worker(&server.addr(), GrabMode::All);
    let mut client = test_client(&server.addr());
    let result = client
        .do_task(Task::new("count", "a b c").reducer("sum"))
        .expect("reduce job");
    assert_eq!(result, b"3");
    // An ordinary job on the same worker comes with JOB_ASSIGN_UNIQ: no reducer.
    assert_eq!(client.do_normal("count", "a b").expect("job"), b"2");
    assert_eq!(
        *seen.lock().expect("lock"),
        [Some(b"sum".to_vec()), None],
        "JOB_ASSIGN_ALL only for the reduce job"
    );
}

#[test]
fn a_background_reduce_job_is_queued_and_run() {
    let server = Gearmand::start();
    let addr = server.addr();
    let mut client = test_client(&addr);
    let handle = client
        .submit_background(Task::new("count", "x y z w").reducer("sum").background())
        .expect("submitted");
    assert_eq!(handle.server().port(), server.port());
    assert_eq!(queued(&addr, "count"), 1);
    let (_worker, seen) = recording_worker(&addr, GrabMode::All);
    wait_until(Duration::from_secs(10), || {
        !seen.lock().expect("lock").is_empty()
    });
    assert_eq!(*seen.lock().expect("lock"), [Some(b"sum".to_vec())]);
    wait_until(Duration::from_secs(5), || queued(&addr, "count") == 0);
}

#[test]
fn a_worker_that_does_not_grab_all_runs_reduce_jobs_without_the_reducer() {
    let server = Gearmand::start();
    let (_worker, seen) = recording_worker(&server.addr(), GrabMode::Unique);
    let mut client = test_client(&server.addr());
    let result = client
        .do_task(Task::new("count", "a b").reducer("sum"))
        .expect("reduce job");
    assert_eq!(result, b"2");
    assert_eq!(*seen.lock().expect("lock"), [None]);
}

/// The libgearman `gearman -w` CLI grabs with GRAB_JOB_ALL and serves our reduce jobs the
/// libgearman way: it runs the map itself and submits its output to the reducer.
#[test]
fn a_libgearman_worker_serves_our_reduce_jobs() {
    let server = Gearmand::start();
    let _worker = CliWorker::spawn(server.port(), "rev", &["rev"]);
    let reduced = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&reduced);
    let _reducer = WorkerThread::spawn(&server.addr(), move |worker| {
        worker
            .add_ability("concat", move |job| {
                log.lock().expect("lock").push(job.workload().to_vec());
                Ok(job.workload().to_vec())
            })
            .expect("ability");
    });
    wait_until(Duration::from_secs(10), || {
        common::admin(&server.addr(), "workers").contains(" rev")
    });
    let mut client = test_client(&server.addr());
    let result = client
        .do_task(Task::new("rev", "hello\n").reducer("concat"))
        .expect("reduce job");
    // libgearman does map/reduce on the worker side: the mapper's output ("olleh\n") goes to
    // the reducer function as a job of its own, and the client gets the aggregate, which the
    // `gearman` CLI (no aggregator) leaves empty.
    wait_until(Duration::from_secs(5), || {
        !reduced.lock().expect("lock").is_empty()
    });
    let reduced = reduced.lock().expect("lock").clone();
    assert_eq!(reduced.concat(), reversed(b"\nhello"), "{reduced:?}");
    assert_eq!(result, b"", "the CLI has no aggregator");
}

#[test]
fn bad_reduce_tasks_are_refused_before_anything_is_sent() {
    // Nothing listens on this address: a refusal proves nothing was sent.
    let mut client = test_client("127.0.0.1:1");
    let mut refused = |task: Task<'_>| match client.do_task(task) {
        Err(Error::InvalidArgument(error)) => error,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    assert!(matches!(
        refused(Task::new("f", "x").reducer(vec![b'r'; 64])),
        ArgumentError::TooLong {
            field: "reducer",
            ..
        }
    ));
    assert!(matches!(
        refused(Task::new("f", "x").reducer("a\0b")),
        ArgumentError::NulByte { field: "reducer" }
    ));
    assert!(matches!(
        refused(Task::new("f", "x").reducer("r").priority(Priority::High)),
        ArgumentError::OutOfRange {
            field: "priority",
            ..
        }
    ));
    assert!(matches!(
        refused(
            Task::new("f", "x")
                .reducer("r")
                .run_at(std::time::SystemTime::now())
        ),
        ArgumentError::OutOfRange {
            field: "run_at",
            ..
        }
    ));
    // 63 bytes is the longest reducer gearmand takes: that one goes out (and finds no server).
    assert!(matches!(
        client.do_task(Task::new("f", "x").reducer(vec![b'r'; 63])),
        Err(Error::NoJobServers(_))
    ));
}
