//! Table tests for the binary codec: the worked examples of PROTOCOL.md section 8 byte for byte,
//! a round trip of all 42 packet types, incremental (split and pipelined) input, and every
//! rejection as its exact typed error.

use super::error::{ArgumentError, ProtocolError};
use super::validate::{MAX_FUNCTION_LEN, MAX_HANDLE_LEN, MAX_UNIQUE_LEN};
use super::{
    encode_to, parse_decimal, Decoder, Header, Magic, Packet, PacketType, DEFAULT_MAX_BODY_LEN,
    HEADER_LEN,
};

/// Builds a packet's wire bytes by hand: magic, big-endian type and length, body.
fn wire(magic: &[u8; 4], code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Decodes exactly one packet that fills `bytes`.
fn decode_whole(decoder: Decoder, bytes: &[u8]) -> Packet {
    let (packet, used) = decoder
        .decode(bytes)
        .expect("valid packet")
        .expect("complete packet");
    assert_eq!(used, bytes.len(), "bytes used");
    packet
}

fn args_of(packet: &Packet) -> Vec<Vec<u8>> {
    packet.args().map(<[u8]>::to_vec).collect()
}

fn owned(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|arg| arg.to_vec()).collect()
}

// ---------------------------------------------------------------------------------------------
// PROTOCOL.md section 8 (and the other byte examples of sections 1.2 and 7)
// ---------------------------------------------------------------------------------------------

/// One worked example: exact wire bytes, and the packet they stand for.
struct Example {
    name: &'static str,
    bytes: &'static [u8],
    magic: Magic,
    kind: PacketType,
    args: &'static [&'static [u8]],
}

const EXAMPLES: &[Example] = &[
    Example {
        name: "SUBMIT_JOB reverse",
        bytes: b"\x00\x52\x45\x51\x00\x00\x00\x07\x00\x00\x00\x0d\x72\x65\x76\x65\x72\x73\x65\x00\x00\x74\x65\x73\x74",
        magic: Magic::Request,
        kind: PacketType::SubmitJob,
        args: &[b"reverse", b"", b"test"],
    },
    Example {
        name: "SUBMIT_JOB f, no unique, empty data (section 1.2)",
        bytes: b"\0REQ\0\0\0\x07\0\0\0\x03f\0\0",
        magic: Magic::Request,
        kind: PacketType::SubmitJob,
        args: &[b"f", b"", b""],
    },
    Example {
        name: "JOB_CREATED",
        bytes: b"\x00\x52\x45\x53\x00\x00\x00\x08\x00\x00\x00\x06\x48\x3a\x76\x6d\x3a\x31",
        magic: Magic::Response,
        kind: PacketType::JobCreated,
        args: &[b"H:vm:1"],
    },
    Example {
        name: "JOB_ASSIGN_UNIQ",
        bytes: b"\0RES\0\0\0\x1f\0\0\0\x12H:vm:1\0rev\0u1\0test",
        magic: Magic::Response,
        kind: PacketType::JobAssignUniq,
        args: &[b"H:vm:1", b"rev", b"u1", b"test"],
    },
    Example {
        name: "JOB_ASSIGN_UNIQ with empty unique (section 7.5)",
        bytes: b"\0RES\0\0\0\x1f\0\0\0\x10H:vm:2\0rev\0\0data",
        magic: Magic::Response,
        kind: PacketType::JobAssignUniq,
        args: &[b"H:vm:2", b"rev", b"", b"data"],
    },
    Example {
        name: "WORK_STATUS forwarded to the client",
        bytes: b"\0RES\0\0\0\x0c\0\0\0\x0aH:vm:1\x001\x004",
        magic: Magic::Response,
        kind: PacketType::WorkStatus,
        args: &[b"H:vm:1", b"1", b"4"],
    },
    Example {
        name: "STATUS_RES",
        bytes: b"\0RES\0\0\0\x14\0\0\0\x0eH:vm:1\x001\x001\x001\x004",
        magic: Magic::Response,
        kind: PacketType::StatusRes,
        args: &[b"H:vm:1", b"1", b"1", b"1", b"4"],
    },
    Example {
        name: "STATUS_RES_UNIQUE",
        bytes: b"\0RES\0\0\0\x2a\0\0\0\x0cu1\x001\x001\x001\x004\x001",
        magic: Magic::Response,
        kind: PacketType::StatusResUnique,
        args: &[b"u1", b"1", b"1", b"1", b"4", b"1"],
    },
    Example {
        name: "ERROR JOB_NOT_FOUND",
        bytes: b"\0RES\0\0\0\x13\0\0\0\x30JOB_NOT_FOUND\0Job given in work result not found",
        magic: Magic::Response,
        kind: PacketType::Error,
        args: &[b"JOB_NOT_FOUND", b"Job given in work result not found"],
    },
    Example {
        name: "NO_JOB",
        bytes: b"\x00\x52\x45\x53\x00\x00\x00\x0a\x00\x00\x00\x00",
        magic: Magic::Response,
        kind: PacketType::NoJob,
        args: &[],
    },
    Example {
        name: "NOOP",
        bytes: b"\x00\x52\x45\x53\x00\x00\x00\x06\x00\x00\x00\x00",
        magic: Magic::Response,
        kind: PacketType::Noop,
        args: &[],
    },
];

