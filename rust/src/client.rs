//! The client: one configuration, one CRT S3 client per process.

use crate::errors::{describe_chain, Error, ErrorKind, Result, ServiceError, Target};
use crate::fork::ForkGuard;
use crate::get::PyGetObjectStream;
use crate::list::PyListObjectStream;
use crate::metrics::{Metrics, Telemetry};
use crate::object::PyHeadObjectResult;
use crate::put::PyPutObjectStream;
use crate::wait::{self, Stalled};
use mountpoint_s3_client::config::{
    AddressingStyle, Allocator, CredentialsProvider, CredentialsProviderStaticOptions, EndpointConfig,
    S3ClientAuthConfig, S3ClientConfig, TlsConfig, Uri,
};
use mountpoint_s3_client::error::ObjectClientError;
use mountpoint_s3_client::types::{CopyObjectParams, HeadObjectParams};
use mountpoint_s3_client::user_agent::UserAgent;
use mountpoint_s3_client::{NewClientError, ObjectClient, S3CrtClient, S3RequestError};
use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

const MIB: usize = 1024 * 1024;
pub const MIN_PART_SIZE: usize = 5 * MIB;
pub const MAX_PART_SIZE: usize = 5 * 1024 * MIB;

/// Characters of a key kept as they are in `x-amz-copy-source`: RFC 3986 unreserved, and `/`.
const COPY_SOURCE_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// The CRT's retry strategy refuses more than 63 retries.
pub const MAX_ATTEMPTS: usize = 64;
pub const MAX_THROUGHPUT_GBPS: f64 = 400.0;
pub const MAX_KEY_BYTES: usize = 1024;

/// Static credentials. Never printed.
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticCredentials(** redacted **)")
    }
}

/// Everything a client is built from, already resolved (region, endpoint) by the Python layer.
#[derive(Clone, Debug)]
pub struct Settings {
    pub region: String,
    pub endpoint: Option<String>,
    pub user_agent_prefix: String,
    pub throughput_target_gbps: f64,
    pub part_size: usize,
    pub profile: Option<String>,
    pub unsigned: bool,
    pub force_path_style: bool,
    pub max_attempts: usize,
    pub credentials: Option<StaticCredentials>,
    pub requester_pays: bool,
    pub ca_bundle: Option<String>,
    pub upload_checksum: bool,
    pub read_window: usize,
    /// Longest wait for one step of an operation, in seconds; `None`: no limit of our own.
    pub stall_timeout: Option<f64>,
}

