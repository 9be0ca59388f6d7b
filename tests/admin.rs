//! The admin client against a real gearmand: every command, typed results, ERR replies as
//! typed errors, and deadlines.

mod common;
mod util;

use std::time::{Duration, Instant};

use common::Gearmand;
use gearman_sync::protocol::admin::{AdminParser, MaxQueue};
use gearman_sync::{Admin, Client, Error, Worker};
use util::fake::FakeServer;

#[test]
fn version_getpid_and_verbose() {
    let server = Gearmand::start();
    let mut admin = Admin::new(&server.addr()).expect("admin");
    // "1.1.20+ds", "1.1.22", "2.0.0": the version of the binary the harness started.
    let version = admin.version().expect("version");
    assert_eq!(
        common::parse_version(&version),
        Some(common::gearmand_version()),
        "version {version:?}"
    );
    assert_eq!(admin.getpid().expect("getpid"), server.pid());
    assert_eq!(admin.verbose().expect("verbose"), "INFO");
}

#[test]
fn status_priority_status_workers_and_jobs() {
    let server = Gearmand::start();
    let mut admin = Admin::new(&server.addr()).expect("admin");
    assert!(admin.status().expect("status").is_empty());
    let mut client = Client::new(&server.addr()).expect("client");
    client.do_high_background("admin_fn", "h").expect("submit");
    client.do_background("admin_fn", "n1").expect("submit");
    client.do_background("admin_fn", "n2").expect("submit");
    let mut worker = Worker::builder()
        .servers(&server.addr())
        .client_id("admin-test-worker")
        .build()
        .expect("worker");
    worker
        .add_ability("other_fn", |_| Ok(Vec::new()))
        .expect("ability");
    assert!(!worker
        .work_one(Duration::from_millis(200))
        .expect("register"));

    let status = admin.status().expect("status");
    let admin_fn = status
        .iter()
        .find(|f| f.name == "admin_fn")
        .expect("admin_fn listed");
    assert_eq!(
        (admin_fn.total, admin_fn.running, admin_fn.available_workers),
        (3, 0, 0)
    );
    let other = status
        .iter()
        .find(|f| f.name == "other_fn")
        .expect("other_fn listed");
    assert_eq!(other.available_workers, 1);

    let priorities = admin.priority_status().expect("prioritystatus");
    let admin_fn = priorities
        .iter()
        .find(|f| f.name == "admin_fn")
        .expect("listed");
    assert_eq!((admin_fn.high, admin_fn.normal, admin_fn.low), (1, 2, 0));

    let workers = admin.workers().expect("workers");
    let ours = workers
        .iter()
        .find(|w| w.client_id.as_deref() == Some("admin-test-worker"))
        .expect("our worker is listed");
    assert_eq!(ours.functions, ["other_fn"]);
    assert_eq!(ours.ip, "127.0.0.1");

    let jobs = admin.show_jobs().expect("show jobs");
    assert_eq!(jobs.len(), 3);
    assert!(jobs
        .iter()
        .all(|job| job.handle.starts_with("H:") && !job.ignore_job && job.retries == 0));
    let uniques = admin.show_unique_jobs().expect("show unique jobs");
    assert_eq!(uniques.len(), 3);
    assert!(
        uniques.iter().all(String::is_empty),
        "the default client sends no unique, listed as empty lines: {uniques:?}"
    );
}

#[test]
fn cancel_create_drop_and_maxqueue() {
    let server = Gearmand::start();
    let mut admin = Admin::new(&server.addr()).expect("admin");
    let mut client = Client::new(&server.addr()).expect("client");
    let handle = client.do_background("to_cancel", "x").expect("submit");
    admin.cancel_job(handle.as_bytes()).expect("cancel");
    match admin.cancel_job("H:nope:1") {
        Err(Error::Admin { code, .. }) => assert_eq!(code, "UNKNOWN_JOB"),
        other => panic!("expected UNKNOWN_JOB, got {other:?}"),
    }

    admin.create_function("created_fn").expect("create");
    assert!(admin
        .status()
        .expect("status")
        .iter()
        .any(|f| f.name == "created_fn"));
    admin.drop_function("created_fn").expect("drop");
    assert!(!admin
        .status()
        .expect("status")
        .iter()
        .any(|f| f.name == "created_fn"));
    assert!(matches!(
        admin.drop_function("never_existed"),
        Err(Error::Admin { .. })
    ));

    // maxqueue on a function gearmand does not know yet has no effect: create it first.
    admin.create_function("limited_fn").expect("create");
    admin
        .max_queue("limited_fn", MaxQueue::All(1))
        .expect("maxqueue");
    client
        .do_background("limited_fn", "first")
        .expect("first fits");
    match client.do_background("limited_fn", "second") {
        Err(Error::Server { code, text, .. }) => {
            assert_eq!(code, gearman_sync::ServerErrorCode::QueueError);
            assert_eq!(text, "Job queue is full");
        }
        other => panic!("expected a full queue, got {other:?}"),
    }
    admin
        .max_queue(
            "limited_fn",
            MaxQueue::PerPriority {
                high: 5,
                normal: 0,
                low: 0,
            },
        )
        .expect("maxqueue per priority");
    client
        .do_background("limited_fn", "third")
        .expect("unlimited normal queue");
    assert!(matches!(
        admin.create_function("has space"),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn an_admin_reply_without_its_final_dot_hits_the_deadline() {
    let fake = FakeServer::start(|peer, _| {
        if let Some(Err(_line)) = peer.next() {
            peer.raw(b"f\t1\t0\t0\n");
        }
        peer.linger();
    });
    let mut admin = Admin::builder()
        .servers(fake.addr())
        .request_timeout(Duration::from_millis(300))
        .build()
        .expect("admin");
    let started = Instant::now();
    assert!(matches!(admin.status(), Err(Error::Timeout { .. })));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_one_megabyte_admin_line_is_a_typed_error() {
    let fake = FakeServer::start(|peer, _| {
        if let Some(Err(_line)) = peer.next() {
            peer.raw(&vec![b'x'; 1_000_000]);
            peer.raw(b"\n.\n");
        }
        peer.linger();
    });
    let mut admin = Admin::builder()
        .servers(fake.addr())
        .parser(AdminParser::new().with_max_line(64 * 1024))
        .build()
        .expect("admin");
    match admin.status() {
        Err(Error::Protocol {
            source: gearman_sync::ProtocolError::AdminLineTooLong { max },
            ..
        }) => {
            assert_eq!(max, 64 * 1024)
        }
        other => panic!("expected AdminLineTooLong, got {other:?}"),
    }
}
