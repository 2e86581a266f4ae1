//! GET: an object body as a stream of buffers, read in order.

use crate::buffer::{BorrowedBuffer, PyBuffer};
use crate::errors::{Error, ErrorKind, Result, Target};
use crate::fork::ProcessLocal;
use crate::handle::{Handle, Lease};
use crate::inflight::InFlight;
use crate::pybytes::{bytes_filled, prefaulted};
use crate::wait::{self, Interrupted};
use bytes::Bytes;
use futures::future::Either;
use futures::{FutureExt, StreamExt};
use mountpoint_s3_client::error::{GetObjectError, ObjectClientError};
use mountpoint_s3_client::types::{
    ClientBackpressureHandle, ETag, GetObjectParams, GetObjectResponse, HeadObjectParams,
};
use mountpoint_s3_client::{ObjectClient, S3GetObjectResponse, S3RequestError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant};

type StartedOutput = std::result::Result<S3GetObjectResponse, ObjectClientError<GetObjectError, S3RequestError>>;
type Started = InFlight<StartedOutput>;

/// How long the first part of a body of unknown length may take before its size is asked for
/// alongside (see [`Body::wait_started`]). On loopback an 8 MiB part takes about 10 ms; through
/// the `--net s3` proxy (50 MiB/s a connection, 25 ms to the first byte) about 200.
const SIZE_PROBE_AFTER: Duration = Duration::from_millis(50);

enum State {
    /// The request is on the wire; its headers have not been waited for yet.
    Starting(Started),
    Streaming(S3GetObjectResponse),
    Finished,
}

/// A body longer than one part, fetched as one request per part, several in flight.
///
/// The CRT fetches a multi-part GET in parallel only after its first part has arrived whole (it
/// learns the object's size from it): on a link of 50 MiB/s per connection with 25 ms to the
/// first byte, an 8 MiB first part alone takes 185 ms, and then at most `read_window / part`
/// parts run at once. Here each part is a request of its own, sent as soon as the end of the body
/// is known and it falls within `read_window` of the reader, so memory stays bounded by the window
/// as before. With a range or a size hint the end is known at once and every part goes out
/// together. Without either, it comes from the first response's `Content-Range`, which the CRT
/// hands over only once that part has arrived whole (about 220 ms for 8 MiB through the
/// `--net s3` proxy), or from a HEAD sent when that part is slow (see [`Body::wait_started`]).
struct Parts {
    /// Bytes per request.
    size: u64,
    /// Where the body ends: the range's end, the size hint's, then the object's (first response).
    end: u64,
    /// Whether `end` is the object's own (from a response) rather than asked for or hinted.
    end_known: bool,
    /// Whether parts may be sent up to `end`: false while the end is unknown (neither range nor
    /// hint), until the first response tells it.
    plannable: bool,
    /// The requests after the one streaming, in order.
    ahead: VecDeque<Ahead>,
    /// The prefetch lease of the part streaming now, given back when the next one starts.
    current: Option<Lease>,
    /// End of the last range sent.
    sent_end: u64,
    /// The entity tag of the first response, or of a HEAD answered before it: every part must
    /// come from that object.
    etag: Option<ETag>,
    /// Whether the request on the wire is the first one (its answer tells the object's size).
    first: bool,
}

/// A part requested ahead of the reader.
struct Ahead {
    /// Its first byte.
    start: u64,
    started: Started,
    /// Its share of the client's prefetch budget (see [`crate::handle::Prefetch`]); `None` for
    /// a part sent because the reader waits for it.
    lease: Option<Lease>,
}

impl Parts {
    /// The body ends at `end`, as the object's size (from a response) says: parts may be sent
    /// up to there, and none past it.
    fn end_at(&mut self, end: u64) {
        self.end = end;
        self.end_known = true;
        self.plannable = true;
        // Parts sent on a hint past the object's end would only be refused.
        while self.ahead.back().is_some_and(|ahead| ahead.start >= end) {
            self.ahead.pop_back();
        }
        self.sent_end = self.sent_end.min(end);
    }

