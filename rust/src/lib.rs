//! s3torch's native core: S3 I/O over the AWS CRT (through `mountpoint-s3-client`), for Python.
//!
//! Mechanism lives here (requests, buffers, concurrency, fork safety, error classification);
//! policy (datasets, sharding, checkpoint formats, configuration resolution) lives in Python.
#![deny(unsafe_code)]

mod aio;
mod buffer;
mod checks;
mod client;
mod errors;
mod fork;
mod get;
mod handle;
mod inflight;
mod list;
mod logging;
mod metrics;
mod object;
mod put;
mod pybytes;
mod settings;
mod wait;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MIN_PART_SIZE", settings::MIN_PART_SIZE)?;
    m.add("MAX_PART_SIZE", settings::MAX_PART_SIZE)?;
    m.add("MAX_ATTEMPTS", settings::MAX_ATTEMPTS)?;
    m.add("MAX_THROUGHPUT_GBPS", settings::MAX_THROUGHPUT_GBPS)?;
    m.add("MIN_READ_WINDOW", settings::MIN_READ_WINDOW)?;
    m.add("MAX_KEY_BYTES", checks::MAX_KEY_BYTES)?;
    let error_classes = errors::ErrorKind::ALL.map(errors::ErrorKind::class_name);
    m.add("ERROR_CLASSES", pyo3::types::PyTuple::new(m.py(), error_classes)?)?;
    m.add_class::<client::PyS3Client>()?;
    m.add_class::<get::PyGetObjectStream>()?;
    m.add_class::<put::PyPutObjectStream>()?;
    m.add_class::<list::PyListObjectStream>()?;
    m.add_class::<list::PyListObjectResult>()?;
    m.add_class::<object::PyObjectInfo>()?;
    m.add_class::<object::PyHeadObjectResult>()?;
    m.add_class::<object::PyRestoreStatus>()?;
    m.add_class::<buffer::PyBuffer>()?;
    m.add_class::<aio::PyCompletions>()?;
    m.add_function(wrap_pyfunction!(logging::_set_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(logging::_set_crt_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(logging::_drain_logs, m)?)?;
    Ok(())
}
