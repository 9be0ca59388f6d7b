//! The worker loop's plumbing: which server gets the next GRAB, reading and dispatching what
//! the servers send, waiting in one `poll(2)`, reconnecting, and the final sync.

use std::time::{Duration, Instant};

use super::cycle::Step;
use super::lifecycle::guarded;
use super::session::{Assignment, Session};
use super::{Worker, GRAB_REPLY_TIMEOUT, IDLE_SLICE, REPLY_GRACE};
use crate::error::{Error, Result, Waiting};
use crate::net::{read_any, Arrival, Connection, Deadline};
use crate::protocol::PacketType;

/// How many jobs the worker may hold at once around the job it is about to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// Jobs in hand (running, assigned or asked for), counting the next one: 0 sends no GRAB.
    pub(super) now: u64,
    /// Jobs that may be asked for once the next job is done (0: no GRAB with its result).
    pub(super) after: u64,
}

impl Budget {
    /// Only the replies to GRABs already out are awaited; nothing new is asked for.
    pub(super) const DRAIN: Budget = Budget { now: 0, after: 0 };
    /// One job, nothing asked for ahead of it or after it.
    pub(super) const ONE: Budget = Budget { now: 1, after: 0 };

    /// The budget of a worker that may hold `depth` jobs at once (the running one plus the
    /// prefetch) and may run `left` more jobs in all.
    pub(super) fn within(depth: u64, left: u64) -> Budget {
        Budget {
            now: depth.min(left),
            after: depth.min(left.saturating_sub(1)),
        }
    }
}

impl Worker {
    /// Runs at most one job within `timeout`, asking for jobs as `budget` allows. A GRAB that
    /// is out at the deadline is still awaited for [`REPLY_GRACE`], and a job it brings is run.
    pub(super) fn next_job_with(&mut self, timeout: Duration, budget: Budget) -> Result<bool> {
        self.require_abilities()?;
        let deadline = Instant::now() + timeout;
        let grace = deadline + REPLY_GRACE;
        loop {
            let grabbing = budget.now > 0 && !self.stop.is_stopped();
            if grabbing {
                self.reconnect_due();
                let now = Instant::now();
                for session in &mut self.sessions {
                    session.reask_if_due(now);
                }
                self.send_grabs(budget.now, false);
            }
            if let Some((index, assignment)) = self.next_assignment() {
                self.run(index, assignment, budget);
                return Ok(true);
            }
            if grabbing && self.may_grab_more(budget.now) {
                continue;
            }
            self.expire_unanswered_grabs();
            let now = Instant::now();
            let awaiting = self.awaiting_reply();
            if (!grabbing || now >= deadline) && (!awaiting || now >= grace) {
                return Ok(false);
            }
            let until = if now >= deadline || !grabbing {
                grace
            } else {
                deadline
            };
            let mut wake = until.min(now + IDLE_SLICE);
            // Reconnects, re-asks and GRABs after a pause only happen while grabbing;
            // otherwise a due timer would spin.
            let timers = self.sessions.iter().filter_map(|session| {
                session
                    .link
                    .retry_at()
                    .into_iter()
                    .chain(session.next_timer())
                    .min()
            });
            if let Some(timer) = timers.min().filter(|_| grabbing) {
                wake = wake.min(timer.max(now));
            }
            self.wait_and_read(wake - now);
        }
    }

    /// Jobs in hand besides a running one: GRABs out plus jobs received but not yet run.
    pub(super) fn in_flight(&self) -> u64 {
        let out: u64 = self
            .sessions
            .iter()
            .filter(|session| session.link.is_open())
            .map(|session| u64::from(session.cycle.grabs_out()))
            .sum();
        out + self.stashed.len() as u64
    }

    /// True while a GRAB is out without its reply.
    pub(super) fn awaiting_reply(&self) -> bool {
        self.sessions.iter().any(Session::awaiting_reply)
    }

    /// True when fewer than `limit` jobs are in hand and a server can take a GRAB.
    fn may_grab_more(&self, limit: u64) -> bool {
        self.in_flight() < limit && self.next_grab_target(false).is_some()
    }

