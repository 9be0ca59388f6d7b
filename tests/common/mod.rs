//! Test harness: a private gearmand per test, plus small helpers for the admin protocol,
//! the `gearman` CLI and bounded waiting.
//!
//! ```ignore
//! mod common;
//! use common::Gearmand;
//!
//! let gearmand = Gearmand::start();
//! let reply = common::admin(&gearmand.addr(), "version");
//! assert_eq!(common::assert_version_reply(&reply), common::gearmand_version());
//! ```
//!
//! Every gearmand listens on 127.0.0.1 on a port of its own, keeps its log, pid file and any
//! data (for example a sqlite queue, see [`GearmandBuilder::sqlite_queue`]) in a temporary
//! directory of its own, and is stopped when its [`Gearmand`] is dropped, also when the test
//! panics. Every wait is bounded, so a bug fails the test instead of hanging it.
//!
//! The tests run against any of the tested gearmand versions (1.1.20, 1.1.22, 2.0.0; see
//! [`Generation`]): nothing here assumes one. [`gearmand_version`] is the version of the binary
//! the harness starts, [`server_version`] the one a running server reports.
//!
//! Only std is used, so the harness adds no dependencies; [`raw`] (a plain connection speaking
//! the binary protocol through the crate's codec) is the one exception.

// Each integration test binary uses a different subset of the harness.
#![allow(dead_code)]

pub mod peer;
pub mod raw;
#[cfg(feature = "tls")]
pub mod tls;

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long gearmand may take to accept connections after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long gearmand gets to exit after SIGTERM before it is sent SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
/// Read/write timeout of the sockets the harness opens (admin commands, [`connect`]).
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Interval of every polling loop.
pub const POLL: Duration = Duration::from_millis(10);
/// Attempts with a fresh port when another process took the one chosen.
const PORT_ATTEMPTS: usize = 5;
/// The placeholder in gearmand arguments that stands for the instance's own directory.
pub const DIR_PLACEHOLDER: &str = "{dir}";
/// Options the harness sets itself; passing them again would make gearmand refuse to start.
const RESERVED_OPTIONS: &[&str] = &[
    "-L",
    "--listen",
    "-p",
    "--port",
    "-l",
    "--log-file",
    "-P",
    "--pid-file",
    "--verbose",
    "--config-file",
    "-d",
    "--daemon",
];

/// The gearmand binary: `$GEARMAND`, then `gearmand` on `PATH`, then `/usr/sbin/gearmand`.
///
/// Panics when none exists: the integration tests need a real gearmand and are never skipped.
#[track_caller]
pub fn gearmand_path() -> PathBuf {
    if let Some(path) = std::env::var_os("GEARMAND").filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "GEARMAND is set to {}, which is not a file; unset it to use the gearmand of \
             `apt-get install -y gearman-job-server`",
            path.display()
        );
        return path;
    }
    find_program("gearmand", &["/usr/sbin/gearmand"]).unwrap_or_else(|| {
        panic!(
            "gearmand not found (looked at $GEARMAND, PATH and /usr/sbin/gearmand); \
             the integration tests need it: install it with \
             `apt-get install -y gearman-job-server` (or run scripts/test, which does)"
        )
    })
}

/// The `gearman` command-line tool (`$GEARMAN`, then `PATH`, then `/usr/bin/gearman`).
///
/// Panics when it is missing.
#[track_caller]
pub fn gearman_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("GEARMAN").filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    find_program("gearman", &["/usr/bin/gearman"]).unwrap_or_else(|| {
        panic!(
            "the `gearman` command-line tool was not found (looked at $GEARMAN, PATH and \
             /usr/bin/gearman); install it with `apt-get install -y gearman-tools` \
             (or run scripts/test, which does)"
        )
    })
}

/// `name` on `PATH`, else the first of `fallbacks` that exists.
fn find_program(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    on_path
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|path| path.is_file())
}

/// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A fresh directory under the system temp dir; the caller removes it.
fn unique_temp_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "gearman-sync-test.{}.{}.{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => panic!("cannot create {}: {error}", dir.display()),
        }
    }
}

