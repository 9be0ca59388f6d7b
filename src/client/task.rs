//! A task: one job submission with its settings and callbacks.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::workload::Workload;
use crate::net::JobHandle;
use crate::protocol::PacketType;

/// Job priority. gearmand hands out HIGH before NORMAL before LOW, FIFO within one priority.
///
/// ```
/// use gearman_sync::{Priority, Task};
/// assert_eq!(Priority::default(), Priority::Normal);
/// let task = Task::new("reverse", "hello").priority(Priority::Low);
/// # drop(task);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// Runs before normal and low jobs.
    High,
    /// The default.
    #[default]
    Normal,
    /// Runs after high and normal jobs.
    Low,
}

pub(crate) type DataCallback<'a> = Box<dyn FnMut(&[u8]) + 'a>;
pub(crate) type CreatedCallback<'a> = Box<dyn FnMut(&JobHandle) + 'a>;

#[derive(Default)]
pub(crate) struct Callbacks<'a> {
    pub(crate) on_created: Option<CreatedCallback<'a>>,
    pub(crate) on_data: Option<DataCallback<'a>>,
    pub(crate) on_warning: Option<DataCallback<'a>>,
    pub(crate) on_status: Option<Box<dyn FnMut(u32, u32) + 'a>>,
    pub(crate) on_complete: Option<DataCallback<'a>>,
    pub(crate) on_fail: Option<Box<dyn FnMut() + 'a>>,
    pub(crate) on_exception: Option<DataCallback<'a>>,
    pub(crate) on_retry: Option<Box<dyn FnMut(u32) + 'a>>,
}

/// One job to submit: function, workload (raw bytes), unique, priority, background flag, retry
/// count, and callbacks stored as boxed closures (gearman-ruby's `Task`).
///
/// Callbacks may borrow local state (`'a`); they run on the thread that calls
/// [`TaskSet::wait`](crate::TaskSet::wait) or [`Client::do_task`](crate::Client::do_task).
///
/// ```
/// use gearman_sync::{Priority, Task};
/// let mut progress = Vec::new();
/// let task = Task::new("reverse", "hello")
///     .unique("greeting-1")
///     .priority(Priority::High)
///     .retries(2)
///     .on_status(|numerator, denominator| progress.push((numerator, denominator)))
///     .on_complete(|result| println!("{}", String::from_utf8_lossy(result)));
/// assert_eq!(task.function(), b"reverse");
/// ```
pub struct Task<'a> {
    pub(crate) function: Vec<u8>,
    pub(crate) workload: Workload<'a>,
    pub(crate) unique: Option<Vec<u8>>,
    pub(crate) priority: Priority,
    pub(crate) background: bool,
    pub(crate) run_at: Option<u64>,
    pub(crate) reducer: Option<Vec<u8>>,
    pub(crate) retries: u32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) callbacks: Callbacks<'a>,
}

