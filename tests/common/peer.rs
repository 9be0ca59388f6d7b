//! Other Gearman libraries as test peers: PHP's PECL gearman, Perl's `Gearman::Client` /
//! `Gearman::Worker` and Python's `gear`, each run as a child process from the small scripts in
//! `tests/peers/` (their arguments and output lines are described in `tests/peers/README.md`).
//!
//! A missing peer fails the test with the command that installs it (`scripts/test` installs all
//! three); it is never skipped. Every run is bounded: a client is killed after
//! [`CLIENT_TIMEOUT`], a worker when its [`PeerProcess`] is dropped, and every wait for a line
//! has a timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a peer client may run before it is killed (its own waits end sooner, see
/// [`Peer::client_waiting`]).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a peer client waits for its jobs by default (`PEER_WAIT_MS`).
pub const PEER_WAIT: Duration = Duration::from_secs(10);
/// The environment variable naming the Python interpreter that has `gear`.
pub const PYTHON_ENV: &str = "GEAR_PYTHON";

/// One of the peer libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// PHP's PECL gearman extension (libgearman underneath).
    Php,
    /// Perl's `Gearman::Client` and `Gearman::Worker` (pure Perl).
    Perl,
    /// Python's `gear` (pure Python).
    Python,
}

/// Which of a peer's two scripts.
#[derive(Debug, Clone, Copy)]
enum Role {
    Client,
    Worker,
}