/// How the harness checks that a started gearmand is up and is ours, given its address and
/// the pid it should report: the admin `getpid` in plain text by default; a TLS gearmand needs
/// one that speaks TLS ([`GearmandBuilder::probe`]).
pub type Probe = Arc<dyn Fn(&str, u32) -> Result<(), String> + Send + Sync>;

/// Options for a private gearmand; see [`Gearmand::builder`].
#[derive(Clone)]
pub struct GearmandBuilder {
    args: Vec<String>,
    verbose: String,
    binary: Option<PathBuf>,
    probe: Option<Probe>,
}

impl std::fmt::Debug for GearmandBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GearmandBuilder")
            .field("args", &self.args)
            .field("verbose", &self.verbose)
            .field("binary", &self.binary)
            .finish_non_exhaustive()
    }
}

impl GearmandBuilder {
    /// Adds one gearmand argument. `{dir}` in it is replaced by the instance's directory.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Adds gearmand arguments, e.g. `&["--job-retries", "2"]` or `&["-t", "0"]`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|arg| (*arg).to_owned()));
        self
    }

    /// Log level (`--verbose`); INFO by default. DEBUG also logs every packet.
    pub fn verbose(mut self, level: &str) -> Self {
        self.verbose = level.to_owned();
        self
    }

    /// Runs this gearmand binary instead of [`gearmand_path`] (for example an upstream build
    /// from scripts/gearmand-build next to Debian's).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Checks the started gearmand through `probe` (given `127.0.0.1:PORT` and the pid it must
    /// report) instead of a plain-text admin `getpid`: for a gearmand that speaks TLS only.
    pub fn probe(mut self, probe: Probe) -> Self {
        self.probe = Some(probe);
        self
    }

    /// A persistent sqlite queue in the instance's directory (see [`Gearmand::sqlite_db`]);
    /// it survives [`Gearmand::restart`].
    pub fn sqlite_queue(self) -> Self {
        self.args(&["-q", "libsqlite3", "--libsqlite3-db", "{dir}/queue.sqlite"])
    }

    /// Starts gearmand and waits until it answers; panics (with its log) when it cannot.
    #[track_caller]
    pub fn start(self) -> Gearmand {
        for arg in &self.args {
            assert!(
                !RESERVED_OPTIONS.contains(&arg.as_str()),
                "the harness sets {arg} itself; use the builder instead"
            );
        }
        let binary = self.binary.unwrap_or_else(gearmand_path);
        let dir = unique_temp_dir();
        fs::write(dir.join("gearmand.conf"), "").expect("write the empty gearmand.conf");
        let mut gearmand = Gearmand {
            binary,
            probe: self.probe,
            args: self.args,
            verbose: self.verbose,
            dir,
            port: 0,
            pid: 0,
            child: None,
            log_reported: false,
        };
        let mut last_problem = String::new();
        for attempt in 1..=PORT_ATTEMPTS {
            gearmand.port = free_port();
            match gearmand.spawn_and_wait() {
                Ok(()) => return gearmand,
                Err(Startup::PortTaken(why)) => {
                    log_line(&format!(
                        "gearmand attempt {attempt}: port {} unusable ({why}); trying another",
                        gearmand.port
                    ));
                    last_problem = why;
                }
                Err(Startup::Failed(why)) => gearmand.fail(&why),
            }
        }
        gearmand.fail(&format!(
            "no usable port after {PORT_ATTEMPTS} attempts; last: {last_problem}"
        ))
    }
}

/// Why one start attempt did not give a ready gearmand.
enum Startup {
    /// Another process holds the port: try another one.
    PortTaken(String),
    /// Anything else: give up.
    Failed(String),
}

/// A private gearmand on 127.0.0.1, stopped (and its directory removed) on drop.
pub struct Gearmand {
    binary: PathBuf,
    probe: Option<Probe>,
    args: Vec<String>,
    verbose: String,
    dir: PathBuf,
    port: u16,
    pid: u32,
    child: Option<Child>,
    /// Set once a panic message already carries the log, so drop does not print it again.
    log_reported: bool,
}

