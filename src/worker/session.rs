//! One server as seen by a worker: its connection, where it is in the grab/sleep cycle, and
//! its reconnect backoff.

use std::time::{Duration, Instant};

use crate::error::{Error, ProtocolError, Result};
use crate::net::{Backoff, ConnectOptions, Connection, ServerAddr};
use crate::protocol::{Packet, PacketType};

/// Where a connection is in the worker's cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Ready to ask for a job.
    NeedGrab,
    /// A GRAB_JOB* is out; its JOB_ASSIGN* or NO_JOB is due.
    AwaitingReply,
    /// PRE_SLEEP sent; waiting for NOOP.
    Sleeping,
}

/// What a packet from the server asks the worker to do (the I/O is the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing: advisory or unexpected packet.
    Ignore,
    /// A NOOP woke a sleeping connection: GRAB again.
    Wake,
    /// NO_JOB answered our GRAB: send PRE_SLEEP, then sleep.
    PreSleep,
    /// A job was assigned: run it (even unasked: it is ours until we answer).
    Run,
    /// An ERROR (e.g. JOB_NOT_FOUND after a timeout re-queue): log it.
    ServerError,
}

/// The worker's grab/sleep/wake state machine, sans-IO: the phase after `kind` arrives in
/// `phase`, and what to do about it. A NOOP matters only while sleeping, NO_JOB only while a
/// GRAB is out, and a NOOP is never taken for a GRAB's reply.
pub(crate) fn step(phase: Phase, kind: PacketType) -> (Phase, Step) {
    match (kind, phase) {
        (PacketType::Noop, Phase::Sleeping) => (Phase::NeedGrab, Step::Wake),
        (PacketType::NoJob, Phase::AwaitingReply) => (Phase::Sleeping, Step::PreSleep),
        (PacketType::JobAssign | PacketType::JobAssignUniq | PacketType::JobAssignAll, _) => {
            (Phase::NeedGrab, Step::Run)
        }
        (PacketType::Error, _) => (phase, Step::ServerError),
        _ => (phase, Step::Ignore),
    }
}

/// Drives [`step`] like the worker loop does (GRAB when ready, one GRAB out at a time) with
/// the packets decoded from `data`, and panics if the machine could lose a wake-up or take a
/// packet for a reply it is not.
pub(crate) fn drive(data: &[u8]) {
    use crate::protocol::Decoder;
    let decoder = Decoder::new().with_max_body_len(4096);
    let mut phase = Phase::NeedGrab;
    let mut rest = data;
    let mut grabs = 0usize;
    let mut replies = 0usize;
    while !rest.is_empty() {
        if phase == Phase::NeedGrab {
            phase = Phase::AwaitingReply;
            grabs += 1;
        }
        let kind = match decoder.decode(rest) {
            Ok(Some((packet, used))) => {
                rest = &rest[used..];
                packet.kind()
            }
            _ => {
                // Not a whole packet: take one byte as a packet type instead.
                let kind = PacketType::ALL[usize::from(rest[0]) % PacketType::ALL.len()];
                rest = &rest[1..];
                kind
            }
        };
        let before = phase;
        let (after, action) = step(before, kind);
        match action {
            Step::Wake => assert_eq!(
                before,
                Phase::Sleeping,
                "NOOP woke a connection that was awake"
            ),
            Step::PreSleep => {
                assert_eq!(
                    before,
                    Phase::AwaitingReply,
                    "NO_JOB taken for a reply with no GRAB out"
                );
                replies += 1;
            }
            Step::Run => {
                if before == Phase::AwaitingReply {
                    replies += 1;
                }
            }
            Step::Ignore | Step::ServerError => {
                assert_eq!(before, after, "an ignored packet changed the phase")
            }
        }
        assert!(
            replies <= grabs,
            "more GRAB replies ({replies}) than GRABs ({grabs})"
        );
        phase = after;
    }
}

/// Unit of the CAN_DO_TIMEOUT value (set with
/// [`WorkerBuilder::timeout_unit`](crate::WorkerBuilder::timeout_unit)).
///
/// ```
/// use gearman_sync::{Worker, worker::TimeoutUnit};
/// assert_eq!(TimeoutUnit::default(), TimeoutUnit::Auto);
/// // An old gearmand (1.1.18 or earlier) without asking its version:
/// let worker = Worker::builder().servers("127.0.0.1:4730").timeout_unit(TimeoutUnit::Seconds).build()?;
/// # drop(worker);
/// # Ok::<(), gearman_sync::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeoutUnit {
    /// Ask the server's version (admin `version`) on every (re)connect: milliseconds from
    /// gearmand 1.1.19 on, seconds before; a time limit added later uses the same answer.
    #[default]
    Auto,
    /// Milliseconds (gearmand >= 1.1.19).
    Milliseconds,
    /// Seconds (gearmand <= 1.1.18).
    Seconds,
}