    /// Request the part at `sent_end`, holding `lease` until it has been read.
    fn send(&mut self, handle: &Handle, target: &Target, lease: Option<Lease>) {
        let range = self.sent_end..self.end.min(self.sent_end.saturating_add(self.size));
        self.sent_end = range.end;
        let start = range.start;
        let started = request(handle, target, Some(range));
        self.ahead.push_back(Ahead { start, started, lease });
    }
}

struct Body {
    target: Target,
    state: State,
    /// Set when the body is fetched as several requests (see [`Parts`]).
    parts: Option<Parts>,
    /// Received but not yet handed out: the tail of a part a read consumed only partly.
    unread: Bytes,
    /// Object offset of the next byte handed out.
    position: u64,
    /// How far ahead of `position` the CRT may fetch.
    read_window: u64,
    /// Whether the whole object was asked for (no range).
    whole_object: bool,
    /// Where the request on the wire stops short of the object's end, because it was asked for
    /// up to the end but sent with the expected size as its range end (see
    /// [`PyGetObjectStream::start`]). Reaching it means the object may be longer than
    /// expected: the rest is asked for with a new request.
    provisional_end: Option<u64>,
    /// The range of the request on the wire (None: the whole object), to send again elsewhere.
    requested: Option<Range<u64>>,
    /// End (exclusive) of the range the caller asked for; `u64::MAX`: up to the object's end.
    want_end: u64,
    /// Closed by the caller: reads fail rather than look like the end of the body.
    closed: bool,
    /// Last, so that it drops after the response and `unread`: the client's buffer pool must
    /// outlive every part taken from it (see [`PyBuffer`]).
    handle: Handle,
}

