//! Decodes packets back to back from arbitrary bytes with every accept mode and a small body cap.
//!
//! Checks: no panic; every packet uses at least a header and at most the bytes given; the header
//! alone predicts what the packet uses; a packet's strict prefixes give `None`; an error or `None`
//! ends the loop; no decode call makes an allocation larger than the bytes it was given (so a
//! header declaring 4 GiB allocates nothing, even with the cap at `u32::MAX`). Memory stays
//! bounded because the cap is checked before a body is read.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use gearman_sync::protocol::{Decoder, Header, Magic, Packet, HEADER_LEN};
use gearman_sync::ProtocolError;
use libfuzzer_sys::fuzz_target;

const CAP: u32 = 1 << 20;

/// The system allocator, recording the largest single allocation since the last reset.
struct Tracking;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

type Decoded = Result<Option<(Packet, usize)>, ProtocolError>;

/// `decoder.decode(buf)` and its header, checking that no allocation exceeded `buf.len()`.
fn decode_measured(
    decoder: Decoder,
    buf: &[u8],
) -> (Decoded, Result<Option<Header>, ProtocolError>) {
    LARGEST.store(0, Ordering::Relaxed);
    let result = decoder.decode(buf);
    let header = decoder.decode_header(buf);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= buf.len(),
        "an allocation of {largest} bytes while decoding {} bytes",
        buf.len()
    );
    (result, header)
}

/// Decodes `data` to its end with `decoder`, built to accept only `accept` when that is set.
fn check(decoder: Decoder, accept: Option<Magic>, data: &[u8]) {
    let mut rest = data;
    loop {
        let (result, header) = decode_measured(decoder, rest);
        match result {
            Ok(Some((packet, used))) => {
                let header = header
                    .expect("header decodes when the packet does")
                    .expect("header complete when the packet is");
                assert!(used >= HEADER_LEN, "no progress");
                assert!(used <= rest.len(), "used {used} of {}", rest.len());
                assert_eq!(used, header.packet_len());
                assert!(header.body_len <= decoder.max_body_len());
                assert_eq!(packet.kind(), header.kind);
                assert_eq!(packet.magic(), header.magic);
                if let Some(accepted) = accept {
                    assert_eq!(packet.magic(), accepted);
                }
                // Decoding may drop bytes (junk after an argument-less packet, a handle's stray
                // NUL) but never invents any.
                assert!(packet.encoded_len() <= used);
                assert_eq!(packet.args().count(), packet.kind().arg_count());
                for cut in [0, HEADER_LEN - 1, HEADER_LEN, used - 1] {
                    if cut < used {
                        assert_eq!(decoder.decode(&rest[..cut]), Ok(None), "prefix {cut}");
                    }
                }
                rest = &rest[used..];
            }
            Ok(None) => {
                // Incomplete: either the header or the body is missing.
                match header {
                    Ok(None) => assert!(rest.len() < HEADER_LEN),
                    Ok(Some(header)) => assert!(rest.len() < header.packet_len()),
                    Err(err) => panic!("decode said need more, decode_header said {err}"),
                }
                break;
            }
            Err(err) => {
                // A header error is reported the same by both; the body's only error is a
                // missing delimiter, reported by decode alone.
                match header {
                    Err(header_err) => assert_eq!(header_err, err),
                    Ok(_) => assert!(
                        matches!(err, ProtocolError::MissingFields { .. }),
                        "body error {err:?}"
                    ),
                }
                let _ = err.to_string();
                break;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let capped = Decoder::new().with_max_body_len(CAP);
    check(capped, None, data);
    for magic in [Magic::Request, Magic::Response] {
        check(capped.accept_only(magic), Some(magic), data);
    }
    // No cap but the protocol's: bodies are still never sized from the header alone.
    check(Decoder::new().with_max_body_len(u32::MAX), None, data);
    // A tiny cap taken from the input exercises the length check.
    if let Some(&cap) = data.first() {
        check(
            Decoder::new().with_max_body_len(u32::from(cap)),
            None,
            &data[1..],
        );
    }
});
