//! The client: one set of settings, one CRT client per process.

use crate::checks::{check_bucket, check_header_text, check_key};
use crate::errors::{Error, Result, Target};
use crate::fork::ForkGuard;
use crate::get::PyGetObjectStream;
use crate::handle::{Handle, Pooled, Redirect};
use crate::list::{check_start_after, PyListObjectStream};
use crate::metrics::Metrics;
use crate::object::PyHeadObjectResult;
use crate::put::PyPutObjectStream;
use crate::settings::Settings;
use mountpoint_s3_client::types::{CopyObjectParams, HeadObjectParams};
use mountpoint_s3_client::ObjectClient;
use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Characters of a key kept as they are in `x-amz-copy-source`: RFC 3986 unreserved, and `/`.
const COPY_SOURCE_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A connection to S3 or an S3-compatible store, built from one resolved settings object
/// (`s3torch._settings.ClientSettings`, read by field name).
///
/// A setting of the wrong type raises TypeError and one out of range ValueError, both naming
/// the field. The client belongs to the process that built it; in a forked child it builds a
/// fresh connection pool on first use and leaves the parent's untouched.
#[pyclass(name = "S3Client", module = "s3torch._core", frozen)]
pub struct PyS3Client {
    shared: Arc<Shared>,
}

/// What a client's requests share, also from the CRT's threads: the settings, one CRT client per
/// region in use, and the region of each bucket found to live outside the client's.
struct Shared {
    settings: Settings,
    clients: Mutex<HashMap<String, ForkGuard<Pooled>>>,
    bucket_regions: Mutex<HashMap<String, String>>,
    metrics: Arc<Metrics>,
}

impl Shared {
    /// This process's CRT client for `region` (built on first use, and after a fork), with the
    /// client's counters.
    fn handle_in(self: &Arc<Self>, region: &str) -> Result<Handle> {
        let settings = Settings {
            region: region.to_owned(),
            ..self.settings.clone()
        };
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let Pooled { crt, prefetch } = match clients.get(region).and_then(ForkGuard::get) {
            Some(client) => client.clone(),
            None => {
                let fresh = Pooled::new(settings.build(&self.metrics)?);
                // Replacing the slot drops the parent's guard, which leaks the parent's client.
                clients.insert(region.to_owned(), ForkGuard::new(fresh.clone()));
                fresh
            }
        };
        let shared = Arc::downgrade(self);
        let redirect: Redirect = Arc::new(move |bucket: &str, region: &str| {
            let shared = shared
                .upgrade()
                .ok_or_else(|| Error::invalid("the client was closed"))?;
            shared.follow(bucket, region)
        });
        Ok(Handle {
            crt,
            prefetch,
            metrics: self.metrics.clone(),
            limits: settings.limits(&self.metrics),
            endpoint: settings.endpoint_url().into(),
            region: region.into(),
            redirect: Some(redirect),
        })
    }

    /// The handle for requests about `bucket`: in its region, once known.
    fn handle_for(self: &Arc<Self>, bucket: &str) -> Result<Handle> {
        let known = self
            .bucket_regions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(bucket)
            .cloned();
        self.handle_in(known.as_deref().unwrap_or(&self.settings.region))
    }

    /// Remember that `bucket` lives in `region` (said once, in the log), and give its handle.
    fn follow(self: &Arc<Self>, bucket: &str, region: &str) -> Result<Handle> {
        let previous = self
            .bucket_regions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(bucket.to_owned(), region.to_owned());
        if previous.as_deref() != Some(region) {
            tracing::info!(
                "bucket {bucket} is in region {region}, not {}: its requests go there from now on",
                self.settings.region
            );
        }
        self.handle_in(region)
    }

    /// Run `operation` with the handle for `bucket`; if S3 says the bucket lives in another
    /// region, run it once more there.
    fn with_region<T>(self: &Arc<Self>, bucket: &str, operation: impl Fn(&Handle) -> Result<T>) -> Result<T> {
        let handle = self.handle_for(bucket)?;
        match operation(&handle) {
            Err(error) => match handle.follow(&error, bucket) {
                Some(there) => operation(&there),
                None => Err(error),
            },
            done => done,
        }
    }
}

