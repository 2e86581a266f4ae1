//! Fork safety.
//!
//! The CRT runs its own threads. After `fork()` only the forking thread exists in the child, so
//! any CRT object inherited from the parent refers to threads, locks and sockets that are gone.
//! Using one would hang; even dropping one would (its destructor waits on those threads). A
//! [`ForkGuard`] remembers the process that created its value: in any other process the value is
//! unreachable and is leaked instead of dropped.

use crate::errors::{Error, Result};
use pyo3::Python;
use std::sync::{Mutex, PoisonError};

/// A value that belongs to the process that created it.
#[derive(Debug)]
pub struct ForkGuard<T> {
    pid: u32,
    value: Option<T>,
}

impl<T> ForkGuard<T> {
    pub fn new(value: T) -> Self {
        Self {
            pid: std::process::id(),
            value: Some(value),
        }
    }

    /// Whether this process created the value.
    pub fn is_native(&self) -> bool {
        self.pid == std::process::id()
    }

    /// The value, or `None` in a process other than the one that created it.
    pub fn get(&self) -> Option<&T> {
        if self.is_native() {
            self.value.as_ref()
        } else {
            None
        }
    }

    /// The value, mutably, or `None` in a process other than the one that created it.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.is_native() {
            self.value.as_mut()
        } else {
            None
        }
    }
}

impl<T> Drop for ForkGuard<T> {
    fn drop(&mut self) {
        if !self.is_native() {
            std::mem::forget(self.value.take());
        }
    }
}

/// State of one native object used from Python: behind one lock, usable only in the process
/// that created it, and used with the GIL released.
pub struct ProcessLocal<T> {
    value: Mutex<ForkGuard<T>>,
    /// What the value is, in the user's words ("stream", "upload"), for the error message.
    what: &'static str,
}

impl<T: Send> ProcessLocal<T> {
    pub fn new(value: T, what: &'static str) -> Self {
        Self {
            value: Mutex::new(ForkGuard::new(value)),
            what,
        }
    }

    /// Run `f` on the value with the GIL released. The lock is taken and dropped while detached,
    /// so a thread waiting for it never holds the GIL.
    pub fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut T) -> Result<R> + Send) -> Result<R> {
        py.detach(|| {
            let mut guard = self.value.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.get_mut() {
                Some(value) => f(value),
                None => Err(Error::invalid(format!(
                    "this {} was opened in another process (before a fork); open it again in this process",
                    self.what
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn native_value_is_reachable_and_dropped() {
        let value = Arc::new(());
        let guard = ForkGuard::new(value.clone());
        assert!(guard.get().is_some());
        drop(guard);
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn foreign_value_is_unreachable_and_leaked() {
        let value = Arc::new(());
        let mut guard = ForkGuard::new(value.clone());
        guard.pid = guard.pid.wrapping_add(1);
        assert!(guard.get().is_none());
        assert!(guard.get_mut().is_none());
        drop(guard);
        assert_eq!(
            Arc::strong_count(&value),
            2,
            "a foreign value must be leaked, not dropped"
        );
    }
}
