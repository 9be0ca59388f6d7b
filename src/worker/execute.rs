//! Running one assigned job: finding its ability, calling the handler (panics caught),
//! sending exactly one terminal packet, and asking for the next job in the same write.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::ability::TimeLimitMode;
use super::job::{Job, Terminal};
use super::lifecycle::{guarded, panic_message, JobEvent};
use super::outcome::{reply_for, Overrun};
use super::scheduler::Budget;
use super::session::Assignment;
use super::Worker;
use crate::error::Error;
use crate::protocol::PacketType;

impl Worker {
    /// Runs one assigned job and sends exactly one terminal packet for it.
    pub(super) fn run(&mut self, index: usize, assignment: Assignment, budget: Budget) {
        self.cursor = (index + 1) % self.sessions.len().max(1);
        let prefix_len = self.settings.prefix.len();
        let Some(position) = self.abilities.iter().position(|ability| {
            assignment.function.len() == prefix_len + ability.name.len()
                && assignment.function.starts_with(&self.settings.prefix)
                && assignment.function[prefix_len..] == ability.name[..]
        }) else {
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
        let Worker {
            sessions,
            abilities,
            callbacks,
            settings,
            options,
            stop,
            requeued,
            ..
        } = self;
        let ability = &mut abilities[position];
        let session = &mut sessions[index];
        let generation = session.link.generation();
        let Some(conn) = session.link.conn_mut() else {
            return;
        };
        let addr = conn.server().clone();
        let event_function = ability.name.clone();
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
        let handle = job.handle.clone();
        let event = JobEvent {
            server: &addr,
            function: &event_function,
            handle: &handle,
        };
        if let Some(callback) = callbacks.on_job_assign.as_mut() {
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
                String::from_utf8_lossy(&event_function)
            );
            if ability.limit_mode == TimeLimitMode::Server {
                requeued.remember(index, generation, &job.handle);
            }
        }
        let reply =
            (job.terminal.is_none()).then(|| reply_for(outcome, overrun, options.exceptions));
        let mut sent = true;
        let mut terminal = None;
        let mut data = Vec::new();
        if let Some(reply) = reply {
            if let Some(warning) = &reply.warning {
                // A failed warning means the connection is gone; `finish` reports that.
                let _ = job.queue_warning(warning);
            }
            terminal = Some(reply.terminal);
            data = reply.data;
            match job.finish(reply.terminal, &data, false) {
                Ok(()) => {}
                Err(Error::InvalidArgument(refused)) => {
                    // A result that cannot be encoded (over 4 GiB) still ends the job.
                    log::error!(
                        "job {}: result refused ({refused}); sending WORK_FAIL",
                        job.handle_str()
                    );
                    terminal = Some(Terminal::Fail);
                    sent = job.finish(Terminal::Fail, &[], false).is_ok();
                }
                Err(_) => sent = false,
            }
        }
        let (final_terminal, final_data) = match terminal {
            Some(terminal) => (Some(terminal), data),
            None => (job.terminal, std::mem::take(&mut job.terminal_data)),
        };
        let lost = job.connection_lost;
        if final_terminal == Some(Terminal::Complete) && sent && !lost {
            if let Some(hook) = ability.after_complete.as_mut() {
                guarded("after_complete", || hook(&job, &final_data));
            }
        }
        drop(job);
        for session in sessions.iter_mut() {
            session.restart_wait();
        }
        // With the result goes the next GRAB (when no other server is due for one and the
        // budget allows), or PRE_SLEEP when the server seems to have nothing left (see
        // `Cycle`); a prefetched job may be waiting already.
        let others_due =
            (0..sessions.len()).any(|other| other != index && sessions[other].is_idle_awake());
        let session = &mut sessions[index];
        let mut flushed = Ok(());
        let mut grabbed = false;
        let mut slept = false;
        if let Some(conn) = session.link.conn_mut() {
            if budget.after > 0 && !stop.is_stopped() && !lost {
                if session.cycle.sleep_after_job() {
                    slept = conn.queue_request(PacketType::PreSleep, &[]).is_ok();
                } else if !others_due
                    && in_flight < budget.after
                    && session.cycle.may_grab()
                    && conn.queue_request(options.grab.packet_type(), &[]).is_ok()
                {
                    grabbed = true;
                }
            }
            flushed = conn.flush();
        }
        if slept {
            session.slept();
        }
        if grabbed && flushed.is_ok() {
            session.grab_sent();
            if let Some(callback) = callbacks.on_grab_job.as_mut() {
                guarded("on_grab_job", || callback(&addr));
            }
        }
        if lost || flushed.is_err() {
            let error = flushed.err().unwrap_or(Error::JobConnectionLost {
                handle: String::from_utf8_lossy(&handle).into_owned(),
            });
            session.fail(&error, &settings.backoff);
            return;
        }
        match final_terminal {
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
                    guarded("on_work_exception", || callback(&event, &final_data));
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
