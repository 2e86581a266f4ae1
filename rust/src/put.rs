//! PUT: one object written as a stream. Small objects go in one PutObject; larger ones become a
//! multipart upload whose parts are sent while the caller keeps writing.

use crate::buffer::BorrowedBuffer;
use crate::errors::{Error, Result, Target};
use crate::fork::ProcessLocal;
use crate::handle::Handle;
use crate::wait;
use mountpoint_s3_client::checksums::crc32c;
use mountpoint_s3_client::types::{
    ChecksumAlgorithm, PutObjectParams, PutObjectSingleParams, PutObjectTrailingChecksums, UploadChecksum,
    UploadReviewOutcome,
};
use mountpoint_s3_client::{MultipartTrace, ObjectClient, PutObjectRequest, S3PutObjectRequest};
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Writes at least this large skip our buffer and go straight to the CRT, which copies them into
/// its part buffers anyway; smaller ones are gathered first, to save a CRT call per tiny write.
const DIRECT_WRITE: usize = 1024 * 1024;

/// How long to wait for a failed or canceled multipart upload to finish (the CRT sends its
/// AbortMultipartUpload first) before sending ours.
const FINISH_WAIT: Duration = Duration::from_secs(60);

/// The end of a multipart upload that did not complete: when the CRT's AbortMultipartUpload of it
/// was not answered (it failed, and the CRT does not retry it), send one of our own, retried within
/// `max_attempts` as any request is, so that no incomplete upload stays on the server. Nothing to
/// do when the upload was never created on the server, or no request ever named its id (the CRT
/// names it in every UploadPart and in its AbortMultipartUpload).
fn abort_leftover(handle: &Handle, target: &Target, trace: &MultipartTrace) {
    if !trace.wait_finished(FINISH_WAIT) {
        tracing::warn!(%target, "the failed upload did not finish in time: its parts may stay on the server");
        return;
    }
    let Some(upload_id) = trace.upload_id() else { return };
    if trace.aborted() {
        return;
    }
    let key = target.key.as_deref().unwrap_or_default();
    let aborted = handle.crt.abort_multipart_upload(&target.bucket, key, &upload_id);
    if let Err(error) = handle.wait("AbortMultipartUpload", target, aborted) {
        tracing::warn!(%target, %upload_id, %error, "could not abort the failed upload: its parts stay on the server");
    }
}

enum State {
    Open {
        /// Bytes not yet given to the CRT. Until an upload starts, the whole object.
        pending: Vec<u8>,
        upload: Option<S3PutObjectRequest>,
    },
    Completed(String),
    Aborted,
    Failed,
}

struct Upload {
    handle: Handle,
    target: Target,
    storage_class: Option<String>,
    checksum: bool,
    part_size: usize,
    state: State,
    written: u64,
    /// What the requests of the multipart upload showed, once one is started.
    trace: Option<Arc<MultipartTrace>>,
}

impl Upload {
    fn key(&self) -> &str {
        self.target.key.as_deref().unwrap_or_default()
    }

    fn closed_error(&self) -> Error {
        let why = match &self.state {
            State::Completed(_) => "was already closed",
            State::Aborted => "was aborted",
            State::Failed => "failed earlier",
            State::Open { .. } => "is open",
        };
        Error::invalid(format!(
            "I/O operation on closed stream: the upload of {} {why}",
            self.target
        ))
    }

    fn start_multipart(&mut self) -> Result<S3PutObjectRequest> {
        let mut params = PutObjectParams::new();
        if self.checksum {
            params = params.trailing_checksums(PutObjectTrailingChecksums::Composite(ChecksumAlgorithm::Crc32c));
        }
        if let Some(storage_class) = &self.storage_class {
            params = params.storage_class(storage_class.clone());
        }
        let started = self.handle.crt.put_object(&self.target.bucket, self.key(), &params);
        let request = self.handle.wait("PutObject", &self.target, started)?;
        self.trace = Some(request.multipart_trace());
        Ok(request)
    }

