//! Chaos: 3 gearmands, 4 worker threads (each its own `Worker` over all three servers) and 2
//! client threads (each its own `Client` over all three) submitting foreground and background
//! jobs, while a controller kills (SIGKILL), freezes (SIGSTOP/SIGCONT) and restarts the servers
//! at random.
//!
//! Asserted:
//! - every foreground task ends with its right result or a typed error of the kinds `do_task`
//!   documents, and returns within its bound (below); no result is ever wrong;
//! - every background submission ends with a handle or a typed error within its bound;
//! - at least one foreground task per second of chaos succeeded (so the test cannot pass by
//!   failing everything);
//! - after the chaos, with every server running again, a job on each server for each worker
//!   thread (`probe-<thread>`, registered by that thread only, sent to that server only) is
//!   served within [`PROBE_DEADLINE`]: no worker thread ends unable to serve on any server;
//! - no panic anywhere (a panic hook counts them, also ones the library would catch), every
//!   `work()` returns `Ok` once stopped, every thread ends within a bounded time.
//!
//! Time bounds, from the client's settings below and the documented blocking of the library
//! ([`gearman_sync::ConnectionPool::checkout`]: "connect timeout and probe timeout per
//! server tried"): a task's deadline ([`JOB_TIMEOUT`], [`REQUEST_TIMEOUT`] for a background
//! submission) starts once it is submitted, and submitting may first try each of the 3 servers
//! once, each costing up to [`CONNECT_TIMEOUT`] + [`PROBE_TIMEOUT`] when it is frozen. So:
//! - one foreground call: `JOB_TIMEOUT + 3 * (CONNECT_TIMEOUT + PROBE_TIMEOUT) + SLACK`;
//! - a set of `SET_SIZE` tasks: `JOB_TIMEOUT + SET_SIZE * 3 * (CONNECT + PROBE) + SLACK`;
//! - a background submission: `REQUEST_TIMEOUT + 3 * (CONNECT + PROBE) + SLACK`;
//!
//! where [`SLACK`] covers scheduling on a loaded 2-core machine. How far past the bare
//! deadline calls really returned is printed too.
//!
//! Environment: `CHAOS_SEED` replays the controller's (and the threads') random choices (the
//! timing of a run is not reproducible, the sequence of actions is); `CHAOS_SECONDS` (default
//! 30) sets the length of the chaos phase; `CHAOS_LOG=1` prints the library's log lines
//! (info and above) as they happen; otherwise the last ones are printed when the test fails.

mod common;
mod util;

