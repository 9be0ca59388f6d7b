//! The `tls` feature against real servers: gearmand 2.0.0 started with `--ssl` (built by
//! scripts/gearmand-build; a failed build fails these tests), stunnel requiring client
//! certificates in front of a plain gearmand, and the libgearman 2.0.0 `gearman -S` CLI as a
//! peer both ways. Every certificate is made by the test with `openssl`.
//!
//! ```text
//! cargo test --features tls --test tls
//! ```

mod common;
mod util;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tls::{tls_gearmand, upstream, Certs, Silent, Stunnel};
use common::Gearmand;
use gearman_sync::{
    Admin, Client, Error, Task, TaskOutcome, TlsConfig, TlsErrorKind, UniqueMode, Waiting, Worker,
};
use util::{reversed, WorkerThread};

/// A TLS client with random uniques and a 30 s job deadline.
fn client(servers: &str, tls: TlsConfig) -> Client {
    Client::builder()
        .servers(servers)
        .tls(tls)
        .unique_mode(UniqueMode::Random)
        .job_timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A TLS admin client.
fn admin(servers: &str, tls: TlsConfig) -> Admin {
    Admin::builder()
        .servers(servers)
        .tls(tls)
        .build()
        .expect("admin")
}

/// Our TLS worker with `reverse` and `echo`, counting its (re)connects.
fn worker(servers: &str, tls: TlsConfig, connects: Arc<AtomicUsize>) -> WorkerThread {
    let mut worker = Worker::builder()
        .servers(servers)
        .tls(tls)
        .client_id("tls-worker")
        .build()
        .expect("worker");
    worker
        .add_ability("reverse", |job| Ok(reversed(job.workload())))
        .expect("reverse");
    worker
        .add_ability("echo", |job| Ok(job.take_workload()))
        .expect("echo");
    worker.on_connect(move |_| {
        connects.fetch_add(1, Ordering::SeqCst);
    });
    worker
        .wait_registered(Duration::from_secs(10))
        .expect("registered over TLS");
    WorkerThread::run(worker)
}

/// Asserts that `error` is a TLS failure of `kind` (directly, or for every server of a
/// `NoJobServers`).
#[track_caller]
fn assert_tls(error: &Error, kind: TlsErrorKind) {
    assert_eq!(error.tls_kind(), Some(kind), "{error}");
}

#[test]
fn foreground_background_status_and_task_sets_over_tls() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let _worker = worker(&server.addr(), certs.client(), Arc::default());
    let mut client = client(&server.addr(), certs.client());

    assert_eq!(client.do_normal("reverse", "hello").expect("fg"), b"olleh");
    let handle = client.do_background("nobody_serves_this", "x").expect("bg");
    let status = client.status(&handle).expect("status");
    assert!(status.known && !status.running, "{status:?}");
    assert_eq!(client.echo(b"ping").expect("echo"), b"ping");

    let mut set = client.task_set();
    let ids: Vec<_> = (0..50)
        .map(|index| {
            set.add_task(Task::new("reverse", format!("task {index}")))
                .expect("add")
        })
        .collect();
    let summary = set.wait(Duration::from_secs(20)).expect("wait");
    assert_eq!(summary.completed.len(), 50, "{summary:?}");
    for (index, id) in ids.into_iter().enumerate() {
        match set.take_outcome(id) {
            Some(TaskOutcome::Completed(data)) => {
                assert_eq!(data, reversed(format!("task {index}").as_bytes()))
            }
            other => panic!("task {index}: {other:?}"),
        }
    }
}

#[test]
fn admin_status_and_getpid_over_tls() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let _worker = worker(&server.addr(), certs.client(), Arc::default());
    let mut admin = admin(&server.addr(), certs.client());
    assert_eq!(admin.getpid().expect("getpid"), server.pid());
    let status = admin.status().expect("status");
    let reverse = status
        .iter()
        .find(|row| row.name == "reverse")
        .expect("reverse registered");
    assert_eq!(reverse.available_workers, 1, "{status:?}");
}

