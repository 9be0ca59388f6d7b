//! The grab/sleep/wake cycle of one worker connection, sans-IO: how many GRABs are out, whether
//! the connection sleeps, and the guess whether the server has more jobs for us.
//!
//! The guess decides what follows a job. While the server seems busy, the next GRAB leaves in
//! the same write as the result. While it seems idle (its last answer was NO_JOB), the worker
//! sends PRE_SLEEP with the result instead of a GRAB that would only bring NO_JOB: gearmand
//! answers a PRE_SLEEP with a NOOP at once when a job is queued, so no job waits for the
//! guess, and a lightly loaded worker saves a GRAB/NO_JOB round trip per job. Every
//! [`PROBE_EVERY`]th job after a wake-up is followed by a GRAB anyway, so a queue that filled
//! up meanwhile is noticed and served by pipelined GRABs again.

use crate::protocol::PacketType;

/// After this many jobs answered by PRE_SLEEP in a row, the next one is followed by a GRAB.
pub(crate) const PROBE_EVERY: u8 = 8;

/// What a packet from the server asks the worker to do (the I/O is the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing: an advisory or unexpected packet, or a NO_JOB while other GRABs are out.
    Ignore,
    /// A NOOP woke a sleeping connection: GRAB again.
    Wake,
    /// NO_JOB answered our last GRAB: send PRE_SLEEP (and call [`Cycle::slept`]).
    PreSleep,
    /// A job was assigned: run it (even unasked: it is ours until we answer).
    Run,
    /// An ERROR (e.g. JOB_NOT_FOUND after a timeout re-queue): look at it.
    ServerError,
}

/// One connection's place in the grab/sleep/wake cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cycle {
    /// GRABs sent whose JOB_ASSIGN* or NO_JOB has not arrived yet.
    grabs_out: u32,
    /// PRE_SLEEP sent, NOOP not yet received (never with GRABs out).
    sleeping: bool,
    /// Woken by a NOOP: the next reply answers the GRAB sent for the wake-up.
    woken: bool,
    /// The guess that the server has more jobs for us.
    busy: bool,
    /// Jobs left to follow by PRE_SLEEP before the next probing GRAB.
    sleeps_left: u8,
}

impl Default for Cycle {
    fn default() -> Self {
        Cycle::new()
    }
}

impl Cycle {
    /// A fresh connection: awake, nothing out, presumed busy (it asks at once).
    pub(crate) fn new() -> Cycle {
        Cycle {
            grabs_out: 0,
            sleeping: false,
            woken: false,
            busy: true,
            sleeps_left: PROBE_EVERY,
        }
    }

    /// GRABs out without their reply.
    pub(crate) fn grabs_out(&self) -> u32 {
        self.grabs_out
    }

    /// True when the worker may send a GRAB here: awake, and either nothing is out or the
    /// server seems busy (a second GRAB is a prefetch, pointless against an idle server).
    pub(crate) fn may_grab(&self) -> bool {
        !self.sleeping && (self.grabs_out == 0 || self.busy)
    }

    /// True when the connection is awake with nothing out: it is due for a GRAB.
    pub(crate) fn is_idle_awake(&self) -> bool {
        !self.sleeping && self.grabs_out == 0
    }

    /// A GRAB was sent.
    pub(crate) fn grab_sent(&mut self) {
        self.grabs_out = self.grabs_out.saturating_add(1);
    }

    /// PRE_SLEEP was sent.
    pub(crate) fn slept(&mut self) {
        self.sleeping = true;
    }

    /// Marks the connection awake without a NOOP: after a new CAN_DO (which does not wake a
    /// sleeping worker on the server's side), or when a late NO_JOB is not answered by
    /// PRE_SLEEP; the worker asks again itself.
    pub(crate) fn wake(&mut self) {
        self.sleeping = false;
    }

    /// Called after a job from this connection, when the worker could pipeline a GRAB with its
    /// result: true means send PRE_SLEEP instead (and call [`slept`](Cycle::slept)).
    pub(crate) fn sleep_after_job(&mut self) -> bool {
        if self.sleeping || self.grabs_out > 0 || self.busy {
            return false;
        }
        if self.sleeps_left == 0 {
            self.sleeps_left = PROBE_EVERY;
            return false;
        }
        self.sleeps_left -= 1;
        true
    }

    /// The state after `kind` arrives, and what to do about it. A NOOP matters only while
    /// sleeping, NO_JOB only while a GRAB is out, and a NOOP is never taken for a GRAB's reply.
    pub(crate) fn on_packet(&mut self, kind: PacketType) -> Step {
        match kind {
            PacketType::Noop if self.sleeping => {
                self.sleeping = false;
                self.woken = true;
                Step::Wake
            }
            PacketType::NoJob if self.grabs_out > 0 => {
                self.grabs_out -= 1;
                self.woken = false;
                self.busy = false;
                if self.grabs_out == 0 {
                    Step::PreSleep
                } else {
                    Step::Ignore
                }
            }
            PacketType::JobAssign | PacketType::JobAssignUniq | PacketType::JobAssignAll => {
                if self.grabs_out > 0 {
                    self.grabs_out -= 1;
                    // The GRAB sent for a wake-up says nothing about what is left; any other
                    // answered with a job means the queue was not empty after a job.
                    if !std::mem::take(&mut self.woken) && !self.busy {
                        self.busy = true;
                        self.sleeps_left = PROBE_EVERY;
                    }
                }
                Step::Run
            }
            PacketType::Error => Step::ServerError,
            _ => Step::Ignore,
        }
    }
}

