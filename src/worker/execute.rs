//! Running one assigned job: finding its ability, calling the handler (panics caught),
//! sending exactly one terminal packet, and what follows it on the connection (decided by
//! [`Cycle::follow_up`](super::cycle::Cycle::follow_up)) in the same write. Only the I/O is
//! here: what a handler's outcome becomes is [`reply_for`], what follows a job is the cycle's.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::ability::TimeLimitMode;
use super::cycle::{AfterJob, FollowUp};
use super::job::{Job, Terminal};
use super::lifecycle::{guarded, panic_message, JobEvent};
use super::outcome::{reply_for, Overrun};
use super::scheduler::Budget;
use super::session::Assignment;
use super::Worker;
use crate::error::Error;
use crate::protocol::PacketType;

/// What running a job left to do.
struct Done {
    /// The terminal packet sent (by the worker or by the handler itself).
    terminal: Option<Terminal>,
    /// Its data, for the callbacks.
    data: Vec<u8>,
    /// The job's connection died while it ran.
    lost: bool,
    handle: Vec<u8>,
    function: Vec<u8>,
}

impl Worker {
    /// Runs one assigned job and sends exactly one terminal packet for it.
    pub(super) fn run(&mut self, index: usize, assignment: Assignment, budget: Budget) {
        self.cursor = (index + 1) % self.sessions.len().max(1);
        let Some(position) = self.ability_for(&assignment.function) else {
            log::warn!(
                "{}: job for unregistered function {}; failing it",
                self.sessions[index].link.addr(),
                String::from_utf8_lossy(&assignment.function)
            );
            self.send_unowned_fail(index, &assignment.handle, None);
            return;
        };
        let generation = self.sessions[index].link.generation();
        if self
            .requeued
            .contains(index, generation, &assignment.handle)
        {
            log::warn!(
                "{}: job {} came back after it overran its server time limit here; failing it \
                 instead of running it again",
                self.sessions[index].link.addr(),
                String::from_utf8_lossy(&assignment.handle)
            );
            let text = b"time limit exceeded in an earlier attempt on this worker";
            self.send_unowned_fail(index, &assignment.handle, Some(text));
            return;
        }
        // Prefetch: ask for the next jobs now, so they travel while this one runs.
        if budget.now > 1 && !self.stop.is_stopped() {
            self.send_grabs(budget.now - 1, true);
        }
        let in_flight = self.in_flight();
        let Some(done) = self.execute(index, position, assignment) else {
            return;
        };
        for session in &mut self.sessions {
            session.restart_wait();
        }
        if self.follow_up(index, budget, in_flight, &done) {
            self.report(index, &done);
        }
    }

    /// The position of the ability registered for `function` (as sent, with the prefix).
    fn ability_for(&self, function: &[u8]) -> Option<usize> {
        let prefix = &self.settings.prefix;
        let name = function.strip_prefix(prefix.as_slice())?;
        self.abilities
            .iter()
            .position(|ability| ability.name == name)
    }