#[test]
fn section_8_examples_decode_exactly() {
    for example in EXAMPLES {
        let packet = decode_whole(Decoder::new().accept_only(example.magic), example.bytes);
        assert_eq!(packet.magic(), example.magic, "{}", example.name);
        assert_eq!(packet.kind(), example.kind, "{}", example.name);
        assert_eq!(args_of(&packet), owned(example.args), "{}", example.name);
        assert_eq!(
            packet.body(),
            &example.bytes[HEADER_LEN..],
            "{}",
            example.name
        );
        assert_eq!(
            packet.encoded_len(),
            example.bytes.len(),
            "{}",
            example.name
        );
    }
}

#[test]
fn section_8_examples_encode_exactly() {
    for example in EXAMPLES {
        let packet = Packet::new(example.magic, example.kind, example.args).expect(example.name);
        assert_eq!(packet.to_bytes(), example.bytes, "{}", example.name);
        let mut buf = b"prefix".to_vec();
        encode_to(&mut buf, example.magic, example.kind, example.args).expect(example.name);
        assert_eq!(&buf[..6], b"prefix", "{}", example.name);
        assert_eq!(&buf[6..], example.bytes, "{}", example.name);
    }
}

#[test]
fn section_8_requests_from_typed_constructors() {
    let submit = Packet::submit(PacketType::SubmitJob, b"reverse", b"", b"test").unwrap();
    assert_eq!(
        submit.to_bytes(),
        b"\0REQ\0\0\0\x07\0\0\0\x0dreverse\0\0test"
    );
    let submit_f = Packet::submit(PacketType::SubmitJob, b"f", b"", b"").unwrap();
    assert_eq!(submit_f.to_bytes(), b"\0REQ\0\0\0\x07\0\0\0\x03f\0\0");
    assert_eq!(submit_f.body(), b"f\0\0");
    // The worker's WORK_STATUS has the same body as the forwarded one, with request magic.
    let status = Packet::work_status(b"H:vm:1", 1, 4).unwrap();
    assert_eq!(
        status.to_bytes(),
        b"\0REQ\0\0\0\x0c\0\0\0\x0aH:vm:1\x001\x004"
    );
    assert_eq!(
        Packet::empty(PacketType::GrabJobUniq).unwrap().to_bytes(),
        b"\0REQ\0\0\0\x1e\0\0\0\0"
    );
    assert_eq!(
        Packet::empty(PacketType::PreSleep).unwrap().to_bytes(),
        b"\0REQ\0\0\0\x04\0\0\0\0"
    );
}

#[test]
fn work_fail_with_trailing_nul_is_stripped() {
    // WORK_FAIL made from WORK_EXCEPTION for a client without exceptions: body "H:vm:1\0" (7).
    let bytes = b"\0RES\0\0\0\x0e\0\0\0\x07H:vm:1\0";
    let packet = decode_whole(Decoder::new().accept_only(Magic::Response), bytes);
    assert_eq!(packet.kind(), PacketType::WorkFail);
    assert_eq!(packet.arg(0), b"H:vm:1");
    assert_eq!(packet.tail(), b"H:vm:1");
    assert_eq!(packet.body(), b"H:vm:1");
    assert_eq!(packet.encoded_len(), HEADER_LEN + 6);
    assert_eq!(packet.to_bytes(), b"\0RES\0\0\0\x0e\0\0\0\x06H:vm:1");
    assert_eq!(packet.clone().into_tail(), b"H:vm:1");

    // The stripped and the clean form decode to the same packet.
    let clean = decode_whole(Decoder::new(), b"\0RES\0\0\0\x0e\0\0\0\x06H:vm:1");
    assert_eq!(clean, packet);

    // Every handle tail is stripped, of any number of NULs; a NUL inside is kept.
    for (kind, body, tail) in [
        (PacketType::WorkFail, &b"H:vm:1\0\0\0"[..], &b"H:vm:1"[..]),
        (PacketType::JobCreated, b"H:vm:7\0", b"H:vm:7"),
        (PacketType::GetStatus, b"H:vm:9\0", b"H:vm:9"),
        (PacketType::WorkFail, b"a\0b\0", b"a\0b"),
        (PacketType::WorkFail, b"\0\0", b""),
    ] {
        let packet = decode_whole(Decoder::new(), &wire(b"\0RES", kind.code(), body));
        assert_eq!(packet.tail(), tail, "{kind} {body:?}");
        assert_eq!(packet.body(), tail, "{kind} {body:?}");
    }

    // Data tails keep their trailing NULs.
    for (kind, body, tail) in [
        (PacketType::EchoRes, &b"x\0"[..], &b"x\0"[..]),
        (
            PacketType::WorkComplete,
            b"H:vm:1\0result\0\0",
            b"result\0\0",
        ),
        (PacketType::WorkException, b"H:vm:1\0\0", b"\0"),
        (PacketType::CanDo, b"x\0", b"x\0"),
    ] {
        let packet = decode_whole(Decoder::new(), &wire(b"\0RES", kind.code(), body));
        assert_eq!(packet.tail(), tail, "{kind} {body:?}");
        assert_eq!(packet.body(), body, "{kind} {body:?}");
    }
}

