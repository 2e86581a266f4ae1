//! Errors of the native core, and their one conversion into Python exceptions.
//!
//! Inside Rust an error is an [`Error`]: either a bad argument (a Python `ValueError`) or a failed
//! request, classified by [`ErrorKind`] from the crate's typed errors, HTTP status and S3 error
//! code. At the boundary it becomes an instance of the matching class in `s3torch._errors`, whose
//! attributes carry the operation, bucket, key, HTTP status, S3 error code and request id.

use mountpoint_s3_client::error::{
    CopyObjectError, DeleteObjectError, GetObjectError, HeadObjectError, ListObjectsError, ObjectClientError,
    PutObjectError,
};
use mountpoint_s3_client::error_metadata::{ClientErrorMetadata, ProvideErrorMetadata};
use mountpoint_s3_client::S3RequestError;
use mountpoint_s3_crt_sys::{aws_io_errors, aws_s3_errors};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::fmt;

/// What went wrong, in the user's terms. Each kind maps to one Python exception class.
///
/// Keep `Other` last and every kind in [`ErrorKind::ALL`]: the module exports their class names
/// as `ERROR_CLASSES`, and tests/test_errors.py checks each against `s3torch._errors`, so that a
/// renamed class fails a test instead of turning errors into `RuntimeError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NoSuchBucket,
    NoSuchKey,
    AccessDenied,
    Credentials,
    WrongRegion,
    Throttled,
    Network,
    Checksum,
    PreconditionFailed,
    InvalidRange,
    Canceled,
    Timeout,
    Other,
}

impl ErrorKind {
    pub const ALL: [Self; 13] = [
        Self::NoSuchBucket,
        Self::NoSuchKey,
        Self::AccessDenied,
        Self::Credentials,
        Self::WrongRegion,
        Self::Throttled,
        Self::Network,
        Self::Checksum,
        Self::PreconditionFailed,
        Self::InvalidRange,
        Self::Canceled,
        Self::Timeout,
        Self::Other,
    ];

    /// The name of the Python class in `s3torch._errors`.
    pub fn class_name(self) -> &'static str {
        match self {
            Self::NoSuchBucket => "S3NoSuchBucketError",
            Self::NoSuchKey => "S3NoSuchKeyError",
            Self::AccessDenied => "S3AccessDeniedError",
            Self::Credentials => "S3CredentialsError",
            Self::WrongRegion => "S3WrongRegionError",
            Self::Throttled => "S3ThrottledError",
            Self::Network => "S3NetworkError",
            Self::Checksum => "S3ChecksumError",
            Self::PreconditionFailed => "S3PreconditionFailedError",
            Self::InvalidRange => "S3InvalidRangeError",
            Self::Canceled => "S3CanceledError",
            Self::Timeout => "S3TimeoutError",
            Self::Other => "S3Exception",
        }
    }

    /// Classify a response by its HTTP status and S3 error code.
    pub fn from_response(status: Option<i32>, code: Option<&str>) -> Self {
        match (status, code) {
            (_, Some("NoSuchBucket")) => Self::NoSuchBucket,
            (_, Some("NoSuchKey")) => Self::NoSuchKey,
            (_, Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded")) => Self::Throttled,
            (_, Some("AuthorizationHeaderMalformed" | "PermanentRedirect" | "IllegalLocationConstraintException")) => {
                Self::WrongRegion
            }
            (_, Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken")) => {
                Self::Credentials
            }
            (_, Some("BadDigest" | "XAmzContentChecksumMismatch" | "InvalidDigest")) => Self::Checksum,
            (Some(403), _) => Self::AccessDenied,
            (Some(404), _) => Self::NoSuchKey,
            (Some(412), _) => Self::PreconditionFailed,
            (Some(416), _) => Self::InvalidRange,
            (Some(503), _) => Self::Throttled,
            (None, _) => Self::Network,
            _ => Self::Other,
        }
    }
}

/// The S3 object (or bucket) an operation was about.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub bucket: String,
    pub key: Option<String>,
}

