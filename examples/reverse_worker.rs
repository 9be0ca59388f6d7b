//! A worker for the `reverse` function: reports progress, returns the workload reversed
//! (by character for UTF-8 text, by byte otherwise), and
//! stops cleanly on Ctrl-C (SIGINT) or SIGTERM.
//!
//! ```text
//! cargo run --example reverse_worker -- [--servers LIST] [--id CLIENT_ID]
//! cargo run --features tls --example reverse_worker -- --servers gm1:4730 \
//!     --tls-ca ca.pem [--tls-cert client.pem --tls-key client.key] [--tls-name NAME]
//! ```
//! Servers default to `GEARMAN_SERVERS`, then `127.0.0.1:4730`. The `--tls-*` options (see
//! `common/tls_args.rs`) turn TLS on; they need the `tls` feature.

use std::process::ExitCode;

use gearman_sync::Worker;

#[path = "common/tls_args.rs"]
mod tls_args;

#[cfg(feature = "tls")]
type Tls = gearman_sync::TlsConfig;
#[cfg(not(feature = "tls"))]
type Tls = ();

fn usage() -> ExitCode {
    eprintln!(
        "usage: reverse_worker [--servers LIST] [--id CLIENT_ID] [--tls-ca FILE | \
         --tls-system-roots] [--tls-cert FILE --tls-key FILE] [--tls-name NAME]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut servers = String::new();
    let mut client_id = String::from("reverse-worker");
    let mut tls = tls_args::TlsArgs::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match tls.take(&arg, &mut args) {
            Some(Ok(())) => continue,
            Some(Err(why)) => {
                eprintln!("reverse_worker: {why}");
                return usage();
            }
            None => {}
        }
        match (arg.as_str(), args.next()) {
            ("--servers", Some(list)) => servers = list,
            ("--id", Some(id)) => client_id = id,
            _ => return usage(),
        }
    }
    let tls = match tls.config() {
        Ok(tls) => tls,
        Err(why) => {
            eprintln!("reverse_worker: {why}");
            return ExitCode::FAILURE;
        }
    };
    match run(&servers, &client_id, tls) {
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

fn run(
    servers: &str,
    client_id: &str,
    tls: Option<Tls>,
) -> Result<u64, Box<dyn std::error::Error>> {
    let builder = Worker::builder().servers(servers).client_id(client_id);
    #[cfg(feature = "tls")]
    let builder = match tls {
        Some(tls) => builder.tls(tls),
        None => builder,
    };
    #[cfg(not(feature = "tls"))]
    let () = tls.unwrap_or_default();
    let mut worker = builder.build()?;
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
