//! The sans-IO Gearman codec: bytes in, packets out, no sockets and no clocks.
//!
//! * [`Packet`], [`PacketType`], [`Magic`]: the binary protocol (PROTOCOL.md sections 1-2).
//! * [`Decoder`]: incremental decoding with a body-length cap checked before allocating.
//! * [`encode_to`] and the [`Packet`] constructors: encoding into a caller's buffer, refusing
//!   what gearmand would mishandle (see [`validate`]).
//! * [`admin`]: the text admin protocol (command lines and typed replies).
//!
//! ```
//! use gearman_sync::protocol::{Decoder, Magic, Packet, PacketType};
//! let mut wire = Vec::new();
//! Packet::echo_req(b"\0binary\xff")?.encode(&mut wire);
//! Packet::empty(PacketType::GrabJobUniq)?.encode(&mut wire);
//! let decoder = Decoder::new().accept_only(Magic::Request);
//! let (first, used) = decoder.decode(&wire)?.expect("whole packet");
//! assert_eq!(first.arg(0), b"\0binary\xff");
//! let (second, _) = decoder.decode(&wire[used..])?.expect("whole packet");
//! assert_eq!(second.kind(), PacketType::GrabJobUniq);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod admin;
pub(crate) mod error;
mod packet;
mod packet_type;
pub mod validate;

#[cfg(test)]
mod tests;

pub use packet::{
    encode_head_to, encode_to, parse_body, parse_body_owned, parse_decimal, Decoder, Header,
    Packet, DEFAULT_MAX_BODY_LEN, HEADER_LEN,
};
pub use packet_type::{Magic, PacketType};
