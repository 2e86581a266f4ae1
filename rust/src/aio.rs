//! asyncio: requests awaited on an event loop, without a thread per request.
//!
//! The crate's operations are futures that the CRT's threads wake. Here each one is a task whose
//! waker, on a CRT thread, only puts the task's id on a ready list and writes a byte to a socket
//! (no GIL, no Python object). The event loop watches the other end of that socket
//! (`loop.add_reader`); when it is readable, [`PyCompletions::run_ready`] polls the woken tasks on
//! the loop's thread (GIL released: polling copies body parts) and resolves the asyncio futures
//! of those that finished. Dropping a task's future cancels its CRT request, which is what
//! cancelling the awaiting asyncio task does.

use crate::client::{requested_range, PyS3Client};
use crate::errors::{Error, ErrorKind, Result, ServiceError, Target};
use crate::fork::ForkGuard;
use crate::handle::Handle;
use crate::list::PyListObjectResult;
use crate::object::PyHeadObjectResult;
use crate::pybytes::bytes_filled;
use crate::wait::{self, Interrupted};
use bytes::Bytes;
use futures::StreamExt;
use mountpoint_s3_client::checksums::crc32c;
use mountpoint_s3_client::error::{GetObjectError, ObjectClientError};
use mountpoint_s3_client::types::{
    ChecksumAlgorithm, ClientBackpressureHandle, GetObjectParams, GetObjectResponse, HeadObjectParams,
    HeadObjectResult, ListObjectsResult, PutObjectParams, PutObjectSingleParams, PutObjectTrailingChecksums,
    UploadChecksum,
};
use mountpoint_s3_client::{ObjectClient, PutObjectRequest, S3RequestError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// How often the event loop should call [`PyCompletions::watch`] while requests are pending.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Bodies smaller than this are copied into `bytes` with the GIL held: releasing it costs more.
const DETACHED_COPY: usize = 1024 * 1024;

/// What a finished request hands to Python.
enum Output {
    Body(Body),
    Head(HeadObjectResult),
    Page(ListObjectsResult),
    Done,
}

/// An object body as received: the parts still in the CRT's buffers, after those copied out.
///
/// It holds up to `most` bytes (one part) of the CRT's buffers; beyond, parts are copied out as
/// they come. The buffers belong to the client's memory pool, shared by all its requests: bodies
/// holding parts while they wait for more could leave no room for the parts they wait for.
#[derive(Default)]
struct Body {
    copied: Vec<u8>,
    parts: Vec<Bytes>,
    held: usize,
    most: usize,
}

impl Body {
    fn holding(most: usize) -> Self {
        Self {
            most,
            ..Self::default()
        }
    }

    fn push(&mut self, part: Bytes) {
        self.held += part.len();
        self.parts.push(part);
        if self.held > self.most {
            self.copied.reserve(self.held);
            for part in self.parts.drain(..) {
                self.copied.extend_from_slice(&part);
            }
            self.held = 0;
        }
    }

    fn into_bytes(self, py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
        if self.copied.is_empty() && self.parts.len() <= 1 {
            return Ok(PyBytes::new(py, self.parts.first().map_or(&[][..], |part| part)));
        }
        let total = self.copied.len() + self.held;
        let copy = |out: &mut [u8]| {
            let (head, mut rest) = out.split_at_mut(self.copied.len());
            head.copy_from_slice(&self.copied);
            for part in &self.parts {
                let (this, tail) = rest.split_at_mut(part.len());
                this.copy_from_slice(part);
                rest = tail;
            }
        };
        bytes_filled(py, total, |out| {
            if total < DETACHED_COPY {
                copy(out);
            } else {
                py.detach(|| copy(out));
            }
            Ok(())
        })
    }
}

type Step = Pin<Box<dyn Future<Output = Result<Output>> + Send>>;

/// One request in flight, and the asyncio future that awaits it.
struct Task {
    future: Step,
    waker: Waker,
    result: Py<PyAny>,
    handle: Handle,
    operation: &'static str,
    target: Target,
    /// When the current step began (a [`wait::now`] value): connection failures since count.
    step_started: u64,
    /// When the task was last polled: the stall limit counts from there.
    last_polled: Instant,
}

/// One try of a request: the handle it goes through, and what it is about. A request runs as a
/// function of its attempt, once more with another region's handle if S3 redirects it.
#[derive(Clone)]
struct Attempt {
    handle: Handle,
    operation: &'static str,
    target: Target,
}

impl Attempt {
    fn key(&self) -> &str {
        self.target.key.as_deref().unwrap_or_default()
    }

    /// The result of one step of the request, or the error the caller sees, counted.
    fn settle<T, E: ServiceError>(
        &self,
        step: std::result::Result<T, ObjectClientError<E, S3RequestError>>,
    ) -> Result<T> {
        self.handle.settle(self.operation, &self.target, Ok(step))
    }
}

/// What the CRT's threads touch: the ids of woken tasks, and the socket that tells the loop.
struct ReadyList {
    ids: Mutex<Vec<u64>>,
    /// Whether a byte was written since the loop last drained the socket (one is enough).
    signaled: AtomicBool,
    writer: UnixStream,
}

struct TaskWaker {
    id: u64,
    ready: Arc<ReadyList>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.id);
        if !self.ready.signaled.swap(true, Ordering::AcqRel) {
            // A full socket is already readable: the loop will come either way.
            let _ = (&self.ready.writer).write(&[1]);
        }
    }
}