impl Settings {
    /// Check every value the CRT would misbehave on, naming the field and its allowed range.
    pub fn validate(&self) -> Result<()> {
        if self.region.trim().is_empty() {
            return Err(Error::invalid("region must be a non-empty string, e.g. 'us-east-1'"));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(Error::invalid(format!(
                "part_size={} is out of range: must be between 5 MiB ({MIN_PART_SIZE}) and 5 GiB ({MAX_PART_SIZE})",
                self.part_size
            )));
        }
        if !(self.throughput_target_gbps.is_finite()
            && self.throughput_target_gbps > 0.0
            && self.throughput_target_gbps <= MAX_THROUGHPUT_GBPS)
        {
            return Err(Error::invalid(format!(
                "throughput_target_gbps={} is out of range: must be greater than 0 and at most {MAX_THROUGHPUT_GBPS}",
                self.throughput_target_gbps
            )));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(Error::invalid(format!(
                "max_attempts={} is out of range: must be between 1 and {MAX_ATTEMPTS}",
                self.max_attempts
            )));
        }
        // The CRT client reads AWS_MAX_ATTEMPTS itself, and it overrides `max_attempts`.
        if let Ok(text) = std::env::var("AWS_MAX_ATTEMPTS") {
            if let Ok(attempts) = text.trim().parse::<usize>() {
                if attempts > MAX_ATTEMPTS {
                    return Err(Error::invalid(format!(
                        "AWS_MAX_ATTEMPTS={attempts} (from the environment) is out of range: must be at most {MAX_ATTEMPTS}"
                    )));
                }
            }
        }
        if self.read_window < MIB {
            return Err(Error::invalid(format!(
                "read_window={} is out of range: must be at least 1 MiB ({MIB})",
                self.read_window
            )));
        }
        if let Some(seconds) = self.stall_timeout {
            if !(seconds.is_finite() && seconds > 0.0) {
                return Err(Error::invalid(format!(
                    "stall_timeout_s={seconds} is out of range: must be a positive number of seconds, or None"
                )));
            }
        }
        // These go into HTTP headers: a control character would make every request fail late.
        let header_texts = [
            ("region", Some(self.region.as_str()), true),
            ("user_agent", Some(self.user_agent_prefix.as_str()), true),
            ("profile", self.profile.as_deref(), true),
            ("endpoint", self.endpoint.as_deref(), true),
            (
                "access_key_id",
                self.credentials.as_ref().map(|c| c.access_key_id.as_str()),
                false,
            ),
            (
                "secret_access_key",
                self.credentials.as_ref().map(|c| c.secret_access_key.as_str()),
                false,
            ),
            (
                "session_token",
                self.credentials.as_ref().and_then(|c| c.session_token.as_deref()),
                false,
            ),
        ];
        for (field, text, show) in header_texts {
            if let Some(text) = text {
                check_header_text(field, text, show)?;
            }
        }
        if let Some(endpoint) = &self.endpoint {
            let authority = endpoint
                .split("://")
                .nth(1)
                .unwrap_or(endpoint)
                .split('/')
                .next()
                .unwrap_or("");
            if authority.contains('@') {
                return Err(Error::invalid(
                    "endpoint must not contain a user name or password (give credentials as \
                     access_key_id/secret_access_key, a profile or the environment)",
                ));
            }
        }
        if self.unsigned && (self.credentials.is_some() || self.profile.is_some()) {
            return Err(Error::invalid(
                "unsigned=True cannot be combined with credentials or a profile",
            ));
        }
        Ok(())
    }

    fn user_agent(&self) -> String {
        let ours = format!("s3torch/{}", env!("CARGO_PKG_VERSION"));
        match self.user_agent_prefix.trim() {
            "" => ours,
            prefix => format!("{prefix} {ours}"),
        }
    }

    /// The stall limit as a duration (a huge number of seconds means no limit).
    fn stall_limit(&self) -> Option<Duration> {
        self.stall_timeout.and_then(|s| Duration::try_from_secs_f64(s).ok())
    }

    /// Build a CRT client that counts its requests into `metrics`. Slow (it starts the CRT's
    /// threads): call it with the GIL released.
    pub fn build(&self, metrics: &Arc<Metrics>) -> Result<S3CrtClient> {
        self.validate()?;
        let allocator = Allocator::default();
        let mut endpoint_config = EndpointConfig::new(&self.region);
        if let Some(endpoint) = &self.endpoint {
            let uri = Uri::new_from_str(&allocator, endpoint)
                .map_err(|e| Error::invalid(format!("endpoint {endpoint:?} is not a valid URL: {e}")))?;
            endpoint_config = endpoint_config.endpoint(uri);
        }
        if self.force_path_style {
            endpoint_config = endpoint_config.addressing_style(AddressingStyle::Path);
        }
        let auth = if self.unsigned {
            S3ClientAuthConfig::NoSigning
        } else if let Some(credentials) = &self.credentials {
            crate::logging::redact(&credentials.secret_access_key);
            if let Some(token) = &credentials.session_token {
                crate::logging::redact(token);
            }
            let provider = CredentialsProvider::new_static(
                &allocator,
                CredentialsProviderStaticOptions {
                    access_key_id: &credentials.access_key_id,
                    secret_access_key: &credentials.secret_access_key,
                    session_token: credentials.session_token.as_deref(),
                },
            )
            .map_err(|e| Error::invalid(format!("static credentials were rejected: {e}")))?;
            S3ClientAuthConfig::Provider(provider)
        } else if let Some(profile) = &self.profile {
            S3ClientAuthConfig::Profile(profile.clone())
        } else {
            S3ClientAuthConfig::Default
        };
        let max_attempts =
            NonZeroUsize::new(self.max_attempts).ok_or_else(|| Error::invalid("max_attempts must be at least 1"))?;
        let mut config = S3ClientConfig::new()
            .endpoint_config(endpoint_config)
            .auth_config(auth)
            .part_size(self.part_size)
            .throughput_target_gbps(self.throughput_target_gbps)
            .max_attempts(max_attempts)
            .user_agent(UserAgent::new(Some(self.user_agent())))
            .read_backpressure(true)
            .initial_read_window(self.read_window)
            .telemetry_callback(Arc::new(Telemetry(metrics.clone())));
        if self.requester_pays {
            config = config.request_payer("requester");
        }
        if let Some(ca_bundle) = &self.ca_bundle {
            config = config.tls_config(TlsConfig::new().with_trust_store_path(ca_bundle));
        }
        // The crate unwraps some CRT results while building; never let that reach Python.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| S3CrtClient::new(config)))
            .map_err(|_| Error::invalid("the CRT refused this client configuration (see the message above)"))?
            .map_err(|e| self.construction_error(e))
    }

