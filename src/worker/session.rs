//! One server as seen by a worker: its connection, where it is in the grab/sleep cycle, its
//! two timers (the re-ask of a long sleep, the pause after empty wake-ups), and its reconnect
//! backoff.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::cycle::{Cycle, Step};
use crate::error::{Error, Result, ServerErrorCode, Waiting};
use crate::net::{Backoff, ConnectOptions, Connection, Deadline, Link, ServerAddr};
use crate::protocol::admin::{AdminCommand, AdminParser, AdminReply};
use crate::protocol::{Packet, PacketType};

/// Unit of the CAN_DO_TIMEOUT value (set with
/// [`WorkerBuilder::timeout_unit`](crate::WorkerBuilder::timeout_unit)).
///
/// ```
/// use gearman_sync::{Worker, TimeoutUnit};
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
    /// The server, its connection and its health.
    pub(crate) link: Link,
    pub(crate) cycle: Cycle,
    /// When each GRAB still out was sent, oldest first (replies come in order).
    grabs_sent_at: VecDeque<Instant>,
    /// Since when a GRAB reply is due: the first GRAB out, then the latest reply, then the end
    /// of the latest job (nothing is read while a handler runs).
    waiting_since: Option<Instant>,
    millis: Option<bool>,
    /// The longest this connection sleeps on the server's word (see
    /// [`WorkerBuilder::reask_interval`](crate::WorkerBuilder::reask_interval)).
    reask: Duration,
    /// When the PRE_SLEEP now out was sent.
    slept_at: Option<Instant>,
    /// After immediate empty wake-ups: no GRAB before this instant.
    grab_after: Option<Instant>,
    storms: StormDetector,
}

/// Immediate empty wake-ups in a row that cost nothing: losing a race for a job once or twice
/// can look like the storm.
const FREE_EMPTY_WAKES: u32 = 2;
/// The first pause before a GRAB after more of them; it doubles with each one, up to the
/// re-ask interval.
const FIRST_EMPTY_WAKE_PAUSE: Duration = Duration::from_millis(10);
/// A NOOP this soon after PRE_SLEEP (or within 3 GRAB round trips, if longer) answers the
/// PRE_SLEEP itself: gearmand saw a runnable job.
const IMMEDIATE_WAKE: Duration = Duration::from_millis(5);

/// How long to wait before answering a NOOP with a GRAB after `storm` immediate empty wake-ups
/// in a row: zero for the first [`FREE_EMPTY_WAKES`], then 10 ms doubling up to `cap`.
pub(crate) fn empty_wake_pause(storm: u32, cap: Duration) -> Duration {
    let Some(excess) = storm.checked_sub(FREE_EMPTY_WAKES + 1) else {
        return Duration::ZERO;
    };
    FIRST_EMPTY_WAKE_PAUSE
        .checked_mul(1u32 << excess.min(20))
        .unwrap_or(cap)
        .min(cap)
}

/// Tells gearmand 1.1.x's NOOP/NO_JOB storm from ordinary lost races, sans-IO (times are
/// inputs). In the storm, gearmand answers every PRE_SLEEP with a NOOP at once and every GRAB
/// with NO_JOB. A worker that merely lost a race (gearmand wakes every sleeper for one job)
/// slept until a job came, so its NOOP was not immediate: that wake-up resets the count, and so
/// does a job. Only immediate empty wake-ups in a row earn a pause, so a worker that loses
/// races under load keeps answering NOOPs at once.
#[derive(Debug, Default, Clone)]
pub(crate) struct StormDetector {
    /// Immediate wake-ups in a row whose GRAB brought NO_JOB.
    storm: u32,
    /// The wake-up being answered came at once after PRE_SLEEP.
    immediate: bool,
    /// The shortest GRAB round trip seen on this connection.
    min_rtt: Option<Duration>,
}

