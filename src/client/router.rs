//! Sans-IO bookkeeping of which task each reply belongs to: a per-connection queue of
//! submissions waiting for `JOB_CREATED`/`ERROR`, and a (server, handle) table for `WORK_*`.
//! No sockets and no clocks, so it can be driven by tests and the fuzzer with any packets.

use std::collections::{HashMap, VecDeque};

use crate::protocol::{Packet, PacketType};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Added but not (yet, or no longer) sent.
    Idle,
    /// Sent; its `JOB_CREATED` or `ERROR` is due on its connection.
    AwaitingCreated,
    /// Created (foreground); `WORK_*` for its handle are due.
    Running,
    /// Ended.
    Done,
}

/// What a reply means for the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `JOB_CREATED` for task `id`; a background task is then done.
    Created { id: usize, background: bool },
    /// `WORK_DATA` for task `id`.
    Data(usize),
    /// `WORK_WARNING` for task `id`.
    Warning(usize),
    /// `WORK_STATUS` for task `id`.
    Status(usize),
    /// `WORK_COMPLETE` ended task `id`.
    Complete(usize),
    /// `WORK_FAIL` ended task `id`.
    Fail(usize),
    /// `WORK_EXCEPTION` ended task `id`.
    Exception(usize),
    /// `ERROR` ended the submission of task `id`.
    Error(usize),
    /// A reply for a task nobody waits for any more (abandoned, or an unknown handle).
    Stale,
    /// A reply that matches no request at all (or a packet a client never expects).
    Unrouted(PacketType),
}

#[derive(Debug, Clone)]
struct Slot {
    state: State,
    server: usize,
    handle: Vec<u8>,
    background: bool,
}

/// The routing tables of one task set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router {
    slots: Vec<Slot>,
    awaiting_created: Vec<VecDeque<usize>>,
    /// Per connection: handle -> the running tasks that share it.
    by_handle: Vec<HashMap<Vec<u8>, VecDeque<usize>>>,
    outstanding: Vec<usize>,
    open: usize,
}

impl Router {
    /// Tables for `servers` connections.
    pub(crate) fn new(servers: usize) -> Router {
        Router {
            slots: Vec::new(),
            awaiting_created: vec![VecDeque::new(); servers],
            by_handle: vec![HashMap::new(); servers],
            outstanding: vec![0; servers],
            open: 0,
        }
    }

    /// Empties the tables for a new task set over `servers` connections, keeping their memory
    /// (a client running one job after another allocates them once).
    pub(crate) fn reset(&mut self, servers: usize) {
        self.slots.clear();
        self.awaiting_created.resize_with(servers, VecDeque::new);
        self.awaiting_created.iter_mut().for_each(VecDeque::clear);
        self.by_handle.resize_with(servers, HashMap::new);
        self.by_handle.iter_mut().for_each(HashMap::clear);
        self.outstanding.clear();
        self.outstanding.resize(servers, 0);
        self.open = 0;
    }

    /// Adds an idle task and returns its id.
    pub(crate) fn push(&mut self, background: bool) -> usize {
        self.slots.push(Slot {
            state: State::Idle,
            server: 0,
            handle: Vec::new(),
            background,
        });
        self.slots.len() - 1
    }

    /// Removes the last task again if it was never sent.
    pub(crate) fn pop_idle(&mut self) {
        if self
            .slots
            .last()
            .is_some_and(|slot| slot.state == State::Idle)
        {
            self.slots.pop();
        }
    }

