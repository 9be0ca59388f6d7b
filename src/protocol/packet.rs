//! Binary packets: building, encoding into a caller's buffer, and incremental decoding.

use byteorder::{BigEndian, ByteOrder};

use super::error::{ArgumentError, ProtocolError};
use super::packet_type::{Magic, PacketType};
use super::validate;

/// Size of the fixed packet header: magic, type, body length.
pub const HEADER_LEN: usize = 12;
/// Default cap on a received packet's body length (64 MiB).
pub const DEFAULT_MAX_BODY_LEN: u32 = 64 << 20;
/// Most delimited fields any packet type has (SUBMIT_JOB_SCHED).
const MAX_DELIMITED: usize = 7;

/// One binary packet: its magic, type and arguments.
///
/// The body is kept as one buffer with the field boundaries, so a decoded packet costs a single
/// allocation. Arguments are numbered from 0; the tail, when the type has one, is the last.
///
/// ```
/// use gearman_sync::protocol::{Packet, PacketType, Magic};
/// let packet = Packet::submit(PacketType::SubmitJob, b"reverse", b"", b"test")?;
/// let mut wire = Vec::new();
/// packet.encode(&mut wire);
/// assert_eq!(&wire[..4], b"\0REQ");
/// assert_eq!(packet.arg(0), b"reverse");
/// assert_eq!(packet.arg(2), b"test");
/// # Ok::<(), gearman_sync::ArgumentError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    magic: Magic,
    kind: PacketType,
    body: Vec<u8>,
    /// Offsets of the NUL bytes that end the delimited fields.
    delimiters: [u32; MAX_DELIMITED],
}

/// The parsed 12-byte header of a packet, from [`Decoder::decode_header`].
///
/// ```
/// use gearman_sync::protocol::{Decoder, Magic, PacketType};
/// let header = Decoder::new().decode_header(b"\0RES\0\0\0\x08\0\0\0\x06")?.expect("12 bytes");
/// assert_eq!((header.magic, header.kind, header.body_len), (Magic::Response, PacketType::JobCreated, 6));
/// # Ok::<(), gearman_sync::ProtocolError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Direction of the packet.
    pub magic: Magic,
    /// Packet type.
    pub kind: PacketType,
    /// Body length in bytes (header excluded).
    pub body_len: u32,
}

impl Header {
    /// Bytes the whole packet occupies on the wire (header included).
    ///
    /// ```
    /// use gearman_sync::protocol::{Header, Magic, PacketType, HEADER_LEN};
    /// let header = Header { magic: Magic::Request, kind: PacketType::EchoReq, body_len: 4 };
    /// assert_eq!(header.packet_len(), HEADER_LEN + 4);
    /// ```
    pub fn packet_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.body_len as usize)
    }
}

/// Appends one packet built from `args` to `buf`, checking the shape of `kind` and that no
/// delimited argument (nor the handle tail of JOB_CREATED, WORK_FAIL and GET_STATUS) holds a
/// NUL byte. Nothing is appended on error.
///
/// This is the allocation-free path used by the client and worker; [`Packet::new`] builds an
/// owned packet instead.
///
/// ```
/// use gearman_sync::protocol::{encode_to, Magic, PacketType};
/// let mut wire = Vec::new();
/// encode_to(&mut wire, Magic::Request, PacketType::EchoReq, &[b"ping"])?;
/// assert_eq!(wire, b"\0REQ\0\0\0\x10\0\0\0\x04ping");
/// # Ok::<(), gearman_sync::ArgumentError>(())
/// ```
pub fn encode_to(
    buf: &mut Vec<u8>,
    magic: Magic,
    kind: PacketType,
    args: &[&[u8]],
) -> Result<(), ArgumentError> {
    encode_head_to(buf, magic, kind, args)?;
    if kind.has_tail() {
        buf.extend_from_slice(args[kind.delimited_fields()]);
    }
    Ok(())
}

