//! Table tests for the admin commands and the reply parser.

use super::parse::*;
use super::*;
use crate::protocol::error::ProtocolError;

fn all_commands() -> Vec<AdminCommand> {
    vec![
        AdminCommand::Status,
        AdminCommand::PriorityStatus,
        AdminCommand::Workers,
        AdminCommand::ShowJobs,
        AdminCommand::ShowUniqueJobs,
        AdminCommand::CancelJob(b"H:vm:1".to_vec()),
        AdminCommand::CreateFunction(b"cf2".to_vec()),
        AdminCommand::DropFunction(b"cf2".to_vec()),
        AdminCommand::MaxQueue {
            function: b"rev".to_vec(),
            limit: MaxQueue::All(5),
        },
        AdminCommand::GetPid,
        AdminCommand::Verbose,
        AdminCommand::Version,
    ]
}

fn status(name: &str, total: u64, running: u64, available_workers: u64) -> FunctionStatus {
    FunctionStatus {
        name: name.into(),
        total,
        running,
        available_workers,
    }
}

fn worker(fd: i64, ip: &str, client_id: Option<&str>, functions: &[&str]) -> WorkerInfo {
    WorkerInfo {
        fd,
        ip: ip.into(),
        client_id: client_id.map(Into::into),
        functions: functions.iter().map(|&name| name.into()).collect(),
    }
}

fn job(handle: &str, retries: u64, ignore_job: bool, job_queued: bool) -> JobInfo {
    JobInfo {
        handle: handle.into(),
        retries,
        ignore_job,
        job_queued,
    }
}

fn err(code: &str, message: &str) -> AdminReply {
    AdminReply::Err {
        code: code.into(),
        message: message.into(),
    }
}

/// Parses a complete reply, checking that every strict prefix asks for more bytes, that the
/// whole input is used, and that bytes after the reply are left alone.
fn parse_complete(command: &AdminCommand, wire: &[u8]) -> AdminReply {
    let parser = AdminParser::new();
    for cut in 0..wire.len() {
        assert_eq!(
            parser.parse(command, &wire[..cut]),
            Ok(None),
            "prefix of {} bytes of {:?}",
            cut,
            String::from_utf8_lossy(wire)
        );
    }
    let (reply, used) = parser
        .parse(command, wire)
        .expect("valid reply")
        .expect("complete reply");
    assert_eq!(used, wire.len(), "{:?}", String::from_utf8_lossy(wire));
    let mut longer = wire.to_vec();
    longer.extend_from_slice(b"OK\r\nrest");
    assert_eq!(
        parser.parse(command, &longer),
        Ok(Some((reply.clone(), used)))
    );
    reply
}

fn malformed_reason(result: Result<Option<(AdminReply, usize)>, ProtocolError>) -> String {
    match result {
        Err(ProtocolError::MalformedAdminReply { line, .. }) => line,
        other => panic!("expected MalformedAdminReply, got {other:?}"),
    }
}

