//! Running one assigned job: finding its ability, calling the handler (panics caught),
//! sending exactly one terminal packet, and asking for the next job in the same write.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::ability::JobError;
use super::job::{Job, Terminal};
use super::lifecycle::{guarded, panic_message, JobEvent};
use super::scheduler::Budget;
use super::session::Assignment;
use super::{ExceptionMode, Worker};
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
                self.sessions[index].addr,
                String::from_utf8_lossy(&assignment.function)
            );
            self.send_unowned_fail(index, &assignment.handle);
            return;
        };
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
            stop,
            ..
        } = self;
        let ability = &mut abilities[position];
        let session = &mut sessions[index];
        let Some(conn) = session.conn.as_mut() else {
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
            // The server's timer started when it assigned the job.
            deadline: ability.timeout.map(|limit| assignment.assigned_at + limit),
            terminal: None,
            terminal_data: Vec::new(),
            connection_lost: false,
            exception_mode: settings.exceptions,
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
        let outcome = catch_unwind(AssertUnwindSafe(|| (ability.handler)(&mut job)));
        let (terminal, data) = match outcome {
            _ if job.terminal.is_some() => (None, Vec::new()),
            Ok(Ok(result)) if job.is_expired() => {
                log::warn!(
                    "job {} ({}) exceeded its time limit; sending WORK_FAIL",
                    job.handle_str(),
                    String::from_utf8_lossy(&event_function)
                );
                drop(result);
                (Some(Terminal::Fail), Vec::new())
            }
            Ok(Ok(result)) => (Some(Terminal::Complete), result),
            Ok(Err(JobError::Fail)) => (Some(Terminal::Fail), Vec::new()),
            Ok(Err(JobError::Exception(data))) => (Some(Terminal::Exception), data),
            Err(panic) => {
                let message = panic_message(&*panic);
                log::error!("handler for job {} panicked: {message}", job.handle_str());
                (
                    Some(Terminal::Exception),
                    format!("panic: {message}").into_bytes(),
                )
            }
        };
        let warn_then_fail = settings.exceptions == ExceptionMode::WarningThenFail;
        let terminal = match terminal {
            Some(Terminal::Exception) if warn_then_fail => {
                // A failed warning means the connection is gone; `finish` reports that.
                let _ = job.send_warning(&data);
                Some(Terminal::Fail)
            }
            other => other,
        };
        let mut sent = true;
        let mut terminal = terminal;
        if let Some(kind) = terminal {
            match job.finish(kind, &data, false) {
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
        if let Some(conn) = session.conn.as_mut() {
            if budget.after > 0 && !stop.is_stopped() && !lost {
                if session.cycle.sleep_after_job() {
                    if conn.queue_request(PacketType::PreSleep, &[]).is_ok() {
                        session.cycle.slept();
                    }
                } else if !others_due
                    && in_flight < budget.after
                    && session.cycle.may_grab()
                    && conn.queue_request(settings.grab.packet_type(), &[]).is_ok()
                {
                    grabbed = true;
                }
            }
            flushed = conn.flush();
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

    fn send_unowned_fail(&mut self, index: usize, handle: &[u8]) {
        let session = &mut self.sessions[index];
        if let Some(conn) = session.conn.as_mut() {
            let sent = conn
                .queue_request(PacketType::WorkFail, &[handle])
                .and_then(|()| conn.flush());
            if let Err(error) = sent {
                session.fail(&error, &self.settings.backoff);
            }
        }
    }
}