#[test]
fn work_with_empty_payloads_decode() {
    // Section 7.5: WORK_DATA / WORK_COMPLETE with nothing after the handle, ECHO with no data.
    for (kind, body, args) in [
        (
            PacketType::WorkData,
            &b"H:vm:1\0"[..],
            &[&b"H:vm:1"[..], b""][..],
        ),
        (PacketType::WorkComplete, b"H:vm:1\0", &[b"H:vm:1", b""]),
        (PacketType::EchoRes, b"", &[b""]),
        (
            PacketType::JobAssign,
            b"H:vm:3\0rev\0",
            &[b"H:vm:3", b"rev", b""],
        ),
    ] {
        let packet = decode_whole(Decoder::new(), &wire(b"\0RES", kind.code(), body));
        assert_eq!(args_of(&packet), owned(args), "{kind}");
    }
}

#[test]
fn body_bytes_of_argumentless_packets_are_ignored() {
    // gearmand reads and throws away junk in the body of an argument-less packet (section 1.2).
    let bytes = wire(b"\0REQ", PacketType::GrabJob.code(), b"abc");
    let packet = decode_whole(Decoder::new(), &bytes);
    assert_eq!(packet.kind(), PacketType::GrabJob);
    assert_eq!(packet.body(), b"");
    assert_eq!(packet.arg_count(), 0);
    assert_eq!(packet.to_bytes(), b"\0REQ\0\0\0\x09\0\0\0\0");
}

#[test]
fn typed_constructors_produce_exact_bytes() {
    let cases: Vec<(Packet, &[u8])> = vec![
        (
            Packet::can_do(b"reverse").unwrap(),
            b"\0REQ\0\0\0\x01\0\0\0\x07reverse",
        ),
        (
            Packet::cant_do(b"reverse").unwrap(),
            b"\0REQ\0\0\0\x02\0\0\0\x07reverse",
        ),
        (
            Packet::can_do_timeout(b"f", 1500).unwrap(),
            b"\0REQ\0\0\0\x17\0\0\0\x06f\x001500",
        ),
        (
            Packet::submit(PacketType::SubmitJobLowBg, b"f", b"u", b"\0\xff").unwrap(),
            b"\0REQ\0\0\0\x22\0\0\0\x06f\0u\0\0\xff",
        ),
        (
            Packet::submit_epoch(b"f", b"u", 1_700_000_000, b"d").unwrap(),
            b"\0REQ\0\0\0\x24\0\0\0\x10f\0u\x001700000000\0d",
        ),
        (
            Packet::submit_reduce(false, b"f", b"u", b"r", b"d").unwrap(),
            b"\0REQ\0\0\0\x25\0\0\0\x08f\0u\0r\0\0d",
        ),
        (
            Packet::submit_reduce(true, b"f", b"", b"", b"").unwrap(),
            b"\0REQ\0\0\0\x26\0\0\0\x05f\0\0\0\0",
        ),
        (
            Packet::get_status(b"H:vm:1").unwrap(),
            b"\0REQ\0\0\0\x0f\0\0\0\x06H:vm:1",
        ),
        (
            Packet::get_status_unique(b"u1").unwrap(),
            b"\0REQ\0\0\0\x29\0\0\0\x02u1",
        ),
        (
            Packet::echo_req(b"\0\xff").unwrap(),
            b"\0REQ\0\0\0\x10\0\0\0\x02\0\xff",
        ),
        (
            Packet::option_req(b"exceptions").unwrap(),
            b"\0REQ\0\0\0\x1a\0\0\0\x0aexceptions",
        ),
        (
            Packet::set_client_id(b"w-1").unwrap(),
            b"\0REQ\0\0\0\x16\0\0\0\x03w-1",
        ),
        (
            Packet::work_status(b"H:vm:1", 0, u32::MAX).unwrap(),
            b"\0REQ\0\0\0\x0c\0\0\0\x13H:vm:1\x000\x004294967295",
        ),
        (
            Packet::work_with_data(PacketType::WorkData, b"H:vm:1", b"").unwrap(),
            b"\0REQ\0\0\0\x1c\0\0\0\x07H:vm:1\0",
        ),
        (
            Packet::work_with_data(PacketType::WorkException, b"H", b"e\0").unwrap(),
            b"\0REQ\0\0\0\x19\0\0\0\x04H\0e\0",
        ),
        (
            Packet::work_fail(b"H:vm:1").unwrap(),
            b"\0REQ\0\0\0\x0e\0\0\0\x06H:vm:1",
        ),
    ];
    for (packet, bytes) in cases {
        assert_eq!(packet.to_bytes(), bytes, "{}", packet.kind());
        assert_eq!(decode_whole(Decoder::new(), bytes), packet);
    }
}

// ---------------------------------------------------------------------------------------------
// All 42 types round-trip
// ---------------------------------------------------------------------------------------------

/// Plausible arguments for `kind`: delimited fields without NUL (some with 0xff), and a tail
/// with NUL and 0xff bytes inside (a handle tail holds no NUL: the constructors refuse it).
fn sample_args(kind: PacketType) -> Vec<Vec<u8>> {
    let mut args: Vec<Vec<u8>> = (0..kind.delimited_fields())
        .map(|index| format!("field{index}").into_bytes())
        .collect();
    if let Some(first) = args.first_mut() {
        first.push(0xff);
    }
    if kind.has_tail() {
        if kind.tail_is_handle() {
            args.push(b"H:vm:\xff42".to_vec());
        } else {
            args.push(b"\0tail\xff\0data\0".to_vec());
        }
    }
    args
}

