//! Prints the `status` and `workers` of every server in one table, like `gearadmin --status` /
//! `--workers` run on each server: a row per (server, function), a `TOTAL` row per function
//! summed over the servers that answered, and a line per server that failed, with its error.
//!
//! ```text
//! cargo run --example admin -- [--servers HOST[:PORT],...]
//! ```
//!
//! Without `--servers`: `GEARMAN_SERVERS`, then `127.0.0.1:4730`. Exits with 1 when a server
//! failed (after printing what the others answered), 2 on bad usage.

use std::process::ExitCode;

use gearman_sync::protocol::admin::{FunctionStatus, WorkerInfo};
use gearman_sync::{Admin, ServerAnswer};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let servers = match (args.next().as_deref(), args.next()) {
        (Some("--servers"), Some(servers)) => servers,
        (None, _) => String::new(),
        _ => {
            eprintln!("usage: admin [--servers HOST[:PORT],...]");
            return ExitCode::from(2);
        }
    };
    match run(&servers) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("admin: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Asks every server and prints the report; `Ok(false)` when a server failed.
fn run(servers: &str) -> gearman_sync::Result<bool> {
    let mut admin = Admin::new(servers)?;
    let versions = admin.version_all();
    let status = admin.status_all();
    let workers = admin.workers_all();
    print!("{}", report(&versions, &status, &workers));
    let all_answered = status.iter().all(|answer| answer.result.is_ok())
        && workers.iter().all(|answer| answer.result.is_ok());
    Ok(all_answered)
}

/// The whole report as text (pure, so `tests/admin.rs` checks it on real answers):
///
/// ```text
/// # 127.0.0.1:4730 gearmand 1.1.20
/// ! 127.0.0.1:4731 failed: I/O error with 127.0.0.1:4731: Connection refused (os error 111)
/// # status
/// SERVER          FUNCTION  TOTAL  RUNNING  AVAILABLE_WORKERS
/// 127.0.0.1:4730  resize    3      1        2
/// TOTAL           resize    3      1        2
/// .
/// # workers: SERVER FD IP CLIENT_ID : FUNCTIONS
/// 127.0.0.1:4730 33 127.0.0.1 - : resize
/// .
/// ```
pub fn report(
    versions: &[ServerAnswer<String>],
    status: &[ServerAnswer<Vec<FunctionStatus>>],
    workers: &[ServerAnswer<Vec<WorkerInfo>>],
) -> String {
    let mut out = String::new();
    for (index, version) in versions.iter().enumerate() {
        // A server's first failure among the three calls is its line.
        let failure = [
            version.result.as_ref().err(),
            status.get(index).and_then(|a| a.result.as_ref().err()),
            workers.get(index).and_then(|a| a.result.as_ref().err()),
        ]
        .into_iter()
        .flatten()
        .next();
        match (failure, &version.result) {
            (Some(error), _) => out.push_str(&format!("! {} failed: {error}\n", version.server)),
            (None, Ok(text)) => out.push_str(&format!("# {} gearmand {text}\n", version.server)),
            (None, Err(_)) => {}
        }
    }

    out.push_str("# status\n");
    let mut rows = vec![[
        "SERVER".to_string(),
        "FUNCTION".to_string(),
        "TOTAL".to_string(),
        "RUNNING".to_string(),
        "AVAILABLE_WORKERS".to_string(),
    ]];
    let row = |server: String, f: &FunctionStatus| {
        [
            server,
            f.name.clone(),
            f.total.to_string(),
            f.running.to_string(),
            f.available_workers.to_string(),
        ]
    };
    for total in Admin::total_status(status) {
        for answer in status {
            if let Ok(functions) = &answer.result {
                for function in functions.iter().filter(|f| f.name == total.name) {
                    rows.push(row(answer.server.to_string(), function));
                }
            }
        }
        rows.push(row("TOTAL".to_string(), &total));
    }
    let mut widths = [0; 5];
    for cells in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for cells in &rows {
        let mut line = String::new();
        for (column, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if column + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(".\n");

    out.push_str("# workers: SERVER FD IP CLIENT_ID : FUNCTIONS\n");
    for answer in workers {
        for worker in answer.result.as_deref().unwrap_or_default() {
            let mut line = format!(
                "{} {} {} {} :",
                answer.server,
                worker.fd,
                worker.ip,
                worker.client_id.as_deref().unwrap_or("-")
            );
            for function in &worker.functions {
                line.push(' ');
                line.push_str(function);
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push_str(".\n");
    out
}
