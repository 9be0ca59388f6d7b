//! The admin client against a real gearmand: every command, typed results, ERR replies as
//! typed errors, and deadlines; over a server list: per-server answers, totals, a dead server
//! beside live ones, and the report of `examples/admin.rs`.

mod common;
mod util;

/// The example's report, checked on real answers (its `main` is not used here).
#[path = "../examples/admin.rs"]
#[allow(dead_code)]
mod admin_example;

use std::time::{Duration, Instant};

use common::Gearmand;
use gearman_sync::protocol::admin::{AdminParser, FunctionStatus, MaxQueue};
use gearman_sync::{Admin, Client, Error, ServerAnswer, Worker};
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

fn function(name: &str, total: u64) -> FunctionStatus {
    FunctionStatus {
        name: name.into(),
        total,
        running: 0,
        available_workers: 0,
    }
}

/// A server's `status`, sorted by name (gearmand lists in hash order).
fn sorted_status(answer: &ServerAnswer<Vec<FunctionStatus>>) -> Vec<FunctionStatus> {
    let mut functions = answer.result.clone().expect("this server answers");
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    functions
}

/// Queues background jobs (no workers, so they stay queued) on one server.
fn queue(addr: &str, jobs: &[(&str, usize)]) {
    let mut client = Client::new(addr).expect("client");
    for &(function, count) in jobs {
        for n in 0..count {
            client
                .do_background(function, format!("job {n}"))
                .expect("submit");
        }
    }
}

/// Two live servers with different queues and a dead address (a gearmand that was stopped,
/// so its port refuses), listed live, dead, live.
fn two_live_one_dead() -> (Gearmand, Gearmand, Gearmand, Admin) {
    let first = Gearmand::start();
    let second = Gearmand::start();
    let mut dead = Gearmand::start();
    dead.stop();
    queue(&first.addr(), &[("multi_a", 2), ("multi_b", 1)]);
    queue(&second.addr(), &[("multi_a", 3), ("multi_c", 1)]);
    let admin = Admin::builder()
        .servers(&[first.addr(), dead.addr(), second.addr()])
        .connect_timeout(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(2))
        .build()
        .expect("admin");
    (first, second, dead, admin)
}

#[test]
fn status_all_answers_per_server_and_sums_beside_a_dead_server() {
    let (first, second, dead, mut admin) = two_live_one_dead();

    let started = Instant::now();
    let answers = admin.status_all();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let servers: Vec<String> = answers.iter().map(|a| a.server.to_string()).collect();
    assert_eq!(servers, [first.addr(), dead.addr(), second.addr()]);
    assert_eq!(
        sorted_status(&answers[0]),
        [function("multi_a", 2), function("multi_b", 1)]
    );
    match &answers[1].result {
        Err(Error::Io { server, .. }) => assert_eq!(*server, dead.addr()),
        other => panic!("expected the dead server's I/O error, got {other:?}"),
    }
    assert_eq!(
        sorted_status(&answers[2]),
        [function("multi_a", 3), function("multi_c", 1)]
    );
    assert_eq!(
        Admin::total_status(&answers),
        [
            function("multi_a", 5),
            function("multi_b", 1),
            function("multi_c", 1)
        ]
    );

    // The plain call still means the first server.
    let mut plain = admin.status().expect("first server");
    plain.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(plain, sorted_status(&answers[0]));

    let priorities = admin.priority_status_all();
    assert!(priorities[1].result.is_err());
    let totals = Admin::total_priority_status(&priorities);
    let multi_a = totals.iter().find(|f| f.name == "multi_a").expect("listed");
    assert_eq!((multi_a.high, multi_a.normal, multi_a.low), (0, 5, 0));

    let jobs = admin.show_jobs_all();
    let counts: Vec<Option<usize>> = jobs
        .iter()
        .map(|a| a.result.as_ref().ok().map(Vec::len))
        .collect();
    assert_eq!(counts, [Some(3), None, Some(4)]);
    let uniques = admin.show_unique_jobs_all();
    let counts: Vec<Option<usize>> = uniques
        .iter()
        .map(|a| a.result.as_ref().ok().map(Vec::len))
        .collect();
    assert_eq!(counts, [Some(3), None, Some(4)]);

    let pids: Vec<Option<u32>> = admin
        .getpid_all()
        .into_iter()
        .map(|a| a.result.ok())
        .collect();
    assert_eq!(pids, [Some(first.pid()), None, Some(second.pid())]);
    for answer in admin.version_all() {
        if answer.server.to_string() == dead.addr() {
            assert!(matches!(answer.result, Err(Error::Io { .. })));
        } else {
            let version = answer.result.expect("version");
            assert_eq!(
                common::parse_version(&version),
                Some(common::gearmand_version())
            );
        }
    }
    let levels: Vec<Option<String>> = admin
        .verbose_all()
        .into_iter()
        .map(|a| a.result.ok())
        .collect();
    assert_eq!(levels, [Some("INFO".into()), None, Some("INFO".into())]);
    let workers = admin.workers_all();
    assert!(workers[0].result.is_ok() && workers[2].result.is_ok());
    assert!(workers[1].result.is_err());
}

