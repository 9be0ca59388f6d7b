//! Restarts and failover under load: gearmand killed and restarted under a stream of background
//! jobs with a persistent queue, and one of two servers killed while foreground tasks run.

mod common;
mod util;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Gearmand;
use gearman_sync::{Client, Error, Task, TaskOutcome, Worker};
use util::{reversed, WorkerThread};

#[test]
fn restart_under_load_loses_no_confirmed_background_job() {
    let mut server = Gearmand::builder().sqlite_queue().start();
    let addr = server.addr();
    let runs = Arc::new(Mutex::new(HashMap::<Vec<u8>, u32>::new()));
    let last_started = Arc::new(Mutex::new(None::<Vec<u8>>));
    let (record, current) = (Arc::clone(&runs), Arc::clone(&last_started));
    let mut worker = Worker::builder()
        .servers(&addr)
        .client_id("drain")
        .build()
        .expect("worker");
    worker
        .add_ability("persist", move |job| {
            *current.lock().expect("lock") = Some(job.unique().to_vec());
            *record
                .lock()
                .expect("lock")
                .entry(job.unique().to_vec())
                .or_default() += 1;
            Ok(Vec::new())
        })
        .expect("ability");
    let _worker = WorkerThread::run(worker);

    // The client submits 10 000 jobs in task sets of 100 while the server is killed and
    // restarted; every outcome is recorded honestly.
    let total = 10_000usize;
    let killed = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let submitter = {
        let (addr, killed, progress) = (addr.clone(), Arc::clone(&killed), Arc::clone(&progress));
        std::thread::spawn(move || {
            let mut client = Client::builder()
                .servers(&addr)
                .job_timeout(Duration::from_secs(5))
                .probe_timeout(Duration::from_secs(1))
                .backoff(
                    gearman_sync::Backoff::new(
                        Duration::from_millis(20),
                        Duration::from_millis(200),
                    )
                    .with_jitter(0.0),
                )
                .build()
                .expect("client");
            let mut confirmed = Vec::new();
            let mut unconfirmed = Vec::new();
            let mut not_sent = 0usize;
            let mut next = 0usize;
            while next < total {
                let mut set = client.task_set();
                let mut batch = Vec::new();
                while batch.len() < 100 && next < total {
                    let unique = format!("job-{next}");
                    match set.add_task(
                        Task::new("persist", "x")
                            .background()
                            .unique(unique.as_str()),
                    ) {
                        Ok(id) => {
                            batch.push((id, unique));
                            next += 1;
                        }
                        Err(Error::NoJobServers(_)) => {
                            // Nothing was sent: try the same job again shortly.
                            not_sent += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(other) => panic!("unexpected submit error: {other}"),
                    }
                }
                set.wait(Duration::from_secs(10)).expect("wait");
                set.abandon();
                for (id, unique) in batch {
                    match set.take_outcome(id) {
                        Some(TaskOutcome::Submitted(_)) => confirmed.push(unique),
                        Some(TaskOutcome::Failed(error)) if error.may_have_been_submitted() => {
                            unconfirmed.push(unique)
                        }
                        other => panic!("{unique}: dishonest outcome {other:?}"),
                    }
                }
                progress.store(next, Ordering::SeqCst);
                // Pace the stream so that the kill lands in the middle of it.
                std::thread::sleep(Duration::from_millis(if killed.load(Ordering::SeqCst) {
                    1
                } else {
                    10
                }));
            }
            (confirmed, unconfirmed, not_sent)
        })
    };
    common::wait_until(Duration::from_secs(30), || {
        progress.load(Ordering::SeqCst) >= 3000
    });
    server.stop();
    killed.store(true, Ordering::SeqCst);
    let in_flight = last_started.lock().expect("lock").clone();
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    let (confirmed, unconfirmed, not_sent) = submitter.join().expect("submitter");

    common::wait_until(Duration::from_secs(60), || {
        let runs = runs.lock().expect("lock");
        confirmed
            .iter()
            .all(|unique| runs.contains_key(unique.as_bytes()))
    });
    let runs = runs.lock().expect("lock").clone();
    let doubled: Vec<String> = runs
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(unique, _)| String::from_utf8_lossy(unique).into_owned())
        .collect();
    eprintln!(
        "restart under load: {} confirmed, {} unconfirmed (may exist), {} not sent and retried, {} run twice",
        confirmed.len(),
        unconfirmed.len(),
        not_sent,
        doubled.len()
    );
    assert_eq!(confirmed.len() + unconfirmed.len(), total);
    assert!(
        not_sent + unconfirmed.len() > 0,
        "the kill landed between submissions"
    );
    assert!(
        doubled.len() <= 1,
        "only the job running at the kill may run twice: {doubled:?}"
    );
    if let Some(unique) = doubled.first() {
        assert_eq!(
            Some(unique.as_bytes()),
            in_flight.as_deref(),
            "the doubled job was the one in flight"
        );
    }
    assert!(
        common::admin(&server.addr(), "workers").contains(" drain : persist"),
        "the worker reconnected by itself"
    );
}

#[test]
fn one_of_two_servers_killed_mid_run_every_task_completes_through_the_other() {
    let first = Gearmand::start();
    let mut second = Gearmand::start();
    let list = format!("{},{}", first.addr(), second.addr());
    let _workers: Vec<WorkerThread> = (0..2)
        .map(|_| {
            WorkerThread::spawn(&list, |worker| {
                worker
                    .add_ability("reverse", |job| {
                        std::thread::sleep(Duration::from_millis(2));
                        Ok(reversed(job.workload()))
                    })
                    .expect("ability");
            })
        })
        .collect();
    let mut client = Client::builder()
        .servers(&list)
        .job_timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let count = 400;
    let done = std::cell::Cell::new(0usize);
    let mut set = client.task_set();
    let ids: Vec<_> = (0..count)
        .map(|index| {
            let done = &done;
            set.add_task(
                Task::new("reverse", format!("task-{index}"))
                    .retries(2)
                    .on_complete(move |_| done.set(done.get() + 1)),
            )
            .expect("add")
        })
        .collect();
    let started = Instant::now();
    while done.get() < count / 4 && started.elapsed() < Duration::from_secs(20) {
        set.wait(Duration::from_millis(10)).expect("wait");
    }
    second.stop();
    let summary = set.wait(Duration::from_secs(30)).expect("wait");
    assert!(
        summary.failed.is_empty() && summary.timed_out.is_empty(),
        "{summary:?}"
    );
    for (index, id) in ids.into_iter().enumerate() {
        let expected = reversed(format!("task-{index}").as_bytes());
        match set.outcome(id) {
            Some(TaskOutcome::Completed(data)) if *data == expected => {}
            other => panic!("task {index}: {other:?}"),
        }
    }
}
