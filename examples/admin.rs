//! Prints a server's `status` and `workers` the way `gearadmin --status` / `--workers` do.
//!
//! ```text
//! cargo run --example admin -- [--servers HOST[:PORT]]
//! ```

use std::process::ExitCode;

use gearman_sync::Admin;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let server = match (args.next().as_deref(), args.next()) {
        (Some("--servers"), Some(server)) => server,
        (None, _) => String::new(),
        _ => {
            eprintln!("usage: admin [--servers HOST[:PORT]]");
            return ExitCode::from(2);
        }
    };
    match run(&server) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("admin: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(server: &str) -> gearman_sync::Result<()> {
    let mut admin = Admin::new(server)?;
    let version = admin.version()?;
    println!("# {} (gearmand {version})", admin.server());
    println!("# status: FUNCTION\tTOTAL\tRUNNING\tAVAILABLE_WORKERS");
    for function in admin.status()? {
        println!(
            "{}\t{}\t{}\t{}",
            function.name, function.total, function.running, function.available_workers
        );
    }
    println!(".");
    println!("# workers: FD IP CLIENT_ID : FUNCTIONS");
    for worker in admin.workers()? {
        let mut line = format!(
            "{} {} {} :",
            worker.fd,
            worker.ip,
            worker.client_id.as_deref().unwrap_or("-")
        );
        for function in &worker.functions {
            line.push(' ');
            line.push_str(function);
        }
        println!("{line}");
    }
    println!(".");
    Ok(())
}