impl std::fmt::Debug for Gearmand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gearmand")
            .field("binary", &self.binary)
            .field("args", &self.args)
            .field("port", &self.port)
            .field("pid", &self.pid)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Gearmand {
    /// A gearmand with default options (in-memory queue).
    #[track_caller]
    pub fn start() -> Gearmand {
        Gearmand::builder().start()
    }

    /// A gearmand with extra arguments, e.g. `&["--job-retries", "2"]`; `{dir}` in an argument
    /// is replaced by the instance's directory.
    #[track_caller]
    pub fn start_with(args: &[&str]) -> Gearmand {
        Gearmand::builder().args(args).start()
    }

    /// Options for a gearmand; finish with [`GearmandBuilder::start`].
    pub fn builder() -> GearmandBuilder {
        GearmandBuilder {
            args: Vec::new(),
            verbose: "INFO".to_owned(),
            binary: None,
            probe: None,
        }
    }

    /// `"127.0.0.1:PORT"`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The listening port (the same across [`Gearmand::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the current (or, once stopped, the last) gearmand process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The instance's own directory (log, pid file, data); removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the sqlite queue used with [`GearmandBuilder::sqlite_queue`].
    pub fn sqlite_db(&self) -> PathBuf {
        self.dir.join("queue.sqlite")
    }

    /// The gearmand log so far (all runs of this instance).
    pub fn log_contents(&self) -> String {
        fs::read_to_string(self.dir.join("gearmand.log")).unwrap_or_default()
    }

    /// What gearmand wrote to stdout/stderr (option errors end up here, not in the log).
    pub fn output_contents(&self) -> String {
        fs::read_to_string(self.dir.join("output.log")).unwrap_or_default()
    }

    /// True while the gearmand process is alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops gearmand: SIGTERM, then SIGKILL after [`STOP_GRACE`]; returns once the process
    /// is gone. Does nothing when it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        send_sigterm(child.id());
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(POLL);
        }
        log_line(&format!(
            "gearmand {} ignored SIGTERM for {STOP_GRACE:?}; sending SIGKILL",
            child.id()
        ));
        kill_and_reap(&mut child);
    }

    /// Stops gearmand and starts it again on the same port, with the same arguments and the
    /// same directory (so a persistent queue is replayed). Panics when the port does not become
    /// free or gearmand does not come back.
    #[track_caller]
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        let freed = poll_until(START_TIMEOUT, || {
            TcpListener::bind(("127.0.0.1", port)).is_ok()
        });
        if !freed {
            self.fail(&format!(
                "port {port} still in use {START_TIMEOUT:?} after gearmand stopped"
            ));
        }
        match self.spawn_and_wait() {
            Ok(()) => {}
            Err(Startup::PortTaken(why) | Startup::Failed(why)) => {
                self.fail(&format!("restart on port {port} failed: {why}"))
            }
        }
    }

    /// Spawns gearmand on `self.port` and waits until it answers `getpid` (or the builder's
    /// [`Probe`]) with its own pid.
    fn spawn_and_wait(&mut self) -> Result<(), Startup> {
        let output = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("output.log"))
            .expect("open output.log");
        let stderr = output.try_clone().expect("clone output.log handle");
        let dir = self.dir.to_str().expect("temp dir path is UTF-8");
        let mut command = Command::new(&self.binary);
        command
            .args(["-L", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-l")
            .arg(self.dir.join("gearmand.log"))
            .arg("-P")
            .arg(self.dir.join("gearmand.pid"))
            .arg("--config-file")
            .arg(self.dir.join("gearmand.conf"))
            .args(["--verbose", &self.verbose])
            .args(
                self.args
                    .iter()
                    .map(|arg| arg.replace(DIR_PLACEHOLDER, dir)),
            )
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(stderr);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", self.binary.display()));
        self.pid = child.id();
        self.child = Some(child);
        let result = self.wait_ready();
        if result.is_err() {
            if let Some(mut child) = self.child.take() {
                // Not serving anyone yet; gearmand ignores SIGTERM while it retries bind().
                kill_and_reap(&mut child);
            }
        }
        result
    }

    fn wait_ready(&mut self) -> Result<(), Startup> {
        let addr: SocketAddr = self.addr().parse().expect("valid address");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("child just spawned");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(self.exited_early(status));
            }
            if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                // Something listens; make sure it is our gearmand and not a stranger.
                let answer = match &self.probe {
                    None => admin_on(stream, "getpid").map_err(|error| error.to_string()),
                    Some(probe) => {
                        drop(stream);
                        probe(&self.addr(), self.pid).map(|()| format!("OK {}\n", self.pid))
                    }
                };
                return match answer {
                    Ok(reply) if reply.trim_end() == format!("OK {}", self.pid) => Ok(()),
                    Ok(reply) => Err(Startup::PortTaken(format!(
                        "another process answers on it: getpid -> {:?}",
                        reply.trim_end()
                    ))),
                    Err(error) => Err(Startup::PortTaken(format!(
                        "something else listens on it: getpid failed: {error}"
                    ))),
                };
            }
            if Instant::now() >= deadline {
                return Err(if self.log_contents().contains("Listening on") {
                    Startup::Failed(format!("not accepting after {START_TIMEOUT:?}"))
                } else {
                    // gearmand retries bind() for ~20 s when the port is in use.
                    Startup::PortTaken(format!("could not listen within {START_TIMEOUT:?}"))
                });
            }
            thread::sleep(POLL);
        }
    }

    fn exited_early(&self, status: ExitStatus) -> Startup {
        let log = self.log_contents() + &self.output_contents();
        let why = format!("gearmand exited during startup with {status}");
        if log.contains("bind") || log.contains("Address already in use") {
            Startup::PortTaken(why)
        } else {
            Startup::Failed(why)
        }
    }

    /// Panics with the log and output of this instance.
    #[track_caller]
    fn fail(&mut self, why: &str) -> ! {
        self.stop();
        self.log_reported = true;
        panic!(
            "gearmand ({} {:?}, port {}, dir {}): {why}\n--- gearmand log ---\n{}\n--- gearmand \
             stdout/stderr ---\n{}",
            self.binary.display(),
            self.args,
            self.port,
            self.dir.display(),
            self.log_contents(),
            self.output_contents()
        )
    }
}

