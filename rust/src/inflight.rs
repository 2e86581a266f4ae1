//! Requests that start now and are waited for later.
//!
//! The crate's operations are `async fn`s that create their CRT request on the first poll. Polling
//! once, right away, with a waker that does nothing puts the request on the wire; the CRT's own
//! threads then carry it. Whoever needs the result later blocks on the same future with a real
//! waker. This is how many GETs (or the next page of a listing) are in flight at once without an
//! executor of our own.

use crate::wait::{self, Interrupted, Limits};
use futures::future::{select, Either};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What [`InFlight::race`] returns: the first result, with the other request still in flight.
pub type Raced<T, U> = Either<(T, InFlight<U>), (U, InFlight<T>)>;

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

    /// As [`InFlight::wait`], but only until `until`: then the request, still in flight, comes
    /// back as `Err`.
    pub fn wait_until(self, limits: &Limits, until: Instant) -> Result<Result<T, Self>, Interrupted> {
        match self {
            Self::Ready(value) => Ok(Ok(value)),
            Self::Pending(mut future) => match wait::block_on_until(future.as_mut(), limits, Some(until))? {
                Some(value) => Ok(Ok(value)),
                None => Ok(Err(Self::Pending(future))),
            },
        }
    }
}

impl<T: Send + 'static> InFlight<T> {
    /// Block until this request or `other` has finished, as [`InFlight::wait`] does: the first
    /// result, and the other request, still in flight.
    pub fn race<U: Send + 'static>(self, other: InFlight<U>, limits: &Limits) -> Result<Raced<T, U>, Interrupted> {
        Ok(
            match wait::block_on(select(self.into_future(), other.into_future()), limits)? {
                Either::Left((value, other)) => Either::Left((value, InFlight::Pending(other))),
                Either::Right((value, this)) => Either::Right((value, Self::Pending(this))),
            },
        )
    }

    fn into_future(self) -> BoxFuture<T> {
        match self {
            Self::Ready(value) => Box::pin(futures::future::ready(value)),
            Self::Pending(future) => future,
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
    fn wait_until_gives_back_a_request_not_done_in_time_and_race_returns_the_first_done() {
        let (tx, rx) = oneshot::channel::<u32>();
        let slow = InFlight::start(async move { rx.await.unwrap_or(0) });
        let until = Instant::now() + std::time::Duration::from_millis(20);
        let Ok(Err(slow)) = slow.wait_until(&Limits::default(), until) else {
            panic!("the request was not done, and must come back");
        };
        assert!(Instant::now() >= until);
        let (tx2, rx2) = oneshot::channel::<&str>();
        let other = InFlight::start(async move { rx2.await.unwrap_or("") });
        std::thread::spawn(move || tx2.send("other"));
        let Ok(Either::Right(("other", slow))) = slow.race(other, &Limits::default()) else {
            panic!("the other request finished first");
        };
        std::thread::spawn(move || tx.send(5));
        let until = Instant::now() + std::time::Duration::from_secs(10);
        assert_eq!(
            slow.wait_until(&Limits::default(), until).ok().and_then(Result::ok),
            Some(5)
        );
    }

    #[test]
    fn immediately_ready_futures_are_kept() {
        assert_eq!(InFlight::start(async { 7 }).wait(&Limits::default()), Ok(7));
    }
}
