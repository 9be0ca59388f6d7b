//! Interop scenarios shared by `tests/interop_php.rs`, `interop_perl.rs` and `interop_python.rs`:
//! a private gearmand with a peer client and our worker ([`PeerClients`], scenarios in
//! [`from_peer`]), or with our client and a peer worker ([`PeerWorker`], scenarios in
//! [`to_peer`]). The scenarios assert what every correct peer does; where a peer differs (its
//! known bugs, a missing feature) the peer's test file asserts what it does instead, using the
//! fixtures here.

// Each test binary uses a different subset of the scenarios.
#![allow(dead_code)]

pub mod from_peer;
pub mod ours;
pub mod to_peer;

use std::time::{Duration, Instant};

use gearman_sync::Client;

use crate::common::peer::{Peer, PeerOutput, PeerProcess, CLIENT_TIMEOUT};
use crate::common::{parse_status, Gearmand, POLL};
use crate::util::test_client;
use ours::OurWorkers;

/// What the `events` functions send, in order, as the peer clients print it: WORK_DATA,
/// WORK_WARNING and WORK_STATUS interleaved, payloads with NUL and 0xff bytes, then
/// WORK_COMPLETE.
pub const EVENTS: [&str; 8] = [
    "data 006431ff",
    "warning 7731",
    "status 1 3",
    "data 6432",
    "status 2 3",
    "warning 007732",
    "status 3 3",
    "complete 646f6e6500",
];

/// `boom`, the text of every exception, in hex.
pub const BOOM: &str = "626f6f6d";

/// A gearmand and our workers ([`OurWorkers`]), for a peer client.
pub struct PeerClients {
    /// The peer under test.
    pub peer: Peer,
    /// Our workers, once started.
    pub ours: Option<OurWorkers>,
    /// The private gearmand (dropped last).
    pub server: Gearmand,
}

impl PeerClients {
    /// gearmand with our workers registered.
    pub fn start(peer: Peer) -> PeerClients {
        let mut fixture = PeerClients::without_workers(peer);
        fixture.start_workers();
        fixture
    }

    /// gearmand alone: jobs queue until [`start_workers`](Self::start_workers).
    pub fn without_workers(peer: Peer) -> PeerClients {
        peer.version();
        PeerClients {
            peer,
            ours: None,
            server: Gearmand::start(),
        }
    }

    /// Starts our workers and waits until they are registered.
    pub fn start_workers(&mut self) {
        self.ours = Some(OurWorkers::start(&self.server.addr()));
    }

    /// Our workers.
    pub fn ours(&self) -> &OurWorkers {
        self.ours.as_ref().expect("our workers were not started")
    }

    /// Runs the peer client with `args`.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> PeerOutput {
        self.peer.client(self.server.port(), args)
    }

    /// Runs `count` foreground jobs of `function` from one peer client (`mode` `call` asks for
    /// exceptions, `call-plain` does not); `unique` "none" sends none.
    #[track_caller]
    pub fn call(
        &self,
        mode: &str,
        function: &str,
        workload: &[u8],
        unique: &str,
        count: usize,
    ) -> PeerOutput {
        let workload = crate::common::peer::hex(workload);
        self.run(&[mode, function, &workload, unique, &count.to_string()])
    }

    /// A client of ours for the same gearmand.
    pub fn our_client(&self) -> Client {
        test_client(&self.server.addr())
    }
}

/// A gearmand, a peer worker and our client.
pub struct PeerWorker {
    /// The peer under test.
    pub peer: Peer,
    /// Our client (random uniques, 20 s job deadline).
    pub client: Client,
    /// The peer worker, once started.
    pub worker: Option<PeerProcess>,
    /// The private gearmand (dropped last).
    pub server: Gearmand,
}

impl PeerWorker {
    /// gearmand with the peer worker registered.
    pub fn start(peer: Peer) -> PeerWorker {
        let mut fixture = PeerWorker::without_worker(peer);
        fixture.start_worker();
        fixture
    }

    /// gearmand alone: jobs queue until [`start_worker`](Self::start_worker).
    pub fn without_worker(peer: Peer) -> PeerWorker {
        peer.version();
        let server = Gearmand::start();
        PeerWorker {
            peer,
            client: test_client(&server.addr()),
            worker: None,
            server,
        }
    }

    /// Starts the peer worker and waits until gearmand lists its functions.
    pub fn start_worker(&mut self) {
        self.worker = Some(self.peer.worker(self.server.port()));
    }

    /// The running peer worker.
    pub fn worker(&mut self) -> &mut PeerProcess {
        self.worker
            .as_mut()
            .expect("the peer worker was not started")
    }

    /// Stops the peer worker and returns what it printed.
    pub fn stop_worker(&mut self) -> PeerOutput {
        self.worker
            .take()
            .expect("the peer worker was not started")
            .kill()
    }

    /// Waits up to 10 s for the peer worker to exit by itself (a peer that dies on a job).
    #[track_caller]
    pub fn worker_exits(&mut self) -> PeerOutput {
        let mut worker = self.worker.take().expect("the peer worker was not started");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !worker.has_exited() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        worker.finish(Duration::ZERO)
    }
}

/// A job line of a peer worker (`job <function> <unique hex or -> <workload hex>`), split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerJob {
    /// The function.
    pub function: String,
    /// The unique ID in hex, `-` when the worker got none (or, Perl, never gets one).
    pub unique: String,
    /// The workload in hex.
    pub workload: String,
}

/// The job lines among a peer worker's output.
#[track_caller]
pub fn peer_jobs(output: &PeerOutput) -> Vec<PeerJob> {
    output
        .lines
        .iter()
        .filter(|line| line.starts_with("job "))
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, ' ').collect();
            assert_eq!(fields.len(), 4, "bad job line {line:?} in {output:#?}");
            PeerJob {
                function: fields[1].to_owned(),
                unique: fields[2].to_owned(),
                workload: fields[3].to_owned(),
            }
        })
        .collect()
}

/// No job of `function` is queued or running on the gearmand at `addr` (admin `status`).
pub fn no_jobs(addr: &str, function: &str) -> bool {
    parse_status(&crate::common::admin(addr, "status"))
        .iter()
        .all(|(name, total, ..)| name != function || *total == 0)
}

/// Runs the peer client `process` to its end, panicking with its output if it takes longer
/// than [`CLIENT_TIMEOUT`].
#[track_caller]
pub fn finish(process: PeerProcess) -> PeerOutput {
    let output = process.finish(CLIENT_TIMEOUT);
    assert!(!output.killed, "the peer client hung: {output:#?}");
    output
}
