//! What every request of one client shares, and how it waits.
//!
//! The operation files (`get`, `put`, `list`) take a [`Handle`] from the client and know nothing
//! else about it, so the client depends on them and never the other way round.

use crate::errors::{Error, ErrorKind, Result, ServiceError, Target};
use crate::metrics::Metrics;
use crate::wait::{self, Stalled};
use mountpoint_s3_client::error::ObjectClientError;
use mountpoint_s3_client::{S3CrtClient, S3RequestError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The CRT client of this process, its counters and its stall limit.
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
