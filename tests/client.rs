//! The client against a real gearmand: every operation, priorities, status, coalescing,
//! several servers, dead and silent servers, and a large task set.

mod common;
mod util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{admin, parse_status, queued, Gearmand};
use gearman_sync::UniqueMode;
use gearman_sync::{perl_hash, Routing};
use gearman_sync::{ArgumentError, Client, Error, Priority, Task, TaskOutcome, Worker};
use gearman_sync::{ExceptionMode, JobError};
use util::{reversed, CliWorker, WorkerThread};

fn reverse_worker(addr: &str) -> WorkerThread {
    WorkerThread::spawn(addr, |worker| {
        worker
            .add_ability("reverse", |job| Ok(reversed(job.workload())))
            .expect("ability");
    })
}

#[test]
fn do_normal_through_the_libgearman_cli_worker_keeps_binary_bytes() {
    let server = Gearmand::start();
    let _cat = CliWorker::spawn(server.port(), "cat", &["cat"]);
    let mut client = Client::new(&server.addr()).expect("client");
    let payload = b"bin\0ary\xff\x00end".to_vec();
    let result = client.do_normal("cat", payload.clone()).expect("job");
    assert_eq!(result, payload);
}

#[test]
fn foreground_priorities_and_callbacks_in_order() {
    let server = Gearmand::start();
    let _worker = WorkerThread::spawn(&server.addr(), |worker| {
        worker
            .add_ability("steps", |job| {
                job.send_status(1, 3)?;
                job.send_data(b"part-1")?;
                job.send_warning(b"careful")?;
                job.send_status(2, 3)?;
                job.send_data(b"")?;
                Ok(b"done".to_vec())
            })
            .expect("ability");
    });
    let mut client = Client::new(&server.addr()).expect("client");
    for priority in [Priority::High, Priority::Normal, Priority::Low] {
        let events = RefCell::new(Vec::new());
        let task = Task::new("steps", "x")
            .priority(priority)
            .on_created(|handle| {
                events
                    .borrow_mut()
                    .push(format!("created {}", !handle.as_bytes().is_empty()))
            })
            .on_status(|n, d| events.borrow_mut().push(format!("status {n}/{d}")))
            .on_data(|data| {
                events
                    .borrow_mut()
                    .push(format!("data {}", String::from_utf8_lossy(data)))
            })
            .on_warning(|data| {
                events
                    .borrow_mut()
                    .push(format!("warning {}", String::from_utf8_lossy(data)))
            })
            .on_complete(|data| {
                events
                    .borrow_mut()
                    .push(format!("complete {}", String::from_utf8_lossy(data)))
            });
        let result = client.do_task(task).expect("job");
        assert_eq!(result, b"done");
        assert_eq!(
            events.into_inner(),
            [
                "created true",
                "status 1/3",
                "data part-1",
                "warning careful",
                "status 2/3",
                "data ",
                "complete done"
            ]
        );
    }
    assert_eq!(client.do_high("steps", "a").expect("high"), b"done");
    assert_eq!(client.do_low("steps", "b").expect("low"), b"done");
}

#[test]
fn background_priorities_are_served_high_normal_low() {
    let server = Gearmand::start();
    let mut client = Client::new(&server.addr()).expect("client");
    client.do_low_background("ordered", "low").expect("low");
    client.do_background("ordered", "normal").expect("normal");
    client.do_high_background("ordered", "high").expect("high");
    assert_eq!(queued(&server.addr(), "ordered"), 3);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let mut worker = gearman_sync::Worker::builder()
        .servers(&server.addr())
        .max_jobs(3)
        .build()
        .expect("worker");
    worker
        .add_ability("ordered", move |job| {
            record
                .lock()
                .expect("lock")
                .push(String::from_utf8_lossy(job.workload()).into_owned());
            Ok(Vec::new())
        })
        .expect("ability");
    WorkerThread::run(worker).join_within(Duration::from_secs(10));
    assert_eq!(*seen.lock().expect("lock"), ["high", "normal", "low"]);
}