    /// The server for the next GRAB: the next in turn that is awake with nothing out, else
    /// (a prefetch, which is all there is while a job runs) the next in turn that is awake
    /// and seems busy.
    fn next_grab_target(&self, running: bool) -> Option<usize> {
        let count = self.sessions.len();
        let in_turn = (0..count).map(|offset| (self.cursor + offset) % count);
        let idle = |index: &usize| !running && self.sessions[*index].is_idle_awake();
        let busy = |index: &usize| {
            let session = &self.sessions[*index];
            session.link.is_open() && session.cycle.may_prefetch()
        };
        let anything_in_hand = running || self.in_flight() > 0;
        in_turn
            .clone()
            .find(idle)
            .or_else(|| in_turn.clone().filter(|_| anything_in_hand).find(busy))
    }

    /// Sends GRABs until `limit` jobs are in hand (besides a `running` one) or no server can
    /// take one. With `limit` 1 at most one GRAB is out at a time, so the worker never holds
    /// a job it is not running; beyond that, only servers that keep answering with jobs are
    /// asked ahead.
    pub(super) fn send_grabs(&mut self, limit: u64, running: bool) {
        let kind = self.options.grab.packet_type();
        while self.in_flight() < limit {
            let Some(index) = self.next_grab_target(running) else {
                break;
            };
            let session = &mut self.sessions[index];
            let Some(conn) = session.link.conn_mut() else {
                break;
            };
            match conn.queue_request(kind, &[]).and_then(|()| conn.flush()) {
                Ok(()) => {
                    session.grab_sent();
                    if let Some(callback) = self.callbacks.on_grab_job.as_mut() {
                        let addr = session.link.addr();
                        guarded("on_grab_job", || callback(addr));
                    }
                }
                Err(error) => session.fail(&error, &self.settings.backoff),
            }
        }
    }

    /// Handles every buffered packet until a job is assigned.
    fn next_assignment(&mut self) -> Option<(usize, Assignment)> {
        while let Some((index, generation, assignment)) = self.stashed.pop_front() {
            let same_connection = self.sessions.get(index).is_some_and(|session| {
                session.link.is_open() && session.link.generation() == generation
            });
            if same_connection {
                return Some((index, assignment));
            }
            // Its connection died meanwhile: gearmand has re-queued the job.
        }
        let count = self.sessions.len();
        for offset in 0..count {
            let index = (self.cursor + offset) % count;
            loop {
                let session = &mut self.sessions[index];
                let next = match session.link.conn_mut() {
                    Some(conn) if conn.buffered() > 0 => conn.next_buffered(),
                    _ => break,
                };
                let packet = match next {
                    Ok(Some(packet)) => {
                        session.link.mark_healthy();
                        packet
                    }
                    Ok(None) => break,
                    Err(error) => {
                        session.fail(&error, &self.settings.backoff);
                        break;
                    }
                };
                let kind = packet.kind();
                let asked = session.cycle.grabs_out() > 0;
                let (step, asked_at) = session.on_packet(kind);
                if kind == PacketType::NoJob && asked {
                    if let Some(callback) = self.callbacks.on_no_job.as_mut() {
                        let addr = session.link.addr();
                        guarded("on_no_job", || callback(addr));
                    }
                }
                match step {
                    Step::Wake => {}
                    Step::Ignore => log::debug!("{}: ignoring {kind}", session.link.addr()),
                    Step::PreSleep => {
                        let slept = session.link.conn_mut().map(|conn| {
                            conn.queue_request(PacketType::PreSleep, &[])
                                .and_then(|()| conn.flush())
                        });
                        match slept {
                            Some(Ok(())) => session.slept(),
                            Some(Err(error)) => {
                                session.fail(&error, &self.settings.backoff);
                                break;
                            }
                            None => break,
                        }
                    }
                    Step::Run => {
                        if !asked {
                            log::warn!(
                                "{}: job assigned without a GRAB outstanding",
                                session.link.addr()
                            );
                        }
                        let assigned_at = asked_at.unwrap_or_else(Instant::now);
                        return Some((index, Assignment::from_packet(packet, assigned_at)));
                    }
                    Step::ServerError => {
                        if let Some(error) = session.fatal_server_error(&packet, asked) {
                            session.fail(&error, &self.settings.backoff);
                            break;
                        }
                    }
                }
            }
        }
        None
    }

