//! The concurrent worker against a real gearmand: N jobs at once on N connections, a graceful
//! stop in the middle of running jobs, max_jobs and max_idle over all threads, and one of two
//! servers killed under it with a persistent queue.

mod common;
mod util;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::Gearmand;
use gearman_sync::{
    Ability, Admin, Backoff, Client, ConcurrentWorker, Error, StopHandle, StopReason, Task,
    TaskOutcome, WorkSummary, Worker,
};
use util::{reversed, test_client};

/// A concurrent worker running `work()` on a thread of the test; stopped and joined on drop.
struct Running {
    stop: StopHandle,
    thread: Option<JoinHandle<gearman_sync::Result<WorkSummary>>>,
}

impl Running {
    fn start(mut worker: ConcurrentWorker) -> Running {
        let stop = worker.stop_handle();
        Running {
            stop,
            thread: Some(std::thread::spawn(move || worker.work())),
        }
    }

    /// Waits for `work()` to return by itself (or after a stop) within `timeout`.
    fn join_within(mut self, timeout: Duration) -> WorkSummary {
        let thread = self.thread.take().expect("thread");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(thread.join());
        });
        receiver
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("work() did not return within {timeout:?}"))
            .expect("work() panicked")
            .expect("work() failed")
    }

    /// Stops the worker and returns its summary (bounded).
    fn stop(self) -> WorkSummary {
        self.stop.stop();
        self.join_within(Duration::from_secs(10))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            if !std::thread::panicking() {
                let _ = thread.join();
            }
        }
    }
}

/// Connections registered for `function` by workers named `client_id` on `addr`, from the
/// admin `workers` reply.
fn connections(addr: &str, client_id: &str, function: &str) -> usize {
    let mut admin = Admin::new(addr).expect("admin");
    admin
        .workers()
        .expect("workers")
        .iter()
        .filter(|worker| worker.client_id.as_deref() == Some(client_id))
        .filter(|worker| worker.functions.iter().any(|name| name == function))
        .count()
}

/// The name of the thread running the caller (`gearman-worker-<n>` on a worker thread).
fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

#[test]
fn four_threads_run_four_one_second_jobs_at_once_on_four_connections() {
    let server = Gearmand::start();
    let addr = server.addr();
    let mut worker = Worker::builder()
        .servers(&addr)
        .client_id("conc")
        .build_concurrent(4)
        .expect("worker");
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let seen = Arc::clone(&threads);
    worker
        .add_ability("sleep1", move |job| {
            seen.lock().expect("lock").insert(thread_name());
            std::thread::sleep(Duration::from_secs(1));
            Ok(reversed(job.workload()))
        })
        .expect("ability");
    assert_eq!(
        worker.wait_registered(Duration::from_secs(5)).expect("up"),
        1
    );
    let running = Running::start(worker);
    common::wait_until(Duration::from_secs(5), || {
        connections(&addr, "conc", "sleep1") == 4
    });

    let mut client = test_client(&addr);
    let mut set = client.task_set();
    let started = Instant::now();
    let ids: Vec<_> = (0..4)
        .map(|index| {
            set.add_task(Task::new("sleep1", format!("job-{index}")))
                .expect("add")
        })
        .collect();
    let summary = set.wait(Duration::from_secs(10)).expect("wait");
    let wall = started.elapsed();
    assert_eq!(summary.completed.len(), 4, "{summary:?}");
    for (index, id) in ids.into_iter().enumerate() {
        let expected = reversed(format!("job-{index}").as_bytes());
        match set.outcome(id) {
            Some(TaskOutcome::Completed(data)) if *data == expected => {}
            other => panic!("job {index}: {other:?}"),
        }
    }
    eprintln!("4 one-second jobs on 4 threads: {wall:?}");
    assert!(
        wall < Duration::from_millis(1600),
        "4 one-second jobs took {wall:?}"
    );
    assert_eq!(threads.lock().expect("lock").len(), 4, "one job per thread");
    assert_eq!(
        connections(&addr, "conc", "sleep1"),
        4,
        "gearmand still sees 4 workers"
    );
    drop(set);
    let summary = running.stop();
    assert_eq!(summary.jobs, 4);
    assert_eq!(summary.reason, StopReason::Stopped);
}

