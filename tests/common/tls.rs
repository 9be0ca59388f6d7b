//! TLS test set-up (feature `tls`): throw-away certificates made with the `openssl` command,
//! a TLS gearmand (upstream 2.0.0 from scripts/gearmand-build, started with `--ssl`), and
//! stunnel requiring client certificates in front of a plain gearmand.
//!
//! Nothing here is committed key material: every key is generated into a temporary directory
//! by the test that uses it and removed with it.

use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use gearman_sync::{Admin, TlsConfig};

use super::{free_port, unique_temp_dir, Gearmand, POLL, START_TIMEOUT};

/// The gearmand with TLS the tests run against (built by scripts/gearmand-build).
pub const TLS_GEARMAND_VERSION: &str = "2.0.0";

/// Certificates for one test, in a temporary directory removed on drop:
///
/// * `ca`: the CA that signs the server and client certificates;
/// * `other_ca`: an unrelated CA (the "wrong CA", and the issuer of `stranger`);
/// * `server`: `CN=localhost` with SANs `DNS:localhost` and `IP:127.0.0.1`;
/// * `expired_server`: the same names, valid only on 1-2 January 2020;
/// * `client`: a client certificate signed by `ca`;
/// * `stranger`: a client certificate signed by `other_ca`.
#[derive(Debug)]
pub struct Certs {
    dir: PathBuf,
}

impl Certs {
    /// Generates every certificate with `openssl` (EC P-256 keys, fast); panics with
    /// openssl's output when it fails.
    #[track_caller]
    pub fn generate() -> Certs {
        let certs = Certs {
            dir: unique_temp_dir(),
        };
        certs.self_signed("ca", "gearman-sync test CA");
        certs.self_signed("other-ca", "gearman-sync unrelated CA");
        let server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                          keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n";
        let client_ext = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
                          extendedKeyUsage=clientAuth\n";
        certs.signed("server", "localhost", "ca", server_ext);
        certs.signed("client", "gearman-sync test client", "ca", client_ext);
        certs.signed("stranger", "gearman-sync stranger", "other-ca", client_ext);
        certs.expired("expired-server", "server", server_ext);
        certs
    }

    /// The directory holding everything.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `NAME.pem` (a certificate).
    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// `NAME.key` (its private key).
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    /// Client TLS settings trusting `ca` (`"ca"` or `"other-ca"`), nothing else set.
    pub fn trusting(&self, ca: &str) -> gearman_sync::TlsConfigBuilder {
        TlsConfig::builder().ca_file(self.cert(ca))
    }

    /// Client TLS settings trusting the right CA and sending `client` (`"client"` or
    /// `"stranger"`).
    pub fn with_client_cert(&self, client: &str) -> TlsConfig {
        self.trusting("ca")
            .client_cert(self.cert(client), self.key(client))
            .build()
            .expect("TLS settings with a client certificate")
    }

    /// Client TLS settings trusting the right CA, without a client certificate.
    pub fn client(&self) -> TlsConfig {
        self.trusting("ca").build().expect("TLS settings")
    }

    #[track_caller]
    fn openssl(&self, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot run openssl ({error}); the TLS tests make their certificates with \
                     it: apt-get install -y openssl (scripts/test does)"
                )
            });
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn key_and_request(&self, name: &str, common_name: &str) {
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={common_name}"),
        ]);
    }

    fn self_signed(&self, name: &str, common_name: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={common_name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    fn signed(&self, name: &str, common_name: &str, ca: &str, extensions: &str) {
        self.key_and_request(name, common_name);
        let ext = format!("{name}.ext");
        fs::write(self.dir.join(&ext), extensions).expect("write extensions");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }

    /// A certificate for `request`'s key that expired in 2020 (`openssl ca` takes explicit
    /// dates, `openssl x509` does not).
    fn expired(&self, name: &str, request: &str, extensions: &str) {
        let config = "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\n\
                      new_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\n\
                      unique_subject = no\n[any]\ncommonName = supplied\n";
        fs::write(self.dir.join("ca.cnf"), config).expect("write ca.cnf");
        fs::write(self.dir.join("index.txt"), "").expect("write index.txt");
        fs::write(self.dir.join("serial"), "1000\n").expect("write serial");
        let ext = format!("{name}.ext");
        fs::write(self.dir.join(&ext), extensions).expect("write extensions");
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            &format!("{request}.csr"),
            "-out",
            &format!("{name}.pem"),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-extfile",
            &ext,
            "-notext",
        ]);
        fs::copy(self.key(request), self.key(name)).expect("copy the key");
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An upstream gearmand build: `sbin/gearmand` and its `bin/gearman` CLI.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub gearmand: PathBuf,
    pub gearman: PathBuf,
}

/// gearmand [`TLS_GEARMAND_VERSION`] built by `scripts/gearmand-build` (a no-op when cached in
/// ~/.cache/gearman-sync); panics when the build fails: the TLS tests are never skipped.
#[track_caller]
pub fn upstream() -> Upstream {
    static BUILT: OnceLock<Upstream> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gearmand-build");
            let output = Command::new(&script)
                .arg(TLS_GEARMAND_VERSION)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{} {TLS_GEARMAND_VERSION} failed ({}): the TLS tests need gearmand \
                 {TLS_GEARMAND_VERSION} built with TLS; stdout: {stdout}",
                script.display(),
                output.status
            );
            let value = |name: &str| {
                stdout
                    .lines()
                    .find_map(|line| line.strip_prefix(&format!("{name}=")))
                    .map(|path| PathBuf::from(path.trim_matches('\'')))
                    .filter(|path| path.is_file())
                    .unwrap_or_else(|| panic!("gearmand-build printed no usable {name}: {stdout}"))
            };
            Upstream {
                gearmand: value("GEARMAND"),
                gearman: value("GEARMAN"),
            }
        })
        .clone()
}

