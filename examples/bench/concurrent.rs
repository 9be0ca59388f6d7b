//! The concurrent worker's drain against the same number of worker processes
//! (`scripts/bench-concurrent` pairs them):
//!
//! ```text
//! bench drain_concurrent <host> <port> <N> <size> <threads>    one ConcurrentWorker, N jobs
//! bench drain_processes  <host> <port> <N> <size> <processes>  that many `drain_share` children
//! bench drain_share      <host> <port> <N> <size> <processes> <index>   (a child)
//! ```
//! Both drain N queued `bench_bg` jobs and check every payload: each sequence number 0..N
//! exactly once. Both time `work()` only: the concurrent worker from before its threads start
//! to the end of the last one; the processes from the earliest child's start of `work()` to
//! the latest child's end (so process start-up is not counted against them).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gearman_sync::{JobError, Worker};

use super::{check, line, max_body, Args, Outcome, FN_BG};

/// The thread or process count from the `label` argument.
fn count(args: &Args) -> Result<u64, String> {
    args.label
        .parse()
        .ok()
        .filter(|&count| count > 0)
        .ok_or_else(|| {
            format!(
                "{} needs a thread/process count, not {:?}",
                args.mode, args.label
            )
        })
}

/// A builder with bench's worker settings: `jobs` jobs, then `work()` returns (or after 30 s
/// without one), with `BENCH_PREFETCH` jobs asked for ahead.
fn builder(args: &Args, jobs: u64) -> Result<gearman_sync::WorkerBuilder, String> {
    let prefetch = match std::env::var("BENCH_PREFETCH") {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("BENCH_PREFETCH={value} is not a number"))?,
        Err(_) => 0,
    };
    Ok(Worker::builder()
        .servers(&args.servers)
        .max_jobs(jobs)
        .max_idle(Duration::from_secs(30))
        .prefetch(prefetch)
        .max_body_len(max_body(args.size)))
}

/// Marks `seq` as seen; a second sighting or a bad payload is kept as the problem.
fn record(seen: &[AtomicBool], problem: &Mutex<Option<String>>, workload: &[u8], size: usize) {
    let trouble = match check(workload, size) {
        Some(_) if size < 8 => None,
        Some(seq) => match seen.get(seq as usize) {
            Some(flag) if !flag.swap(true, Ordering::Relaxed) => None,
            _ => Some(format!("duplicate or out of range seq {seq}")),
        },
        None => Some(format!("bad payload of {} bytes", workload.len())),
    };
    if let (Some(trouble), Ok(mut problem)) = (trouble, problem.lock()) {
        problem.get_or_insert(trouble);
    }
}