#[test]
fn status_of_queued_running_and_finished_jobs() {
    let server = Gearmand::start();
    let mut client = Client::new(&server.addr()).expect("client");
    let handle = client
        .submit_background(Task::new("slow", "w").unique("status-test-1"))
        .expect("submit");
    assert_eq!(handle.server().to_string(), server.addr());
    let queued_status = client.status(&handle).expect("status");
    assert!(
        queued_status.known && !queued_status.running,
        "{queued_status:?}"
    );
    assert_eq!((queued_status.numerator, queued_status.denominator), (0, 0));
    let by_unique = client.status_by_unique("status-test-1").expect("by unique");
    assert!(by_unique.status.known);
    assert_eq!(by_unique.clients, 0);

    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let _worker = WorkerThread::spawn(&server.addr(), move |worker| {
        worker
            .add_ability("slow", move |job| {
                job.send_status(3, 4)?;
                started_tx.send(()).map_err(|_| JobError::Fail)?;
                let _ = release_rx
                    .lock()
                    .map_err(|_| JobError::Fail)?
                    .recv_timeout(Duration::from_secs(10));
                Ok(Vec::new())
            })
            .expect("ability");
    });
    started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("job started");
    common::wait_until(Duration::from_secs(5), || {
        client
            .status(&handle)
            .map(|s| s.numerator == 3)
            .unwrap_or(false)
    });
    let running = client.status(&handle).expect("status");
    assert!(running.known && running.running);
    assert_eq!(running.percent(), Some(75.0));
    release_tx.send(()).expect("release");
    common::wait_until(Duration::from_secs(5), || {
        client.status(&handle).map(|s| !s.known).unwrap_or(false)
    });
    let finished = client.status(&handle).expect("status");
    assert_eq!((finished.known, finished.running), (false, false));
    let gone = client.status_by_unique("status-test-1").expect("by unique");
    assert!(!gone.status.known);
}

#[test]
fn equal_uniques_coalesce_into_one_execution() {
    let server = Gearmand::start();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let _worker = WorkerThread::spawn(&server.addr(), move |worker| {
        worker
            .add_ability("once", move |job| {
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                job.send_data(b"chunk")?;
                Ok(b"shared".to_vec())
            })
            .expect("ability");
    });
    let mut client = Client::new(&server.addr()).expect("client");
    let chunks = RefCell::new(0);
    let mut set = client.task_set();
    let ids: Vec<_> = (0..3)
        .map(|_| {
            set.add_task(
                Task::new("once", "same")
                    .unique("coalesce-me")
                    .on_data(|_| *chunks.borrow_mut() += 1),
            )
            .expect("add")
        })
        .collect();
    let summary = set.wait(Duration::from_secs(10)).expect("wait");
    assert_eq!(summary.completed.len(), 3, "{summary:?}");
    for id in &ids {
        assert!(
            matches!(set.outcome(*id), Some(TaskOutcome::Completed(data)) if data == b"shared")
        );
    }
    let handles: Vec<_> = ids
        .iter()
        .map(|id| set.handle(*id).expect("handle"))
        .collect();
    assert!(
        handles.windows(2).all(|pair| pair[0] == pair[1]),
        "one shared handle"
    );
    drop(set);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        chunks.into_inner(),
        3,
        "each coalesced task gets its own WORK_DATA copy"
    );
}

#[test]
fn default_unique_is_empty_and_gearman_ruby_sha1_is_a_choice() {
    let server = Gearmand::start();
    let mut plain = Client::new(&server.addr()).expect("client");
    let first = plain.do_background("no_unique", "x").expect("first");
    let second = plain.do_background("no_unique", "x").expect("second");
    assert_ne!(first, second, "without a unique nothing coalesces");
    assert_eq!(admin(&server.addr(), "show unique jobs"), "\n\n.\n");
    let mut ruby = Client::builder()
        .servers(&server.addr())
        .unique_mode(UniqueMode::Sha1)
        .build()
        .expect("client");
    let sha1 = ruby.do_background("unique_id", "abcdef").expect("submit");
    assert_eq!(
        ruby.do_background("unique_id", "abcdef").expect("again"),
        sha1,
        "the same unique joins the queued job"
    );
    let listed = admin(&server.addr(), "show unique jobs");
    assert_eq!(
        listed
            .lines()
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>(),
        ["bc2ca93d86a28cb72fedf36326d1da0cc3d4ed6a", "."],
        "{listed:?}"
    );
}

