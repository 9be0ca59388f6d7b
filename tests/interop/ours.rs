//! Our side of the interop tests: a worker serving the same functions as the peer workers (for
//! the peer clients), and a client call that records its events as the peer clients print them.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gearman_sync::{Client, ExceptionMode, Job, JobError, Task, Worker};

use crate::common::peer::hex;
use crate::common::POLL;
use crate::util::{reversed, WorkerThread};

/// A job our worker ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its function.
    pub function: String,
    /// Its unique ID as our worker got it (`GRAB_JOB_UNIQ`).
    pub unique: Vec<u8>,
    /// Its workload.
    pub workload: Vec<u8>,
}

/// Our workers: one in the default `ExceptionMode::WarningThenFail` with `bin`, `events`,
/// `fail`, `exception` and `hold` (the peer workers' functions), one in
/// `ExceptionMode::Exception` with `raise`. Each raises "boom" in `exception` / `raise`.
pub struct OurWorkers {
    log: Arc<Mutex<Vec<Seen>>>,
    holding: Receiver<()>,
    release: Sender<()>,
    _default: WorkerThread,
    _exceptions: WorkerThread,
}

impl OurWorkers {
    /// Starts both workers on the gearmand at `addr` and waits until they are registered.
    pub fn start(addr: &str) -> OurWorkers {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (holding_sender, holding) = mpsc::channel();
        let (release, release_receiver) = mpsc::channel::<()>();
        let holding_sender = Mutex::new(holding_sender);
        let release_receiver = Mutex::new(release_receiver);

        let mut worker = Worker::new(addr).expect("worker");
        let record = recorder(&log);
        worker
            .add_ability("bin", move |job| {
                record(job);
                Ok(reversed(job.workload()))
            })
            .expect("bin");
        let record = recorder(&log);
        worker
            .add_ability("events", move |job| {
                record(job);
                send_events(job)
            })
            .expect("events");
        let record = recorder(&log);
        worker
            .add_ability("fail", move |job| {
                record(job);
                Err(JobError::Fail)
            })
            .expect("fail");
        let record = recorder(&log);
        worker
            .add_ability("exception", move |job| {
                record(job);
                Err(JobError::exception("boom"))
            })
            .expect("exception");
        let record = recorder(&log);
        worker
            .add_ability("hold", move |job| {
                record(job);
                job.send_status(1, 4)?;
                let _ = holding_sender.lock().expect("lock").send(());
                release_receiver
                    .lock()
                    .expect("lock")
                    .recv_timeout(Duration::from_secs(8))
                    .map_err(|_| JobError::exception("never released"))?;
                Ok(b"held".to_vec())
            })
            .expect("hold");
        worker
            .wait_registered(Duration::from_secs(10))
            .expect("registered");

        let mut raising = Worker::builder()
            .servers(addr)
            .exceptions(ExceptionMode::Exception)
            .build()
            .expect("worker");
        let record = recorder(&log);
        raising
            .add_ability("raise", move |job| {
                record(job);
                Err(JobError::exception("boom"))
            })
            .expect("raise");
        raising
            .wait_registered(Duration::from_secs(10))
            .expect("registered");

        OurWorkers {
            log,
            holding,
            release,
            _default: WorkerThread::run(worker),
            _exceptions: WorkerThread::run(raising),
        }
    }

    /// The jobs run so far, in the order they started.
    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().expect("lock").clone()
    }

    /// Waits (up to 10 s) until at least `count` jobs started; returns them all.
    #[track_caller]
    pub fn wait_seen(&self, count: usize) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.seen();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "our worker ran {seen:?}, expected {count} jobs"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits (up to 10 s) until `hold` has sent its status 1/4 and is waiting.
    #[track_caller]
    pub fn wait_holding(&self) {
        self.holding
            .recv_timeout(Duration::from_secs(10))
            .expect("our worker never started `hold`");
    }

    /// Lets a waiting `hold` complete.
    pub fn release(&self) {
        self.release.send(()).expect("release");
    }
}

fn recorder(log: &Arc<Mutex<Vec<Seen>>>) -> impl Fn(&Job<'_>) + Send + 'static {
    let log = Arc::clone(log);
    move |job| {
        log.lock().expect("lock").push(Seen {
            function: String::from_utf8_lossy(job.function()).into_owned(),
            unique: job.unique().to_vec(),
            workload: job.workload().to_vec(),
        });
    }
}

/// Sends the peer workers' `events` sequence ([`super::EVENTS`]) and completes.
fn send_events(job: &mut Job<'_>) -> Result<Vec<u8>, JobError> {
    job.send_data(b"\0d1\xff")?;
    job.send_warning(b"w1")?;
    job.send_status(1, 3)?;
    job.send_data(b"d2")?;
    job.send_status(2, 3)?;
    job.send_warning(b"\0w2")?;
    job.send_status(3, 3)?;
    Ok(b"done\0".to_vec())
}

/// Runs `task` with our client, recording its events as the peer clients print them
/// (`data <hex>`, `warning <hex>`, `status <n> <d>`, then `complete <hex>`, or the error).
pub fn call_recording(
    client: &mut Client,
    task: Task<'_>,
) -> (Vec<String>, gearman_sync::Result<Vec<u8>>) {
    let events = std::cell::RefCell::new(Vec::new());
    let result = client.do_task(
        task.on_data(|data| events.borrow_mut().push(format!("data {}", hex(data))))
            .on_warning(|data| events.borrow_mut().push(format!("warning {}", hex(data))))
            .on_status(|numerator, denominator| {
                events
                    .borrow_mut()
                    .push(format!("status {numerator} {denominator}"))
            }),
    );
    let mut events = events.into_inner();
    if let Ok(data) = &result {
        events.push(format!("complete {}", hex(data)));
    }
    (events, result)
}
