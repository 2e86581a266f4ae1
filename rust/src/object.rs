//! What S3 says about an object: the results of HeadObject and of each listed key.

use mountpoint_s3_client::types::{HeadObjectResult, ObjectInfo, RestoreStatus};
use pyo3::prelude::*;
use std::time::UNIX_EPOCH;
use time::OffsetDateTime;

/// Whether an archived object is being restored, and until when a restored copy is kept.
#[pyclass(
    name = "RestoreStatus",
    module = "s3torch._core",
    frozen,
    eq,
    get_all,
    from_py_object
)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyRestoreStatus {
    pub in_progress: bool,
    /// Seconds since the epoch, when known.
    pub expiry: Option<i64>,
}

#[pymethods]
impl PyRestoreStatus {
    #[new]
    #[pyo3(signature = (in_progress, expiry=None))]
    fn new(in_progress: bool, expiry: Option<i64>) -> Self {
        Self { in_progress, expiry }
    }

    fn __getnewargs__(&self) -> (bool, Option<i64>) {
        (self.in_progress, self.expiry)
    }

    fn __repr__(&self) -> String {
        format!(
            "RestoreStatus(in_progress={}, expiry={:?})",
            py_bool(self.in_progress),
            self.expiry
        )
    }
}

impl From<RestoreStatus> for PyRestoreStatus {
    fn from(status: RestoreStatus) -> Self {
        match status {
            RestoreStatus::InProgress => Self {
                in_progress: true,
                expiry: None,
            },
            RestoreStatus::Restored { expiry } => Self {
                in_progress: false,
                expiry: expiry.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs() as i64),
            },
        }
    }
}

/// One object in a listing.
#[pyclass(name = "ObjectInfo", module = "s3torch._core", frozen, eq, get_all)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyObjectInfo {
    pub key: String,
    pub etag: String,
    pub size: u64,
    /// Seconds since the epoch.
    pub last_modified: i64,
    pub storage_class: Option<String>,
    pub restore_status: Option<PyRestoreStatus>,
}

#[pymethods]
impl PyObjectInfo {
    #[new]
    #[pyo3(signature = (key, etag, size, last_modified, storage_class=None, restore_status=None))]
    fn new(
        key: String,
        etag: String,
        size: u64,
        last_modified: i64,
        storage_class: Option<String>,
        restore_status: Option<PyRestoreStatus>,
    ) -> Self {
        Self {
            key,
            etag,
            size,
            last_modified,
            storage_class,
            restore_status,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "ObjectInfo(key={:?}, etag={:?}, size={}, last_modified={}, storage_class={:?})",
            self.key, self.etag, self.size, self.last_modified, self.storage_class
        )
    }

    fn __getnewargs__(&self) -> (String, String, u64, i64, Option<String>, Option<PyRestoreStatus>) {
        (
            self.key.clone(),
            self.etag.clone(),
            self.size,
            self.last_modified,
            self.storage_class.clone(),
            self.restore_status.clone(),
        )
    }
}

impl From<ObjectInfo> for PyObjectInfo {
    fn from(info: ObjectInfo) -> Self {
        Self {
            key: info.key,
            etag: info.etag,
            size: info.size,
            last_modified: epoch_seconds(info.last_modified),
            storage_class: info.storage_class,
            restore_status: info.restore_status.map(Into::into),
        }
    }
}

/// The result of HeadObject.
#[pyclass(name = "HeadObjectResult", module = "s3torch._core", frozen, eq, get_all)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyHeadObjectResult {
    pub etag: String,
    pub size: u64,
    /// Seconds since the epoch.
    pub last_modified: i64,
    pub storage_class: Option<String>,
    pub restore_status: Option<PyRestoreStatus>,
}

#[pymethods]
impl PyHeadObjectResult {
    #[new]
    #[pyo3(signature = (etag, size, last_modified, storage_class=None, restore_status=None))]
    fn new(
        etag: String,
        size: u64,
        last_modified: i64,
        storage_class: Option<String>,
        restore_status: Option<PyRestoreStatus>,
    ) -> Self {
        Self {
            etag,
            size,
            last_modified,
            storage_class,
            restore_status,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "HeadObjectResult(etag={:?}, size={}, last_modified={}, storage_class={:?})",
            self.etag, self.size, self.last_modified, self.storage_class
        )
    }

    fn __getnewargs__(&self) -> (String, u64, i64, Option<String>, Option<PyRestoreStatus>) {
        (
            self.etag.clone(),
            self.size,
            self.last_modified,
            self.storage_class.clone(),
            self.restore_status.clone(),
        )
    }
}

impl From<HeadObjectResult> for PyHeadObjectResult {
    fn from(head: HeadObjectResult) -> Self {
        Self {
            etag: head.etag.as_str().to_owned(),
            size: head.size,
            last_modified: epoch_seconds(head.last_modified),
            storage_class: head.storage_class,
            restore_status: head.restore_status.map(Into::into),
        }
    }
}

fn epoch_seconds(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

fn py_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}
