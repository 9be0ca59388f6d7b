//! The codec's errors: [`ProtocolError`] for bytes that break the Gearman wire rules, and
//! [`ArgumentError`] for caller input refused before sending. Plain data (`Clone + Eq`), with no
//! I/O in them.

use super::{Magic, PacketType};

/// Bytes received from a peer that violate the Gearman protocol.
///
/// Produced by the sans-IO codec ([`crate::protocol`]) and therefore cheap to clone and compare.
/// A connection that yields a `ProtocolError` is out of sync and is closed by this crate.
///
/// ```
/// use gearman_sync::ProtocolError;
/// use gearman_sync::protocol::Decoder;
/// let error = Decoder::new().decode(b"HTTP/1.1 200 OK").unwrap_err();
/// assert_eq!(error, ProtocolError::BadMagic(*b"HTTP"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first four bytes of a packet are neither `\0REQ` nor `\0RES`.
    #[error("bad packet magic {0:02x?} (expected \\0REQ or \\0RES)")]
    BadMagic([u8; 4]),
    /// A packet carried the wrong magic for its direction, e.g. a request sent by a server.
    #[error("{kind} packet with {found} magic where {expected} magic was expected")]
    UnexpectedMagic {
        /// The packet's type.
        kind: PacketType,
        /// The magic this side accepts.
        expected: Magic,
        /// The magic that arrived.
        found: Magic,
    },
    /// The packet type number is outside 1..=42.
    #[error("unknown packet type {0}")]
    UnknownPacketType(u32),
    /// The declared body length exceeds the decoder's cap; nothing was allocated for it.
    #[error("packet body of {len} bytes exceeds the limit of {max} bytes")]
    BodyTooLarge {
        /// Declared body length.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The body has fewer NUL-delimited fields than the packet type requires.
    #[error("{kind} packet needs {expected} NUL-delimited fields, found {found}")]
    MissingFields {
        /// The packet's type.
        kind: PacketType,
        /// Delimited fields the type requires.
        expected: usize,
        /// Delimited fields present.
        found: usize,
    },
    /// A numeric field (status numerator, known flag, ...) is not a decimal number.
    #[error("{kind} field {field} is not a valid number: {value:?}")]
    InvalidNumber {
        /// The packet's type.
        kind: PacketType,
        /// Which field.
        field: &'static str,
        /// The field as received (lossy UTF-8, cut to 64 bytes).
        value: String,
    },
    /// A packet arrived that makes no sense at this point of the conversation.
    #[error("unexpected {kind} packet: {context}")]
    UnexpectedPacket {
        /// The packet's type.
        kind: PacketType,
        /// What the receiver was doing.
        context: &'static str,
    },
    /// An admin text reply line is longer than the parser's cap.
    #[error("admin reply line longer than {max} bytes")]
    AdminLineTooLong {
        /// The configured maximum line length.
        max: usize,
    },
    /// A complete admin reply (all its lines) is larger than the parser's cap.
    #[error("admin reply larger than {max} bytes")]
    AdminReplyTooLarge {
        /// The configured maximum reply size.
        max: usize,
    },
    /// An admin text reply line does not have the shape its command produces.
    #[error("malformed admin reply ({reason}): {line:?}")]
    MalformedAdminReply {
        /// What is wrong with it.
        reason: &'static str,
        /// The offending line (lossy UTF-8, cut to 200 bytes).
        line: String,
    },
}

/// Caller input refused before anything is sent, because gearmand would mishandle it.
///
/// ```
/// use gearman_sync::ArgumentError;
/// use gearman_sync::protocol::validate;
/// assert_eq!(
///     validate::function(b"a\0b"),
///     Err(ArgumentError::NulByte { field: "function name" })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgumentError {
    /// A NUL byte inside a field that the protocol delimits with NUL.
    #[error("{field} must not contain a NUL byte")]
    NulByte {
        /// Which argument.
        field: &'static str,
    },
    /// An argument that must not be empty is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// Which argument.
        field: &'static str,
    },
    /// An argument is longer than gearmand handles correctly.
    #[error("{field} is {len} bytes long; the maximum is {max}")]
    TooLong {
        /// Which argument.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// An argument holds a byte that is not allowed there (space, newline, control byte ...).
    #[error("{field} contains a byte not allowed there: {byte:#04x}")]
    InvalidByte {
        /// Which argument.
        field: &'static str,
        /// The first offending byte.
        byte: u8,
    },
    /// The number of arguments does not match the packet type's shape.
    #[error("{kind} takes {expected} arguments, {found} given")]
    WrongArgumentCount {
        /// The packet's type.
        kind: PacketType,
        /// Arguments the type takes.
        expected: usize,
        /// Arguments given.
        found: usize,
    },
    /// A packet type was used with a constructor that does not build it.
    #[error("{kind} cannot be built by this constructor")]
    WrongPacketType {
        /// The type given.
        kind: PacketType,
    },
    /// The whole packet would exceed the protocol's 4 GiB body limit.
    #[error("packet body of {len} bytes exceeds the protocol's u32 length")]
    PacketTooLarge {
        /// The body length that was refused.
        len: usize,
    },
    /// A value is out of its allowed range.
    #[error("{field}: {reason}")]
    OutOfRange {
        /// Which argument.
        field: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
}
