//! The 42 binary packet types, their numbers and their per-type shape.

use std::fmt;

use super::error::ProtocolError;

/// Who sends a packet: the direction encoded by its magic.
///
/// ```
/// use gearman_sync::protocol::Magic;
/// assert_eq!(Magic::Response.to_string(), "RES");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `\0REQ`: sent to the server by a client or worker.
    Request,
    /// `\0RES`: sent by the server.
    Response,
}

impl Magic {
    /// The four magic bytes on the wire.
    ///
    /// ```
    /// use gearman_sync::protocol::Magic;
    /// assert_eq!(Magic::Request.bytes(), *b"\0REQ");
    /// ```
    pub const fn bytes(self) -> [u8; 4] {
        match self {
            Magic::Request => *b"\0REQ",
            Magic::Response => *b"\0RES",
        }
    }

    /// Parses four magic bytes; `None` when they are neither `\0REQ` nor `\0RES`.
    ///
    /// ```
    /// use gearman_sync::protocol::Magic;
    /// assert_eq!(Magic::from_bytes(*b"\0RES"), Some(Magic::Response));
    /// assert_eq!(Magic::from_bytes(*b"HTTP"), None);
    /// ```
    pub fn from_bytes(bytes: [u8; 4]) -> Option<Magic> {
        match &bytes {
            b"\0REQ" => Some(Magic::Request),
            b"\0RES" => Some(Magic::Response),
            _ => None,
        }
    }
}

impl fmt::Display for Magic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Magic::Request => "REQ",
            Magic::Response => "RES",
        })
    }
}

macro_rules! packet_types {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $delimited:literal, $tail:literal; )*) => {
        /// A binary packet type (the 32-bit number after the magic).
        ///
        /// Each type has a fixed shape: [`delimited_fields`](PacketType::delimited_fields) fields
        /// each ended by a NUL byte, then (when [`has_tail`](PacketType::has_tail)) a tail that
        /// runs to the end of the body and may hold any bytes.
        ///
        /// ```
        /// use gearman_sync::protocol::PacketType;
        /// let kind = PacketType::try_from(7)?;
        /// assert_eq!(kind, PacketType::SubmitJob);
        /// assert_eq!(kind.to_string(), "SUBMIT_JOB");
        /// assert!(PacketType::try_from(43).is_err());
        /// # Ok::<(), gearman_sync::ProtocolError>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum PacketType {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl PacketType {
            /// Every packet type, in numeric order (codes 1 to 42).
            ///
            /// ```
            /// use gearman_sync::protocol::PacketType;
            /// assert_eq!(PacketType::ALL[0], PacketType::CanDo);
            /// assert_eq!(PacketType::ALL.last(), Some(&PacketType::StatusResUnique));
            /// ```
            pub const ALL: [PacketType; 42] = [ $( PacketType::$variant, )* ];

            /// The protocol name, e.g. `"SUBMIT_JOB"`.
            ///
            /// ```
            /// use gearman_sync::protocol::PacketType;
            /// assert_eq!(PacketType::SubmitJobBg.name(), "SUBMIT_JOB_BG");
            /// ```
            pub const fn name(self) -> &'static str {
                match self { $( PacketType::$variant => $name, )* }
            }

            /// Number of NUL-terminated fields before the tail.
            ///
            /// ```
            /// use gearman_sync::protocol::PacketType;
            /// assert_eq!(PacketType::SubmitJob.delimited_fields(), 2); // function, unique
            /// assert_eq!(PacketType::WorkFail.delimited_fields(), 0);
            /// ```
            pub const fn delimited_fields(self) -> usize {
                match self { $( PacketType::$variant => $delimited, )* }
            }

            /// Whether the body ends with a tail argument (false for packets with no arguments).
            ///
            /// ```
            /// use gearman_sync::protocol::PacketType;
            /// assert!(PacketType::EchoReq.has_tail());
            /// assert!(!PacketType::Noop.has_tail());
            /// ```
            pub const fn has_tail(self) -> bool {
                match self { $( PacketType::$variant => $tail, )* }
            }
        }

        impl TryFrom<u32> for PacketType {
            type Error = ProtocolError;

            fn try_from(code: u32) -> Result<Self, ProtocolError> {
                match code {
                    $( $code => Ok(PacketType::$variant), )*
                    other => Err(ProtocolError::UnknownPacketType(other)),
                }
            }
        }
    };
}

