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
//!
//! The cycle also counts *empty wake-ups*: a NOOP whose GRAB was answered with NO_JOB. One or
//! two are normal (gearmand wakes every sleeper for one job, and only one wins it); many in a
//! row are gearmand 1.1.x's NOOP/NO_JOB storm (PRE_SLEEP sees a runnable job that GRAB does
//! not, see the worker docs), which the session answers by waiting longer and longer before
//! it GRABs after such a NOOP ([`Cycle::empty_wakes`]).

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

/// What may follow a job on its connection, as the worker loop sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AfterJob {
    /// Asking again is allowed: the budget wants more jobs, the worker is not stopping, and
    /// the connection is alive.
    pub(crate) may_ask: bool,
    /// Fewer jobs are in hand than the budget allows after this one.
    pub(crate) room: bool,
    /// Another server is due for a GRAB (awake with nothing out): it goes first.
    pub(crate) others_due: bool,
}

/// What leaves with a job's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FollowUp {
    /// The next GRAB (the server seems busy).
    Grab,
    /// PRE_SLEEP (the server seems idle; a queued job brings a NOOP at once).
    PreSleep,
    /// Nothing.
    Nothing,
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
    /// NOOPs in a row whose GRAB was answered with NO_JOB (reset by a job).
    empty_wakes: u32,
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
            empty_wakes: 0,
        }
    }

    /// NOOPs in a row that brought no job: their GRAB was answered with NO_JOB. A job resets
    /// the count.
    pub(crate) fn empty_wakes(&self) -> u32 {
        self.empty_wakes
    }

    /// True while PRE_SLEEP is out and no NOOP has come.
    pub(crate) fn is_sleeping(&self) -> bool {
        self.sleeping
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

    /// True when the worker may ask this connection for a job ahead of the one it runs: awake
    /// and the server seems busy.
    pub(crate) fn may_prefetch(&self) -> bool {
        !self.sleeping && self.busy
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

    /// Marks the connection awake without a NOOP, after a new CAN_DO (which does not wake a
    /// sleeping worker on the server's side): the worker asks again itself.
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

    /// What follows a job from this connection (and the state after it is sent): PRE_SLEEP
    /// while the server seems idle ([`sleep_after_job`](Cycle::sleep_after_job)), else a GRAB
    /// when the budget has room, no other server is due and one may be sent here.
    pub(crate) fn follow_up(&mut self, after: AfterJob) -> FollowUp {
        if !after.may_ask {
            return FollowUp::Nothing;
        }
        if self.sleep_after_job() {
            return FollowUp::PreSleep;
        }
        if !after.others_due && after.room && self.may_grab() {
            return FollowUp::Grab;
        }
        FollowUp::Nothing
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
                if std::mem::take(&mut self.woken) {
                    self.empty_wakes = self.empty_wakes.saturating_add(1);
                }
                self.busy = false;
                if self.grabs_out == 0 {
                    Step::PreSleep
                } else {
                    Step::Ignore
                }
            }
            PacketType::JobAssign | PacketType::JobAssignUniq | PacketType::JobAssignAll => {
                self.empty_wakes = 0;
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

/// A model of gearmand's side of one worker connection, as in `server.cc` and `job.cc`: its
/// queue, its idea of whether the worker sleeps, and whether it sent a NOOP since the last GRAB.
#[derive(Debug, Default)]
struct ModelServer {
    queued: u32,
    sleeping: bool,
    noop_sent: bool,
}

/// What the worker sends in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Grab,
    PreSleep,
}

impl ModelServer {
    /// A client submits a job: a sleeping worker gets one NOOP until it GRABs again.
    fn submit(&mut self, to_worker: &mut std::collections::VecDeque<PacketType>) {
        self.queued += 1;
        if self.sleeping && !self.noop_sent {
            self.noop_sent = true;
            to_worker.push_back(PacketType::Noop);
        }
    }

    fn handle(&mut self, request: Request, to_worker: &mut std::collections::VecDeque<PacketType>) {
        match request {
            Request::Grab => {
                self.sleeping = false;
                self.noop_sent = false;
                if self.queued > 0 {
                    self.queued -= 1;
                    to_worker.push_back(PacketType::JobAssignUniq);
                } else {
                    to_worker.push_back(PacketType::NoJob);
                }
            }
            Request::PreSleep if self.queued > 0 => to_worker.push_back(PacketType::Noop),
            Request::PreSleep => self.sleeping = true,
        }
    }
}

/// Runs a [`Cycle`] against a model of gearmand, with the interleaving of submissions,
/// deliveries in both directions, job completions and stray NOOPs chosen by `data`, the way the
/// worker loop drives it (GRABs while the budget allows, PRE_SLEEP or GRAB after each job,
/// PRE_SLEEP after the last NO_JOB). Then lets everything settle and panics if a job is left
/// queued (a lost wake-up), a GRAB is miscounted, or the worker sleeps with GRABs out.
pub(crate) fn drive(data: &[u8]) {
    use std::collections::VecDeque;
    let Some((&first, actions)) = data.split_first() else {
        return;
    };
    // Jobs the worker may hold at once: 1 (no prefetch) to 4.
    let depth = u32::from(first % 4) + 1;
    let mut cycle = Cycle::new();
    let mut server = ModelServer::default();
    let mut to_server: VecDeque<Request> = VecDeque::new();
    let mut to_worker: VecDeque<PacketType> = VecDeque::new();
    let mut held = 0u32;
    let mut submitted = 0u32;
    let mut completed = 0u32;
    // One step of the worker loop: ask while it may, as `send_grabs` does.
    let top_up = |cycle: &mut Cycle, held: u32, to_server: &mut VecDeque<Request>| {
        while cycle.grabs_out() + held < depth
            && (cycle.is_idle_awake() || (held + cycle.grabs_out() > 0 && cycle.may_prefetch()))
        {
            cycle.grab_sent();
            to_server.push_back(Request::Grab);
        }
    };
    let deliver = |cycle: &mut Cycle, held: &mut u32, to_server: &mut VecDeque<Request>, kind| {
        let before = *cycle;
        match cycle.on_packet(kind) {
            Step::Wake => assert!(before.sleeping, "NOOP woke a connection that was awake"),
            Step::PreSleep => {
                assert_eq!(before.grabs_out, 1, "PRE_SLEEP with GRABs still out");
                cycle.slept();
                to_server.push_back(Request::PreSleep);
            }
            Step::Run => {
                assert!(
                    before.grabs_out > 0,
                    "the model server never assigns unasked"
                );
                *held += 1;
            }
            Step::Ignore if kind == PacketType::NoJob => {
                assert!(
                    before.grabs_out > 1,
                    "NO_JOB ended the last GRAB without PRE_SLEEP"
                )
            }
            Step::Ignore | Step::ServerError => {
                assert_eq!(before, *cycle, "an ignored packet changed the state")
            }
        }
    };
    let finish = |cycle: &mut Cycle, held: &mut u32, to_server: &mut VecDeque<Request>| {
        *held -= 1;
        if cycle.sleep_after_job() {
            assert_eq!(cycle.grabs_out(), 0, "slept after a job with GRABs out");
            cycle.slept();
            to_server.push_back(Request::PreSleep);
        } else if cycle.may_grab() && cycle.grabs_out() + *held < depth {
            cycle.grab_sent();
            to_server.push_back(Request::Grab);
        }
    };
    for &action in actions {
        top_up(&mut cycle, held, &mut to_server);
        match action % 5 {
            0 if submitted < 1000 => {
                submitted += 1;
                server.submit(&mut to_worker);
            }
            1 => {
                if let Some(request) = to_server.pop_front() {
                    server.handle(request, &mut to_worker);
                }
            }
            2 => {
                if let Some(kind) = to_worker.pop_front() {
                    deliver(&mut cycle, &mut held, &mut to_server, kind);
                }
            }
            3 if held > 0 => {
                finish(&mut cycle, &mut held, &mut to_server);
                completed += 1;
            }
            // gearmand may send a NOOP at any time.
            4 => to_worker.push_back(PacketType::Noop),
            _ => {}
        }
        assert!(
            !cycle.sleeping || cycle.grabs_out == 0,
            "asleep with GRABs out"
        );
        assert!(
            held + cycle.grabs_out() <= depth,
            "more jobs in hand than the budget"
        );
    }
    // Let everything settle: every queued job must reach the worker.
    loop {
        top_up(&mut cycle, held, &mut to_server);
        if let Some(kind) = to_worker.pop_front() {
            deliver(&mut cycle, &mut held, &mut to_server, kind);
        } else if let Some(request) = to_server.pop_front() {
            server.handle(request, &mut to_worker);
        } else if held > 0 {
            finish(&mut cycle, &mut held, &mut to_server);
            completed += 1;
        } else {
            break;
        }
    }
    assert_eq!(server.queued, 0, "a job stayed queued: a lost wake-up");
    assert_eq!(completed, submitted, "every job ran exactly once");
    assert_eq!(cycle.grabs_out(), 0, "GRABs counted without a reply");
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
    fn what_follows_a_job() {
        let ask = AfterJob {
            may_ask: true,
            room: true,
            others_due: false,
        };
        let mut busy = Cycle::new();
        assert_eq!(
            busy.follow_up(ask),
            FollowUp::Grab,
            "a busy server gets a GRAB"
        );
        let no = AfterJob {
            may_ask: false,
            ..ask
        };
        assert_eq!(
            busy.follow_up(no),
            FollowUp::Nothing,
            "stopping or lost: nothing"
        );
        let full = AfterJob { room: false, ..ask };
        assert_eq!(
            busy.follow_up(full),
            FollowUp::Nothing,
            "no room in the budget"
        );
        let elsewhere = AfterJob {
            others_due: true,
            ..ask
        };
        assert_eq!(
            busy.follow_up(elsewhere),
            FollowUp::Nothing,
            "another server first"
        );
        // An idle server gets PRE_SLEEP instead, whatever the budget says.
        let mut idle = Cycle::new();
        idle.grab_sent();
        assert_eq!(idle.on_packet(PacketType::NoJob), Step::PreSleep);
        idle.slept();
        assert_eq!(idle.on_packet(PacketType::Noop), Step::Wake);
        idle.grab_sent();
        assert_eq!(idle.on_packet(PacketType::JobAssignUniq), Step::Run);
        assert_eq!(idle.follow_up(full), FollowUp::PreSleep);
    }

    #[test]
    fn empty_wake_ups_are_counted_until_a_job() {
        let mut cycle = Cycle::new();
        cycle.grab_sent();
        assert_eq!(cycle.on_packet(PacketType::NoJob), Step::PreSleep);
        assert_eq!(
            cycle.empty_wakes(),
            0,
            "the first NO_JOB followed no wake-up"
        );
        for expected in 1..=3 {
            cycle.slept();
            assert_eq!(cycle.on_packet(PacketType::Noop), Step::Wake);
            cycle.grab_sent();
            assert_eq!(cycle.on_packet(PacketType::NoJob), Step::PreSleep);
            assert_eq!(cycle.empty_wakes(), expected);
        }
        // A GRAB sent without a NOOP (a re-ask) that finds nothing is no empty wake-up.
        cycle.slept();
        cycle.wake();
        cycle.grab_sent();
        assert_eq!(cycle.on_packet(PacketType::NoJob), Step::PreSleep);
        assert_eq!(cycle.empty_wakes(), 3);
        cycle.slept();
        assert_eq!(cycle.on_packet(PacketType::Noop), Step::Wake);
        cycle.grab_sent();
        assert_eq!(cycle.on_packet(PacketType::JobAssignUniq), Step::Run);
        assert_eq!(cycle.empty_wakes(), 0, "a job resets the count");
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
    fn no_job_is_stranded_under_random_interleavings() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let data: Vec<u8> = (0..200)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            drive(&data);
        }
    }
}