use std::collections::{BTreeMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Gearmand;
use gearman_sync::{Client, Error, Priority, Task, TaskOutcome, Worker};
use util::reversed;

const SERVERS: usize = 3;
const WORKERS: usize = 4;
const CLIENTS: usize = 2;
const DEFAULT_SECONDS: u64 = 30;

/// The client's job deadline (`ClientBuilder::timeout`).
const JOB_TIMEOUT: Duration = Duration::from_secs(3);
/// The client's deadline for `JOB_CREATED` of a background job (`request_timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The client's TCP connect limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The client's limit on the ECHO probe of a new connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(1);
/// Tasks in one task set.
const SET_SIZE: usize = 3;
/// How long a probe job may take after the chaos: the worker's reconnect backoff (at most 1 s
/// by default) and, after a lost wake-up, a re-ask interval of up to 10 s fit in it.
const PROBE_DEADLINE: Duration = Duration::from_secs(20);
/// Extra wait after a failed probe, only to tell "late" from "never" in the report.
const PROBE_EXTRA: Duration = Duration::from_secs(10);
/// The probes' sets are waited for in turn, this long each.
const PROBE_SLICE: Duration = Duration::from_millis(5);

/// Worst-case time to find a server: each one tried once, frozen.
fn checkout_bound() -> Duration {
    (CONNECT_TIMEOUT + PROBE_TIMEOUT) * SERVERS as u32
}

fn single_bound() -> Duration {
    JOB_TIMEOUT + checkout_bound() + SLACK
}

fn set_bound() -> Duration {
    JOB_TIMEOUT + checkout_bound() * SET_SIZE as u32 + SLACK
}

fn background_bound() -> Duration {
    REQUEST_TIMEOUT + checkout_bound() + SLACK
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/// xorshift64*, seeded through splitmix64 so that nearby seeds give unrelated streams.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut z = seed
            .wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(z.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with `percent` % probability.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `low..=high`, in milliseconds.
    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high - low + 1))
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

// ---------------------------------------------------------------------------------------------
// Log and panic capture

/// Keeps the library's log lines (info and above) with their time, so a failure can show what
/// the library saw; `CHAOS_LOG=1` prints them as they come.
struct LogCapture {
    started: Instant,
    echo: bool,
    lines: Mutex<VecDeque<String>>,
    warnings: AtomicUsize,
    infos: AtomicUsize,
}

const LOG_KEEP: usize = 4000;

impl log::Log for LogCapture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info && metadata.target().starts_with("gearman_sync")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if record.level() <= log::Level::Warn {
            self.warnings.fetch_add(1, Ordering::Relaxed);
        } else {
            self.infos.fetch_add(1, Ordering::Relaxed);
        }
        let line = format!(
            "+{:7.3}s [{}] {} {}",
            self.started.elapsed().as_secs_f64(),
            thread::current().name().unwrap_or("?"),
            record.level(),
            record.args()
        );
        if self.echo {
            eprintln!("{line}");
        }
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() >= LOG_KEEP {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn flush(&self) {}
}

static LOGGER: OnceLock<LogCapture> = OnceLock::new();
static PANICS: AtomicUsize = AtomicUsize::new(0);
static PANIC_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn install_capture(started: Instant) -> &'static LogCapture {
    let logger = LOGGER.get_or_init(|| LogCapture {
        started,
        echo: std::env::var_os("CHAOS_LOG").is_some_and(|value| value != "0"),
        lines: Mutex::new(VecDeque::new()),
        warnings: AtomicUsize::new(0),
        infos: AtomicUsize::new(0),
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        let message = format!(
            "thread {:?}: {info}",
            thread::current().name().unwrap_or("?")
        );
        PANIC_MESSAGES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
        default_hook(info);
    }));
    logger
}

// ---------------------------------------------------------------------------------------------
// Threads joined with a deadline

/// A thread whose result (or panic) arrives on a channel, so it can be awaited with a deadline.
struct Joinable<T> {
    name: String,
    receiver: Receiver<thread::Result<T>>,
}

fn spawn_joinable<T: Send + 'static>(
    name: String,
    body: impl FnOnce() -> T + Send + 'static,
) -> Joinable<T> {
    let (sender, receiver) = mpsc::channel();
    thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(body));
            let _ = sender.send(result);
        })
        .expect("spawn thread");
    Joinable { name, receiver }
}

impl<T> Joinable<T> {
    /// The thread's result, or why there is none (it panicked, or it is still running at
    /// `deadline`; it is then left detached).
    fn join_by(self, deadline: Instant) -> Result<T, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.receiver.recv_timeout(left) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(payload)) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                Err(format!("{} panicked: {message}", self.name))
            }
            Err(_) => Err(format!("{} did not end in time", self.name)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Servers and the controller

fn send_signal(pid: u32, signal: &str) {
    assert!(
        common::try_signal(pid, signal),
        "kill -{signal} {pid} failed"
    );
}

#[derive(Debug, Clone, Copy)]
enum ServerState {
    Up,
    /// SIGSTOPped; SIGCONT at `until`.
    Frozen {
        until: Instant,
    },
    /// SIGKILLed (and reaped); restarted at `until`.
    Down {
        until: Instant,
    },
}

#[derive(Debug, Default)]
struct ChaosCounts {
    kills: usize,
    freezes: usize,
    kills_while_frozen: usize,
    restarts: usize,
    idle_ticks: usize,
}

struct Controller<'s> {
    servers: &'s mut [Gearmand],
    states: Vec<ServerState>,
    rng: Rng,
    started: Instant,
    counts: ChaosCounts,
}

