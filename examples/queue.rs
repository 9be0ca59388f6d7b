//! sfGearmanPlugin's message queue on Gearman: `put(queue, message, priority)` is a background
//! job of function `queue.<name>`, and `get(queue, timeout)` is a worker that takes one job.
//!
//! ```text
//! cargo run --example queue -- [--servers LIST]
//! ```
//! Puts three messages at low, normal and high priority, gets them back (high first), then
//! shows that a `get` on the empty queue times out cleanly.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gearman_sync::{Client, Priority, Task, Worker};

/// Puts `message` on `queue` with `priority`.
fn put(
    client: &mut Client,
    queue: &str,
    message: &str,
    priority: Priority,
) -> gearman_sync::Result<()> {
    let unique = format!("{queue}-{message}-{}", std::process::id());
    let task = Task::new(format!("queue.{queue}"), message)
        .priority(priority)
        .unique(unique);
    client.submit_background(task).map(|_| ())
}

/// Takes one message from `queue`, waiting up to `timeout`; `None` when the queue stayed empty.
fn get(servers: &str, queue: &str, timeout: Duration) -> gearman_sync::Result<Option<Vec<u8>>> {
    let taken = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&taken);
    let mut worker = Worker::new(servers)?;
    worker.add_ability(format!("queue.{queue}"), move |job| {
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(job.take_workload());
        }
        Ok(Vec::new())
    })?;
    worker.work_one(timeout)?;
    let message = taken.lock().map(|mut slot| slot.take()).unwrap_or(None);
    Ok(message)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let servers = match (args.next().as_deref(), args.next()) {
        (Some("--servers"), Some(list)) => list,
        (None, _) => String::new(),
        _ => {
            eprintln!("usage: queue [--servers LIST]");
            return ExitCode::from(2);
        }
    };
    match run(&servers) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("queue: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(servers: &str) -> gearman_sync::Result<()> {
    let mut client = Client::new(servers)?;
    let queue = format!("demo{}", std::process::id());
    put(&mut client, &queue, "low: tidy up", Priority::Low)?;
    put(&mut client, &queue, "normal: send report", Priority::Normal)?;
    put(&mut client, &queue, "high: page on-call", Priority::High)?;
    for _ in 0..3 {
        match get(servers, &queue, Duration::from_secs(5))? {
            Some(message) => println!("got {}", String::from_utf8_lossy(&message)),
            None => println!("queue unexpectedly empty"),
        }
    }
    let started = Instant::now();
    match get(servers, &queue, Duration::from_millis(500))? {
        None => println!(
            "empty queue: get timed out cleanly after {:.2?}",
            started.elapsed()
        ),
        Some(message) => println!("unexpected message {}", String::from_utf8_lossy(&message)),
    }
    Ok(())
}
