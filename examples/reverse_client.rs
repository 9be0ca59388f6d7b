//! Submits TEXT to the `reverse` function, shows progress, and prints the result.
//!
//! ```text
//! cargo run --example reverse_client -- [--servers LIST] [--timeout SECS] TEXT
//! cargo run --features tls --example reverse_client -- --servers gm1:4730 \
//!     --tls-ca ca.pem [--tls-cert client.pem --tls-key client.key] [--tls-name NAME] TEXT
//! ```
//! Servers default to `GEARMAN_SERVERS`, then `127.0.0.1:4730`. The `--tls-*` options (see
//! `common/tls_args.rs`) turn TLS on; they need the `tls` feature.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use gearman_sync::{Client, Task};

#[path = "common/tls_args.rs"]
mod tls_args;

fn usage() -> ExitCode {
    eprintln!(
        "usage: reverse_client [--servers LIST] [--timeout SECS] [--tls-ca FILE | \
         --tls-system-roots] [--tls-cert FILE --tls-key FILE] [--tls-name NAME] TEXT"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut servers = String::new();
    let mut timeout = Duration::from_secs(30);
    let mut text = None;
    let mut tls = tls_args::TlsArgs::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match tls.take(&arg, &mut args) {
            Some(Ok(())) => continue,
            Some(Err(why)) => {
                eprintln!("reverse_client: {why}");
                return usage();
            }
            None => {}
        }
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
    let tls = match tls.config() {
        Ok(tls) => tls,
        Err(why) => {
            eprintln!("reverse_client: {why}");
            return ExitCode::FAILURE;
        }
    };
    match run(&servers, timeout, tls, text) {
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

#[cfg(feature = "tls")]
type Tls = gearman_sync::TlsConfig;
#[cfg(not(feature = "tls"))]
type Tls = ();

fn run(
    servers: &str,
    timeout: Duration,
    tls: Option<Tls>,
    text: String,
) -> gearman_sync::Result<Vec<u8>> {
    let builder = Client::builder().servers(servers).job_timeout(timeout);
    #[cfg(feature = "tls")]
    let builder = match tls {
        Some(tls) => builder.tls(tls),
        None => builder,
    };
    #[cfg(not(feature = "tls"))]
    let () = tls.unwrap_or_default();
    let mut client = builder.build()?;
    let task = Task::new("reverse", text).on_status(|numerator, denominator| {
        eprintln!("progress: {numerator}/{denominator}");
        let _ = std::io::stderr().flush();
    });
    client.do_task(task)
}