impl StormDetector {
    /// A NOOP woke the connection `slept_for` after its PRE_SLEEP (`None`: unknown): returns
    /// how long to wait before the GRAB that answers it.
    pub(crate) fn on_wake(&mut self, slept_for: Option<Duration>, cap: Duration) -> Duration {
        let window = self.min_rtt.map_or(IMMEDIATE_WAKE, |rtt| {
            IMMEDIATE_WAKE.max(rtt.saturating_mul(3))
        });
        self.immediate = slept_for.is_some_and(|slept| slept <= window);
        if !self.immediate {
            self.storm = 0;
            return Duration::ZERO;
        }
        empty_wake_pause(self.storm, cap)
    }

    /// The GRAB that answered a wake-up brought NO_JOB.
    pub(crate) fn on_empty_wake(&mut self) {
        self.storm = match std::mem::take(&mut self.immediate) {
            true => self.storm.saturating_add(1),
            false => 0,
        };
    }

    /// A job was assigned.
    pub(crate) fn on_job(&mut self) {
        self.storm = 0;
        self.immediate = false;
    }

    /// A GRAB was answered `rtt` after it was sent.
    pub(crate) fn on_grab_reply(&mut self, rtt: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |min| min.min(rtt)));
    }

    /// Immediate empty wake-ups in a row so far.
    pub(crate) fn storm(&self) -> u32 {
        self.storm
    }
}

impl Session {
    pub(crate) fn new(addr: ServerAddr, reask: Duration) -> Session {
        Session {
            link: Link::new(addr),
            cycle: Cycle::new(),
            grabs_sent_at: VecDeque::new(),
            waiting_since: None,
            millis: None,
            reask,
            slept_at: None,
            grab_after: None,
            storms: StormDetector::default(),
        }
    }

    /// True when disconnected and its backoff has passed.
    pub(crate) fn reconnect_due(&self, now: Instant) -> bool {
        self.link.reconnect_due(now)
    }

    /// Connects and registers: SET_CLIENT_ID, then every CAN_DO / CAN_DO_TIMEOUT, in one write.
    pub(crate) fn connect(
        &mut self,
        options: &ConnectOptions,
        registration: &Registration,
    ) -> Result<()> {
        let mut conn = Connection::connect(self.link.addr(), options)?;
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
        self.link.attach(conn);
        self.reset_cycle();
        Ok(())
    }

    /// True when connected and a GRAB reply is due.
    pub(crate) fn awaiting_reply(&self) -> bool {
        self.link.is_open() && self.cycle.grabs_out() > 0
    }

    /// True when connected, awake, with nothing out and no pause after empty wake-ups
    /// running: due for a GRAB.
    pub(crate) fn is_idle_awake(&self) -> bool {
        self.link.is_open()
            && self.cycle.is_idle_awake()
            && self.grab_after.map_or(true, |at| at <= Instant::now())
    }

    /// PRE_SLEEP was sent: the connection sleeps until a NOOP, or until the re-ask interval
    /// has passed.
    pub(crate) fn slept(&mut self) {
        self.cycle.slept();
        self.slept_at = Some(Instant::now());
    }

    /// Wakes the connection when it has slept for the re-ask interval without a NOOP: gearmand
    /// can lose a wake-up (1.1.x) and never wakes sleepers for a scheduled job that comes due
    /// (1.1.x), so a sleeping worker asks again itself, as libgearman does.
    pub(crate) fn reask_if_due(&mut self, now: Instant) {
        if !self.link.is_open() || !self.cycle.is_sleeping() {
            return;
        }
        if self.slept_at.is_some_and(|at| now >= at + self.reask) {
            log::debug!(
                "{}: no NOOP for {:?}; asking again",
                self.link.addr(),
                self.reask
            );
            self.slept_at = None;
            self.cycle.wake();
        }
    }

