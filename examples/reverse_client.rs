//! Submits TEXT to the `reverse` function, shows progress, and prints the result.
//!
//! ```text
//! cargo run --example reverse_client -- [--servers LIST] [--timeout SECS] TEXT
//! ```
//! Servers default to `GEARMAN_SERVERS`, then `127.0.0.1:4730`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use gearman_sync::{Client, Task};

fn usage() -> ExitCode {
    eprintln!("usage: reverse_client [--servers LIST] [--timeout SECS] TEXT");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut servers = String::new();
    let mut timeout = Duration::from_secs(30);
    let mut text = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--servers" => match args.next() {
                Some(list) => servers = list,
                None => return usage(),
            },
            "--timeout" => match args.next().and_then(|secs| secs.parse::<f64>().ok()) {
                Some(secs) if secs > 0.0 => timeout = Duration::from_secs_f64(secs),
                _ => return usage(),
            },
            "-h" | "--help" => return usage(),
            _ if text.is_none() => text = Some(arg),
            _ => return usage(),
        }
    }
    let Some(text) = text else {
        return usage();
    };
    match run(&servers, timeout, text) {
        Ok(result) => {
            println!("{}", String::from_utf8_lossy(&result));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("reverse_client: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(servers: &str, timeout: Duration, text: String) -> gearman_sync::Result<Vec<u8>> {
    let mut client = Client::builder()
        .servers(servers)
        .job_timeout(timeout)
        .build()?;
    let task = Task::new("reverse", text).on_status(|numerator, denominator| {
        eprintln!("progress: {numerator}/{denominator}");
        let _ = std::io::stderr().flush();
    });
    client.do_task(task)
}
