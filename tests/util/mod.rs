//! Test helpers shared by the client and worker suites: our own worker on a thread, and the
//! libgearman `gearman -w` CLI as a worker.

#![allow(dead_code)]

pub mod fake;
pub mod proxy;
pub mod swallow;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use gearman_sync::WorkSummary;
use gearman_sync::{StopHandle, Worker};

/// A client for the tests: random uniques (nothing coalesces by accident) and a 20 s job
/// deadline, so a lost job fails the test instead of hanging it.
pub fn test_client(addr: &str) -> gearman_sync::Client {
    gearman_sync::Client::builder()
        .servers(addr)
        .unique_mode(gearman_sync::UniqueMode::Random)
        .job_timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Our worker running `work()` on a thread; stopped and joined on drop.
pub struct WorkerThread {
    stop: StopHandle,
    thread: Option<JoinHandle<gearman_sync::Result<WorkSummary>>>,
}

impl WorkerThread {
    /// Builds a worker for `servers`, lets `setup` register abilities, and runs it.
    pub fn spawn(servers: &str, setup: impl FnOnce(&mut Worker) + Send + 'static) -> WorkerThread {
        let mut worker = Worker::new(servers).expect("worker");
        setup(&mut worker);
        WorkerThread::run(worker)
    }

    /// Runs an already configured worker.
    pub fn run(mut worker: Worker) -> WorkerThread {
        let stop = worker.stop_handle();
        let thread = std::thread::spawn(move || worker.work());
        WorkerThread {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the worker and returns what `work()` returned (bounded: panics after 10 s).
    pub fn stop(mut self) -> WorkSummary {
        self.stop_and_join().expect("worker thread")
    }

    /// Waits for `work()` to return by itself (max jobs, idle limit) within `timeout`.
    pub fn join_within(mut self, timeout: Duration) -> WorkSummary {
        let thread = self.thread.take().expect("thread");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(thread.join());
        });
        let joined = receiver
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("worker did not return within {timeout:?}"));
        joined
            .expect("worker thread panicked")
            .expect("work() failed")
    }

    fn stop_and_join(&mut self) -> Option<WorkSummary> {
        self.stop.stop();
        let thread = self.thread.take()?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(thread.join());
        });
        let joined = receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("worker did not stop within 10 s");
        Some(
            joined
                .expect("worker thread panicked")
                .expect("work() failed"),
        )
    }
}

impl Drop for WorkerThread {
    fn drop(&mut self) {
        if self.thread.is_some() && !std::thread::panicking() {
            self.stop_and_join();
        } else if self.thread.is_some() {
            self.stop.stop();
        }
    }
}

/// libgearman's `gearman -w -f FUNCTION -- COMMAND...` as a worker; killed on drop.
pub struct CliWorker(Child);

impl CliWorker {
    /// Runs COMMAND for each job of `function` (the workload on stdin, stdout as the result).
    pub fn spawn(port: u16, function: &str, command: &[&str]) -> CliWorker {
        let child = Command::new(super::common::gearman_cli())
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-w",
                "-f",
                function,
                "--",
            ])
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn gearman -w");
        CliWorker(child)
    }
}

impl Drop for CliWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reverses bytes (the test suites' `reverse`).
pub fn reversed(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().rev().copied().collect()
}
