//! The shared client against real gearmands: many threads through one `SharedClient`, no lock
//! held across a round trip, health shared by all threads, a server killed under load, and
//! task sets that report as they finish.

mod common;
mod util;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{try_signal, wait_until, Gearmand};
use gearman_sync::{Backoff, Client, Error, SharedClient, Task, TaskOutcome, UniqueMode, Worker};
use util::{reversed, WorkerThread};

fn shared_client(servers: &str) -> SharedClient {
    Client::builder()
        .servers(servers)
        .unique_mode(UniqueMode::Random)
        .job_timeout(Duration::from_secs(30))
        .build_shared()
        .expect("shared client")
}

/// Background workloads seen by the workers, with how often each ran.
type Seen = Arc<Mutex<HashMap<Vec<u8>, usize>>>;

/// A worker on `servers` serving `tag` (foreground: the reversed workload) and `record`
/// (background: counts the workload in `seen`).
fn tag_and_record_worker(servers: &str, seen: &Seen) -> WorkerThread {
    let seen = Arc::clone(seen);
    WorkerThread::spawn(servers, move |worker| {
        worker
            .add_ability("tag", |job| Ok(reversed(job.workload())))
            .expect("ability");
        worker
            .add_ability("record", move |job| {
                let mut seen = seen.lock().expect("lock");
                *seen.entry(job.workload().to_vec()).or_default() += 1;
                Ok(Vec::new())
            })
            .expect("ability");
    })
}

#[test]
fn eight_threads_share_one_client_for_20000_mixed_jobs_over_two_servers() {
    const THREADS: usize = 8;
    const JOBS_PER_THREAD: usize = 2_500;
    let first = Gearmand::start();
    let second = Gearmand::start();
    let servers = format!("{},{}", first.addr(), second.addr());
    let seen = Seen::default();
    let _workers: Vec<_> = (0..4)
        .map(|_| tag_and_record_worker(&servers, &seen))
        .collect();
    let client = shared_client(&servers);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let client = client.clone();
            thread::spawn(move || {
                let mut background = Vec::new();
                let mut per_server: HashMap<String, usize> = HashMap::new();
                for n in 0..JOBS_PER_THREAD {
                    let workload = format!("t{t}-j{n}");
                    if n % 4 == 3 {
                        let handle = client
                            .do_background("record", workload.as_str())
                            .unwrap_or_else(|e| panic!("background {workload}: {e}"));
                        *per_server.entry(handle.server().to_string()).or_default() += 1;
                        background.push(workload.into_bytes());
                    } else {
                        let result = client
                            .do_normal("tag", workload.as_str())
                            .unwrap_or_else(|e| panic!("foreground {workload}: {e}"));
                        assert_eq!(result, reversed(workload.as_bytes()), "mismatched result");
                    }
                }
                (background, per_server)
            })
        })
        .collect();
    let mut expected = Vec::new();
    let mut per_server: HashMap<String, usize> = HashMap::new();
    for thread in threads {
        let (background, servers) = thread.join().expect("client thread");
        expected.extend(background);
        for (server, count) in servers {
            *per_server.entry(server).or_default() += count;
        }
    }
    assert_eq!(expected.len(), THREADS * JOBS_PER_THREAD / 4);
    assert_eq!(per_server.len(), 2, "both servers got jobs: {per_server:?}");
    assert!(
        per_server.values().all(|&n| n > expected.len() / 4),
        "{per_server:?}"
    );
    wait_until(Duration::from_secs(60), || {
        seen.lock().expect("lock").len() >= expected.len()
    });
    let seen = seen.lock().expect("lock");
    for workload in &expected {
        assert_eq!(
            seen.get(workload),
            Some(&1),
            "{}",
            String::from_utf8_lossy(workload)
        );
    }
    assert_eq!(
        seen.len(),
        expected.len(),
        "no job the client did not submit"
    );
    let idle = client.idle_clients();
    assert!((1..=THREADS).contains(&idle), "{idle} idle pooled clients");
}

#[test]
fn a_slow_call_does_not_hold_up_another_thread() {
    let server = Gearmand::start();
    let (started, started_rx) = mpsc::channel();
    let started = Mutex::new(started);
    let _slow = WorkerThread::spawn(&server.addr(), move |worker| {
        worker
            .add_ability("slow", move |_| {
                started.lock().expect("lock").send(()).expect("send");
                thread::sleep(Duration::from_millis(1500));
                Ok(b"slow".to_vec())
            })
            .expect("ability");
    });
    let _fast = WorkerThread::spawn(&server.addr(), |worker| {
        worker
            .add_ability("fast", |job| Ok(reversed(job.workload())))
            .expect("ability");
    });
    let client = shared_client(&server.addr());
    let slow_client = client.clone();
    let slow = thread::spawn(move || {
        let result = slow_client.do_normal("slow", "x");
        (result, Instant::now())
    });
    started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the slow job started");
    let fast = client.do_normal("fast", "abc").expect("fast job");
    let fast_done = Instant::now();
    assert_eq!(fast, b"cba");
    let (slow_result, slow_done) = slow.join().expect("slow thread");
    assert_eq!(slow_result.expect("slow job"), b"slow");
    assert!(
        fast_done + Duration::from_millis(500) < slow_done,
        "the fast call waited for the slow one"
    );
}

