//! A worker for the `reverse` function: reports progress, returns the workload reversed
//! (by character for UTF-8 text, by byte otherwise), and
//! stops cleanly on Ctrl-C (SIGINT) or SIGTERM.
//!
//! ```text
//! cargo run --example reverse_worker -- [--servers LIST] [--id CLIENT_ID]
//! ```
//! Servers default to `GEARMAN_SERVERS`, then `127.0.0.1:4730`.

use std::process::ExitCode;

use gearman_sync::Worker;

fn main() -> ExitCode {
    let mut servers = String::new();
    let mut client_id = String::from("reverse-worker");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--servers", Some(list)) => servers = list,
            ("--id", Some(id)) => client_id = id,
            _ => {
                eprintln!("usage: reverse_worker [--servers LIST] [--id CLIENT_ID]");
                return ExitCode::from(2);
            }
        }
    }
    match run(&servers, &client_id) {
        Ok(jobs) => {
            eprintln!("reverse_worker: stopped after {jobs} job(s)");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("reverse_worker: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(servers: &str, client_id: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let mut worker = Worker::builder()
        .servers(servers)
        .client_id(client_id)
        .build()?;
    worker.add_ability("reverse", |job| {
        job.send_status(0, 1)?;
        // Text is reversed by character so that it stays valid UTF-8; other bytes byte-wise.
        let mut reversed = job.take_workload();
        match std::str::from_utf8(&reversed) {
            Ok(text) => reversed = text.chars().rev().collect::<String>().into_bytes(),
            Err(_) => reversed.reverse(),
        }
        job.send_status(1, 1)?;
        Ok(reversed)
    })?;
    let stop = worker.stop_handle();
    ctrlc::set_handler(move || stop.stop())?;
    let servers: Vec<String> = worker.servers().iter().map(ToString::to_string).collect();
    eprintln!(
        "reverse_worker: serving `reverse` on {}",
        servers.join(", ")
    );
    Ok(worker.work()?.jobs)
}