/// The requests of one event loop. `s3torch._aio` makes one per loop, registers `fileno()` with
/// `loop.add_reader(fd, run_ready)` and, while requests are pending, calls `watch()` again after
/// the seconds it returns. Each request method starts the request at once and resolves
/// `future` (an asyncio future of that loop) with its result or its typed error; it returns the
/// request's id, which `cancel` takes. Usable only in the process that made it, on its loop's
/// thread.
#[pyclass(name = "Completions", module = "s3torch._core", frozen)]
pub struct PyCompletions {
    ready: Arc<ReadyList>,
    reader: UnixStream,
    /// Tasks hold CRT requests: a forked child leaks its parent's instead of dropping them.
    tasks: Mutex<ForkGuard<HashMap<u64, Task>>>,
    next_id: AtomicU64,
}

impl PyCompletions {
    fn tasks(&self) -> std::sync::MutexGuard<'_, ForkGuard<HashMap<u64, Task>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_process(&self) -> Result<()> {
        if self.tasks().is_native() {
            Ok(())
        } else {
            Err(Error::invalid(
                "this event loop was created in another process (before a fork): s3torch cannot await \
                 requests on it; run a new event loop in this process (asyncio.run)",
            ))
        }
    }

    /// Start `future` as a task resolving `result`: poll it once (which sends its request).
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        py: Python<'_>,
        result: Py<PyAny>,
        handle: Handle,
        operation: &'static str,
        target: Target,
        future: impl Future<Output = Result<Output>> + Send + 'static,
    ) -> PyResult<u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            ready: self.ready.clone(),
        }));
        let mut task = Task {
            future: Box::pin(future),
            waker,
            result,
            handle,
            operation,
            target,
            step_started: wait::now(),
            last_polled: Instant::now(),
        };
        let outcome = py.detach(|| task.poll());
        match outcome {
            Poll::Ready(outcome) => resolve(py, task, outcome),
            Poll::Pending => {
                if let Some(tasks) = self.tasks().get_mut() {
                    tasks.insert(id, task);
                }
            }
        }
        Ok(id)
    }

    /// Start `request`, `operation` about `target`, with `client`'s handle for its bucket, as a
    /// task resolving `future`; if S3 says the bucket lives in another region, run it once more
    /// there. Every request method comes here: it states only its checks and its request.
    fn submit<F, Fut>(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyS3Client>,
        future: Py<PyAny>,
        operation: &'static str,
        target: Target,
        request: F,
    ) -> PyResult<u64>
    where
        F: Fn(Attempt) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Output>> + Send + 'static,
    {
        self.check_process()?;
        crate::checks::check_bucket(&target.bucket)?;
        let client = client.get();
        let handle = py.detach(|| client.handle_for(&target.bucket))?;
        let first = Attempt {
            handle: handle.clone(),
            operation,
            target: target.clone(),
        };
        let run = async move {
            match request(first.clone()).await {
                Err(error) => match first.handle.follow(&error, &first.target.bucket) {
                    Some(there) => request(Attempt { handle: there, ..first }).await,
                    None => Err(error),
                },
                done => done,
            }
        };
        self.start(py, future, handle, operation, target, run)
    }

    /// Take the woken tasks' ids, and clear the socket for the next wake.
    fn take_ready(&self) -> Vec<u64> {
        let mut sink = [0u8; 256];
        while matches!((&self.reader).read(&mut sink), Ok(n) if n > 0) {}
        self.ready.signaled.store(false, Ordering::Release);
        std::mem::take(&mut *self.ready.ids.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Task {
    fn poll(&mut self) -> Poll<Result<Output>> {
        self.step_started = wait::now();
        self.last_polled = Instant::now();
        self.future.as_mut().poll(&mut Context::from_waker(&self.waker))
    }

    /// Why this task should end now, if it should: the same limits as a blocking wait's step.
    fn interruption(&self, now: Instant) -> Option<Interrupted> {
        let limits = &self.handle.limits;
        if let Some(stall) = limits.stall {
            if now.duration_since(self.last_polled) >= stall {
                return Some(Interrupted::Stalled);
            }
        }
        limits.interruption(self.step_started)
    }
}

/// Resolve the asyncio future of a finished task, unless it was cancelled meanwhile.
fn resolve(py: Python<'_>, task: Task, outcome: Result<Output>) {
    let future = task.result.bind(py);
    if future
        .call_method0("done")
        .and_then(|done| done.is_truthy())
        .unwrap_or(true)
    {
        return;
    }
    let value = outcome.map_err(PyErr::from).and_then(|output| output.into_python(py));
    let _ = match value {
        Ok(value) => future.call_method1("set_result", (value,)),
        Err(error) => future.call_method1("set_exception", (error.into_value(py),)),
    };
}

impl Output {
    fn into_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self {
            Output::Body(body) => body.into_bytes(py)?.into_any().unbind(),
            Output::Head(head) => Py::new(py, PyHeadObjectResult::from(head))?.into_any(),
            Output::Page(page) => {
                let token = page.next_continuation_token.clone();
                let page = Py::new(py, PyListObjectResult::from(page))?;
                (page, token).into_pyobject(py)?.into_any().unbind()
            }
            Output::Done => py.None(),
        })
    }
}