impl Peer {
    fn extension(self) -> &'static str {
        match self {
            Peer::Php => "php",
            Peer::Perl => "pl",
            Peer::Python => "py",
        }
    }

    fn script(self, role: Role) -> PathBuf {
        let name = match role {
            Role::Client => "client",
            Role::Worker => "worker",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers")
            .join(format!("{name}.{}", self.extension()))
    }

    /// The interpreter and a one-line probe that prints the peer library's version.
    fn interpreter_and_probe(self) -> (PathBuf, [&'static str; 2]) {
        match self {
            Peer::Php => (
                PathBuf::from("php"),
                [
                    "-r",
                    "if (!extension_loaded('gearman')) exit(1); \
                     echo 'PHP ', PHP_VERSION, ', PECL gearman ', phpversion('gearman'), \
                     ', libgearman ', gearman_version();",
                ],
            ),
            Peer::Perl => (
                PathBuf::from("perl"),
                [
                    "-e",
                    "use Gearman::Client; use Gearman::Worker; \
                     print qq(Perl $^V, Gearman::Client $Gearman::Client::VERSION)",
                ],
            ),
            Peer::Python => (
                python_path(),
                [
                    "-c",
                    "import sys, gear, importlib.metadata as m; \
                     print('Python %d.%d.%d, gear' % sys.version_info[:3], m.version('gear'))",
                ],
            ),
        }
    }

    fn install_hint(self) -> String {
        match self {
            Peer::Php => "PHP with the gearman extension is needed: \
                          apt-get install -y php-cli php-gearman (scripts/test installs it)"
                .to_owned(),
            Peer::Perl => "Perl's Gearman::Client and Gearman::Worker are needed: \
                           apt-get install -y libgearman-client-perl (scripts/test installs it)"
                .to_owned(),
            Peer::Python => format!(
                "Python's gear is needed, in ${PYTHON_ENV} or {}: scripts/test --deps creates \
                 that venv (python3 -m venv {venv} && {venv}/bin/pip install gear==0.16.0)",
                default_python().display(),
                venv = default_venv().display(),
            ),
        }
    }

    /// The peer's name and version (`PECL gearman 2.1.0 ...`); panics with the command that
    /// installs the peer when it is missing. Asked once per test process.
    #[track_caller]
    pub fn version(self) -> &'static str {
        static VERSIONS: [OnceLock<Result<String, String>>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let slot = &VERSIONS[self as usize];
        let probed = slot.get_or_init(|| {
            let (interpreter, probe) = self.interpreter_and_probe();
            let output = Command::new(&interpreter)
                .args(probe)
                .stdin(Stdio::null())
                .output();
            match output {
                Ok(output) if output.status.success() => {
                    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                    eprintln!("[peer] {version} ({})", interpreter.display());
                    Ok(version)
                }
                Ok(output) => Err(format!(
                    "{} ({}: {})",
                    self.install_hint(),
                    interpreter.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(error) => Err(format!(
                    "{} ({}: {error})",
                    self.install_hint(),
                    interpreter.display()
                )),
            }
        });
        match probed {
            Ok(version) => version,
            Err(why) => panic!("{why}"),
        }
    }

    fn command(self, role: Role, port: u16, args: &[&str]) -> Command {
        self.version();
        let (interpreter, _) = self.interpreter_and_probe();
        let mut command = Command::new(interpreter);
        command
            .arg(self.script(role))
            .args(["127.0.0.1", &port.to_string()])
            .args(args);
        command
    }

    /// Runs the peer's client script with `args` (`call bin 00ff none 1` ...) against the
    /// gearmand on `port` and returns its output; killed after [`CLIENT_TIMEOUT`].
    #[track_caller]
    pub fn client(self, port: u16, args: &[&str]) -> PeerOutput {
        self.client_waiting(port, PEER_WAIT, args)
    }

    /// [`client`](Self::client), with the peer's own wait for its jobs set to `wait`
    /// (after which it prints `timeout`).
    #[track_caller]
    pub fn client_waiting(self, port: u16, wait: Duration, args: &[&str]) -> PeerOutput {
        self.spawn_client_waiting(port, wait, args)
            .finish(CLIENT_TIMEOUT)
    }

    /// Starts the peer's client script without waiting for it (see [`PeerProcess::finish`]).
    #[track_caller]
    pub fn spawn_client(self, port: u16, args: &[&str]) -> PeerProcess {
        self.spawn_client_waiting(port, PEER_WAIT, args)
    }

    /// [`spawn_client`](Self::spawn_client) with the peer's own wait set to `wait`.
    #[track_caller]
    pub fn spawn_client_waiting(self, port: u16, wait: Duration, args: &[&str]) -> PeerProcess {
        let mut command = self.command(Role::Client, port, args);
        command.env("PEER_WAIT_MS", wait.as_millis().to_string());
        PeerProcess::spawn(self, command, format!("client {}", args.join(" ")))
    }

    /// Starts the peer's worker script (functions `bin`, `events`, `fail`, `exception`,
    /// `hold`) and waits until gearmand lists all of them for it.
    #[track_caller]
    pub fn worker(self, port: u16) -> PeerProcess {
        let command = self.command(Role::Worker, port, &[]);
        let mut worker = PeerProcess::spawn(self, command, "worker".to_owned());
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let workers = super::admin(&addr, "workers");
            if WORKER_FUNCTIONS.iter().all(|name| {
                workers
                    .lines()
                    .any(|line| line.split_whitespace().any(|word| word == *name))
            }) {
                return worker;
            }
            if Instant::now() > deadline {
                worker.fail(&format!("did not register its functions: {workers:?}"));
            }
            thread::sleep(super::POLL);
        }
    }
}

/// The functions every peer worker registers.
pub const WORKER_FUNCTIONS: [&str; 5] = ["bin", "events", "fail", "exception", "hold"];

/// `${XDG_CACHE_HOME:-$HOME/.cache}/gearman-sync/venv`, where `scripts/test` installs `gear`.
fn default_venv() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("gearman-sync/venv")
}

fn default_python() -> PathBuf {
    default_venv().join("bin/python3")
}

/// `$GEAR_PYTHON`, else the venv's python3 when it exists, else `python3` on `PATH`.
pub fn python_path() -> PathBuf {
    if let Some(path) = std::env::var_os(PYTHON_ENV).filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    let venv = default_python();
    if venv.is_file() {
        return venv;
    }
    super::find_program("python3", &[]).unwrap_or_else(|| PathBuf::from("python3"))
}

/// What a finished peer process printed.
#[derive(Debug)]
pub struct PeerOutput {
    /// Its exit status (a signal when it was killed).
    pub status: ExitStatus,
    /// Killed at the timeout instead of exiting by itself.
    pub killed: bool,
    /// Its stdout, line by line.
    pub lines: Vec<String>,
    /// Its stderr.
    pub stderr: String,
    /// Which peer and script, for messages.
    pub what: String,
}

impl PeerOutput {
    /// Asserts that the process exited by itself with status 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success() && !self.killed,
            "{} did not succeed: {self:#?}",
            self.what
        );
        self
    }

    /// The lines, asserting a clean exit.
    #[track_caller]
    pub fn ok_lines(&self) -> Vec<&str> {
        self.assert_success();
        self.lines.iter().map(String::as_str).collect()
    }

    /// The lines of task `index` (`"0 complete 41"` ...) without the index, in order.
    pub fn task(&self, index: usize) -> Vec<&str> {
        let prefix = format!("{index} ");
        self.lines
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix))
            .collect()
    }
}