impl Drop for Gearmand {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() && !self.log_reported {
            // Shown with the failing test's output.
            let log = self.log_contents();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "--- last lines of the log of gearmand on port {} ---",
                self.port
            );
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Sends SIGTERM without libc (see [`try_signal`]).
fn send_sigterm(pid: u32) {
    let _ = try_signal(pid, "TERM");
}

/// Sends `signal` (`"TERM"`, `"KILL"`, `"STOP"`, `"CONT"` ...) to `pid` without libc: the
/// `kill` program, else the `kill` builtin of `/bin/sh` (for systems without procps). True
/// when it was delivered.
pub fn try_signal(pid: u32, signal: &str) -> bool {
    let pid = pid.to_string();
    let flag = format!("-{signal}");
    let quiet = |command: &mut Command| {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    let status = quiet(Command::new("kill").args([&flag, &pid])).or_else(|_| {
        quiet(Command::new("/bin/sh").args(["-c", "kill \"$1\" \"$2\"", "sh", &flag, &pid]))
    });
    status.is_ok_and(|status| status.success())
}

/// SIGKILL and wait for the process to be gone.
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn log_line(message: &str) {
    eprintln!("[harness] {message}");
}

fn poll_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// Polls `condition` every 10 ms; panics (naming the caller's line) when it is still false
/// after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, condition: impl FnMut() -> bool) {
    assert!(
        poll_until(timeout, condition),
        "condition still false after {timeout:?}"
    );
}

/// A TCP connection to `addr` with [`IO_TIMEOUT`] read/write timeouts and TCP_NODELAY.
#[track_caller]
pub fn connect(addr: &str) -> TcpStream {
    let socket_addr: SocketAddr = addr
        .parse()
        .unwrap_or_else(|error| panic!("bad address {addr:?}: {error}"));
    let stream = TcpStream::connect_timeout(&socket_addr, IO_TIMEOUT)
        .unwrap_or_else(|error| panic!("cannot connect to {addr}: {error}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Sends one admin text command (`\r\n` is appended) on a new connection and returns the whole
/// reply as text. Panics on connection errors or when no complete reply arrives in time.
///
/// List commands (`status`, `prioritystatus`, `workers`, `show jobs`, `show unique jobs`) are
/// read up to the final `.` line; every other command, and an `ERR` answer, up to the first
/// `\n`. Line endings are kept.
#[track_caller]
pub fn admin(addr: &str, command: &str) -> String {
    try_admin(addr, command)
        .unwrap_or_else(|error| panic!("admin command {command:?} to {addr} failed: {error}"))
}

/// [`admin`] returning the error instead of panicking.
pub fn try_admin(addr: &str, command: &str) -> io::Result<String> {
    let socket_addr: SocketAddr = addr
        .parse()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
    admin_on(
        TcpStream::connect_timeout(&socket_addr, IO_TIMEOUT)?,
        command,
    )
}

/// True when `command` gets a `.`-terminated list as its reply.
pub fn is_list_command(command: &str) -> bool {
    let words: Vec<String> = command
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        ["status"]
            | ["prioritystatus"]
            | ["workers"]
            | ["show", "jobs"]
            | ["show", "unique", "jobs"]
    )
}

fn admin_on(stream: TcpStream, command: &str) -> io::Result<String> {
    let deadline = Instant::now() + 2 * IO_TIMEOUT;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    (&stream).write_all(format!("{command}\r\n").as_bytes())?;
    let list = is_list_command(command);
    let mut reader = BufReader::new(stream);
    let mut reply = Vec::new();
    let mut first = true;
    loop {
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "incomplete reply after {:?}: {:?}",
                    2 * IO_TIMEOUT,
                    lossy(&reply)
                ),
            ));
        }
        let start = reply.len();
        if reader.read_until(b'\n', &mut reply)? == 0 || !reply.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed mid-reply: {:?}", lossy(&reply)),
            ));
        }
        let line = &reply[start..];
        let ends_list = line == b".\n" || line == b".\r\n";
        if !list || ends_list || (first && line.starts_with(b"ERR ")) {
            return Ok(lossy(&reply));
        }
        first = false;
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses a `status` reply into `(function, total, running, available_workers)` rows.
pub fn parse_status(reply: &str) -> Vec<(String, u64, u64, u64)> {
    reply
        .lines()
        .take_while(|line| *line != ".")
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "bad status line {line:?}");
            let number = |index: usize| {
                fields[index]
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("bad number in status line {line:?}"))
            };
            (fields[0].to_owned(), number(1), number(2), number(3))
        })
        .collect()
}

