//! Benchmark with the same modes and result lines as the libgearman baseline
//! (`../shared/bench/gmbench.c`), so the two pair up line by line.
//!
//! ```text
//! cargo run --release --example bench -- <mode> <host> <port> <N> <size> [label] [batch]
//! modes: bg_submit bg_submit_tasks drain worker_drain echo_worker fg_roundtrip fg_tasks large
//!        fg_shared (batch = threads; BENCH_SHARING=shared|separate|mutex)
//!        drain_concurrent drain_processes (label = threads / processes; see bench/concurrent.rs)
//!        connect
//! ```
//! Every payload carries its job's sequence number; every result is checked, and any mismatch
//! prints `FAIL ...` on stderr and exits 1. `BENCH_TAG=<t>` appends `tag=<t>`.
//!
//! `connect` opens N new connections one after the other (a client's connect, its ECHO probe
//! and one ECHO of `size` bytes each) and reports the time per connection: over TLS minus
//! plain, the handshake.
//!
//! TLS (built with `--features tls`): `BENCH_TLS_CA=<ca.pem>` turns it on for every
//! connection, with `BENCH_TLS_CERT`/`BENCH_TLS_KEY` (a client certificate) and
//! `BENCH_TLS_NAME` (the name checked) optional; lines then carry `tls=1`
//! (scripts/bench-tls).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gearman_sync::{Client, ClientBuilder, Task, TaskOutcome, Worker};

#[path = "bench/fg_shared.rs"]
mod fg_shared;

#[path = "bench/concurrent.rs"]
mod concurrent;

const FN_BG: &str = "bench_bg";
const FN_ECHO: &str = "bench_echo";

struct Args {
    mode: String,
    servers: String,
    n: u64,
    size: usize,
    label: String,
    batch: u64,
}

type Outcome = Result<(), String>;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.len() < 5 {
        eprintln!("usage: bench <mode> <host> <port> <N> <size> [label] [batch]");
        return ExitCode::from(2);
    }
    let parsed = (|| -> Option<Args> {
        Some(Args {
            mode: argv[0].clone(),
            servers: format!("{}:{}", argv[1], argv[2].parse::<u16>().ok()?),
            n: argv[3].parse().ok()?,
            size: argv[4].parse().ok()?,
            label: argv.get(5).cloned().unwrap_or_else(|| "?".to_owned()),
            batch: argv.get(6).map_or(Some(0), |batch| batch.parse().ok())?,
        })
    })();
    let Some(args) = parsed else {
        eprintln!("bench: bad arguments");
        return ExitCode::from(2);
    };
    let result = match args.mode.as_str() {
        "bg_submit" => bg_submit(&args),
        "bg_submit_tasks" => bg_submit_tasks(&args).map(|(secs, batch)| {
            line(
                &args,
                "bg_submit_tasks",
                secs,
                &format!("ok={} batch={batch}", args.n),
            )
        }),
        "drain" => drain(&args).map(|secs| line(&args, "drain", secs, &format!("ok={}", args.n))),
        "worker_drain" => worker_drain(&args),
        "drain_concurrent" => concurrent::drain_concurrent(&args),
        "drain_processes" => concurrent::drain_processes(&args),
        "drain_share" => concurrent::drain_share(&args, args.batch),
        "echo_worker" => echo_worker(&args),
        "fg_roundtrip" | "large" => fg_roundtrip(&args),
        "fg_tasks" => fg_tasks(&args),
        "fg_shared" => fg_shared::fg_shared(&args),
        "connect" => connect(&args),
        _ => Err(format!("unknown mode {}", args.mode)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("FAIL mode={}: {message}", args.mode);
            ExitCode::FAILURE
        }
    }
}

fn pattern_byte(seq: u64, index: usize) -> u8 {
    (seq.wrapping_mul(131) as usize)
        .wrapping_add(index.wrapping_mul(7))
        .wrapping_add(index >> 8) as u8
}

