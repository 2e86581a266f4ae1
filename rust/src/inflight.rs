//! Requests that start now and are waited for later.
//!
//! The crate's operations are `async fn`s that create their CRT request on the first poll. Polling
//! once, right away, with a waker that does nothing puts the request on the wire; the CRT's own
//! threads then carry it. Whoever needs the result later blocks on the same future with a real
//! waker. This is how many GETs (or the next page of a listing) are in flight at once without an
//! executor of our own.

use crate::wait::{self, Interrupted, Limits};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pub enum InFlight<T> {
    Pending(BoxFuture<T>),
    Ready(T),
}

impl<T> InFlight<T> {
    /// Start `future` now: poll it once so that its request is sent.
    pub fn start(future: impl Future<Output = T> + Send + 'static) -> Self {
        let mut future: BoxFuture<T> = Box::pin(future);
        let waker = futures::task::noop_waker();
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(value) => Self::Ready(value),
            Poll::Pending => Self::Pending(future),
        }
    }

    /// Block the calling thread until the result is there, or until `limits` end the wait
    /// (which drops, and so cancels, the request). Call it with the GIL released.
    pub fn wait(self, limits: &Limits) -> Result<T, Interrupted> {
        match self {
            Self::Ready(value) => Ok(value),
            Self::Pending(future) => wait::block_on(future, limits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn start_runs_the_future_up_to_its_first_wait() {
        let started = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel::<u32>();
        let flag = started.clone();
        let inflight = InFlight::start(async move {
            flag.store(true, Ordering::SeqCst);
            rx.await.unwrap_or(0) + 1
        });
        assert!(started.load(Ordering::SeqCst), "the first poll must happen in start()");
        std::thread::spawn(move || tx.send(41));
        assert_eq!(inflight.wait(&Limits::default()), Ok(42));
    }

    #[test]
    fn immediately_ready_futures_are_kept() {
        assert_eq!(InFlight::start(async { 7 }).wait(&Limits::default()), Ok(7));
    }
}
