//! The worker against gearmand's own faults (PROTOCOL.md section 9): a lost wake-up, the
//! NOOP/NO_JOB storm, scheduled jobs that never wake a sleeper on 1.1.x, time limits that
//! re-queue forever, and servers that are down. Tests whose outcome differs by gearmand
//! version read the server's version and assert each one's behaviour.

mod common;
mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{admin, queued, wait_until, Gearmand};
use gearman_sync::{Ability, ExceptionMode, StopHandle, WorkSummary};
use gearman_sync::{Error, Task, Worker};
use util::swallow::NoopSwallower;
use util::{test_client as client, WorkerThread};

/// True for gearmand 2.0.0, whose scheduler differs from 1.1.x (PROTOCOL.md section 9); an
/// untested version fails the test (`common::Generation::of`).
fn is_gearmand_2(addr: &str) -> bool {
    common::Generation::of_server(addr) == common::Generation::V2_0
}

/// A worker running on its own thread, whose CPU time can be read.
struct MeasuredWorker {
    stop: StopHandle,
    tid: String,
    thread: Option<JoinHandle<gearman_sync::Result<WorkSummary>>>,
}

impl MeasuredWorker {
    fn run(mut worker: Worker) -> MeasuredWorker {
        let stop = worker.stop_handle();
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
            let tid = link
                .file_name()
                .expect("tid")
                .to_string_lossy()
                .into_owned();
            sender.send(tid).expect("send tid");
            worker.work()
        });
        let tid = receiver
            .recv_timeout(Duration::from_secs(5))
            .expect("worker thread started");
        MeasuredWorker {
            stop,
            tid,
            thread: Some(thread),
        }
    }

    /// User plus system CPU time of the worker thread, in clock ticks (1/100 s).
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{}/stat", self.tid))
            .expect("thread stat");
        let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    }
}

impl Drop for MeasuredWorker {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let started = Instant::now();
            while !thread.is_finished() && started.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() && !std::thread::panicking() {
                thread.join().expect("worker thread").expect("work()");
            }
        }
    }
}

/// Counts GRABs and signals the first NO_JOB.
fn counting_worker(
    builder: gearman_sync::WorkerBuilder,
) -> (Worker, Arc<AtomicUsize>, mpsc::Receiver<()>) {
    let mut worker = builder.build().expect("worker");
    let grabs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&grabs);
    worker.on_grab_job(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let (sender, receiver) = mpsc::channel();
    let sender = Mutex::new(sender);
    worker.on_no_job(move |_| {
        let _ = sender.lock().expect("lock").send(());
    });
    (worker, grabs, receiver)
}

fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn a_swallowed_noop_costs_at_most_the_reask_interval() {
    let server = Gearmand::start();
    let proxy = NoopSwallower::start(&server.addr(), 1);
    let reask = Duration::from_secs(2);
    let (mut worker, _grabs, no_job) = counting_worker(
        Worker::builder()
            .servers(proxy.addr())
            .reask_interval(reask),
    );
    worker
        .add_ability("lost", |job| Ok(job.workload().to_vec()))
        .expect("ability");
    let _worker = WorkerThread::run(worker);
    no_job
        .recv_timeout(Duration::from_secs(5))
        .expect("the worker asked and found nothing");
    // Let its PRE_SLEEP reach gearmand, then submit: gearmand's NOOP is swallowed.
    wait_until(Duration::from_secs(5), || {
        admin(&server.addr(), "workers").contains(" lost")
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let result = client(&server.addr()).do_normal("lost", "wake me");
    let waited = started.elapsed();
    assert_eq!(result.expect("job"), b"wake me");
    assert_eq!(proxy.swallowed(), 1, "the wake-up was really lost");
    assert!(
        waited >= Duration::from_millis(800),
        "the job can only have run through the re-ask ({waited:?})"
    );
    assert!(
        waited <= reask + Duration::from_millis(1500),
        "a lost wake-up costs at most the re-ask interval ({waited:?})"
    );
}

#[test]
fn an_idle_worker_sleeps_without_cpu_and_reasks_once_per_interval() {
    let server = Gearmand::start();
    let (mut worker, grabs, no_job) = counting_worker(Worker::builder().servers(&server.addr()));
    worker
        .add_ability("idle", |job| Ok(job.workload().to_vec()))
        .expect("ability");
    let worker = MeasuredWorker::run(worker);
    no_job.recv_timeout(Duration::from_secs(5)).expect("asleep");
    let (ticks, asked) = (worker.cpu_ticks(), grabs.load(Ordering::SeqCst));
    std::thread::sleep(Duration::from_secs(6));
    let spent = worker.cpu_ticks() - ticks;
    let reasked = grabs.load(Ordering::SeqCst) - asked;
    assert!(spent <= 1, "an idle worker used {spent} ticks in 6 s");
    assert!(
        (1..=2).contains(&reasked),
        "one re-ask per 5 s by default, got {reasked} GRABs in 6 s"
    );
    // Still awake for real work after re-asking.
    assert_eq!(
        client(&server.addr()).do_normal("idle", "x").expect("job"),
        b"x"
    );
}

/// gearmand 1.1.x: a far-future scheduled job in front of a runnable LOW job makes PRE_SLEEP
/// answer NOOP at once and GRAB answer NO_JOB, forever (PROTOCOL.md section 9).
#[test]
fn a_noop_no_job_storm_is_met_with_backoff_not_a_spin() {
    let server = Gearmand::start();
    let addr = server.addr();
    let mut submitter = client(&addr);
    let far = SystemTime::now() + Duration::from_secs(3600);
    submitter
        .schedule("storm", "later", far)
        .expect("scheduled job");
    submitter
        .do_low_background("storm", "low")
        .expect("low job");
    let ran = Arc::new(Mutex::new(Vec::new()));
    let (mut worker, grabs, _no_job) = counting_worker(Worker::builder().servers(&addr));
    let log = Arc::clone(&ran);
    worker
        .add_ability("storm", move |job| {
            log.lock().expect("lock").push(job.workload().to_vec());
            Ok(Vec::new())
        })
        .expect("ability");
    let worker = MeasuredWorker::run(worker);
    if is_gearmand_2(&addr) {
        // 2.0.0 looks past the scheduled job and assigns the LOW one: no storm.
        wait_until(Duration::from_secs(5), || {
            !ran.lock().expect("lock").is_empty()
        });
        assert_eq!(ran.lock().expect("lock")[0], b"low");
    } else {
        std::thread::sleep(Duration::from_secs(2));
        let (ticks, asked) = (worker.cpu_ticks(), grabs.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_secs(6));
        let spent = worker.cpu_ticks() - ticks;
        let grabbed = grabs.load(Ordering::SeqCst) - asked;
        eprintln!(
            "storm: {asked} GRABs in the first 2 s, then {grabbed} GRABs and {spent} ticks in 6 s"
        );
        assert!(
            asked >= 4,
            "the storm happened: {asked} GRABs in the first 2 s"
        );
        assert!(
            spent * 100 < 5 * 600,
            "the storm cost the worker {spent} ticks in 6 s (5 % is 30)"
        );
        assert!(
            grabbed <= 18,
            "at most a few GRABs per second in the storm, got {grabbed} in 6 s"
        );
        assert!(
            ran.lock().expect("lock").is_empty(),
            "1.1.x never assigns the LOW job"
        );
    }
    // A job that becomes runnable still starts within the backoff bound (the re-ask interval).
    let started = Instant::now();
    let result = client(&addr).do_normal("storm", "now");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        started.elapsed() <= Duration::from_millis(6500),
        "a runnable job waited {:?}",
        started.elapsed()
    );
}

/// gearmand 1.1.x never wakes a sleeping worker when a scheduled job comes due; 2.0.0 does.
/// Either way the job starts within the re-ask interval after it is due.
#[test]
fn a_scheduled_job_starts_within_the_reask_interval_after_it_is_due() {
    let server = Gearmand::start();
    let addr = server.addr();
    let reask = Duration::from_secs(2);
    let (mut worker, _grabs, no_job) =
        counting_worker(Worker::builder().servers(&addr).reask_interval(reask));
    let (sender, ran) = mpsc::channel();
    let sender = Mutex::new(sender);
    worker
        .add_ability("later", move |_| {
            let _ = sender.lock().expect("lock").send(Instant::now());
            Ok(Vec::new())
        })
        .expect("ability");
    let _worker = WorkerThread::run(worker);
    no_job.recv_timeout(Duration::from_secs(5)).expect("asleep");
    // Epochs have whole seconds: due between 2 and 3 s from now.
    let due_epoch = now_epoch() + 3;
    let due = Instant::now()
        + (UNIX_EPOCH + Duration::from_secs(due_epoch))
            .duration_since(SystemTime::now())
            .unwrap_or_default();
    client(&addr)
        .schedule("later", "x", UNIX_EPOCH + Duration::from_secs(due_epoch))
        .expect("scheduled");
    let started = ran
        .recv_timeout(Duration::from_secs(10))
        .expect("the scheduled job ran");
    assert!(
        started + Duration::from_millis(1100) >= due,
        "not before it was due"
    );
    let late = started.saturating_duration_since(due);
    assert!(
        late <= reask + Duration::from_millis(1200),
        "started {late:?} after it was due"
    );
    if is_gearmand_2(&addr) {
        assert!(
            late <= Duration::from_millis(1200),
            "2.0.0 wakes sleepers ({late:?})"
        );
    }
}

/// One worker whose `slow` handler always overruns its 1 s limit (it sleeps 1.5 s).
fn overrunning_worker(addr: &str, ability: Ability, mode: Option<ExceptionMode>) -> WorkerThread {
    let mut builder = Worker::builder().servers(addr);
    if let Some(mode) = mode {
        builder = builder.exceptions(mode);
    }
    let mut worker = builder.build().expect("worker");
    worker.register(ability).expect("ability");
    WorkerThread::run(worker)
}

fn sleepy(
    attempts: &Arc<AtomicUsize>,
) -> impl FnMut(&mut gearman_sync::Job<'_>) -> gearman_sync::JobResult + Send + 'static {
    let attempts = Arc::clone(attempts);
    move |_job| {
        attempts.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1500));
        Ok(b"too late".to_vec())
    }
}