/// Appends one packet like [`encode_to`] but without its tail: the header (with the full body
/// length) and the delimited fields. The caller writes the tail itself, so a large workload
/// goes to the socket without being copied into the buffer first.
///
/// ```
/// use gearman_sync::protocol::{encode_to, encode_head_to, Magic, PacketType};
/// let args: [&[u8]; 2] = [b"H:1", b"a large result"];
/// let mut whole = Vec::new();
/// encode_to(&mut whole, Magic::Request, PacketType::WorkComplete, &args)?;
/// let mut head = Vec::new();
/// encode_head_to(&mut head, Magic::Request, PacketType::WorkComplete, &args)?;
/// head.extend_from_slice(args[1]);
/// assert_eq!(head, whole);
/// # Ok::<(), gearman_sync::ArgumentError>(())
/// ```
pub fn encode_head_to(
    buf: &mut Vec<u8>,
    magic: Magic,
    kind: PacketType,
    args: &[&[u8]],
) -> Result<(), ArgumentError> {
    let body_len = check_shape(kind, args)?;
    let delimited = kind.delimited_fields();
    let tail_len = if kind.has_tail() {
        args[delimited].len()
    } else {
        0
    };
    buf.reserve(HEADER_LEN + body_len - tail_len);
    buf.extend_from_slice(&magic.bytes());
    buf.extend_from_slice(&kind.code().to_be_bytes());
    buf.extend_from_slice(&(body_len as u32).to_be_bytes());
    for arg in &args[..delimited] {
        buf.extend_from_slice(arg);
        buf.push(0);
    }
    Ok(())
}

/// Validates argument count and delimited fields; returns the body length.
fn check_shape(kind: PacketType, args: &[&[u8]]) -> Result<usize, ArgumentError> {
    if args.len() != kind.arg_count() {
        return Err(ArgumentError::WrongArgumentCount {
            kind,
            expected: kind.arg_count(),
            found: args.len(),
        });
    }
    let delimited = kind.delimited_fields();
    for arg in &args[..delimited] {
        validate::delimited(kind.name(), arg)?;
    }
    if kind.tail_is_handle() {
        // The decoder strips trailing NULs from a handle tail (gearmand's stray NUL), so a
        // handle ending in NUL would not survive the wire; a handle never holds one anyway.
        validate::delimited("job handle", args[delimited])?;
    }
    let body_len = args.iter().map(|arg| arg.len()).sum::<usize>() + delimited;
    if body_len > u32::MAX as usize {
        return Err(ArgumentError::PacketTooLarge { len: body_len });
    }
    Ok(body_len)
}

