//! Encode/decode identity.
//!
//! 1. Every packet decoded from the input re-encodes to bytes that decode to the same packet,
//!    using exactly `encoded_len` bytes, and re-encode to the same bytes again.
//! 2. A packet built with `Packet::new` from a fuzz-chosen type, magic and arguments split from
//!    the input is either refused with the error its arguments call for, or survives
//!    encode -> decode unchanged (and `encode_to` writes the same bytes).

#![no_main]

use gearman_sync::protocol::{encode_to, Decoder, Magic, Packet, PacketType};
use gearman_sync::ArgumentError;
use libfuzzer_sys::fuzz_target;

const CAP: u32 = 1 << 20;

fn decoded_packets_round_trip(data: &[u8]) {
    let decoder = Decoder::new().with_max_body_len(CAP);
    let mut rest = data;
    while let Ok(Some((packet, used))) = decoder.decode(rest) {
        rest = &rest[used..];
        let bytes = packet.to_bytes();
        assert_eq!(bytes.len(), packet.encoded_len());
        let strict = decoder.accept_only(packet.magic());
        let (again, again_used) = strict
            .decode(&bytes)
            .expect("re-encoded packet decodes")
            .expect("re-encoded packet is complete");
        assert_eq!(again_used, packet.encoded_len());
        assert_eq!(again, packet);
        assert_eq!(again.to_bytes(), bytes);
        // With trailing bytes the packet still ends where it did.
        let mut longer = bytes.clone();
        longer.extend_from_slice(rest.get(..16).unwrap_or(rest));
        let (third, third_used) = strict.decode(&longer).unwrap().unwrap();
        assert_eq!((third, third_used), (again, bytes.len()));
    }
}

/// The argument refusal `Packet::new` must give for these arguments, if any.
fn expected_refusal(kind: PacketType, args: &[&[u8]]) -> Option<ArgumentError> {
    if args.len() != kind.arg_count() {
        return Some(ArgumentError::WrongArgumentCount {
            kind,
            expected: kind.arg_count(),
            found: args.len(),
        });
    }
    let delimited = kind.delimited_fields();
    if args[..delimited].iter().any(|arg| arg.contains(&0)) {
        return Some(ArgumentError::NulByte { field: kind.name() });
    }
    if kind.tail_is_handle() && args[delimited].contains(&0) {
        return Some(ArgumentError::NulByte {
            field: "job handle",
        });
    }
    None
}

/// Input layout: type byte, magic byte, separator byte, argument-count byte, then the
/// arguments split on the separator (the last one takes the rest, separators included).
fn built_packet_round_trips(data: &[u8]) {
    let [kind_byte, magic_byte, separator, count, ref rest @ ..] = *data else {
        return;
    };
    let kind = PacketType::ALL[usize::from(kind_byte) % PacketType::ALL.len()];
    let magic = if magic_byte & 1 == 0 {
        Magic::Request
    } else {
        Magic::Response
    };
    // Usually the right count; sometimes one too few or too many.
    let count = match count % 8 {
        0 => kind.arg_count().saturating_sub(1),
        1 => kind.arg_count() + 1,
        _ => kind.arg_count(),
    };
    let args: Vec<&[u8]> = if count == 0 {
        Vec::new()
    } else {
        rest.splitn(count, |&byte| byte == separator).collect()
    };

    let built = Packet::new(magic, kind, &args);
    let mut via_encode_to = Vec::new();
    let encoded = encode_to(&mut via_encode_to, magic, kind, &args);
    match expected_refusal(kind, &args) {
        Some(refusal) => {
            assert_eq!(built, Err(refusal.clone()));
            assert_eq!(encoded, Err(refusal));
            assert!(via_encode_to.is_empty());
        }
        None => {
            let packet = built.expect("valid arguments build");
            encoded.expect("valid arguments encode");
            assert_eq!(packet.magic(), magic);
            assert_eq!(packet.kind(), kind);
            assert!(packet.args().eq(args.iter().copied()));
            let bytes = packet.to_bytes();
            assert_eq!(via_encode_to, bytes);
            let (decoded, used) = Decoder::new()
                .with_max_body_len(u32::MAX)
                .accept_only(magic)
                .decode(&bytes)
                .expect("built packet decodes")
                .expect("built packet is complete");
            assert_eq!(used, packet.encoded_len());
            assert_eq!(used, bytes.len());
            assert_eq!(decoded, packet);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    decoded_packets_round_trip(data);
    built_packet_round_trips(data);
});