impl Body {
    /// The next bytes of the body, or `None` at its end. Blocks: call it with the GIL released.
    fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if self.closed {
            return Err(Error::invalid(format!(
                "I/O operation on closed stream: the download of {} was closed",
                self.target
            )));
        }
        if !self.unread.is_empty() {
            let chunk = std::mem::take(&mut self.unread);
            self.position += chunk.len() as u64;
            return Ok(Some(chunk));
        }
        loop {
            match std::mem::replace(&mut self.state, State::Finished) {
                State::Finished => return Ok(None),
                State::Starting(started) => {
                    let outcome = self.wait_started(started);
                    match self.handle.settle("GetObject", &self.target, outcome) {
                        Ok(response) => {
                            self.check_part(&response)?;
                            self.state = State::Streaming(response);
                            self.send_parts();
                        }

                        // A range starting at the object's end, which only an object no longer
                        // than expected (the first request, whole object: an empty one) makes
                        // unsatisfiable; some stores answer so to the CRT's first ranged part of
                        // an empty object too. Either way the body has ended.
                        Err(error)
                            if error.kind() == Some(ErrorKind::InvalidRange)
                                && (self.whole_object && self.position == 0 || self.provisional_end.is_some()) =>
                        {
                            return Ok(None)
                        }
                        // A later part starting before the end the first response told: the
                        // object is shorter now.
                        Err(error)
                            if error.kind() == Some(ErrorKind::InvalidRange)
                                && self.parts.as_ref().is_some_and(|parts| !parts.first) =>
                        {
                            return Err(self.changed("it is now shorter".into()))
                        }
                        // The bucket lives in another region: send the same request there.
                        Err(error) => match self.handle.follow(&error, &self.target.bucket) {
                            Some(there) => {
                                self.handle = there;
                                let started = request(&self.handle, &self.target, self.requested.clone());
                                self.state = State::Starting(started);
                                if let Some(parts) = self.parts.as_mut() {
                                    // Sent on a hint to the same wrong place: send them again.
                                    for ahead in parts.ahead.iter_mut() {
                                        let range = ahead.start..parts.end.min(ahead.start.saturating_add(parts.size));
                                        ahead.started = request(&self.handle, &self.target, Some(range));
                                    }
                                }
                            }
                            None => return Err(error),
                        },
                    }
                }
                State::Streaming(mut response) => {
                    let step = wait::block_on(response.next().map(Option::transpose), &self.handle.limits);
                    let Some(part) = self.handle.settle("GetObject", &self.target, step)? else {
                        if let Some(next) = self.next_part()? {
                            self.state = State::Starting(next);
                            continue;
                        }
                        if self.provisional_end.take() == Some(self.position) {
                            // The object is at least one byte longer than expected: ask for the rest.
                            self.requested = Some(self.position..self.want_end);
                            self.state = State::Starting(request(&self.handle, &self.target, self.requested.clone()));
                            continue;
                        }
                        return Ok(None);
                    };
                    if part.offset != self.position {
                        return Err(Error::request(
                            ErrorKind::Other,
                            "GetObject",
                            self.target.clone(),
                            format!(
                                "body part at offset {} arrived while expecting {}",
                                part.offset, self.position
                            ),
                        ));
                    }
                    self.position += part.data.len() as u64;
                    self.handle.metrics.add_bytes_read(part.data.len());
                    if let Some(handle) = response.backpressure_handle() {
                        handle.ensure_read_window(self.position.saturating_add(self.read_window));
                    }
                    self.state = State::Streaming(response);
                    self.send_parts();
                    if !part.data.is_empty() {
                        return Ok(Some(part.data));
                    }
                }
            }
        }
    }

    /// Take what the response just started tells about the object: on the first of several
    /// parts, its size (the end of the body) and entity tag; on a later one, that it is still
    /// the same object.
    fn check_part(&mut self, response: &S3GetObjectResponse) -> Result<()> {
        let Some(parts) = self.parts.as_mut() else {
            return Ok(());
        };
        if !parts.first {
            let mismatch = match (&parts.etag, response.etag()) {
                (Some(first), Some(now)) if first.as_str() != now.as_str() => {
                    Some(format!("entity tag {} then {}", first.as_str(), now.as_str()))
                }
                _ => None,
            };
            return mismatch.map_or(Ok(()), |how| Err(self.changed(how)));
        }
        parts.first = false;
        let etag = response.etag();
        // A HEAD sent while this part was on its way (see [`Body::wait_started`]) may have
        // planned the other parts already: they must be of the object this part is of.
        if let (Some(head), Some(now)) = (&parts.etag, &etag) {
            if head.as_str() != now.as_str() {
                let how = format!("entity tag {} then {}", head.as_str(), now.as_str());
                return Err(self.changed(how));
            }
        }
        parts.etag = etag;
        match response.object_size() {
            Some(size) => parts.end_at(self.want_end.min(size)),
            None => {
                // No size to plan by: the rest goes as one request once this one ends (parts
                // sent on a HEAD's size are dropped, and so cancelled).
                let first_end = self.requested.as_ref().map_or(parts.sent_end, |first| first.end);
                if first_end < self.want_end {
                    self.provisional_end = Some(first_end);
                }
                self.parts = None;
            }
        }
        Ok(())
    }

    /// Wait for the request on the wire (what [`InFlight::wait`] returns).
    ///
    /// The first part of a body of unknown length tells the object's size only once it has
    /// arrived whole (the CRT hands over its headers then): on a link like S3's, 8 MiB take
    /// 100-200 ms, during which the other parts could already be on their way. So when that
    /// part is still not there after [`SIZE_PROBE_AFTER`], one HEAD asks for the size, and the
    /// other parts go out as soon as it answers. A small object, or any on a fast link, has
    /// arrived by then and costs no HEAD; a HEAD that fails or comes second changes nothing.
    fn wait_started(&mut self, started: Started) -> std::result::Result<StartedOutput, Interrupted> {
        let limits = self.handle.limits.clone();
        if !self.parts.as_ref().is_some_and(|parts| parts.first && !parts.plannable) {
            return started.wait(&limits);
        }
        let started = match started.wait_until(&limits, Instant::now() + SIZE_PROBE_AFTER)? {
            Ok(outcome) => return Ok(outcome),
            Err(started) => started,
        };
        let (crt, bucket, key) = (
            self.handle.crt.clone(),
            self.target.bucket.clone(),
            self.target.key.clone(),
        );
        let head = InFlight::start(async move {
            crt.head_object(&bucket, key.as_deref().unwrap_or_default(), &HeadObjectParams::new())
                .await
        });
        match started.race(head, &limits)? {
            // The part came first; dropping the HEAD cancels it.
            Either::Left((outcome, _head)) => Ok(outcome),
            Either::Right((head, started)) => {
                if let Ok(head) = head {
                    self.plan(head.size, head.etag);
                }
                started.wait(&limits)
            }
        }
    }

    /// Plan the parts by the object's size and entity tag, learned while the first part is on
    /// its way, and send those the window and the prefetch budget allow.
    fn plan(&mut self, size: u64, etag: ETag) {
        let Some(parts) = self.parts.as_mut() else {
            return;
        };
        parts.end_at(self.want_end.min(size));
        parts.etag = Some(etag);
        self.send_parts();
    }

    /// Send the parts that start within `read_window` of the reader, up to the end of the body,
    /// while the client's prefetch budget lasts.
    fn send_parts(&mut self) {
        let Some(parts) = self.parts.as_mut().filter(|parts| parts.plannable) else {
            return;
        };
        let horizon = self.position.saturating_add(self.read_window).min(parts.end);
        while parts.sent_end < horizon {
            let length = parts.size.min(parts.end - parts.sent_end);
            let Some(lease) = self.handle.prefetch.lease(length) else {
                return;
            };
            parts.send(&self.handle, &self.target, Some(lease));
        }
    }

    /// The request for the next part, when the body is fetched in parts: the first of those
    /// ahead, or, when none is (the prefetch budget was spent), one sent now. A part that
    /// stopped short of the next one's start means the object changed.
    fn next_part(&mut self) -> Result<Option<Started>> {
        let Some(parts) = self.parts.as_mut() else {
            return Ok(None);
        };
        if parts.ahead.is_empty() && parts.plannable && parts.sent_end < parts.end {
            parts.send(&self.handle, &self.target, None);
        }
        let Some(next) = parts.ahead.pop_front() else {
            return Ok(None);
        };
        parts.current = next.lease;
        if next.start != self.position {
            return Err(self.changed("a part ended short".into()));
        }
        self.requested = Some(next.start..parts.end.min(next.start.saturating_add(parts.size)));
        Ok(Some(next.started))
    }

    /// The error for a body whose object changed between two of its parts.
    fn changed(&self, how: String) -> Error {
        Error::request(
            ErrorKind::PreconditionFailed,
            "GetObject",
            self.target.clone(),
            format!(
                "the object changed while it was read ({how}, at offset {})",
                self.position
            ),
        )
    }

    /// Put back the unconsumed tail of the chunk last handed out.
    fn unread(&mut self, rest: Bytes) {
        self.position -= rest.len() as u64;
        self.unread = rest;
    }

    /// Up to `limit` bytes (all of the rest when `None`), as chunks in order, stopping early once
    /// one part's worth is held. Returns the chunks and whether it stopped early.
    ///
    /// Received chunks are buffers of the CRT's memory pool, shared by every stream of the
    /// client: a reader holding parts while it waits for the next one can leave the pool without
    /// room for it (two streams doing so on the smallest pool waited for each other until the
    /// stall timeout). Past one part, [`PyGetObjectStream::read`] copies each into the result
    /// as it comes.
    fn take(&mut self, limit: Option<usize>) -> Result<(Vec<Bytes>, bool)> {
        let mut held: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        let most = self.handle.crt.read_part_size();
        while limit.is_none_or(|limit| total < limit) {
            if total >= most {
                return Ok((held, true));
            }
            let Some(mut chunk) = self.next_chunk()? else { break };
            if let Some(limit) = limit {
                if chunk.len() > limit - total {
                    let rest = chunk.split_off(limit - total);
                    self.unread(rest);
                }
            }
            total += chunk.len();
            held.push(chunk);
        }
        Ok((held, false))
    }

    /// Bytes left in the body after `position`, from the object's size (one HEAD request).
    fn remaining(&self) -> Result<u64> {
        if let Some(parts) = self.parts.as_ref().filter(|parts| parts.end_known) {
            return Ok(parts.end.saturating_sub(self.position));
        }
        let key = self.target.key.as_deref().unwrap_or_default();
        let params = HeadObjectParams::new();
        let head = self.handle.wait(
            "HeadObject",
            &self.target,
            self.handle.crt.head_object(&self.target.bucket, key, &params),
        )?;
        Ok(head.size.saturating_sub(self.position))
    }

    /// Fill `out` from the body; the count filled is short only at the end of the body.
    fn fill(&mut self, out: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while filled < out.len() {
            let Some(mut chunk) = self.next_chunk()? else { break };
            let n = chunk.len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&chunk[..n]);
            filled += n;
            if n < chunk.len() {
                let rest = chunk.split_off(n);
                self.unread(rest);
            }
        }
        Ok(filled)
    }
}

