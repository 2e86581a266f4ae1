//! What every request of one client shares, and how it waits.
//!
//! The operation files (`get`, `put`, `list`) take a [`Handle`] from the client and know nothing
//! else about it, so the client depends on them and never the other way round.

use crate::errors::{Error, ErrorKind, Result, ServiceError, Target};
use crate::metrics::Metrics;
use crate::wait::{self, Interrupted, Limits};
use mountpoint_s3_client::error::ObjectClientError;
use mountpoint_s3_client::{S3CrtClient, S3RequestError};
use std::future::Future;
use std::sync::Arc;

/// The handle of another region, for the bucket named: how a request follows a bucket that S3
/// says lives elsewhere (given by the client, which caches each bucket's region).
pub type Redirect = Arc<dyn Fn(&str, &str) -> Result<Handle> + Send + Sync>;

/// The CRT client of this process, its counters and the limits of its waits.
#[derive(Clone)]
pub struct Handle {
    pub crt: S3CrtClient,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// The URL requests go to, for messages about connections.
    pub endpoint: Arc<str>,
    /// The region requests are signed for.
    pub region: Arc<str>,
    pub redirect: Option<Redirect>,
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
        self.settle(operation, target, wait::block_on(step, &self.limits))
    }

    /// The outcome of a step already waited for, as [`Handle::wait`] reports it.
    pub fn settle<T, E: ServiceError>(
        &self,
        operation: &'static str,
        target: &Target,
        outcome: std::result::Result<std::result::Result<T, ObjectClientError<E, S3RequestError>>, Interrupted>,
    ) -> Result<T> {
        let error = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => Error::from_client(operation, target.clone(), e),
            Err(Interrupted::Stalled) => self.stalled(operation, target),
            Err(Interrupted::Refused(budget)) => Error::request(
                ErrorKind::Network,
                operation,
                target.clone(),
                format!(
                    "every connection was refused for {} s (connect_refused_timeout_s): is the endpoint \
                     right, and is the store running?",
                    budget.as_secs_f64()
                ),
            )
            .connecting(),
            Err(Interrupted::Tls) => Error::from_crt_code(
                operation,
                target.clone(),
                mountpoint_s3_crt_sys::aws_io_errors::AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE as i32,
            ),
        };
        Err(self.failed(error.at_endpoint(&self.endpoint)))
    }

    /// The handle to try again with, when `error` says that `bucket` lives in another region.
    pub fn follow(&self, error: &Error, bucket: &str) -> Option<Handle> {
        let region = error.bucket_region().filter(|region| *region != &*self.region)?;
        self.redirect.as_ref()?(bucket, region).ok()
    }

    /// Count an error that is about to reach the caller.
    pub fn failed(&self, error: Error) -> Error {
        self.metrics.on_failure(&error);
        error
    }

    fn stalled(&self, operation: &'static str, target: &Target) -> Error {
        let seconds = self.limits.stall.map_or(0.0, |limit| limit.as_secs_f64());
        Error::request(
            ErrorKind::Timeout,
            operation,
            target.clone(),
            format!("no answer from the server for {seconds} s (stall_timeout_s), so the request was canceled"),
        )
    }
}
