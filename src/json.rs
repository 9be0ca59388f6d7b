//! Typed payloads (feature `json`): workloads and results as JSON through serde, on the client
//! ([`Client::call_json`], [`Client::submit_json_background`], [`Task::json`],
//! [`TaskOutcome::into_json`]) and on the worker ([`Job::json`], [`Worker::add_json_ability`],
//! [`ConcurrentWorker::add_json_ability`]).
//!
//! A payload that does not encode or decode is [`Error::Json`], naming the function and the
//! serde message; on the worker it becomes the job's failure with that text, so the client
//! learns why (by default as a `WORK_WARNING` before the `WORK_FAIL`, see
//! [`ExceptionMode`](crate::ExceptionMode)).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::{Client, Task, TaskOutcome};
use crate::error::{Error, Result};
use crate::net::JobHandle;
use crate::worker::{ConcurrentWorker, Job, JobError, Worker};

/// The JSON encoding of `value`, or [`Error::Json`] for `function`.
fn encode<T: Serialize + ?Sized>(function: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|error| json_error(function, "encoding", &error))
}

/// `bytes` decoded from JSON, or [`Error::Json`] for `function`.
fn decode<T: DeserializeOwned>(function: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|error| json_error(function, "decoding", &error))
}

/// One JSON job: the workload decoded, `handler` run, its value encoded as the result (a
/// value that cannot be encoded fails the job with the reason).
fn run_json<Req: DeserializeOwned, Res: Serialize>(
    function: &str,
    job: &mut Job<'_>,
    handler: impl FnOnce(Req, &mut Job<'_>) -> std::result::Result<Res, JobError>,
) -> std::result::Result<Vec<u8>, JobError> {
    let input: Req = job.json()?;
    let output = handler(input, job)?;
    encode(function, &output).map_err(|error| JobError::exception(error.to_string()))
}

fn json_error(function: &str, doing: &str, error: &serde_json::Error) -> Error {
    Error::Json {
        function: function.to_owned(),
        message: format!("{doing}: {error}"),
    }
}

impl Client {
    /// Runs a foreground job whose workload is `payload` as JSON and decodes its result from
    /// JSON (blocks and fails as [`do_task`](Client::do_task); a result that does not decode
    /// is [`Error::Json`]).
    ///
    /// ```no_run
    /// use serde::{Deserialize, Serialize};
    /// use gearman_sync::Client;
    /// #[derive(Serialize)]
    /// struct Numbers { numbers: Vec<i64> }
    /// #[derive(Deserialize)]
    /// struct Sum { sum: i64 }
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let sum: Sum = client.call_json("sum", &Numbers { numbers: vec![1, 2, 3] })?;
    /// assert_eq!(sum.sum, 6);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn call_json<T: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        function: &str,
        payload: &T,
    ) -> Result<R> {
        let result = self.do_task(Task::json(function, payload)?)?;
        decode(function, &result)
    }

    /// Queues a background job whose workload is `payload` as JSON; returns its handle
    /// (fails as [`submit_background`](Client::submit_background)).
    ///
    /// ```no_run
    /// use gearman_sync::Client;
    /// let mut client = Client::new("127.0.0.1:4730")?;
    /// let handle = client.submit_json_background("sum", &serde_json::json!({"numbers": [4, 5]}))?;
    /// println!("queued as {handle}");
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn submit_json_background<T: Serialize + ?Sized>(
        &mut self,
        function: &str,
        payload: &T,
    ) -> Result<JobHandle> {
        self.submit_background(Task::json(function, payload)?.background())
    }
}

impl Task<'static> {
    /// A foreground task whose workload is `payload` as JSON, for a
    /// [`TaskSet`](crate::TaskSet); read its result with [`TaskOutcome::into_json`].
    ///
    /// ```
    /// use gearman_sync::Task;
    /// let task = Task::json("sum", &serde_json::json!({"numbers": [1, 2]}))?;
    /// assert_eq!(task.workload(), br#"{"numbers":[1,2]}"#);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(function: &str, payload: &T) -> Result<Task<'static>> {
        Ok(Task::new(function, encode(function, payload)?))
    }
}