    /// A server that leaves a GRAB unanswered for [`GRAB_REPLY_TIMEOUT`] is treated as dead:
    /// it would otherwise keep the jobs it was asked for, and every other server, waiting.
    fn expire_unanswered_grabs(&mut self) {
        let limit = self.settings.connect.io_timeout.min(GRAB_REPLY_TIMEOUT);
        for session in &mut self.sessions {
            if session.grab_overdue(limit) {
                let error = Error::Timeout {
                    waiting_for: Waiting::GrabReply,
                    timeout: limit,
                };
                session.fail(&error, &self.settings.backoff);
            }
        }
    }

    /// Connects every server whose backoff has passed, registering client ID and abilities.
    pub(super) fn reconnect_due(&mut self) {
        let now = Instant::now();
        if !self
            .sessions
            .iter()
            .any(|session| session.reconnect_due(now))
        {
            return;
        }
        let registration = self.registration();
        let mut connected = Vec::new();
        let mut failed = Vec::new();
        for (index, session) in self.sessions.iter().enumerate() {
            if session.reconnect_due(now) {
                connected.push(index);
            }
        }
        for &index in &connected {
            if let Err(error) = self.sessions[index].connect(&self.settings.connect, &registration)
            {
                failed.push((index, error));
            }
        }
        drop(registration);
        for (index, error) in failed {
            connected.retain(|&other| other != index);
            let session = &mut self.sessions[index];
            if let Some(callback) = self.callbacks.on_connect_error.as_mut() {
                let addr = session.link.addr();
                guarded("on_connect_error", || callback(addr, &error));
            }
            session.fail(&error, &self.settings.backoff);
        }
        for index in connected {
            let addr = self.sessions[index].link.addr();
            if let Some(callback) = self.callbacks.on_connect.as_mut() {
                guarded("on_connect", || callback(addr));
            }
        }
    }

    /// Waits up to `timeout` on every open connection (see [`read_any`]) and keeps what
    /// arrived for [`next_assignment`](Worker::next_assignment).
    fn wait_and_read(&mut self, timeout: Duration) {
        let mut arrivals = std::mem::take(&mut self.arrivals);
        let waited = {
            let mut conns: Vec<&mut Connection> = self
                .sessions
                .iter_mut()
                .filter_map(|session| session.link.conn_mut())
                .collect();
            read_any(
                &mut conns,
                Some(timeout),
                &mut self.wait_buffers,
                &mut arrivals,
            )
        };
        if let Err(error) = waited {
            log::error!("{error}");
            std::thread::sleep(timeout.min(IDLE_SLICE));
        }
        let open = self
            .sessions
            .iter_mut()
            .filter(|session| session.link.is_open());
        for (session, arrival) in open.zip(arrivals.drain(..)) {
            if let Arrival::Failed(error) = arrival {
                session.fail(&error, &self.settings.backoff);
            }
        }
        self.arrivals = arrivals;
    }

    /// Makes sure every server has processed what was sent (an ECHO round trip each), so a
    /// result written just before the worker stops is never lost to a connection reset.
    pub(super) fn sync_all(&mut self) {
        let deadline = Deadline::after(REPLY_GRACE, Waiting::Sync);
        for (index, session) in self.sessions.iter_mut().enumerate() {
            let Some(mut conn) = session.link.take() else {
                continue;
            };
            let stashed = &mut self.stashed;
            let synced = conn
                .queue_request(PacketType::EchoReq, &[b"gearman-sync sync"])
                .and_then(|()| conn.flush())
                .and_then(|()| loop {
                    let packet = conn.recv(&deadline)?;
                    if packet.kind() == PacketType::EchoRes {
                        break Ok(());
                    }
                    // Late replies still count: a NO_JOB ends its GRAB (no PRE_SLEEP: the next
                    // work() asks again), a job is kept to run first next time.
                    let awaiting = session.cycle.grabs_out() > 0;
                    match session.on_packet(packet.kind()) {
                        (Step::Run, asked_at) => {
                            let assigned_at = asked_at.unwrap_or_else(Instant::now);
                            let assignment = Assignment::from_packet(packet, assigned_at);
                            stashed.push_back((index, session.link.generation(), assignment));
                        }
                        (Step::ServerError, _) => {
                            if let Some(error) = session.fatal_server_error(&packet, awaiting) {
                                break Err(error);
                            }
                        }
                        _ => {}
                    }
                });
            session.link.restore(conn);
            if let Err(error) = synced {
                log::debug!(
                    "{}: sync before stopping failed: {error}",
                    session.link.addr()
                );
                session.fail(&error, &self.settings.backoff);
            }
        }
    }
}