    /// Calls the handler of ability `position` for `assignment` and queues the job's terminal
    /// packet (not flushed). `None` when the connection is gone already.
    fn execute(&mut self, index: usize, position: usize, assignment: Assignment) -> Option<Done> {
        let Worker {
            sessions,
            abilities,
            callbacks,
            options,
            requeued,
            ..
        } = self;
        let ability = &mut abilities[position];
        let session = &mut sessions[index];
        let generation = session.link.generation();
        let conn = session.link.conn_mut()?;
        let addr = conn.server().clone();
        let mut job = Job {
            conn,
            handle: assignment.handle,
            function: ability.name.clone(),
            unique: assignment.unique,
            reducer: assignment.reducer,
            workload: assignment.workload,
            // The server's timer started when it assigned the job; the worker's starts now.
            deadline: ability.timeout.map(|limit| match ability.limit_mode {
                TimeLimitMode::Server => assignment.assigned_at + limit,
                TimeLimitMode::Worker => Instant::now() + limit,
            }),
            terminal: None,
            terminal_data: Vec::new(),
            connection_lost: false,
            exception_mode: options.exceptions,
        };
        if let Some(callback) = callbacks.on_job_assign.as_mut() {
            let event = JobEvent {
                server: &addr,
                function: &ability.name,
                handle: &job.handle,
            };
            guarded("on_job_assign", || callback(&event));
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| (ability.handler)(&mut job)))
            .map_err(|panic| panic_message(&*panic));
        if let Err(message) = &outcome {
            log::error!("handler for job {} panicked: {message}", job.handle_str());
        }
        let overrun = match (ability.timeout, job.deadline) {
            (Some(limit), Some(deadline)) if job.is_expired() => Some(Overrun {
                limit,
                ran: limit + Instant::now().saturating_duration_since(deadline),
            }),
            _ => None,
        };
        if let Some(Overrun { limit, ran }) = overrun {
            log::warn!(
                "job {} ({}) exceeded its time limit of {limit:?} (ran {ran:?}); failing it",
                job.handle_str(),
                String::from_utf8_lossy(&ability.name)
            );
            if ability.limit_mode == TimeLimitMode::Server {
                requeued.remember(index, generation, &job.handle);
            }
        }
        let (terminal, data, sent) = match job.terminal {
            // The handler ended the job itself (complete / fail / exception).
            Some(terminal) => (Some(terminal), std::mem::take(&mut job.terminal_data), true),
            None => {
                let reply = reply_for(outcome, overrun, options.exceptions);
                if let Some(warning) = &reply.warning {
                    // A failed warning means the connection is gone; `finish` reports that.
                    let _ = job.queue_warning(warning);
                }
                let (terminal, sent) = match job.finish(reply.terminal, &reply.data, false) {
                    Ok(()) => (reply.terminal, true),
                    Err(Error::InvalidArgument(refused)) => {
                        // A result that cannot be encoded (over 4 GiB) still ends the job.
                        log::error!(
                            "job {}: result refused ({refused}); sending WORK_FAIL",
                            job.handle_str()
                        );
                        let sent = job.finish(Terminal::Fail, &[], false).is_ok();
                        (Terminal::Fail, sent)
                    }
                    Err(_) => (reply.terminal, false),
                };
                (Some(terminal), reply.data, sent)
            }
        };
        let lost = job.connection_lost;
        if terminal == Some(Terminal::Complete) && sent && !lost {
            if let Some(hook) = ability.after_complete.as_mut() {
                guarded("after_complete", || hook(&job, &data));
            }
        }
        let handle = std::mem::take(&mut job.handle);
        Some(Done {
            terminal,
            data,
            lost: lost || !sent,
            handle,
            function: ability.name.clone(),
        })
    }

    /// Queues what follows the job on its connection (the next GRAB, PRE_SLEEP, or nothing)
    /// and flushes it with the result. False when the connection is gone (it is dropped).
    fn follow_up(&mut self, index: usize, budget: Budget, in_flight: u64, done: &Done) -> bool {
        let others_due = (0..self.sessions.len())
            .any(|other| other != index && self.sessions[other].is_idle_awake());
        let grab = self.options.grab.packet_type();
        let after = AfterJob {
            may_ask: budget.after > 0 && !self.stop.is_stopped() && !done.lost,
            room: in_flight < budget.after,
            others_due,
        };
        let session = &mut self.sessions[index];
        let follow = session.cycle.follow_up(after);
        let Some(conn) = session.link.conn_mut() else {
            return false;
        };
        let queued = match follow {
            FollowUp::PreSleep => conn.queue_request(PacketType::PreSleep, &[]).is_ok(),
            FollowUp::Grab => conn.queue_request(grab, &[]).is_ok(),
            FollowUp::Nothing => false,
        };
        let flushed = conn.flush();
        if queued && flushed.is_ok() {
            match follow {
                FollowUp::PreSleep => session.slept(),
                FollowUp::Grab => {
                    session.grab_sent();
                    if let Some(callback) = self.callbacks.on_grab_job.as_mut() {
                        let addr = session.link.addr();
                        guarded("on_grab_job", || callback(addr));
                    }
                }
                FollowUp::Nothing => {}
            }
        }
        if done.lost || flushed.is_err() {
            let error = flushed.err().unwrap_or(Error::JobConnectionLost {
                handle: String::from_utf8_lossy(&done.handle).into_owned(),
            });
            session.fail(&error, &self.settings.backoff);
            return false;
        }
        true
    }

    /// Fires the callback for the job's terminal packet.
    fn report(&mut self, index: usize, done: &Done) {
        let event = JobEvent {
            server: self.sessions[index].link.addr(),
            function: &done.function,
            handle: &done.handle,
        };
        let callbacks = &mut self.callbacks;
        match done.terminal {
            Some(Terminal::Complete) => {
                if let Some(callback) = callbacks.on_work_complete.as_mut() {
                    guarded("on_work_complete", || callback(&event));
                }
            }
            Some(Terminal::Fail) => {
                if let Some(callback) = callbacks.on_work_fail.as_mut() {
                    guarded("on_work_fail", || callback(&event));
                }
            }
            Some(Terminal::Exception) => {
                if let Some(callback) = callbacks.on_work_exception.as_mut() {
                    guarded("on_work_exception", || callback(&event, &done.data));
                }
            }
            None => {}
        }
    }

    /// Ends a job without running it: `WORK_WARNING` with `warning` (if any), then `WORK_FAIL`.
    fn send_unowned_fail(&mut self, index: usize, handle: &[u8], warning: Option<&[u8]>) {
        let session = &mut self.sessions[index];
        if let Some(conn) = session.link.conn_mut() {
            let warned = match warning {
                Some(text) => conn.queue_request(PacketType::WorkWarning, &[handle, text]),
                None => Ok(()),
            };
            let sent = warned
                .and_then(|()| conn.queue_request(PacketType::WorkFail, &[handle]))
                .and_then(|()| conn.flush());
            if let Err(error) = sent {
                session.fail(&error, &self.settings.backoff);
            }
        }
    }
}