impl Controller<'_> {
    fn say(&self, message: &str) {
        eprintln!(
            "[chaos +{:6.2}s] {message}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn impaired(&self) -> usize {
        self.states
            .iter()
            .filter(|state| !matches!(state, ServerState::Up))
            .count()
    }

    /// SIGKILL, then wait (bounded) until the process is reaped.
    fn kill(&mut self, index: usize, down_for: Duration) {
        let pid = self.servers[index].pid();
        send_signal(pid, "KILL");
        let server = &mut self.servers[index];
        common::wait_until(Duration::from_secs(5), || !server.is_running());
        self.states[index] = ServerState::Down {
            until: Instant::now() + down_for,
        };
    }

    fn restart(&mut self, index: usize) {
        let before = Instant::now();
        self.servers[index].restart();
        self.states[index] = ServerState::Up;
        self.counts.restarts += 1;
        self.say(&format!(
            "server {index} restarted (port {}, pid {}) in {:.2?}",
            self.servers[index].port(),
            self.servers[index].pid(),
            before.elapsed()
        ));
    }

    fn thaw(&mut self, index: usize) {
        send_signal(self.servers[index].pid(), "CONT");
        self.states[index] = ServerState::Up;
        self.say(&format!("server {index} SIGCONT"));
    }

    /// Ends every freeze and outage whose time has come.
    fn expire(&mut self, now: Instant, all: bool) {
        for index in 0..self.states.len() {
            match self.states[index] {
                ServerState::Frozen { until } if all || now >= until => self.thaw(index),
                ServerState::Down { until } if all || now >= until => self.restart(index),
                _ => {}
            }
        }
    }

    /// One random action; never more than 2 servers impaired at once.
    fn act(&mut self) {
        let roll = self.rng.below(100);
        let index = self.rng.below(SERVERS as u64) as usize;
        let state = self.states[index];
        let can_impair = self.impaired() < SERVERS - 1;
        match (roll, state) {
            (0..=29, ServerState::Up) if can_impair => {
                let down_for = self.rng.millis(200, 1500);
                self.kill(index, down_for);
                self.counts.kills += 1;
                self.say(&format!(
                    "server {index} SIGKILL, restart in {down_for:.1?} ({} impaired)",
                    self.impaired()
                ));
            }
            (30..=64, ServerState::Up) if can_impair => {
                let frozen_for = self.rng.millis(500, 4000);
                send_signal(self.servers[index].pid(), "STOP");
                self.states[index] = ServerState::Frozen {
                    until: Instant::now() + frozen_for,
                };
                self.counts.freezes += 1;
                self.say(&format!(
                    "server {index} SIGSTOP for {frozen_for:.1?} ({} impaired)",
                    self.impaired()
                ));
            }
            (0..=64, ServerState::Frozen { .. }) if self.rng.chance(30) => {
                // SIGKILL reaches a stopped process too.
                let down_for = self.rng.millis(200, 1000);
                self.kill(index, down_for);
                self.counts.kills_while_frozen += 1;
                self.say(&format!(
                    "server {index} SIGKILL while frozen, restart in {down_for:.1?}"
                ));
            }
            _ => self.counts.idle_ticks += 1,
        }
    }

    /// Runs the chaos until `end`, then brings every server back.
    fn run(&mut self, end: Instant) {
        let mut next_action = Instant::now() + self.rng.millis(500, 2000);
        loop {
            let now = Instant::now();
            self.expire(now, false);
            if now >= end {
                break;
            }
            if now >= next_action {
                self.act();
                next_action = Instant::now() + self.rng.millis(500, 2000);
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.expire(Instant::now(), true);
        for (index, server) in self.servers.iter_mut().enumerate() {
            assert!(
                server.is_running(),
                "server {index} is not running after the chaos"
            );
            common::admin(&server.addr(), "version");
        }
        self.say("chaos over: every server runs and answers");
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

#[derive(Debug, Default)]
struct ClientReport {
    id: usize,
    fg_tasks: u64,
    fg_ok: u64,
    fg_errors: BTreeMap<&'static str, u64>,
    bg_calls: u64,
    bg_ok: u64,
    bg_errors: BTreeMap<&'static str, u64>,
    /// First message seen per error kind.
    samples: BTreeMap<&'static str, String>,
    wrong: Vec<String>,
    late: Vec<String>,
    unexpected: Vec<String>,
    /// Slowest foreground call (single or set) and slowest background submission.
    slowest_fg: Duration,
    slowest_bg: Duration,
    /// Longest time without a successful foreground task.
    longest_gap: Duration,
    /// Single foreground calls (`do_task`) and task sets made.
    singles: u64,
    sets: u64,
}

/// Kinds of error `do_task` documents for a job that cannot be done (InvalidArgument excluded:
/// nothing here is invalid).
fn fg_error_kind(error: &Error) -> Option<&'static str> {
    Some(match error {
        Error::Timeout { .. } => "Timeout",
        Error::SubmitUnconfirmed { .. } => "SubmitUnconfirmed",
        Error::JobLost { .. } => "JobLost",
        Error::NoJobServers(_) => "NoJobServers",
        Error::Server { .. } => "Server",
        Error::JobFailed { .. } => "JobFailed",
        Error::JobException { .. } => "JobException",
        _ => return None,
    })
}

/// Kinds of error `submit_background` documents (and its own timeout).
fn bg_error_kind(error: &Error) -> Option<&'static str> {
    Some(match error {
        Error::Timeout { .. } => "Timeout",
        Error::SubmitUnconfirmed { .. } => "SubmitUnconfirmed",
        Error::NoJobServers(_) => "NoJobServers",
        Error::Server { .. } => "Server",
        _ => return None,
    })
}

impl ClientReport {
    fn foreground(&mut self, payload: &str, result: Result<Vec<u8>, Error>, last_ok: &mut Instant) {
        self.fg_tasks += 1;
        match result {
            Ok(data) if data == reversed(payload.as_bytes()) => {
                self.fg_ok += 1;
                self.longest_gap = self.longest_gap.max(last_ok.elapsed());
                *last_ok = Instant::now();
            }
            Ok(data) => self.wrong.push(format!(
                "{payload}: got {:?}",
                String::from_utf8_lossy(&data)
            )),
            Err(error) => match fg_error_kind(&error) {
                Some(kind) => {
                    *self.fg_errors.entry(kind).or_default() += 1;
                    self.samples
                        .entry(kind)
                        .or_insert_with(|| format!("{payload}: {error}"));
                }
                None => self
                    .unexpected
                    .push(format!("{payload}: {error:?} ({error})")),
            },
        }
    }

    fn timing(&mut self, what: &str, elapsed: Duration, bound: Duration, at: Duration) {
        if elapsed > bound {
            self.late.push(format!(
                "{what} took {elapsed:.2?} > bound {bound:.2?} (returned at +{:.2}s)",
                at.as_secs_f64()
            ));
        }
    }
}

fn client_loop(
    id: usize,
    servers: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    t0: Instant,
) -> ClientReport {
    let mut rng = Rng::new(seed, 100 + id as u64);
    let mut client = Client::builder()
        .servers(&servers)
        .client_id(format!("chaos-c{id}"))
        .job_timeout(JOB_TIMEOUT)
        .request_timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .probe_timeout(PROBE_TIMEOUT)
        .build()
        .expect("client");
    let mut report = ClientReport {
        id,
        ..ClientReport::default()
    };
    let mut last_ok = Instant::now();
    let mut next = 0u64;
    let mut payload = |prefix: char| {
        next += 1;
        format!("{prefix}{id}-{next}")
    };
    while !stop.load(Ordering::SeqCst) {
        let roll = rng.below(100);
        if roll < 55 {
            // One foreground job at a random priority.
            let payload = payload('c');
            let priority = [Priority::High, Priority::Normal, Priority::Low][rng.below(3) as usize];
            let started = Instant::now();
            let result = client.do_task(Task::new("chaos", payload.as_str()).priority(priority));
            let elapsed = started.elapsed();
            report.singles += 1;
            report.slowest_fg = report.slowest_fg.max(elapsed);
            report.timing(
                &format!("foreground {payload}"),
                elapsed,
                single_bound(),
                t0.elapsed(),
            );
            report.foreground(&payload, result, &mut last_ok);
        } else if roll < 80 {
            // A small task set, waited for with the job deadline.
            let payloads: Vec<String> = (0..SET_SIZE).map(|_| payload('c')).collect();
            let started = Instant::now();
            let mut results = Vec::with_capacity(SET_SIZE);
            {
                let mut set = client.task_set();
                let mut ids = Vec::with_capacity(SET_SIZE);
                for payload in &payloads {
                    match set.add_task(Task::new("chaos", payload.as_str())) {
                        Ok(task) => ids.push(Ok(task)),
                        Err(error) => ids.push(Err(error)),
                    }
                }
                if let Err(error) = set.wait(JOB_TIMEOUT) {
                    report.unexpected.push(format!("TaskSet::wait: {error:?}"));
                }
                set.abandon();
                for task in ids {
                    results.push(match task {
                        Err(error) => Some(Err(error)),
                        Ok(task) => match set.take_outcome(task) {
                            Some(TaskOutcome::Completed(data)) => Some(Ok(data)),
                            Some(TaskOutcome::Failed(error)) => Some(Err(error)),
                            other => {
                                report.unexpected.push(format!(
                                    "task set: outcome {other:?} for a foreground task after \
                                     abandon()"
                                ));
                                None
                            }
                        },
                    });
                }
            }
            let elapsed = started.elapsed();
            report.sets += 1;
            report.slowest_fg = report.slowest_fg.max(elapsed);
            report.timing(
                &format!("task set {}..{}", payloads[0], payloads[SET_SIZE - 1]),
                elapsed,
                set_bound(),
                t0.elapsed(),
            );
            for (payload, result) in payloads.iter().zip(results) {
                if let Some(result) = result {
                    report.foreground(payload, result, &mut last_ok);
                }
            }
        } else {
            // A background job.
            let payload = payload('b');
            let started = Instant::now();
            let result = client.submit_background(Task::new("chaos", payload.as_str()));
            let elapsed = started.elapsed();
            report.bg_calls += 1;
            report.slowest_bg = report.slowest_bg.max(elapsed);
            report.timing(
                &format!("background {payload}"),
                elapsed,
                background_bound(),
                t0.elapsed(),
            );
            match result {
                Ok(_) => report.bg_ok += 1,
                Err(error) => match bg_error_kind(&error) {
                    Some(kind) => {
                        *report.bg_errors.entry(kind).or_default() += 1;
                        report
                            .samples
                            .entry(kind)
                            .or_insert_with(|| format!("{payload} (background): {error}"));
                    }
                    None => report
                        .unexpected
                        .push(format!("{payload} (background): {error:?} ({error})")),
                },
            }
        }
        thread::sleep(rng.millis(3, 15));
    }
    report.longest_gap = report.longest_gap.max(last_ok.elapsed());
    report
}

// ---------------------------------------------------------------------------------------------
// Workers

#[derive(Debug, Default)]
struct WorkerCounters {
    chaos_jobs: AtomicU64,
    probe_jobs: AtomicU64,
    connects: AtomicU64,
}

fn build_worker(
    thread_index: usize,
    servers: &str,
    seed: u64,
    counters: Arc<WorkerCounters>,
) -> Worker {
    let mut worker = Worker::builder()
        .servers(servers)
        .client_id(format!("chaos-w{thread_index}"))
        .build()
        .expect("worker");
    let mut rng = Rng::new(seed, 200 + thread_index as u64);
    let chaos = Arc::clone(&counters);
    worker
        .add_ability("chaos", move |job| {
            chaos.chaos_jobs.fetch_add(1, Ordering::Relaxed);
            if rng.chance(10) {
                thread::sleep(rng.millis(1, 30));
            }
            Ok(reversed(job.workload()))
        })
        .expect("ability chaos");
    let probe = Arc::clone(&counters);
    worker
        .add_ability(format!("probe-{thread_index}"), move |job| {
            probe.probe_jobs.fetch_add(1, Ordering::Relaxed);
            let mut answer = format!("w{thread_index}:").into_bytes();
            answer.extend_from_slice(job.workload());
            Ok(answer)
        })
        .expect("ability probe");
    let connects = Arc::clone(&counters);
    worker.on_connect(move |_server| {
        connects.connects.fetch_add(1, Ordering::Relaxed);
    });
    worker
}

// ---------------------------------------------------------------------------------------------
// Probes after the chaos

/// Sends `probe-<t>` for every worker thread `t` to each server alone and waits for all the
/// answers; returns the failures (with what the server says about its workers).
fn probe_every_worker_on_every_server(
    servers: &[Gearmand],
) -> (Vec<String>, Vec<Vec<Option<Duration>>>) {
    let started = Instant::now();
    let mut clients: Vec<Client> = servers
        .iter()
        .map(|server| {
            Client::builder()
                .servers(&server.addr())
                .connect_timeout(CONNECT_TIMEOUT)
                .probe_timeout(PROBE_TIMEOUT)
                .job_timeout(PROBE_DEADLINE)
                .build()
                .expect("probe client")
        })
        .collect();
    let answered: Vec<Vec<std::cell::Cell<Option<Duration>>>> = (0..SERVERS)
        .map(|_| (0..WORKERS).map(|_| std::cell::Cell::new(None)).collect())
        .collect();
    let payloads: Vec<Vec<String>> = (0..SERVERS)
        .map(|s| (0..WORKERS).map(|t| format!("probe-s{s}-w{t}")).collect())
        .collect();
    let mut failures = Vec::new();
    let mut sets: Vec<_> = clients.iter_mut().map(Client::task_set).collect();
    let mut ids = Vec::new();
    for (s, set) in sets.iter_mut().enumerate() {
        for t in 0..WORKERS {
            let cell = &answered[s][t];
            let task = Task::new(format!("probe-{t}"), payloads[s][t].as_str())
                .on_complete(move |_| cell.set(Some(started.elapsed())));
            match set.add_task(task) {
                Ok(id) => ids.push((s, t, id)),
                Err(error) => failures.push(format!("server {s}, probe-{t}: not sent: {error}")),
            }
        }
    }
    // All sets in turn, in short slices, so that each answer is seen (and timed) when it
    // arrives, whichever server it comes from.
    let wait_all = |sets: &mut Vec<gearman_sync::TaskSet<'_, '_>>, until: Instant| {
        while sets.iter().any(|set| set.open() > 0) && Instant::now() < until {
            for set in sets.iter_mut().filter(|set| set.open() > 0) {
                set.wait(PROBE_SLICE).expect("wait");
            }
        }
    };
    wait_all(&mut sets, started + PROBE_DEADLINE);
    if sets.iter().any(|set| set.open() > 0) {
        // Only for the report: does it come late, or never?
        wait_all(&mut sets, Instant::now() + PROBE_EXTRA);
    }
    for set in &mut sets {
        set.abandon();
    }
    for (s, t, id) in ids {
        let expected = format!("w{t}:{}", payloads[s][t]).into_bytes();
        let outcome = sets[s].take_outcome(id);
        let when = answered[s][t].get();
        match (outcome, when) {
            (Some(TaskOutcome::Completed(data)), Some(when))
                if data == expected && when <= PROBE_DEADLINE => {}
            (outcome, when) => {
                let workers = common::try_admin(&servers[s].addr(), "workers")
                    .unwrap_or_else(|error| format!("admin workers failed: {error}"));
                let status = common::try_admin(&servers[s].addr(), "status")
                    .unwrap_or_else(|error| format!("admin status failed: {error}"));
                failures.push(format!(
                    "server {s} (port {}), probe-{t}: {outcome:?}, answered at {when:?} \
                     (deadline {PROBE_DEADLINE:?}, kept waiting {PROBE_EXTRA:?} more for the \
                     report)\n  admin workers:\n{workers}  admin status:\n{status}",
                    servers[s].port()
                ));
            }
        }
    }
    let latencies = answered
        .iter()
        .map(|row| row.iter().map(std::cell::Cell::get).collect())
        .collect();
    (failures, latencies)
}

// ---------------------------------------------------------------------------------------------
// The test

#[test]
fn chaos_kills_freezes_and_restarts_servers_under_load() {
    let t0 = Instant::now();
    let logger = install_capture(t0);
    let seed = env_u64("CHAOS_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(1)
    });
    let chaos_seconds = env_u64("CHAOS_SECONDS").unwrap_or(DEFAULT_SECONDS).max(1);
    let mut servers: Vec<Gearmand> = (0..SERVERS).map(|_| Gearmand::start()).collect();
    let list = servers
        .iter()
        .map(Gearmand::addr)
        .collect::<Vec<_>>()
        .join(",");
    eprintln!(
        "chaos: seed {seed} (CHAOS_SEED={seed} replays the random choices), {chaos_seconds} s \
         of chaos, servers {list}; bounds: foreground {:.1?}, set of {SET_SIZE} {:.1?}, \
         background {:.1?}",
        single_bound(),
        set_bound(),
        background_bound()
    );

    // Workers.
    let counters: Vec<Arc<WorkerCounters>> = (0..WORKERS)
        .map(|_| Arc::new(WorkerCounters::default()))
        .collect();
    let mut stops = Vec::new();
    let workers: Vec<_> = (0..WORKERS)
        .map(|t| {
            let mut worker = build_worker(t, &list, seed, Arc::clone(&counters[t]));
            stops.push(worker.stop_handle());
            spawn_joinable(format!("worker-{t}"), move || worker.work())
        })
        .collect();
    for server in &servers {
        let addr = server.addr();
        common::wait_until(Duration::from_secs(10), || {
            common::parse_status(&common::admin(&addr, "status"))
                .iter()
                .any(|(function, _, _, available)| {
                    function == "chaos" && *available == WORKERS as u64
                })
        });
    }

    // Clients.
    let stop_clients = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (list, stop) = (list.clone(), Arc::clone(&stop_clients));
            spawn_joinable(format!("client-{id}"), move || {
                client_loop(id, list, seed, stop, t0)
            })
        })
        .collect();

    // Chaos, then every server up again.
    let chaos_started = Instant::now();
    let mut controller = Controller {
        servers: &mut servers,
        states: vec![ServerState::Up; SERVERS],
        rng: Rng::new(seed, 0),
        started: t0,
        counts: ChaosCounts::default(),
    };
    controller.run(chaos_started + Duration::from_secs(chaos_seconds));
    let chaos_counts = std::mem::take(&mut controller.counts);
    let chaos_elapsed = chaos_started.elapsed();
    stop_clients.store(true, Ordering::SeqCst);

    let mut failures = Vec::new();
    let clients_deadline = Instant::now() + set_bound() + Duration::from_secs(5);
    let reports: Vec<ClientReport> = clients
        .into_iter()
        .filter_map(|client| match client.join_by(clients_deadline) {
            Ok(report) => Some(report),
            Err(why) => {
                failures.push(why);
                None
            }
        })
        .collect();

    // Every worker thread serves on every server.
    let (probe_failures, probe_latencies) = probe_every_worker_on_every_server(&servers);
    failures.extend(probe_failures);

    for stop in &stops {
        stop.stop();
    }
    let workers_deadline = Instant::now() + Duration::from_secs(15);
    let mut worker_jobs = Vec::new();
    for (t, worker) in workers.into_iter().enumerate() {
        match worker.join_by(workers_deadline) {
            Ok(Ok(summary)) => worker_jobs.push(summary.jobs),
            Ok(Err(error)) => failures.push(format!("worker {t}: work() failed: {error:?}")),
            Err(why) => failures.push(why),
        }
    }

    // Summary.
    let mut fg_tasks = 0;
    let mut fg_ok = 0;
    let mut bg_calls = 0;
    let mut bg_ok = 0;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for report in &reports {
        fg_tasks += report.fg_tasks;
        fg_ok += report.fg_ok;
        bg_calls += report.bg_calls;
        bg_ok += report.bg_ok;
        for (kind, count) in &report.fg_errors {
            *errors.entry(format!("fg {kind}")).or_default() += count;
        }
        for (kind, count) in &report.bg_errors {
            *errors.entry(format!("bg {kind}")).or_default() += count;
        }
        eprintln!(
            "client {}: {} singles, {} sets, {} foreground tasks ({} ok), {} background \
             ({} ok); slowest foreground call {:.2?} ({:.2?} past the job deadline), slowest \
             background {:.2?}, longest time without a completed job {:.2?}",
            report.id,
            report.singles,
            report.sets,
            report.fg_tasks,
            report.fg_ok,
            report.bg_calls,
            report.bg_ok,
            report.slowest_fg,
            report.slowest_fg.saturating_sub(JOB_TIMEOUT),
            report.slowest_bg,
            report.longest_gap
        );
        for (kind, sample) in &report.samples {
            eprintln!("client {}: first {kind}: {sample}", report.id);
        }
        for wrong in &report.wrong {
            failures.push(format!("client {}: WRONG RESULT {wrong}", report.id));
        }
        for late in &report.late {
            failures.push(format!("client {}: LATE {late}", report.id));
        }
        for unexpected in &report.unexpected {
            failures.push(format!("client {}: UNEXPECTED {unexpected}", report.id));
        }
    }
    eprintln!(
        "chaos summary: {:.1?} of chaos ({chaos_counts:?}); foreground {fg_tasks} tasks, \
         {fg_ok} ok ({:.0}/s); background {bg_calls}, {bg_ok} confirmed; errors {errors:?}",
        chaos_elapsed,
        fg_ok as f64 / chaos_elapsed.as_secs_f64()
    );
    for (t, counters) in counters.iter().enumerate() {
        eprintln!(
            "worker {t}: {} chaos jobs, {} probes, {} connects, work() reported {:?} jobs",
            counters.chaos_jobs.load(Ordering::Relaxed),
            counters.probe_jobs.load(Ordering::Relaxed),
            counters.connects.load(Ordering::Relaxed),
            worker_jobs.get(t)
        );
    }
    for (s, row) in probe_latencies.iter().enumerate() {
        let row: Vec<String> = row
            .iter()
            .map(|latency| latency.map_or("-".to_owned(), |latency| format!("{latency:.1?}")))
            .collect();
        eprintln!(
            "probes on server {s}, answered after (workers 0-{}): {}",
            WORKERS - 1,
            row.join(", ")
        );
    }
    eprintln!(
        "library log: {} warnings, {} info lines; test took {:.1?}",
        logger.warnings.load(Ordering::Relaxed),
        logger.infos.load(Ordering::Relaxed),
        t0.elapsed()
    );

    if reports.len() == CLIENTS && fg_ok < chaos_seconds {
        failures.push(format!(
            "only {fg_ok} foreground tasks succeeded in {chaos_seconds} s of chaos (want at \
             least 1 per second)"
        ));
    }
    let panics = PANICS.load(Ordering::SeqCst);
    if panics > 0 {
        let messages = PANIC_MESSAGES.lock().unwrap_or_else(|e| e.into_inner());
        failures.push(format!("{panics} panic(s): {messages:#?}"));
    }
    if !failures.is_empty() {
        let lines = logger.lines.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!("--- last {} library log lines ---", lines.len().min(200));
        for line in lines.iter().skip(lines.len().saturating_sub(200)) {
            eprintln!("{line}");
        }
        panic!(
            "chaos (seed {seed}) found {} problem(s):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