impl fmt::Debug for Task<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("function", &String::from_utf8_lossy(&self.function))
            .field("workload_len", &self.workload.len())
            .field(
                "unique",
                &self.unique.as_deref().map(String::from_utf8_lossy),
            )
            .field("priority", &self.priority)
            .field("background", &self.background)
            .field("run_at", &self.run_at)
            .field(
                "reducer",
                &self.reducer.as_deref().map(String::from_utf8_lossy),
            )
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<'a> Task<'a> {
    /// A foreground task at normal priority. The workload is taken as bytes, never re-encoded:
    /// owned values are moved in, borrowed ones (`&[u8]`, `&str`, `&Vec<u8>` ...) are sent
    /// from the caller's buffer without a copy (see [`Workload`]). Names are checked when the
    /// task is submitted, not here.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let task = Task::new("resize", vec![0xff, 0xd8, 0xff]);
    /// assert_eq!(task.function(), b"resize");
    /// assert_eq!(task.workload(), [0xff, 0xd8, 0xff]);
    /// let big = vec![7u8; 1 << 20];
    /// let borrowed = Task::new("checksum", &big); // no copy
    /// assert_eq!(borrowed.workload().len(), big.len());
    /// ```
    pub fn new(function: impl Into<Vec<u8>>, workload: impl Into<Workload<'a>>) -> Task<'a> {
        Task {
            function: function.into(),
            workload: workload.into(),
            unique: None,
            priority: Priority::Normal,
            background: false,
            run_at: None,
            reducer: None,
            retries: 0,
            timeout: None,
            callbacks: Callbacks::default(),
        }
    }

    /// Sets the unique ID (at most 63 bytes, no NUL), used as given. Without one, the client's
    /// [`UniqueMode`](crate::UniqueMode) decides. A unique that is too long or holds a
    /// NUL is refused with [`Error::InvalidArgument`](crate::Error::InvalidArgument) when the
    /// task is submitted.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let task = Task::new("import", "feed.csv").unique("import-feed-2024-06-01");
    /// assert!(format!("{task:?}").contains("import-feed-2024-06-01"));
    /// ```
    pub fn unique(mut self, unique: impl Into<Vec<u8>>) -> Self {
        self.unique = Some(unique.into());
        self
    }

    /// Sets the priority (default [`Priority::Normal`]).
    ///
    /// ```
    /// use gearman_sync::{Priority, Task};
    /// let task = Task::new("reverse", "hello").priority(Priority::High);
    /// assert!(format!("{task:?}").contains("priority: High"));
    /// ```
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Submits as a background job: the task ends at `JOB_CREATED` with a handle, and no result
    /// or progress callbacks fire.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let task = Task::new("send_mail", "to=ops").background();
    /// assert!(format!("{task:?}").contains("background: true"));
    /// ```
    pub fn background(mut self) -> Self {
        self.background = true;
        self
    }

    /// Schedules the job for a time (`SUBMIT_JOB_EPOCH`, always background, normal priority).
    ///
    /// gearmand before 2.0 checks the time only when a worker asks for work, so such a job
    /// can run later than asked, and a future job blocks the function's low-priority queue.
    /// A time before 1970 counts as epoch 0 (already due).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use gearman_sync::Task;
    /// let task = Task::new("send_reminder", "user=42")
    ///     .run_at(UNIX_EPOCH + Duration::from_secs(1_900_000_000));
    /// assert!(format!("{task:?}").contains("run_at: Some(1900000000)"));
    /// ```
    pub fn run_at(mut self, when: SystemTime) -> Self {
        let seconds = when
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0);
        self.run_at = Some(seconds);
        self.background = true;
        self
    }

    /// Makes this a map/reduce job (`SUBMIT_REDUCE_JOB`, or `SUBMIT_REDUCE_JOB_BACKGROUND` for
    /// a [`background`](Task::background) task): the worker that takes it gets `reducer`, the
    /// name of the function that reduces its results, in [`Job::reducer`](crate::Job::reducer)
    /// (when it grabs with [`GrabMode::All`](crate::GrabMode::All), as libgearman workers do).
    /// A libgearman worker does the map/reduce itself: it runs its function as the map,
    /// submits the output to the reducer function as a job of its own, and answers with the
    /// aggregate (which the `gearman -w` CLI, having no aggregator, leaves empty).
    ///
    /// gearmand runs reduce jobs at normal priority and takes no time for them, so a reducer
    /// together with another [`priority`](Task::priority) or with [`run_at`](Task::run_at) is
    /// refused when the task is submitted, as is a reducer over 63 bytes or with a NUL
    /// ([`Error::InvalidArgument`](crate::Error::InvalidArgument)). On the wire gearmand needs
    /// an empty fourth field (the aggregator) and checks the 64-byte limit on the reducer, not
    /// on the unique (PROTOCOL.md section 2); both are handled here.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let task = Task::new("count_words", "a b c").reducer("sum");
    /// assert!(format!("{task:?}").contains(r#"reducer: Some("sum")"#));
    /// ```
    pub fn reducer(mut self, reducer: impl Into<Vec<u8>>) -> Self {
        self.reducer = Some(reducer.into());
        self
    }

    /// Resubmits up to `retries` times after `WORK_FAIL` (firing `on_retry`); default 0.
    /// `WORK_EXCEPTION` is not retried.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let task = Task::new("flaky", "x").retries(3).on_retry(|attempt| eprintln!("retry {attempt}"));
    /// assert!(format!("{task:?}").contains("retries: 3"));
    /// ```
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Deadline for [`Client::do_task`](crate::Client::do_task) and
    /// [`Client::submit_background`](crate::Client::submit_background) (defaults to the
    /// client's job or request timeout). A [`TaskSet`](crate::TaskSet) uses the deadline given
    /// to its `wait` instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gearman_sync::Task;
    /// let task = Task::new("resize", "img.png").timeout(Duration::from_secs(300));
    /// assert!(format!("{task:?}").contains("timeout: Some(300s)"));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Called with the handle once the server created the job.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use gearman_sync::Task;
    /// let handles = RefCell::new(Vec::new());
    /// let task = Task::new("resize", "img.png").on_created(|handle| handles.borrow_mut().push(handle.clone()));
    /// drop(task);
    /// assert!(handles.borrow().is_empty()); // callbacks run only while the task is waited on
    /// ```
    pub fn on_created(mut self, callback: impl FnMut(&JobHandle) + 'a) -> Self {
        self.callbacks.on_created = Some(Box::new(callback));
        self
    }

    /// Called for each `WORK_DATA` chunk (partial results streamed by the worker).
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let mut streamed = Vec::new();
    /// let task = Task::new("export", "table=users").on_data(|chunk| streamed.extend_from_slice(chunk));
    /// drop(task);
    /// assert!(streamed.is_empty());
    /// ```
    pub fn on_data(mut self, callback: impl FnMut(&[u8]) + 'a) -> Self {
        self.callbacks.on_data = Some(Box::new(callback));
        self
    }

    /// Called for each `WORK_WARNING`.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let task = Task::new("import", "feed.csv")
    ///     .on_warning(|warning| eprintln!("warning: {}", String::from_utf8_lossy(warning)));
    /// assert_eq!(task.function(), b"import");
    /// ```
    pub fn on_warning(mut self, callback: impl FnMut(&[u8]) + 'a) -> Self {
        self.callbacks.on_warning = Some(Box::new(callback));
        self
    }

    /// Called for each `WORK_STATUS` with numerator and denominator (a number the worker sent
    /// that does not parse counts as 0).
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let mut last = (0, 0);
    /// let task = Task::new("import", "feed.csv").on_status(|done, total| last = (done, total));
    /// drop(task);
    /// assert_eq!(last, (0, 0));
    /// ```
    pub fn on_status(mut self, callback: impl FnMut(u32, u32) + 'a) -> Self {
        self.callbacks.on_status = Some(Box::new(callback));
        self
    }

    /// Called with the result on `WORK_COMPLETE`.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let mut result = None;
    /// let task = Task::new("reverse", "hello").on_complete(|data| result = Some(data.to_vec()));
    /// drop(task);
    /// assert_eq!(result, None);
    /// ```
    pub fn on_complete(mut self, callback: impl FnMut(&[u8]) + 'a) -> Self {
        self.callbacks.on_complete = Some(Box::new(callback));
        self
    }

    /// Called on the final `WORK_FAIL` (after retries are used up).
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let mut failed = false;
    /// let task = Task::new("flaky", "x").retries(1).on_fail(|| failed = true);
    /// drop(task);
    /// assert!(!failed);
    /// ```
    pub fn on_fail(mut self, callback: impl FnMut() + 'a) -> Self {
        self.callbacks.on_fail = Some(Box::new(callback));
        self
    }

    /// Called with the exception data on `WORK_EXCEPTION`.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let task = Task::new("parse", "{bad json")
    ///     .on_exception(|data| eprintln!("worker raised: {}", String::from_utf8_lossy(data)));
    /// assert_eq!(task.workload(), b"{bad json");
    /// ```
    pub fn on_exception(mut self, callback: impl FnMut(&[u8]) + 'a) -> Self {
        self.callbacks.on_exception = Some(Box::new(callback));
        self
    }

    /// Called with the attempt number (1 = first retry) before each resubmission.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let mut attempts = Vec::new();
    /// let task = Task::new("flaky", "x").retries(2).on_retry(|attempt| attempts.push(attempt));
    /// drop(task);
    /// assert!(attempts.is_empty());
    /// ```
    pub fn on_retry(mut self, callback: impl FnMut(u32) + 'a) -> Self {
        self.callbacks.on_retry = Some(Box::new(callback));
        self
    }

    /// The function name (without the client's prefix).
    ///
    /// ```
    /// use gearman_sync::Task;
    /// assert_eq!(Task::new("reverse", "hello").function(), b"reverse");
    /// ```
    pub fn function(&self) -> &[u8] {
        &self.function
    }

    /// The workload.
    ///
    /// ```
    /// use gearman_sync::Task;
    /// assert_eq!(Task::new("reverse", "hello").workload(), b"hello");
    /// ```
    pub fn workload(&self) -> &[u8] {
        &self.workload
    }

    /// The packet type this task is submitted with.
    pub(crate) fn submit_type(&self) -> PacketType {
        if self.run_at.is_some() {
            return PacketType::SubmitJobEpoch;
        }
        if self.reducer.is_some() {
            return match self.background {
                true => PacketType::SubmitReduceJobBackground,
                false => PacketType::SubmitReduceJob,
            };
        }
        match (self.background, self.priority) {
            (false, Priority::High) => PacketType::SubmitJobHigh,
            (false, Priority::Normal) => PacketType::SubmitJob,
            (false, Priority::Low) => PacketType::SubmitJobLow,
            (true, Priority::High) => PacketType::SubmitJobHighBg,
            (true, Priority::Normal) => PacketType::SubmitJobBg,
            (true, Priority::Low) => PacketType::SubmitJobLowBg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_types() {
        assert_eq!(Task::new("f", "").submit_type(), PacketType::SubmitJob);
        assert_eq!(
            Task::new("f", "")
                .priority(Priority::Low)
                .background()
                .submit_type(),
            PacketType::SubmitJobLowBg
        );
        assert_eq!(
            Task::new("f", "").run_at(SystemTime::now()).submit_type(),
            PacketType::SubmitJobEpoch
        );
        assert_eq!(
            Task::new("f", "").priority(Priority::High).submit_type(),
            PacketType::SubmitJobHigh
        );
        assert_eq!(
            Task::new("f", "").reducer("r").submit_type(),
            PacketType::SubmitReduceJob
        );
        assert_eq!(
            Task::new("f", "").reducer("r").background().submit_type(),
            PacketType::SubmitReduceJobBackground
        );
    }
}
