//! Fans out N `reverse` tasks in one task set and collects the results with callbacks.
//!
//! ```text
//! cargo run --example task_set -- [--servers LIST] [N]
//! ```

use std::cell::RefCell;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gearman_sync::{Client, Task};

fn main() -> ExitCode {
    let mut servers = String::new();
    let mut count = 100usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--servers" => servers = args.next().unwrap_or_default(),
            number => match number.parse() {
                Ok(n) => count = n,
                Err(_) => {
                    eprintln!("usage: task_set [--servers LIST] [N]");
                    return ExitCode::from(2);
                }
            },
        }
    }
    match run(&servers, count) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("task_set: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(servers: &str, count: usize) -> gearman_sync::Result<bool> {
    let mut client = Client::new(servers)?;
    let results = RefCell::new(vec![None; count]);
    let failures = RefCell::new(0usize);
    let started = Instant::now();
    let mut set = client.task_set();
    for index in 0..count {
        let results = &results;
        let failures = &failures;
        let task = Task::new("reverse", format!("task-{index}"))
            .on_complete(move |data| {
                results.borrow_mut()[index] = Some(String::from_utf8_lossy(data).into_owned())
            })
            .on_fail(move || *failures.borrow_mut() += 1)
            .on_exception(move |_| *failures.borrow_mut() += 1);
        set.add_task(task)?;
    }
    let summary = set.wait(Duration::from_secs(60))?;
    drop(set);
    let results = results.into_inner();
    for (index, result) in results.iter().enumerate().take(5) {
        println!("task-{index} -> {}", result.as_deref().unwrap_or("(none)"));
    }
    println!(
        "{} completed, {} failed, {} timed out in {:.2?}",
        summary.completed.len(),
        summary.failed.len(),
        summary.timed_out.len(),
        started.elapsed()
    );
    let all_correct = results.iter().enumerate().all(|(index, result)| {
        let expected: String = format!("task-{index}").chars().rev().collect();
        result.as_deref() == Some(expected.as_str())
    });
    Ok(all_correct && failures.into_inner() == 0)
}