#[test]
fn a_silent_server_costs_its_own_deadline_not_the_sum() {
    let live = Gearmand::start();
    queue(&live.addr(), &[("silent_case", 1)]);
    // Two servers that accept and never answer: asked one after the other they would cost
    // twice the deadline.
    let silent = || {
        FakeServer::start(|peer, _| {
            let _ = peer.next();
            peer.linger();
        })
    };
    let (one, two) = (silent(), silent());
    let mut admin = Admin::builder()
        .servers(&[one.addr(), &live.addr(), two.addr()])
        .request_timeout(Duration::from_millis(800))
        .build()
        .expect("admin");
    let started = Instant::now();
    let answers = admin.status_all();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert!(matches!(answers[0].result, Err(Error::Timeout { .. })));
    assert_eq!(sorted_status(&answers[1]), [function("silent_case", 1)]);
    assert!(matches!(answers[2].result, Err(Error::Timeout { .. })));
    // The timed-out connections were closed; the next call reconnects and is bounded again.
    assert_eq!(admin.status_all().len(), 3);
}

#[test]
fn changes_on_every_server_and_a_cancel_on_the_issuing_one() {
    let (first, second, dead, mut admin) = two_live_one_dead();

    let created = admin.create_function_all("made_everywhere").expect("valid");
    let ok: Vec<bool> = created.iter().map(|a| a.result.is_ok()).collect();
    assert_eq!(ok, [true, false, true]);
    let listed = |admin: &mut Admin| -> Vec<bool> {
        admin
            .status_all()
            .iter()
            .map(|a| {
                a.result
                    .as_ref()
                    .is_ok_and(|fs| fs.iter().any(|f| f.name == "made_everywhere"))
            })
            .collect()
    };
    assert_eq!(listed(&mut admin), [true, false, true]);
    let dropped = admin.drop_function_all("made_everywhere").expect("valid");
    assert!(dropped[0].result.is_ok() && dropped[2].result.is_ok());
    assert_eq!(listed(&mut admin), [false, false, false]);
    assert!(matches!(
        admin.create_function_all("has space"),
        Err(Error::InvalidArgument(_))
    ));

    admin.create_function_all("capped").expect("valid");
    let capped = admin
        .max_queue_all("capped", MaxQueue::All(1))
        .expect("valid");
    assert!(capped[0].result.is_ok() && capped[2].result.is_ok());
    assert!(capped[1].result.is_err());
    for server in [&first, &second] {
        let mut client = Client::new(&server.addr()).expect("client");
        client.do_background("capped", "fits").expect("first fits");
        assert!(matches!(
            client.do_background("capped", "over"),
            Err(Error::Server { .. })
        ));
    }

    // Two gearmands on one host issue the same handle strings: the cancel goes to the issuer.
    let mut on_first = Client::new(&first.addr()).expect("client");
    let mut on_second = Client::new(&second.addr()).expect("client");
    let kept = on_first.do_background("cancel_me", "kept").expect("submit");
    let doomed = on_second
        .do_background("cancel_me", "doomed")
        .expect("submit");
    assert_eq!(doomed.server().to_string(), second.addr());
    admin
        .cancel_job_handle(&doomed)
        .expect("cancel on its server");
    // gearmand keeps a cancelled job (counted by `status`) until a worker would grab it, but
    // flags it ignored in `show jobs`.
    let ignored = |admin: &mut Admin| -> Vec<Option<Vec<String>>> {
        admin
            .show_jobs_all()
            .into_iter()
            .map(|a| {
                a.result.ok().map(|jobs| {
                    jobs.into_iter()
                        .filter(|job| job.ignore_job)
                        .map(|job| job.handle)
                        .collect()
                })
            })
            .collect()
    };
    let handle = |h: &gearman_sync::JobHandle| h.to_string();
    assert_eq!(
        ignored(&mut admin),
        [Some(vec![]), None, Some(vec![handle(&doomed)])]
    );
    // A handle of a server not in the list is cancelled there through a one-off connection.
    let mut only_second = Admin::new(&second.addr()).expect("admin");
    only_second
        .cancel_job_handle(&kept)
        .expect("cancel on the first server");
    assert_eq!(
        ignored(&mut admin),
        [Some(vec![handle(&kept)]), None, Some(vec![handle(&doomed)])]
    );
    let unknown = gearman_sync::JobHandle::new(first.addr().parse().expect("addr"), "H:nope:1");
    match admin.cancel_job_handle(&unknown) {
        Err(Error::Admin { code, .. }) => assert_eq!(code, "UNKNOWN_JOB"),
        other => panic!("expected UNKNOWN_JOB, got {other:?}"),
    }
    let dead_handle = gearman_sync::JobHandle::new(dead.addr().parse().expect("addr"), "H:vm:1");
    assert!(matches!(
        admin.cancel_job_handle(&dead_handle),
        Err(Error::Io { .. })
    ));
}