#[test]
fn a_sleeping_worker_wakes_and_comes_back_after_a_restart_over_tls() {
    let certs = Certs::generate();
    let mut server = tls_gearmand(&certs, "server");
    let connects = Arc::new(AtomicUsize::new(0));
    let _worker = worker(&server.addr(), certs.client(), Arc::clone(&connects));
    let mut client = client(&server.addr(), certs.client());
    assert_eq!(client.do_normal("reverse", "abc").expect("first"), b"cba");

    // The worker is asleep after PRE_SLEEP; a new job wakes it through a NOOP over TLS.
    std::thread::sleep(Duration::from_millis(700));
    let woken = Instant::now();
    assert_eq!(client.do_normal("reverse", "def").expect("woken"), b"fed");
    assert!(
        woken.elapsed() < Duration::from_secs(1),
        "{:?}",
        woken.elapsed()
    );

    server.restart();
    let back = Instant::now();
    let mut client = self::client(&server.addr(), certs.client());
    assert_eq!(
        client.do_normal("reverse", "xyz").expect("after restart"),
        b"zyx"
    );
    assert!(
        back.elapsed() < Duration::from_secs(5),
        "served again after {:?}",
        back.elapsed()
    );
    assert!(
        connects.load(Ordering::SeqCst) >= 2,
        "the worker re-handshook and registered again"
    );
}

#[test]
fn a_16_mib_round_trip_over_tls() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let _worker = worker(&server.addr(), certs.client(), Arc::default());
    let mut client = client(&server.addr(), certs.client());
    let payload: Vec<u8> = (0..16usize << 20)
        .map(|index| (index * 7 + index / 251) as u8)
        .collect();
    let started = Instant::now();
    let echoed = client.do_task(Task::new("echo", &payload)).expect("16 MiB");
    assert!(echoed == payload, "the echo differs");
    eprintln!("16 MiB round trip over TLS: {:?}", started.elapsed());
}

#[test]
fn the_multi_server_wait_reads_what_tls_already_holds() {
    // Two TLS servers: the worker and the task set each wait on two TLS sessions in one
    // poll(2). Results of 1.5 MiB (read straight into their own buffer) alternate with small
    // ones, so packets often sit decrypted inside the TLS session after a large body ends;
    // a wait that polled the socket first would stall on them until the deadline.
    let certs = Certs::generate();
    let first = tls_gearmand(&certs, "server");
    let second = tls_gearmand(&certs, "server");
    let list = format!("{},{}", first.addr(), second.addr());
    let _worker = worker(&list, certs.client(), Arc::default());
    let mut client = client(&list, certs.client());
    let started = Instant::now();
    let mut set = client.task_set();
    let payloads: Vec<Vec<u8>> = (0..24usize)
        .map(|index| {
            let len = if index % 2 == 0 {
                1_500_000
            } else {
                10 + index
            };
            (0..len).map(|byte| (byte + index) as u8).collect()
        })
        .collect();
    let ids: Vec<_> = payloads
        .iter()
        .map(|payload| {
            set.add_task(Task::new("echo", payload.clone()))
                .expect("add")
        })
        .collect();
    let summary = set.wait(Duration::from_secs(30)).expect("wait");
    assert_eq!(summary.completed.len(), payloads.len(), "{summary:?}");
    for (id, payload) in ids.into_iter().zip(&payloads) {
        match set.take_outcome(id) {
            Some(TaskOutcome::Completed(data)) => assert!(data == *payload, "echo differs"),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}: a wait stalled",
        started.elapsed()
    );
}

