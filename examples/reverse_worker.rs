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
    // Every failed attempt is reported, but only the first per server is printed: the worker
    // retries with backoff, and a server that comes back is announced by `on_connect`.
    let mut down = std::collections::HashSet::new();
    worker.on_connect_error(move |server, error| {
        if down.insert(server.to_string()) {
            eprintln!("reverse_worker: cannot use {server}: {error} (retrying in the background)");
        }
    });
    worker.on_connect(|server| eprintln!("reverse_worker: registered on {server}"));
    let servers: Vec<String> = worker
        .settings()
        .servers()
        .iter()
        .map(ToString::to_string)
        .collect();
    match worker.wait_registered(std::time::Duration::from_secs(5)) {
        Ok(_) => eprintln!(
            "reverse_worker: serving `reverse` on {}",
            servers.join(", ")
        ),
        Err(error) => eprintln!("reverse_worker: not registered anywhere yet ({error}); waiting"),
    }
    Ok(worker.work()?.jobs)
}
