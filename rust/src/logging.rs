//! Native log records (the crate's `tracing` events, the CRT's own log) into Python's `logging`.
//!
//! Records are produced on the CRT's threads, which must never take the GIL: they go into a
//! bounded queue instead, and a Python thread drains it (`s3torch._logging`). Off by default: with
//! the level at "off" no event is even formatted. Producers only ever `try_lock` the queue, so a
//! lock left held by a thread that a `fork()` did not copy can lose records but never hang.

use mountpoint_s3_crt::common::allocator::Allocator;
use mountpoint_s3_crt::common::logging::{Level as CrtLevel, Logger, LoggerImpl, Subject};
use pyo3::prelude::*;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// Records kept for the Python side; beyond this, new ones are dropped (and counted).
const CAPACITY: usize = 100_000;
/// How often a producer retries a busy queue before dropping its record.
const PUSH_TRIES: usize = 4096;

/// Severity, ordered like Python's levels. 0 means off.
const OFF: u8 = 0;
const ERROR: u8 = 1;
const WARN: u8 = 2;
const INFO: u8 = 3;
const DEBUG: u8 = 4;
const TRACE: u8 = 5;

/// One record: (Python level number, source, message, seconds since the epoch).
type LogRecord = (u8, String, String, f64);

struct Queue {
    records: Mutex<VecDeque<LogRecord>>,
    ready: Condvar,
    dropped: AtomicU64,
}

fn queue() -> &'static Queue {
    static QUEUE: OnceLock<Queue> = OnceLock::new();
    QUEUE.get_or_init(|| Queue {
        records: Mutex::new(VecDeque::new()),
        ready: Condvar::new(),
        dropped: AtomicU64::new(0),
    })
}

/// The most verbose level forwarded from the crate (`tracing`) and from the CRT.
static LEVEL: AtomicU8 = AtomicU8::new(OFF);
static CRT_LEVEL: AtomicU8 = AtomicU8::new(OFF);

fn severity(level: Level) -> u8 {
    match level {
        Level::ERROR => ERROR,
        Level::WARN => WARN,
        Level::INFO => INFO,
        Level::DEBUG => DEBUG,
        Level::TRACE => TRACE,
    }
}

fn python_level(severity: u8) -> u8 {
    match severity {
        ERROR => 40,
        WARN => 30,
        INFO => 20,
        DEBUG => 10,
        _ => 5,
    }
}

/// Our severity for a Python level number (anything above CRITICAL turns forwarding off).
fn from_python_level(level: i64) -> u8 {
    match level {
        i64::MIN..=5 => TRACE,
        6..=10 => DEBUG,
        11..=20 => INFO,
        21..=30 => WARN,
        31..=50 => ERROR,
        _ => OFF,
    }
}

/// Secrets (static secret keys, session tokens) never to forward: the CRT's own log shows some.
fn secrets() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Secrets shorter than this are not looked for: replacing every "b" or "key" in the log would
/// garble it, and real keys and tokens are far longer (an AWS secret key has 40 characters).
const MIN_REDACTED: usize = 8;

/// Never forward `secret` in a log record; it is replaced by `***`.
pub fn redact(secret: &str) {
    if secret.len() < MIN_REDACTED {
        return;
    }
    let mut known = secrets().write().unwrap_or_else(PoisonError::into_inner);
    if !known.iter().any(|s| s == secret) {
        known.push(secret.to_owned());
    }
}

/// `message` with every known secret replaced, or `None` when the list cannot be read (held by a
/// thread a fork did not copy): then the record is dropped rather than risk showing a secret.
fn redacted(mut message: String) -> Option<String> {
    let known = secrets().try_read().ok()?;
    for secret in known.iter() {
        if message.contains(secret.as_str()) {
            message = message.replace(secret.as_str(), "***");
        }
    }
    Some(message)
}