/// The body of one object (or a byte range of it), streamed from S3.
///
/// Iterating yields zero-copy `Buffer`s as they arrive; `read` and `readinto` copy exactly once,
/// into the bytes returned or the caller's buffer. The request starts when the stream is created.
#[pyclass(name = "GetObjectStream", module = "s3torch._core", frozen)]
pub struct PyGetObjectStream {
    #[pyo3(get)]
    bucket: String,
    #[pyo3(get)]
    key: String,
    /// First byte requested.
    #[pyo3(get)]
    start: u64,
    /// End (exclusive) of the range requested, when one was.
    #[pyo3(get)]
    end: Option<u64>,
    body: ProcessLocal<Body>,
}

impl PyGetObjectStream {
    /// Start the GET of `range` (the whole object when `None`; an end of `u64::MAX` means up to
    /// the object's end).
    ///
    /// `size_hint`, the object's size if known (from a listing), only changes how a read up to
    /// the end is sent: as a range ending one byte past the expected size. The CRT then holds a
    /// buffer of that size for the first part instead of a whole part (8 MiB), which matters
    /// when many small GETs are in flight at once; an object that has grown since is still read
    /// whole (the extra byte shows it, and the rest is asked for).
    pub fn start(
        handle: Handle,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        read_window: u64,
        size_hint: Option<u64>,
    ) -> Self {
        let start = range.as_ref().map_or(0, |r| r.start);
        let end = range.as_ref().map(|r| r.end).filter(|end| *end != u64::MAX);
        let want_end = end.unwrap_or(u64::MAX);
        let whole_object = range.is_none();
        let target = Target::object(bucket, key);
        let mut provisional_end = None;
        let mut requested = range.clone();
        // Where the body is expected to end: the range's end, or one byte past the hinted size.
        let hinted_end = match (end, size_hint) {
            (Some(end), _) => Some(end),
            (None, Some(size)) if start <= size => Some(size.saturating_add(1)),
            (None, _) => None,
        };
        let part = handle.crt.read_part_size() as u64;
        let mut parts = None;
        let state = match (range, hinted_end) {
            (Some(range), _) if range.is_empty() => State::Finished,
            // Longer than one part, or of unknown length: one request per part (see [`Parts`]).
            (_, hinted) if hinted.is_none_or(|hinted| hinted - start > part) => {
                // One part, as every later one. Its answer resolves once the part has arrived
                // (the CRT gives the headers then), and its `Content-Range` tells the object's
                // size: the other parts go out then. A body of unknown length that fits one part
                // takes one request.
                let first = start..start.saturating_add(part);
                parts = Some(Parts {
                    size: part,
                    end: hinted.unwrap_or(want_end),
                    end_known: false,
                    plannable: hinted.is_some(),
                    ahead: VecDeque::new(),
                    current: None,
                    sent_end: first.end,
                    etag: None,
                    first: true,
                });
                requested = Some(first);
                State::Starting(request(&handle, &target, requested.clone()))
            }
            // Up to the end (`end` is None), from a start within the expected size.
            (_, Some(hinted_end)) if end.is_none() => {
                provisional_end = Some(hinted_end);
                requested = Some(start..hinted_end);
                State::Starting(request(&handle, &target, requested.clone()))
            }
            (range, _) => State::Starting(request(&handle, &target, range)),
        };
        let mut body = Body {
            handle,
            target,
            state,
            parts,
            unread: Bytes::new(),
            position: start,
            read_window,
            whole_object,
            provisional_end,
            requested,
            want_end,
            closed: false,
        };
        body.send_parts();
        Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            start,
            end,
            body: ProcessLocal::new(body, "stream"),
        }
    }
}