#[pymethods]
impl PyS3Client {
    /// Build a client from resolved settings (an `s3torch._settings.ClientSettings`, read by
    /// field name). A setting of the wrong type raises TypeError, one out of range ValueError,
    /// both naming the field.
    #[new]
    fn new(py: Python<'_>, settings: &Bound<'_, PyAny>) -> PyResult<Self> {
        let settings = Settings::from_python(settings)?;
        let metrics = Arc::new(Metrics::default());
        let client = py.detach(|| settings.build(&metrics))?;
        let clients = HashMap::from([(settings.region.clone(), ForkGuard::new(Pooled::new(client)))]);
        Ok(Self {
            shared: Arc::new(Shared {
                settings,
                clients: Mutex::new(clients),
                bucket_regions: Mutex::new(HashMap::new()),
                metrics,
            }),
        })
    }

    /// Start a GET of the whole object, or of bytes `start` (inclusive) to `end` (exclusive).
    /// `size_hint`, the object's size if known, lets a read up to the end reserve less memory,
    /// and the parts of a large one go out at once.
    #[pyo3(signature = (bucket, key, start=None, end=None, *, size_hint=None))]
    fn get_object(
        &self,
        py: Python<'_>,
        bucket: &str,
        key: &str,
        start: Option<u64>,
        end: Option<u64>,
        size_hint: Option<u64>,
    ) -> PyResult<PyGetObjectStream> {
        check_bucket(bucket)?;
        check_key(key)?;
        let range = requested_range(start, end)?;
        let handle = py.detach(|| self.shared.handle_for(bucket))?;
        Ok(PyGetObjectStream::start(
            handle,
            bucket,
            key,
            range,
            self.shared.settings.read_window as u64,
            size_hint,
        ))
    }

    /// Open an upload of one object. Data is sent as it is written; nothing is visible until
    /// close().
    #[pyo3(signature = (bucket, key, storage_class=None))]
    fn put_object(
        &self,
        py: Python<'_>,
        bucket: &str,
        key: &str,
        storage_class: Option<String>,
    ) -> PyResult<PyPutObjectStream> {
        check_bucket(bucket)?;
        check_key(key)?;
        if let Some(storage_class) = &storage_class {
            check_header_text("storage_class", storage_class, true)?;
        }
        let handle = py.detach(|| self.shared.handle_for(bucket))?;
        Ok(PyPutObjectStream::new(
            handle,
            bucket,
            key,
            storage_class,
            self.shared.settings.upload_checksum,
        ))
    }

    /// List objects under a prefix, a page (up to `max_keys`) at a time. With `start_after`, the
    /// listing begins after that key (not included), which need not exist.
    #[pyo3(signature = (bucket, prefix=String::new(), delimiter=String::new(), max_keys=1000, start_after=None))]
    fn list_objects(
        &self,
        py: Python<'_>,
        bucket: &str,
        prefix: String,
        delimiter: String,
        max_keys: usize,
        start_after: Option<String>,
    ) -> PyResult<PyListObjectStream> {
        check_bucket(bucket)?;
        if let Some(start_after) = &start_after {
            check_start_after(start_after)?;
        }
        if !(1..=1000).contains(&max_keys) {
            return Err(Error::invalid(format!(
                "max_keys={max_keys} is out of range: must be between 1 and 1000"
            ))
            .into());
        }
        let handle = py.detach(|| self.shared.handle_for(bucket))?;
        // An empty start_after starts at the prefix, as no start_after does.
        let start_after = start_after.filter(|key| !key.is_empty());
        Ok(PyListObjectStream::start(
            handle,
            bucket,
            prefix,
            delimiter,
            max_keys,
            start_after,
        ))
    }

    /// Size, ETag, last-modified time and storage class of an object.
    fn head_object(&self, py: Python<'_>, bucket: &str, key: &str) -> PyResult<PyHeadObjectResult> {
        check_bucket(bucket)?;
        check_key(key)?;
        let head = py.detach(|| {
            self.shared.with_region(bucket, |handle| {
                let params = HeadObjectParams::new();
                handle.wait(
                    "HeadObject",
                    &Target::object(bucket, key),
                    handle.crt.head_object(bucket, key, &params),
                )
            })
        })?;
        Ok(head.into())
    }