impl Packet {
    /// Builds a packet from its arguments, checking the type's shape and that no delimited
    /// argument (nor a handle tail, see [`PacketType::tail_is_handle`]) contains a NUL byte, so
    /// that every packet built decodes back to itself.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType, Magic};
    /// let created = Packet::new(Magic::Response, PacketType::JobCreated, &[b"H:vm:1"])?;
    /// assert_eq!(created.arg(0), b"H:vm:1");
    /// assert!(Packet::new(Magic::Response, PacketType::JobCreated, &[]).is_err());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn new(magic: Magic, kind: PacketType, args: &[&[u8]]) -> Result<Packet, ArgumentError> {
        let body_len = check_shape(kind, args)?;
        let mut body = Vec::with_capacity(body_len);
        let mut delimiters = [0u32; MAX_DELIMITED];
        let delimited = kind.delimited_fields();
        for (index, arg) in args.iter().enumerate() {
            body.extend_from_slice(arg);
            if index < delimited {
                delimiters[index] = body.len() as u32;
                body.push(0);
            }
        }
        Ok(Packet {
            magic,
            kind,
            body,
            delimiters,
        })
    }

    /// A request packet with no arguments (GRAB_JOB, PRE_SLEEP, RESET_ABILITIES, ...);
    /// [`ArgumentError::WrongArgumentCount`] for a type that takes arguments.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let grab = Packet::empty(PacketType::GrabJobUniq)?;
    /// assert_eq!(grab.to_bytes(), b"\0REQ\0\0\0\x1e\0\0\0\0");
    /// assert!(Packet::empty(PacketType::CanDo).is_err());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn empty(kind: PacketType) -> Result<Packet, ArgumentError> {
        Packet::new(Magic::Request, kind, &[])
    }

    /// `CAN_DO function`. Refuses an empty or over-long name and NUL bytes.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::can_do(b"reverse")?;
    /// assert_eq!((packet.kind(), packet.arg(0)), (PacketType::CanDo, &b"reverse"[..]));
    /// assert!(Packet::can_do(b"").is_err());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn can_do(function: &[u8]) -> Result<Packet, ArgumentError> {
        validate::function(function)?;
        Packet::new(Magic::Request, PacketType::CanDo, &[function])
    }

    /// `CANT_DO function`. Refuses an empty or over-long name and NUL bytes.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::cant_do(b"reverse")?;
    /// assert_eq!(packet.kind(), PacketType::CantDo);
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn cant_do(function: &[u8]) -> Result<Packet, ArgumentError> {
        validate::function(function)?;
        Packet::new(Magic::Request, PacketType::CantDo, &[function])
    }

    /// `CAN_DO_TIMEOUT function\0 timeout` with the timeout as decimal text in the unit the
    /// server expects (milliseconds since gearmand 1.1.19).
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::can_do_timeout(b"resize", 30_000)?;
    /// assert_eq!(packet.arg(0), b"resize");
    /// assert_eq!(packet.arg(1), b"30000");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn can_do_timeout(function: &[u8], timeout: u32) -> Result<Packet, ArgumentError> {
        validate::function(function)?;
        let timeout = timeout.to_string();
        Packet::new(
            Magic::Request,
            PacketType::CanDoTimeout,
            &[function, timeout.as_bytes()],
        )
    }

    /// One of the six plain SUBMIT_JOB* packets (foreground or background, any priority).
    ///
    /// Refuses an empty or over-long function name, a unique over 63 bytes and NUL bytes in
    /// either. Any other packet type is [`ArgumentError::WrongPacketType`].
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::submit(PacketType::SubmitJobLowBg, b"cleanup", b"nightly", b"tmp/*")?;
    /// assert_eq!(packet.args().collect::<Vec<_>>(), [&b"cleanup"[..], b"nightly", b"tmp/*"]);
    /// assert!(Packet::submit(PacketType::SubmitJobEpoch, b"f", b"", b"").is_err());
    /// assert!(Packet::submit(PacketType::SubmitJob, b"f", &[b'u'; 64], b"").is_err());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn submit(
        kind: PacketType,
        function: &[u8],
        unique: &[u8],
        data: &[u8],
    ) -> Result<Packet, ArgumentError> {
        check_submit(kind, function, unique)?;
        Packet::new(Magic::Request, kind, &[function, unique, data])
    }

    /// `SUBMIT_JOB_EPOCH`: a background job that becomes runnable at a Unix time (seconds).
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::submit_epoch(b"remind", b"", 1_900_000_000, b"user=42")?;
    /// assert_eq!(packet.kind(), PacketType::SubmitJobEpoch);
    /// assert_eq!(packet.arg(2), b"1900000000");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn submit_epoch(
        function: &[u8],
        unique: &[u8],
        epoch: u64,
        data: &[u8],
    ) -> Result<Packet, ArgumentError> {
        validate::function(function)?;
        validate::unique(unique)?;
        let epoch = epoch.to_string();
        Packet::new(
            Magic::Request,
            PacketType::SubmitJobEpoch,
            &[function, unique, epoch.as_bytes(), data],
        )
    }

    /// `SUBMIT_REDUCE_JOB[_BACKGROUND]` with the empty aggregator field gearmand requires.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::submit_reduce(false, b"map", b"", b"sum", b"1 2 3")?;
    /// assert_eq!(packet.kind(), PacketType::SubmitReduceJob);
    /// assert_eq!((packet.arg(2), packet.arg(3), packet.tail()), (&b"sum"[..], &b""[..], &b"1 2 3"[..]));
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn submit_reduce(
        background: bool,
        function: &[u8],
        unique: &[u8],
        reducer: &[u8],
        data: &[u8],
    ) -> Result<Packet, ArgumentError> {
        validate::function(function)?;
        validate::unique(unique)?;
        validate::reducer(reducer)?;
        let kind = if background {
            PacketType::SubmitReduceJobBackground
        } else {
            PacketType::SubmitReduceJob
        };
        Packet::new(
            Magic::Request,
            kind,
            &[function, unique, reducer, b"", data],
        )
    }

    /// `GET_STATUS handle`. Refuses an empty handle, one over 63 bytes and NUL bytes.
    ///
    /// ```
    /// use gearman_sync::protocol::Packet;
    /// assert_eq!(Packet::get_status(b"H:vm:1")?.tail(), b"H:vm:1");
    /// assert!(Packet::get_status(b"").is_err());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn get_status(handle: &[u8]) -> Result<Packet, ArgumentError> {
        validate::handle(handle)?;
        Packet::new(Magic::Request, PacketType::GetStatus, &[handle])
    }

    /// `GET_STATUS_UNIQUE unique`. Refuses an empty unique, one over 63 bytes and NUL bytes.
    ///
    /// ```
    /// use gearman_sync::protocol::Packet;
    /// assert_eq!(Packet::get_status_unique(b"import-feed")?.arg(0), b"import-feed");
    /// assert!(Packet::get_status_unique(b"").is_err());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn get_status_unique(unique: &[u8]) -> Result<Packet, ArgumentError> {
        validate::unique(unique)?;
        if unique.is_empty() {
            return Err(ArgumentError::Empty { field: "unique" });
        }
        Packet::new(Magic::Request, PacketType::GetStatusUnique, &[unique])
    }

    /// `ECHO_REQ data` (any bytes).
    ///
    /// ```
    /// use gearman_sync::protocol::Packet;
    /// assert_eq!(Packet::echo_req(b"\0any\xffbytes")?.arg(0), b"\0any\xffbytes");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn echo_req(data: &[u8]) -> Result<Packet, ArgumentError> {
        Packet::new(Magic::Request, PacketType::EchoReq, &[data])
    }

    /// `OPTION_REQ name` (gearmand knows `exceptions`). Refuses an empty name, one over 63
    /// bytes and NUL bytes.
    ///
    /// ```
    /// use gearman_sync::protocol::Packet;
    /// assert_eq!(Packet::option_req(b"exceptions")?.arg(0), b"exceptions");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn option_req(name: &[u8]) -> Result<Packet, ArgumentError> {
        validate::option(name)?;
        Packet::new(Magic::Request, PacketType::OptionReq, &[name])
    }

    /// `SET_CLIENT_ID id` (1 to 127 printable ASCII bytes, no spaces).
    ///
    /// ```
    /// use gearman_sync::protocol::Packet;
    /// assert_eq!(Packet::set_client_id(b"worker-7")?.arg(0), b"worker-7");
    /// assert!(Packet::set_client_id(b"worker 7").is_err());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn set_client_id(id: &[u8]) -> Result<Packet, ArgumentError> {
        validate::client_id(id)?;
        Packet::new(Magic::Request, PacketType::SetClientId, &[id])
    }

    /// `WORK_STATUS handle\0 numerator\0 denominator`.
    ///
    /// ```
    /// use gearman_sync::protocol::Packet;
    /// let packet = Packet::work_status(b"H:vm:1", 3, 10)?;
    /// assert_eq!(packet.args().collect::<Vec<_>>(), [&b"H:vm:1"[..], b"3", b"10"]);
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn work_status(
        handle: &[u8],
        numerator: u32,
        denominator: u32,
    ) -> Result<Packet, ArgumentError> {
        validate::handle(handle)?;
        let (numerator, denominator) = (numerator.to_string(), denominator.to_string());
        Packet::new(
            Magic::Request,
            PacketType::WorkStatus,
            &[handle, numerator.as_bytes(), denominator.as_bytes()],
        )
    }

    /// `WORK_DATA`, `WORK_WARNING`, `WORK_COMPLETE` or `WORK_EXCEPTION`: `handle\0 data`.
    /// Any other type is [`ArgumentError::WrongPacketType`].
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::work_with_data(PacketType::WorkComplete, b"H:vm:1", b"olleh")?;
    /// assert_eq!((packet.arg(0), packet.arg(1)), (&b"H:vm:1"[..], &b"olleh"[..]));
    /// assert!(Packet::work_with_data(PacketType::WorkFail, b"H:vm:1", b"").is_err());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn work_with_data(
        kind: PacketType,
        handle: &[u8],
        data: &[u8],
    ) -> Result<Packet, ArgumentError> {
        if !matches!(
            kind,
            PacketType::WorkData
                | PacketType::WorkWarning
                | PacketType::WorkComplete
                | PacketType::WorkException
        ) {
            return Err(ArgumentError::WrongPacketType { kind });
        }
        validate::handle(handle)?;
        Packet::new(Magic::Request, kind, &[handle, data])
    }

    /// `WORK_FAIL handle`.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// assert_eq!(Packet::work_fail(b"H:vm:1")?.kind(), PacketType::WorkFail);
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn work_fail(handle: &[u8]) -> Result<Packet, ArgumentError> {
        validate::handle(handle)?;
        Packet::new(Magic::Request, PacketType::WorkFail, &[handle])
    }

    /// The packet's direction.
    ///
    /// ```
    /// use gearman_sync::protocol::{Magic, Packet};
    /// assert_eq!(Packet::echo_req(b"ping")?.magic(), Magic::Request);
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn magic(&self) -> Magic {
        self.magic
    }

    /// The packet's type.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// assert_eq!(Packet::echo_req(b"ping")?.kind(), PacketType::EchoReq);
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn kind(&self) -> PacketType {
        self.kind
    }

    /// Number of arguments (delimited fields plus tail), fixed by the type.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// assert_eq!(Packet::work_status(b"H:vm:1", 1, 2)?.arg_count(), 3);
    /// assert_eq!(Packet::empty(PacketType::Noop)?.arg_count(), 0);
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn arg_count(&self) -> usize {
        self.kind.arg_count()
    }

    /// Argument `index` (0-based; the tail is the last). Out of range gives an empty slice.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::submit(PacketType::SubmitJob, b"reverse", b"u1", b"hello")?;
    /// assert_eq!(packet.arg(1), b"u1");
    /// assert_eq!(packet.arg(3), b"");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn arg(&self, index: usize) -> &[u8] {
        let delimited = self.kind.delimited_fields();
        if index >= self.kind.arg_count() {
            return &[];
        }
        let start = if index == 0 {
            0
        } else {
            self.delimiters[index - 1] as usize + 1
        };
        let end = if index < delimited {
            self.delimiters[index] as usize
        } else {
            self.body.len()
        };
        &self.body[start..end]
    }

    /// Iterates over all arguments in order.
    ///
    /// ```
    /// use gearman_sync::protocol::Packet;
    /// let packet = Packet::can_do_timeout(b"resize", 500)?;
    /// let args: Vec<&[u8]> = packet.args().collect();
    /// assert_eq!(args, [&b"resize"[..], b"500"]);
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn args(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.arg_count()).map(move |index| self.arg(index))
    }

    /// The tail argument (empty for types without one).
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::work_with_data(PacketType::WorkData, b"H:vm:1", b"chunk")?;
    /// assert_eq!(packet.tail(), b"chunk");
    /// assert_eq!(Packet::empty(PacketType::Noop)?.tail(), b"");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn tail(&self) -> &[u8] {
        if self.kind.has_tail() {
            self.arg(self.kind.delimited_fields())
        } else {
            &[]
        }
    }

    /// Takes the tail out of the packet without a second allocation (empty for types without
    /// a tail).
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::work_with_data(PacketType::WorkComplete, b"H:vm:1", b"result")?;
    /// assert_eq!(packet.into_tail(), b"result");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn into_tail(mut self) -> Vec<u8> {
        if !self.kind.has_tail() {
            return Vec::new();
        }
        let delimited = self.kind.delimited_fields();
        let start = if delimited == 0 {
            0
        } else {
            self.delimiters[delimited - 1] as usize + 1
        };
        self.body.drain(..start);
        self.body
    }

    /// The raw body (arguments with their NUL delimiters).
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let packet = Packet::submit(PacketType::SubmitJob, b"f", b"u", b"data")?;
    /// assert_eq!(packet.body(), b"f\0u\0data");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Bytes the packet occupies on the wire.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, HEADER_LEN};
    /// let packet = Packet::echo_req(b"ping")?;
    /// assert_eq!(packet.encoded_len(), HEADER_LEN + 4);
    /// assert_eq!(packet.encoded_len(), packet.to_bytes().len());
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }

    /// Appends the packet's wire form to `buf`.
    ///
    /// ```
    /// use gearman_sync::protocol::{Packet, PacketType};
    /// let mut wire = Vec::new();
    /// Packet::empty(PacketType::GrabJobUniq)?.encode(&mut wire);
    /// Packet::empty(PacketType::PreSleep)?.encode(&mut wire);
    /// assert_eq!(wire.len(), 24);
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.reserve(self.encoded_len());
        buf.extend_from_slice(&self.magic.bytes());
        buf.extend_from_slice(&self.kind.code().to_be_bytes());
        buf.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        buf.extend_from_slice(&self.body);
    }

    /// The wire form as a new vector.
    ///
    /// ```
    /// use gearman_sync::protocol::Packet;
    /// assert_eq!(Packet::echo_req(b"hi")?.to_bytes(), b"\0REQ\0\0\0\x10\0\0\0\x02hi");
    /// # Ok::<(), gearman_sync::ArgumentError>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf
    }
}