#[test]
fn a_graceful_stop_in_the_middle_of_four_running_jobs_delivers_all_four_results() {
    let server = Gearmand::start();
    let addr = server.addr();
    let mut worker = ConcurrentWorker::new(&addr, 4).expect("worker");
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (begun, ended) = (Arc::clone(&started), Arc::clone(&finished));
    worker
        .add_ability("slow", move |job| {
            begun.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(800));
            ended.fetch_add(1, Ordering::SeqCst);
            Ok(reversed(job.workload()))
        })
        .expect("ability");
    worker
        .wait_registered(Duration::from_secs(5))
        .expect("registered");
    let stop = worker.stop_handle();
    let running = Running::start(worker);

    let mut client = test_client(&addr);
    let mut set = client.task_set();
    let ids: Vec<_> = (0..4)
        .map(|index| {
            set.add_task(Task::new("slow", format!("slow-{index}")))
                .expect("add")
        })
        .collect();
    common::wait_until(Duration::from_secs(5), || {
        started.load(Ordering::SeqCst) == 4
    });
    assert_eq!(finished.load(Ordering::SeqCst), 0, "stopped mid-job");
    stop.stop();
    let stopped_at = Instant::now();
    let summary = set.wait(Duration::from_secs(10)).expect("wait");
    assert_eq!(summary.completed.len(), 4, "{summary:?}");
    for (index, id) in ids.into_iter().enumerate() {
        let expected = reversed(format!("slow-{index}").as_bytes());
        match set.outcome(id) {
            Some(TaskOutcome::Completed(data)) if *data == expected => {}
            other => panic!("job {index}: {other:?}"),
        }
    }
    let summary = running.join_within(Duration::from_secs(5));
    eprintln!("stopped {:?} after the stop", stopped_at.elapsed());
    assert_eq!(summary.jobs, 4);
    assert_eq!(summary.reason, StopReason::Stopped);
    assert_eq!(finished.load(Ordering::SeqCst), 4);
    assert_eq!(common::queued(&addr, "slow"), 0);
}

#[test]
fn max_jobs_counts_over_all_threads_and_is_never_exceeded() {
    let server = Gearmand::start();
    let addr = server.addr();
    let mut client = test_client(&addr);
    let mut set = client.task_set();
    set.add_tasks((0..40).map(|index| Task::new("count", format!("{index}")).background()))
        .expect("add");
    let summary = set.wait(Duration::from_secs(10)).expect("wait");
    assert_eq!(summary.completed.len(), 40);
    drop(set);

    let ran = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&ran);
    let mut worker = Worker::builder()
        .servers(&addr)
        .max_jobs(10)
        .prefetch(1)
        .build_concurrent(4)
        .expect("worker");
    worker
        .add_ability("count", move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            Ok(Vec::new())
        })
        .expect("ability");
    let summary = Running::start(worker).join_within(Duration::from_secs(10));
    assert_eq!(summary.reason, StopReason::MaxJobs);
    assert_eq!(summary.jobs, 10);
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert_eq!(
        common::queued(&addr, "count"),
        30,
        "no job taken beyond max_jobs"
    );
}

#[test]
fn max_idle_waits_for_the_job_another_thread_runs() {
    let server = Gearmand::start();
    let addr = server.addr();
    let idle = Duration::from_millis(500);
    let mut worker = Worker::builder()
        .servers(&addr)
        .max_idle(idle)
        .build_concurrent(3)
        .expect("worker");
    worker
        .add_ability("long", |job| {
            std::thread::sleep(Duration::from_millis(1500));
            Ok(reversed(job.workload()))
        })
        .expect("ability");
    worker
        .wait_registered(Duration::from_secs(5))
        .expect("registered");
    let started = Instant::now();
    let running = Running::start(worker);
    let mut client = test_client(&addr);
    assert_eq!(client.do_normal("long", "abc").expect("result"), b"cba");
    let summary = running.join_within(Duration::from_secs(10));
    let elapsed = started.elapsed();
    assert_eq!(summary.reason, StopReason::Idle);
    assert_eq!(summary.jobs, 1);
    // The idle threads did not end the whole while the job ran: idle counts from its end.
    assert!(
        elapsed >= Duration::from_millis(1500) + idle,
        "returned after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(4),
        "returned after {elapsed:?}"
    );
}