    /// Delete an object. Deleting a key that does not exist succeeds, as in S3.
    fn delete_object(&self, py: Python<'_>, bucket: &str, key: &str) -> PyResult<()> {
        check_bucket(bucket)?;
        check_key(key)?;
        py.detach(|| {
            self.shared.with_region(bucket, |handle| {
                let target = Target::object(bucket, key);
                handle.wait("DeleteObject", &target, handle.crt.delete_object(bucket, key))
            })
        })?;
        Ok(())
    }

    /// Copy an object within the store, without moving its bytes through this process.
    fn copy_object(
        &self,
        py: Python<'_>,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
    ) -> PyResult<()> {
        for bucket in [src_bucket, dst_bucket] {
            check_bucket(bucket)?;
        }
        for key in [src_key, dst_key] {
            check_key(key)?;
        }
        // The crate encodes the destination (it is the request path) but puts the source into the
        // x-amz-copy-source header as given, where S3 expects it URL-encoded.
        let encoded_src_key = percent_encode(src_key.as_bytes(), COPY_SOURCE_KEY).to_string();
        // A copy is sent to the destination bucket's region.
        py.detach(|| {
            self.shared.with_region(dst_bucket, |handle| {
                let params = CopyObjectParams::new();
                // A copy's one wait lasts as long as the store takes to copy the whole object, so
                // the stall limit does not apply; the CRT's own stall detection still does.
                let copied = futures::executor::block_on(handle.crt.copy_object(
                    src_bucket,
                    &encoded_src_key,
                    dst_bucket,
                    dst_key,
                    &params,
                ));
                handle.settle("CopyObject", &Target::object(src_bucket, src_key), Ok(copied))
            })
        })?;
        Ok(())
    }

    #[getter]
    fn region(&self) -> &str {
        &self.shared.settings.region
    }

    #[getter]
    fn endpoint(&self) -> Option<&str> {
        self.shared.settings.endpoint.as_deref()
    }

    #[getter]
    fn part_size(&self) -> usize {
        self.shared.settings.part_size
    }

    #[getter]
    fn throughput_target_gbps(&self) -> f64 {
        self.shared.settings.throughput_target_gbps
    }

    #[getter]
    fn max_attempts(&self) -> usize {
        self.shared.settings.max_attempts
    }

    #[getter]
    fn stall_timeout_s(&self) -> Option<f64> {
        self.shared.settings.stall_timeout_s
    }

    /// This client's counters since it was made: requests (by operation), retries, errors (by
    /// HTTP status, or "network"), throttles, canceled requests, timeouts, bytes read and written,
    /// and per-request latency in microseconds (`latency.first_byte.*` and `latency.total.*`:
    /// `count`, `p50_us`, `p95_us`, `p99_us`, `max_us`, present once a request got a response).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = PyDict::new(py);
        for (name, value) in self.shared.metrics.snapshot() {
            counters.set_item(name, value)?;
        }
        Ok(counters)
    }

    #[getter]
    fn user_agent(&self) -> String {
        self.shared.settings.user_agent()
    }

    fn __repr__(&self) -> String {
        format!(
            "S3Client(region={:?}, endpoint={:?}, part_size={}, max_attempts={})",
            self.shared.settings.region,
            self.shared.settings.endpoint,
            self.shared.settings.part_size,
            self.shared.settings.max_attempts
        )
    }
}

/// What the asyncio bridge (`aio.rs`) asks of a client: it starts the same requests as the
/// methods above, from an event loop's thread.
impl PyS3Client {
    /// The handle for requests about `bucket` (builds this process's CRT client if needed: call
    /// it with the GIL released).
    pub(crate) fn handle_for(&self, bucket: &str) -> Result<Handle> {
        self.shared.handle_for(bucket)
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.shared.settings
    }
}

/// The range a GET asks for: none, or `start` (default 0) to `end` (exclusive; default the
/// object's end, `u64::MAX`).
pub(crate) fn requested_range(start: Option<u64>, end: Option<u64>) -> Result<Option<std::ops::Range<u64>>> {
    match (start, end) {
        (None, None) => Ok(None),
        (start, end) => {
            let start = start.unwrap_or(0);
            let end = end.unwrap_or(u64::MAX);
            if end < start {
                return Err(Error::invalid(format!(
                    "invalid range: end ({end}) is before start ({start})"
                )));
            }
            Ok(Some(start..end))
        }
    }
}