#[test]
fn list_replies_as_gearmand_sends_them() {
    use AdminCommand::*;
    let table: Vec<(AdminCommand, &[u8], AdminReply)> = vec![
        (Status, b".\n", AdminReply::Status(vec![])),
        (PriorityStatus, b".\n", AdminReply::PriorityStatus(vec![])),
        (Workers, b".\n", AdminReply::Workers(vec![])),
        (ShowJobs, b".\n", AdminReply::Jobs(vec![])),
        (ShowUniqueJobs, b".\n", AdminReply::UniqueJobs(vec![])),
        (
            Status,
            b"rev\t0\t0\t1\n.\n",
            AdminReply::Status(vec![status("rev", 0, 0, 1)]),
        ),
        // Captured from gearmand 1.1.20+ds.
        (
            Status,
            b"fun with space\t1\t0\t1\nrev\t2\t0\t1\n.\n",
            AdminReply::Status(vec![
                status("fun with space", 1, 0, 1),
                status("rev", 2, 0, 1),
            ]),
        ),
        (
            Status,
            b"a\tb\t7\t3\t18446744073709551615\n.\n",
            AdminReply::Status(vec![status("a\tb", 7, 3, u64::MAX)]),
        ),
        (
            PriorityStatus,
            b"fun with space\t1\t0\t0\t1\nrev\t0\t2\t0\t1\n.\n",
            AdminReply::PriorityStatus(vec![
                FunctionPriorityStatus {
                    name: "fun with space".into(),
                    high: 1,
                    normal: 0,
                    low: 0,
                    available_workers: 1,
                },
                FunctionPriorityStatus {
                    name: "rev".into(),
                    high: 0,
                    normal: 2,
                    low: 0,
                    available_workers: 1,
                },
            ]),
        ),
        (
            Workers,
            b"40 127.0.0.1 - :\n38 127.0.0.1 worker-1 : rev cf2\n39 127.0.0.1 - :\n.\n",
            AdminReply::Workers(vec![
                worker(40, "127.0.0.1", None, &[]),
                worker(38, "127.0.0.1", Some("worker-1"), &["rev", "cf2"]),
                worker(39, "127.0.0.1", None, &[]),
            ]),
        ),
        // A trailing space, an IPv6 peer, and a name with spaces (indistinguishable).
        (
            Workers,
            b"7 ::1 w : \n8 ::1 w : fun with space\n.\n",
            AdminReply::Workers(vec![
                worker(7, "::1", Some("w"), &[]),
                worker(8, "::1", Some("w"), &["fun", "with", "space"]),
            ]),
        ),
        (
            Workers,
            b"-1 127.0.0.1 - : rev\n.\n",
            AdminReply::Workers(vec![worker(-1, "127.0.0.1", None, &["rev"])]),
        ),
        (
            ShowJobs,
            b"H:vm:1\t0\t1\t0\nH:vm:2\t0\t0\t1\nH:vm:3\t2\t0\t0\n.\n",
            AdminReply::Jobs(vec![
                job("H:vm:1", 0, true, false),
                job("H:vm:2", 0, false, true),
                job("H:vm:3", 2, false, false),
            ]),
        ),
        (
            ShowUniqueJobs,
            b"\n\nu1\n.\n",
            AdminReply::UniqueJobs(vec!["".into(), "".into(), "u1".into()]),
        ),
        // A unique that looks like ERR but ends in a bare LF is still a unique.
        (
            ShowUniqueJobs,
            b"ERR lookalike\n.\n",
            AdminReply::UniqueJobs(vec!["ERR lookalike".into()]),
        ),
        // A function named like an ERR line still has TABs.
        (
            Status,
            b"ERR x\t0\t0\t0\n.\n",
            AdminReply::Status(vec![status("ERR x", 0, 0, 0)]),
        ),
        // Tolerated CRLF line endings, also on the final dot.
        (
            Status,
            b"rev\t0\t0\t1\r\n.\r\n",
            AdminReply::Status(vec![status("rev", 0, 0, 1)]),
        ),
        (
            ShowUniqueJobs,
            b"u1\r\n\r\n.\r\n",
            AdminReply::UniqueJobs(vec!["u1".into(), "".into()]),
        ),
        // Invalid UTF-8 is replaced, not refused.
        (
            ShowUniqueJobs,
            b"\xff\n.\n",
            AdminReply::UniqueJobs(vec!["\u{fffd}".into()]),
        ),
        // List commands answered with ERR (gearmand does this for `show` variants).
        (
            ShowJobs,
            b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n",
            err("UNKNOWN_SHOW_ARGUMENTS", ""),
        ),
        (
            ShowUniqueJobs,
            b"ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\n",
            err("UNKNOWN_COMMAND", "Unknown server commandshow"),
        ),
        (
            Status,
            b"ERR UNKNOWN_COMMAND Unknown+server+commandstatus\r\n",
            err("UNKNOWN_COMMAND", "Unknown server commandstatus"),
        ),
        (Workers, b"ERR X\n", err("X", "")),
    ];
    for (command, wire, expected) in table {
        assert_eq!(command.reply_shape(), ReplyShape::List);
        assert_eq!(
            parse_complete(&command, wire),
            expected,
            "{command:?} {:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn line_replies_as_gearmand_sends_them() {
    let cancel = AdminCommand::CancelJob(b"H:vm:1".to_vec());
    let create = AdminCommand::CreateFunction(b"cf2".to_vec());
    let drop = AdminCommand::DropFunction(b"cf2".to_vec());
    let maxqueue = AdminCommand::MaxQueue {
        function: b"rev".to_vec(),
        limit: MaxQueue::All(0),
    };
    let table: Vec<(&AdminCommand, &[u8], AdminReply)> = vec![
        (&cancel, b"OK\r\n", AdminReply::Ok),
        (&create, b"OK\r\n", AdminReply::Ok),
        (&drop, b"OK\r\n", AdminReply::Ok),
        (&maxqueue, b"OK\r\n", AdminReply::Ok),
        (&maxqueue, b"OK\n", AdminReply::Ok),
        (&AdminCommand::GetPid, b"OK 22471\n", AdminReply::Pid(22471)),
        (
            &AdminCommand::GetPid,
            b"OK 4294967295\r\n",
            AdminReply::Pid(u32::MAX),
        ),
        (
            &AdminCommand::Verbose,
            b"OK ERROR\n",
            AdminReply::Verbose("ERROR".into()),
        ),
        (
            &AdminCommand::Version,
            b"OK 1.1.20+ds\n",
            AdminReply::Version("1.1.20+ds".into()),
        ),
        (
            &AdminCommand::Version,
            b"OK 1.1.20+ds\r\n",
            AdminReply::Version("1.1.20+ds".into()),
        ),
        (&cancel, b"ERR UNKNOWN_JOB\r\n", err("UNKNOWN_JOB", "")),
        (&cancel, b"ERR UNKNOWN_ERROR\r\n", err("UNKNOWN_ERROR", "")),
        (
            &AdminCommand::Version,
            b"ERR UNKNOWN_COMMAND Unknown+server+commandfoo\r\n",
            err("UNKNOWN_COMMAND", "Unknown server commandfoo"),
        ),
        (
            &create,
            b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n",
            err(
                "INVALID_ARGUMENTS",
                "An incomplete set of arguments was sent to this command create",
            ),
        ),
        // gearmand's drop function errors have no code word.
        (
            &drop,
            b"ERR function not found\r\n",
            err("function", "not found"),
        ),
        (
            &drop,
            b"ERR there are still connected workers or executing clients\r\n",
            err("there", "are still connected workers or executing clients"),
        ),
        (&AdminCommand::GetPid, b"ERR X a+b\n", err("X", "a b")),
    ];
    for (command, wire, expected) in table {
        assert_eq!(command.reply_shape(), ReplyShape::Line);
        assert_eq!(
            parse_complete(command, wire),
            expected,
            "{command:?} {:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn pipelined_replies() {
    let parser = AdminParser::new();
    let wire = b"rev\t0\t0\t1\n.\nOK 1.1.20+ds\n.\nOK\r\n";
    let (first, used) = parser.parse(&AdminCommand::Status, wire).unwrap().unwrap();
    assert_eq!(first, AdminReply::Status(vec![status("rev", 0, 0, 1)]));
    assert_eq!(used, 12);
    let rest = &wire[used..];
    let (second, used2) = parser.parse(&AdminCommand::Version, rest).unwrap().unwrap();
    assert_eq!(second, AdminReply::Version("1.1.20+ds".into()));
    let rest = &rest[used2..];
    let (third, used3) = parser.parse(&AdminCommand::Workers, rest).unwrap().unwrap();
    assert_eq!(third, AdminReply::Workers(vec![]));
    let rest = &rest[used3..];
    let cancel = AdminCommand::CancelJob(b"H:x:1".to_vec());
    assert_eq!(parser.parse(&cancel, rest), Ok(Some((AdminReply::Ok, 4))));
}

#[test]
fn line_too_long_is_reported_early() {
    let parser = AdminParser::new().with_max_line(16);
    let too_long = Err(ProtocolError::AdminLineTooLong { max: 16 });
    // A list without its final dot, then a line longer than the cap: no newline needed.
    let mut wire = b"rev\t0\t0\t1\n".to_vec();
    wire.extend_from_slice(&[b'x'; 16]);
    assert_eq!(parser.parse(&AdminCommand::ShowUniqueJobs, &wire), Ok(None));
    wire.push(b'x');
    assert_eq!(parser.parse(&AdminCommand::ShowUniqueJobs, &wire), too_long);
    wire.push(b'\n');
    assert_eq!(parser.parse(&AdminCommand::ShowUniqueJobs, &wire), too_long);
    // A single-line reply.
    let mut version = b"OK ".to_vec();
    version.extend_from_slice(&[b'9'; 13]);
    assert_eq!(parser.parse(&AdminCommand::Version, &version), Ok(None));
    version.push(b'\r'); // a \r counts; only the \n does not
    assert_eq!(parser.parse(&AdminCommand::Version, &version), too_long);
    version.pop();
    version.push(b'\n'); // exactly 16 bytes before the \n is fine
    assert!(matches!(
        parser.parse(&AdminCommand::Version, &version),
        Ok(Some((AdminReply::Version(_), 17)))
    ));
    // The default cap is 1 MiB.
    let huge = vec![b'a'; DEFAULT_MAX_LINE + 1];
    assert_eq!(
        AdminParser::new().parse(&AdminCommand::ShowUniqueJobs, &huge),
        Err(ProtocolError::AdminLineTooLong {
            max: DEFAULT_MAX_LINE
        })
    );
}

#[test]
fn reply_too_large_is_reported_early() {
    let parser = AdminParser::new().with_max_reply(20);
    let too_large = Err(ProtocolError::AdminReplyTooLarge { max: 20 });
    let command = AdminCommand::ShowUniqueJobs;
    // Exactly 20 bytes including the final ".\n" is fine.
    let exact = b"aaaaaaaa\nbbbbbbbb\n.\n";
    assert_eq!(exact.len(), 20);
    assert!(matches!(
        parser.parse(&command, exact),
        Ok(Some((AdminReply::UniqueJobs(_), 20)))
    ));
    // Reported as soon as the smallest possible rest of the list no longer fits:
    // 19 bytes of data lines, and the end needs at least ".\n".
    assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbbb\n"), too_large);
    assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbb\n"), Ok(None));
    assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbb\n."), Ok(None));
    assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbb\n.x"), too_large);
    // An unfinished data line needs its "\n" and then ".\n".
    assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbb"), Ok(None));
    assert_eq!(parser.parse(&command, b"aaaaaaaaa\nbbbbbbbb"), too_large);
    // A first line that may be an ERR line needs only its "\n".
    let parser = AdminParser::new().with_max_reply(6);
    assert_eq!(parser.parse(&AdminCommand::Status, b"ERR X"), Ok(None));
    assert_eq!(
        parser.parse(&AdminCommand::Status, b"ERR X\n"),
        Ok(Some((err("X", ""), 6)))
    );
    assert_eq!(
        parser.parse(&AdminCommand::Status, b"rev\t0"),
        Err(ProtocolError::AdminReplyTooLarge { max: 6 })
    );
    // Single-line replies obey the reply cap too.
    let parser = AdminParser::new().with_max_reply(4);
    assert_eq!(
        parser.parse(&AdminCommand::CreateFunction(b"f".to_vec()), b"OK\r\n"),
        Ok(Some((AdminReply::Ok, 4)))
    );
    assert_eq!(
        parser.parse(&AdminCommand::Version, b"OK 1.1.20+ds\n"),
        Err(ProtocolError::AdminReplyTooLarge { max: 4 })
    );
}

#[test]
fn malformed_lines() {
    let parser = AdminParser::new();
    let cases: Vec<(AdminCommand, &[u8])> = vec![
        (AdminCommand::Status, b"rev\tx\t0\t1\n.\n"),
        (AdminCommand::Status, b"rev\t0\t0\n.\n"),
        (AdminCommand::Status, b"rev\t-1\t0\t1\n.\n"),
        (AdminCommand::Status, b"rev\t0\t0\t 1\n.\n"),
        (AdminCommand::Status, b"rev\t0\t0\t1\t\n.\n"),
        (
            AdminCommand::Status,
            b"rev\t18446744073709551616\t0\t1\n.\n",
        ),
        (AdminCommand::Status, b"OK\r\n"),
        (AdminCommand::Status, b"ERR\r\n"),
        (AdminCommand::PriorityStatus, b"rev\t0\t0\t1\n.\n"),
        (AdminCommand::ShowJobs, b"H:vm:1\t0\t2\t0\n.\n"),
        (AdminCommand::ShowJobs, b"H:vm:1\t0\t0\n.\n"),
        (AdminCommand::Workers, b"40 127.0.0.1 -\n.\n"),
        (
            AdminCommand::Workers,
            b"40 127.0.0.1 - : \n40 127.0.0.1 - x\n.\n",
        ),
        (AdminCommand::Workers, b"40 127.0.0.1 - :rev\n.\n"),
        (AdminCommand::Workers, b"fd 127.0.0.1 - :\n.\n"),
        (
            AdminCommand::Workers,
            b"99999999999999999999 127.0.0.1 - :\n.\n",
        ),
        (AdminCommand::Workers, b"40  - :\n.\n"),
        (AdminCommand::Workers, b"ERR\r\n"),
        (AdminCommand::Workers, b"ERR  two+spaces\r\n"),
        (AdminCommand::GetPid, b"OK abc\n"),
        (AdminCommand::GetPid, b"OK 4294967296\n"),
        (AdminCommand::GetPid, b"OK\r\n"),
        (AdminCommand::Version, b"OK\n"),
        (AdminCommand::Version, b"OK \n"),
        (AdminCommand::Verbose, b"INFO\n"),
        (AdminCommand::CancelJob(b"H:vm:1".to_vec()), b"OK done\r\n"),
        (AdminCommand::CancelJob(b"H:vm:1".to_vec()), b"\r\n"),
        (AdminCommand::CancelJob(b"H:vm:1".to_vec()), b"ERR\r\n"),
    ];
    for (command, wire) in cases {
        malformed_reason(parser.parse(&command, wire));
    }
    // A bad line is reported as soon as it is complete, before the list ends.
    let line = malformed_reason(parser.parse(&AdminCommand::Status, b"rev\tjunk\t0\t1\n"));
    assert_eq!(line, "rev\tjunk\t0\t1");
    assert_eq!(
        parser.parse(&AdminCommand::Status, b"rev\tjunk\t0\t1"),
        Ok(None)
    );
    // The offending line is cut to 200 bytes.
    let mut long = vec![b'x'; 500];
    long.push(b'\n');
    let line = malformed_reason(parser.parse(&AdminCommand::Status, &long));
    assert_eq!(line, "x".repeat(200));
}

#[test]
fn encodes_every_command() {
    let table: Vec<(AdminCommand, &[u8])> = vec![
        (AdminCommand::Status, b"status\r\n"),
        (AdminCommand::PriorityStatus, b"prioritystatus\r\n"),
        (AdminCommand::Workers, b"workers\r\n"),
        (AdminCommand::ShowJobs, b"show jobs\r\n"),
        (AdminCommand::ShowUniqueJobs, b"show unique jobs\r\n"),
        (
            AdminCommand::CancelJob(b"H:vm:1".to_vec()),
            b"cancel job H:vm:1\r\n",
        ),
        (
            AdminCommand::CreateFunction(b"cf2".to_vec()),
            b"create function cf2\r\n",
        ),
        (
            AdminCommand::DropFunction("r\u{e9}v".into()),
            "drop function r\u{e9}v\r\n".as_bytes(),
        ),
        (
            AdminCommand::MaxQueue {
                function: b"rev".to_vec(),
                limit: MaxQueue::All(5),
            },
            b"maxqueue rev 5\r\n",
        ),
        (
            AdminCommand::MaxQueue {
                function: b"rev".to_vec(),
                limit: MaxQueue::All(0),
            },
            b"maxqueue rev 0\r\n",
        ),
        (
            AdminCommand::MaxQueue {
                function: b"rev".to_vec(),
                limit: MaxQueue::PerPriority {
                    high: 1,
                    normal: -2,
                    low: i32::MIN,
                },
            },
            b"maxqueue rev 1 -2 -2147483648\r\n",
        ),
        (AdminCommand::GetPid, b"getpid\r\n"),
        (AdminCommand::Verbose, b"verbose\r\n"),
        (AdminCommand::Version, b"version\r\n"),
    ];
    let mut all = Vec::new();
    for (command, expected) in &table {
        let mut buf = b"prefix".to_vec();
        command.encode(&mut buf).unwrap();
        assert_eq!(&buf[6..], *expected);
        command.encode(&mut all).unwrap();
    }
    let joined: Vec<u8> = table.iter().flat_map(|(_, line)| line.to_vec()).collect();
    assert_eq!(all, joined);
    assert_eq!(all_commands().len(), 12);
    for command in all_commands() {
        let mut buf = Vec::new();
        command.encode(&mut buf).unwrap();
        assert!(buf.ends_with(b"\r\n"));
    }
}

#[test]
fn refuses_bad_arguments() {
    let refused: Vec<(AdminCommand, ArgumentError)> = vec![
        (
            AdminCommand::CreateFunction(b"two words".to_vec()),
            ArgumentError::InvalidByte {
                field: "function name",
                byte: b' ',
            },
        ),
        (
            AdminCommand::DropFunction(b"f\n".to_vec()),
            ArgumentError::InvalidByte {
                field: "function name",
                byte: b'\n',
            },
        ),
        (
            AdminCommand::DropFunction(b"f\rx".to_vec()),
            ArgumentError::InvalidByte {
                field: "function name",
                byte: b'\r',
            },
        ),
        (
            AdminCommand::CancelJob(b"H:\tvm".to_vec()),
            ArgumentError::InvalidByte {
                field: "job handle",
                byte: b'\t',
            },
        ),
        (
            AdminCommand::CancelJob(b"H\x7f".to_vec()),
            ArgumentError::InvalidByte {
                field: "job handle",
                byte: 0x7f,
            },
        ),
        (
            AdminCommand::CreateFunction(b"a\x01".to_vec()),
            ArgumentError::InvalidByte {
                field: "function name",
                byte: 1,
            },
        ),
        (
            AdminCommand::CreateFunction(b"a b\0".to_vec()),
            ArgumentError::NulByte {
                field: "function name",
            },
        ),
        (
            AdminCommand::CreateFunction(Vec::new()),
            ArgumentError::Empty {
                field: "function name",
            },
        ),
        (
            AdminCommand::CancelJob(Vec::new()),
            ArgumentError::Empty {
                field: "job handle",
            },
        ),
        (
            AdminCommand::MaxQueue {
                function: b"my fn".to_vec(),
                limit: MaxQueue::All(1),
            },
            ArgumentError::InvalidByte {
                field: "function name",
                byte: b' ',
            },
        ),
    ];
    for (command, expected) in refused {
        let mut buf = b"kept".to_vec();
        assert_eq!(command.encode(&mut buf), Err(expected), "{command:?}");
        assert_eq!(buf, b"kept");
    }
}

#[test]
fn line_length_limit() {
    // gearmand 1.1.20 accepts 8192 bytes including \r\n and drops the connection at 8193.
    let prefix = b"create function ".len() + 2;
    let fits = AdminCommand::CreateFunction(vec![b'f'; MAX_COMMAND_LINE - prefix]);
    let mut buf = Vec::new();
    fits.encode(&mut buf).unwrap();
    assert_eq!(buf.len(), MAX_COMMAND_LINE);

    let too_long = AdminCommand::CreateFunction(vec![b'f'; MAX_COMMAND_LINE - prefix + 1]);
    let mut buf = b"kept".to_vec();
    assert_eq!(
        too_long.encode(&mut buf),
        Err(ArgumentError::TooLong {
            field: "admin command line",
            len: MAX_COMMAND_LINE + 1,
            max: MAX_COMMAND_LINE,
        })
    );
    assert_eq!(buf, b"kept");

    let per_priority = |len: usize| AdminCommand::MaxQueue {
        function: vec![b'f'; len],
        limit: MaxQueue::PerPriority {
            high: -1,
            normal: -1,
            low: -1,
        },
    };
    let overhead = b"maxqueue  -1 -1 -1\r\n".len();
    let mut buf = Vec::new();
    per_priority(MAX_COMMAND_LINE - overhead)
        .encode(&mut buf)
        .unwrap();
    assert_eq!(buf.len(), MAX_COMMAND_LINE);
    assert!(matches!(
        per_priority(MAX_COMMAND_LINE - overhead + 1).encode(&mut Vec::new()),
        Err(ArgumentError::TooLong { .. })
    ));
}

#[test]
fn reply_shapes() {
    let shapes: Vec<ReplyShape> = all_commands()
        .iter()
        .map(AdminCommand::reply_shape)
        .collect();
    let mut expected = vec![ReplyShape::List; 5];
    expected.extend([ReplyShape::Line; 7]);
    assert_eq!(shapes, expected);
}

#[test]
fn parser_settings() {
    let parser = AdminParser::default();
    assert_eq!(parser, AdminParser::new());
    assert_eq!(parser.max_line(), 1 << 20);
    assert_eq!(parser.max_reply(), 64 << 20);
    let tuned = parser.with_max_line(10).with_max_reply(100);
    assert_eq!((tuned.max_line(), tuned.max_reply()), (10, 100));
    // Zero caps refuse everything instead of panicking.
    let zero_line = AdminParser::new().with_max_line(0);
    let zero_reply = AdminParser::new().with_max_reply(0);
    for command in all_commands() {
        assert_eq!(zero_line.parse(&command, b""), Ok(None));
        assert!(zero_line.parse(&command, b"x").is_err());
        assert!(zero_line.parse(&command, b"OK\r\n").is_err());
        assert!(zero_reply.parse(&command, b"").is_err());
    }
    assert_eq!(
        AdminParser::new()
            .with_max_line(usize::MAX)
            .with_max_reply(usize::MAX)
            .parse(&AdminCommand::Status, b".\n"),
        Ok(Some((AdminReply::Status(vec![]), 2)))
    );
}

/// Deterministic random inputs built from reply fragments: no panics, and the invariants
/// the fuzz target checks.
#[test]
fn random_inputs_keep_invariants() {
    let fragments: &[&[u8]] = &[
        b"\n",
        b"\r\n",
        b".",
        b".\n",
        b"\t",
        b" ",
        b":",
        b"-",
        b"0",
        b"1",
        b"42",
        b"ERR",
        b"ERR ",
        b"OK",
        b"OK ",
        b"+",
        b"rev",
        b"127.0.0.1",
        b"\xff",
        b"99999999999999999999",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let parser = AdminParser::new().with_max_line(24).with_max_reply(96);
    let commands = all_commands();
    let (mut complete, mut failed) = (0, 0);
    for _ in 0..50_000 {
        let mut input = Vec::new();
        for _ in 0..next() % 16 {
            input.extend_from_slice(fragments[(next() % fragments.len() as u64) as usize]);
        }
        let command = &commands[(next() % 12) as usize];
        let result = parser.parse(command, &input);
        assert_eq!(result, parser.parse(command, &input));
        failed += usize::from(result.is_err());
        if let Ok(Some((reply, used))) = &result {
            complete += 1;
            assert!(*used > 0 && *used <= input.len());
            assert_eq!(
                parser.parse(command, &input[..*used]),
                Ok(Some((reply.clone(), *used)))
            );
            for cut in 0..*used {
                assert_eq!(parser.parse(command, &input[..cut]), Ok(None));
            }
        }
    }
    // The generator must reach both outcomes, or the test proves little.
    assert!(complete > 1_000 && failed > 1_000, "{complete} {failed}");
}
