//! Soak: 8 threads, each with its own Client, run foreground jobs against 2 gearmand servers
//! and 2 workers. No result may be lost, duplicated or mismatched, and the process RSS must stay
//! flat after warm-up. `SOAK_JOBS_PER_THREAD` (default 5000) makes a longer run.

mod common;
mod util;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Gearmand;
use gearman_sync::{Client, Task, TaskOutcome};
use util::{reversed, WorkerThread};

const THREADS: usize = 8;

/// The slot of payload `t{thread}-j{seq}`.
fn job_index(payload: &[u8], per_thread: usize) -> Option<usize> {
    let text = std::str::from_utf8(payload).ok()?;
    let (thread, seq) = text.strip_prefix('t')?.split_once("-j")?;
    Some(thread.parse::<usize>().ok()? * per_thread + seq.parse::<usize>().ok()?)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

#[test]
fn eight_client_threads_two_workers_two_servers() {
    let per_thread: usize = std::env::var("SOAK_JOBS_PER_THREAD")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5000);
    let first = Gearmand::start();
    let second = Gearmand::start();
    let servers = format!("{},{}", first.addr(), second.addr());
    // One counter per job, allocated up front, so the bookkeeping does not grow the RSS.
    let executions: Arc<Vec<AtomicU8>> = Arc::new(
        (0..THREADS * per_thread)
            .map(|_| AtomicU8::new(0))
            .collect(),
    );
    let _workers: Vec<WorkerThread> = (0..2)
        .map(|_| {
            let executions = Arc::clone(&executions);
            WorkerThread::spawn(&servers, move |worker| {
                worker
                    .add_ability("soak", move |job| {
                        let index = job_index(job.workload(), per_thread)
                            .ok_or(gearman_sync::JobError::Fail)?;
                        executions[index].fetch_add(1, Ordering::SeqCst);
                        Ok(reversed(job.workload()))
                    })
                    .expect("ability");
            })
        })
        .collect();

    let warm_rss = Arc::new(Mutex::new(None::<u64>));
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let servers = servers.clone();
            let warm_rss = Arc::clone(&warm_rss);
            std::thread::spawn(move || -> Result<usize, String> {
                let mut client = Client::builder()
                    .servers(&servers)
                    .job_timeout(Duration::from_secs(60))
                    .build()
                    .map_err(|e| e.to_string())?;
                let mut done = 0;
                let mut seq = 0;
                while seq < per_thread {
                    if thread == 0 && seq >= per_thread / 10 {
                        warm_rss.lock().expect("lock").get_or_insert_with(rss_kib);
                    }
                    if seq % 2 == 0 {
                        // One job at a time.
                        let payload = format!("t{thread}-j{seq}");
                        let result = client
                            .do_normal("soak", payload.clone())
                            .map_err(|e| format!("{payload}: {e}"))?;
                        if result != reversed(payload.as_bytes()) {
                            return Err(format!("{payload}: mismatched result {result:?}"));
                        }
                        seq += 1;
                        done += 1;
                    } else {
                        // A batch of 50 in one task set.
                        let batch: Vec<String> = (seq..(seq + 50).min(per_thread))
                            .map(|s| format!("t{thread}-j{s}"))
                            .collect();
                        let mut set = client.task_set();
                        let ids: Vec<_> = batch
                            .iter()
                            .map(|payload| {
                                set.add_task(Task::new("soak", payload.as_str()))
                                    .map_err(|e| e.to_string())
                            })
                            .collect::<Result<_, _>>()?;
                        let summary = set
                            .wait(Duration::from_secs(60))
                            .map_err(|e| e.to_string())?;
                        if summary.completed.len() != batch.len() {
                            return Err(format!("batch at {seq}: {summary:?}"));
                        }
                        for (payload, id) in batch.iter().zip(ids) {
                            match set.take_outcome(id) {
                                Some(TaskOutcome::Completed(result))
                                    if result == reversed(payload.as_bytes()) => {}
                                other => return Err(format!("{payload}: {other:?}")),
                            }
                        }
                        seq += batch.len();
                        done += batch.len();
                    }
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for thread in threads {
        total += thread
            .join()
            .expect("client thread panicked")
            .expect("client thread failed");
    }
    let elapsed = started.elapsed();
    let end_rss = rss_kib();
    let warm_rss = warm_rss.lock().expect("lock").unwrap_or(end_rss);
    assert_eq!(total, THREADS * per_thread);
    let never = executions
        .iter()
        .filter(|count| count.load(Ordering::SeqCst) == 0)
        .count();
    let repeated = executions
        .iter()
        .filter(|count| count.load(Ordering::SeqCst) > 1)
        .count();
    assert_eq!(
        (never, repeated),
        (0, 0),
        "jobs never run, jobs run more than once"
    );
    eprintln!(
        "soak: {total} jobs in {elapsed:.1?} ({:.0}/s); RSS after warm-up {warm_rss} KiB, at the end {end_rss} KiB",
        total as f64 / elapsed.as_secs_f64()
    );
    assert!(
        end_rss <= warm_rss + 8 * 1024,
        "RSS grew from {warm_rss} KiB to {end_rss} KiB"
    );
}
