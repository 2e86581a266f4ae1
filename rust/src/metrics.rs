//! Counters of one client: requests by operation, bytes, retries, errors and throttles.
//!
//! The CRT reports every HTTP request it makes (retries included) to a telemetry callback on its
//! own threads. Counters are plain atomics in fixed slots, so recording never blocks and a child
//! process that inherits them mid-update after `fork()` cannot deadlock on them.

use crate::errors::{Error, ErrorKind};
use crate::wait::Connections;
use mountpoint_s3_client::OnTelemetry;
use mountpoint_s3_crt::s3::client::RequestMetrics;
use mountpoint_s3_crt_sys::aws_io_errors;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// S3 operations counted by name; anything else counts as "Other".
const OPERATIONS: [&str; 13] = [
    "GetObject",
    "HeadObject",
    "PutObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListObjectsV2",
    "DeleteObject",
    "CopyObject",
    "UploadPartCopy",
    "ListParts",
    "Other",
];

/// HTTP statuses counted on their own; others count as "4xx"/"5xx"/"other".
const STATUSES: [i32; 13] = [400, 401, 403, 404, 408, 409, 412, 416, 429, 500, 502, 503, 504];
/// Error slots after the listed statuses.
const OTHER_4XX: usize = STATUSES.len();
const OTHER_5XX: usize = STATUSES.len() + 1;
const OTHER_STATUS: usize = STATUSES.len() + 2;
/// No response at all: the connection failed, broke or timed out.
const NETWORK: usize = STATUSES.len() + 3;
const ERROR_SLOTS: usize = STATUSES.len() + 4;

#[derive(Debug, Default)]
pub struct Metrics {
    requests: [AtomicU64; OPERATIONS.len()],
    errors: [AtomicU64; ERROR_SLOTS],
    /// Failed attempts of a kind the CRT retries (5xx, throttling, no response).
    retryable_failures: AtomicU64,
    /// Operations that failed for good with such an error (their last attempt was not retried).
    retryable_giveups: AtomicU64,
    throttles: AtomicU64,
    canceled: AtomicU64,
    timeouts: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    /// What connection attempts met lately, for the waits to give up early (see `wait.rs`).
    pub connections: Arc<Connections>,
}

fn operation_slot(name: Option<&str>) -> usize {
    let other = OPERATIONS.len() - 1;
    name.and_then(|name| OPERATIONS[..other].iter().position(|op| *op == name))
        .unwrap_or(other)
}

fn error_slot(status: Option<i32>) -> usize {
    match status {
        None => NETWORK,
        Some(status) => match STATUSES.iter().position(|s| *s == status) {
            Some(slot) => slot,
            None if (400..500).contains(&status) => OTHER_4XX,
            None if (500..600).contains(&status) => OTHER_5XX,
            None => OTHER_STATUS,
        },
    }
}

fn error_name(slot: usize) -> String {
    match slot {
        OTHER_4XX => "4xx".into(),
        OTHER_5XX => "5xx".into(),
        OTHER_STATUS => "other".into(),
        NETWORK => "network".into(),
        slot => STATUSES[slot].to_string(),
    }
}

/// Whether the CRT retries an attempt that failed this way.
fn is_retryable(status: Option<i32>) -> bool {
    match status {
        None => true,
        Some(status) => status >= 500 || status == 429 || status == 408,
    }
}

impl Metrics {
    /// Record one HTTP request the CRT finished (or gave up on).
    pub fn on_request(&self, operation: Option<&str>, status: Option<i32>, failed: bool, canceled: bool) {
        self.requests[operation_slot(operation)].fetch_add(1, Relaxed);
        if canceled {
            self.canceled.fetch_add(1, Relaxed);
            return;
        }
        if !failed {
            return;
        }
        self.errors[error_slot(status)].fetch_add(1, Relaxed);
        if matches!(status, Some(503 | 429)) {
            self.throttles.fetch_add(1, Relaxed);
        }
        if is_retryable(status) {
            self.retryable_failures.fetch_add(1, Relaxed);
            tracing::warn!(
                target: "s3torch::retry",
                "S3 {} attempt failed ({}); retried while attempts remain, if the error is retryable",
                operation.unwrap_or("request"),
                status.map_or_else(|| "no response".to_owned(), |s| format!("HTTP {s}")),
            );
        }
    }

    /// Record an operation that failed for good, as the caller will see it.
    pub fn on_failure(&self, error: &Error) {
        match error.kind() {
            None | Some(ErrorKind::Canceled) => {}
            Some(ErrorKind::Timeout) => {
                self.timeouts.fetch_add(1, Relaxed);
            }
            // Its last attempt failed in a way counted as retryable, but was not retried.
            Some(_) if is_retryable(error.status()) => {
                self.retryable_giveups.fetch_add(1, Relaxed);
            }
            Some(_) => {}
        }
    }