fn push(severity: u8, source: String, message: String) {
    let Some(message) = redacted(message) else {
        queue().dropped.fetch_add(1, Relaxed);
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let q = queue();
    for _ in 0..PUSH_TRIES {
        if let Ok(mut records) = q.records.try_lock() {
            if records.len() >= CAPACITY {
                break;
            }
            records.push_back((python_level(severity), source, message, now));
            drop(records);
            q.ready.notify_one();
            return;
        }
        std::hint::spin_loop();
    }
    q.dropped.fetch_add(1, Relaxed);
}

/// The message of an event, then its other fields as `name=value`.
#[derive(Default)]
struct Message {
    text: String,
    fields: String,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

/// A `tracing` subscriber that forwards events (not spans) at or above [`LEVEL`].
struct Forwarder;

impl Subscriber for Forwarder {
    fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
        // The level can change at any time, so every event asks `enabled`.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && severity(*metadata.level()) <= LEVEL.load(Relaxed)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match LEVEL.load(Relaxed) {
            OFF => LevelFilter::OFF,
            ERROR => LevelFilter::ERROR,
            WARN => LevelFilter::WARN,
            INFO => LevelFilter::INFO,
            DEBUG => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message::default();
        event.record(&mut message);
        message.text.push_str(&message.fields);
        let metadata = event.metadata();
        push(severity(*metadata.level()), metadata.target().to_owned(), message.text);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// The CRT's log, into the same queue, at or above [`CRT_LEVEL`].
struct CrtForwarder;

fn crt_severity(level: CrtLevel) -> u8 {
    match level {
        CrtLevel::None => OFF,
        CrtLevel::Fatal | CrtLevel::Error => ERROR,
        CrtLevel::Warn => WARN,
        CrtLevel::Info => INFO,
        CrtLevel::Debug => DEBUG,
        CrtLevel::Trace => TRACE,
    }
}

impl LoggerImpl for CrtForwarder {
    fn log(&self, level: CrtLevel, subject: Subject, message: &str) {
        let severity = crt_severity(level);
        if severity != OFF && severity <= CRT_LEVEL.load(Relaxed) {
            push(
                severity,
                format!("awscrt::{}", subject.name()),
                message.trim_end().to_owned(),
            );
        }
    }

    fn get_log_level(&self, _subject: Subject) -> CrtLevel {
        match CRT_LEVEL.load(Relaxed) {
            OFF => CrtLevel::None,
            ERROR => CrtLevel::Error,
            WARN => CrtLevel::Warn,
            INFO => CrtLevel::Info,
            DEBUG => CrtLevel::Debug,
            _ => CrtLevel::Trace,
        }
    }
}

/// Forward the crate's events at `level` (a Python level number) and above; above 50 turns it
/// off.
/// Returns False when another `tracing` subscriber already owns this process.
#[pyfunction]
pub fn _set_log_level(level: i64) -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    LEVEL.store(from_python_level(level), Relaxed);
    let installed = *INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(Forwarder).is_ok());
    tracing::callsite::rebuild_interest_cache();
    installed
}

/// Forward the CRT's own log at `level` (a Python level number) and above; above 50 turns it
/// off.
/// Returns False when another CRT logger already owns this process.
#[pyfunction]
pub fn _set_crt_log_level(level: i64) -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    CRT_LEVEL.store(from_python_level(level), Relaxed);
    *INSTALLED.get_or_init(|| Logger::new(&Allocator::default(), CrtForwarder).try_init().is_ok())
}

/// Take up to `max_records` queued records, waiting up to `timeout` seconds for the first.
/// Also returns how many records were dropped (queue full or busy) since the last call.
#[pyfunction]
pub fn _drain_logs(py: Python<'_>, max_records: usize, timeout: f64) -> (Vec<LogRecord>, u64) {
    let wait = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::ZERO);
    py.detach(|| {
        let q = queue();
        let mut records = q.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.is_empty() && !wait.is_zero() {
            records = q
                .ready
                .wait_timeout(records, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let n = records.len().min(max_records);
        let taken: Vec<LogRecord> = records.drain(..n).collect();
        drop(records);
        (taken, q.dropped.swap(0, Relaxed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        redact("s3cr3t-value");
        assert_eq!(
            redacted("token=s3cr3t-value; again s3cr3t-value".to_owned()).as_deref(),
            Some("token=***; again ***")
        );
        assert_eq!(redacted("nothing here".to_owned()).as_deref(), Some("nothing here"));
        redact("b");
        assert_eq!(redacted("HeadObject".to_owned()).as_deref(), Some("HeadObject"));
    }

    #[test]
    fn python_levels_map_both_ways() {
        assert_eq!(from_python_level(10), DEBUG);
        assert_eq!(from_python_level(20), INFO);
        assert_eq!(from_python_level(30), WARN);
        assert_eq!(from_python_level(40), ERROR);
        assert_eq!(from_python_level(5), TRACE);
        assert_eq!(from_python_level(60), OFF);
        assert_eq!(python_level(WARN), 30);
        assert_eq!(python_level(TRACE), 5);
    }
}