fn check_submit(kind: PacketType, function: &[u8], unique: &[u8]) -> Result<(), ArgumentError> {
    if !matches!(
        kind,
        PacketType::SubmitJob
            | PacketType::SubmitJobBg
            | PacketType::SubmitJobHigh
            | PacketType::SubmitJobHighBg
            | PacketType::SubmitJobLow
            | PacketType::SubmitJobLowBg
    ) {
        return Err(ArgumentError::WrongPacketType { kind });
    }
    validate::function(function)?;
    validate::unique(unique)
}

/// Incremental packet decoder over a byte slice: sans-IO, never blocks, never allocates more than
/// one packet's body, and never allocates from a length it has not checked against its cap.
///
/// ```
/// use gearman_sync::protocol::{Decoder, PacketType};
/// let wire = b"\0RES\0\0\0\x08\0\0\0\x06H:vm:1";
/// let decoder = Decoder::new();
/// assert_eq!(decoder.decode(&wire[..5])?, None); // need more
/// let (packet, used) = decoder.decode(wire)?.expect("complete");
/// assert_eq!(packet.kind(), PacketType::JobCreated);
/// assert_eq!(packet.arg(0), b"H:vm:1");
/// assert_eq!(used, wire.len());
/// # Ok::<(), gearman_sync::ProtocolError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_body_len: u32,
    accept: Option<Magic>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the default 64 MiB body cap that accepts both magics.
    ///
    /// ```
    /// use gearman_sync::protocol::{Decoder, DEFAULT_MAX_BODY_LEN};
    /// assert_eq!(Decoder::new().max_body_len(), DEFAULT_MAX_BODY_LEN);
    /// ```
    pub const fn new() -> Decoder {
        Decoder {
            max_body_len: DEFAULT_MAX_BODY_LEN,
            accept: None,
        }
    }

    /// Sets the largest body length accepted (up to `u32::MAX`, the protocol's own limit). A
    /// longer declared body is [`ProtocolError::BodyTooLarge`], before anything is allocated.
    ///
    /// ```
    /// use gearman_sync::{protocol::Decoder, ProtocolError};
    /// let decoder = Decoder::new().with_max_body_len(2);
    /// let error = decoder.decode(b"\0RES\0\0\0\x11\0\0\0\x04pong").unwrap_err();
    /// assert_eq!(error, ProtocolError::BodyTooLarge { len: 4, max: 2 });
    /// ```
    pub const fn with_max_body_len(mut self, max_body_len: u32) -> Decoder {
        self.max_body_len = max_body_len;
        self
    }

    /// Accepts only packets with this magic: a client or worker takes `Magic::Response`.
    /// Others are [`ProtocolError::UnexpectedMagic`].
    ///
    /// ```
    /// use gearman_sync::{protocol::{Decoder, Magic, Packet}, ProtocolError};
    /// let decoder = Decoder::new().accept_only(Magic::Response);
    /// let request = Packet::echo_req(b"ping")?.to_bytes();
    /// assert!(matches!(decoder.decode(&request), Err(ProtocolError::UnexpectedMagic { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn accept_only(mut self, magic: Magic) -> Decoder {
        self.accept = Some(magic);
        self
    }

    /// The configured body cap.
    ///
    /// ```
    /// use gearman_sync::protocol::Decoder;
    /// assert_eq!(Decoder::new().with_max_body_len(1024).max_body_len(), 1024);
    /// ```
    pub const fn max_body_len(&self) -> u32 {
        self.max_body_len
    }

    /// Parses and checks a header from the first 12 bytes of `buf`; `Ok(None)` when fewer are
    /// there. Checks the magic, the type and the body length against the cap.
    ///
    /// ```
    /// use gearman_sync::protocol::{Decoder, PacketType};
    /// let decoder = Decoder::new();
    /// assert_eq!(decoder.decode_header(b"\0RES")?, None);
    /// let header = decoder.decode_header(b"\0RES\0\0\0\x06\0\0\0\0")?.expect("whole header");
    /// assert_eq!(header.kind, PacketType::Noop);
    /// assert!(decoder.decode_header(b"\0RES\0\0\0\x63\0\0\0\0").is_err()); // type 99
    /// # Ok::<(), gearman_sync::ProtocolError>(())
    /// ```
    pub fn decode_header(&self, buf: &[u8]) -> Result<Option<Header>, ProtocolError> {
        let Some(raw) = buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let magic_bytes = [raw[0], raw[1], raw[2], raw[3]];
        let magic = Magic::from_bytes(magic_bytes).ok_or(ProtocolError::BadMagic(magic_bytes))?;
        let kind = PacketType::try_from(BigEndian::read_u32(&raw[4..8]))?;
        if let Some(expected) = self.accept {
            if magic != expected {
                return Err(ProtocolError::UnexpectedMagic {
                    kind,
                    expected,
                    found: magic,
                });
            }
        }
        let body_len = BigEndian::read_u32(&raw[8..12]);
        if body_len > self.max_body_len {
            return Err(ProtocolError::BodyTooLarge {
                len: body_len,
                max: self.max_body_len,
            });
        }
        Ok(Some(Header {
            magic,
            kind,
            body_len,
        }))
    }

    /// Decodes one packet from the front of `buf`.
    ///
    /// Returns `Ok(None)` while the packet is incomplete, or the packet and the number of bytes
    /// it used; bytes after it are left for the next call. Bad bytes are a
    /// [`ProtocolError`]: the stream cannot be resynchronised after one.
    ///
    /// ```
    /// use gearman_sync::protocol::{Decoder, Packet};
    /// let mut wire = Packet::echo_req(b"a")?.to_bytes();
    /// wire.extend(Packet::echo_req(b"b")?.to_bytes());
    /// let (first, used) = Decoder::new().decode(&wire)?.expect("whole packet");
    /// assert_eq!((first.arg(0), used), (&b"a"[..], 13));
    /// assert_eq!(Decoder::new().decode(&wire[used..used + 5])?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(&self, buf: &[u8]) -> Result<Option<(Packet, usize)>, ProtocolError> {
        let Some(header) = self.decode_header(buf)? else {
            return Ok(None);
        };
        let total = header.packet_len();
        let Some(body) = buf.get(HEADER_LEN..total) else {
            return Ok(None);
        };
        Ok(Some((parse_body(header, body)?, total)))
    }
}