async fn get(attempt: Attempt, range: Option<Range<u64>>, read_window: u64) -> Result<Output> {
    let params = GetObjectParams::new().range(range.clone());
    let started = attempt
        .handle
        .crt
        .get_object(&attempt.target.bucket, attempt.key(), &params)
        .await;
    let mut response = match attempt.settle(started) {
        Ok(response) => response,
        // Some stores answer a whole-object GET of an empty object so (see get.rs).
        Err(error) if range.is_none() && error.kind() == Some(ErrorKind::InvalidRange) => {
            return Ok(Output::Body(Body::default()))
        }
        Err(error) => return Err(error),
    };
    let mut position = range.map_or(0, |range| range.start);
    let mut body = Body::holding(attempt.handle.crt.read_part_size());
    while let Some(part) = response.next().await {
        let part = attempt.settle(part)?;
        if part.offset != position {
            return Err(Error::request(
                ErrorKind::Other,
                attempt.operation,
                attempt.target.clone(),
                format!("body part at offset {} arrived while expecting {position}", part.offset),
            ));
        }
        position += part.data.len() as u64;
        attempt.handle.metrics.add_bytes_read(part.data.len());
        if let Some(backpressure) = response.backpressure_handle() {
            backpressure.ensure_read_window(position.saturating_add(read_window));
        }
        body.push(part.data);
    }
    Ok(Output::Body(body))
}

async fn put(attempt: Attempt, data: Bytes, checksum: bool) -> Result<Output> {
    let (crt, bucket, key) = (&attempt.handle.crt, &attempt.target.bucket, attempt.key());
    if data.len() <= crt.write_part_size() {
        let mut params = PutObjectSingleParams::new();
        if checksum {
            params = params.checksum(Some(UploadChecksum::Crc32c(crc32c::checksum(&data))));
        }
        let size = data.len();
        attempt.settle(crt.put_object_single(bucket, key, &params, data).await)?;
        attempt.handle.metrics.add_bytes_written(size);
        return Ok(Output::Done);
    }
    let mut params = PutObjectParams::new();
    if checksum {
        params = params.trailing_checksums(PutObjectTrailingChecksums::Composite(ChecksumAlgorithm::Crc32c));
    }
    // Until `complete` succeeds nothing is visible; dropping the request (an error, a
    // cancellation) aborts the multipart upload.
    let mut request = attempt.settle(crt.put_object(bucket, key, &params).await)?;
    attempt.settle(request.write(&data).await)?;
    attempt.handle.metrics.add_bytes_written(data.len());
    attempt.settle(request.complete().await)?;
    Ok(Output::Done)
}

/// The target of a request about one object, once its key is known to be valid.
fn object_target(bucket: &str, key: &str) -> Result<Target> {
    crate::checks::check_key(key)?;
    Ok(Target::object(bucket, key))
}