/// gmbench's payload: the sequence number in the first 8 bytes (little endian), then a pattern.
fn payload(size: usize, seq: u64) -> Vec<u8> {
    let mut buf = vec![0u8; size];
    fill_payload(&mut buf, seq);
    buf
}

/// Rewrites `buf` in place as the payload of job `seq` (gmbench's `fill_payload`).
fn fill_payload(buf: &mut [u8], seq: u64) {
    if buf.len() >= 8 {
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        fill_pattern(&mut buf[8..], seq, 8);
    } else {
        fill_pattern(buf, 0, 0);
    }
}

/// Writes the pattern bytes that belong at `offset..offset + out.len()`.
fn fill_pattern(out: &mut [u8], seq: u64, offset: usize) {
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = pattern_byte(seq, offset + index);
    }
}

/// The sequence number of a valid payload of `size` bytes (a branch-free comparison, so it
/// vectorises: checking a 64 MiB result must not cost more than libgearman's `memcmp`).
fn check(buf: &[u8], size: usize) -> Option<u64> {
    if buf.len() != size {
        return None;
    }
    let (seq, start) = if size >= 8 {
        (u64::from_le_bytes(buf[..8].try_into().ok()?), 8)
    } else {
        (0, 0)
    };
    let differences = buf[start..]
        .iter()
        .enumerate()
        .fold(0u8, |acc, (index, &byte)| {
            acc | (byte ^ pattern_byte(seq, start + index))
        });
    (differences == 0).then_some(seq)
}

fn client_builder(args: &Args) -> Result<ClientBuilder, String> {
    let builder = Client::builder()
        .servers(&args.servers)
        .job_timeout(Duration::from_secs(900))
        .max_body_len(max_body(args.size));
    Ok(with_tls!(builder))
}

fn client(args: &Args) -> Result<Client, String> {
    client_builder(args)?
        .build()
        .map_err(|error| error.to_string())
}

/// The TLS settings from `BENCH_TLS_*`, read once (`None`: plain TCP).
#[cfg(feature = "tls")]
fn tls() -> Result<Option<gearman_sync::TlsConfig>, String> {
    static TLS: std::sync::OnceLock<Result<Option<gearman_sync::TlsConfig>, String>> =
        std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let Ok(ca) = std::env::var("BENCH_TLS_CA") else {
            return Ok(None);
        };
        let mut builder = gearman_sync::TlsConfig::builder().ca_file(ca);
        if let (Ok(cert), Ok(key)) = (
            std::env::var("BENCH_TLS_CERT"),
            std::env::var("BENCH_TLS_KEY"),
        ) {
            builder = builder.client_cert(cert, key);
        }
        if let Ok(name) = std::env::var("BENCH_TLS_NAME") {
            builder = builder.server_name(name);
        }
        builder.build().map(Some).map_err(|error| error.to_string())
    })
    .clone()
}

/// Without the `tls` feature, `BENCH_TLS_CA` is refused rather than ignored.
#[cfg(not(feature = "tls"))]
fn tls() -> Result<Option<()>, String> {
    match std::env::var_os("BENCH_TLS_CA") {
        Some(_) => Err("BENCH_TLS_CA needs the bench built with --features tls".to_owned()),
        None => Ok(None),
    }
}

/// `builder` with the `BENCH_TLS_*` settings applied (a macro: the three builders share the
/// setter, not a trait).
macro_rules! with_tls {
    ($builder:expr) => {{
        let builder = $builder;
        #[cfg(feature = "tls")]
        let builder = match tls()? {
            Some(tls) => builder.tls(tls),
            None => builder,
        };
        #[cfg(not(feature = "tls"))]
        tls()?;
        builder
    }};
}
use with_tls;

fn max_body(size: usize) -> u32 {
    (size as u64 + 64 * 1024).clamp(64 << 20, u64::from(u32::MAX)) as u32
}