/// Splits a complete body into the type's fields. Lenient where gearmand is sloppy: a stray
/// NUL after a handle tail is stripped, and bytes in the body of an argument-less packet are
/// ignored (gearmand ignores them too). Too few fields is [`ProtocolError::MissingFields`].
///
/// ```
/// use gearman_sync::protocol::{parse_body, Header, Magic, PacketType};
/// let header = Header { magic: Magic::Response, kind: PacketType::WorkFail, body_len: 7 };
/// let packet = parse_body(header, b"H:vm:1\0")?; // gearmand's stray NUL is stripped
/// assert_eq!(packet.arg(0), b"H:vm:1");
/// let header = Header { magic: Magic::Response, kind: PacketType::WorkComplete, body_len: 6 };
/// assert!(parse_body(header, b"H:vm:1").is_err()); // no NUL after the handle
/// # Ok::<(), gearman_sync::ProtocolError>(())
/// ```
pub fn parse_body(header: Header, body: &[u8]) -> Result<Packet, ProtocolError> {
    let (delimiters, end) = split_fields(header.kind, body)?;
    Ok(Packet {
        magic: header.magic,
        kind: header.kind,
        body: body[..end].to_vec(),
        delimiters,
    })
}

/// Finds the NULs that end the delimited fields and the end of the body to keep (a stray NUL
/// after a handle tail and the body of an argument-less packet are dropped).
fn split_fields(
    kind: PacketType,
    body: &[u8],
) -> Result<([u32; MAX_DELIMITED], usize), ProtocolError> {
    let delimited = kind.delimited_fields();
    let mut delimiters = [0u32; MAX_DELIMITED];
    let mut found = 0;
    let mut search_from = 0;
    while found < delimited {
        match body[search_from..].iter().position(|&byte| byte == 0) {
            Some(offset) => {
                delimiters[found] = (search_from + offset) as u32;
                search_from += offset + 1;
                found += 1;
            }
            None => {
                return Err(ProtocolError::MissingFields {
                    kind,
                    expected: delimited,
                    found,
                })
            }
        }
    }
    let mut end = body.len();
    if !kind.has_tail() {
        end = 0;
    } else if kind.tail_is_handle() {
        while end > search_from && body[end - 1] == 0 {
            end -= 1;
        }
    }
    Ok((delimiters, end))
}