    /// Task `id` was written to connection `server`: its reply is next in that queue after
    /// the ones already waiting. Works for a first submission and for a resubmission.
    pub(crate) fn submitted(&mut self, id: usize, server: usize) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if matches!(slot.state, State::AwaitingCreated | State::Running)
            || server >= self.outstanding.len()
        {
            return;
        }
        slot.state = State::AwaitingCreated;
        slot.server = server;
        slot.handle.clear();
        self.awaiting_created[server].push_back(id);
        self.outstanding[server] += 1;
        self.open += 1;
    }

    /// Routes one reply from connection `server`.
    pub(crate) fn route(&mut self, server: usize, packet: &Packet) -> Route {
        if server >= self.outstanding.len() {
            return Route::Unrouted(packet.kind());
        }
        match packet.kind() {
            PacketType::JobCreated => {
                let Some(id) = self.awaiting_created[server].pop_front() else {
                    return Route::Unrouted(PacketType::JobCreated);
                };
                if self.slots[id].state != State::AwaitingCreated || self.slots[id].server != server
                {
                    return Route::Stale;
                }
                let handle = packet.arg(0).to_vec();
                let background = self.slots[id].background;
                self.slots[id].handle.clone_from(&handle);
                if background {
                    self.close(id);
                } else {
                    self.slots[id].state = State::Running;
                    self.by_handle[server]
                        .entry(handle)
                        .or_default()
                        .push_back(id);
                }
                Route::Created { id, background }
            }
            PacketType::Error => {
                let Some(id) = self.awaiting_created[server].pop_front() else {
                    return Route::Unrouted(PacketType::Error);
                };
                if self.slots[id].state != State::AwaitingCreated || self.slots[id].server != server
                {
                    return Route::Stale;
                }
                self.close(id);
                Route::Error(id)
            }
            kind @ (PacketType::WorkData | PacketType::WorkWarning | PacketType::WorkStatus) => {
                // Coalesced submissions share a handle and each gets its own copy of every
                // packet, so the tasks sharing it take turns.
                let Some(queue) = self.by_handle[server].get_mut(packet.arg(0)) else {
                    return Route::Stale;
                };
                let Some(id) = queue.pop_front() else {
                    return Route::Stale;
                };
                queue.push_back(id);
                match kind {
                    PacketType::WorkData => Route::Data(id),
                    PacketType::WorkWarning => Route::Warning(id),
                    _ => Route::Status(id),
                }
            }
            kind
            @ (PacketType::WorkComplete | PacketType::WorkFail | PacketType::WorkException) => {
                let handles = &mut self.by_handle[server];
                let Some(queue) = handles.get_mut(packet.arg(0)) else {
                    return Route::Stale;
                };
                let id = queue.pop_front();
                if queue.is_empty() {
                    handles.remove(packet.arg(0));
                }
                let Some(id) = id else {
                    return Route::Stale;
                };
                self.close(id);
                match kind {
                    PacketType::WorkComplete => Route::Complete(id),
                    PacketType::WorkFail => Route::Fail(id),
                    _ => Route::Exception(id),
                }
            }
            other => Route::Unrouted(other),
        }
    }

    /// Connection `server` died: ends every task that depended on it and returns each with
    /// the state it was in (`AwaitingCreated`: may exist; `Running`: created, result lost).
    pub(crate) fn connection_lost(&mut self, server: usize) -> Vec<(usize, State)> {
        let mut ended = Vec::new();
        let Some(queue) = self.awaiting_created.get_mut(server) else {
            return ended;
        };
        let waiting: Vec<usize> = queue.drain(..).collect();
        for id in waiting {
            if self.slots[id].state == State::AwaitingCreated && self.slots[id].server == server {
                self.close(id);
                ended.push((id, State::AwaitingCreated));
            }
        }
        let lost: Vec<usize> = self.by_handle[server]
            .drain()
            .flat_map(|(_, queue)| queue)
            .collect();
        for id in lost {
            self.close(id);
            ended.push((id, State::Running));
        }
        ended.sort_unstable_by_key(|(id, _)| *id);
        ended
    }

    /// Ends open task `id` without a reply; returns the state it was in. Its slot in the
    /// connection's queue stays, so the reply still due there is consumed as [`Route::Stale`].
    pub(crate) fn abandon(&mut self, id: usize) -> State {
        let Some(slot) = self.slots.get(id) else {
            return State::Done;
        };
        let state = slot.state;
        if state == State::Running {
            let handles = &mut self.by_handle[slot.server];
            if let Some(queue) = handles.get_mut(slot.handle.as_slice()) {
                queue.retain(|&other| other != id);
                if queue.is_empty() {
                    handles.remove(slot.handle.as_slice());
                }
            }
        }
        if matches!(state, State::AwaitingCreated | State::Running) {
            self.close(id);
        }
        state
    }

    fn close(&mut self, id: usize) {
        let slot = &mut self.slots[id];
        if matches!(slot.state, State::AwaitingCreated | State::Running) {
            self.open -= 1;
            self.outstanding[slot.server] -= 1;
        }
        slot.state = State::Done;
    }

    /// The state of task `id`.
    pub(crate) fn state(&self, id: usize) -> State {
        self.slots.get(id).map_or(State::Done, |slot| slot.state)
    }

    /// The connection task `id` was last sent on.
    pub(crate) fn server(&self, id: usize) -> usize {
        self.slots.get(id).map_or(0, |slot| slot.server)
    }

    /// The handle of task `id` (empty before `JOB_CREATED`).
    pub(crate) fn handle(&self, id: usize) -> &[u8] {
        self.slots.get(id).map_or(&[], |slot| &slot.handle)
    }

    /// Number of open tasks.
    pub(crate) fn open(&self) -> usize {
        self.open
    }

    /// Number of tasks.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when connection `server` has open tasks.
    pub(crate) fn has_open(&self, server: usize) -> bool {
        self.outstanding.get(server).is_some_and(|&count| count > 0)
    }

    /// Number of connections the tables cover.
    pub(crate) fn servers(&self) -> usize {
        self.outstanding.len()
    }

    /// True when connection `server` still owes a `JOB_CREATED` or `ERROR` (possibly for an
    /// abandoned task), so a later request on it could be matched with a stale reply.
    pub(crate) fn owes_replies(&self, server: usize) -> bool {
        self.awaiting_created
            .get(server)
            .is_some_and(|queue| !queue.is_empty())
    }

    /// Checks the tables against each other; `Err` names the first inconsistency.
    pub(crate) fn check(&self) -> Result<(), String> {
        let open = self
            .slots
            .iter()
            .filter(|slot| matches!(slot.state, State::AwaitingCreated | State::Running))
            .count();
        if open != self.open {
            return Err(format!("open count {} but {open} open slots", self.open));
        }
        for (server, &count) in self.outstanding.iter().enumerate() {
            let actual = self
                .slots
                .iter()
                .filter(|slot| {
                    slot.server == server
                        && matches!(slot.state, State::AwaitingCreated | State::Running)
                })
                .count();
            if actual != count {
                return Err(format!(
                    "server {server}: outstanding {count} but {actual} open slots"
                ));
            }
        }
        for (server, handles) in self.by_handle.iter().enumerate() {
            for (handle, queue) in handles {
                for &id in queue {
                    let slot = &self.slots[id];
                    if slot.state != State::Running
                        || slot.server != server
                        || slot.handle != *handle
                    {
                        return Err(format!(
                            "handle table lists task {id} in state {:?}",
                            slot.state
                        ));
                    }
                }
            }
        }
        for (id, slot) in self.slots.iter().enumerate() {
            if slot.state == State::AwaitingCreated
                && !self.awaiting_created[slot.server].contains(&id)
            {
                return Err(format!("task {id} awaits JOB_CREATED but is not queued"));
            }
        }
        Ok(())
    }
}