    fn construction_error(&self, error: NewClientError) -> Error {
        let detail = describe_chain(&error);
        match error {
            NewClientError::ProviderFailure(_) => Error::request(
                ErrorKind::Credentials,
                "CreateClient",
                Target::default(),
                format!(
                    "credentials could not be loaded (profile {:?}): {detail}",
                    self.profile.as_deref().unwrap_or("default")
                ),
            ),
            NewClientError::TlsConfigValidationError(_) | NewClientError::TlsConfigurationError(_) => {
                Error::invalid(format!(
                    "ca_bundle {:?} cannot be used: {detail}",
                    self.ca_bundle.as_deref().unwrap_or_default()
                ))
            }
            _ => Error::invalid(format!("invalid client configuration: {detail}")),
        }
    }
}

/// Refuse text that cannot go into an HTTP header (control characters), naming the field and,
/// unless it is secret, the value.
pub fn check_header_text(field: &str, text: &str, show: bool) -> Result<()> {
    if text.chars().any(char::is_control) {
        let shown = if show { format!("={text:?}") } else { String::new() };
        return Err(Error::invalid(format!(
            "{field}{shown} contains a control character (such as a line break): it cannot be sent in a request"
        )));
    }
    Ok(())
}

pub fn check_bucket(bucket: &str) -> Result<()> {
    if bucket.is_empty() || bucket.contains('/') || bucket.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "invalid bucket name {bucket:?}: must be non-empty, without '/' or control characters"
        )));
    }
    Ok(())
}

pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("the object key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(format!(
            "object key is {} bytes long: S3 keys are at most {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(Error::invalid(format!("object key {key:?} contains a NUL character")));
    }
    Ok(())
}

/// What every request of one client shares: the CRT client, its counters and its stall limit.
#[derive(Clone)]
pub struct Handle {
    pub crt: S3CrtClient,
    pub metrics: Arc<Metrics>,
    pub stall_limit: Option<Duration>,
}

impl Handle {
    /// Wait (GIL released) for one step of `operation` on `target`: its result, or the error the
    /// caller sees, counted. A step that takes longer than the stall limit is canceled (the
    /// future is dropped) and fails with a timeout.
    pub fn wait<T, E: ServiceError>(
        &self,
        operation: &'static str,
        target: &Target,
        step: impl Future<Output = std::result::Result<T, ObjectClientError<E, S3RequestError>>>,
    ) -> Result<T> {
        self.settle(operation, target, wait::block_on(step, self.stall_limit))
    }