impl TaskOutcome {
    /// A completed task's result decoded from JSON; a failed task's error, or
    /// [`Error::Json`] (naming `function`) when the result does not decode.
    ///
    /// ```
    /// use gearman_sync::TaskOutcome;
    /// let outcome = TaskOutcome::Completed(br#"{"sum":3}"#.to_vec());
    /// let value: serde_json::Value = outcome.into_json("sum")?;
    /// assert_eq!(value["sum"], 3);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn into_json<R: DeserializeOwned>(self, function: &str) -> Result<R> {
        decode(function, &self.into_result()?)
    }
}

impl Job<'_> {
    /// The workload decoded from JSON. A workload that does not decode is a
    /// [`JobError::Exception`] naming the function and the serde message, so `?` in a handler
    /// fails the job with that text.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use gearman_sync::Worker;
    /// #[derive(Deserialize)]
    /// struct Numbers { numbers: Vec<i64> }
    /// let mut worker = Worker::new("127.0.0.1:4730")?;
    /// worker.add_ability("sum", |job| {
    ///     let input: Numbers = job.json()?;
    ///     Ok(input.numbers.iter().sum::<i64>().to_string().into_bytes())
    /// })?;
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> std::result::Result<T, JobError> {
        let function = String::from_utf8_lossy(self.function()).into_owned();
        decode(&function, self.workload()).map_err(|error| JobError::exception(error.to_string()))
    }
}

impl Worker {
    /// Registers `name` with a handler that takes the workload decoded from JSON and returns a
    /// value sent back as JSON. A workload that does not decode fails the job with the serde
    /// message, naming the function, without calling the handler.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use gearman_sync::Worker;
    /// #[derive(Deserialize)]
    /// struct Numbers { numbers: Vec<i64> }
    /// #[derive(Serialize)]
    /// struct Sum { sum: i64 }
    /// let mut worker = Worker::new("127.0.0.1:4730")?;
    /// worker.add_json_ability("sum", |input: Numbers, _job| {
    ///     Ok(Sum { sum: input.numbers.iter().sum() })
    /// })?;
    /// assert_eq!(worker.abilities(), [b"sum".to_vec()]);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn add_json_ability<Req, Res>(
        &mut self,
        name: &str,
        mut handler: impl FnMut(Req, &mut Job<'_>) -> std::result::Result<Res, JobError>
            + Send
            + 'static,
    ) -> Result<&mut Self>
    where
        Req: DeserializeOwned,
        Res: Serialize,
    {
        let function = name.to_owned();
        self.add_ability(name, move |job| run_json(&function, job, &mut handler))
    }
}

impl ConcurrentWorker {
    /// Registers `name` with a JSON handler shared by every thread (`Fn + Send + Sync`), as
    /// [`Worker::add_json_ability`] does for one worker.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use gearman_sync::ConcurrentWorker;
    /// #[derive(Deserialize)]
    /// struct Numbers { numbers: Vec<i64> }
    /// #[derive(Serialize)]
    /// struct Sum { sum: i64 }
    /// let mut worker = ConcurrentWorker::new("127.0.0.1:4730", 4)?;
    /// worker.add_json_ability("sum", |input: Numbers, _job| {
    ///     Ok(Sum { sum: input.numbers.iter().sum() })
    /// })?;
    /// assert_eq!(worker.abilities(), [b"sum".to_vec()]);
    /// # Ok::<(), gearman_sync::Error>(())
    /// ```
    pub fn add_json_ability<Req, Res>(
        &mut self,
        name: &str,
        handler: impl Fn(Req, &mut Job<'_>) -> std::result::Result<Res, JobError>
            + Send
            + Sync
            + 'static,
    ) -> Result<&mut Self>
    where
        Req: DeserializeOwned,
        Res: Serialize,
    {
        let function = name.to_owned();
        self.add_ability(name, move |job| run_json(&function, job, &handler))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_function_and_the_serde_message() {
        let error = decode::<Vec<i64>>("sum", b"{not json").expect_err("bad json");
        let text = error.to_string();
        assert!(text.contains("sum") && text.contains("decoding"), "{text}");
        assert!(matches!(error, Error::Json { ref function, .. } if function == "sum"));
        assert_eq!(encode("f", &[1, 2]).expect("encodes"), b"[1,2]");
    }
}