packet_types! {
    /// W→S: register an ability. Tail: function.
    CanDo = 1, "CAN_DO", 0, true;
    /// W→S: remove an ability (re-queues that function's running jobs). Tail: function.
    CantDo = 2, "CANT_DO", 0, true;
    /// W→S: remove all abilities.
    ResetAbilities = 3, "RESET_ABILITIES", 0, false;
    /// W→S: the worker is going to sleep until NOOP.
    PreSleep = 4, "PRE_SLEEP", 0, false;
    /// Unused number; gearmand answers `ERROR INVALID_COMMAND`.
    Unused = 5, "UNUSED", 0, false;
    /// S→W: wake up, a job may be available.
    Noop = 6, "NOOP", 0, false;
    /// C→S: foreground job, normal priority. `function\0 unique\0` data.
    SubmitJob = 7, "SUBMIT_JOB", 2, true;
    /// S→C: reply to every SUBMIT_*. Tail: handle.
    JobCreated = 8, "JOB_CREATED", 0, true;
    /// W→S: ask for a job (reply JOB_ASSIGN or NO_JOB).
    GrabJob = 9, "GRAB_JOB", 0, false;
    /// S→W: nothing runnable.
    NoJob = 10, "NO_JOB", 0, false;
    /// S→W: a job. `handle\0 function\0` data.
    JobAssign = 11, "JOB_ASSIGN", 2, true;
    /// W→S and S→C: progress. `handle\0 numerator\0` denominator.
    WorkStatus = 12, "WORK_STATUS", 2, true;
    /// W→S and S→C: success. `handle\0` result.
    WorkComplete = 13, "WORK_COMPLETE", 1, true;
    /// W→S and S→C: failure. Tail: handle (gearmand may add a trailing NUL).
    WorkFail = 14, "WORK_FAIL", 0, true;
    /// C→S: ask for a job's status. Tail: handle.
    GetStatus = 15, "GET_STATUS", 0, true;
    /// C/W→S: echo request. Tail: data.
    EchoReq = 16, "ECHO_REQ", 0, true;
    /// S→C/W: echo reply. Tail: data.
    EchoRes = 17, "ECHO_RES", 0, true;
    /// C→S: background job, normal priority. `function\0 unique\0` data.
    SubmitJobBg = 18, "SUBMIT_JOB_BG", 2, true;
    /// S→C/W: error. `code\0` text.
    Error = 19, "ERROR", 1, true;
    /// S→C: status reply. `handle\0 known\0 running\0 numerator\0` denominator.
    StatusRes = 20, "STATUS_RES", 4, true;
    /// C→S: foreground job, high priority.
    SubmitJobHigh = 21, "SUBMIT_JOB_HIGH", 2, true;
    /// C/W→S: set the connection's label. Tail: id.
    SetClientId = 22, "SET_CLIENT_ID", 0, true;
    /// W→S: CAN_DO with a run-time limit. `function\0` timeout.
    CanDoTimeout = 23, "CAN_DO_TIMEOUT", 1, true;
    /// W→S: not implemented by gearmand.
    AllYours = 24, "ALL_YOURS", 0, false;
    /// W→S and S→C: failure with data. `handle\0` data.
    WorkException = 25, "WORK_EXCEPTION", 1, true;
    /// C/W→S: set an option. Tail: option name.
    OptionReq = 26, "OPTION_REQ", 0, true;
    /// S→C/W: option accepted. Tail: option name.
    OptionRes = 27, "OPTION_RES", 0, true;
    /// W→S and S→C: partial result. `handle\0` data.
    WorkData = 28, "WORK_DATA", 1, true;
    /// W→S and S→C: warning. `handle\0` data.
    WorkWarning = 29, "WORK_WARNING", 1, true;
    /// W→S: ask for a job with its unique (reply JOB_ASSIGN_UNIQ or NO_JOB).
    GrabJobUniq = 30, "GRAB_JOB_UNIQ", 0, false;
    /// S→W: a job with its unique. `handle\0 function\0 unique\0` data.
    JobAssignUniq = 31, "JOB_ASSIGN_UNIQ", 3, true;
    /// C→S: background job, high priority.
    SubmitJobHighBg = 32, "SUBMIT_JOB_HIGH_BG", 2, true;
    /// C→S: foreground job, low priority.
    SubmitJobLow = 33, "SUBMIT_JOB_LOW", 2, true;
    /// C→S: background job, low priority.
    SubmitJobLowBg = 34, "SUBMIT_JOB_LOW_BG", 2, true;
    /// C→S: cron-like schedule; gearmand 1.1.20 refuses it.
    SubmitJobSched = 35, "SUBMIT_JOB_SCHED", 7, true;
    /// C→S: background job runnable from a Unix time. `function\0 unique\0 epoch\0` data.
    SubmitJobEpoch = 36, "SUBMIT_JOB_EPOCH", 3, true;
    /// C→S: map/reduce job. `function\0 unique\0 reducer\0 aggregator\0` data.
    SubmitReduceJob = 37, "SUBMIT_REDUCE_JOB", 4, true;
    /// C→S: background map/reduce job (same shape as SUBMIT_REDUCE_JOB).
    SubmitReduceJobBackground = 38, "SUBMIT_REDUCE_JOB_BACKGROUND", 4, true;
    /// W→S: ask for a job with unique and reducer.
    GrabJobAll = 39, "GRAB_JOB_ALL", 0, false;
    /// S→W: a job with reducer. `handle\0 function\0 unique\0 reducer\0` data.
    JobAssignAll = 40, "JOB_ASSIGN_ALL", 4, true;
    /// C→S: status by unique. Tail: unique.
    GetStatusUnique = 41, "GET_STATUS_UNIQUE", 0, true;
    /// S→C: status by unique. `unique\0 known\0 running\0 numerator\0 denominator\0` client count.
    StatusResUnique = 42, "STATUS_RES_UNIQUE", 5, true;
}