#[pymethods]
impl PyCompletions {
    #[new]
    fn new() -> PyResult<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Self {
            ready: Arc::new(ReadyList {
                ids: Mutex::new(Vec::new()),
                signaled: AtomicBool::new(false),
                writer,
            }),
            reader,
            tasks: Mutex::new(ForkGuard::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        })
    }

    /// The file descriptor that becomes readable when requests have made progress.
    fn fileno(&self) -> i32 {
        self.reader.as_raw_fd()
    }

    /// Requests started and neither finished nor cancelled.
    #[getter]
    fn pending(&self) -> usize {
        self.tasks().get().map_or(0, HashMap::len)
    }

    /// Poll the requests woken since the last call; resolve the futures of those finished.
    fn run_ready(&self, py: Python<'_>) {
        let finished = py.detach(|| {
            let mut finished = Vec::new();
            for id in self.take_ready() {
                let Some(mut task) = self.tasks().get_mut().and_then(|tasks| tasks.remove(&id)) else {
                    continue; // finished, cancelled, or woken twice
                };
                match task.poll() {
                    Poll::Ready(outcome) => finished.push((task, outcome)),
                    Poll::Pending => {
                        if let Some(tasks) = self.tasks().get_mut() {
                            tasks.insert(id, task);
                        }
                    }
                }
            }
            finished
        });
        for (task, outcome) in finished {
            resolve(py, task, outcome);
        }
    }

    /// Cancel request `id` (dropping it cancels its CRT request). Its future is left as it
    /// is: the caller cancelled it. Unknown ids (finished requests) are ignored.
    fn cancel(&self, py: Python<'_>, id: u64) {
        let task = self.tasks().get_mut().and_then(|tasks| tasks.remove(&id));
        if let Some(Task { future, .. }) = task {
            py.detach(|| drop(future));
        }
    }

    /// End the requests that a blocking wait would have ended by now (`stall_timeout_s`,
    /// `connect_refused_timeout_s`, a failed TLS handshake), with the same errors. Returns the
    /// seconds until the next call is due, or None when no request is pending.
    fn watch(&self, py: Python<'_>) -> Option<f64> {
        let now = Instant::now();
        let ended: Vec<(Task, Interrupted)> = {
            let mut tasks = self.tasks();
            let tasks = tasks.get_mut()?;
            let ids: Vec<(u64, Interrupted)> = tasks
                .iter()
                .filter_map(|(id, task)| task.interruption(now).map(|why| (*id, why)))
                .collect();
            ids.into_iter()
                .filter_map(|(id, why)| tasks.remove(&id).map(|task| (task, why)))
                .collect()
        };
        for (mut task, why) in ended {
            let future = std::mem::replace(&mut task.future, Box::pin(async { Ok(Output::Done) }));
            py.detach(|| drop(future));
            let error = task
                .handle
                .settle::<(), GetObjectError>(task.operation, &task.target, Err(why))
                .err()
                .unwrap_or_else(|| Error::invalid("interrupted"));
            resolve(py, task, Err(error));
        }
        (self.pending() > 0).then_some(WATCH_INTERVAL.as_secs_f64())
    }

    /// GET the whole object, or bytes `start` (inclusive) to `end` (exclusive); resolves
    /// `future` with `bytes`.
    #[pyo3(signature = (client, future, bucket, key, start=None, end=None))]
    #[allow(clippy::too_many_arguments)]
    fn get_object(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyS3Client>,
        future: Py<PyAny>,
        bucket: &str,
        key: &str,
        start: Option<u64>,
        end: Option<u64>,
    ) -> PyResult<u64> {
        let target = object_target(bucket, key)?;
        let range = requested_range(start, end)?;
        let read_window = client.get().settings().read_window as u64;
        self.submit(py, client, future, "GetObject", target, move |attempt| {
            let range = range.clone();
            async move {
                if range.as_ref().is_some_and(Range::is_empty) {
                    return Ok(Output::Body(Body::default()));
                }
                get(attempt, range, read_window).await
            }
        })
    }

    /// PUT `data` (any bytes-like object, copied once now) as the object: one PutObject up to
    /// the client's part size, a multipart upload beyond. Resolves `future` with None. On
    /// failure or cancellation nothing is written and the previous object stays.
    fn put_object(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyS3Client>,
        future: Py<PyAny>,
        bucket: &str,
        key: &str,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let target = object_target(bucket, key)?;
        let source = crate::buffer::BorrowedBuffer::readable(data)?;
        let data = py.detach(|| Bytes::copy_from_slice(source.as_slice()));
        drop(source);
        let checksum = client.get().settings().upload_checksum;
        self.submit(py, client, future, "PutObject", target, move |attempt| {
            put(attempt, data.clone(), checksum)
        })
    }

    /// One ListObjectsV2 page (after `continuation_token`, when given; else the first page,
    /// after `start_after` when given); resolves `future` with
    /// `(ListObjectResult, next continuation token or None)`.
    #[pyo3(signature = (client, future, bucket, prefix, delimiter, max_keys, continuation_token=None, start_after=None))]
    #[allow(clippy::too_many_arguments)]
    fn list_objects(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyS3Client>,
        future: Py<PyAny>,
        bucket: &str,
        prefix: String,
        delimiter: String,
        max_keys: usize,
        continuation_token: Option<String>,
        start_after: Option<String>,
    ) -> PyResult<u64> {
        if let Some(start_after) = &start_after {
            crate::list::check_start_after(start_after)?;
        }
        if !(1..=1000).contains(&max_keys) {
            return Err(Error::invalid(format!(
                "max_keys={max_keys} is out of range: must be between 1 and 1000"
            ))
            .into());
        }
        let target = if prefix.is_empty() {
            Target::bucket(bucket)
        } else {
            Target::object(bucket, &prefix)
        };
        self.submit(py, client, future, "ListObjectsV2", target, move |attempt| {
            let (prefix, delimiter, token) = (prefix.clone(), delimiter.clone(), continuation_token.clone());
            // The token already says where the listing goes on: start-after only on the first page.
            let start_after = if token.is_none() { start_after.clone() } else { None };
            async move {
                let page = attempt
                    .handle
                    .crt
                    .list_objects_start_after(
                        &attempt.target.bucket,
                        token.as_deref(),
                        start_after.as_deref(),
                        &delimiter,
                        max_keys,
                        &prefix,
                    )
                    .await;
                Ok(Output::Page(attempt.settle(page)?))
            }
        })
    }

    /// HeadObject; resolves `future` with a `HeadObjectResult`.
    fn head_object(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyS3Client>,
        future: Py<PyAny>,
        bucket: &str,
        key: &str,
    ) -> PyResult<u64> {
        let target = object_target(bucket, key)?;
        self.submit(py, client, future, "HeadObject", target, |attempt| async move {
            let (crt, bucket) = (&attempt.handle.crt, &attempt.target.bucket);
            let head = crt.head_object(bucket, attempt.key(), &HeadObjectParams::new()).await;
            Ok(Output::Head(attempt.settle(head)?))
        })
    }

    /// DeleteObject (a missing key succeeds, as in S3); resolves `future` with None.
    fn delete_object(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyS3Client>,
        future: Py<PyAny>,
        bucket: &str,
        key: &str,
    ) -> PyResult<u64> {
        let target = object_target(bucket, key)?;
        self.submit(py, client, future, "DeleteObject", target, |attempt| async move {
            let (crt, bucket) = (&attempt.handle.crt, &attempt.target.bucket);
            attempt.settle(crt.delete_object(bucket, attempt.key()).await)?;
            Ok(Output::Done)
        })
    }

    fn __repr__(&self) -> String {
        format!("Completions({} pending)", self.pending())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_marks_the_task_ready_and_makes_the_socket_readable_once() {
        let completions = PyCompletions::new().unwrap();
        let waker = Waker::from(Arc::new(TaskWaker {
            id: 7,
            ready: completions.ready.clone(),
        }));
        std::thread::spawn({
            let waker = waker.clone();
            move || {
                waker.wake_by_ref();
                waker.wake();
            }
        })
        .join()
        .unwrap();
        let mut buffer = [0u8; 8];
        assert_eq!(
            (&completions.reader).read(&mut buffer).unwrap(),
            1,
            "one byte for two wakes"
        );
        assert_eq!(completions.take_ready(), vec![7, 7]);
        waker.wake_by_ref();
        assert_eq!(completions.take_ready(), vec![7], "a wake after a drain signals again");
    }

    #[test]
    fn a_large_body_is_copied_out_of_the_crt_buffers_in_order() {
        const MOST: usize = 1000;
        let mut body = Body::holding(MOST);
        let part = |byte: u8, len: usize| Bytes::from(vec![byte; len]);
        body.push(part(1, MOST));
        assert_eq!(body.parts.len(), 1, "up to the limit, parts are held");
        body.push(part(2, 10));
        assert!(body.parts.is_empty());
        assert_eq!(body.copied.len(), MOST + 10);
        assert_eq!(&body.copied[MOST - 1..MOST + 1], &[1, 2]);
    }
}