    /// After a multipart upload failed or was canceled: abort it if the CRT could not.
    fn abort_leftover(&self) {
        if let Some(trace) = &self.trace {
            abort_leftover(&self.handle, &self.target, trace);
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::Open { mut pending, upload } = state else {
            self.state = state;
            return Err(self.closed_error());
        };
        let fits_in_one_part = pending.len() + data.len() <= self.part_size;
        let upload = if fits_in_one_part && (upload.is_none() || data.len() < DIRECT_WRITE) {
            pending.extend_from_slice(data);
            upload
        } else {
            // On an error below the state stays `Failed`; dropping the request cancels it, and the
            // upload is then aborted.
            let mut request = match upload {
                Some(request) => request,
                None => self.start_multipart()?,
            };
            let mut sent = Ok(());
            if !pending.is_empty() {
                sent = self.send(&mut request, &pending);
                pending.clear();
            }
            if sent.is_ok() {
                if data.len() >= DIRECT_WRITE {
                    sent = self.send(&mut request, data);
                } else {
                    pending.extend_from_slice(data);
                }
            }
            if let Err(error) = sent {
                drop(request);
                self.abort_leftover();
                return Err(error);
            }
            Some(request)
        };
        self.written += data.len() as u64;
        self.state = State::Open { pending, upload };
        Ok(())
    }

    /// Hand `data` to the upload, waiting while its part buffers are full.
    fn send(&self, request: &mut S3PutObjectRequest, data: &[u8]) -> Result<()> {
        self.handle.wait("PutObject", &self.target, request.write(data))?;
        self.handle.metrics.add_bytes_written(data.len());
        Ok(())
    }

    /// Cancel the upload and wait until the store has discarded it. A completed upload stays.
    fn abort(&mut self) {
        match std::mem::replace(&mut self.state, State::Aborted) {
            State::Open {
                upload: Some(request), ..
            } => {
                // Dropping the request would cancel it too, but the CRT then sends
                // AbortMultipartUpload in the background. Refusing the upload at review time makes
                // the CRT abort it before the request finishes, and we wait for that finish.
                let refused = request.review_and_complete(|_review| UploadReviewOutcome::Abort);
                let _expected_failure = wait::block_on(refused, &self.handle.limits);
                self.abort_leftover();
            }
            State::Open { upload: None, .. } | State::Failed | State::Aborted => {}
            completed @ State::Completed(_) => self.state = completed,
        }
    }

    fn complete(&mut self) -> Result<String> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::Open { pending, upload } = state else {
            self.state = state;
            return Err(self.closed_error());
        };
        let result = match upload {
            None => {
                let mut params = PutObjectSingleParams::new();
                if self.checksum {
                    params = params.checksum(Some(UploadChecksum::Crc32c(crc32c::checksum(&pending))));
                }
                if let Some(storage_class) = &self.storage_class {
                    params = params.storage_class(storage_class.clone());
                }
                let size = pending.len();
                let put = self
                    .handle
                    .crt
                    .put_object_single(&self.target.bucket, self.key(), &params, pending);
                let result = self.handle.wait("PutObject", &self.target, put)?;
                self.handle.metrics.add_bytes_written(size);
                result
            }
            Some(mut request) => {
                if !pending.is_empty() {
                    if let Err(error) = self.send(&mut request, &pending) {
                        drop(request);
                        self.abort_leftover();
                        return Err(error);
                    }
                }
                // Completing waits for every part still in flight, however long the data
                // outstanding takes to send, so the stall limit does not apply; the CRT's own
                // stall detection still does.
                let completed = futures::executor::block_on(request.complete());
                if completed.is_err() {
                    self.abort_leftover();
                }
                self.handle.settle("PutObject", &self.target, Ok(completed))?
            }
        };
        let etag = result.etag.into_inner();
        self.state = State::Completed(etag.clone());
        Ok(etag)
    }
}

impl Drop for Upload {
    /// An upload dropped open (its stream garbage-collected unclosed) is canceled: the CRT then
    /// aborts it, and a thread of its own waits for that and aborts it again if the CRT could not,
    /// so that dropping never blocks on the network.
    fn drop(&mut self) {
        let State::Open {
            upload: Some(request), ..
        } = std::mem::replace(&mut self.state, State::Aborted)
        else {
            return;
        };
        drop(request);
        let Some(trace) = self.trace.take() else { return };
        let (handle, target) = (self.handle.clone(), self.target.clone());
        let spawned = std::thread::Builder::new()
            .name("s3torch-abort".into())
            .spawn(move || abort_leftover(&handle, &target, &trace));
        if let Err(error) = spawned {
            tracing::warn!(target = %self.target, %error, "could not start a thread to abort the dropped upload");
        }
    }
}

/// An upload of one object. Nothing is visible under the key until `close()` succeeds; `abort()`
/// (or dropping the stream unclosed) cancels it and leaves any previous object untouched.
#[pyclass(name = "PutObjectStream", module = "s3torch._core", frozen, weakref)]
pub struct PyPutObjectStream {
    #[pyo3(get)]
    bucket: String,
    #[pyo3(get)]
    key: String,
    upload: ProcessLocal<Upload>,
}

impl PyPutObjectStream {
    pub fn new(handle: Handle, bucket: &str, key: &str, storage_class: Option<String>, checksum: bool) -> Self {
        let part_size = handle.crt.write_part_size();
        Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload: ProcessLocal::new(
                Upload {
                    handle,
                    target: Target::object(bucket, key),
                    storage_class,
                    checksum,
                    part_size,
                    state: State::Open {
                        pending: Vec::new(),
                        upload: None,
                    },
                    written: 0,
                    trace: None,
                },
                "upload",
            ),
        }
    }
}

#[pymethods]
impl PyPutObjectStream {
    /// Append any bytes-like object. Returns the number of bytes written (all of them).
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let source = BorrowedBuffer::readable(data)?;
        let len = source.len();
        self.upload.with(py, |upload| upload.write(source.as_slice()))?;
        Ok(len)
    }

    /// Finish the upload and make the object visible. Returns its ETag.
    fn close(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.upload.with(py, Upload::complete)?)
    }

    /// Cancel the upload: no object is created and parts already sent are discarded.
    /// Aborting a finished or already aborted upload does nothing.
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        Ok(self.upload.with(py, |upload| {
            upload.abort();
            Ok(())
        })?)
    }

    /// Bytes written so far.
    fn tell(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.upload.with(py, |upload| Ok(upload.written))?)
    }

    /// Whether the stream still accepts writes.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self
            .upload
            .with(py, |upload| Ok(!matches!(upload.state, State::Open { .. })))?)
    }

    /// The ETag of the completed object, once `close()` has succeeded.
    #[getter]
    fn etag(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self.upload.with(py, |upload| {
            Ok(match &upload.state {
                State::Completed(etag) => Some(etag.clone()),
                _ => None,
            })
        })?)
    }

    fn __repr__(&self) -> String {
        format!("PutObjectStream(s3://{}/{})", self.bucket, self.key)
    }
}
