//! Bytes across the boundary without copies.
//!
//! [`PyBuffer`] hands a part of an object body (a [`Bytes`] the CRT filled) to Python through the
//! buffer protocol: `memoryview(buf)` reads the CRT's memory directly. [`BorrowedBuffer`] is the
//! other direction: any contiguous Python buffer (bytes, bytearray, memoryview, numpy array, a
//! CPU tensor's `.numpy()` view), read or filled in place.
//!
//! Most of the crate's `unsafe` code is here (the other blocks, a new `bytes` and `madvise`,
//! are in `pybytes.rs`); each block says why it is sound.
#![allow(unsafe_code)]

use crate::fork::ForkGuard;
use bytes::Bytes;
use mountpoint_s3_client::S3CrtClient;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_int, c_void};

/// A read-only, zero-copy view of bytes received from S3: `memoryview(buffer)` reads the
/// received memory in place, `bytes(buffer)` copies it.
#[pyclass(name = "Buffer", module = "s3torch._core", frozen)]
pub struct PyBuffer {
    bytes: Bytes,
    /// The client whose buffer pool holds `bytes`, kept until they are released (fields drop in
    /// order): the CRT aborts the process when a client's pool is destroyed with blocks still
    /// handed out, which a buffer that outlives its stream and client would otherwise cause.
    /// Guarded like every CRT object: a forked child leaks it rather than drop its parent's.
    _client: ForkGuard<S3CrtClient>,
}

impl PyBuffer {
    pub fn new(bytes: Bytes, client: S3CrtClient) -> Self {
        Self {
            bytes,
            _client: ForkGuard::new(client),
        }
    }
}

#[pymethods]
impl PyBuffer {
    fn __len__(&self) -> usize {
        self.bytes.len()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &self.bytes)
    }

    fn __repr__(&self) -> String {
        format!("<s3torch Buffer of {} bytes>", self.bytes.len())
    }

    /// # Safety
    /// Called by CPython with a valid `view` to fill.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("null view"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("s3torch Buffer is read-only"));
        }
        let (ptr, len) = {
            let this = slf.get();
            (this.bytes.as_ptr(), this.bytes.len())
        };
        // SAFETY: `view` is valid for writes (checked non-null; CPython passes a live struct).
        // The memory behind `ptr` is owned by `Bytes`, which never moves or changes its contents,
        // and lives as long as this object, which the view keeps alive through `obj`. A 1-D
        // unsigned-byte layout needs no format string: NULL means "B".
        unsafe {
            (*view).obj = slf.into_any().into_ptr();
            (*view).buf = ptr as *mut c_void;
            (*view).len = len as ffi::Py_ssize_t;
            (*view).readonly = 1;
            (*view).itemsize = 1;
            (*view).format = std::ptr::null_mut();
            (*view).ndim = 1;
            (*view).shape = if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                &mut (*view).len
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                &mut (*view).itemsize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    /// # Safety
    /// Called by CPython when a view is released; nothing was allocated for it.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}

/// A contiguous Python buffer, held (exported) for as long as this value lives.
pub struct BorrowedBuffer {
    buffer: PyUntypedBuffer,
}

impl BorrowedBuffer {
    /// Borrow any C-contiguous buffer for reading.
    pub fn readable(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let buffer = PyUntypedBuffer::get(obj).map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a bytes-like object (bytes, bytearray, memoryview, array), got {}",
                type_name(obj)
            ))
        })?;
        if !buffer.is_c_contiguous() {
            return Err(PyBufferError::new_err("the buffer must be C-contiguous"));
        }
        Ok(Self { buffer })
    }

    /// Borrow any C-contiguous, writable buffer for filling in place.
    pub fn writable(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let this = Self::readable(obj)?;
        if this.buffer.readonly() {
            return Err(PyTypeError::new_err(format!(
                "expected a writable bytes-like object (bytearray, memoryview, numpy array, tensor.numpy()), got read-only {}",
                type_name(obj)
            )));
        }
        Ok(this)
    }

    pub fn len(&self) -> usize {
        self.buffer.len_bytes()
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.len() == 0 {
            return &[];
        }
        // SAFETY: the exporter keeps `len_bytes` bytes at `buf_ptr` valid and unmoved while the
        // buffer is exported, which lasts as long as `self`; the layout is C-contiguous (checked).
        // Python code in another thread may still write to a mutable exporter (a bytearray) while
        // we read: that races only on plain bytes, as with any C extension that releases the GIL.
        unsafe { std::slice::from_raw_parts(self.buffer.buf_ptr() as *const u8, self.len()) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.len() == 0 {
            return &mut [];
        }
        // SAFETY: as in `as_slice`, and the exporter declared the memory writable (checked in
        // `writable`, the only constructor that hands out a value used mutably).
        unsafe { std::slice::from_raw_parts_mut(self.buffer.buf_ptr() as *mut u8, self.len()) }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "an unknown type".to_owned())
}