/// What a fake server does with each connection it accepts (and counts).
#[derive(Clone, Copy)]
enum Accepted {
    /// Closes it at once: a server that fails every probe.
    Closed,
    /// Keeps it open and never answers: a hung server.
    Held,
}

/// A loopback port that accepts connections, counts them and then does `what`; gearmand cannot
/// be made to fail probes or hang on purpose.
fn counting_server(what: Accepted) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            if let Accepted::Held = what {
                held.push(stream);
            }
        }
    });
    (addr, accepted)
}

/// A worker on `servers` serving `tag` (the reversed workload).
fn tag_worker(servers: &str) -> WorkerThread {
    WorkerThread::spawn(servers, |worker| {
        worker
            .add_ability("tag", |job| Ok(reversed(job.workload())))
            .expect("ability");
    })
}

/// `threads` threads of `calls` `tag` jobs each through `client`, every result checked.
fn tag_from_threads(client: &SharedClient, threads: usize, calls: usize) {
    let running: Vec<_> = (0..threads)
        .map(|t| {
            let client = client.clone();
            thread::spawn(move || {
                for n in 0..calls {
                    let workload = format!("{t}-{n}");
                    let result = client.do_normal("tag", workload.as_str()).expect("job");
                    assert_eq!(result, reversed(workload.as_bytes()));
                }
            })
        })
        .collect();
    for thread in running {
        thread.join().expect("client thread");
    }
}

#[test]
fn one_threads_failure_puts_the_server_in_backoff_for_every_thread() {
    let server = Gearmand::start();
    let _worker = tag_worker(&server.addr());
    let (broken, accepted) = counting_server(Accepted::Closed);
    let client = Client::builder()
        .servers(format!("{broken},{}", server.addr()).as_str())
        .backoff(Backoff::new(
            Duration::from_secs(30),
            Duration::from_secs(60),
        ))
        .job_timeout(Duration::from_secs(20))
        .build_shared()
        .expect("client");
    assert_eq!(
        client.do_normal("tag", "first").expect("fails over"),
        b"tsrif"
    );
    let after_first = accepted.load(Ordering::SeqCst);
    assert!(after_first >= 1, "the first call tried the broken server");
    tag_from_threads(&client, 8, 5);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        after_first,
        "new pooled clients skipped the server in backoff instead of each trying it"
    );
}

#[test]
fn a_hung_server_is_probed_by_one_thread_not_by_every_thread_at_once() {
    let server = Gearmand::start();
    let _worker = tag_worker(&server.addr());
    let (hung, accepted) = counting_server(Accepted::Held);
    let client = Client::builder()
        .servers(format!("{hung},{}", server.addr()).as_str())
        .probe_timeout(Duration::from_millis(500))
        .backoff(Backoff::new(
            Duration::from_secs(30),
            Duration::from_secs(60),
        ))
        .job_timeout(Duration::from_secs(20))
        .build_shared()
        .expect("client");
    tag_from_threads(&client, 8, 5);
    let probes = accepted.load(Ordering::SeqCst);
    assert_eq!(
        probes, 1,
        "threads waited for the hung server's probe each on their own"
    );
}