#[test]
fn exceptions_failures_and_retries() {
    let server = Gearmand::start();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&attempts);
    // The client's exceptions option only matters for a worker that sends WORK_EXCEPTION.
    let mut worker = Worker::builder()
        .servers(&server.addr())
        .exceptions(ExceptionMode::Exception)
        .build()
        .expect("worker");
    worker
        .add_ability("boom", |_| Err(JobError::exception("kaboom")))
        .expect("ability");
    worker
        .add_ability("fail", |_| Err(JobError::Fail))
        .expect("ability");
    worker
        .add_ability("flaky", move |_| {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(JobError::Fail)
            } else {
                Ok(b"third time".to_vec())
            }
        })
        .expect("ability");
    let _worker = WorkerThread::run(worker);
    let mut client = Client::builder()
        .servers(&server.addr())
        .unique_mode(UniqueMode::Random)
        .build()
        .expect("client");
    match client.do_normal("boom", "x") {
        Err(Error::JobException { data, .. }) => assert_eq!(data, b"kaboom"),
        other => panic!("expected an exception, got {other:?}"),
    }
    assert!(matches!(
        client.do_normal("fail", "x"),
        Err(Error::JobFailed { .. })
    ));
    let mut without = Client::builder()
        .servers(&server.addr())
        .exceptions(false)
        .unique_mode(UniqueMode::Random)
        .build()
        .expect("client");
    assert!(matches!(
        without.do_normal("boom", "x"),
        Err(Error::JobFailed { .. })
    ));

    let retries = RefCell::new(Vec::new());
    let failed = RefCell::new(false);
    let task = Task::new("flaky", "x")
        .retries(2)
        .on_retry(|attempt| retries.borrow_mut().push(attempt))
        .on_fail(|| *failed.borrow_mut() = true);
    assert_eq!(client.do_task(task).expect("third attempt"), b"third time");
    assert_eq!(retries.into_inner(), [1, 2]);
    assert!(!failed.into_inner());
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[test]
fn echo_client_id_prefix_and_schedule() {
    let server = Gearmand::start();
    let mut client = Client::builder()
        .servers(&server.addr())
        .client_id("client-under-test")
        .prefix("app.")
        .build()
        .expect("client");
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    assert_eq!(client.echo(&data).expect("echo"), data);
    assert!(admin(&server.addr(), "workers").contains(" client-under-test :"));
    client.set_client_id("renamed").expect("set id");
    common::wait_until(Duration::from_secs(5), || {
        admin(&server.addr(), "workers").contains(" renamed :")
    });

    let _worker = WorkerThread::spawn(&server.addr(), |worker| {
        worker
            .add_ability("app.reverse", |job| Ok(reversed(job.workload())))
            .expect("ability");
    });
    assert_eq!(
        client.do_normal("reverse", "abc").expect("prefixed"),
        b"cba"
    );
    let later = client
        .schedule("later", "x", SystemTime::now() + Duration::from_secs(3600))
        .expect("schedule");
    let status = client.status(&later).expect("status");
    assert!(status.known && !status.running);
    assert!(parse_status(&admin(&server.addr(), "status"))
        .iter()
        .any(|(name, ..)| name == "app.later"));
}