#[test]
fn per_thread_abilities_keep_their_own_state() {
    let server = Gearmand::start();
    let addr = server.addr();
    let mut worker = ConcurrentWorker::new(&addr, 3).expect("worker");
    let made = Arc::new(AtomicUsize::new(0));
    let factory_made = Arc::clone(&made);
    worker
        .register_per_thread(|| {
            let instance = factory_made.fetch_add(1, Ordering::SeqCst);
            let mut calls = 0u32;
            Ability::new("tagged", move |_job| {
                calls += 1;
                std::thread::sleep(Duration::from_millis(300));
                Ok(format!("{instance}:{calls}").into_bytes())
            })
        })
        .expect("ability");
    assert_eq!(made.load(Ordering::SeqCst), 3, "one ability per thread");
    worker
        .wait_registered(Duration::from_secs(5))
        .expect("registered");
    let running = Running::start(worker);
    let mut client = test_client(&addr);
    let mut set = client.task_set();
    let ids: Vec<_> = (0..3)
        .map(|_| set.add_task(Task::new("tagged", "x")).expect("add"))
        .collect();
    set.wait(Duration::from_secs(10)).expect("wait");
    let mut instances = HashSet::new();
    for id in ids {
        match set.outcome(id) {
            Some(TaskOutcome::Completed(data)) => {
                let text = String::from_utf8(data.clone()).expect("text");
                let (instance, calls) = text.split_once(':').expect("instance:calls");
                assert_eq!(calls, "1", "{text}: each thread counts its own calls");
                instances.insert(instance.to_owned());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        instances.len(),
        3,
        "three jobs at once ran on three threads"
    );
    drop(set);
    assert_eq!(running.stop().jobs, 3);
}

#[test]
fn work_without_an_ability_is_refused_before_any_thread_starts() {
    let mut worker = ConcurrentWorker::new("127.0.0.1:1", 2).expect("worker");
    assert!(matches!(worker.work(), Err(Error::InvalidArgument(_))));
}

#[test]
fn killing_one_of_two_servers_loses_no_confirmed_background_job_and_every_thread_serves_on() {
    let first = Gearmand::builder().sqlite_queue().start();
    let mut second = Gearmand::builder().sqlite_queue().start();
    let list = format!("{},{}", first.addr(), second.addr());
    let threads = 4;
    let runs = Arc::new(Mutex::new(HashMap::<Vec<u8>, u32>::new()));
    let record = Arc::clone(&runs);
    let mut worker = Worker::builder()
        .servers(&list)
        .client_id("persist")
        .build_concurrent(threads)
        .expect("worker");
    worker
        .add_ability("persist", move |job| {
            *record
                .lock()
                .expect("lock")
                .entry(job.unique().to_vec())
                .or_default() += 1;
            std::thread::sleep(Duration::from_millis(1));
            Ok(Vec::new())
        })
        .expect("ability");
    let serving = Arc::new(Mutex::new(HashSet::new()));
    let seen = Arc::clone(&serving);
    worker
        .add_ability("slow", move |job| {
            seen.lock().expect("lock").insert(thread_name());
            std::thread::sleep(Duration::from_millis(500));
            Ok(reversed(job.workload()))
        })
        .expect("ability");
    assert_eq!(
        worker.wait_registered(Duration::from_secs(5)).expect("up"),
        2
    );
    let running = Running::start(worker);

    // A stream of background jobs over both servers, every outcome recorded honestly.
    let total = 3000usize;
    let killed = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let submitter = {
        let (list, killed, progress) = (list.clone(), Arc::clone(&killed), Arc::clone(&progress));
        std::thread::spawn(move || {
            let mut client = Client::builder()
                .servers(&list)
                .job_timeout(Duration::from_secs(5))
                .probe_timeout(Duration::from_secs(1))
                .backoff(
                    Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
                        .with_jitter(0.0),
                )
                .build()
                .expect("client");
            let (mut confirmed, mut unconfirmed) = (Vec::new(), Vec::new());
            let mut next = 0usize;
            while next < total {
                let mut set = client.task_set();
                let mut batch = Vec::new();
                while batch.len() < 50 && next < total {
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
                            std::thread::sleep(Duration::from_millis(20))
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
                let pause = if killed.load(Ordering::SeqCst) { 1 } else { 5 };
                std::thread::sleep(Duration::from_millis(pause));
            }
            (confirmed, unconfirmed)
        })
    };
    common::wait_until(Duration::from_secs(30), || {
        progress.load(Ordering::SeqCst) >= total / 3
    });
    assert!(
        common::try_signal(second.pid(), "KILL"),
        "SIGKILL delivered"
    );
    common::wait_until(Duration::from_secs(5), || !second.is_running());
    killed.store(true, Ordering::SeqCst);
    let (confirmed, unconfirmed) = submitter.join().expect("submitter");
    // The killed server's queue comes back from its sqlite file.
    second.restart();

    common::wait_until(Duration::from_secs(60), || {
        let runs = runs.lock().expect("lock");
        confirmed
            .iter()
            .all(|unique| runs.contains_key(unique.as_bytes()))
    });
    let doubled = runs
        .lock()
        .expect("lock")
        .values()
        .filter(|count| **count > 1)
        .count();
    eprintln!(
        "kill under a 4-thread worker: {} confirmed, {} unconfirmed (may exist), {doubled} run twice",
        confirmed.len(),
        unconfirmed.len()
    );
    assert_eq!(confirmed.len() + unconfirmed.len(), total);
    assert!(
        doubled <= threads,
        "only jobs in hand at the kill (one per thread) may run twice: {doubled}"
    );

    // Every thread is registered on both servers again and takes jobs from the restarted one.
    for server in [&first, &second] {
        common::wait_until(Duration::from_secs(10), || {
            connections(&server.addr(), "persist", "persist") == threads
        });
    }
    let mut client = test_client(&second.addr());
    let mut set = client.task_set();
    let started = Instant::now();
    for index in 0..threads {
        set.add_task(Task::new("slow", format!("after-{index}")))
            .expect("add");
    }
    let summary = set.wait(Duration::from_secs(10)).expect("wait");
    let wall = started.elapsed();
    assert_eq!(summary.completed.len(), threads, "{summary:?}");
    assert!(
        wall < Duration::from_millis(900),
        "{threads} half-second jobs on the restarted server took {wall:?}"
    );
    assert_eq!(serving.lock().expect("lock").len(), threads);
    drop(set);
    let summary = running.stop();
    assert_eq!(summary.reason, StopReason::Stopped);
    assert!(summary.jobs >= confirmed.len() as u64 + threads as u64);
}
