//! The server list as a round-robin pool of health-checked connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::address::ServerAddr;
use super::backoff::Backoff;
use super::connection::{ConnectOptions, Connection};
use super::health::ServerHealth;
use super::link::Link;
use super::wait::Deadline;
use crate::error::{Error, Result, ServerFailure, Waiting};
use crate::protocol::PacketType;

/// How a pool picks the server for a new task (set with
/// [`ClientBuilder::routing`](crate::ClientBuilder::routing)).
///
/// ```
/// use gearman_sync::Routing;
/// assert_eq!(Routing::default(), Routing::RoundRobin);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// Each task goes to the next healthy server in turn (the default).
    #[default]
    RoundRobin,
    /// A task with a unique goes to `servers[((crc32(unique) >> 16) & 0x7fff) % n]`, the Perl
    /// client's mapping, so equal uniques meet on one server and coalesce across clients;
    /// tasks without a unique go round-robin. A dead server falls back to the next one.
    UniqueHash,
}

/// Settings of a [`ConnectionPool`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PoolOptions {
    /// Socket settings for every connection.
    pub connect: ConnectOptions,
    /// Limit on the ECHO probe that proves a new connection healthy (default 5 s).
    pub probe_timeout: Duration,
    /// Wait before a failed server is tried again.
    pub backoff: Backoff,
    /// Server choice for new tasks.
    pub routing: Routing,
    /// `SET_CLIENT_ID` sent on every (re)connect.
    pub client_id: Option<String>,
    /// `OPTION_REQ` names sent on every (re)connect, e.g. `exceptions`.
    pub server_options: Vec<String>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            connect: ConnectOptions::default(),
            probe_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
            routing: Routing::RoundRobin,
            client_id: None,
            server_options: Vec::new(),
        }
    }
}

/// Connections idle longer than this are checked for a server-side close before reuse.
const IDLE_CHECK_AFTER: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Slot {
    link: Link,
    last_used: Instant,
}

/// A round-robin pool over the configured servers.
///
/// A server is healthy once a connect and an ECHO probe succeed; a failed server is skipped
/// until its backoff passes, and tried anyway when no other server works. Connections are
/// opened lazily, on first use.
#[derive(Debug)]
pub(crate) struct ConnectionPool {
    slots: Vec<Slot>,
    /// The round-robin position (shared by the pools of a [`SharedPoolState`]).
    cursor: Arc<AtomicUsize>,
    options: PoolOptions,
}

/// What the pools of several clients over the same servers share: each server's health and
/// backoff, and the round-robin position, so threads with separate connections still take
/// turns and skip the same dead server.
#[derive(Debug, Clone)]
pub(crate) struct SharedPoolState {
    health: Vec<Arc<ServerHealth>>,
    cursor: Arc<AtomicUsize>,
}

impl SharedPoolState {
    /// Shared state for `servers` servers.
    pub(crate) fn new(servers: usize) -> SharedPoolState {
        SharedPoolState {
            health: (0..servers).map(|_| ServerHealth::shared()).collect(),
            cursor: Arc::default(),
        }
    }
}

impl ConnectionPool {
    /// A pool over `servers`; nothing is connected yet.
    pub(crate) fn new(servers: Vec<ServerAddr>, options: PoolOptions) -> ConnectionPool {
        let shared = SharedPoolState {
            health: servers.iter().map(|_| ServerHealth::private()).collect(),
            cursor: Arc::default(),
        };
        ConnectionPool::with_shared(servers, options, &shared)
    }

    /// A pool over `servers` whose health and round-robin position are `shared` with other
    /// pools (one per server in `shared`, in the same order).
    pub(crate) fn with_shared(
        servers: Vec<ServerAddr>,
        options: PoolOptions,
        shared: &SharedPoolState,
    ) -> ConnectionPool {
        let now = Instant::now();
        ConnectionPool {
            slots: servers
                .into_iter()
                .zip(&shared.health)
                .map(|(addr, health)| Slot {
                    link: Link::with_health(addr, Arc::clone(health)),
                    last_used: now,
                })
                .collect(),
            cursor: Arc::clone(&shared.cursor),
            options,
        }
    }

    /// The pool's settings.
    pub(crate) fn options(&self) -> &PoolOptions {
        &self.options
    }

    /// The pool's settings, for changes that apply to later connects (open connections keep
    /// theirs).
    pub(crate) fn options_mut(&mut self) -> &mut PoolOptions {
        &mut self.options
    }

    /// Number of servers.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The address of server `index`.
    ///
    /// # Panics
    /// When `index >= len()`.
    pub(crate) fn server(&self, index: usize) -> &ServerAddr {
        self.slots[index].link.addr()
    }

    /// The index of a server, if it is in the pool.
    pub(crate) fn index_of(&self, addr: &ServerAddr) -> Option<usize> {
        self.slots.iter().position(|slot| slot.link.addr() == addr)
    }