/// Jobs queued (not running) for `function` on the server at `addr`, from admin `status`.
pub fn queued(addr: &str, function: &str) -> u64 {
    parse_status(&admin(addr, "status"))
        .into_iter()
        .find(|(name, ..)| name == function)
        .map_or(0, |(_, total, running, _)| total - running)
}

/// A gearmand or libgearman version: `(major, minor, patch)`.
pub type Version = (u32, u32, u32);

/// Parses `<digits>.<digits>.<digits>` at the start of `text`, followed by nothing or by a
/// suffix that starts with `+`, `~` or `-` (Debian's `1.1.20+ds`).
pub fn parse_version(text: &str) -> Option<Version> {
    let end = text.find(['+', '~', '-']).unwrap_or(text.len());
    let (numbers, suffix) = text.split_at(end);
    if suffix.chars().any(char::is_whitespace) {
        return None;
    }
    let mut parts = numbers.split('.').map(|part| {
        (!part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    });
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// Asserts that an admin `version` reply has the shape `OK <major>.<minor>.<patch>[suffix]\n`
/// (no `\r`) and returns the version.
#[track_caller]
pub fn assert_version_reply(reply: &str) -> Version {
    let version = reply
        .strip_prefix("OK ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .and_then(parse_version);
    version.unwrap_or_else(|| {
        panic!("version reply {reply:?} is not `OK <major>.<minor>.<patch>[suffix]\\n`")
    })
}

/// Version of the gearmand binary the harness starts ([`gearmand_path`] `--version`, whose
/// first non-empty line is `gearmand 1.1.20+ds - https://...`); asked once per test process.
#[track_caller]
pub fn gearmand_version() -> Version {
    static VERSION: OnceLock<Version> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let binary = gearmand_path();
        let output = Command::new(&binary)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {} --version: {error}", binary.display()));
        let text = lossy(&output.stdout);
        text.lines()
            .find_map(|line| line.trim().strip_prefix("gearmand "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(parse_version)
            .unwrap_or_else(|| {
                panic!(
                    "{} --version printed no `gearmand <major>.<minor>.<patch>` line: {text:?} \
                     (stderr {:?})",
                    binary.display(),
                    lossy(&output.stderr)
                )
            })
    })
}

/// The version a running server reports through the admin `version` command.
#[track_caller]
pub fn server_version(addr: &str) -> Version {
    assert_version_reply(&admin(addr, "version"))
}

/// The gearmand behaviours the tests know, by version. Tests whose outcome depends on the
/// server (or on the libgearman of the `gearman` CLI) match on this and assert each
/// generation's behaviour; see `tests/server_versions.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// 1.1.20 (Debian 12) and 1.1.22: no wake-up for epoch jobs, functions in registration
    /// order (most recent first) unless `--round-robin`, priorities within a function only.
    V1_1,
    /// 2.0.0: wakes sleepers when an epoch job comes due, round-robins functions, orders
    /// priorities across functions.
    V2_0,
}

impl Generation {
    /// The generation of a tested version; panics for any other version, so that a new one
    /// gets its behaviour checked instead of silently passing as an old one.
    #[track_caller]
    pub fn of(version: Version) -> Generation {
        match version {
            (1, 1, 20) | (1, 1, 22) => Generation::V1_1,
            (2, 0, 0) => Generation::V2_0,
            (major, minor, patch) => panic!(
                "gearmand/libgearman {major}.{minor}.{patch} is not one of the tested versions \
                 (1.1.20, 1.1.22, 2.0.0): check its behaviour on the wire and add it to \
                 tests/common Generation::of and tests/server_versions.rs"
            ),
        }
    }

    /// The generation of the server at `addr`; also checks that it is the binary the harness
    /// was told to start ([`gearmand_version`]).
    #[track_caller]
    pub fn of_server(addr: &str) -> Generation {
        let reported = server_version(addr);
        assert_eq!(
            reported,
            gearmand_version(),
            "the server at {addr} reports another version than {} --version",
            gearmand_path().display()
        );
        Generation::of(reported)
    }
}

/// Version of the libgearman that the `gearman` CLI ([`gearman_cli`]) uses: the version string
/// stored in the library `ldd` shows it loading (or in the binary itself when it is linked
/// statically), for example `1.1.20+ds` in Debian's `libgearman.so.8`.
#[track_caller]
pub fn libgearman_cli_version() -> Version {
    static VERSION: OnceLock<Version> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let cli = gearman_cli();
        let ldd = Command::new("ldd")
            .arg(&cli)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run ldd {}: {error}", cli.display()));
        let listing = lossy(&ldd.stdout);
        let library = listing
            .lines()
            .filter(|line| line.contains("libgearman.so"))
            .find_map(|line| line.split("=>").nth(1))
            .and_then(|target| target.split_whitespace().next())
            .map(PathBuf::from)
            .unwrap_or_else(|| cli.clone());
        let bytes = fs::read(&library)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", library.display()));
        bytes
            .split(|&byte| byte == 0)
            .filter(|string| (5..=32).contains(&string.len()))
            .filter_map(|string| std::str::from_utf8(string).ok())
            .find_map(parse_version)
            .unwrap_or_else(|| {
                panic!(
                    "no version string in {} (the libgearman of {}; ldd: {listing:?})",
                    library.display(),
                    cli.display()
                )
            })
    })
}
