//! The typed replies of the admin commands.

/// One reply to an admin command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReply {
    /// `OK\r\n`: the answer to `cancel job`, `create function`, `drop function`, `maxqueue`.
    Ok,
    /// `OK <pid>\n`: the answer to `getpid`.
    Pid(u32),
    /// `OK <version>\n`: the answer to `version`, e.g. `1.1.20+ds`.
    Version(String),
    /// `OK <level>\n`: the answer to `verbose`, e.g. `ERROR` or `INFO`.
    Verbose(String),
    /// The answer to `status`, in the server's (hash) order.
    Status(Vec<FunctionStatus>),
    /// The answer to `prioritystatus`.
    PriorityStatus(Vec<FunctionPriorityStatus>),
    /// The answer to `workers`: one entry per connection, admin connections included.
    Workers(Vec<WorkerInfo>),
    /// The answer to `show jobs`.
    Jobs(Vec<JobInfo>),
    /// The answer to `show unique jobs`: one entry per job, empty for jobs without a unique.
    UniqueJobs(Vec<String>),
    /// `ERR CODE message`: any command can get it.
    ///
    /// `code` is the first word and `message` the rest with `+` decoded to spaces (empty when
    /// there is none). Some gearmand replies have no code, e.g. `ERR function not found` gives
    /// code `function` and message `not found`; join both with a space for the full text.
    Err {
        /// The first word after `ERR`, e.g. `UNKNOWN_JOB`.
        code: String,
        /// The rest of the line, `+` decoded to spaces.
        message: String,
    },
}

/// One line of `status`: `FUNCTION\tTOTAL\tRUNNING\tAVAILABLE_WORKERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionStatus {
    /// The function name (it may contain spaces).
    pub name: String,
    /// Queued plus running jobs.
    pub total: u64,
    /// Running jobs.
    pub running: u64,
    /// `CAN_DO` registrations for the function (duplicates counted).
    pub available_workers: u64,
}

/// One line of `prioritystatus`: `FUNCTION\tHIGH\tNORMAL\tLOW\tAVAILABLE_WORKERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionPriorityStatus {
    /// The function name (it may contain spaces).
    pub name: String,
    /// Queued (not running) high-priority jobs.
    pub high: u64,
    /// Queued (not running) normal-priority jobs.
    pub normal: u64,
    /// Queued (not running) low-priority jobs.
    pub low: u64,
    /// `CAN_DO` registrations for the function (duplicates counted).
    pub available_workers: u64,
}

/// One line of `workers`: `FD IP CLIENT_ID :` followed by ` FUNCTION` per ability.
///
/// A function name containing spaces cannot be told apart from several names here; it shows up
/// as several entries of `functions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The connection's file descriptor on the server.
    pub fd: i64,
    /// The peer's address as the server prints it.
    pub ip: String,
    /// The id set with `SET_CLIENT_ID`; `None` when the server prints `-`.
    pub client_id: Option<String>,
    /// Registered functions, most recent first.
    pub functions: Vec<String>,
}

/// One line of `show jobs`: `HANDLE\tRETRIES\tIGNORE_JOB\tJOB_QUEUED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job handle.
    pub handle: String,
    /// How often the job was retried after its worker died.
    pub retries: u64,
    /// True when the job was cancelled or abandoned.
    pub ignore_job: bool,
    /// True when the job is in the persistent queue (background jobs).
    pub job_queued: bool,
}