/// Like [`parse_body`] but takes the body by value, so a large body is never copied.
///
/// ```
/// use gearman_sync::protocol::{parse_body_owned, Header, Magic, PacketType};
/// let header = Header { magic: Magic::Response, kind: PacketType::WorkComplete, body_len: 5 };
/// let packet = parse_body_owned(header, b"H:1\0x".to_vec())?;
/// assert_eq!(packet.arg(1), b"x");
/// # Ok::<(), gearman_sync::ProtocolError>(())
/// ```
pub fn parse_body_owned(header: Header, mut body: Vec<u8>) -> Result<Packet, ProtocolError> {
    let (delimiters, end) = split_fields(header.kind, &body)?;
    body.truncate(end);
    Ok(Packet {
        magic: header.magic,
        kind: header.kind,
        body,
        delimiters,
    })
}

/// Parses a decimal field the way gearmand's `atoi` does: leading digits, anything else ignored,
/// saturating at `u32::MAX`; `None` when there is no leading digit.
///
/// ```
/// use gearman_sync::protocol::parse_decimal;
/// assert_eq!(parse_decimal(b"42"), Some(42));
/// assert_eq!(parse_decimal(b"7x"), Some(7));
/// assert_eq!(parse_decimal(b"x"), None);
/// ```
pub fn parse_decimal(field: &[u8]) -> Option<u32> {
    let digits = field.iter().take_while(|byte| byte.is_ascii_digit());
    let mut value: u32 = 0;
    let mut any = false;
    for digit in digits {
        any = true;
        value = value
            .saturating_mul(10)
            .saturating_add(u32::from(digit - b'0'));
    }
    any.then_some(value)
}