impl PacketType {
    /// The type number on the wire.
    ///
    /// ```
    /// use gearman_sync::protocol::PacketType;
    /// assert_eq!(PacketType::JobAssignUniq.code(), 31);
    /// assert_eq!(PacketType::try_from(31).unwrap(), PacketType::JobAssignUniq);
    /// ```
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// Total number of arguments: the delimited fields plus the tail, if any.
    ///
    /// ```
    /// use gearman_sync::protocol::PacketType;
    /// assert_eq!(PacketType::StatusRes.arg_count(), 5);
    /// assert_eq!(PacketType::GrabJob.arg_count(), 0);
    /// ```
    pub const fn arg_count(self) -> usize {
        self.delimited_fields() + self.has_tail() as usize
    }

    /// True for the SUBMIT_* types that create a job.
    ///
    /// ```
    /// use gearman_sync::protocol::PacketType;
    /// assert!(PacketType::SubmitReduceJob.is_submit());
    /// assert!(!PacketType::JobCreated.is_submit());
    /// ```
    pub const fn is_submit(self) -> bool {
        matches!(
            self,
            PacketType::SubmitJob
                | PacketType::SubmitJobBg
                | PacketType::SubmitJobHigh
                | PacketType::SubmitJobHighBg
                | PacketType::SubmitJobLow
                | PacketType::SubmitJobLowBg
                | PacketType::SubmitJobSched
                | PacketType::SubmitJobEpoch
                | PacketType::SubmitReduceJob
                | PacketType::SubmitReduceJobBackground
        )
    }

    /// True for submissions whose client is told nothing after JOB_CREATED.
    ///
    /// ```
    /// use gearman_sync::protocol::PacketType;
    /// assert!(PacketType::SubmitJobEpoch.is_background_submit());
    /// assert!(!PacketType::SubmitJobHigh.is_background_submit());
    /// ```
    pub const fn is_background_submit(self) -> bool {
        matches!(
            self,
            PacketType::SubmitJobBg
                | PacketType::SubmitJobHighBg
                | PacketType::SubmitJobLowBg
                | PacketType::SubmitJobSched
                | PacketType::SubmitJobEpoch
                | PacketType::SubmitReduceJobBackground
        )
    }

    /// True when the tail is a job handle (JOB_CREATED, WORK_FAIL, GET_STATUS), where gearmand
    /// may append a stray NUL that decoding strips.
    ///
    /// ```
    /// use gearman_sync::protocol::PacketType;
    /// assert!(PacketType::WorkFail.tail_is_handle());
    /// assert!(!PacketType::WorkComplete.tail_is_handle()); // its tail is the result
    /// ```
    pub const fn tail_is_handle(self) -> bool {
        matches!(
            self,
            PacketType::JobCreated | PacketType::WorkFail | PacketType::GetStatus
        )
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dense_and_round_trip() {
        for (index, kind) in PacketType::ALL.iter().enumerate() {
            assert_eq!(kind.code(), index as u32 + 1);
            assert_eq!(PacketType::try_from(kind.code()), Ok(*kind));
        }
        assert_eq!(
            PacketType::try_from(0),
            Err(ProtocolError::UnknownPacketType(0))
        );
        assert_eq!(
            PacketType::try_from(43),
            Err(ProtocolError::UnknownPacketType(43))
        );
    }

    #[test]
    fn shapes_match_protocol_md() {
        use PacketType::*;
        let expected: [(PacketType, usize, bool); 12] = [
            (SubmitJob, 2, true),
            (JobAssignUniq, 3, true),
            (StatusRes, 4, true),
            (StatusResUnique, 5, true),
            (SubmitJobSched, 7, true),
            (SubmitJobEpoch, 3, true),
            (SubmitReduceJob, 4, true),
            (JobAssignAll, 4, true),
            (WorkFail, 0, true),
            (CanDoTimeout, 1, true),
            (Noop, 0, false),
            (GrabJobAll, 0, false),
        ];
        for (kind, delimited, tail) in expected {
            assert_eq!(kind.delimited_fields(), delimited, "{kind}");
            assert_eq!(kind.has_tail(), tail, "{kind}");
        }
        assert_eq!(StatusResUnique.arg_count(), 6);
        assert_eq!(Noop.arg_count(), 0);
    }

    #[test]
    fn magic_bytes() {
        assert_eq!(Magic::from_bytes(*b"\0RES"), Some(Magic::Response));
        assert_eq!(Magic::from_bytes(*b"\0REQ"), Some(Magic::Request));
        assert_eq!(Magic::from_bytes(*b"XREQ"), None);
    }
}
