//! A worker for the `reverse` function: reports progress, returns the workload reversed
//! (by character for UTF-8 text, by byte otherwise), and
//! stops cleanly on Ctrl-C (SIGINT) or SIGTERM, finishing the jobs it runs.
//!
//! ```text
//! cargo run --example reverse_worker -- [--servers LIST] [--id CLIENT_ID] [--threads N] [--sleep-ms MS]
//! cargo run --features tls --example reverse_worker -- --servers gm1:4730 \
//!     --tls-ca ca.pem [--tls-cert client.pem --tls-key client.key] [--tls-name NAME]
//! ```
//! Servers default to `GEARMAN_SERVERS`, then `127.0.0.1:4730`. The `--tls-*` options (see
//! `common/tls_args.rs`) turn TLS on; they need the `tls` feature. `--threads N` (default 1) runs
//! up to N jobs at once, on N connections per server (a
//! [`ConcurrentWorker`](gearman_sync::ConcurrentWorker)); `--sleep-ms MS` (default 0) makes
//! each job sleep MS milliseconds before it answers, to show that concurrency:
//!
//! ```text
//! cargo run --example reverse_worker -- --threads 4 --sleep-ms 1000 &
//! for word in one two three four; do cargo run --example reverse_client -- $word & done; wait
//! ```
//! The four answers arrive together, about a second after they were asked.

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use gearman_sync::{JobResult, Worker};

#[path = "common/tls_args.rs"]
mod tls_args;

#[cfg(feature = "tls")]
type Tls = gearman_sync::TlsConfig;
#[cfg(not(feature = "tls"))]
type Tls = ();

const USAGE: &str = "usage: reverse_worker [--servers LIST] [--id CLIENT_ID] [--threads N] \
     [--sleep-ms MS] [--tls-ca FILE | --tls-system-roots] [--tls-cert FILE --tls-key FILE] \
     [--tls-name NAME]";

struct Options {
    servers: String,
    client_id: String,
    threads: usize,
    sleep: Duration,
    tls: Option<Tls>,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("reverse_worker: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
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

/// The options, or why they cannot be used (empty: just print the usage).
fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        servers: String::new(),
        client_id: String::from("reverse-worker"),
        threads: 1,
        sleep: Duration::ZERO,
        tls: None,
    };
    let mut tls = tls_args::TlsArgs::default();
    while let Some(arg) = args.next() {
        if let Some(taken) = tls.take(&arg, &mut args) {
            taken?;
            continue;
        }
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let bad = || format!("{arg} {value}: not a valid value");
        match arg.as_str() {
            "--servers" => options.servers = value,
            "--id" => options.client_id = value,
            "--threads" => {
                options.threads = value.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?
            }
            "--sleep-ms" => {
                options.sleep = Duration::from_millis(value.parse().map_err(|_| bad())?)
            }
            _ => return Err(String::new()),
        }
    }
    options.tls = tls.config()?;
    Ok(options)
}

/// The job: progress 0/1, an optional sleep, the workload reversed, progress 1/1.
fn reverse(job: &mut gearman_sync::Job<'_>, sleep: Duration) -> JobResult {
    job.send_status(0, 1)?;
    std::thread::sleep(sleep);
    // Text is reversed by character so that it stays valid UTF-8; other bytes byte-wise.
    let mut reversed = job.take_workload();
    match std::str::from_utf8(&reversed) {
        Ok(text) => reversed = text.chars().rev().collect::<String>().into_bytes(),
        Err(_) => reversed.reverse(),
    }
    job.send_status(1, 1)?;
    Ok(reversed)
}

fn run(options: &Options) -> Result<u64, Box<dyn std::error::Error>> {
    // One thread or several: each thread is a plain Worker with its own connections, and the
    // handler is shared by all of them.
    let builder = Worker::builder()
        .servers(&options.servers)
        .client_id(&options.client_id);
    #[cfg(feature = "tls")]
    let builder = match options.tls.clone() {
        Some(tls) => builder.tls(tls),
        None => builder,
    };
    #[cfg(not(feature = "tls"))]
    let () = options.tls.unwrap_or_default();
    let mut worker = builder.build_concurrent(options.threads)?;
    let sleep = options.sleep;
    worker.add_ability("reverse", move |job| reverse(job, sleep))?;
    let stop = worker.stop_handle(); // stops every thread
    ctrlc::set_handler(move || stop.stop())?;
    // Every failed attempt is reported (by every thread), but only the first per server is
    // printed: the worker retries with backoff, and a server that comes back is announced by
    // `on_connect`.
    let down = Mutex::new(std::collections::HashSet::new());
    worker.on_connect_error(move |server, error| {
        let first = down
            .lock()
            .is_ok_and(|mut down| down.insert(server.to_string()));
        if first {
            eprintln!("reverse_worker: cannot use {server}: {error} (retrying in the background)");
        }
    });
    worker.on_connect(|server| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("main");
        eprintln!("reverse_worker: registered on {server} ({name})");
    });
    let servers: Vec<String> = worker
        .settings()
        .servers()
        .iter()
        .map(ToString::to_string)
        .collect();
    match worker.wait_registered(Duration::from_secs(5)) {
        Ok(_) => eprintln!(
            "reverse_worker: serving `reverse` on {} with {} thread(s)",
            servers.join(", "),
            worker.threads()
        ),
        Err(error) => eprintln!("reverse_worker: not registered anywhere yet ({error}); waiting"),
    }
    Ok(worker.work()?.jobs)
}