/// Start a GET of `range` of the target object (the whole object when `None`).
fn request(handle: &Handle, target: &Target, range: Option<Range<u64>>) -> Started {
    let (b, k, c) = (
        target.bucket.clone(),
        target.key.clone().unwrap_or_default(),
        handle.crt.clone(),
    );
    let params = GetObjectParams::new().range(range);
    InFlight::start(async move { c.get_object(&b, &k, &params).await })
}

/// Copy `chunks`, in order, to the start of `out`.
fn copy_chunks(chunks: &[Bytes], out: &mut [u8]) {
    let mut offset = 0;
    for chunk in chunks {
        out[offset..offset + chunk.len()].copy_from_slice(chunk);
        offset += chunk.len();
    }
}

/// `chunks` as one `bytes` object.
fn join<'py>(py: Python<'py>, chunks: &[Bytes]) -> PyResult<Bound<'py, PyBytes>> {
    if let [single] = chunks {
        return Ok(PyBytes::new(py, single));
    }
    let total = chunks.iter().map(Bytes::len).sum();
    bytes_filled(py, total, |out| {
        py.detach(|| copy_chunks(chunks, out));
        Ok(())
    })
}

#[pymethods]
impl PyGetObjectStream {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyBuffer>> {
        let chunk = self.body.with(py, |body| {
            Ok(body.next_chunk()?.map(|bytes| (bytes, body.handle.crt.clone())))
        })?;
        Ok(chunk.map(|(bytes, client)| PyBuffer::new(bytes, client)))
    }