#[test]
fn a_wrong_ca_is_refused_as_unknown_issuer_and_nothing_is_sent() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let wrong = certs.trusting("other-ca").build().expect("settings");
    let mut stranger = client(&server.addr(), wrong.clone());
    let error = stranger
        .do_background("sent_with_a_wrong_ca", "secret")
        .expect_err("refused");
    assert_tls(&error, TlsErrorKind::UnknownIssuer);
    assert!(matches!(error, Error::NoJobServers(_)), "{error:?}");
    let error = admin(&server.addr(), wrong).status().expect_err("refused");
    assert!(
        matches!(
            &error,
            Error::Tls {
                kind: TlsErrorKind::UnknownIssuer,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("unknown issuer"), "{error}");
    let status = admin(&server.addr(), certs.client())
        .status()
        .expect("status");
    assert!(
        status.iter().all(|row| row.name != "sent_with_a_wrong_ca"),
        "the job reached the server: {status:?}"
    );
}

#[test]
fn a_wrong_name_is_refused_as_a_name_mismatch_and_ip_sans_are_checked() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let renamed = certs
        .trusting("ca")
        .server_name("gearman.example")
        .build()
        .expect("settings");
    let error = client(&server.addr(), renamed)
        .do_background("sent_to_the_wrong_name", "secret")
        .expect_err("refused");
    assert_tls(&error, TlsErrorKind::NameMismatch);
    // An IP address not in the certificate's IP SANs is a mismatch too; the right one and
    // the DNS name both match.
    let other_ip = certs
        .trusting("ca")
        .server_name("127.0.0.2")
        .build()
        .expect("settings");
    let error = admin(&server.addr(), other_ip)
        .version()
        .expect_err("refused");
    assert_tls(&error, TlsErrorKind::NameMismatch);
    let by_name = format!("localhost:{}", server.port());
    assert!(admin(&by_name, certs.client()).version().is_ok());
    assert!(admin(&server.addr(), certs.client()).version().is_ok());
    let status = admin(&server.addr(), certs.client())
        .status()
        .expect("status");
    assert!(
        status
            .iter()
            .all(|row| row.name != "sent_to_the_wrong_name"),
        "{status:?}"
    );
}

#[test]
fn an_expired_certificate_is_refused_as_expired() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "expired-server");
    let error = client(&server.addr(), certs.client())
        .do_background("f", "x")
        .expect_err("refused");
    assert_tls(&error, TlsErrorKind::Expired);
}

#[test]
fn a_plain_client_against_a_tls_port_fails_fast() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let started = Instant::now();
    let mut plain = Client::builder()
        .servers(&server.addr())
        .build()
        .expect("client");
    let error = plain.do_background("f", "x").expect_err("refused");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // gearmand closes at once without a word: the only thing a plain client can report.
    let Error::NoJobServers(failures) = &error else {
        panic!("{error:?}");
    };
    assert!(
        matches!(
            failures[0].error.as_deref(),
            Some(Error::ConnectionClosed { .. })
        ),
        "{error}"
    );
}