/// A worker that returns from `work()` after `jobs` jobs (0 = never), or after 30 s idle,
/// asking for `BENCH_PREFETCH` jobs ahead (default 0, the library's default).
fn worker(args: &Args, jobs: u64) -> Result<Worker, String> {
    let prefetch = match std::env::var("BENCH_PREFETCH") {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("BENCH_PREFETCH={value} is not a number"))?,
        Err(_) => 0,
    };
    let mut builder = Worker::builder()
        .servers(&args.servers)
        .max_jobs(jobs)
        .prefetch(prefetch)
        .max_body_len(max_body(args.size));
    if jobs > 0 {
        builder = builder.max_idle(Duration::from_secs(30));
    }
    with_tls!(builder)
        .build()
        .map_err(|error| error.to_string())
}

/// Prints one result line in gmbench's format.
fn line(args: &Args, mode: &str, secs: f64, extra: &str) {
    let (user, system, maxrss) = self_usage();
    let ops = if secs > 0.0 {
        args.n as f64 / secs
    } else {
        0.0
    };
    let tag = std::env::var("BENCH_TAG")
        .or_else(|_| std::env::var("GMBENCH_TAG"))
        .map(|tag| format!(" tag={tag}"))
        .unwrap_or_default();
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" {extra}")
    };
    let tls = if std::env::var_os("BENCH_TLS_CA").is_some() {
        " tls=1"
    } else {
        ""
    };
    println!(
        "mode={mode} n={} size={} secs={secs:.6} ops_per_s={ops:.1}{extra} \
         self_cpu_user={user:.3} self_cpu_sys={system:.3} self_maxrss_kb={maxrss}{tls}{tag}",
        args.n, args.size
    );
}

/// User CPU, system CPU (seconds) and peak RSS (KiB) of this process.
#[allow(unsafe_code)]
fn self_usage() -> (f64, f64, i64) {
    // SAFETY: getrusage writes into the zero-initialised struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is a valid `who`.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    (
        seconds(usage.ru_utime),
        seconds(usage.ru_stime),
        usage.ru_maxrss,
    )
}

fn bg_submit(args: &Args) -> Outcome {
    let mut client = client(args)?;
    let started = Instant::now();
    for seq in 0..args.n {
        let handle = client
            .do_background(FN_BG, payload(args.size, seq))
            .map_err(|error| format!("do_background #{seq}: {error}"))?;
        if handle.as_bytes().is_empty() {
            return Err(format!("empty job handle #{seq}"));
        }
    }
    line(
        args,
        "bg_submit",
        started.elapsed().as_secs_f64(),
        &format!("ok={}", args.n),
    );
    Ok(())
}

/// Tasks per task set: `batch`, or all N when it is 0 (gmbench's convention).
fn batch_size(args: &Args) -> u64 {
    if args.batch == 0 || args.batch > args.n {
        args.n.max(1)
    } else {
        args.batch
    }
}

/// Submits N background jobs in task sets of `batch` (0 = all in one); returns secs and batch.
fn bg_submit_tasks(args: &Args) -> Result<(f64, u64), String> {
    let mut client = client(args)?;
    let batch = batch_size(args);
    let started = Instant::now();
    let mut base = 0;
    while base < args.n {
        let count = batch.min(args.n - base);
        let mut set = client.task_set();
        set.add_tasks(
            (base..base + count).map(|seq| Task::new(FN_BG, payload(args.size, seq)).background()),
        )
        .map_err(|error| format!("add_tasks at #{base}: {error}"))?;
        let summary = set
            .wait(Duration::from_secs(900))
            .map_err(|error| error.to_string())?;
        if summary.completed.len() as u64 != count {
            return Err(format!(
                "created {} of {count}: {summary:?}",
                summary.completed.len()
            ));
        }
        base += count;
    }
    Ok((started.elapsed().as_secs_f64(), batch))
}