    pub fn add_bytes_read(&self, n: usize) {
        self.bytes_read.fetch_add(n as u64, Relaxed);
    }

    pub fn add_bytes_written(&self, n: usize) {
        self.bytes_written.fetch_add(n as u64, Relaxed);
    }

    /// All counters as (name, value) pairs; per-operation and per-status entries only when non-zero.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let requests: Vec<u64> = self.requests.iter().map(|c| c.load(Relaxed)).collect();
        let errors: Vec<u64> = self.errors.iter().map(|c| c.load(Relaxed)).collect();
        let failures = self.retryable_failures.load(Relaxed);
        let giveups = self.retryable_giveups.load(Relaxed);
        out.push(("requests".to_owned(), requests.iter().sum()));
        for (name, count) in OPERATIONS.iter().zip(&requests) {
            if *count > 0 {
                out.push((format!("requests.{name}"), *count));
            }
        }
        out.push(("retries".to_owned(), failures.saturating_sub(giveups)));
        out.push(("errors".to_owned(), errors.iter().sum()));
        for (slot, count) in errors.iter().enumerate() {
            if *count > 0 {
                out.push((format!("errors.{}", error_name(slot)), *count));
            }
        }
        out.push(("throttles".to_owned(), self.throttles.load(Relaxed)));
        out.push(("canceled".to_owned(), self.canceled.load(Relaxed)));
        out.push(("timeouts".to_owned(), self.timeouts.load(Relaxed)));
        out.push(("bytes_read".to_owned(), self.bytes_read.load(Relaxed)));
        out.push(("bytes_written".to_owned(), self.bytes_written.load(Relaxed)));
        out
    }
}

/// The CRT's per-request telemetry, into a client's counters.
#[derive(Debug)]
pub struct Telemetry(pub std::sync::Arc<Metrics>);

impl OnTelemetry for Telemetry {
    fn on_telemetry(&self, request: &RequestMetrics) {
        let status = request.status_code();
        let canceled = request.is_canceled();
        let failed = match status {
            Some(status) => !(200..300).contains(&status),
            None => !canceled,
        };
        self.0.on_request(request.operation_name(), status, failed, canceled);
        let code = request.error().raw_error();
        let connections = &self.0.connections;
        if status.is_some() {
            connections.answered();
        } else if code == aws_io_errors::AWS_IO_SOCKET_CONNECTION_REFUSED as i32 {
            connections.refused();
        } else if code == aws_io_errors::AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE as i32 {
            connections.tls_failed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(metrics: &Metrics, name: &str) -> Option<u64> {
        metrics.snapshot().into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn requests_are_counted_by_operation() {
        let m = Metrics::default();
        m.on_request(Some("GetObject"), Some(200), false, false);
        m.on_request(Some("GetObject"), Some(206), false, false);
        m.on_request(Some("SomethingNew"), Some(200), false, false);
        assert_eq!(value(&m, "requests"), Some(3));
        assert_eq!(value(&m, "requests.GetObject"), Some(2));
        assert_eq!(value(&m, "requests.Other"), Some(1));
        assert_eq!(value(&m, "requests.PutObject"), None);
        assert_eq!(value(&m, "errors"), Some(0));
    }

    #[test]
    fn retried_failures_count_as_retries_until_an_operation_gives_up() {
        let m = Metrics::default();
        m.on_request(Some("GetObject"), Some(503), true, false);
        m.on_request(Some("GetObject"), None, true, false);
        m.on_request(Some("GetObject"), Some(200), false, false);
        assert_eq!(value(&m, "retries"), Some(2));
        assert_eq!(value(&m, "throttles"), Some(1));
        assert_eq!(value(&m, "errors.503"), Some(1));
        assert_eq!(value(&m, "errors.network"), Some(1));
        // A 404 is final: not a retry.
        m.on_request(Some("HeadObject"), Some(404), true, false);
        assert_eq!(value(&m, "retries"), Some(2));
        assert_eq!(value(&m, "errors"), Some(3));
        // An operation whose last attempt failed with a retryable error: that attempt was no retry.
        m.on_request(Some("GetObject"), Some(500), true, false);
        m.on_failure(&Error::request(
            ErrorKind::Network,
            "GetObject",
            Default::default(),
            "gone",
        ));
        assert_eq!(value(&m, "retries"), Some(2));
    }

    #[test]
    fn canceled_requests_are_not_errors() {
        let m = Metrics::default();
        m.on_request(Some("GetObject"), None, false, true);
        assert_eq!(value(&m, "canceled"), Some(1));
        assert_eq!(value(&m, "errors"), Some(0));
    }

    #[test]
    fn unusual_statuses_fall_into_classes() {
        assert_eq!(error_name(error_slot(Some(418))), "4xx");
        assert_eq!(error_name(error_slot(Some(599))), "5xx");
        assert_eq!(error_name(error_slot(Some(302))), "other");
        assert_eq!(error_name(error_slot(Some(503))), "503");
    }
}
