//! Typed JSON payloads (feature `json`) against a real gearmand: our client and worker with each
//! other, and with PHP's PECL gearman extension both ways (`json_encode` / `json_decode`, as
//! GearmanBundle users write them). PHP is installed by `scripts/test` (`php-cli`,
//! `php-gearman`); without it these tests fail with the command to run, never pass silently.
#![cfg(feature = "json")]

mod common;
mod util;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{wait_until, Gearmand};
use gearman_sync::{ConcurrentWorker, Error, Task, Worker};
use serde::{Deserialize, Serialize};
use util::{test_client, WorkerThread};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Numbers {
    numbers: Vec<i64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Sum {
    sum: i64,
}

fn sum_worker(addr: &str) -> WorkerThread {
    let mut worker = Worker::new(addr).expect("worker");
    worker
        .add_json_ability("sum", |input: Numbers, _job| {
            Ok(Sum {
                sum: input.numbers.iter().sum(),
            })
        })
        .expect("ability");
    WorkerThread::run(worker)
}

#[test]
fn a_concurrent_worker_shares_one_json_ability_between_its_threads() {
    let server = Gearmand::start();
    let addr = server.addr();
    let mut worker = ConcurrentWorker::new(&addr, 2).expect("worker");
    worker
        .add_json_ability("sum", |input: Numbers, _job| {
            Ok(Sum {
                sum: input.numbers.iter().sum(),
            })
        })
        .expect("ability");
    let stop = worker.stop_handle();
    let running = std::thread::spawn(move || worker.work());
    let mut client = test_client(&addr);
    let mut set = client.task_set();
    let ids: Vec<_> = (0..4)
        .map(|n| {
            set.add_task(
                Task::json(
                    "sum",
                    &Numbers {
                        numbers: vec![n, 40],
                    },
                )
                .expect("json"),
            )
            .expect("add")
        })
        .collect();
    set.wait(Duration::from_secs(10)).expect("wait");
    for (n, id) in (0..4).zip(ids) {
        let outcome = set.take_outcome(id).expect("outcome");
        let sum: Sum = outcome.into_json("sum").expect("a sum");
        assert_eq!(sum, Sum { sum: n + 40 });
    }
    drop(set);
    stop.stop();
    let summary = running.join().expect("joined").expect("work");
    assert_eq!(summary.jobs, 4);
}

#[test]
fn typed_calls_background_jobs_and_task_sets() {
    let server = Gearmand::start();
    let addr = server.addr();
    let _worker = sum_worker(&addr);
    let mut client = test_client(&addr);
    let answer: Sum = client
        .call_json(
            "sum",
            &Numbers {
                numbers: vec![1, 2, 39],
            },
        )
        .expect("call");
    assert_eq!(answer, Sum { sum: 42 });
    let handle = client
        .submit_json_background("sum", &serde_json::json!({"numbers": [5]}))
        .expect("background");
    assert_eq!(handle.server().port(), server.port());
    let mut set = client.task_set();
    let ids: Vec<_> = (1..=3)
        .map(|n| {
            set.add_task(
                Task::json(
                    "sum",
                    &Numbers {
                        numbers: vec![n, n],
                    },
                )
                .expect("task"),
            )
            .expect("add")
        })
        .collect();
    assert!(set
        .wait(Duration::from_secs(10))
        .expect("wait")
        .all_completed());
    for (n, id) in (1..=3).zip(ids) {
        let outcome = set.take_outcome(id).expect("outcome");
        let answer: Sum = outcome.into_json("sum").expect("decoded");
        assert_eq!(answer.sum, 2 * n);
    }
}

#[test]
fn payloads_that_do_not_decode_are_typed_errors_with_the_serde_message() {
    let server = Gearmand::start();
    let addr = server.addr();
    let _worker = sum_worker(&addr);
    let mut client = test_client(&addr);
    // The worker cannot decode: the client gets the failure with the function and serde's text.
    match client.do_normal("sum", "not json") {
        Err(Error::JobFailed { warning, .. }) => {
            let text = String::from_utf8(warning.expect("a text")).expect("utf-8");
            assert!(text.contains("sum") && text.contains("decoding"), "{text}");
            assert!(text.contains("expected"), "serde's message: {text}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // The client cannot decode the result.
    let mut echo = Worker::new(&addr).expect("worker");
    echo.add_ability("echo", |job| Ok(job.workload().to_vec()))
        .expect("ability");
    let _echo = WorkerThread::run(echo);
    match client.call_json::<_, Sum>("echo", &Numbers { numbers: vec![1] }) {
        Err(Error::Json { function, message }) => {
            assert_eq!(function, "echo");
            assert!(message.contains("missing field `sum`"), "{message}");
        }
        other => panic!("expected Error::Json, got {other:?}"),
    }
}

/// Runs a PHP script with the gearman extension, bounded by `timeout`.
fn php(script: &str, timeout_secs: u32) -> Output {
    let ready = Command::new("php")
        .args(["-r", "exit(extension_loaded('gearman') ? 0 : 1);"])
        .status();
    assert!(
        ready.is_ok_and(|status| status.success()),
        "PHP with the gearman extension is needed: apt-get install -y php-cli php-gearman \
         (scripts/test installs it)"
    );
    let mut child = Command::new("timeout")
        .arg(timeout_secs.to_string())
        .args(["php", "--"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run php");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script");
    child.wait_with_output().expect("php output")
}

#[test]
fn a_php_client_calls_our_json_worker() {
    let server = Gearmand::start();
    let _worker = sum_worker(&server.addr());
    let port = server.port();
    let output = php(
        &format!(
            r#"<?php
$client = new GearmanClient();
$client->addServer("127.0.0.1", {port});
$result = $client->doNormal("sum", json_encode(["numbers" => [1, 2, 3, 36]]));
if ($client->returnCode() != GEARMAN_SUCCESS) {{ fwrite(STDERR, $client->error()); exit(1); }}
echo json_decode($result, true)["sum"], "\n";
$client->doNormal("sum", "{{broken");
echo $client->returnCode() == GEARMAN_WORK_FAIL ? "failed\n" : "code " . $client->returnCode() . "\n";
"#
        ),
        20,
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "42\nfailed\n");
}

#[test]
fn our_json_client_calls_a_php_worker() {
    let server = Gearmand::start();
    let port = server.port();
    let addr = server.addr();
    let script = format!(
        r#"<?php
$worker = new GearmanWorker();
$worker->addServer("127.0.0.1", {port});
$worker->addFunction("php_sum", function ($job) {{
    $input = json_decode($job->workload(), true);
    return json_encode(["sum" => array_sum($input["numbers"])]);
}});
$worker->work();
"#
    );
    let php_worker = std::thread::spawn(move || php(&script, 20));
    wait_until(Duration::from_secs(10), || {
        common::admin(&addr, "workers").contains(" php_sum")
    });
    let answer: Sum = test_client(&addr)
        .call_json(
            "php_sum",
            &Numbers {
                numbers: vec![10, 20, 12],
            },
        )
        .expect("call");
    assert_eq!(answer, Sum { sum: 42 });
    let output = php_worker.join().expect("php thread");
    assert!(output.status.success(), "{output:?}");
}