    /// The open connection to server `index`, if any; never connects (see
    /// [`ensure_connected`](ConnectionPool::ensure_connected)).
    pub(crate) fn connection(&mut self, index: usize) -> Option<&mut Connection> {
        let slot = self.slots.get_mut(index)?;
        slot.last_used = Instant::now();
        slot.link.conn_mut()
    }

    /// Which connection to server `index` is open: a number that changes whenever the pool
    /// opens a new one (`None` while none is open). Replies owed on an earlier connection never
    /// arrive on a later one.
    pub(crate) fn generation(&self, index: usize) -> Option<u64> {
        let link = &self.slots.get(index)?.link;
        link.is_open().then(|| link.generation())
    }

    /// The open connections of the servers in `indices` (ascending), for one wait on all.
    pub(crate) fn connections(&mut self, indices: &[usize]) -> Vec<&mut Connection> {
        let now = Instant::now();
        let mut wanted = indices.iter().copied().peekable();
        let mut conns = Vec::with_capacity(indices.len());
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if wanted.peek() != Some(&index) {
                continue;
            }
            wanted.next();
            if let Some(conn) = slot.link.conn_mut() {
                slot.last_used = now;
                conns.push(conn);
            }
        }
        conns
    }

    /// Closes server `index`'s connection without counting it as a failure (it is reopened
    /// on next use). Does nothing when it is not connected.
    pub(crate) fn discard(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index).filter(|slot| slot.link.is_open()) {
            log::debug!(
                "closing connection to {} (stale replies pending)",
                slot.link.addr()
            );
            slot.link.close();
        }
    }

    /// Indices of the servers with an open connection.
    pub(crate) fn connected(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.link.is_open())
            .map(|(index, _)| index)
    }

    /// Picks a healthy server for a task (see [`Routing`]) and returns its index with an open,
    /// probed connection; [`Error::NoJobServers`] when none works.
    ///
    /// Servers in backoff are skipped unless no other server works. For the pooled clients
    /// of a [`SharedClient`](crate::SharedClient), a server another pooled client is
    /// connecting to is skipped too, and when no other server works, this one waits for that
    /// connect to end instead of starting its own. May block to connect and probe servers
    /// (connect timeout and probe timeout per server tried).
    pub(crate) fn checkout(&mut self, unique: Option<&[u8]>) -> Result<usize> {
        let count = self.slots.len();
        if count == 0 {
            return Err(Error::NoJobServers(Vec::new()));
        }
        let start = match (self.options.routing, unique) {
            (Routing::UniqueHash, Some(key)) if !key.is_empty() => perl_hash(key) as usize % count,
            _ => self.cursor.fetch_add(1, Ordering::Relaxed) % count,
        };
        let now = Instant::now();
        // Tried last, in this order: servers another pooled client is connecting to now (once
        // that connect ended), then servers in backoff.
        let (mut busy, mut backing_off) = (Vec::new(), Vec::new());
        for offset in 0..count {
            let index = (start + offset) % count;
            let link = &self.slots[index].link;
            if !link.is_open() && !link.reconnect_due(now) {
                backing_off.push(index);
                continue;
            }
            if !link.is_open() && !link.claim_attempt(now, Self::attempt_until(&self.options, now))
            {
                busy.push(index);
                continue;
            }
            if self.ensure_connected(index).is_ok() {
                return Ok(index);
            }
        }
        // Servers another pooled client is connecting to: wait for those attempts to end,
        // looking every 2 ms, rather than start one beside them (a hung server would stall
        // this thread too). Bounded: a claim expires when its connect must have ended.
        while !busy.is_empty() {
            let now = Instant::now();
            let until = Self::attempt_until(&self.options, now);
            let mut waiting = Vec::new();
            for index in busy.drain(..) {
                let link = &self.slots[index].link;
                if !link.reconnect_due(now) {
                    backing_off.push(index); // that attempt failed
                } else if !link.claim_attempt(now, until) {
                    waiting.push(index);
                } else if self.ensure_connected(index).is_ok() {
                    return Ok(index);
                }
            }
            busy = waiting;
            if !busy.is_empty() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        for index in backing_off {
            if self.ensure_connected(index).is_ok() {
                return Ok(index);
            }
        }
        Err(Error::NoJobServers(self.failures()))
    }

    /// Returns the connection to server `index`, connecting and probing it when needed (even
    /// while its backoff runs). A failure is recorded and returned.
    ///
    /// A connection idle for more than 500 ms is first checked for a server-side close. A new
    /// connection sends `SET_CLIENT_ID` and the `OPTION_REQ`s from [`PoolOptions`], then waits
    /// up to the probe timeout for the ECHO reply.
    pub(crate) fn ensure_connected(&mut self, index: usize) -> Result<&mut Connection> {
        let slot = &mut self.slots[index];
        if slot.last_used.elapsed() >= IDLE_CHECK_AFTER {
            if let Some(Err(error)) = slot.link.conn_mut().map(Connection::check_alive) {
                slot.link.fail(&error, &self.options.backoff);
            }
        }
        if !slot.link.is_open() {
            // Other pooled clients sharing the health try other servers first meanwhile.
            let now = Instant::now();
            slot.link.attempt(Self::attempt_until(&self.options, now));
            match open_session(slot.link.addr(), &self.options) {
                Ok(conn) => {
                    // The probe answered: the server is healthy.
                    slot.link.attach(conn);
                    slot.link.mark_healthy();
                }
                Err(error) => {
                    slot.link.fail(&error, &self.options.backoff);
                    return Err(error);
                }
            }
        }
        slot.last_used = Instant::now();
        let server = slot.link.addr().to_string();
        slot.link
            .conn_mut()
            .ok_or(Error::ConnectionClosed { server })
    }

    /// When a connect starting `now` has surely ended: two connect timeouts (TCP, then a TLS
    /// handshake) and the probe.
    fn attempt_until(options: &PoolOptions, now: Instant) -> Instant {
        let limit = (options.connect.connect_timeout.saturating_mul(2))
            .saturating_add(options.probe_timeout);
        now.checked_add(limit)
            .unwrap_or_else(|| now + Duration::from_secs(86_400))
    }

    /// Drops server `index`'s connection after `error` and starts its backoff. The error is
    /// kept for [`failures`](ConnectionPool::failures); an unknown index is ignored.
    pub(crate) fn mark_failed(&mut self, index: usize, error: &Error) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.link.fail(error, &self.options.backoff);
        }
    }

    /// Every server with the last error seen on it (`"not tried"` when none), as reported by
    /// [`Error::NoJobServers`].
    pub(crate) fn failures(&self) -> Vec<ServerFailure> {
        self.slots.iter().map(|slot| slot.link.failure()).collect()
    }
}