const OVERRUN_TEXT: &str = "time limit of 1s exceeded";

#[test]
fn a_worker_time_limit_fails_the_job_once_with_its_text() {
    let server = Gearmand::start();
    let addr = server.addr();
    let attempts = Arc::new(AtomicUsize::new(0));
    let ability = Ability::new("slow", sleepy(&attempts)).timeout(Duration::from_secs(1));
    let _worker = overrunning_worker(&addr, ability, None);
    let started = Instant::now();
    match client(&addr).do_normal("slow", "x") {
        Err(Error::JobFailed { warning, .. }) => {
            let text = String::from_utf8(warning.expect("the text")).expect("utf-8");
            assert!(text.starts_with(OVERRUN_TEXT), "{text}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    // A background job that always overruns runs once, never again.
    client(&addr)
        .do_background("slow", "bg")
        .expect("submitted");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(attempts.load(Ordering::SeqCst), 2, "ran once, not looped");
    assert_eq!(queued(&addr, "slow"), 0);
}

#[test]
fn a_worker_time_limit_is_an_exception_in_exception_mode() {
    let server = Gearmand::start();
    let addr = server.addr();
    let attempts = Arc::new(AtomicUsize::new(0));
    let ability = Ability::new("slow", sleepy(&attempts)).timeout(Duration::from_secs(1));
    let _worker = overrunning_worker(&addr, ability, Some(ExceptionMode::Exception));
    match client(&addr).do_normal("slow", "x") {
        Err(Error::JobException { data, .. }) => {
            assert!(String::from_utf8_lossy(&data).starts_with(OVERRUN_TEXT))
        }
        other => panic!("expected an exception, got {other:?}"),
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

/// gearmand's own limit (CAN_DO_TIMEOUT) re-queues the job at 1 s; without `--job-retries`
/// it would run again forever. The worker fails it when it comes back instead.
#[test]
fn a_server_time_limit_never_loops_on_one_worker() {
    let server = Gearmand::start();
    let addr = server.addr();
    let attempts = Arc::new(AtomicUsize::new(0));
    let ability = Ability::new("slow", sleepy(&attempts)).server_timeout(Duration::from_secs(1));
    let _worker = overrunning_worker(&addr, ability, None);
    let started = Instant::now();
    match client(&addr).do_normal("slow", "x") {
        Err(Error::JobFailed { warning, .. }) => {
            let text = String::from_utf8(warning.expect("the text")).expect("utf-8");
            assert!(text.contains("time limit exceeded"), "{text}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "ran once");
    client(&addr)
        .do_background("slow", "bg")
        .expect("submitted");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "the background job ran once"
    );
    assert_eq!(queued(&addr, "slow"), 0, "and is gone");
}

/// With `gearmand --job-retries 2` gearmand itself ends the job: the client gets WORK_FAIL.
#[test]
fn a_server_time_limit_with_job_retries_ends_in_a_failure() {
    let server = Gearmand::start_with(&["--job-retries", "2"]);
    let addr = server.addr();
    let attempts = Arc::new(AtomicUsize::new(0));
    let ability = Ability::new("slow", sleepy(&attempts)).server_timeout(Duration::from_secs(1));
    let _worker = overrunning_worker(&addr, ability, None);
    let started = Instant::now();
    let outcome = client(&addr).do_normal("slow", "x");
    assert!(
        matches!(outcome, Err(Error::JobFailed { .. })),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

/// Four worker threads (a `Worker` each) after a time-limited job was re-queued by gearmand's
/// timer several times (the race that loses wake-ups on 1.1.x): every thread still serves.
#[test]
fn after_a_requeue_storm_every_worker_thread_serves() {
    let server = Gearmand::start();
    let addr = server.addr();
    let reask = Duration::from_secs(2);
    let served_by = Arc::new(Mutex::new(Vec::new()));
    let storm_runs = Arc::new(AtomicUsize::new(0));
    let _workers: Vec<WorkerThread> = (0..4)
        .map(|thread| {
            let mut worker = Worker::builder()
                .servers(&addr)
                .reask_interval(reask)
                .build()
                .expect("worker");
            let runs = Arc::clone(&storm_runs);
            worker
                .register(
                    Ability::new("storm", move |_| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(1100));
                        Ok(Vec::new())
                    })
                    .server_timeout(Duration::from_secs(1)),
                )
                .expect("ability");
            let log = Arc::clone(&served_by);
            worker
                .add_ability("busy", move |_| {
                    std::thread::sleep(Duration::from_secs(3));
                    log.lock().expect("lock").push(thread);
                    Ok(Vec::new())
                })
                .expect("ability");
            WorkerThread::run(worker)
        })
        .collect();
    // Overrunning jobs: each is re-queued by gearmand's timer, then failed by the worker it
    // comes back to. (gearmand 1.1.20's running counter goes wrong here, so `status` cannot
    // tell when they are gone: wait until no handler has started for 2 s.)
    let mut submitter = client(&addr);
    for n in 0..4 {
        submitter
            .do_background("storm", format!("{n}"))
            .expect("submitted");
    }
    let mut last = (0, Instant::now());
    wait_until(Duration::from_secs(40), || {
        let runs = storm_runs.load(Ordering::SeqCst);
        if runs != last.0 {
            last = (runs, Instant::now());
        }
        runs >= 4 && last.1.elapsed() > Duration::from_secs(2)
    });
    eprintln!("{} overrunning runs", storm_runs.load(Ordering::SeqCst));
    let started = Instant::now();
    let mut set = submitter.task_set();
    for n in 0..4 {
        set.add_task(Task::new("busy", format!("{n}")))
            .expect("task");
    }
    let report = set.wait(Duration::from_secs(20)).expect("wait");
    assert!(report.all_completed(), "{report:?}");
    drop(set);
    let elapsed = started.elapsed();
    let mut threads = served_by.lock().expect("lock").clone();
    threads.sort_unstable();
    assert_eq!(
        threads,
        [0, 1, 2, 3],
        "each thread took one of the four jobs"
    );
    assert!(
        elapsed < Duration::from_secs(3) + reask + Duration::from_millis(1500),
        "{elapsed:?}"
    );
}

#[test]
fn failed_connections_are_reported_and_wait_registered_waits_for_a_server() {
    // A port where a gearmand ran and is stopped: refused until it comes back.
    let mut server = Gearmand::start();
    server.stop();
    let addr = server.addr();
    let mut worker = Worker::builder()
        .servers(&addr)
        .backoff(
            gearman_sync::Backoff::new(Duration::from_millis(50), Duration::from_millis(200))
                .with_jitter(0.0),
        )
        .build()
        .expect("worker");
    worker
        .add_ability("echo", |job| Ok(job.workload().to_vec()))
        .expect("ability");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    worker.on_connect_error(move |server, error| {
        seen.lock()
            .expect("lock")
            .push((server.to_string(), error.to_string()));
    });
    let started = Instant::now();
    match worker.wait_registered(Duration::from_millis(600)) {
        Err(Error::NoJobServers(failures)) => {
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].server, addr);
            assert!(failures[0].to_string().contains("refused"), "{failures:?}");
        }
        other => panic!("expected NoJobServers, got {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    {
        let errors = errors.lock().expect("lock");
        assert!(errors.len() >= 2, "every attempt is reported: {errors:?}");
        assert!(errors.iter().all(|(server, _)| *server == addr));
    }
    // A server appears on that port: the worker registers within its backoff.
    server.restart();
    assert_eq!(
        worker
            .wait_registered(Duration::from_secs(5))
            .expect("registered"),
        1
    );
    wait_until(Duration::from_secs(5), || {
        admin(&server.addr(), "workers").contains(" echo")
    });
}

/// gearmand wakes every sleeping worker for each job and only one wins it: the losers' empty
/// wake-ups are not the storm, so they must not pause. After a stream of jobs that four
/// workers compete for, a job only one of them can take still starts at once.
#[test]
fn workers_that_lose_races_for_jobs_still_answer_at_once() {
    let server = Gearmand::start();
    let addr = server.addr();
    let _workers: Vec<WorkerThread> = (0..4)
        .map(|thread| {
            WorkerThread::spawn(&addr, move |worker| {
                worker
                    .add_ability("shared", |job| Ok(job.workload().to_vec()))
                    .expect("ability");
                worker
                    .add_ability(format!("own-{thread}"), |job| Ok(job.workload().to_vec()))
                    .expect("ability");
            })
        })
        .collect();
    let mut submitter = client(&addr);
    // A trickle of jobs that every worker is woken for.
    let until = Instant::now() + Duration::from_secs(3);
    let mut submitted = 0;
    while Instant::now() < until {
        submitter
            .do_background("shared", format!("{submitted}"))
            .expect("submitted");
        submitted += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_until(Duration::from_secs(10), || queued(&addr, "shared") == 0);
    std::thread::sleep(Duration::from_millis(100));
    for thread in 0..4 {
        let started = Instant::now();
        let result = submitter.do_normal(&format!("own-{thread}"), "x");
        assert_eq!(result.expect("own job"), b"x");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "worker {thread} answered after {:?} ({submitted} shared jobs before)",
            started.elapsed()
        );
    }
}