/// Drives a [`Cycle`] like the worker loop does (a GRAB whenever it may, a PRE_SLEEP or GRAB
/// after each job, PRE_SLEEP on the last NO_JOB) with the packets decoded from `data`, and
/// panics if the machine could lose a wake-up, take a packet for a reply it is not, or sleep
/// with GRABs out.
pub(crate) fn drive(data: &[u8]) {
    use crate::protocol::Decoder;
    let decoder = Decoder::new().with_max_body_len(4096);
    let mut cycle = Cycle::new();
    let mut rest = data;
    let mut grabs = 0usize;
    let mut replies = 0usize;
    // The first byte chooses how many jobs may be in flight at once (1 to 4).
    let depth = rest.first().map_or(1, |&byte| u32::from(byte % 4) + 1);
    while !rest.is_empty() {
        while cycle.may_grab() && cycle.grabs_out() < depth {
            cycle.grab_sent();
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
        let before = cycle;
        match cycle.on_packet(kind) {
            Step::Wake => assert!(before.sleeping, "NOOP woke a connection that was awake"),
            Step::PreSleep => {
                assert!(before.grabs_out == 1, "PRE_SLEEP with GRABs still out");
                replies += 1;
                cycle.slept();
            }
            Step::Run => {
                if before.grabs_out > 0 {
                    replies += 1;
                }
                if cycle.sleep_after_job() {
                    assert_eq!(cycle.grabs_out(), 0, "slept after a job with GRABs out");
                    cycle.slept();
                }
            }
            Step::Ignore if kind == PacketType::NoJob && before.grabs_out > 0 => {
                assert!(
                    before.grabs_out > 1,
                    "NO_JOB ended the last GRAB without PRE_SLEEP"
                );
                replies += 1;
            }
            Step::Ignore | Step::ServerError => {
                assert_eq!(before, cycle, "an ignored packet changed the state")
            }
        }
        assert!(
            !cycle.sleeping || cycle.grabs_out == 0,
            "asleep with GRABs out"
        );
        assert!(
            replies <= grabs,
            "more GRAB replies ({replies}) than GRABs ({grabs})"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let mut cycle = Cycle::new();
        assert!(cycle.may_grab() && cycle.is_idle_awake());
        assert_eq!(cycle.on_packet(PacketType::Noop), Step::Ignore);
        cycle.grab_sent();
        assert_eq!(cycle.on_packet(PacketType::Noop), Step::Ignore);
        assert_eq!(cycle.on_packet(PacketType::NoJob), Step::PreSleep);
        cycle.slept();
        assert!(!cycle.may_grab());
        assert_eq!(cycle.on_packet(PacketType::NoJob), Step::Ignore);
        assert_eq!(cycle.on_packet(PacketType::Error), Step::ServerError);
        assert_eq!(cycle.on_packet(PacketType::Noop), Step::Wake);
        assert!(cycle.may_grab());
        // An unasked job still runs.
        assert_eq!(cycle.on_packet(PacketType::JobAssignUniq), Step::Run);
        assert_eq!(cycle.grabs_out(), 0);
    }

    #[test]
    fn busy_server_gets_pipelined_grabs() {
        let mut cycle = Cycle::new();
        for _ in 0..3 {
            cycle.grab_sent();
            assert_eq!(cycle.on_packet(PacketType::JobAssign), Step::Run);
            assert!(
                !cycle.sleep_after_job(),
                "a busy server gets a GRAB after each job"
            );
        }
        // Prefetch: a second GRAB may go out while the server seems busy.
        cycle.grab_sent();
        assert!(cycle.may_grab());
    }

    #[test]
    fn idle_server_gets_pre_sleep_after_a_job_then_a_probe() {
        let mut cycle = Cycle::new();
        cycle.grab_sent();
        assert_eq!(cycle.on_packet(PacketType::NoJob), Step::PreSleep);
        cycle.slept();
        let mut slept = 0;
        for _ in 0..=PROBE_EVERY {
            assert_eq!(cycle.on_packet(PacketType::Noop), Step::Wake);
            assert!(!cycle.may_grab() || cycle.grabs_out() == 0);
            cycle.grab_sent();
            assert!(!cycle.may_grab(), "no prefetch against an idle server");
            assert_eq!(cycle.on_packet(PacketType::JobAssignUniq), Step::Run);
            if cycle.sleep_after_job() {
                cycle.slept();
                slept += 1;
            } else {
                break;
            }
        }
        assert_eq!(
            slept, PROBE_EVERY,
            "every {PROBE_EVERY}th job is followed by a GRAB"
        );
        // The probe finds a job: the server is busy again.
        cycle.grab_sent();
        assert_eq!(cycle.on_packet(PacketType::JobAssignUniq), Step::Run);
        assert!(!cycle.sleep_after_job());
        assert!(cycle.may_grab());
    }

    #[test]
    fn last_no_job_of_several_grabs_sleeps() {
        let mut cycle = Cycle::new();
        cycle.grab_sent();
        cycle.grab_sent();
        assert_eq!(cycle.on_packet(PacketType::JobAssign), Step::Run);
        assert!(!cycle.sleep_after_job(), "a GRAB is still out");
        assert_eq!(cycle.on_packet(PacketType::NoJob), Step::PreSleep);
        cycle.grab_sent();
        cycle.grab_sent();
        assert_eq!(cycle.on_packet(PacketType::NoJob), Step::Ignore);
        assert_eq!(cycle.on_packet(PacketType::NoJob), Step::PreSleep);
    }

    #[test]
    fn drive_never_panics_on_patterns() {
        for seed in 0u8..=255 {
            let data: Vec<u8> = (0..64u8)
                .map(|index| seed.wrapping_mul(31).wrapping_add(index.wrapping_mul(7)))
                .collect();
            drive(&data);
        }
    }
}