/// A worker that processes exactly N background jobs, checking every payload once.
fn drain(args: &Args) -> Result<f64, String> {
    let seen = Arc::new(Mutex::new((vec![false; args.n as usize], None::<String>)));
    let record = Arc::clone(&seen);
    let (n, size) = (args.n, args.size);
    let mut worker = worker(args, args.n)?;
    worker
        .add_ability(FN_BG, move |job| {
            let mut state = record.lock().map_err(|_| gearman_sync::JobError::Fail)?;
            match check(job.workload(), size) {
                Some(_) if size < 8 => {}
                Some(seq) if seq < n && !state.0[seq as usize] => state.0[seq as usize] = true,
                Some(seq) => state.1 = Some(format!("duplicate or out of range seq {seq}")),
                None => state.1 = Some(format!("bad payload of {} bytes", job.workload().len())),
            }
            Ok(Vec::new())
        })
        .map_err(|error| error.to_string())?;
    let started = Instant::now();
    let summary = worker.work().map_err(|error| error.to_string())?;
    if summary.jobs != args.n {
        return Err(format!("no job within 30 s after {} jobs", summary.jobs));
    }
    let secs = started.elapsed().as_secs_f64();
    let state = seen.lock().map_err(|_| "poisoned".to_owned())?;
    if let Some(problem) = &state.1 {
        return Err(problem.clone());
    }
    if args.size >= 8 {
        if let Some(missing) = state.0.iter().position(|seen| !seen) {
            return Err(format!("seq {missing} never seen"));
        }
    }
    Ok(secs)
}

fn worker_drain(args: &Args) -> Outcome {
    let (submit_secs, batch) = bg_submit_tasks(args)?;
    let secs = drain(args)?;
    let extra = format!(
        "ok={} submit_secs={submit_secs:.6} submit_batch={batch}",
        args.n
    );
    line(args, "worker_drain", secs, &extra);
    Ok(())
}

fn echo_worker(args: &Args) -> Outcome {
    // The echo worker serves every size the clients send, up to the protocol's limit.
    let mut worker = worker(
        &Args {
            size: u32::MAX as usize,
            mode: args.mode.clone(),
            servers: args.servers.clone(),
            label: args.label.clone(),
            ..*args
        },
        args.n,
    )?;
    worker
        .add_ability(FN_ECHO, |job| Ok(job.take_workload()))
        .map_err(|error| error.to_string())?;
    let started = Instant::now();
    worker.work().map_err(|error| error.to_string())?;
    line(args, "echo_worker", started.elapsed().as_secs_f64(), "");
    Ok(())
}

