//! The sans-IO codec against a real gearmand, over a plain `TcpStream`, and a few checks of the
//! test harness itself.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::raw::Conn;
use common::{admin, assert_version_reply, gearmand_version, parse_status, wait_until, Gearmand};
use gearman_sync::protocol::{Magic, Packet, PacketType};
use gearman_sync::ArgumentError;

#[test]
fn echo_round_trips_binary_data() {
    let gearmand = Gearmand::start();
    let mut conn = Conn::open(&gearmand);
    for data in [
        &b""[..],
        b"\0",
        b"\0\0middle\0\0",
        b"\xff\xfe\x00\x01",
        b"\0REQ\0\0\0\x10",
    ] {
        let reply = conn.echo(data);
        assert_eq!(reply.magic(), Magic::Response);
        assert_eq!(reply.arg(0), data);
    }
    let big: Vec<u8> = (0..1 << 20).map(|index: u32| (index % 251) as u8).collect();
    assert!(big.contains(&0) && big.contains(&0xfa));
    let reply = conn.echo(&big);
    assert_eq!(reply.arg(0).len(), big.len());
    assert!(
        reply.arg(0) == big.as_slice(),
        "1 MiB echo came back changed"
    );
    assert_eq!(conn.echo(b"\xff\xff").arg(0), b"\xff\xff");
}

#[test]
fn pipelined_echos_come_back_in_order() {
    let gearmand = Gearmand::start();
    let mut conn = Conn::open(&gearmand);
    let mut wire = Vec::new();
    for index in 0..50u8 {
        Packet::echo_req(&[0, index, 0xff])
            .expect("echo packet")
            .encode(&mut wire);
    }
    conn.send(&wire);
    for index in 0..50u8 {
        assert_eq!(conn.read_packet().arg(0), [0, index, 0xff]);
    }
}

fn assert_handle_format(handle: &[u8]) {
    let text = std::str::from_utf8(handle).expect("handle is text");
    let parts: Vec<&str> = text.split(':').collect();
    assert!(
        parts.len() == 3
            && parts[0] == "H"
            && !parts[1].is_empty()
            && !parts[2].is_empty()
            && parts[2].bytes().all(|byte| byte.is_ascii_digit()),
        "handle {text:?} is not H:<host>:<number>"
    );
}

#[test]
fn background_submit_gets_a_handle_and_shows_in_status() {
    let gearmand = Gearmand::start();
    assert_eq!(admin(&gearmand.addr(), "status"), ".\n");
    let mut conn = Conn::open(&gearmand);
    let submit = Packet::submit(
        PacketType::SubmitJobBg,
        b"codec_bg",
        b"u-1",
        b"payload\0\xff",
    )
    .expect("submit packet");
    conn.send_packet(&submit);
    let created = conn.read_packet();
    assert_eq!(created.kind(), PacketType::JobCreated);
    assert_handle_format(created.arg(0));
    assert!(
        created.arg(0).ends_with(b":1"),
        "first job of a fresh server"
    );

    let status = parse_status(&admin(&gearmand.addr(), "status"));
    assert_eq!(status, [("codec_bg".to_owned(), 1, 0, 0)]);
    let jobs = admin(&gearmand.addr(), "show jobs");
    let handle = String::from_utf8_lossy(created.arg(0)).into_owned();
    assert!(
        jobs.starts_with(&format!("{handle}\t")),
        "show jobs: {jobs:?}"
    );
    assert_eq!(admin(&gearmand.addr(), "show unique jobs"), "u-1\n.\n");

    // GET_STATUS on the same connection: known, not running.
    conn.send_packet(&Packet::get_status(created.arg(0)).expect("get_status"));
    let status = conn.read_packet();
    assert_eq!(status.kind(), PacketType::StatusRes);
    let fields: Vec<&[u8]> = status.args().collect();
    assert_eq!(fields, [created.arg(0), b"1", b"0", b"0", b"0"]);
}

#[test]
fn admin_version_getpid_and_errors() {
    let gearmand = Gearmand::start();
    let addr = gearmand.addr();
    // `OK <version>\n` (no \r) on every tested version, naming the binary that was started.
    let version = admin(&addr, "version");
    assert_eq!(assert_version_reply(&version), gearmand_version());
    assert!(version.ends_with('\n') && !version.ends_with("\r\n"));
    assert_eq!(admin(&addr, "getpid"), format!("OK {}\n", gearmand.pid()));
    assert_eq!(admin(&addr, "verbose"), "OK INFO\n");
    assert_eq!(
        admin(&addr, "show nothing"),
        "ERR UNKNOWN_SHOW_ARGUMENTS\r\n"
    );
    assert_eq!(
        admin(&addr, "nonsense"),
        "ERR UNKNOWN_COMMAND Unknown+server+commandnonsense\r\n"
    );
    let workers = admin(&addr, "workers");
    assert!(workers.ends_with(".\n"), "workers: {workers:?}");
    assert!(workers.contains(" 127.0.0.1 - :"), "workers: {workers:?}");
}