    /// The outcome of a step already waited for, as [`Handle::wait`] reports it.
    pub fn settle<T, E: ServiceError>(
        &self,
        operation: &'static str,
        target: &Target,
        outcome: std::result::Result<std::result::Result<T, ObjectClientError<E, S3RequestError>>, Stalled>,
    ) -> Result<T> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.failed(Error::from_client(operation, target.clone(), e))),
            Err(Stalled) => Err(self.failed(self.stalled(operation, target))),
        }
    }

    /// Count an error that is about to reach the caller.
    pub fn failed(&self, error: Error) -> Error {
        self.metrics.on_failure(&error);
        error
    }

    fn stalled(&self, operation: &'static str, target: &Target) -> Error {
        let seconds = self.stall_limit.map_or(0.0, |limit| limit.as_secs_f64());
        Error::request(
            ErrorKind::Timeout,
            operation,
            target.clone(),
            format!("no answer from the server for {seconds} s (stall_timeout_s), so the request was canceled"),
        )
    }
}

/// A connection to S3 or an S3-compatible store.
///
/// It belongs to the process that built it; in a forked child it builds a fresh CRT client on
/// first use and leaves the parent's untouched.
#[pyclass(name = "S3Client", module = "s3torch._core", frozen)]
pub struct PyS3Client {
    settings: Settings,
    client: Mutex<ForkGuard<S3CrtClient>>,
    metrics: Arc<Metrics>,
}