/// Drives a router with an operation stream taken from `data` (the fuzz target's input) and
/// panics on any inconsistency: the tables must agree after every step, and every route must
/// fit the state its task was in.
pub(crate) fn drive(data: &[u8]) {
    use crate::protocol::{Decoder, Magic};
    let mut bytes = data.iter().copied();
    let servers = 1 + usize::from(bytes.next().unwrap_or(0) % 3);
    let mut router = Router::new(servers);
    let reply = |kind: PacketType, args: &[&[u8]]| Packet::new(Magic::Response, kind, args).ok();
    while let Some(op) = bytes.next() {
        let arg = usize::from(bytes.next().unwrap_or(0));
        let server = arg % servers;
        let handle = format!("H:{}", (arg / 4) % 6).into_bytes();
        let packet = match op % 10 {
            0 => {
                let id = router.push(arg % 2 == 1);
                router.submitted(id, server);
                None
            }
            1 if router.len() > 0 => {
                router.submitted(arg % router.len(), server);
                None
            }
            2 => reply(PacketType::JobCreated, &[&handle]),
            3 => reply(PacketType::Error, &[b"CODE", b"text"]),
            4 => reply(PacketType::WorkData, &[&handle, b"d"]),
            5 => reply(PacketType::WorkStatus, &[&handle, b"1", b"2"]),
            6 => reply(
                [PacketType::WorkComplete, PacketType::WorkException][arg % 2],
                &[&handle, b"r"],
            ),
            7 => reply(PacketType::WorkFail, &[&handle]),
            8 => {
                for (id, state) in router.connection_lost(server) {
                    assert!(
                        matches!(state, State::AwaitingCreated | State::Running),
                        "task {id}"
                    );
                    assert_eq!(router.state(id), State::Done);
                }
                None
            }
            9 if router.len() > 0 => {
                router.abandon(arg % router.len());
                None
            }
            _ => {
                // Raw bytes from the input, decoded as whatever packet they make.
                let rest: Vec<u8> = bytes.by_ref().take(arg).collect();
                Decoder::new()
                    .decode(&rest)
                    .ok()
                    .flatten()
                    .map(|(packet, _)| packet)
            }
        };
        if let Some(packet) = packet {
            let before: Vec<State> = (0..router.len()).map(|id| router.state(id)).collect();
            match router.route(server, &packet) {
                Route::Created { id, .. } | Route::Error(id) => {
                    assert_eq!(before[id], State::AwaitingCreated, "reply for task {id}")
                }
                Route::Data(id) | Route::Warning(id) | Route::Status(id) => {
                    assert_eq!(before[id], State::Running, "progress for task {id}");
                    assert_eq!(router.state(id), State::Running);
                }
                Route::Complete(id) | Route::Fail(id) | Route::Exception(id) => {
                    assert_eq!(before[id], State::Running, "result for task {id}");
                    assert_eq!(router.state(id), State::Done);
                }
                Route::Stale | Route::Unrouted(_) => {
                    let after: Vec<State> = (0..router.len()).map(|id| router.state(id)).collect();
                    assert_eq!(before, after, "an ignored reply changed a task");
                }
            }
        }
        if let Err(problem) = router.check() {
            panic!("router tables inconsistent: {problem}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Magic;

    fn reply(kind: PacketType, args: &[&[u8]]) -> Packet {
        Packet::new(Magic::Response, kind, args).expect("packet")
    }

    #[test]
    fn a_reset_router_forgets_everything_but_its_memory() {
        let mut router = Router::new(1);
        let old = router.push(false);
        router.submitted(old, 0);
        let waiting = router.push(false);
        router.submitted(waiting, 0);
        assert_eq!(
            router.route(0, &reply(PacketType::JobCreated, &[b"H:1"])),
            Route::Created {
                id: old,
                background: false
            }
        );
        router.reset(2);
        assert_eq!((router.len(), router.open(), router.servers()), (0, 0, 2));
        assert!(!router.has_open(0) && !router.owes_replies(0));
        router.check().expect("consistent");
        // Replies for the tasks of before are nobody's now.
        assert_eq!(
            router.route(0, &reply(PacketType::WorkComplete, &[b"H:1", b""])),
            Route::Stale
        );
        assert_eq!(
            router.route(0, &reply(PacketType::JobCreated, &[b"H:2"])),
            Route::Unrouted(PacketType::JobCreated)
        );
        let fresh = router.push(true);
        router.submitted(fresh, 1);
        assert_eq!(
            router.route(1, &reply(PacketType::JobCreated, &[b"H:3"])),
            Route::Created {
                id: fresh,
                background: true
            }
        );
        assert_eq!(router.open(), 0);
    }

    #[test]
    fn foreground_and_background_lifecycles() {
        let mut router = Router::new(2);
        let foreground = router.push(false);
        let background = router.push(true);
        router.submitted(foreground, 0);
        router.submitted(background, 0);
        assert_eq!(router.open(), 2);
        assert_eq!(
            router.route(0, &reply(PacketType::JobCreated, &[b"H:1"])),
            Route::Created {
                id: foreground,
                background: false
            }
        );
        assert_eq!(
            router.route(0, &reply(PacketType::JobCreated, &[b"H:2"])),
            Route::Created {
                id: background,
                background: true
            }
        );
        assert_eq!(router.state(background), State::Done);
        assert_eq!(
            router.route(0, &reply(PacketType::WorkStatus, &[b"H:1", b"1", b"2"])),
            Route::Status(foreground)
        );
        assert_eq!(
            router.route(1, &reply(PacketType::WorkComplete, &[b"H:1", b""])),
            Route::Stale,
            "other server"
        );
        assert_eq!(
            router.route(0, &reply(PacketType::WorkComplete, &[b"H:1", b"r"])),
            Route::Complete(foreground)
        );
        assert_eq!(
            router.route(0, &reply(PacketType::WorkComplete, &[b"H:1", b"r"])),
            Route::Stale
        );
        assert_eq!(router.open(), 0);
        router.check().expect("consistent");
    }

    #[test]
    fn coalesced_tasks_take_turns_and_errors_pop_the_queue() {
        let mut router = Router::new(1);
        let ids: Vec<usize> = (0..3).map(|_| router.push(false)).collect();
        for &id in &ids {
            router.submitted(id, 0);
        }
        router.route(0, &reply(PacketType::JobCreated, &[b"H:1"]));
        router.route(0, &reply(PacketType::JobCreated, &[b"H:1"]));
        assert_eq!(
            router.route(0, &reply(PacketType::Error, &[b"QUEUE_ERROR", b"full"])),
            Route::Error(ids[2])
        );
        let data = reply(PacketType::WorkData, &[b"H:1", b"d"]);
        assert_eq!(
            [router.route(0, &data), router.route(0, &data)],
            [Route::Data(ids[0]), Route::Data(ids[1])]
        );
        let done = reply(PacketType::WorkComplete, &[b"H:1", b"r"]);
        assert_eq!(
            [router.route(0, &done), router.route(0, &done)],
            [Route::Complete(ids[0]), Route::Complete(ids[1])]
        );
        assert_eq!(
            router.route(0, &reply(PacketType::Error, &[b"X", b"y"])),
            Route::Unrouted(PacketType::Error)
        );
        router.check().expect("consistent");
    }

    #[test]
    fn drive_accepts_arbitrary_operation_streams() {
        for seed in 0u32..2000 {
            let data: Vec<u8> = (0..64u32)
                .map(|index| {
                    (seed
                        .wrapping_mul(2_654_435_761)
                        .wrapping_add(index * 40_503)
                        >> 13) as u8
                })
                .collect();
            drive(&data);
        }
    }

    #[test]
    fn abandoned_and_lost_tasks() {
        let mut router = Router::new(2);
        let early = router.push(false);
        let running = router.push(false);
        let other = router.push(false);
        router.submitted(early, 0);
        router.submitted(running, 0);
        router.submitted(other, 1);
        assert_eq!(router.abandon(early), State::AwaitingCreated);
        assert!(router.owes_replies(0));
        assert_eq!(
            router.route(0, &reply(PacketType::JobCreated, &[b"H:1"])),
            Route::Stale
        );
        assert_eq!(
            router.route(0, &reply(PacketType::JobCreated, &[b"H:2"])),
            Route::Created {
                id: running,
                background: false
            }
        );
        assert_eq!(router.connection_lost(0), [(running, State::Running)]);
        assert_eq!(router.connection_lost(1), [(other, State::AwaitingCreated)]);
        assert_eq!(router.open(), 0);
        router.submitted(other, 0);
        assert_eq!(
            router.state(other),
            State::AwaitingCreated,
            "resubmission after a loss"
        );
        router.check().expect("consistent");
    }
}