#[test]
fn a_tls_client_against_a_plain_port_fails_fast_as_not_tls() {
    let certs = Certs::generate();
    let plain = Gearmand::start();
    let started = Instant::now();
    let error = admin(&plain.addr(), certs.client())
        .version()
        .expect_err("refused");
    assert!(
        matches!(
            &error,
            Error::Tls {
                kind: TlsErrorKind::NotTls,
                ..
            }
        ),
        "{error:?}"
    );
    let error = client(&plain.addr(), certs.client())
        .do_background("f", "x")
        .expect_err("refused");
    assert_tls(&error, TlsErrorKind::NotTls);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_handshake_that_never_completes_times_out_within_the_connect_timeout() {
    let certs = Certs::generate();
    let silent = Silent::start();
    let started = Instant::now();
    let error = Admin::builder()
        .servers(&silent.addr())
        .tls(certs.client())
        .connect_timeout(Duration::from_millis(300))
        .build()
        .expect("admin")
        .version()
        .expect_err("times out");
    assert!(
        matches!(
            error,
            Error::Timeout {
                waiting_for: Waiting::TlsHandshake,
                ..
            }
        ),
        "{error:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn stunnel_requiring_client_certificates_refuses_clients_without_one() {
    let certs = Certs::generate();
    let backend = Gearmand::start();
    let proxy = Stunnel::start(&certs, backend.port());
    let error = client(&proxy.addr(), certs.client())
        .do_background("sent_without_a_certificate", "x")
        .expect_err("refused");
    assert_tls(&error, TlsErrorKind::HandshakeRefused);
    assert!(error.to_string().contains("client certificate"), "{error}");
    let error = client(&proxy.addr(), certs.with_client_cert("stranger"))
        .do_background("sent_by_a_stranger", "x")
        .expect_err("refused");
    assert_tls(&error, TlsErrorKind::HandshakeRefused);
    let status = common::parse_status(&common::admin(&backend.addr(), "status"));
    assert!(
        status
            .iter()
            .all(|(function, ..)| !function.starts_with("sent_")),
        "{status:?}"
    );
}

#[test]
fn stunnel_requiring_client_certificates_serves_clients_with_one() {
    let certs = Certs::generate();
    let backend = Gearmand::start();
    let proxy = Stunnel::start(&certs, backend.port());
    let tls = certs.with_client_cert("client");
    let _worker = worker(&proxy.addr(), tls.clone(), Arc::default());
    let mut client = client(&proxy.addr(), tls.clone());
    assert_eq!(
        client.do_normal("reverse", "stunnel").expect("fg"),
        b"lennuts"
    );
    let handle = client
        .do_background("queued_through_stunnel", "x")
        .expect("bg");
    assert!(client.status(&handle).expect("status").known);
    let status = admin(&proxy.addr(), tls).status().expect("admin status");
    assert!(
        status
            .iter()
            .any(|row| row.name == "queued_through_stunnel"),
        "{status:?}"
    );
}

/// The libgearman 2.0.0 CLI with TLS (`-S`): it reads the CA, certificate and key from the
/// environment and will not start without all three.
fn gearman_tls(certs: &Certs, port: u16) -> Command {
    let mut command = Command::new(upstream().gearman);
    command
        .env("GEARMAND_CA_CERTIFICATE", certs.cert("ca"))
        .env("GEARMAN_CLIENT_PEM", certs.cert("client"))
        .env("GEARMAN_CLIENT_KEY", certs.key("client"))
        .args(["-S", "-h", "127.0.0.1", "-p", &port.to_string()]);
    command
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_libgearman_tls_client_runs_jobs_on_our_tls_worker() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let _worker = worker(&server.addr(), certs.client(), Arc::default());
    let output = gearman_tls(&certs, server.port())
        .args(["-f", "reverse", "over TLS"])
        .stdin(Stdio::null())
        .output()
        .expect("run gearman -S");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim_end(),
        "SLT revo"
    );
}

#[test]
fn our_tls_client_runs_jobs_on_the_libgearman_tls_worker() {
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let _cli = Killed(
        gearman_tls(&certs, server.port())
            .args(["-w", "-f", "upper", "--", "tr", "a-z", "A-Z"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn gearman -S -w"),
    );
    let mut admin = admin(&server.addr(), certs.client());
    common::wait_until(Duration::from_secs(10), || {
        admin
            .status()
            .is_ok_and(|status| status.iter().any(|row| row.name == "upper"))
    });
    let mut client = client(&server.addr(), certs.client());
    assert_eq!(
        client.do_normal("upper", "tls both ways").expect("job"),
        b"TLS BOTH WAYS"
    );
}

#[test]
fn fresh_tls_connections_opened_back_to_back_all_work() {
    // gearmand 2.0.0 drops about one fresh TLS connection in 50 when connections are closed
    // and opened back to back; the client's pool opens such a connection once more. The race
    // needs a fast client: a debug build rarely hits it, so this is a smoke test; the release
    // `bench connect` of scripts/bench-tls is where the drops showed (BENCHMARKS.md, TLS).
    let certs = Certs::generate();
    let server = tls_gearmand(&certs, "server");
    let tls = certs.client();
    for index in 0..200 {
        let mut client = client(&server.addr(), tls.clone());
        let echoed = client
            .echo(b"fresh")
            .unwrap_or_else(|error| panic!("connection #{index}: {error}"));
        assert_eq!(echoed, b"fresh");
    }
}
