//! Submits a background job and polls its status until the server no longer knows it
//! (GearmanBundle's JobStatus cookbook).
//!
//! ```text
//! cargo run --example background_status -- [--servers LIST] [--function NAME] WORKLOAD
//! ```
//! Defaults: function `reverse`, servers from `GEARMAN_SERVERS` or `127.0.0.1:4730`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use gearman_sync::{Client, Task};

fn main() -> ExitCode {
    let mut servers = String::new();
    let mut function = String::from("reverse");
    let mut workload = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--servers" => servers = args.next().unwrap_or_default(),
            "--function" => function = args.next().unwrap_or_default(),
            _ if workload.is_none() => workload = Some(arg),
            _ => workload = None,
        }
    }
    let Some(workload) = workload else {
        eprintln!("usage: background_status [--servers LIST] [--function NAME] WORKLOAD");
        return ExitCode::from(2);
    };
    match run(&servers, &function, workload) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("background_status: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(servers: &str, function: &str, workload: String) -> gearman_sync::Result<()> {
    let mut client = Client::new(servers)?;
    // A random unique: a background job with the same unique as a queued one would merge.
    let handle = client.submit_background(Task::new(function, workload).unique(unique()))?;
    println!("submitted {handle} to {}", handle.server());
    let started = Instant::now();
    loop {
        let status = client.status(&handle)?;
        if !status.known {
            println!(
                "{handle}: finished (no longer known) after {:.1?}",
                started.elapsed()
            );
            return Ok(());
        }
        let progress = match status.percent() {
            Some(percent) => format!(
                "{}/{} ({percent:.0}%)",
                status.numerator, status.denominator
            ),
            None => "no progress reported yet".to_owned(),
        };
        let state = if status.running { "running" } else { "queued" };
        println!("{handle}: {state}, {progress}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0);
    format!("background-status-{}-{nanos}", std::process::id())
}