impl Target {
    pub fn object(bucket: &str, key: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            key: Some(key.to_owned()),
        }
    }

    pub fn bucket(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            key: None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "s3://{}/{}", self.bucket, key),
            None => write!(f, "s3://{}", self.bucket),
        }
    }
}

/// A request that failed, with everything known about why.
#[derive(Debug, Clone)]
pub struct RequestFailure {
    pub kind: ErrorKind,
    pub operation: &'static str,
    pub target: Target,
    pub status: Option<i32>,
    pub code: Option<String>,
    pub detail: String,
    pub request_id: Option<String>,
    /// No connection could be made (refused, no such host, TLS): the message names the endpoint.
    pub connecting: bool,
    pub endpoint: Option<String>,
    /// The bucket's region, when S3 said it is another one (301 with `x-amz-bucket-region`).
    pub bucket_region: Option<String>,
}

impl fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed: ", self.operation, self.target)?;
        if self.connecting {
            let endpoint = self.endpoint.as_deref().unwrap_or("the endpoint");
            write!(f, "could not connect to {endpoint}: ")?;
        }
        f.write_str(&self.detail)?;
        let mut facts = Vec::new();
        if let Some(status) = self.status {
            facts.push(format!("HTTP {status}"));
        }
        if let Some(code) = &self.code {
            facts.push(code.clone());
        }
        if let Some(request_id) = &self.request_id {
            facts.push(format!("request id {request_id}"));
        }
        if !facts.is_empty() {
            write!(f, " ({})", facts.join(", "))?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad argument: becomes `ValueError`.
    #[error("{0}")]
    InvalidArgument(String),
    /// A request failed: becomes a subclass of `S3Exception`.
    #[error("{0}")]
    Request(Box<RequestFailure>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The kind of a failed request; `None` for a bad argument.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Self::InvalidArgument(_) => None,
            Self::Request(failure) => Some(failure.kind),
        }
    }

    /// The HTTP status of a failed request's response, if one arrived.
    pub fn status(&self) -> Option<i32> {
        match self {
            Self::InvalidArgument(_) => None,
            Self::Request(failure) => failure.status,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    pub fn request(kind: ErrorKind, operation: &'static str, target: Target, detail: impl Into<String>) -> Self {
        Self::Request(Box::new(RequestFailure {
            kind,
            operation,
            target,
            status: None,
            code: None,
            detail: detail.into(),
            request_id: None,
            connecting: false,
            endpoint: None,
            bucket_region: None,
        }))
    }

    /// Convert an error of the crate, for `operation` on `target`.
    pub fn from_client<E>(operation: &'static str, target: Target, error: ObjectClientError<E, S3RequestError>) -> Self
    where
        E: ServiceError,
    {
        match error {
            ObjectClientError::ServiceError(service) => {
                let meta = service.metadata();
                let status = meta.http_code;
                Self::Request(Box::new(RequestFailure {
                    kind: service.kind(),
                    operation,
                    target,
                    status,
                    code: meta.error_code.clone(),
                    detail: meta.error_message.clone().unwrap_or_else(|| service.to_string()),
                    request_id: None,
                    connecting: false,
                    endpoint: None,
                    bucket_region: None,
                }))
            }
            ObjectClientError::ClientError(client) => Self::from_request_error(operation, target, client),
        }
    }

    fn from_request_error(operation: &'static str, target: Target, error: S3RequestError) -> Self {
        let meta = error.meta();
        let (mut status, mut code) = (meta.http_code, meta.error_code.clone());
        let mut connecting = false;
        let mut bucket_region = None;
        let (kind, detail, request_id) = match &error {
            S3RequestError::ResponseError(result) => {
                let status = (result.response_status >= 100).then_some(result.response_status);
                let detail = match (&meta.error_message, status) {
                    (Some(message), _) => message.clone(),
                    (None, Some(_)) => "the server answered with an error and no message".to_owned(),
                    (None, None) => format!("no response from the server ({})", result.crt_error),
                };
                let request_id = result
                    .error_response_headers
                    .as_ref()
                    .and_then(|headers| headers.get_as_string("x-amz-request-id").ok())
                    .or_else(|| {
                        let body = result.error_response_body.as_ref()?;
                        xml_tag(&body.to_string_lossy(), "RequestId")
                    });
                (
                    ErrorKind::from_response(status, meta.error_code.as_deref()),
                    detail,
                    request_id,
                )
            }
            // A 400 with no details (a HEAD answer has no body) is, from S3, almost always a
            // request signed for another region than the bucket's.
            S3RequestError::Forbidden(_, _) if meta.http_code == Some(400) && meta.error_code.is_none() => (
                ErrorKind::WrongRegion,
                "HTTP 400 with no details: most likely the bucket is in another region than the \
                 client's (set region= or AWS_REGION)"
                    .to_owned(),
                None,
            ),
            S3RequestError::Forbidden(message, _) => (
                ErrorKind::from_response(meta.http_code.or(Some(403)), meta.error_code.as_deref()),
                if message.is_empty() || message == "<no message>" {
                    "access denied, with no details (a HEAD answer has no body): check the \
                     credentials, and that they may access this bucket and key"
                        .to_owned()
                } else {
                    message.clone()
                },
                None,
            ),
            S3RequestError::IncorrectRegion(region, _) => {
                bucket_region = Some(region.clone());
                (
                    ErrorKind::WrongRegion,
                    format!("the bucket is in region {region}, not in the client's region"),
                    None,
                )
            }
            S3RequestError::NoSigningCredentials => (
                ErrorKind::Credentials,
                "no credentials were found to sign the request (set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, a profile, or use unsigned=True for public buckets)"
                    .to_owned(),
                None,
            ),
            S3RequestError::Throttled => (ErrorKind::Throttled, "the request was throttled".to_owned(), None),
            S3RequestError::RequestCanceled => (ErrorKind::Canceled, "the request was canceled".to_owned(), None),
            S3RequestError::CrtError(crt) => {
                if let Some(answer) = retries_exhausted(crt.raw_error()) {
                    status = status.or(Some(answer.status));
                    code = code.or_else(|| Some(answer.code.to_owned()));
                    (answer.kind, answer.detail.to_owned(), None)
                } else if let Some(what) = connect_failure(crt.raw_error()) {
                    connecting = true;
                    (ErrorKind::Network, format!("{what} ({crt})"), None)
                } else {
                    (
                        ErrorKind::Network,
                        format!("no usable response from the server ({crt})"),
                        None,
                    )
                }
            }
            other => (ErrorKind::Other, describe_chain(other), None),
        };
        Self::Request(Box::new(RequestFailure {
            kind,
            operation,
            target,
            status,
            code,
            detail,
            request_id,
            connecting,
            endpoint: None,
            bucket_region,
        }))
    }

    /// The bucket's own region, when a request failed because it went to another one.
    pub fn bucket_region(&self) -> Option<&str> {
        match self {
            Self::Request(failure) if failure.kind == ErrorKind::WrongRegion => failure.bucket_region.as_deref(),
            _ => None,
        }
    }

    /// Mark a failed request as one that could not connect.
    pub fn connecting(mut self) -> Self {
        if let Self::Request(failure) = &mut self {
            failure.connecting = true;
        }
        self
    }

    /// Say which endpoint a failed request went to (shown when it could not connect).
    pub fn at_endpoint(mut self, endpoint: &str) -> Self {
        if let Self::Request(failure) = &mut self {
            failure.endpoint = Some(endpoint.to_owned());
        }
        self
    }

    /// A request that failed with the CRT error `code` and no response.
    pub fn from_crt_code(operation: &'static str, target: Target, code: i32) -> Self {
        let crt = mountpoint_s3_crt::common::error::Error::from(code);
        Self::from_request_error(operation, target, S3RequestError::CrtError(crt))
    }
}

/// What the server kept answering, when the CRT gave up retrying it.
struct ExhaustedAnswer {
    status: i32,
    code: &'static str,
    kind: ErrorKind,
    detail: &'static str,
}

/// CRT errors for a 500 or a 503 that the CRT gave up retrying: it reports them as errors of its
/// own, with the response dropped, so this says what the server answered.
fn retries_exhausted(code: i32) -> Option<ExhaustedAnswer> {
    let matches = |e: aws_s3_errors| code == e as i32;
    if matches(aws_s3_errors::AWS_ERROR_S3_INTERNAL_ERROR) {
        Some(ExhaustedAnswer {
            status: 500,
            code: "InternalError",
            kind: ErrorKind::Other,
            detail: "the server kept answering 500 Internal Error, on every attempt",
        })
    } else if matches(aws_s3_errors::AWS_ERROR_S3_SLOW_DOWN) {
        Some(ExhaustedAnswer {
            status: 503,
            code: "SlowDown",
            kind: ErrorKind::Throttled,
            detail: "the server kept asking to slow down (503), on every attempt",
        })
    } else {
        None
    }
}

/// CRT errors that mean no connection could be made, with what to tell the user.
fn connect_failure(code: i32) -> Option<&'static str> {
    use aws_io_errors::*;
    let matches = |e: aws_io_errors| code == e as i32;
    if matches(AWS_IO_SOCKET_CONNECTION_REFUSED) {
        Some("the connection was refused (nothing listens there)")
    } else if matches(AWS_IO_DNS_INVALID_NAME)
        || matches(AWS_IO_DNS_QUERY_FAILED)
        || matches(AWS_IO_DNS_NO_ADDRESS_FOR_HOST)
    {
        Some("the host name could not be resolved (DNS)")
    } else if matches(AWS_IO_SOCKET_NO_ROUTE_TO_HOST) || matches(AWS_IO_SOCKET_NETWORK_DOWN) {
        Some("there is no route to the host")
    } else if matches(AWS_IO_SOCKET_TIMEOUT) {
        Some("connecting timed out")
    } else if matches(AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE) {
        Some(
            "TLS negotiation failed: the server's certificate did not verify against the trusted CAs \
             (the system's, or ca_bundle / AWS_CA_BUNDLE), or it does not name this host; \
             it was not retried",
        )
    } else {
        None
    }
}

/// An error and the errors it wraps, in one line.
pub fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The text of the first `<tag>...</tag>` in an S3 error document.
fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find("</")? + start;
    Some(body[start..end].to_owned()).filter(|text| !text.is_empty())
}