fn round_trip(magic: Magic, kind: PacketType, args: &[Vec<u8>]) {
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let packet = Packet::new(magic, kind, &refs).unwrap_or_else(|err| panic!("{kind}: {err}"));
    assert_eq!(args_of(&packet), args, "{kind} args");

    let bytes = packet.to_bytes();
    let body_len = args.iter().map(Vec::len).sum::<usize>() + kind.delimited_fields();
    assert_eq!(bytes.len(), HEADER_LEN + body_len, "{kind}");
    assert_eq!(packet.encoded_len(), bytes.len(), "{kind}");
    assert_eq!(bytes[..4], magic.bytes(), "{kind}");
    assert_eq!(bytes[4..8], kind.code().to_be_bytes(), "{kind}");
    assert_eq!(bytes[8..12], (body_len as u32).to_be_bytes(), "{kind}");

    let mut via_encode_to = Vec::new();
    encode_to(&mut via_encode_to, magic, kind, &refs).unwrap();
    assert_eq!(via_encode_to, bytes, "{kind} encode_to");

    let decoded = decode_whole(Decoder::new().accept_only(magic), &bytes);
    assert_eq!(decoded, packet, "{kind} decode(encode)");
    assert_eq!(args_of(&decoded), args, "{kind} decoded args");
    assert_eq!(decoded.tail(), args.last().map_or(&[][..], Vec::as_slice));

    // decode -> encode -> decode gives identical bytes and packet.
    let again = decoded.to_bytes();
    assert_eq!(again, bytes, "{kind} re-encode");
    assert_eq!(decode_whole(Decoder::new(), &again), decoded, "{kind}");
}

#[test]
fn all_42_types_round_trip() {
    assert_eq!(PacketType::ALL.len(), 42);
    for kind in PacketType::ALL {
        for magic in [Magic::Request, Magic::Response] {
            round_trip(magic, kind, &sample_args(kind));
            // All arguments empty: the body is just the delimiters.
            round_trip(magic, kind, &vec![Vec::new(); kind.arg_count()]);
        }
    }
}

#[test]
fn arguments_are_indexed_and_taken_out() {
    let packet = Packet::new(
        Magic::Response,
        PacketType::JobAssignAll,
        &[b"H:vm:4", b"f", b"u", b"r", b"\0data"],
    )
    .unwrap();
    assert_eq!(packet.arg_count(), 5);
    assert_eq!(packet.arg(0), b"H:vm:4");
    assert_eq!(packet.arg(3), b"r");
    assert_eq!(packet.arg(4), b"\0data");
    assert_eq!(packet.arg(5), b"");
    assert_eq!(packet.tail(), b"\0data");
    assert_eq!(packet.into_tail(), b"\0data");
    let noop = Packet::new(Magic::Response, PacketType::Noop, &[]).unwrap();
    assert_eq!(noop.tail(), b"");
    assert_eq!(noop.arg(0), b"");
    assert_eq!(noop.into_tail(), b"");
}

// ---------------------------------------------------------------------------------------------
// Incremental input
// ---------------------------------------------------------------------------------------------

/// Feeds every prefix of `bytes` (one whole packet): `None` until complete, then the full length,
/// also when more bytes follow.
fn check_every_prefix(decoder: Decoder, bytes: &[u8]) {
    for cut in 0..bytes.len() {
        assert_eq!(
            decoder.decode(&bytes[..cut]),
            Ok(None),
            "prefix {cut} of {bytes:?}"
        );
    }
    let (whole, used) = decoder.decode(bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(b"\0RES\0\0");
    assert_eq!(decoder.decode(&longer), Ok(Some((whole, bytes.len()))));
}

#[test]
fn split_at_every_byte_boundary() {
    for example in EXAMPLES {
        check_every_prefix(Decoder::new(), example.bytes);
        check_every_prefix(Decoder::new().accept_only(example.magic), example.bytes);
    }
    for kind in PacketType::ALL {
        let args = sample_args(kind);
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let bytes = Packet::new(Magic::Response, kind, &refs)
            .unwrap()
            .to_bytes();
        check_every_prefix(Decoder::new(), &bytes);
    }
}

#[test]
fn decode_header_needs_twelve_bytes() {
    let decoder = Decoder::new();
    let bytes = EXAMPLES[0].bytes;
    for cut in 0..HEADER_LEN {
        assert_eq!(decoder.decode_header(&bytes[..cut]), Ok(None), "{cut}");
    }
    let header = Header {
        magic: Magic::Request,
        kind: PacketType::SubmitJob,
        body_len: 13,
    };
    assert_eq!(
        decoder.decode_header(&bytes[..HEADER_LEN]),
        Ok(Some(header))
    );
    assert_eq!(decoder.decode_header(bytes), Ok(Some(header)));
    assert_eq!(header.packet_len(), 25);
}

/// A pipelined stream of mixed types, empty bodies included.
fn pipeline() -> Vec<Packet> {
    vec![
        Packet::new(Magic::Response, PacketType::Noop, &[]).unwrap(),
        Packet::new(Magic::Response, PacketType::JobCreated, &[b"H:vm:1"]).unwrap(),
        Packet::new(Magic::Response, PacketType::NoJob, &[]).unwrap(),
        Packet::new(Magic::Response, PacketType::WorkData, &[b"H:vm:1", b""]).unwrap(),
        Packet::new(Magic::Response, PacketType::EchoRes, &[b""]).unwrap(),
        Packet::new(
            Magic::Response,
            PacketType::StatusRes,
            &[b"H:vm:1", b"1", b"1", b"1", b"4"],
        )
        .unwrap(),
        Packet::new(
            Magic::Response,
            PacketType::WorkComplete,
            &[b"H:vm:1", b"\0\xff\0"],
        )
        .unwrap(),
        Packet::new(Magic::Response, PacketType::Noop, &[]).unwrap(),
        Packet::new(
            Magic::Response,
            PacketType::JobAssignUniq,
            &[b"H:vm:2", b"rev", b"", b""],
        )
        .unwrap(),
        Packet::new(Magic::Response, PacketType::Error, &[b"", b""]).unwrap(),
    ]
}

#[test]
fn several_packets_in_one_buffer() {
    let packets = pipeline();
    let mut stream = Vec::new();
    let mut ends = Vec::new();
    for packet in &packets {
        packet.encode(&mut stream);
        ends.push(stream.len());
    }
    assert_eq!(stream.len(), 12 * 10 + 6 + 7 + 14 + 10 + 12 + 1);

    let decoder = Decoder::new().accept_only(Magic::Response);
    let mut offset = 0;
    for (packet, end) in packets.iter().zip(&ends) {
        let (decoded, used) = decoder.decode(&stream[offset..]).unwrap().unwrap();
        assert_eq!(&decoded, packet);
        offset += used;
        assert_eq!(offset, *end);
    }
    assert_eq!(decoder.decode(&stream[offset..]), Ok(None));
}

#[test]
fn pipelined_stream_in_chunks_of_every_size() {
    let packets = pipeline();
    let mut stream = Vec::new();
    for packet in &packets {
        packet.encode(&mut stream);
    }
    let decoder = Decoder::new().accept_only(Magic::Response);
    for chunk in 1..=stream.len() {
        let mut buffer = Vec::new();
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            buffer.extend_from_slice(piece);
            while let Some((packet, used)) = decoder.decode(&buffer).unwrap() {
                out.push(packet);
                buffer.drain(..used);
            }
        }
        assert!(buffer.is_empty(), "chunk {chunk}");
        assert_eq!(out, packets, "chunk {chunk}");
    }
}

