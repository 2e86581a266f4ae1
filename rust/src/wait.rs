//! Blocking on the crate's futures, with an optional limit on how long one wait may take.
//!
//! Every blocking step of an operation (response headers, the next body part, a listing page, a
//! part of an upload accepted) is one wait here. A step that takes longer than the client's
//! `stall_timeout` means the store stopped answering; the caller then drops the future, which
//! cancels the request, and reports a timeout.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// The wait ran out of time before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Run `future` to completion on this thread, or give up after `limit`.
pub fn block_on<F: Future>(future: F, limit: Option<Duration>) -> Result<F::Output, Stalled> {
    let Some(limit) = limit else {
        return Ok(futures::executor::block_on(future));
    };
    let deadline = Instant::now().checked_add(limit);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Ok(output);
        }
        match deadline {
            // A limit too large to represent: wait as long as it takes.
            None => thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Stalled);
                }
                // Wakes early on unpark (or spuriously); the loop polls again either way.
                thread::park_timeout(deadline - now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;

    #[test]
    fn ready_futures_finish_without_a_limit_and_with_one() {
        assert_eq!(block_on(async { 3 }, None), Ok(3));
        assert_eq!(block_on(async { 4 }, Some(Duration::from_millis(1))), Ok(4));
    }

    #[test]
    fn a_future_woken_from_another_thread_finishes() {
        let (tx, rx) = oneshot::channel::<u32>();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send(5)
        });
        assert_eq!(block_on(rx, Some(Duration::from_secs(10))), Ok(Ok(5)));
    }

    #[test]
    fn a_future_that_never_finishes_stalls_after_the_limit() {
        let (_tx, rx) = oneshot::channel::<u32>();
        let start = Instant::now();
        assert_eq!(block_on(rx, Some(Duration::from_millis(50))), Err(Stalled));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[test]
    fn a_huge_limit_means_no_limit() {
        assert_eq!(block_on(async { 6 }, Some(Duration::MAX)), Ok(6));
    }
}