/// A service error of one operation of the crate, classified.
pub trait ServiceError: std::error::Error {
    fn kind(&self) -> ErrorKind;

    /// HTTP status, error code and message, where the crate kept them.
    fn metadata(&self) -> ClientErrorMetadata {
        ClientErrorMetadata::default()
    }
}

impl ServiceError for GetObjectError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NoSuchBucket(_) => ErrorKind::NoSuchBucket,
            Self::NoSuchKey(_) => ErrorKind::NoSuchKey,
            Self::PreconditionFailed(_) => ErrorKind::PreconditionFailed,
            _ => ErrorKind::Other,
        }
    }

    fn metadata(&self) -> ClientErrorMetadata {
        self.meta()
    }
}

/// `impl ServiceError` for crate errors whose kind is all there is to say: each listed pattern
/// maps to its [`ErrorKind`], anything else is [`ErrorKind::Other`].
macro_rules! service_error_kinds {
    ($($error:ty { $($variant:pat => $kind:ident),+ $(,)? })+) => {
        $(
            impl ServiceError for $error {
                fn kind(&self) -> ErrorKind {
                    match self {
                        $($variant => ErrorKind::$kind,)+
                        _ => ErrorKind::Other,
                    }
                }
            }
        )+
    };
}

service_error_kinds! {
    ListObjectsError { Self::NoSuchBucket => NoSuchBucket }
    HeadObjectError { Self::NotFound => NoSuchKey }
    DeleteObjectError { Self::NoSuchBucket => NoSuchBucket }
    CopyObjectError { Self::NotFound => NoSuchKey }
    PutObjectError {
        Self::NoSuchBucket => NoSuchBucket,
        Self::NoSuchKey => NoSuchKey,
        Self::BadChecksum | Self::InvalidChecksumType => Checksum,
        Self::PreconditionFailed => PreconditionFailed,
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(message) => PyValueError::new_err(message),
            Error::Request(failure) => Python::attach(|py| {
                make_exception(py, &failure).unwrap_or_else(|lookup_error| {
                    PyRuntimeError::new_err(format!("{failure} (and s3torch._errors failed: {lookup_error})"))
                })
            }),
        }
    }
}