fn fg_roundtrip(args: &Args) -> Outcome {
    let mut client = client(args)?;
    let mut latencies = Vec::with_capacity(args.n as usize);
    // As gmbench: one buffer rewritten per job (the first outside the timing), sent without a
    // copy, and the echo compared with it.
    let mut buf = payload(args.size, 0);
    let started = Instant::now();
    for seq in 0..args.n {
        if seq > 0 {
            fill_payload(&mut buf, seq);
        }
        let sent = Instant::now();
        let result = client
            .do_task(Task::new(FN_ECHO, &buf))
            .map_err(|error| format!("do_task #{seq}: {error}"))?;
        latencies.push(sent.elapsed().as_secs_f64());
        if result != buf {
            return Err(format!("#{seq}: echoed payload differs"));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let latencies = Latencies::new(latencies);
    let n = latencies.len();
    let extra = format!(
        "ok={n} mean_us={:.1} p50_us={:.1} p99_us={:.1} max_us={:.1} MB_per_s={:.1}",
        latencies.mean_us(secs),
        latencies.at(0.5),
        latencies.at(0.99),
        latencies.at(1.0),
        if secs > 0.0 {
            args.size as f64 * n as f64 / 1e6 / secs
        } else {
            0.0
        }
    );
    line(args, &args.mode, secs, &extra);
    Ok(())
}

fn fg_tasks(args: &Args) -> Outcome {
    let mut client = client(args)?;
    let batch = batch_size(args);
    let started = Instant::now();
    let mut base = 0;
    while base < args.n {
        let count = batch.min(args.n - base);
        let mut set = client.task_set();
        let ids = set
            .add_tasks((base..base + count).map(|seq| Task::new(FN_ECHO, payload(args.size, seq))))
            .map_err(|error| format!("add_tasks at #{base}: {error}"))?;
        set.wait(Duration::from_secs(900))
            .map_err(|error| error.to_string())?;
        for (offset, id) in ids.into_iter().enumerate() {
            let seq = base + offset as u64;
            match set.take_outcome(id) {
                Some(TaskOutcome::Completed(data)) => {
                    let expected = if args.size >= 8 { seq } else { 0 };
                    if check(&data, args.size) != Some(expected) {
                        return Err(format!("task {seq}: bad echo ({} bytes)", data.len()));
                    }
                }
                other => return Err(format!("task {seq}: {other:?}")),
            }
        }
        base += count;
    }
    let extra = format!("ok={} workers={} batch={batch}", args.n, args.label);
    line(args, "fg_tasks", started.elapsed().as_secs_f64(), &extra);
    Ok(())
}

/// N connections one after the other, each a new client: connect (and TLS handshake), the
/// pool's ECHO probe, one ECHO of `size` bytes; the time per connection.
fn connect(args: &Args) -> Outcome {
    let payload = payload(args.size, 0);
    let mut latencies = Vec::with_capacity(args.n as usize);
    let started = Instant::now();
    for seq in 0..args.n {
        let opened = Instant::now();
        let mut client = client(args)?;
        let echoed = client
            .echo(&payload)
            .map_err(|error| format!("connection #{seq}: {error}"))?;
        latencies.push(opened.elapsed().as_secs_f64());
        if echoed != payload {
            return Err(format!("connection #{seq}: echo differs"));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let latencies = Latencies::new(latencies);
    let extra = format!(
        "ok={} mean_us={:.1} p50_us={:.1} p99_us={:.1}",
        latencies.len(),
        latencies.mean_us(secs),
        latencies.at(0.5),
        latencies.at(0.99)
    );
    line(args, "connect", secs, &extra);
    Ok(())
}

/// Per-job latencies in seconds, sorted, read out in microseconds.
struct Latencies(Vec<f64>);

impl Latencies {
    fn new(mut seconds: Vec<f64>) -> Latencies {
        seconds.sort_by(f64::total_cmp);
        Latencies(seconds)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// The latency at `fraction` (0.5 the median, 1.0 the maximum); 0 when there is none.
    fn at(&self, fraction: f64) -> f64 {
        let index = ((self.0.len().max(1) - 1) as f64 * fraction) as usize;
        self.0.get(index).copied().unwrap_or(0.0) * 1e6
    }

    /// Wall time per job over the whole run of `secs`.
    fn mean_us(&self, secs: f64) -> f64 {
        match self.0.len() {
            0 => 0.0,
            n => secs / n as f64 * 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_check_and_carry_their_sequence_number() {
        for size in [0, 1, 7, 8, 9, 4095, 4096, 4097, 10_000] {
            let buf = payload(size, 42);
            let expected = if size >= 8 { 42 } else { 0 };
            assert_eq!(check(&buf, size), Some(expected), "size {size}");
            if size > 8 {
                let mut bad = buf.clone();
                bad[size - 1] ^= 1;
                assert_eq!(check(&bad, size), None, "size {size}");
            }
        }
        assert_eq!(check(&payload(16, 1), 15), None);
        // gmbench's bytes: short payloads are all pattern (sequence 0), longer ones start with
        // the sequence number.
        assert_eq!(payload(3, 9), [0, 7, 14]);
        assert_eq!(payload(9, 1)[..9], [1, 0, 0, 0, 0, 0, 0, 0, 131 + 56]);
    }
}
