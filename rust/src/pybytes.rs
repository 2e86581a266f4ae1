//! A new `bytes` object filled straight from S3 buffers: no zeroing pass, huge pages for big ones.
//!
//! `PyBytes::new_with` first zeroes the whole buffer, with the GIL held. For a read of a large
//! object that is one more pass over memory than needed, and most of the cost is the page faults
//! of touching fresh memory for the first time (one per 4 KiB). Here the buffer is filled only
//! once, by the caller's copies with the GIL released, and on Linux a buffer of several MiB asks
//! for transparent huge pages first, so that a GiB faults 512 times instead of 262,144.

use pyo3::exceptions::PyMemoryError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Buffers at least this large ask for huge pages.
const HUGE_PAGE_MIN: usize = 4 * 1024 * 1024;

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
    // (on error the object is dropped unseen).
    #[allow(unsafe_code)]
    let (bytes, data) = unsafe {
        let raw = ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
        let bytes: Bound<'py, PyBytes> = Bound::from_owned_ptr_or_err(py, raw)?.cast_into_unchecked();
        let data = std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(raw).cast::<u8>(), len);
        (bytes, data)
    };
    if len >= HUGE_PAGE_MIN {
        advise_huge_pages(data);
    }
    fill(data)?;
    Ok(bytes)
}

/// Ask for transparent huge pages over the whole 2 MiB pages inside `buffer` (a hint: errors
/// and kernels without them change nothing).
#[cfg(target_os = "linux")]
fn advise_huge_pages(buffer: &mut [u8]) {
    const HUGE_PAGE: usize = 2 * 1024 * 1024;
    let start = buffer.as_mut_ptr() as usize;
    let first = start.next_multiple_of(HUGE_PAGE);
    let end = (start + buffer.len()) / HUGE_PAGE * HUGE_PAGE;
    if end > first {
        // SAFETY: the range lies inside `buffer`, which this function borrows mutably; the
        // advice only changes how the kernel backs those pages, never their contents.
        #[allow(unsafe_code)]
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_buffer: &mut [u8]) {}