/// A readiness probe for a TLS gearmand: admin `getpid` over TLS with `config` answers the
/// started process's pid.
pub fn probe(config: TlsConfig) -> super::Probe {
    Arc::new(move |addr: &str, pid: u32| {
        let mut admin = Admin::builder()
            .servers(addr)
            .tls(config.clone())
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|error| error.to_string())?;
        match admin.getpid() {
            Ok(reported) if reported == pid => Ok(()),
            Ok(reported) => Err(format!("getpid over TLS answered {reported}, not {pid}")),
            Err(error) => Err(error.to_string()),
        }
    })
}

/// A probe for a gearmand that serves an expired certificate on purpose: ready when a TLS
/// client gets exactly that refusal (the pid cannot be asked over a refused session).
fn expired_probe(config: TlsConfig) -> super::Probe {
    Arc::new(move |addr: &str, _pid: u32| {
        let mut admin = Admin::builder()
            .servers(addr)
            .tls(config.clone())
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|error| error.to_string())?;
        match admin.getpid() {
            Err(error) if error.tls_kind() == Some(gearman_sync::TlsErrorKind::Expired) => Ok(()),
            other => Err(format!("expected an expired certificate, got {other:?}")),
        }
    })
}

/// gearmand [`TLS_GEARMAND_VERSION`] with `--ssl`, serving `server_cert` (a name from
/// [`Certs`]: `"server"`, or `"expired-server"`); ready once it answered `getpid` over TLS
/// (for the expired certificate: once a TLS client is refused for that).
#[track_caller]
pub fn tls_gearmand(certs: &Certs, server_cert: &str) -> Gearmand {
    let path = |path: PathBuf| path.to_str().expect("UTF-8 temp path").to_owned();
    let (ca, cert, key) = (
        path(certs.cert("ca")),
        path(certs.cert(server_cert)),
        path(certs.key(server_cert)),
    );
    let probe = if server_cert == "expired-server" {
        expired_probe(certs.client())
    } else {
        probe(certs.client())
    };
    Gearmand::builder()
        .binary(upstream().gearmand)
        .args(&["--ssl", "--ssl-ca-file", &ca, "--ssl-certificate", &cert])
        .args(&["--ssl-key", &key])
        .probe(probe)
        .start()
}

/// The `stunnel` program (Debian's `stunnel4` package installs both names).
#[track_caller]
pub fn stunnel_path() -> PathBuf {
    ["stunnel4", "stunnel"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.is_file())
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "stunnel not found on PATH; the TLS proxy tests need it: apt-get install -y \
                 stunnel4 (scripts/test does)"
            )
        })
}

/// stunnel on a free loopback port terminating TLS for a plain gearmand, requiring a client
/// certificate signed by the test CA (`verify = 2`); stopped on drop.
#[derive(Debug)]
pub struct Stunnel {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

impl Stunnel {
    /// Starts stunnel in front of `backend_port`, serving the `server` certificate.
    #[track_caller]
    pub fn start(certs: &Certs, backend_port: u16) -> Stunnel {
        let dir = unique_temp_dir();
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "foreground = yes\nsyslog = no\npid =\ndebug = info\noutput = {dir}/stunnel.log\n\
                 [gearman]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{backend_port}\n\
                 cert = {cert}\nkey = {key}\nCAfile = {ca}\nverify = 2\n",
                dir = dir.display(),
                cert = certs.cert("server").display(),
                key = certs.key("server").display(),
                ca = certs.cert("ca").display(),
            );
            let conf = dir.join("stunnel.conf");
            fs::write(&conf, config).expect("write stunnel.conf");
            let child = Command::new(stunnel_path())
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run stunnel: {error}"));
            let mut stunnel = Stunnel {
                child: Some(child),
                dir: dir.clone(),
                port,
            };
            match stunnel.wait_ready() {
                Ok(()) => return stunnel,
                Err(why) => {
                    last = why;
                    stunnel.stop();
                }
            }
        }
        let log = fs::read_to_string(dir.join("stunnel.log")).unwrap_or_default();
        let _ = fs::remove_dir_all(&dir);
        panic!("stunnel did not start: {last}\n--- stunnel log ---\n{log}");
    }

    /// `127.0.0.1:PORT`, where stunnel accepts TLS.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("stunnel exited with {status}"));
                }
            }
            let log = fs::read_to_string(self.dir.join("stunnel.log")).unwrap_or_default();
            if log.contains("Configuration successful") && TcpStream::connect(self.addr()).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after {START_TIMEOUT:?}"));
            }
            thread::sleep(POLL);
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            let log = fs::read_to_string(self.dir.join("stunnel.log")).unwrap_or_default();
            eprintln!("--- stunnel log ---\n{log}");
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A listener that accepts TCP connections and never answers (a server that hangs in the
/// handshake); connections are held until it is dropped.
pub struct Silent {
    listener: TcpListener,
    held: Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Silent {
    /// Listens on a free loopback port and holds every connection open.
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accepting = listener.try_clone().expect("clone listener");
        let store = Arc::clone(&held);
        thread::spawn(move || {
            for stream in accepting.incoming().flatten() {
                store.lock().expect("lock").push(stream);
            }
        });
        Silent { listener, held }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!(
            "127.0.0.1:{}",
            self.listener.local_addr().expect("local addr").port()
        )
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock() {
            held.clear();
        }
    }
}

/// Reads a whole file as text (empty when it cannot).
pub fn read_text(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error: io::Error| format!("<{error}>"))
}
