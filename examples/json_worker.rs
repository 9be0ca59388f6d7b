//! A worker with typed JSON payloads (feature `json`): the function `sum` takes
//! `{"numbers": [...]}` and answers `{"sum": N}`. Stops on Ctrl-C (SIGINT) or SIGTERM.
//!
//! ```text
//! cargo run --features json --example json_worker -- [--servers LIST]
//! ```
//!
//! Its client side, from Rust:
//!
//! ```no_run
//! # #[derive(serde::Serialize)] struct Numbers { numbers: Vec<i64> }
//! # #[derive(serde::Deserialize)] struct Sum { sum: i64 }
//! let mut client = gearman_sync::Client::new("127.0.0.1:4730")?;
//! let answer: Sum = client.call_json("sum", &Numbers { numbers: vec![1, 2, 3] })?;
//! assert_eq!(answer.sum, 6);
//! # Ok::<(), gearman_sync::Error>(())
//! ```
//!
//! or from PHP: `json_decode($client->doNormal("sum", json_encode(["numbers" => [1, 2, 3]])))`.
//! Servers default to `GEARMAN_SERVERS`, then `127.0.0.1:4730`.

use std::process::ExitCode;

use gearman_sync::{JobError, Worker};
use serde::{Deserialize, Serialize};

/// The request of `sum`.
#[derive(Debug, Deserialize)]
struct Numbers {
    numbers: Vec<i64>,
}

/// The answer of `sum`.
#[derive(Debug, Serialize)]
struct Sum {
    sum: i64,
}

/// Adds the numbers; an overflow fails the job with a message.
fn sum(input: Numbers) -> Result<Sum, JobError> {
    let mut total: i64 = 0;
    for number in input.numbers {
        total = total
            .checked_add(number)
            .ok_or_else(|| JobError::exception("the sum overflows a 64-bit integer"))?;
    }
    Ok(Sum { sum: total })
}

fn main() -> ExitCode {
    let mut servers = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--servers", Some(list)) => servers = list,
            _ => {
                eprintln!("usage: json_worker [--servers LIST]");
                return ExitCode::from(2);
            }
        }
    }
    match run(&servers) {
        Ok(jobs) => {
            eprintln!("json_worker: stopped after {jobs} job(s)");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("json_worker: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(servers: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let mut worker = Worker::builder().servers(servers).build()?;
    worker.add_json_ability("sum", |input: Numbers, _job| sum(input))?;
    worker.on_connect_error(|server, error| eprintln!("json_worker: cannot use {server}: {error}"));
    let stop = worker.stop_handle();
    ctrlc::set_handler(move || stop.stop())?;
    let names: Vec<String> = worker
        .settings()
        .servers()
        .iter()
        .map(ToString::to_string)
        .collect();
    eprintln!("json_worker: serving `sum` on {}", names.join(", "));
    Ok(worker.work()?.jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_refuses_overflow() {
        assert_eq!(
            sum(Numbers {
                numbers: vec![1, 2, 39]
            })
            .expect("sum")
            .sum,
            42
        );
        assert!(sum(Numbers {
            numbers: vec![i64::MAX, 1]
        })
        .is_err());
    }
}