fn make_exception(py: Python<'_>, failure: &RequestFailure) -> PyResult<PyErr> {
    let class = py.import("s3torch._errors")?.getattr(failure.kind.class_name())?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("operation", failure.operation)?;
    kwargs.set_item("bucket", &failure.target.bucket)?;
    kwargs.set_item("key", &failure.target.key)?;
    kwargs.set_item("status", failure.status)?;
    kwargs.set_item("code", &failure.code)?;
    kwargs.set_item("request_id", &failure.request_id)?;
    let instance = class.call((failure.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(instance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_in_all() {
        assert_eq!(ErrorKind::ALL.len(), ErrorKind::Other as usize + 1);
        for (index, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index, "{kind:?}");
        }
    }

    #[test]
    fn classification_prefers_the_s3_error_code() {
        assert_eq!(
            ErrorKind::from_response(Some(404), Some("NoSuchBucket")),
            ErrorKind::NoSuchBucket
        );
        assert_eq!(ErrorKind::from_response(Some(404), None), ErrorKind::NoSuchKey);
        assert_eq!(
            ErrorKind::from_response(Some(403), Some("SignatureDoesNotMatch")),
            ErrorKind::Credentials
        );
        assert_eq!(
            ErrorKind::from_response(Some(403), Some("AccessDenied")),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            ErrorKind::from_response(Some(503), Some("SlowDown")),
            ErrorKind::Throttled
        );
        assert_eq!(ErrorKind::from_response(Some(500), None), ErrorKind::Other);
        assert_eq!(ErrorKind::from_response(None, None), ErrorKind::Network);
    }

    #[test]
    fn message_names_operation_target_status_code_and_request_id() {
        let failure = RequestFailure {
            kind: ErrorKind::NoSuchKey,
            operation: "GetObject",
            target: Target::object("b", "k/1"),
            status: Some(404),
            code: Some("NoSuchKey".into()),
            detail: "The specified key does not exist.".into(),
            request_id: Some("REQ1".into()),
            connecting: false,
            endpoint: None,
            bucket_region: None,
        };
        assert_eq!(
            failure.to_string(),
            "GetObject s3://b/k/1 failed: The specified key does not exist. (HTTP 404, NoSuchKey, request id REQ1)"
        );
    }

    #[test]
    fn a_refused_connection_names_the_endpoint() {
        let code = aws_io_errors::AWS_IO_SOCKET_CONNECTION_REFUSED as i32;
        let error =
            Error::from_crt_code("HeadObject", Target::object("b", "k"), code).at_endpoint("http://127.0.0.1:1");
        assert_eq!(error.kind(), Some(ErrorKind::Network));
        let message = error.to_string();
        assert!(
            message.starts_with(
                "HeadObject s3://b/k failed: could not connect to http://127.0.0.1:1: the connection was refused"
            ),
            "{message}"
        );
    }

    #[test]
    fn request_id_is_read_from_the_error_document() {
        let body = "<Error><Code>NoSuchKey</Code><RequestId>ABC123</RequestId></Error>";
        assert_eq!(xml_tag(body, "RequestId").as_deref(), Some("ABC123"));
        assert_eq!(xml_tag(body, "HostId"), None);
        assert_eq!(xml_tag("<RequestId></RequestId>", "RequestId"), None);
    }
}
