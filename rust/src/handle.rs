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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The handle of another region, for the bucket named: how a request follows a bucket that S3
/// says lives elsewhere (given by the client, which caches each bucket's region).
pub type Redirect = Arc<dyn Fn(&str, &str) -> Result<Handle> + Send + Sync>;

/// What the GET streams of one CRT client may fetch ahead of their readers, all together.
///
/// Every part a GET receives waits in the CRT's buffer pool until it is read, and the pool is
/// shared by all the client's requests. When the parts asked for outgrow it, the CRT queues their
/// buffers in an order of its own, and readers can wait for parts that find no room behind parts
/// that wait for readers: two streams reading on a 256 MiB pool waited so until the stall
/// timeout. So a part fetched ahead takes a [`Lease`] on this budget, three quarters of what the
/// pool hands out, and is not sent when there is none; the part a reader waits for goes out
/// without one.
pub struct Prefetch {
    left: AtomicU64,
}

impl Prefetch {
    /// The budget for a pool that hands out `pool` bytes (no limit when unknown).
    pub fn for_pool(pool: Option<u64>) -> Arc<Self> {
        let left = pool.map_or(u64::MAX, |pool| pool / 4 * 3);
        Arc::new(Self {
            left: AtomicU64::new(left),
        })
    }

    /// A lease on `bytes` of the budget, or `None` when less is left.
    pub fn lease(self: &Arc<Self>, bytes: u64) -> Option<Lease> {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(bytes))
            .ok()?;
        Some(Lease {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes of the budget not leased now.
    pub fn left(&self) -> u64 {
        self.left.load(Ordering::Acquire)
    }
}

/// Bytes of a [`Prefetch`] budget, given back when dropped.
pub struct Lease {
    budget: Arc<Prefetch>,
    bytes: u64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.budget.left.fetch_add(self.bytes, Ordering::AcqRel);
    }
}

/// A CRT client and the prefetch budget of its buffer pool.
#[derive(Clone)]
pub struct Pooled {
    pub crt: S3CrtClient,
    pub prefetch: Arc<Prefetch>,
}

impl Pooled {
    pub fn new(crt: S3CrtClient) -> Self {
        let prefetch = Prefetch::for_pool(crt.buffer_pool_limit());
        Self { crt, prefetch }
    }
}

/// The CRT client of this process, its counters and the limits of its waits.
#[derive(Clone)]
pub struct Handle {
    pub crt: S3CrtClient,
    /// What GET streams of `crt` may fetch ahead of their readers (see [`Prefetch`]).
    pub prefetch: Arc<Prefetch>,
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

#[cfg(test)]
mod tests {
    use super::Prefetch;

    #[test]
    fn prefetch_leases_stop_at_the_budget_and_come_back_when_dropped() {
        let budget = Prefetch::for_pool(Some(400));
        assert_eq!(budget.left(), 300, "three quarters of the pool");
        let first = budget.lease(200).expect("within the budget");
        assert!(budget.lease(101).is_none(), "beyond what is left");
        let second = budget.lease(100).expect("exactly what is left");
        assert_eq!(budget.left(), 0);
        drop(first);
        assert_eq!(budget.left(), 200);
        drop(second);
        assert_eq!(budget.left(), 300);
        let unlimited = Prefetch::for_pool(None);
        assert!(unlimited.lease(u64::MAX / 2).is_some());
    }
}
