//! A new `bytes` object filled straight from S3 buffers, without a zeroing pass first.
//!
//! `PyBytes::new_with` first zeroes the whole buffer, with the GIL held. For a read of a large
//! object that is one more pass over memory than needed, and it takes all the page faults of
//! touching fresh memory while holding the GIL. Here the buffer is written only once, by the
//! caller's copies, with the GIL released. (Asking for transparent huge pages as well was
//! measured and left out: it made reads slower and more variable on the virtual machines this
//! is measured on, whose host reclaims freed 2 MiB blocks; see doc/performance.md.)
//! [`prefaulted`] takes those faults off the copying thread for the large reads.

use pyo3::exceptions::PyMemoryError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A new `bytes` of exactly `len` bytes, all of them written by `fill` before Python can see
/// them. `fill` runs with the GIL held by the caller's choice (detach inside it to wait).
pub fn bytes_filled<'py>(
    py: Python<'py>,
    len: usize,
    fill: impl FnOnce(&mut [u8]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyBytes>> {
    let size = ffi::Py_ssize_t::try_from(len).map_err(|_| PyMemoryError::new_err("object too large for bytes"))?;
    // SAFETY: `PyBytes_FromStringAndSize(NULL, n)` returns a new, uniquely owned bytes object
    // whose `n` data bytes are ours to write until it is handed to Python; `PyBytes_AsString`
    // points at them. The bytes hold whatever the allocator left there (plain integers: any
    // value is a valid `u8`), and `fill` overwrites all of them before the object is returned
    // (on error, or when it fills fewer, the caller drops the object unseen).
    #[allow(unsafe_code)]
    let (bytes, data) = unsafe {
        let raw = ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
        let bytes: Bound<'py, PyBytes> = Bound::from_owned_ptr_or_err(py, raw)?.cast_into_unchecked();
        let data = std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(raw).cast::<u8>(), len);
        (bytes, data)
    };
    fill(data)?;
    Ok(bytes)
}

/// Fault in the pages of `out` ahead of whoever writes it front to back, on a thread of its own,
/// while `write` runs; returns what `write` returns.
///
/// A fresh result of a large read is memory no one has touched, and each first write to one of
/// its pages traps into the kernel, which zeroes the page (about 0.8 ms a MiB here, ten times
/// the copy into pages already mapped). When that happens in the thread that copies parts out of
/// the CRT's buffers, the parts leave the pool, and the next ones are sent, only that much later.
/// `MADV_POPULATE_WRITE` (Linux 5.14) does the same faulting in one call a step, here on another
/// thread, without touching the bytes: the copy then finds the pages mapped. Where the kernel
/// refuses it, the copy faults as before. A 1 GiB `read()` from localbucket on loopback, six
/// interleaved rounds each: median 778 against 753 MiB/s, 1.58 against 1.67 client CPU-s.
pub fn prefaulted<R>(out: &mut [u8], write: impl FnOnce(&mut [u8]) -> R) -> R {
    const STEP: usize = 8 << 20;
    if out.len() < STEP {
        return write(out);
    }
    let (start, end) = (out.as_ptr() as usize, out.as_ptr() as usize + out.len());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Without a thread (the process is at its limit) the copy simply takes the faults.
        let _ = std::thread::Builder::new().spawn_scoped(scope, || {
            let page = 4096;
            let mut at = start.div_ceil(page) * page;
            while at < end && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let len = STEP.min(end - at) / page * page;
                if len == 0 || !populate_write(at, len) {
                    return;
                }
                at += len;
            }
        });
        let result = write(out);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    })
}

/// `madvise(addr, len, MADV_POPULATE_WRITE)`; false where it fails (kernel too old, or no memory).
#[allow(unsafe_code)]
fn populate_write(addr: usize, len: usize) -> bool {
    // SAFETY: madvise only changes how the pages of [addr, addr + len) are mapped; it reads and
    // writes none of their bytes. The range lies within a live allocation of the caller's
    // (`prefaulted` joins this thread before `out` can be freed), page-aligned by the caller.
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefaulted_hands_over_the_whole_slice_and_returns_what_write_returns() {
        for len in [0, 1, 4095, 8 << 20, (20 << 20) + 17] {
            // Unaligned: the bytes of a `bytes` object start a header's length into the block.
            let mut block = vec![0u8; len + 33];
            let out = &mut block[33..];
            let written = prefaulted(out, |out| {
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = (i % 251) as u8;
                }
                out.len()
            });
            assert_eq!(written, len);
            assert!(block[33..].iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
            assert!(
                block[..33].iter().all(|b| *b == 0),
                "nothing outside the slice is written"
            );
        }
    }
}