    /// The next instant one of this connection's timers (re-ask, pause) ends, if one runs.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        self.link.conn()?;
        if self.cycle.is_sleeping() {
            return self.slept_at.map(|at| at + self.reask);
        }
        self.grab_after.filter(|_| self.cycle.is_idle_awake())
    }

    /// A GRAB was queued: its reply is due.
    pub(crate) fn grab_sent(&mut self) {
        let now = Instant::now();
        if self.cycle.grabs_out() == 0 {
            self.waiting_since = Some(now);
        }
        self.grabs_sent_at.push_back(now);
        self.cycle.grab_sent();
    }

    /// Feeds a packet from the server to the cycle (see [`Cycle::on_packet`]); also returns,
    /// for a reply to a GRAB, when that GRAB was sent (the server's timer for the job it
    /// assigns started later).
    pub(crate) fn on_packet(&mut self, kind: PacketType) -> (Step, Option<Instant>) {
        let before = self.cycle.grabs_out();
        let empty_before = self.cycle.empty_wakes();
        let step = self.cycle.on_packet(kind);
        if self.cycle.empty_wakes() > empty_before {
            self.storms.on_empty_wake();
        }
        match step {
            Step::Wake => {
                let slept_for = self.slept_at.take().map(|at| at.elapsed());
                let pause = self.storms.on_wake(slept_for, self.reask);
                self.grab_after = (!pause.is_zero()).then(|| Instant::now() + pause);
                if !pause.is_zero() {
                    log::debug!(
                        "{}: {} immediate wake-ups in a row brought no job; next GRAB in {pause:?}",
                        self.link.addr(),
                        self.storms.storm()
                    );
                }
            }
            Step::Run => {
                self.storms.on_job();
                self.grab_after = None;
            }
            _ => {}
        }
        let after = self.cycle.grabs_out();
        let mut asked_at = None;
        if after < before {
            asked_at = self.grabs_sent_at.pop_front();
            if let Some(at) = asked_at {
                self.storms.on_grab_reply(at.elapsed());
            }
            self.waiting_since = Some(Instant::now());
        }
        if after == 0 {
            self.waiting_since = None;
        }
        (step, asked_at)
    }

    /// Logs an ERROR packet from the server and returns the error that ends the connection
    /// when it may be the answer to a GRAB that is out (`awaiting`): that GRAB's reply would
    /// never come. JOB_NOT_FOUND answers a late result and is only logged.
    pub(crate) fn fatal_server_error(&self, packet: &Packet, awaiting: bool) -> Option<Error> {
        let error = Error::from_error_packet(self.link.addr(), packet);
        log::warn!("{error}");
        let late_result = matches!(
            error,
            Error::Server {
                code: ServerErrorCode::JobNotFound,
                ..
            }
        );
        (awaiting && !late_result).then_some(error)
    }

    /// A job just ran, and nothing was read meanwhile: the wait for GRAB replies starts over.
    pub(crate) fn restart_wait(&mut self) {
        if self.waiting_since.is_some() {
            self.waiting_since = Some(Instant::now());
        }
    }

    fn reset_cycle(&mut self) {
        self.cycle = Cycle::new();
        self.grabs_sent_at.clear();
        self.waiting_since = None;
        self.slept_at = None;
        self.grab_after = None;
    }

    /// True when a GRAB reply has been due for longer than `limit`.
    pub(crate) fn grab_overdue(&self, limit: Duration) -> bool {
        self.awaiting_reply()
            && self
                .waiting_since
                .is_some_and(|since| since.elapsed() > limit)
    }

    /// Sends a CAN_DO / CAN_DO_TIMEOUT for a newly added ability on an open connection.
    pub(crate) fn register(&mut self, name: &[u8], limit: Option<Duration>) -> Result<()> {
        let millis = self.millis.unwrap_or(true);
        let packet = registration_packet(name, limit, millis)?;
        if let Some(conn) = self.link.conn_mut() {
            conn.send(&packet)?;
            // CAN_DO does not wake a sleeping worker: ask again ourselves.
            self.cycle.wake();
        }
        Ok(())
    }

    /// Drops the connection and schedules the next attempt.
    pub(crate) fn fail(&mut self, error: &Error, backoff: &Backoff) {
        self.link.fail(error, backoff);
        self.reset_cycle();
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
    let command = AdminCommand::Version;
    let mut line = Vec::new();
    command.encode(&mut line)?;
    conn.queue_raw(&line);
    conn.flush()?;
    let limit = conn.io_timeout().min(Duration::from_secs(5));
    let deadline = Deadline::after(limit, Waiting::ServerVersion);
    let parser = AdminParser::new();
    let version = match conn.recv_text(&deadline, |buf| parser.parse(&command, buf))? {
        AdminReply::Version(version) => version,
        other => format!("{other:?}"),
    };
    let millis = match parse_version(&version) {
        Some(version) => version >= (1, 1, 19),
        None => {
            log::warn!(
                "{}: unrecognised version reply {version:?}; assuming milliseconds",
                conn.server()
            );
            true
        }
    };
    Ok(millis)
}