#[test]
fn the_example_prints_one_table_for_all_servers() {
    let (first, second, dead, mut admin) = two_live_one_dead();
    let versions = admin.version_all();
    let status = admin.status_all();
    let workers = admin.workers_all();
    let report = admin_example::report(&versions, &status, &workers);

    let rows: Vec<Vec<&str>> = report
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    let status_rows: Vec<&Vec<&str>> = rows
        .iter()
        .skip_while(|row| row.first() != Some(&"SERVER"))
        .take_while(|row| row.first() != Some(&"."))
        .collect();
    let (a, b) = (first.addr(), second.addr());
    let expected: Vec<Vec<&str>> = vec![
        vec![
            "SERVER",
            "FUNCTION",
            "TOTAL",
            "RUNNING",
            "AVAILABLE_WORKERS",
        ],
        vec![&a, "multi_a", "2", "0", "0"],
        vec![&b, "multi_a", "3", "0", "0"],
        vec!["TOTAL", "multi_a", "5", "0", "0"],
        vec![&a, "multi_b", "1", "0", "0"],
        vec!["TOTAL", "multi_b", "1", "0", "0"],
        vec![&b, "multi_c", "1", "0", "0"],
        vec!["TOTAL", "multi_c", "1", "0", "0"],
    ];
    assert_eq!(status_rows, expected.iter().collect::<Vec<_>>(), "{report}");
    let failed: Vec<&str> = report.lines().filter(|l| l.starts_with("! ")).collect();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(
        failed[0].starts_with(&format!(
            "! {} failed: I/O error with {}",
            dead.addr(),
            dead.addr()
        )),
        "{report}"
    );
    for server in [&a, &b] {
        assert!(
            report.contains(&format!("# {server} gearmand ")),
            "{report}"
        );
    }
    // Every column lines up: the status rows are aligned, not tab-separated.
    let header = report
        .lines()
        .find(|l| l.starts_with("SERVER"))
        .expect("header");
    let total_row = report
        .lines()
        .find(|l| l.starts_with("TOTAL"))
        .expect("total");
    assert_eq!(header.find("FUNCTION"), total_row.find("multi_a"));
}

#[test]
fn the_example_binary_prints_the_table_and_fails_for_a_dead_server() {
    let (first, second, dead, _admin) = two_live_one_dead();
    let servers = format!("{},{},{}", first.addr(), dead.addr(), second.addr());
    // Built by cargo (the example is part of the package); bounded like every call here.
    let mut child = std::process::Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", "admin", "--", "--servers"])
        .arg(&servers)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cargo run --example admin");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut stdout)
        .expect("read");
    assert_eq!(status.code(), Some(1), "a server failed: {stdout}");
    let total: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("TOTAL") && l.contains("multi_a"))
        .expect("a total row")
        .split_whitespace()
        .collect();
    assert_eq!(total, ["TOTAL", "multi_a", "5", "0", "0"], "{stdout}");
    assert!(
        stdout.contains(&format!("! {} failed: ", dead.addr())),
        "{stdout}"
    );
}