#[test]
fn killing_one_of_two_servers_under_the_shared_client_and_a_concurrent_worker_loses_no_confirmed_job(
) {
    let mut doomed = Gearmand::builder().sqlite_queue().start();
    let survivor = Gearmand::builder().sqlite_queue().start();
    let servers = format!("{},{}", doomed.addr(), survivor.addr());
    let seen = Seen::default();
    let mut worker = Worker::builder()
        .servers(servers.as_str())
        .backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(500),
        ))
        .build_concurrent(4)
        .expect("worker");
    let record = Arc::clone(&seen);
    worker
        .add_ability("record", move |job| {
            *record
                .lock()
                .expect("lock")
                .entry(job.workload().to_vec())
                .or_default() += 1;
            Ok(Vec::new())
        })
        .expect("ability");
    assert_eq!(
        worker.wait_registered(Duration::from_secs(5)).expect("up"),
        2
    );
    let stop = worker.stop_handle();
    let working = thread::spawn(move || worker.work());
    let client = Client::builder()
        .servers(servers.as_str())
        .unique_mode(UniqueMode::Random)
        .request_timeout(Duration::from_secs(3))
        .connect_timeout(Duration::from_secs(1))
        .build_shared()
        .expect("client");
    let killed = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (client, killed) = (client.clone(), Arc::clone(&killed));
            thread::spawn(move || {
                let mut confirmed = Vec::new();
                let mut after_kill = 0;
                let mut refused = 0;
                for n in 0..600 {
                    let workload = format!("t{t}-j{n}");
                    let was_killed = killed.load(Ordering::SeqCst);
                    match client.do_background("record", workload.as_str()) {
                        Ok(_) => {
                            confirmed.push(workload.into_bytes());
                            after_kill += usize::from(was_killed);
                        }
                        // Sent but never confirmed: the job may or may not exist.
                        Err(Error::SubmitUnconfirmed { .. } | Error::JobLost { .. }) => {
                            refused += 1
                        }
                        Err(error) => panic!("{workload}: {error}"),
                    }
                    if n % 50 == 0 {
                        thread::sleep(Duration::from_millis(5));
                    }
                }
                (confirmed, after_kill, refused)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    assert!(try_signal(doomed.pid(), "KILL"), "kill -9 gearmand");
    killed.store(true, Ordering::SeqCst);
    let mut expected = Vec::new();
    for thread in threads {
        let (confirmed, after_kill, refused) = thread.join().expect("client thread");
        assert!(
            after_kill > 0,
            "a client thread stopped serving after the kill"
        );
        assert!(
            refused <= 2,
            "{refused} submissions unconfirmed in one thread"
        );
        expected.extend(confirmed);
    }
    // The killed server comes back with its queue; the same worker threads drain it.
    doomed.restart();
    wait_until(Duration::from_secs(60), || {
        let seen = seen.lock().expect("lock");
        expected.iter().all(|workload| seen.contains_key(workload))
    });
    // And both sides serve on both servers again.
    for n in 0..8 {
        let workload = format!("again-{n}");
        client
            .do_background("record", workload.as_str())
            .expect("after the restart");
        expected.push(workload.into_bytes());
    }
    wait_until(Duration::from_secs(20), || {
        let seen = seen.lock().expect("lock");
        expected.iter().all(|workload| seen.contains_key(workload))
    });
    stop.stop();
    working
        .join()
        .expect("worker thread")
        .expect("the concurrent worker ends cleanly");
}

#[test]
fn a_task_set_reports_outcomes_as_they_finish_with_progress() {
    let server = Gearmand::start();
    let _worker = WorkerThread::spawn(&server.addr(), |worker| {
        worker
            .add_ability("sleep_ms", |job| {
                if job.workload() == b"fail" {
                    return Err(gearman_sync::JobError::Fail);
                }
                let ms: u64 = std::str::from_utf8(job.workload())
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(0);
                thread::sleep(Duration::from_millis(ms));
                Ok(job.workload().to_vec())
            })
            .expect("ability");
    });
    let client = shared_client(&server.addr());
    let mut pooled = client.checkout();
    let mut set = pooled.task_set();
    // One worker runs one function's jobs in submission order.
    let slow = set.add_task(Task::new("sleep_ms", "600")).expect("add");
    let fast = set.add_task(Task::new("sleep_ms", "10")).expect("add");
    let failing = set.add_task(Task::new("sleep_ms", "fail")).expect("add");
    let never = set
        .add_task(Task::new("nobody_serves_this", "x"))
        .expect("add");
    assert_eq!(set.progress().submitted, 4);
    // Nothing ends within 100 ms: None, and nothing is reported as timed out.
    let started = Instant::now();
    assert!(set
        .next_finished(Duration::from_millis(100))
        .expect("wait")
        .is_none());
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(set.progress().open, 4);
    let mut order = Vec::new();
    let mut lines = Vec::new();
    let mut finished = set.finished(Duration::from_secs(3));
    while let Some(next) = finished.next() {
        let (id, outcome) = next.expect("poll");
        lines.push(finished.progress().to_string());
        order.push((id, outcome));
    }
    let ids: Vec<_> = order.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [slow, fast, failing, never]);
    assert!(matches!(&order[0].1, TaskOutcome::Completed(r) if r == b"600"));
    assert!(matches!(
        &order[2].1,
        TaskOutcome::Failed(Error::JobFailed { .. })
    ));
    assert!(matches!(
        &order[3].1,
        TaskOutcome::Failed(Error::Timeout { .. })
    ));
    assert_eq!(lines[3], "4/4 done (2 failed), 0 open");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "open tasks ended early"
    );
}

#[test]
fn a_zero_timeout_polls_a_task_set_without_blocking() {
    let server = Gearmand::start();
    let _worker = tag_worker(&server.addr());
    let client = shared_client(&server.addr());
    let mut pooled = client.checkout();
    let mut set = pooled.task_set();
    set.add_task(Task::new("tag", "abc")).expect("add");
    let started = Instant::now();
    let outcome = loop {
        let polled = Instant::now();
        let next = set.next_finished(Duration::ZERO).expect("poll");
        assert!(
            polled.elapsed() < Duration::from_millis(100),
            "a zero timeout blocked"
        );
        if let Some((_, outcome)) = next {
            break outcome;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "polling never read the reply"
        );
        thread::sleep(Duration::from_millis(5));
    };
    assert!(matches!(outcome, TaskOutcome::Completed(r) if r == b"cba"));
    // wait(ZERO) polls too.
    set.add_task(Task::new("tag", "xyz")).expect("add");
    let started = Instant::now();
    while set.open() > 0 {
        set.wait(Duration::ZERO).expect("poll");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "wait(0) never read the reply"
        );
        thread::sleep(Duration::from_millis(5));
    }
}