/// Parses `1.1.20+ds` (the admin `version` reply without its `OK`) into (1, 1, 20).
fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
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
    /// No later than the server assigned it (its time limit runs from then).
    pub(crate) assigned_at: Instant,
}

impl Assignment {
    /// The job in a JOB_ASSIGN* `packet`, assigned no later than `assigned_at`.
    pub(crate) fn from_packet(packet: Packet, assigned_at: Instant) -> Assignment {
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
            assigned_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.1.20+ds"), Some((1, 1, 20)));
        assert_eq!(parse_version("1.1.18\r"), Some((1, 1, 18)));
        assert_eq!(parse_version("2.0"), Some((2, 0, 0)));
        assert_eq!(parse_version("unknown"), None);
        assert!(parse_version("1.1.19").expect("v") >= (1, 1, 19));
    }

    #[test]
    fn only_immediate_empty_wake_ups_in_a_row_earn_a_pause() {
        let cap = Duration::from_secs(5);
        let at_once = Some(Duration::from_micros(300));
        let later = Some(Duration::from_millis(700));
        let mut storms = StormDetector::default();
        storms.on_grab_reply(Duration::from_micros(100));
        // The storm: NOOP at once, NO_JOB, again and again.
        let mut pauses = Vec::new();
        for _ in 0..6 {
            pauses.push(storms.on_wake(at_once, cap));
            storms.on_empty_wake();
        }
        assert_eq!(
            pauses,
            [0, 0, 0, 10, 20, 40].map(Duration::from_millis),
            "two free, then doubling"
        );
        // A wake-up after a real sleep (a race lost to another worker) resets the count.
        assert_eq!(storms.on_wake(later, cap), Duration::ZERO);
        storms.on_empty_wake();
        assert_eq!(storms.storm(), 0);
        // Losing races under load, with NOOPs that come late, never earns a pause.
        for _ in 0..100 {
            assert_eq!(storms.on_wake(later, cap), Duration::ZERO);
            storms.on_empty_wake();
        }
        // A job resets it too.
        for _ in 0..5 {
            storms.on_wake(at_once, cap);
            storms.on_empty_wake();
        }
        assert!(storms.on_wake(at_once, cap) > Duration::ZERO);
        storms.on_job();
        assert_eq!(storms.on_wake(at_once, cap), Duration::ZERO);
        // A slow link widens the window: 3 round trips.
        let mut slow = StormDetector::default();
        slow.on_grab_reply(Duration::from_millis(40));
        for _ in 0..4 {
            slow.on_wake(Some(Duration::from_millis(100)), cap);
            slow.on_empty_wake();
        }
        assert_eq!(slow.storm(), 4);
        assert_eq!(
            slow.on_wake(None, cap),
            Duration::ZERO,
            "unknown sleep: no pause"
        );
    }

    #[test]
    fn empty_wake_pauses_grow_to_the_cap() {
        let cap = Duration::from_secs(5);
        assert_eq!(empty_wake_pause(0, cap), Duration::ZERO);
        assert_eq!(empty_wake_pause(FREE_EMPTY_WAKES, cap), Duration::ZERO);
        assert_eq!(
            empty_wake_pause(FREE_EMPTY_WAKES + 1, cap),
            FIRST_EMPTY_WAKE_PAUSE
        );
        assert_eq!(
            empty_wake_pause(FREE_EMPTY_WAKES + 2, cap),
            FIRST_EMPTY_WAKE_PAUSE * 2
        );
        assert_eq!(empty_wake_pause(FREE_EMPTY_WAKES + 12, cap), cap);
        assert_eq!(empty_wake_pause(u32::MAX, cap), cap);
        let mut previous = Duration::ZERO;
        for wakes in 0..64 {
            let pause = empty_wake_pause(wakes, cap);
            assert!(pause >= previous && pause <= cap, "monotonic and capped");
            previous = pause;
        }
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