impl PyS3Client {
    /// This process's CRT client (built on first use after a fork), with the client's counters.
    pub fn handle(&self) -> Result<Handle> {
        let mut slot = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        let crt = match slot.get() {
            Some(client) => client.clone(),
            None => {
                let fresh = self.settings.build(&self.metrics)?;
                // Replacing the slot drops the parent's guard, which leaks the parent's client.
                *slot = ForkGuard::new(fresh.clone());
                fresh
            }
        };
        Ok(Handle {
            crt,
            metrics: self.metrics.clone(),
            stall_limit: self.settings.stall_limit(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

#[pymethods]
impl PyS3Client {
    #[new]
    #[pyo3(signature = (
        region,
        *,
        endpoint=None,
        user_agent_prefix=String::new(),
        throughput_target_gbps=10.0,
        part_size=8 * MIB,
        profile=None,
        unsigned=false,
        force_path_style=false,
        max_attempts=10,
        access_key_id=None,
        secret_access_key=None,
        session_token=None,
        requester_pays=false,
        ca_bundle=None,
        upload_checksum=true,
        read_window=64 * MIB,
        stall_timeout_s=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        region: String,
        endpoint: Option<String>,
        user_agent_prefix: String,
        throughput_target_gbps: f64,
        part_size: usize,
        profile: Option<String>,
        unsigned: bool,
        force_path_style: bool,
        max_attempts: usize,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        session_token: Option<String>,
        requester_pays: bool,
        ca_bundle: Option<String>,
        upload_checksum: bool,
        read_window: usize,
        stall_timeout_s: Option<f64>,
    ) -> PyResult<Self> {
        let credentials = match (access_key_id, secret_access_key, session_token) {
            (None, None, None) => None,
            (Some(access_key_id), Some(secret_access_key), session_token) => Some(StaticCredentials {
                access_key_id,
                secret_access_key,
                session_token,
            }),
            _ => {
                return Err(Error::invalid(
                    "access_key_id and secret_access_key must be given together (session_token only with both)",
                )
                .into())
            }
        };
        let settings = Settings {
            region,
            endpoint,
            user_agent_prefix,
            throughput_target_gbps,
            part_size,
            profile,
            unsigned,
            force_path_style,
            max_attempts,
            credentials,
            requester_pays,
            ca_bundle,
            upload_checksum,
            read_window,
            stall_timeout: stall_timeout_s,
        };
        let metrics = Arc::new(Metrics::default());
        let client = py.detach(|| settings.build(&metrics))?;
        Ok(Self {
            settings,
            client: Mutex::new(ForkGuard::new(client)),
            metrics,
        })
    }

    /// Start a GET of the whole object, or of bytes `start` (inclusive) to `end` (exclusive).
    /// `size_hint`, the object's size if known, lets a read up to the end reserve less memory.
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
        let range = match (start, end) {
            (None, None) => None,
            (start, end) => {
                let start = start.unwrap_or(0);
                let end = end.unwrap_or(u64::MAX);
                if end < start {
                    return Err(Error::invalid(format!("invalid range: end ({end}) is before start ({start})")).into());
                }
                Some(start..end)
            }
        };
        let handle = py.detach(|| self.handle())?;
        Ok(PyGetObjectStream::start(
            handle,
            bucket,
            key,
            range,
            self.settings.read_window as u64,
            size_hint,
        ))
    }

    /// Open an upload of one object. Data is sent as it is written; nothing is visible until close().
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
        let handle = py.detach(|| self.handle())?;
        Ok(PyPutObjectStream::new(
            handle,
            bucket,
            key,
            storage_class,
            self.settings.upload_checksum,
        ))
    }

    /// List objects under a prefix, a page (up to `max_keys`) at a time.
    #[pyo3(signature = (bucket, prefix=String::new(), delimiter=String::new(), max_keys=1000))]
    fn list_objects(
        &self,
        py: Python<'_>,
        bucket: &str,
        prefix: String,
        delimiter: String,
        max_keys: usize,
    ) -> PyResult<PyListObjectStream> {
        check_bucket(bucket)?;
        if !(1..=1000).contains(&max_keys) {
            return Err(Error::invalid(format!(
                "max_keys={max_keys} is out of range: must be between 1 and 1000"
            ))
            .into());
        }
        let handle = py.detach(|| self.handle())?;
        Ok(PyListObjectStream::start(handle, bucket, prefix, delimiter, max_keys))
    }

    /// Size, ETag, last-modified time and storage class of an object.
    fn head_object(&self, py: Python<'_>, bucket: &str, key: &str) -> PyResult<PyHeadObjectResult> {
        check_bucket(bucket)?;
        check_key(key)?;
        let head = py.detach(|| -> Result<_> {
            let handle = self.handle()?;
            let params = HeadObjectParams::new();
            handle.wait(
                "HeadObject",
                &Target::object(bucket, key),
                handle.crt.head_object(bucket, key, &params),
            )
        })?;
        Ok(head.into())
    }

    /// Delete an object. Deleting a key that does not exist succeeds, as in S3.
    fn delete_object(&self, py: Python<'_>, bucket: &str, key: &str) -> PyResult<()> {
        check_bucket(bucket)?;
        check_key(key)?;
        py.detach(|| -> Result<()> {
            let handle = self.handle()?;
            let target = Target::object(bucket, key);
            handle.wait("DeleteObject", &target, handle.crt.delete_object(bucket, key))?;
            Ok(())
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
        py.detach(|| -> Result<()> {
            let handle = self.handle()?;
            let params = CopyObjectParams::new();
            // A copy's one wait lasts as long as the store takes to copy the whole object, so the
            // stall limit does not apply; the CRT's own stall detection still does.
            let copied = futures::executor::block_on(handle.crt.copy_object(
                src_bucket,
                &encoded_src_key,
                dst_bucket,
                dst_key,
                &params,
            ));
            handle.settle("CopyObject", &Target::object(src_bucket, src_key), Ok(copied))?;
            Ok(())
        })?;
        Ok(())
    }

    #[getter]
    fn region(&self) -> &str {
        &self.settings.region
    }

    #[getter]
    fn endpoint(&self) -> Option<&str> {
        self.settings.endpoint.as_deref()
    }

    #[getter]
    fn part_size(&self) -> usize {
        self.settings.part_size
    }

    #[getter]
    fn throughput_target_gbps(&self) -> f64 {
        self.settings.throughput_target_gbps
    }

    #[getter]
    fn max_attempts(&self) -> usize {
        self.settings.max_attempts
    }

    #[getter]
    fn stall_timeout_s(&self) -> Option<f64> {
        self.settings.stall_timeout
    }

    /// This client's counters since it was made: requests (by operation), retries, errors (by
    /// HTTP status, or "network"), throttles, canceled requests, timeouts, bytes read and written.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = PyDict::new(py);
        for (name, value) in self.metrics.snapshot() {
            counters.set_item(name, value)?;
        }
        Ok(counters)
    }

    #[getter]
    fn user_agent(&self) -> String {
        self.settings.user_agent()
    }

    fn __repr__(&self) -> String {
        format!(
            "S3Client(region={:?}, endpoint={:?}, part_size={}, max_attempts={})",
            self.settings.region, self.settings.endpoint, self.settings.part_size, self.settings.max_attempts
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            region: "us-east-1".into(),
            endpoint: None,
            user_agent_prefix: String::new(),
            throughput_target_gbps: 10.0,
            part_size: 8 * MIB,
            profile: None,
            unsigned: false,
            force_path_style: false,
            max_attempts: 10,
            credentials: None,
            requester_pays: false,
            ca_bundle: None,
            upload_checksum: true,
            read_window: 64 * MIB,
            stall_timeout: Some(120.0),
        }
    }

    fn rejected(s: Settings, field: &str) {
        match s.validate() {
            Err(Error::InvalidArgument(message)) => assert!(message.contains(field), "{message}"),
            other => panic!("expected {field} to be rejected, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert!(settings().validate().is_ok());
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        rejected(
            Settings {
                part_size: MIN_PART_SIZE - 1,
                ..settings()
            },
            "part_size",
        );
        rejected(
            Settings {
                part_size: MAX_PART_SIZE + 1,
                ..settings()
            },
            "part_size",
        );
        rejected(
            Settings {
                max_attempts: 0,
                ..settings()
            },
            "max_attempts",
        );
        rejected(
            Settings {
                max_attempts: MAX_ATTEMPTS + 1,
                ..settings()
            },
            "max_attempts",
        );
        rejected(
            Settings {
                throughput_target_gbps: f64::NAN,
                ..settings()
            },
            "throughput_target_gbps",
        );
        rejected(
            Settings {
                throughput_target_gbps: 0.0,
                ..settings()
            },
            "throughput_target_gbps",
        );
        rejected(
            Settings {
                read_window: 1,
                ..settings()
            },
            "read_window",
        );
        rejected(
            Settings {
                region: " ".into(),
                ..settings()
            },
            "region",
        );
    }

    #[test]
    fn boundaries_are_accepted() {
        assert!(Settings {
            part_size: MIN_PART_SIZE,
            ..settings()
        }
        .validate()
        .is_ok());
        assert!(Settings {
            part_size: MAX_PART_SIZE,
            ..settings()
        }
        .validate()
        .is_ok());
        assert!(Settings {
            max_attempts: 1,
            ..settings()
        }
        .validate()
        .is_ok());
        assert!(Settings {
            max_attempts: MAX_ATTEMPTS,
            ..settings()
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn credentials_are_never_printed() {
        let s = Settings {
            credentials: Some(StaticCredentials {
                access_key_id: "AKIDSECRET".into(),
                secret_access_key: "VERYSECRET".into(),
                session_token: Some("TOKENSECRET".into()),
            }),
            ..settings()
        };
        let printed = format!("{s:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
    }

    #[test]
    fn user_agent_names_s3torch_after_the_caller_prefix() {
        assert!(settings().user_agent().starts_with("s3torch/"));
        let s = Settings {
            user_agent_prefix: "myjob/1".into(),
            ..settings()
        };
        assert!(s.user_agent().starts_with("myjob/1 s3torch/"));
    }

    #[test]
    fn keys_and_buckets_are_checked() {
        assert!(check_key("a b/ü%+").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(check_key("a\0b").is_err());
        assert!(check_bucket("").is_err());
        assert!(check_bucket("a/b").is_err());
        assert!(check_bucket("my-bucket").is_ok());
    }
}