    /// Read up to `size` bytes (all of the rest when `size` is negative or None) as `bytes`.
    ///
    /// Bytes are copied once, into the result. A read of more than one part (`part_size`)
    /// allocates the result up front instead of gathering the parts first: at the size the first
    /// response told (a body longer than one part), or else the object's size from one HEAD
    /// request.
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let limit = size.and_then(|size| usize::try_from(size).ok());
        let (held, more) = self.body.with(py, |body| body.take(limit))?;
        if !more {
            return join(py, &held);
        }
        let held_len: usize = held.iter().map(Bytes::len).sum();
        let left = self.body.with(py, |body| body.remaining())?;
        let mut expected = usize::try_from(left).unwrap_or(usize::MAX);
        if let Some(limit) = limit {
            expected = expected.min(limit - held_len);
        }
        let mut filled = 0usize;
        let result = bytes_filled(py, held_len + expected, |out| {
            let (head, tail) = out.split_at_mut(held_len);
            py.detach(|| copy_chunks(&held, head));
            drop(held);
            filled = prefaulted(tail, |tail| self.body.with(py, |body| body.fill(tail)))?;
            Ok(())
        })?;
        let mut total = held_len + filled;
        if filled < expected {
            // The object is shorter than its size said (replaced while we read): keep what came.
            return Ok(PyBytes::new(py, &result.as_bytes()[..total]));
        }
        // More than the size said (replaced while we read): gather the rest the slow way.
        let mut extra: Vec<Bytes> = Vec::new();
        while limit.is_none_or(|limit| total < limit) {
            let (chunks, more) = self.body.with(py, |body| body.take(limit.map(|limit| limit - total)))?;
            total += chunks.iter().map(Bytes::len).sum::<usize>();
            let done = chunks.is_empty() || !more;
            extra.extend(chunks);
            if done {
                break;
            }
        }
        if extra.is_empty() {
            return Ok(result);
        }
        extra.insert(0, Bytes::copy_from_slice(result.as_bytes()));
        join(py, &extra)
    }

    /// Fill a writable buffer (bytearray, memoryview, numpy array, `tensor.numpy()`) in place.
    /// Returns the number of bytes written: less than its size only at the end of the body.
    fn readinto(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut target = BorrowedBuffer::writable(buffer)?;
        Ok(self.body.with(py, |body| body.fill(target.as_mut_slice()))?)
    }

    /// Object offset of the next byte this stream returns.
    fn tell(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.body.with(py, |body| Ok(body.position))?)
    }

    /// Stop the request. Later reads raise ValueError (I/O operation on closed stream); closing
    /// again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        Ok(self.body.with(py, |body| {
            body.state = State::Finished;
            body.parts = None;
            body.unread = Bytes::new();
            body.closed = true;
            Ok(())
        })?)
    }

    fn __repr__(&self) -> String {
        format!("GetObjectStream(s3://{}/{})", self.bucket, self.key)
    }
}