/// A running peer script: its stdout arrives line by line, its stdin takes lines; killed and
/// reaped on drop.
pub struct PeerProcess {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
    seen: Vec<String>,
}

impl PeerProcess {
    #[track_caller]
    fn spawn(peer: Peer, mut command: Command, role: String) -> PeerProcess {
        let what = format!("{} {role} ({})", peer.extension(), peer.version());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stdout = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr_pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });
        PeerProcess {
            what,
            stdin: child.stdin.take(),
            child,
            lines,
            stdout: Some(stdout),
            stderr: Some(stderr),
            seen: Vec::new(),
        }
    }

    /// The next stdout line; panics (with everything the process printed) when none arrives
    /// within `timeout`.
    #[track_caller]
    pub fn next_line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => self.fail(&format!("no line within {timeout:?}")),
            Err(RecvTimeoutError::Disconnected) => self.fail("closed its stdout"),
        }
    }

    /// Reads lines until one equals `expected` (within `timeout` in all); returns the lines
    /// before it.
    #[track_caller]
    pub fn wait_for_line(&mut self, expected: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line(left);
            if line == expected {
                return before;
            }
            before.push(line);
        }
    }

    /// Writes `line` and a newline to the process's stdin.
    #[track_caller]
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        if let Err(error) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            self.fail(&format!("cannot write to its stdin: {error}"));
        }
    }

    /// Whether the process has exited, without waiting.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits up to `timeout` for the process to exit by itself (killing it after that) and
    /// returns everything it printed, the lines already read included.
    pub fn finish(mut self, timeout: Duration) -> PeerOutput {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if Instant::now() >= deadline {
                killed = true;
                let _ = self.child.kill();
                break self.child.wait().expect("wait for the killed peer");
            }
            thread::sleep(super::POLL);
        };
        self.collect(status, killed)
    }

    /// Kills the process and returns everything it printed.
    pub fn kill(mut self) -> PeerOutput {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait for the killed peer");
        self.collect(status, true)
    }

    fn collect(&mut self, status: ExitStatus, killed: bool) -> PeerOutput {
        // The process is gone, so both pipes reach EOF (a grandchild holding them is not
        // expected from these scripts).
        if let Some(stdout) = self.stdout.take() {
            let _ = stdout.join();
        }
        let mut lines = std::mem::take(&mut self.seen);
        lines.extend(self.lines.try_iter());
        let stderr = self
            .stderr
            .take()
            .map(|stderr| stderr.join().unwrap_or_default())
            .unwrap_or_default();
        PeerOutput {
            status,
            killed,
            lines,
            stderr,
            what: self.what.clone(),
        }
    }

    /// Kills the process and panics with `why` and everything it printed.
    #[track_caller]
    fn fail(&mut self, why: &str) -> ! {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait for the killed peer");
        let output = self.collect(status, true);
        panic!("{}: {why}\n{output:#?}", self.what)
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lowercase hex, as the peer scripts print and read payloads.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Every byte value once, 0 to 255: the binary payload of the interop tests.
pub fn all_bytes() -> Vec<u8> {
    (0..=255).collect()
}