#[test]
fn mixed_requests_pipelined() {
    let mut stream = Vec::new();
    let expected = vec![
        Packet::can_do(b"reverse").unwrap(),
        Packet::empty(PacketType::GrabJobAll).unwrap(),
        Packet::submit(PacketType::SubmitJobHigh, b"f", b"-", b"\0").unwrap(),
        Packet::empty(PacketType::PreSleep).unwrap(),
        Packet::echo_req(b"").unwrap(),
    ];
    for packet in &expected {
        packet.encode(&mut stream);
    }
    let decoder = Decoder::new().accept_only(Magic::Request);
    let mut rest = &stream[..];
    let mut got = Vec::new();
    while let Some((packet, used)) = decoder.decode(rest).unwrap() {
        got.push(packet);
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    assert_eq!(got, expected);
}

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_magic() {
    let decoder = Decoder::new();
    for magic in [*b"\0REX", *b"\0req", *b"REQ\0", *b"OK 1", [0xff; 4], [0; 4]] {
        let bytes = wire(&magic, 1, b"x");
        assert_eq!(decoder.decode(&bytes), Err(ProtocolError::BadMagic(magic)));
        assert_eq!(
            decoder.decode_header(&bytes),
            Err(ProtocolError::BadMagic(magic))
        );
        assert_eq!(
            decoder.accept_only(Magic::Response).decode(&bytes),
            Err(ProtocolError::BadMagic(magic))
        );
    }
    // A text reply is reported once a whole header's worth of bytes is there.
    let text = b"OK 1.1.20\nmore";
    assert_eq!(decoder.decode(&text[..11]), Ok(None));
    assert_eq!(decoder.decode(text), Err(ProtocolError::BadMagic(*b"OK 1")));
}

#[test]
fn wrong_direction_magic() {
    let request = EXAMPLES[0].bytes;
    assert_eq!(
        Decoder::new().accept_only(Magic::Response).decode(request),
        Err(ProtocolError::UnexpectedMagic {
            kind: PacketType::SubmitJob,
            expected: Magic::Response,
            found: Magic::Request,
        })
    );
    let response = EXAMPLES[2].bytes;
    assert_eq!(
        Decoder::new().accept_only(Magic::Request).decode(response),
        Err(ProtocolError::UnexpectedMagic {
            kind: PacketType::JobCreated,
            expected: Magic::Request,
            found: Magic::Response,
        })
    );
    // Checked from the header alone, before the body arrives.
    assert_eq!(
        Decoder::new()
            .accept_only(Magic::Request)
            .decode(&response[..HEADER_LEN]),
        Err(ProtocolError::UnexpectedMagic {
            kind: PacketType::JobCreated,
            expected: Magic::Request,
            found: Magic::Response,
        })
    );
    // Without accept_only both pass.
    assert!(Decoder::new().decode(request).unwrap().is_some());
    assert!(Decoder::new().decode(response).unwrap().is_some());
}

#[test]
fn unknown_packet_types() {
    for code in [0, 43, 44, 0x100, 0xFFFF_FFFF] {
        for magic in [b"\0REQ", b"\0RES"] {
            let bytes = wire(magic, code, b"");
            for decoder in [
                Decoder::new(),
                Decoder::new().accept_only(Magic::Request),
                Decoder::new().accept_only(Magic::Response),
            ] {
                assert_eq!(
                    decoder.decode(&bytes),
                    Err(ProtocolError::UnknownPacketType(code)),
                    "{code}"
                );
                // The body length is not looked at: a huge one gives the same error.
                let mut huge = bytes.clone();
                huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
                assert_eq!(
                    decoder.decode_header(&huge),
                    Err(ProtocolError::UnknownPacketType(code)),
                    "{code}"
                );
            }
        }
    }
}

#[test]
fn missing_delimited_fields() {
    let cases: &[(PacketType, &[u8], usize)] = &[
        // Section 1.2: SUBMIT_JOB body "f\0data" lacks the unique field.
        (PacketType::SubmitJob, b"f\0data", 1),
        (PacketType::SubmitJob, b"", 0),
        (PacketType::SubmitJob, b"fdata", 0),
        (PacketType::WorkComplete, b"H:vm:1", 0),
        (PacketType::Error, b"JOB_NOT_FOUND", 0),
        (PacketType::JobAssign, b"H:vm:1\0rev", 1),
        (PacketType::JobAssignUniq, b"H:vm:1\0rev\0", 2),
        (PacketType::StatusRes, b"H\x001\x001\x001", 3),
        (PacketType::StatusResUnique, b"u\x001\x001\x001\x004", 4),
        (PacketType::SubmitJobSched, b"f\0u\0\0\0\0\0", 6),
        (PacketType::SubmitJobEpoch, b"f\0u\0", 2),
        (PacketType::SubmitReduceJob, b"f\0u\0r\0data", 3),
        (PacketType::JobAssignAll, b"H\0f\0u\0", 3),
        (PacketType::CanDoTimeout, b"f", 0),
    ];
    for &(kind, body, found) in cases {
        let expected = Err(ProtocolError::MissingFields {
            kind,
            expected: kind.delimited_fields(),
            found,
        });
        for magic in [b"\0REQ", b"\0RES"] {
            let bytes = wire(magic, kind.code(), body);
            assert_eq!(Decoder::new().decode(&bytes), expected, "{kind} {body:?}");
            // Not reported before the whole body is there.
            assert_eq!(Decoder::new().decode(&bytes[..bytes.len() - 1]), Ok(None));
        }
    }
    assert_eq!(
        Decoder::new().decode(&wire(b"\0REQ", 7, b"f\0data")),
        Err(ProtocolError::MissingFields {
            kind: PacketType::SubmitJob,
            expected: 2,
            found: 1,
        })
    );
}

#[test]
fn body_length_cap() {
    let header = |len: u32| {
        let mut bytes = b"\0RES\0\0\0\x11".to_vec(); // ECHO_RES
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes
    };
    assert_eq!(DEFAULT_MAX_BODY_LEN, 64 * 1024 * 1024);
    let default = Decoder::new();
    assert_eq!(default.max_body_len(), 64 * 1024 * 1024);
    assert_eq!(Decoder::default(), default);

    // Default cap: 64 MiB is allowed (need more), one byte more is refused from the header.
    assert_eq!(default.decode(&header(64 << 20)), Ok(None));
    assert_eq!(
        default.decode(&header((64 << 20) + 1)),
        Err(ProtocolError::BodyTooLarge {
            len: (64 << 20) + 1,
            max: 64 << 20,
        })
    );
    assert_eq!(
        default.decode_header(&header(u32::MAX)),
        Err(ProtocolError::BodyTooLarge {
            len: u32::MAX,
            max: 64 << 20,
        })
    );

    // A custom cap.
    let small = Decoder::new()
        .with_max_body_len(16)
        .accept_only(Magic::Response);
    assert_eq!(small.max_body_len(), 16);
    let mut sixteen = header(16);
    sixteen.extend_from_slice(&[0xab; 16]);
    let (packet, used) = small.decode(&sixteen).unwrap().unwrap();
    assert_eq!(used, 28);
    assert_eq!(packet.tail(), [0xab; 16]);
    assert_eq!(
        small.decode(&header(17)),
        Err(ProtocolError::BodyTooLarge { len: 17, max: 16 })
    );

    // A zero cap still takes empty bodies.
    let zero = Decoder::new().with_max_body_len(0);
    assert!(zero.decode(EXAMPLES[9].bytes).unwrap().is_some());
    assert_eq!(
        zero.decode(EXAMPLES[2].bytes),
        Err(ProtocolError::BodyTooLarge { len: 6, max: 0 })
    );

    // Cap at the protocol's own limit: a 4 GiB - 1 body is valid and waits for its bytes. The
    // answer comes from the 12-byte header alone, so nothing is sized from the length.
    let unlimited = Decoder::new().with_max_body_len(u32::MAX);
    let max = header(u32::MAX);
    assert_eq!(unlimited.decode(&max), Ok(None));
    let mut partial = max.clone();
    partial.extend_from_slice(&[0; 1000]);
    assert_eq!(unlimited.decode(&partial), Ok(None));
    let parsed = unlimited.decode_header(&max).unwrap().unwrap();
    assert_eq!(
        parsed,
        Header {
            magic: Magic::Response,
            kind: PacketType::EchoRes,
            body_len: u32::MAX,
        }
    );
    assert_eq!(parsed.packet_len(), 12 + 0xFFFF_FFFF);
}

#[test]
fn errors_are_checked_in_header_order() {
    // Bad magic wins over an unknown type, an unknown type over the direction, the direction
    // over the length.
    assert_eq!(
        Decoder::new().decode(&wire(b"XXXX", 0, b"")),
        Err(ProtocolError::BadMagic(*b"XXXX"))
    );
    assert_eq!(
        Decoder::new()
            .accept_only(Magic::Response)
            .decode(&wire(b"\0REQ", 99, b"")),
        Err(ProtocolError::UnknownPacketType(99))
    );
    let mut oversized = wire(b"\0REQ", 16, b"");
    oversized[8..12].copy_from_slice(&100u32.to_be_bytes());
    assert_eq!(
        Decoder::new()
            .with_max_body_len(10)
            .accept_only(Magic::Response)
            .decode(&oversized),
        Err(ProtocolError::UnexpectedMagic {
            kind: PacketType::EchoReq,
            expected: Magic::Response,
            found: Magic::Request,
        })
    );
    assert_eq!(
        Decoder::new().with_max_body_len(10).decode(&oversized),
        Err(ProtocolError::BodyTooLarge { len: 100, max: 10 })
    );
}

#[test]
fn constructors_refuse_nul_bytes() {
    let function_nul = Err(ArgumentError::NulByte {
        field: "function name",
    });
    let unique_nul = Err(ArgumentError::NulByte { field: "unique" });
    let handle_nul = Err(ArgumentError::NulByte {
        field: "job handle",
    });
    assert_eq!(Packet::can_do(b"a\0b"), function_nul);
    assert_eq!(Packet::cant_do(b"\0"), function_nul);
    assert_eq!(Packet::can_do_timeout(b"f\0", 1), function_nul);
    assert_eq!(
        Packet::submit(PacketType::SubmitJob, b"f\0", b"", b""),
        function_nul
    );
    assert_eq!(
        Packet::submit(PacketType::SubmitJob, b"f", b"u\0", b""),
        unique_nul
    );
    assert_eq!(Packet::submit_epoch(b"f", b"\0", 0, b""), unique_nul);
    assert_eq!(
        Packet::submit_reduce(false, b"f", b"u", b"r\0", b""),
        Err(ArgumentError::NulByte { field: "reducer" })
    );
    assert_eq!(Packet::get_status_unique(b"u\0"), unique_nul);
    assert_eq!(Packet::get_status(b"H:vm:1\0"), handle_nul);
    assert_eq!(Packet::work_fail(b"H\0"), handle_nul);
    assert_eq!(Packet::work_status(b"\0", 1, 2), handle_nul);
    assert_eq!(
        Packet::work_with_data(PacketType::WorkComplete, b"H\0", b""),
        handle_nul
    );
    assert_eq!(
        Packet::option_req(b"exceptions\0"),
        Err(ArgumentError::NulByte {
            field: "option name"
        })
    );
    assert_eq!(
        Packet::set_client_id(b"id\0"),
        Err(ArgumentError::InvalidByte {
            field: "client id",
            byte: 0,
        })
    );
    // The generic constructor refuses a NUL in any delimited field, naming the type.
    assert_eq!(
        Packet::new(
            Magic::Response,
            PacketType::JobAssignUniq,
            &[b"H", b"f", b"u\0", b""]
        ),
        Err(ArgumentError::NulByte {
            field: "JOB_ASSIGN_UNIQ"
        })
    );
    // Data tails take NUL bytes.
    assert!(Packet::submit(PacketType::SubmitJob, b"f", b"u", b"\0\0").is_ok());
}

/// Regression: `Packet::new(JOB_CREATED / WORK_FAIL / GET_STATUS, "h\0")` used to build a packet
/// whose trailing NUL the decoder strips, so decode(encode(p)) != p (the roundtrip fuzz target
/// trips on it within a few thousand runs without the check). A handle tail must hold no NUL,
/// like every handle.
#[test]
fn handle_tails_refuse_nul_bytes() {
    let nul = ArgumentError::NulByte {
        field: "job handle",
    };
    let handle_nul = Err(nul.clone());
    for kind in [
        PacketType::JobCreated,
        PacketType::WorkFail,
        PacketType::GetStatus,
    ] {
        assert!(kind.tail_is_handle());
        for magic in [Magic::Request, Magic::Response] {
            assert_eq!(
                Packet::new(magic, kind, &[b"H:vm:1\0"]),
                handle_nul,
                "{kind}"
            );
            assert_eq!(Packet::new(magic, kind, &[b"\0"]), handle_nul, "{kind}");
            assert_eq!(Packet::new(magic, kind, &[b"H\0x"]), handle_nul, "{kind}");
            let mut buf = Vec::new();
            assert_eq!(
                encode_to(&mut buf, magic, kind, &[b"H:vm:1\0"]),
                Err(nul.clone())
            );
            assert!(buf.is_empty());
            let clean = Packet::new(magic, kind, &[b"H:vm:1"]).unwrap();
            assert_eq!(decode_whole(Decoder::new(), &clean.to_bytes()), clean);
        }
    }
    // Other tails still take NUL bytes, trailing ones included.
    for kind in [
        PacketType::EchoRes,
        PacketType::CanDo,
        PacketType::OptionRes,
    ] {
        let packet = Packet::new(Magic::Response, kind, &[b"x\0"]).unwrap();
        assert_eq!(decode_whole(Decoder::new(), &packet.to_bytes()), packet);
    }
}

#[test]
fn constructors_refuse_bad_lengths() {
    let unique_64 = [b'u'; MAX_UNIQUE_LEN + 1];
    assert_eq!(unique_64.len(), 64);
    let too_long_unique = Err(ArgumentError::TooLong {
        field: "unique",
        len: 64,
        max: 63,
    });
    assert_eq!(
        Packet::submit(PacketType::SubmitJob, b"f", &unique_64, b""),
        too_long_unique
    );
    assert_eq!(Packet::get_status_unique(&unique_64), too_long_unique);
    assert_eq!(
        Packet::submit_epoch(b"f", &unique_64, 1, b""),
        too_long_unique
    );
    assert!(Packet::submit(PacketType::SubmitJob, b"f", &unique_64[..63], b"").is_ok());

    let function_513 = [b'f'; MAX_FUNCTION_LEN + 1];
    assert_eq!(function_513.len(), 513);
    let too_long_function = Err(ArgumentError::TooLong {
        field: "function name",
        len: 513,
        max: 512,
    });
    assert_eq!(Packet::can_do(&function_513), too_long_function);
    assert_eq!(
        Packet::submit(PacketType::SubmitJobBg, &function_513, b"", b""),
        too_long_function
    );
    assert!(Packet::can_do(&function_513[..512]).is_ok());

    let empty_function = Err(ArgumentError::Empty {
        field: "function name",
    });
    assert_eq!(Packet::can_do(b""), empty_function);
    assert_eq!(Packet::can_do_timeout(b"", 1), empty_function);
    assert_eq!(
        Packet::submit(PacketType::SubmitJob, b"", b"u", b"d"),
        empty_function
    );
    assert_eq!(
        Packet::get_status_unique(b""),
        Err(ArgumentError::Empty { field: "unique" })
    );

    let handle_64 = [b'h'; MAX_HANDLE_LEN + 1];
    assert_eq!(handle_64.len(), 64);
    let too_long_handle = Err(ArgumentError::TooLong {
        field: "job handle",
        len: 64,
        max: 63,
    });
    assert_eq!(Packet::get_status(&handle_64), too_long_handle);
    assert_eq!(Packet::work_fail(&handle_64), too_long_handle);
    assert_eq!(Packet::work_status(&handle_64, 1, 2), too_long_handle);
    assert_eq!(
        Packet::work_with_data(PacketType::WorkData, &handle_64, b""),
        too_long_handle
    );
    assert!(Packet::get_status(&handle_64[..63]).is_ok());
    assert_eq!(
        Packet::get_status(b""),
        Err(ArgumentError::Empty {
            field: "job handle"
        })
    );
}

#[test]
fn constructors_refuse_wrong_shapes() {
    assert_eq!(
        Packet::new(Magic::Request, PacketType::SubmitJob, &[b"f", b""]),
        Err(ArgumentError::WrongArgumentCount {
            kind: PacketType::SubmitJob,
            expected: 3,
            found: 2,
        })
    );
    assert_eq!(
        Packet::new(Magic::Response, PacketType::Noop, &[b""]),
        Err(ArgumentError::WrongArgumentCount {
            kind: PacketType::Noop,
            expected: 0,
            found: 1,
        })
    );
    assert_eq!(
        Packet::new(Magic::Response, PacketType::StatusResUnique, &[]),
        Err(ArgumentError::WrongArgumentCount {
            kind: PacketType::StatusResUnique,
            expected: 6,
            found: 0,
        })
    );
    assert_eq!(
        Packet::empty(PacketType::EchoReq),
        Err(ArgumentError::WrongArgumentCount {
            kind: PacketType::EchoReq,
            expected: 1,
            found: 0,
        })
    );
    // encode_to appends nothing when it refuses.
    let mut buf = b"kept".to_vec();
    assert_eq!(
        encode_to(
            &mut buf,
            Magic::Request,
            PacketType::SubmitJobSched,
            &[&b"f"[..]; 7]
        ),
        Err(ArgumentError::WrongArgumentCount {
            kind: PacketType::SubmitJobSched,
            expected: 8,
            found: 7,
        })
    );
    assert_eq!(
        encode_to(
            &mut buf,
            Magic::Request,
            PacketType::CanDoTimeout,
            &[b"f\0", b"1"]
        ),
        Err(ArgumentError::NulByte {
            field: "CAN_DO_TIMEOUT"
        })
    );
    assert_eq!(buf, b"kept");

    assert_eq!(
        Packet::submit(PacketType::SubmitJobEpoch, b"f", b"", b""),
        Err(ArgumentError::WrongPacketType {
            kind: PacketType::SubmitJobEpoch
        })
    );
    assert_eq!(
        Packet::work_with_data(PacketType::WorkFail, b"H", b""),
        Err(ArgumentError::WrongPacketType {
            kind: PacketType::WorkFail
        })
    );
}

#[test]
fn parse_decimal_like_atoi() {
    for (field, value) in [
        (&b"0"[..], Some(0)),
        (b"4", Some(4)),
        (b"007", Some(7)),
        (b"12ab", Some(12)),
        (b"4294967295", Some(u32::MAX)),
        (b"4294967296", Some(u32::MAX)),
        (b"99999999999999999999999", Some(u32::MAX)),
        (b"", None),
        (b"-1", None),
        (b" 1", None),
        (b"+1", None),
        (b"\xff", None),
    ] {
        assert_eq!(parse_decimal(field), value, "{field:?}");
    }
}