/// One ConcurrentWorker with `threads` threads drains N jobs.
pub(super) fn drain_concurrent(args: &Args) -> Outcome {
    let threads = count(args)?;
    let seen: Arc<Vec<AtomicBool>> =
        Arc::new((0..args.n).map(|_| AtomicBool::new(false)).collect());
    let problem = Arc::new(Mutex::new(None::<String>));
    let mut worker = builder(args, args.n)?
        .build_concurrent(threads as usize)
        .map_err(|error| error.to_string())?;
    let (record_seen, record_problem, size) = (Arc::clone(&seen), Arc::clone(&problem), args.size);
    worker
        .add_ability(FN_BG, move |job| {
            record(&record_seen, &record_problem, job.workload(), size);
            Ok(Vec::new())
        })
        .map_err(|error| error.to_string())?;
    let started = Instant::now();
    let summary = worker.work().map_err(|error| error.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    if summary.jobs != args.n {
        return Err(format!("no job within 30 s after {} jobs", summary.jobs));
    }
    if let Some(problem) = problem.lock().map_err(|_| "poisoned")?.take() {
        return Err(problem);
    }
    if args.size >= 8 {
        if let Some(missing) = seen.iter().position(|flag| !flag.load(Ordering::Relaxed)) {
            return Err(format!("seq {missing} never seen"));
        }
    }
    line(
        args,
        "drain_concurrent",
        secs,
        &format!("ok={} threads={threads}", args.n),
    );
    Ok(())
}

/// Nanoseconds since the Unix epoch (comparable across processes).
fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

/// `processes` children of this binary drain N jobs together, each a plain Worker.
pub(super) fn drain_processes(args: &Args) -> Outcome {
    let processes = count(args)?;
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let (host, port) = args.servers.rsplit_once(':').ok_or("bad server")?;
    let children: Vec<_> = (0..processes)
        .map(|index| {
            Command::new(&exe)
                .args(["drain_share", host, port])
                .arg(args.n.to_string())
                .arg(args.size.to_string())
                .arg(processes.to_string())
                .arg(index.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|error| format!("spawn child {index}: {error}"))
        })
        .collect::<Result<_, _>>()?;
    let (mut jobs, mut sum, mut squares) = (0u64, 0u128, 0u128);
    let (mut first_start, mut last_end) = (u128::MAX, 0u128);
    for (index, child) in children.into_iter().enumerate() {
        let output = child
            .wait_with_output()
            .map_err(|error| format!("child {index}: {error}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!("child {index} failed ({}): {text}", output.status));
        }
        let field = |name: &str| -> Result<u128, String> {
            text.split_whitespace()
                .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
                .and_then(|value| value.parse().ok())
                .ok_or_else(|| format!("child {index}: no {name} in {text:?}"))
        };
        jobs += field("jobs")? as u64;
        sum += field("seq_sum")?;
        squares += field("seq_squares")?;
        first_start = first_start.min(field("start_ns")?);
        last_end = last_end.max(field("end_ns")?);
    }
    if jobs != args.n {
        return Err(format!("the children ran {jobs} jobs, not {}", args.n));
    }
    if args.size >= 8 {
        // Each child saw each of its sequence numbers once; the sums show that together they
        // saw 0..N, none twice and none missing.
        let n = u128::from(args.n);
        let want_sum = n * n.saturating_sub(1) / 2;
        let want_squares = n.saturating_sub(1) * n * (2 * n).saturating_sub(1) / 6;
        if (sum, squares) != (want_sum, want_squares) {
            return Err("the children's sequence numbers are not 0..N, each once".to_owned());
        }
    }
    let secs = last_end.saturating_sub(first_start) as f64 / 1e9;
    let (user, system) = children_cpu();
    let extra = format!(
        "ok={} processes={processes} children_cpu_user={user:.3} children_cpu_sys={system:.3}",
        args.n
    );
    line(args, "drain_processes", secs, &extra);
    Ok(())
}

/// One of `processes` children: its share of the N jobs, each checked, then one line with
/// its count, the sums of its sequence numbers and when its `work()` started and ended.
pub(super) fn drain_share(args: &Args, index: u64) -> Outcome {
    let processes = count(args)?;
    let jobs = args.n / processes + u64::from(index < args.n % processes);
    let state = Arc::new(Mutex::new((
        vec![false; args.n as usize],
        0u128,
        0u128,
        None::<String>,
    )));
    let record_state = Arc::clone(&state);
    let size = args.size;
    let mut worker = builder(args, jobs)?
        .build()
        .map_err(|error| error.to_string())?;
    worker
        .add_ability(FN_BG, move |job| {
            let mut state = record_state.lock().map_err(|_| JobError::Fail)?;
            match check(job.workload(), size) {
                Some(_) if size < 8 => {}
                Some(seq) if (seq as usize) < state.0.len() && !state.0[seq as usize] => {
                    state.0[seq as usize] = true;
                    state.1 += u128::from(seq);
                    state.2 += u128::from(seq) * u128::from(seq);
                }
                Some(seq) => state.3 = Some(format!("duplicate or out of range seq {seq}")),
                None => state.3 = Some(format!("bad payload of {} bytes", job.workload().len())),
            }
            Ok(Vec::new())
        })
        .map_err(|error| error.to_string())?;
    let start = now_ns();
    let summary = worker.work().map_err(|error| error.to_string())?;
    let end = now_ns();
    if summary.jobs != jobs {
        return Err(format!(
            "no job within 30 s after {} of {jobs} jobs",
            summary.jobs
        ));
    }
    let state = state.lock().map_err(|_| "poisoned")?;
    if let Some(problem) = &state.3 {
        return Err(problem.clone());
    }
    println!(
        "share index={index} jobs={jobs} seq_sum={} seq_squares={} start_ns={start} end_ns={end}",
        state.1, state.2
    );
    Ok(())
}

/// User and system CPU (seconds) of this process's children that have been waited for.
#[allow(unsafe_code)]
fn children_cpu() -> (f64, f64) {
    // SAFETY: getrusage writes into the zero-initialised struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_CHILDREN is a valid `who`.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}