/// Opens a connection and proves it healthy: SET_CLIENT_ID and OPTION_REQs if configured, then
/// an ECHO probe, all in one write, with every reply awaited under the probe timeout.
///
/// Over TLS, a connection that the server closes before it answered the probe is opened once
/// more: gearmand 2.0.0 drops about one fresh TLS connection in 50 when connections are closed
/// and opened back to back (its OpenSSL error queue is never cleared, so one connection's
/// close fails another's first read), and the probe is safe to repeat.
pub(crate) fn open_session(addr: &ServerAddr, options: &PoolOptions) -> Result<Connection> {
    match open_session_once(addr, options) {
        Err(Error::ConnectionClosed { .. }) if options.connect.uses_tls() => {
            log::debug!("{addr} closed a new TLS connection before the probe's answer; once more");
            open_session_once(addr, options)
        }
        other => other,
    }
}

fn open_session_once(addr: &ServerAddr, options: &PoolOptions) -> Result<Connection> {
    let mut conn = Connection::connect(addr, &options.connect)?;
    if let Some(id) = &options.client_id {
        conn.queue_packet(&crate::protocol::Packet::set_client_id(id.as_bytes())?);
    }
    for name in &options.server_options {
        conn.queue_packet(&crate::protocol::Packet::option_req(name.as_bytes())?);
    }
    const PROBE: &[u8] = b"gearman-sync probe";
    conn.queue_request(PacketType::EchoReq, &[PROBE])?;
    conn.flush()?;
    let deadline = Deadline::after(options.probe_timeout, Waiting::Probe);
    let mut options_left = options.server_options.len();
    loop {
        let packet = conn.recv(&deadline)?;
        match packet.kind() {
            PacketType::OptionRes if options_left > 0 => options_left -= 1,
            PacketType::EchoRes if packet.arg(0) == PROBE && options_left == 0 => return Ok(conn),
            PacketType::Error => return Err(Error::from_error_packet(addr, &packet)),
            other => {
                return Err(Error::Protocol {
                    server: addr.to_string(),
                    source: crate::ProtocolError::UnexpectedPacket {
                        kind: other,
                        context: "probing a new connection",
                    },
                })
            }
        }
    }
}

const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut value = index as u32;
        let mut bit = 0;
        while bit < 8 {
            value = if value & 1 == 1 {
                0xEDB8_8320 ^ (value >> 1)
            } else {
                value >> 1
            };
            bit += 1;
        }
        table[index] = value;
        index += 1;
    }
    table
};

/// CRC-32 (IEEE 802.3), as Perl's `String::CRC32`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc = CRC32_TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The Perl client's server hash: `(crc32(key) >> 16) & 0x7fff`, used by
/// [`Routing::UniqueHash`] as `perl_hash(unique) % servers`.
///
/// ```
/// use gearman_sync::perl_hash;
/// assert_eq!(perl_hash(b"123456789"), 0x4bf4); // CRC-32 0xcbf43926
/// ```
pub fn perl_hash(key: &[u8]) -> u32 {
    (crc32(key) >> 16) & 0x7fff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(perl_hash(b"123456789"), 0xCBF4 & 0x7fff);
    }

    #[test]
    fn empty_pool_reports_no_servers() {
        let mut pool = ConnectionPool::new(Vec::new(), PoolOptions::default());
        assert!(matches!(pool.checkout(None), Err(Error::NoJobServers(list)) if list.is_empty()));
    }
}
