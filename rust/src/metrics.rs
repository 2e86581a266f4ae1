//! Counters of one client: requests by operation, bytes, retries, errors, throttles, and
//! histograms of request latency.
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
use std::time::Duration;

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

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
    /// Per HTTP request that got a response: from sending its last byte to receiving its first.
    first_byte: Histogram,
    /// Per HTTP request that got a response: from start to end.
    total: Histogram,
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

/// Values below this are their own bucket; above, each power of two splits into this many.
const SUB_BUCKETS: u64 = 8;
/// log2(SUB_BUCKETS).
const SUB_BITS: u32 = 3;
/// Exact buckets for 0..8, then 8 per power of two from 2^3 to 2^63.
const BUCKETS: usize = (SUB_BUCKETS + (64 - SUB_BITS as u64) * SUB_BUCKETS) as usize;

/// A histogram of durations in microseconds, in log-linear buckets: each power of two is split
/// into 8 equal buckets, so a bucket's midpoint is within 1/16 (6.25%) of any value in it. Fixed
/// atomics, so the CRT's threads record without locking or allocating.
#[derive(Debug)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    /// The largest value exactly, since the top bucket's midpoint could exceed it.
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            max: AtomicU64::new(0),
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros(); // >= SUB_BITS
    let shift = exponent - SUB_BITS;
    let sub = (value >> shift) & (SUB_BUCKETS - 1);
    (SUB_BUCKETS + u64::from(shift) * SUB_BUCKETS + sub) as usize
}

/// The midpoint of a bucket (the value itself for the exact ones).
fn bucket_value(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return bucket;
    }
    let shift = (bucket - SUB_BUCKETS) / SUB_BUCKETS;
    let sub = (bucket - SUB_BUCKETS) % SUB_BUCKETS;
    let low = (SUB_BUCKETS + sub) << shift;
    low + ((1u64 << shift) >> 1)
}

impl Histogram {
    fn record(&self, micros: u64) {
        self.buckets[bucket_of(micros)].fetch_add(1, Relaxed);
        self.max.fetch_max(micros, Relaxed);
    }

    /// Count, then the p50, p95 and p99 (bucket midpoints, at most the max) and the max; `None`
    /// when nothing was recorded.
    fn summary(&self) -> Option<(u64, [u64; 4])> {
        let counts: Vec<u64> = self.buckets.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let max = self.max.load(Relaxed);
        let percentile = |per_mille: u64| {
            // The smallest value with at least this share of the requests at or below it.
            let rank = (total * per_mille).div_ceil(1000).max(1);
            let mut seen = 0;
            for (bucket, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return bucket_value(bucket).min(max);
                }
            }
            max
        };
        Some((total, [percentile(500), percentile(950), percentile(990), max]))
    }
}

impl Metrics {
    /// Record the latency of one HTTP request that got a response.
    pub fn on_latency(&self, first_byte: Option<Duration>, total: Duration) {
        if let Some(first_byte) = first_byte {
            self.first_byte.record(micros(first_byte));
        }
        self.total.record(micros(total));
    }

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
        for (name, histogram) in [("first_byte", &self.first_byte), ("total", &self.total)] {
            if let Some((count, values)) = histogram.summary() {
                out.push((format!("latency.{name}.count"), count));
                for (stat, value) in ["p50", "p95", "p99", "max"].iter().zip(values) {
                    out.push((format!("latency.{name}.{stat}_us"), value));
                }
            }
        }
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
        // Without a response there is no first byte, and the duration is that of a failure.
        if status.is_some() {
            self.0
                .on_latency(request.time_to_first_byte(), request.total_duration());
        }
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
    fn buckets_cover_every_value_in_order() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(7), 7);
        assert_eq!(bucket_of(8), 8);
        assert_eq!(bucket_of(15), 15);
        assert_eq!(bucket_of(16), 16);
        assert_eq!(bucket_of(17), 16);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        let mut last = 0;
        for value in (0..100_000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let bucket = bucket_of(value);
            assert!(bucket >= last && bucket < BUCKETS, "{value}");
            last = bucket;
            let mid = bucket_value(bucket) as f64;
            let error = (mid - value as f64).abs() / (value as f64).max(1.0);
            assert!(error <= 1.0 / 16.0, "{value} -> {mid}");
        }
    }

    #[test]
    fn percentiles_are_within_the_bucket_error() {
        let m = Metrics::default();
        // 1..=1000 ms in microseconds: p50 is 500 ms, p95 950 ms, p99 990 ms.
        for ms in 1..=1000u64 {
            m.on_latency(Some(Duration::from_micros(ms * 100)), Duration::from_millis(ms));
        }
        let close = |name: &str, expected: u64| {
            let got = value(&m, name).unwrap() as f64;
            let error = (got - expected as f64).abs() / expected as f64;
            assert!(error <= 1.0 / 16.0, "{name}: {got} vs {expected}");
        };
        close("latency.total.p50_us", 500_000);
        close("latency.total.p95_us", 950_000);
        close("latency.total.p99_us", 990_000);
        assert_eq!(value(&m, "latency.total.max_us"), Some(1_000_000));
        assert_eq!(value(&m, "latency.total.count"), Some(1000));
        close("latency.first_byte.p50_us", 50_000);
        assert_eq!(value(&m, "latency.first_byte.max_us"), Some(100_000));
    }

    #[test]
    fn percentiles_never_exceed_the_max_and_appear_only_once_recorded() {
        let m = Metrics::default();
        assert_eq!(value(&m, "latency.total.count"), None);
        m.on_latency(None, Duration::from_micros(1_000_001));
        assert_eq!(value(&m, "latency.first_byte.count"), None);
        for stat in ["p50", "p95", "p99", "max"] {
            assert_eq!(value(&m, &format!("latency.total.{stat}_us")), Some(1_000_001));
        }
    }

    #[test]
    fn unusual_statuses_fall_into_classes() {
        assert_eq!(error_name(error_slot(Some(418))), "4xx");
        assert_eq!(error_name(error_slot(Some(599))), "5xx");
        assert_eq!(error_name(error_slot(Some(302))), "other");
        assert_eq!(error_name(error_slot(Some(503))), "503");
    }
}
