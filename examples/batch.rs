//! A batch client: reads lines from stdin, submits each as a job through one task set, draws a
//! live progress line on stderr as results come in, and prints the results in input order.
//!
//! ```text
//! cargo run --example batch -- [--servers LIST] [--function NAME] [--timeout SECS] < lines.txt
//! ```
//!
//! With the example worker running (`cargo run --example reverse_worker -- --sleep-ms 50`):
//! `seq 1 200 | cargo run --example batch` prints 1..200 reversed, one per line. A line whose
//! job failed is printed as `ERROR: <reason>`; the exit code is 1 when any failed.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gearman_sync::{Client, Progress, Task};

struct Options {
    servers: String,
    function: String,
    timeout: Duration,
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("batch: {message}");
            eprintln!("usage: batch [--servers LIST] [--function NAME] [--timeout SECS] < lines");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("batch: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        servers: String::new(),
        function: "reverse".to_owned(),
        timeout: Duration::from_secs(300),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--servers" => options.servers = value()?,
            "--function" => options.function = value()?,
            "--timeout" => {
                let secs: f64 = value()?.parse().map_err(|_| "--timeout takes seconds")?;
                options.timeout = Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn run(options: &Options) -> Result<bool, Box<dyn std::error::Error>> {
    let lines: Vec<String> = io::stdin().lock().lines().collect::<Result<_, _>>()?;
    let mut client = Client::new(options.servers.as_str())?;
    let mut set = client.task_set();
    let started = Instant::now();
    set.add_tasks(
        lines
            .iter()
            .map(|line| Task::new(options.function.as_str(), line.as_str())),
    )?;
    let mut results: Vec<Option<Result<String, String>>> = vec![None; lines.len()];
    let mut finished = set.finished(options.timeout);
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut taken = 0;
    while let Some(next) = finished.next() {
        let (id, outcome) = next?;
        taken += 1;
        results[id.index()] = Some(match outcome.into_result() {
            Ok(data) => Ok(String::from_utf8_lossy(&data).into_owned()),
            Err(error) => Err(error.to_string()),
        });
        // Redraw at most 20 times a second, and always for the last one.
        let progress = finished.progress();
        if last_draw.elapsed() >= Duration::from_millis(50) || taken == lines.len() {
            draw(&progress, started.elapsed());
            last_draw = Instant::now();
        }
    }
    eprintln!();
    let mut stdout = io::stdout().lock();
    let mut all_ok = true;
    for result in results {
        match result {
            Some(Ok(text)) => writeln!(stdout, "{text}")?,
            Some(Err(reason)) => {
                all_ok = false;
                writeln!(stdout, "ERROR: {reason}")?;
            }
            None => {
                all_ok = false;
                writeln!(stdout, "ERROR: no outcome reported")?;
            }
        }
    }
    Ok(all_ok)
}

fn draw(progress: &Progress, elapsed: Duration) {
    let percent = match progress.submitted {
        0 => 100.0,
        all => progress.done as f64 * 100.0 / all as f64,
    };
    eprint!(
        "\r{progress} ({percent:.0} %, {:.1} s)   ",
        elapsed.as_secs_f64()
    );
}