/// What is (re-)sent on every connect.
pub(crate) struct Registration {
    pub(crate) client_id: Option<String>,
    pub(crate) abilities: Vec<(Vec<u8>, Option<Duration>)>,
    pub(crate) unit: TimeoutUnit,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) addr: ServerAddr,
    pub(crate) conn: Option<Connection>,
    pub(crate) phase: Phase,
    /// When the GRAB now awaiting its reply was sent.
    grab_sent_at: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    millis: Option<bool>,
}

impl Session {
    pub(crate) fn new(addr: ServerAddr) -> Session {
        Session {
            addr,
            conn: None,
            phase: Phase::NeedGrab,
            grab_sent_at: None,
            failures: 0,
            retry_at: None,
            millis: None,
        }
    }

    /// True when disconnected and its backoff has passed.
    pub(crate) fn reconnect_due(&self, now: Instant) -> bool {
        self.conn.is_none() && self.retry_at.map_or(true, |at| at <= now)
    }

    /// When a disconnected session may be retried.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        if self.conn.is_some() {
            return None;
        }
        self.retry_at
    }

    /// Connects and registers: SET_CLIENT_ID, then every CAN_DO / CAN_DO_TIMEOUT, in one write.
    pub(crate) fn connect(
        &mut self,
        options: &ConnectOptions,
        registration: &Registration,
    ) -> Result<()> {
        let mut conn = Connection::connect(&self.addr, options)?;
        let millis = match registration.unit {
            TimeoutUnit::Milliseconds => true,
            TimeoutUnit::Seconds => false,
            TimeoutUnit::Auto => server_uses_millis(&mut conn)?,
        };
        self.millis = Some(millis);
        if let Some(id) = &registration.client_id {
            conn.queue_packet(&Packet::set_client_id(id.as_bytes())?);
        }
        for (name, limit) in &registration.abilities {
            conn.queue_packet(&registration_packet(name, *limit, millis)?);
        }
        conn.flush()?;
        self.conn = Some(conn);
        self.phase = Phase::NeedGrab;
        self.retry_at = None;
        Ok(())
    }

    /// A GRAB was sent: its reply is due.
    pub(crate) fn grab_sent(&mut self) {
        self.phase = Phase::AwaitingReply;
        self.grab_sent_at = Some(Instant::now());
    }

    /// True when a GRAB has waited longer than `limit` for its reply.
    pub(crate) fn grab_overdue(&self, limit: Duration) -> bool {
        self.phase == Phase::AwaitingReply
            && self.grab_sent_at.is_some_and(|sent| sent.elapsed() > limit)
    }

    /// The server answered on this connection: it is healthy, so the backoff starts over.
    /// (A server that accepts and then closes at once keeps its growing backoff.)
    pub(crate) fn mark_healthy(&mut self) {
        if self.failures > 0 {
            log::info!("worker reconnected to {}", self.addr);
            self.failures = 0;
        }
    }

    /// Sends a CAN_DO / CAN_DO_TIMEOUT for a newly added ability on an open connection.
    pub(crate) fn register(&mut self, name: &[u8], limit: Option<Duration>) -> Result<()> {
        let millis = self.millis.unwrap_or(true);
        let packet = registration_packet(name, limit, millis)?;
        if let Some(conn) = self.conn.as_mut() {
            conn.send(&packet)?;
            // CAN_DO does not wake a sleeping worker: ask again ourselves.
            if self.phase == Phase::Sleeping {
                self.phase = Phase::NeedGrab;
            }
        }
        Ok(())
    }

    /// Drops the connection and schedules the next attempt.
    pub(crate) fn fail(&mut self, error: &Error, backoff: &Backoff) {
        if let Some(conn) = self.conn.take() {
            conn.shutdown();
        }
        self.failures = self.failures.saturating_add(1);
        let delay = backoff.delay(self.failures);
        self.retry_at = Some(Instant::now() + delay);
        self.phase = Phase::NeedGrab;
        if self.failures == 1 {
            log::warn!("worker lost {}: {error}; retrying in {delay:?}", self.addr);
        } else {
            log::debug!(
                "worker cannot reach {}: {error}; retrying in {delay:?}",
                self.addr
            );
        }
    }
}

fn registration_packet(name: &[u8], limit: Option<Duration>, millis: bool) -> Result<Packet> {
    Ok(match limit {
        None => Packet::can_do(name)?,
        Some(limit) => {
            let value = if millis {
                limit.as_millis().clamp(1, u128::from(u32::MAX)) as u32
            } else {
                limit
                    .as_millis()
                    .div_ceil(1000)
                    .clamp(1, u128::from(u32::MAX)) as u32
            };
            Packet::can_do_timeout(name, value)?
        }
    })
}