#[test]
fn bad_arguments_fail_before_anything_is_sent() {
    // Nothing listens on this port: validation must come first.
    let mut client = Client::new("127.0.0.1:1").expect("client");
    let too_long = "u".repeat(64);
    let cases: Vec<(Task<'_>, ArgumentError)> = vec![
        (
            Task::new("a\0b", "x"),
            ArgumentError::NulByte {
                field: "function name",
            },
        ),
        (
            Task::new("", "x"),
            ArgumentError::Empty {
                field: "function name",
            },
        ),
        (
            Task::new("f", "x").unique(too_long.as_str()),
            ArgumentError::TooLong {
                field: "unique",
                len: 64,
                max: 63,
            },
        ),
        (
            Task::new("f", "x").unique("a\0"),
            ArgumentError::NulByte { field: "unique" },
        ),
    ];
    for (task, expected) in cases {
        match client.do_task(task) {
            Err(Error::InvalidArgument(error)) => assert_eq!(error, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
    assert!(matches!(
        Client::builder().client_id("has space").build(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn two_servers_share_tasks_round_robin() {
    let first = Gearmand::start();
    let second = Gearmand::start();
    let list = format!("{},{}", first.addr(), second.addr());
    let mut client = Client::new(&list).expect("client");
    for index in 0..20 {
        client
            .do_background("spread", format!("job-{index}"))
            .expect("submit");
    }
    assert_eq!(queued(&first.addr(), "spread"), 10);
    assert_eq!(queued(&second.addr(), "spread"), 10);
}

#[test]
fn unique_hash_routing_matches_the_perl_client() {
    let first = Gearmand::start();
    let second = Gearmand::start();
    let list = format!("{},{}", first.addr(), second.addr());
    let mut client = Client::builder()
        .servers(&list)
        .routing(Routing::UniqueHash)
        .build()
        .expect("client");
    let mut expected = [0u64; 2];
    for index in 0..20 {
        let unique = format!("key-{index}");
        expected[perl_hash(unique.as_bytes()) as usize % 2] += 1;
        let handle = client
            .submit_background(Task::new("hashed", "x").unique(unique.as_str()))
            .expect("submit");
        let want = if perl_hash(unique.as_bytes()) % 2 == 0 {
            first.addr()
        } else {
            second.addr()
        };
        assert_eq!(handle.server().to_string(), want);
    }
    assert_eq!(queued(&first.addr(), "hashed"), expected[0]);
    assert_eq!(queued(&second.addr(), "hashed"), expected[1]);
}

#[test]
fn one_dead_server_of_two_all_tasks_still_complete() {
    let live = Gearmand::start();
    let mut dead = Gearmand::start();
    let dead_addr = dead.addr();
    dead.stop();
    let _worker = reverse_worker(&live.addr());
    let list = format!("{dead_addr},{}", live.addr());
    let mut client = Client::builder()
        .servers(&list)
        .unique_mode(UniqueMode::Random)
        .build()
        .expect("client");
    let mut set = client.task_set();
    for index in 0..50 {
        set.add_task(Task::new("reverse", format!("{index:03}")))
            .expect("add");
    }
    let summary = set.wait(Duration::from_secs(20)).expect("wait");
    assert_eq!(summary.completed.len(), 50, "{summary:?}");
    for id in summary.completed {
        let expected = reversed(format!("{:03}", id.index()).as_bytes());
        assert!(matches!(set.outcome(id), Some(TaskOutcome::Completed(data)) if *data == expected));
    }
}

#[test]
fn no_server_reachable_lists_every_server() {
    let mut client = Client::new("127.0.0.1:1,127.0.0.1:2").expect("client");
    match client.do_normal("f", "x") {
        Err(Error::NoJobServers(failures)) => {
            let servers: Vec<_> = failures.iter().map(|f| f.server.as_str()).collect();
            assert_eq!(servers, ["127.0.0.1:1", "127.0.0.1:2"]);
            assert!(
                failures.iter().all(|f| f.to_string().contains("refused")),
                "{failures:?}"
            );
        }
        other => panic!("expected NoJobServers, got {other:?}"),
    }
}

/// A scripted server (gearmand cannot be made to do this): accepts, then never answers.
fn silent_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let thread = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut sink = [0u8; 4096];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
    });
    (addr, thread)
}

#[test]
fn a_server_that_never_answers_hits_the_deadline() {
    let (addr, _thread) = silent_server();
    let mut client = Client::builder()
        .servers(&addr)
        .probe_timeout(Duration::from_millis(500))
        .job_timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let started = Instant::now();
    let result = client.do_normal("f", "x");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    match result {
        Err(Error::NoJobServers(failures)) => {
            assert!(
                failures[0].to_string().contains("timed out"),
                "{failures:?}"
            )
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
}

/// A scripted server that passes the ECHO probe and then swallows the submission.
#[test]
fn a_submission_without_job_created_is_reported_as_unconfirmed() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let _server = std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let decoder = gearman_sync::protocol::Decoder::new();
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let Ok(read) = stream.read(&mut chunk) else {
                return;
            };
            if read == 0 {
                return;
            }
            buffer.extend_from_slice(&chunk[..read]);
            while let Ok(Some((packet, used))) = decoder.decode(&buffer) {
                buffer.drain(..used);
                let reply = match packet.kind() {
                    gearman_sync::protocol::PacketType::EchoReq => {
                        gearman_sync::protocol::PacketType::EchoRes
                    }
                    gearman_sync::protocol::PacketType::OptionReq => {
                        gearman_sync::protocol::PacketType::OptionRes
                    }
                    _ => continue,
                };
                let answer = gearman_sync::protocol::Packet::new(
                    gearman_sync::protocol::Magic::Response,
                    reply,
                    &[packet.arg(0)],
                )
                .expect("packet");
                stream.write_all(&answer.to_bytes()).ok();
            }
        }
    });
    let mut client = Client::builder()
        .servers(&addr)
        .job_timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let started = Instant::now();
    let result = client.do_normal("f", "x");
    assert!(started.elapsed() < Duration::from_secs(2));
    match result {
        Err(error @ Error::SubmitUnconfirmed { .. }) => assert!(error.may_have_been_submitted()),
        other => panic!("expected SubmitUnconfirmed, got {other:?}"),
    }
}

#[test]
fn ten_thousand_tasks_in_one_task_set() {
    let server = Gearmand::start();
    let _first = reverse_worker(&server.addr());
    let _second = reverse_worker(&server.addr());
    let mut client = Client::builder()
        .servers(&server.addr())
        .unique_mode(UniqueMode::None)
        .build()
        .expect("client");
    let completed = RefCell::new(0usize);
    let mut set = client.task_set();
    let count = 10_000;
    for index in 0..count {
        let completed = &completed;
        set.add_task(
            Task::new("reverse", format!("{index}"))
                .on_complete(move |_| *completed.borrow_mut() += 1),
        )
        .expect("add");
    }
    let summary = set.wait(Duration::from_secs(120)).expect("wait");
    assert_eq!(
        summary.completed.len(),
        count,
        "failed {:?} timed out {:?}",
        summary.failed.len(),
        summary.timed_out.len()
    );
    for id in summary.completed.iter().step_by(97) {
        let expected = reversed(id.index().to_string().as_bytes());
        assert!(
            matches!(set.outcome(*id), Some(TaskOutcome::Completed(data)) if *data == expected)
        );
    }
    drop(set);
    assert_eq!(completed.into_inner(), count);
}

#[test]
fn wait_can_be_resumed_and_abandon_ends_open_tasks_honestly() {
    let server = Gearmand::start();
    let _worker = WorkerThread::spawn(&server.addr(), |worker| {
        worker
            .add_ability("slowish", |job| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(job.workload().to_vec())
            })
            .expect("ability");
    });
    let mut client = Client::new(&server.addr()).expect("client");
    let mut set = client.task_set();
    let id = set.add_task(Task::new("slowish", "kept")).expect("add");
    let orphan = set
        .add_task(Task::new("nobody_serves_this", "x"))
        .expect("add");
    let first = set.wait(Duration::from_millis(50)).expect("wait");
    assert_eq!(first.timed_out, [id, orphan]);
    assert!(
        set.outcome(id).is_none(),
        "a timed-out wait leaves tasks open"
    );
    let second = set.wait(Duration::from_secs(1)).expect("wait again");
    assert_eq!(second.completed, [id]);
    assert_eq!(second.timed_out, [orphan]);
    assert_eq!(set.abandon(), 1);
    assert!(matches!(
        set.outcome(orphan),
        Some(TaskOutcome::Failed(Error::Timeout { .. }))
    ));
    assert_eq!(set.open(), 0);
}

#[test]
fn large_payloads_round_trip_intact_in_both_directions() {
    let server = Gearmand::start();
    let _worker = WorkerThread::spawn(&server.addr(), |worker| {
        worker
            .add_ability("big_reverse", |job| {
                let mut data = job.take_workload();
                data.reverse();
                Ok(data)
            })
            .expect("ability");
    });
    let mut client = Client::builder()
        .servers(&server.addr())
        .unique_mode(UniqueMode::Random)
        .build()
        .expect("client");
    // Sizes around the buffer thresholds: copied through the buffer, and read/written in place;
    // the workload alternately owned by the task and borrowed from the caller.
    for (round, size) in [200 * 1024, 300 * 1024, (1 << 20) + 7, 8 << 20, 300 * 1024]
        .into_iter()
        .enumerate()
    {
        let payload: Vec<u8> = (0..size)
            .map(|index| (index * 7 + index / 251) as u8)
            .collect();
        let result = if round % 2 == 0 {
            client.do_normal("big_reverse", &payload)
        } else {
            client.do_normal("big_reverse", payload.clone())
        }
        .expect("large job");
        assert_eq!(result.len(), size);
        assert!(
            result.iter().rev().eq(payload.iter()),
            "{size} bytes came back reversed"
        );
    }
    assert_eq!(
        client.echo(vec![9u8; 3 << 20]).expect("large echo"),
        vec![9u8; 3 << 20]
    );
}

#[test]
fn add_tasks_batches_writes_and_keeps_what_it_added_before_an_error() {
    let first = Gearmand::start();
    let second = Gearmand::start();
    let list = format!("{},{}", first.addr(), second.addr());
    let _worker = reverse_worker(&list);
    let mut client = Client::builder()
        .servers(&list)
        .unique_mode(UniqueMode::None)
        .build()
        .expect("client");
    let mut set = client.task_set();
    let ids = set
        .add_tasks((0..3000).map(|index| Task::new("reverse", format!("batch-{index}"))))
        .expect("add_tasks");
    assert_eq!(ids.len(), 3000);
    let summary = set.wait(Duration::from_secs(60)).expect("wait");
    assert_eq!(summary.completed.len(), 3000, "{summary:?}");
    for (index, id) in ids.iter().enumerate() {
        let expected = reversed(format!("batch-{index}").as_bytes());
        assert!(
            matches!(set.outcome(*id), Some(TaskOutcome::Completed(data)) if *data == expected)
        );
    }
    let handles: std::collections::HashSet<_> = ids
        .iter()
        .map(|id| set.handle(*id).expect("handle").server().clone())
        .collect();
    assert_eq!(handles.len(), 2, "the batch was spread over both servers");
    drop(set);

    let mut set = client.task_set();
    let tasks = vec![
        Task::new("reverse", "ok-1"),
        Task::new("reverse", "ok-2"),
        Task::new("bad\0name", "x"),
        Task::new("reverse", "never"),
    ];
    match set.add_tasks(tasks) {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("expected the third task to be refused, got {other:?}"),
    }
    assert_eq!(set.len(), 2, "the two tasks before the bad one were added");
    let summary = set.wait(Duration::from_secs(10)).expect("wait");
    assert_eq!(summary.completed.len(), 2);
}

/// A job nobody serves ends at its deadline, not late: the kernel rounds long socket
/// timeouts up (a 3 s `SO_RCVTIMEO` fired up to 255 ms late, a 20 s one 1.8 s late, a 17 s
/// one falls in a level rounded to 0.5-2 s), so no single blocking read is longer than 250 ms.
#[test]
fn a_job_deadline_is_kept_to_within_a_few_milliseconds() {
    let server = Gearmand::start();
    let mut client = Client::builder()
        .servers(&server.addr())
        .job_timeout(Duration::from_secs(17))
        .build()
        .expect("client");
    let started = Instant::now();
    let outcome = client.do_normal("nobody_serves_this", "x");
    let waited = started.elapsed();
    match outcome {
        Err(Error::Timeout {
            waiting_for: gearman_sync::Waiting::JobResult,
            timeout,
        }) => assert!(timeout >= Duration::from_secs(17), "{timeout:?}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_secs(17) && waited < Duration::from_millis(17_150),
        "the 17 s deadline ended after {waited:?}"
    );
}
