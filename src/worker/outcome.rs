//! What a job's handler outcome becomes on the wire, sans-IO: the terminal packet, its data,
//! and a warning to send before it.

use std::collections::VecDeque;
use std::time::Duration;

use super::ability::{JobError, JobResult};
use super::job::Terminal;
use super::ExceptionMode;

/// Jobs that overran a limit gearmand enforces (`CAN_DO_TIMEOUT`), so gearmand re-queued them:
/// if one comes back on the same connection, the worker fails it instead of running it again
/// and again. Bounded: the oldest entries are forgotten.
#[derive(Debug, Default)]
pub(crate) struct RequeueGuard {
    /// (server index, connection generation, handle), oldest first.
    jobs: VecDeque<(usize, u64, Vec<u8>)>,
}

/// How many re-queued jobs the guard remembers.
const REQUEUE_GUARD_SIZE: usize = 256;

impl RequeueGuard {
    /// Remembers a job that overran its server-side limit.
    pub(crate) fn remember(&mut self, server: usize, generation: u64, handle: &[u8]) {
        if self.jobs.len() == REQUEUE_GUARD_SIZE {
            self.jobs.pop_front();
        }
        self.jobs.push_back((server, generation, handle.to_vec()));
    }

    /// True (and forgets it) when this job overran here before.
    pub(crate) fn contains(&mut self, server: usize, generation: u64, handle: &[u8]) -> bool {
        if self.jobs.is_empty() {
            return false;
        }
        let found = self.jobs.iter().position(|(index, conn, known)| {
            *index == server && *conn == generation && known == handle
        });
        found.map(|position| self.jobs.remove(position)).is_some()
    }
}

/// How a handler ended: it returned, or it panicked with this message.
pub(crate) type HandlerOutcome = Result<JobResult, String>;

/// A handler that returned after its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overrun {
    /// The ability's limit.
    pub(crate) limit: Duration,
    /// How long the job had run when the handler returned.
    pub(crate) ran: Duration,
}

/// What to send for a job whose handler did not send its own terminal packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// `WORK_WARNING` data to send first.
    pub(crate) warning: Option<Vec<u8>>,
    /// The terminal packet.
    pub(crate) terminal: Terminal,
    /// Its data (the result of `WORK_COMPLETE`, the payload of `WORK_EXCEPTION`).
    pub(crate) data: Vec<u8>,
}

/// The reply for a handler's `outcome`. An overrun replaces a result with a failure naming the
/// limit; failures with a text (exceptions, panics, overruns) are sent as `mode` says.
pub(crate) fn reply_for(
    outcome: HandlerOutcome,
    overrun: Option<Overrun>,
    mode: ExceptionMode,
) -> Reply {
    let failure = match (outcome, overrun) {
        (Ok(Ok(_)), Some(Overrun { limit, ran })) => {
            format!("time limit of {limit:?} exceeded (the handler ran {ran:?})").into_bytes()
        }
        (Ok(Ok(result)), None) => {
            return Reply {
                warning: None,
                terminal: Terminal::Complete,
                data: result,
            }
        }
        (Ok(Err(JobError::Fail)), _) => {
            return Reply {
                warning: None,
                terminal: Terminal::Fail,
                data: Vec::new(),
            }
        }
        (Ok(Err(JobError::Exception(data))), _) => data,
        (Err(panic), _) => format!("panic: {panic}").into_bytes(),
    };
    match mode {
        ExceptionMode::Exception => Reply {
            warning: None,
            terminal: Terminal::Exception,
            data: failure,
        },
        ExceptionMode::WarningThenFail => Reply {
            warning: Some(failure),
            terminal: Terminal::Fail,
            data: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVERRUN: Overrun = Overrun {
        limit: Duration::from_secs(1),
        ran: Duration::from_millis(1500),
    };

    fn reply(warning: Option<&str>, terminal: Terminal, data: &str) -> Reply {
        Reply {
            warning: warning.map(|text| text.as_bytes().to_vec()),
            terminal,
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn requeue_guard_matches_server_connection_and_handle_once() {
        let mut guard = RequeueGuard::default();
        assert!(!guard.contains(0, 1, b"H:x:1"));
        guard.remember(0, 1, b"H:x:1");
        assert!(!guard.contains(1, 1, b"H:x:1"), "another server");
        assert!(!guard.contains(0, 2, b"H:x:1"), "another connection");
        assert!(guard.contains(0, 1, b"H:x:1"));
        assert!(!guard.contains(0, 1, b"H:x:1"), "matched once");
        for n in 0..=REQUEUE_GUARD_SIZE {
            guard.remember(0, 1, format!("H:x:{n}").as_bytes());
        }
        assert!(!guard.contains(0, 1, b"H:x:0"), "the oldest is forgotten");
        assert!(guard.contains(0, 1, format!("H:x:{REQUEUE_GUARD_SIZE}").as_bytes()));
    }

    #[test]
    fn table() {
        use ExceptionMode::{Exception, WarningThenFail};
        let overrun_text = "time limit of 1s exceeded (the handler ran 1.5s)";
        let cases: Vec<(HandlerOutcome, Option<Overrun>, ExceptionMode, Reply)> = vec![
            (
                Ok(Ok(b"r".to_vec())),
                None,
                WarningThenFail,
                reply(None, Terminal::Complete, "r"),
            ),
            (
                Ok(Ok(b"r".to_vec())),
                None,
                Exception,
                reply(None, Terminal::Complete, "r"),
            ),
            (
                Ok(Err(JobError::Fail)),
                None,
                WarningThenFail,
                reply(None, Terminal::Fail, ""),
            ),
            (
                Ok(Err(JobError::Fail)),
                Some(OVERRUN),
                Exception,
                reply(None, Terminal::Fail, ""),
            ),
            (
                Ok(Err(JobError::exception("bad"))),
                None,
                WarningThenFail,
                reply(Some("bad"), Terminal::Fail, ""),
            ),
            (
                Ok(Err(JobError::exception("bad"))),
                Some(OVERRUN),
                Exception,
                reply(None, Terminal::Exception, "bad"),
            ),
            (
                Err("boom".into()),
                None,
                WarningThenFail,
                reply(Some("panic: boom"), Terminal::Fail, ""),
            ),
            (
                Err("boom".into()),
                None,
                Exception,
                reply(None, Terminal::Exception, "panic: boom"),
            ),
            (
                Ok(Ok(b"late".to_vec())),
                Some(OVERRUN),
                WarningThenFail,
                reply(Some(overrun_text), Terminal::Fail, ""),
            ),
            (
                Ok(Ok(b"late".to_vec())),
                Some(OVERRUN),
                Exception,
                reply(None, Terminal::Exception, overrun_text),
            ),
        ];
        for (outcome, overrun, mode, expected) in cases {
            let described = format!("{outcome:?} {overrun:?} {mode:?}");
            assert_eq!(reply_for(outcome, overrun, mode), expected, "{described}");
        }
    }
}