#[test]
fn text_and_binary_mix_on_one_connection() {
    let gearmand = Gearmand::start();
    let mut conn = Conn::open(&gearmand);
    let mut wire = b"version\r\n".to_vec();
    Packet::echo_req(b"\0between\xff")
        .expect("echo packet")
        .encode(&mut wire);
    wire.extend_from_slice(b"getpid\r\n");
    Packet::echo_req(b"")
        .expect("echo packet")
        .encode(&mut wire);
    conn.send(&wire);

    assert_eq!(assert_version_reply(&conn.read_line()), gearmand_version());
    assert_eq!(conn.read_packet().arg(0), b"\0between\xff");
    assert_eq!(conn.read_line(), format!("OK {}\n", gearmand.pid()));
    let last = conn.read_packet();
    assert_eq!(last.kind(), PacketType::EchoRes);
    assert_eq!(last.arg(0), b"");
}

#[test]
fn unique_of_64_bytes_is_refused_before_sending() {
    // gearmand silently cuts a 64-byte unique to 63 bytes (PROTOCOL.md 1.4), so the codec
    // refuses it and nothing reaches the server.
    let refused = Packet::submit(PacketType::SubmitJobBg, b"codec_unique", &[b'u'; 64], b"");
    assert_eq!(
        refused,
        Err(ArgumentError::TooLong {
            field: "unique",
            len: 64,
            max: 63
        })
    );
    assert!(Packet::submit(PacketType::SubmitJob, b"codec_unique", &[b'u'; 64], b"").is_err());

    // 63 bytes are the practical maximum, and gearmand keeps them intact.
    let gearmand = Gearmand::start();
    let mut conn = Conn::open(&gearmand);
    let unique = [b'u'; 63];
    let submit = Packet::submit(PacketType::SubmitJobBg, b"codec_unique", &unique, b"x")
        .expect("63-byte unique is accepted");
    conn.send_packet(&submit);
    assert_eq!(conn.read_packet().kind(), PacketType::JobCreated);
    let uniques = admin(&gearmand.addr(), "show unique jobs");
    assert_eq!(uniques, format!("{}\n.\n", "u".repeat(63)));
}

#[test]
fn harness_gives_each_gearmand_its_own_port() {
    let first = Gearmand::start();
    let second = Gearmand::start();
    assert_ne!(first.port(), second.port());
    assert_ne!(first.pid(), second.pid());
    assert_ne!(first.dir(), second.dir());
    assert_eq!(first.addr(), format!("127.0.0.1:{}", first.port()));
    for gearmand in [&first, &second] {
        let reply = admin(&gearmand.addr(), "getpid");
        assert_eq!(reply, format!("OK {}\n", gearmand.pid()));
        assert!(gearmand.log_contents().contains("Listening on"));
    }
}

fn refuses(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("address");
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
}

#[test]
fn harness_stop_and_restart_keep_the_port() {
    let mut gearmand = Gearmand::start();
    let (port, old_pid) = (gearmand.port(), gearmand.pid());
    gearmand.stop();
    assert!(!gearmand.is_running());
    assert!(refuses(&gearmand.addr()), "port {port} still accepts");
    gearmand.stop(); // idempotent

    gearmand.restart();
    assert_eq!(gearmand.port(), port);
    assert_ne!(gearmand.pid(), old_pid);
    assert!(gearmand.is_running());
    let reply = admin(&gearmand.addr(), "getpid");
    assert_eq!(reply, format!("OK {}\n", gearmand.pid()));

    let dir = gearmand.dir().to_owned();
    let addr = gearmand.addr();
    drop(gearmand);
    assert!(refuses(&addr), "dropped gearmand still accepts");
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

#[test]
fn harness_restart_keeps_a_sqlite_queue() {
    let mut gearmand = Gearmand::builder().sqlite_queue().start();
    let mut conn = Conn::open(&gearmand);
    let submit = Packet::submit(PacketType::SubmitJobBg, b"codec_persist", b"p-1", b"kept")
        .expect("submit packet");
    conn.send_packet(&submit);
    assert_eq!(conn.read_packet().kind(), PacketType::JobCreated);
    drop(conn);
    assert!(gearmand.sqlite_db().is_file());

    gearmand.restart();
    let addr = gearmand.addr();
    wait_until(Duration::from_secs(5), || {
        parse_status(&admin(&addr, "status")) == [("codec_persist".to_owned(), 1, 0, 0)]
    });
    assert_eq!(admin(&addr, "show unique jobs"), "p-1\n.\n");
}

#[test]
fn harness_passes_extra_arguments() {
    let gearmand = Gearmand::builder()
        .args(&["--job-handle-prefix", "T"])
        .verbose("DEBUG")
        .start();
    assert_eq!(admin(&gearmand.addr(), "verbose"), "OK DEBUG\n");
    let mut conn = Conn::open(&gearmand);
    conn.send_packet(&Packet::submit(PacketType::SubmitJobBg, b"f", b"a", b"").expect("packet"));
    assert_eq!(conn.read_packet().arg(0), b"T:1");
}

#[test]
fn harness_gearman_cli_talks_to_the_private_gearmand() {
    let gearmand = Gearmand::start();
    let port = gearmand.port().to_string();
    let output = std::process::Command::new(common::gearman_cli())
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-f",
            "codec_cli",
            "-b",
            "--",
            "data",
        ])
        .output()
        .expect("run the gearman CLI");
    assert!(output.status.success(), "gearman CLI: {output:?}");
    let status = parse_status(&admin(&gearmand.addr(), "status"));
    assert_eq!(status, [("codec_cli".to_owned(), 1, 0, 0)]);
}

#[test]
#[should_panic(expected = "condition still false")]
fn harness_wait_until_panics_on_timeout() {
    wait_until(Duration::from_millis(30), || false);
}
