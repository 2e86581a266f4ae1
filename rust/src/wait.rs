//! Blocking on the crate's futures, with limits on how long one wait may take.
//!
//! Every blocking step of an operation (response headers, the next body part, a listing page, a
//! part of an upload accepted) is one wait here. A step that takes longer than the client's
//! `stall_timeout_s` means the store stopped answering; a step during which every connection
//! attempt has been refused for `connect_refused_timeout_s` means nothing listens at the
//! endpoint; a certificate that did not verify will not verify on the next attempt either. In
//! each case the caller drops the future, which cancels the request, and reports why.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How often a wait looks at the connection attempts while the CRT retries.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Why a wait ended before its future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// No progress for the stall limit.
    Stalled,
    /// Every connection attempt was refused for this long.
    Refused(Duration),
    /// A TLS handshake failed (the certificate did not verify, or no common protocol).
    Tls,
}

/// What the client's connection attempts have met lately, as the CRT reports each attempt
/// (on its own threads) and the waits read it. Plain atomics: a forked child may inherit them.
/// Times are [`now`] values; 0 means never.
#[derive(Debug, Default)]
pub struct Connections {
    /// When the current run of refused attempts began; 0 when the last attempt was not refused.
    refused_since: AtomicU64,
    /// When an attempt was last refused.
    last_refused: AtomicU64,
    /// When a TLS handshake last failed, unless an attempt got an answer since.
    tls_failed: AtomicU64,
}

/// Nanoseconds since the first call, plus one (so that 0 can mean "never").
pub(crate) fn now() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let elapsed = EPOCH.get_or_init(Instant::now).elapsed().as_nanos();
    u64::try_from(elapsed).unwrap_or(u64::MAX - 1) + 1
}

impl Connections {
    pub fn refused(&self) {
        let now = now();
        let _ = self.refused_since.compare_exchange(0, now, Relaxed, Relaxed);
        self.last_refused.store(now, Relaxed);
    }

    pub fn tls_failed(&self) {
        self.tls_failed.store(now(), Relaxed);
        self.refused_since.store(0, Relaxed);
    }

    /// Something answered: the endpoint is there and speaks TLS.
    pub fn answered(&self) {
        self.refused_since.store(0, Relaxed);
        self.tls_failed.store(0, Relaxed);
    }
}

/// The limits of one client's waits.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub stall: Option<Duration>,
    /// Give up once every attempt has been refused for this long; `None`: as `max_attempts` allows.
    pub refused: Option<Duration>,
    pub connections: Arc<Connections>,
}

impl Limits {
    /// Why a wait that began at `started` should end now, if it should. Only what happened
    /// during the wait counts: a new request gets its own attempts.
    pub(crate) fn interruption(&self, started: u64) -> Option<Interrupted> {
        let connections = &self.connections;
        if connections.tls_failed.load(Relaxed) >= started {
            return Some(Interrupted::Tls);
        }
        let budget = self.refused?;
        let since = connections.refused_since.load(Relaxed);
        if since == 0 || connections.last_refused.load(Relaxed) < started {
            return None;
        }
        let refused_for = Duration::from_nanos(now().saturating_sub(since));
        (refused_for >= budget).then_some(Interrupted::Refused(budget))
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Run `future` to completion on this thread, or give up as `limits` say.
pub fn block_on<F: Future>(future: F, limits: &Limits) -> Result<F::Output, Interrupted> {
    let mut future = pin!(future);
    // Without a time to stop at, the wait ends only with the future or an interruption.
    block_on_until(future.as_mut(), limits, None)?.ok_or(Interrupted::Stalled)
}

/// As [`block_on`], but give up at `until` as well: `Ok(None)` then, and `future` (polled by
/// reference) can be waited for again.
pub fn block_on_until<F: Future + Unpin>(
    mut future: F,
    limits: &Limits,
    until: Option<Instant>,
) -> Result<Option<F::Output>, Interrupted> {
    let deadline = limits.stall.and_then(|limit| Instant::now().checked_add(limit));
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let started = now();
    loop {
        if let Poll::Ready(output) = Pin::new(&mut future).poll(&mut context) {
            return Ok(Some(output));
        }
        if let Some(interruption) = limits.interruption(started) {
            return Err(interruption);
        }
        let now = Instant::now();
        if until.is_some_and(|until| now >= until) {
            return Ok(None);
        }
        let mut wake_at = now + WATCH_INTERVAL;
        if let Some(deadline) = deadline {
            if now >= deadline {
                return Err(Interrupted::Stalled);
            }
            wake_at = wake_at.min(deadline);
        }
        if let Some(until) = until {
            wake_at = wake_at.min(until);
        }
        // Wakes early on unpark (or spuriously); the loop polls again either way.
        thread::park_timeout(wake_at - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;

    fn stall(limit: Duration) -> Limits {
        Limits {
            stall: Some(limit),
            ..Limits::default()
        }
    }

    #[test]
    fn refusals_end_a_wait_only_once_they_have_lasted_the_budget() {
        let (_tx, rx) = oneshot::channel::<u32>();
        let limits = Limits {
            refused: Some(Duration::from_millis(200)),
            ..Limits::default()
        };
        let start = Instant::now();
        let connections = limits.connections.clone();
        thread::spawn(move || {
            for _ in 0..10 {
                connections.refused();
                thread::sleep(Duration::from_millis(50));
            }
        });
        assert_eq!(
            block_on(rx, &limits),
            Err(Interrupted::Refused(Duration::from_millis(200)))
        );
        assert!(start.elapsed() >= Duration::from_millis(150), "{:?}", start.elapsed());
    }

    #[test]
    fn an_answer_clears_the_refusals_and_a_tls_failure_ends_a_wait_at_once() {
        let limits = Limits {
            refused: Some(Duration::ZERO),
            ..Limits::default()
        };
        let started = now();
        limits.connections.refused();
        limits.connections.answered();
        assert_eq!(limits.interruption(started), None);
        limits.connections.tls_failed();
        assert_eq!(limits.interruption(started), Some(Interrupted::Tls));
        // A failure before a wait began does not end it: that request gets its own attempt.
        thread::sleep(Duration::from_millis(1));
        assert_eq!(limits.interruption(now()), None);
    }

    #[test]
    fn ready_futures_finish_without_a_limit_and_with_one() {
        assert_eq!(block_on(async { 3 }, &Limits::default()), Ok(3));
        assert_eq!(block_on(async { 4 }, &stall(Duration::from_millis(1))), Ok(4));
    }

    #[test]
    fn a_future_woken_from_another_thread_finishes() {
        let (tx, rx) = oneshot::channel::<u32>();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(5)
        });
        assert_eq!(block_on(rx, &stall(Duration::from_secs(10))), Ok(Ok(5)));
    }

    #[test]
    fn a_future_that_never_finishes_stalls_after_the_limit() {
        let (_tx, rx) = oneshot::channel::<u32>();
        let start = Instant::now();
        assert_eq!(
            block_on(rx, &stall(Duration::from_millis(50))),
            Err(Interrupted::Stalled)
        );
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[test]
    fn a_huge_limit_means_no_limit() {
        assert_eq!(block_on(async { 6 }, &stall(Duration::MAX)), Ok(6));
    }
}