/// Asks the admin `version` on the fresh connection: gearmand 1.1.19 and later take
/// CAN_DO_TIMEOUT in milliseconds.
fn server_uses_millis(conn: &mut Connection) -> Result<bool> {
    conn.queue_raw(b"version\r\n");
    conn.flush()?;
    let started = Instant::now();
    let deadline = started + conn.io_timeout().min(Duration::from_secs(5));
    let line = loop {
        let line = conn.parse_buffered(|buf| match buf.iter().position(|&byte| byte == b'\n') {
            Some(end) => Ok(Some((buf[..end].to_vec(), end + 1))),
            None if buf.len() > 256 => Err(ProtocolError::AdminLineTooLong { max: 256 }),
            None => Ok(None),
        })?;
        if let Some(line) = line {
            break line;
        }
        if !conn.wait_readable(Some(deadline))? {
            return Err(Error::Timeout {
                during: "asking the server version",
                after: deadline - started,
            });
        }
        conn.read_some()?;
    };
    let text = String::from_utf8_lossy(&line);
    let millis = match parse_version(&text) {
        Some(version) => version >= (1, 1, 19),
        None => {
            log::warn!(
                "{}: unrecognised version reply {text:?}; assuming milliseconds",
                conn.server()
            );
            true
        }
    };
    Ok(millis)
}

/// Parses `OK 1.1.20+ds` into (1, 1, 20).
fn parse_version(line: &str) -> Option<(u32, u32, u32)> {
    let version = line.trim().strip_prefix("OK ")?;
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// The fields of a JOB_ASSIGN / JOB_ASSIGN_UNIQ / JOB_ASSIGN_ALL packet.
pub(crate) struct Assignment {
    pub(crate) handle: Vec<u8>,
    pub(crate) function: Vec<u8>,
    pub(crate) unique: Vec<u8>,
    pub(crate) reducer: Option<Vec<u8>>,
    pub(crate) workload: Vec<u8>,
}

impl Assignment {
    pub(crate) fn from_packet(packet: Packet) -> Assignment {
        let handle = packet.arg(0).to_vec();
        let function = packet.arg(1).to_vec();
        let (unique, reducer) = match packet.kind() {
            PacketType::JobAssignUniq => (packet.arg(2).to_vec(), None),
            PacketType::JobAssignAll => (packet.arg(2).to_vec(), Some(packet.arg(3).to_vec())),
            _ => (Vec::new(), None),
        };
        Assignment {
            handle,
            function,
            unique,
            reducer,
            workload: packet.into_tail(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_table() {
        assert_eq!(
            step(Phase::Sleeping, PacketType::Noop),
            (Phase::NeedGrab, Step::Wake)
        );
        assert_eq!(
            step(Phase::AwaitingReply, PacketType::Noop),
            (Phase::AwaitingReply, Step::Ignore)
        );
        assert_eq!(
            step(Phase::AwaitingReply, PacketType::NoJob),
            (Phase::Sleeping, Step::PreSleep)
        );
        assert_eq!(
            step(Phase::Sleeping, PacketType::NoJob),
            (Phase::Sleeping, Step::Ignore)
        );
        assert_eq!(
            step(Phase::Sleeping, PacketType::JobAssignUniq),
            (Phase::NeedGrab, Step::Run)
        );
        assert_eq!(
            step(Phase::NeedGrab, PacketType::Error),
            (Phase::NeedGrab, Step::ServerError)
        );
        for seed in 0u8..=255 {
            let data: Vec<u8> = (0..50u8)
                .map(|index| seed.wrapping_mul(31).wrapping_add(index.wrapping_mul(7)))
                .collect();
            drive(&data);
        }
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("OK 1.1.20+ds"), Some((1, 1, 20)));
        assert_eq!(parse_version("OK 1.1.18\r"), Some((1, 1, 18)));
        assert_eq!(parse_version("OK 2.0"), Some((2, 0, 0)));
        assert_eq!(parse_version("ERR x"), None);
        assert!(parse_version("OK 1.1.19").expect("v") >= (1, 1, 19));
    }

    #[test]
    fn timeout_units() {
        let millis = registration_packet(b"f", Some(Duration::from_millis(1500)), true).expect("p");
        assert_eq!(millis.arg(1), b"1500");
        let seconds =
            registration_packet(b"f", Some(Duration::from_millis(1500)), false).expect("p");
        assert_eq!(seconds.arg(1), b"2");
        assert_eq!(
            registration_packet(b"f", None, true).expect("p").kind(),
            PacketType::CanDo
        );
    }
}
