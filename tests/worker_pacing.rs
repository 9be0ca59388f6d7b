//! How the worker paces its requests against a real gearmand: prefetch holds exactly the jobs
//! it may, a reply that waited through a long job is not taken for a dead server, and a lightly
//! loaded worker sleeps after each job instead of asking again.

mod common;
mod util;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{admin, parse_status, wait_until, Gearmand};
use gearman_sync::{Client, Worker};
use util::WorkerThread;

/// Jobs of `function` the server counts as running (assigned to a worker).
fn running(addr: &str, function: &str) -> u64 {
    parse_status(&admin(addr, "status"))
        .into_iter()
        .find(|(name, ..)| name == function)
        .map_or(0, |(_, _, running, _)| running)
}

fn queue(addr: &str, function: &str, count: usize) {
    let mut client = Client::new(addr).expect("client");
    for seq in 0..count {
        client
            .do_background(function, format!("job-{seq}"))
            .expect("submit");
    }
}

#[test]
fn prefetch_holds_exactly_its_jobs_ahead_and_runs_each_job_once() {
    for prefetch in [0u32, 1, 2] {
        let server = Gearmand::start();
        let addr = server.addr();
        queue(&addr, "held", 12);
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let mut worker = Worker::builder()
            .servers(&addr)
            .prefetch(prefetch)
            .max_jobs(12)
            .build()
            .expect("worker");
        worker
            .add_ability("held", move |job| {
                let mut seen = record.lock().expect("seen");
                if seen.is_empty() {
                    // The first job waits until the test has looked at the server.
                    let gate = gate.lock().expect("gate");
                    gate.recv_timeout(Duration::from_secs(10))
                        .expect("released");
                }
                seen.push(String::from_utf8_lossy(job.workload()).into_owned());
                Ok(Vec::new())
            })
            .expect("ability");
        let thread = WorkerThread::run(worker);
        let expected = 1 + u64::from(prefetch);
        wait_until(Duration::from_secs(5), || {
            running(&addr, "held") == expected
        });
        // Give a GRAB too many time to arrive, then look again.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            running(&addr, "held"),
            expected,
            "prefetch({prefetch}): the running job plus {prefetch} ahead"
        );
        release.send(()).expect("release");
        let summary = thread.join_within(Duration::from_secs(10));
        assert_eq!(summary.jobs, 12);
        let seen = seen.lock().expect("seen");
        let distinct: HashSet<_> = seen.iter().collect();
        assert_eq!(
            (seen.len(), distinct.len()),
            (12, 12),
            "each job once: {seen:?}"
        );
        assert_eq!(running(&addr, "held"), 0);
    }
}

#[test]
fn a_reply_that_waited_through_a_long_job_is_not_taken_for_a_dead_server() {
    let server = Gearmand::start();
    let addr = server.addr();
    queue(&addr, "slow_second", 4);
    let connects = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connects);
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::clone(&done);
    // GRAB replies are due within min(io_timeout, 5 s): here 300 ms, shorter than the job.
    let mut worker = Worker::builder()
        .servers(&addr)
        .prefetch(1)
        .max_jobs(4)
        .io_timeout(Duration::from_millis(300))
        .build()
        .expect("worker");
    worker.on_connect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    worker
        .add_ability("slow_second", move |_| {
            // The first two jobs arrive together; the third is asked for before the second
            // runs, and its reply waits unread in the socket while the second one sleeps.
            if finished.fetch_add(1, Ordering::SeqCst) == 1 {
                std::thread::sleep(Duration::from_millis(900));
            }
            Ok(Vec::new())
        })
        .expect("ability");
    let summary = WorkerThread::run(worker).join_within(Duration::from_secs(10));
    assert_eq!((summary.jobs, done.load(Ordering::SeqCst)), (4, 4));
    assert_eq!(
        connects.load(Ordering::SeqCst),
        1,
        "the prefetched job's reply sat unread during the long job; that is no reason to reconnect"
    );
}

#[test]
fn a_lightly_loaded_worker_sleeps_after_each_job_instead_of_asking_again() {
    let server = Gearmand::start();
    let addr = server.addr();
    let grabs = Arc::new(AtomicUsize::new(0));
    let no_jobs = Arc::new(AtomicUsize::new(0));
    let (grab_counter, no_job_counter) = (Arc::clone(&grabs), Arc::clone(&no_jobs));
    let worker = WorkerThread::spawn(&addr, move |worker| {
        worker.on_grab_job(move |_| {
            grab_counter.fetch_add(1, Ordering::SeqCst);
        });
        worker.on_no_job(move |_| {
            no_job_counter.fetch_add(1, Ordering::SeqCst);
        });
        worker
            .add_ability("light", |job| Ok(job.workload().to_ascii_uppercase()))
            .expect("ability");
    });
    wait_until(Duration::from_secs(5), || {
        admin(&addr, "workers").contains(" light")
    });
    let mut client = Client::builder()
        .servers(&addr)
        .job_timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let jobs = 36;
    for seq in 0..jobs {
        let result = client
            .do_normal("light", format!("job {seq}"))
            .expect("job");
        assert_eq!(result, format!("JOB {seq}").into_bytes());
    }
    worker.stop();
    let (grabs, no_jobs) = (grabs.load(Ordering::SeqCst), no_jobs.load(Ordering::SeqCst));
    // One GRAB per wake-up, plus a probing GRAB (answered NO_JOB) after every ninth job; asking
    // again after every job would take two GRABs and one NO_JOB per job.
    assert!(
        grabs <= jobs + jobs / 9 + 2,
        "{grabs} GRABs for {jobs} jobs"
    );
    assert!(no_jobs <= jobs / 9 + 2, "{no_jobs} NO_JOBs for {jobs} jobs");
}
