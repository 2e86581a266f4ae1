//! A new `bytes` object filled straight from S3 buffers, without a zeroing pass first.
//!
//! `PyBytes::new_with` first zeroes the whole buffer, with the GIL held. For a read of a large
//! object that is one more pass over memory than needed, and it takes all the page faults of
//! touching fresh memory while holding the GIL. Here the buffer is written only once, by the
//! caller's copies, with the GIL released. (Asking for transparent huge pages as well was
//! measured and left out: with the kernel's `defrag=madvise` it made reads slower and more
//! variable, through direct compaction.)

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
