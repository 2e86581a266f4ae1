//! LIST: ListObjectsV2, a page at a time, with the next page requested while this one is used.

use crate::checks::MAX_KEY_BYTES;
use crate::errors::{Error, Result, Target};
use crate::fork::ProcessLocal;
use crate::handle::Handle;
use crate::inflight::InFlight;
use crate::object::PyObjectInfo;
use mountpoint_s3_client::error::{ListObjectsError, ObjectClientError};
use mountpoint_s3_client::types::ListObjectsResult;
use mountpoint_s3_client::S3RequestError;
use pyo3::prelude::*;

/// Refuse a `start_after` that could not be a key (S3's rules for keys: no NUL, at most
/// `MAX_KEY_BYTES`), naming the argument.
pub fn check_start_after(start_after: &str) -> Result<()> {
    if start_after.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(format!(
            "start_after is {} bytes long: S3 keys are at most {MAX_KEY_BYTES} bytes",
            start_after.len()
        )));
    }
    if start_after.contains('\0') {
        return Err(Error::invalid(format!(
            "start_after {start_after:?} contains a NUL character"
        )));
    }
    Ok(())
}

type Page = InFlight<std::result::Result<ListObjectsResult, ObjectClientError<ListObjectsError, S3RequestError>>>;

/// One page of a listing: objects, and the common prefixes ("folders") when a delimiter is
/// used.
#[pyclass(name = "ListObjectResult", module = "s3torch._core", frozen, get_all)]
pub struct PyListObjectResult {
    object_info: Vec<PyObjectInfo>,
    common_prefixes: Vec<String>,
}

#[pymethods]
impl PyListObjectResult {
    fn __repr__(&self) -> String {
        format!(
            "ListObjectResult({} objects, {} common prefixes)",
            self.object_info.len(),
            self.common_prefixes.len()
        )
    }
}

struct Listing {
    handle: Handle,
    target: Target,
    prefix: String,
    delimiter: String,
    max_keys: usize,
    start_after: Option<String>,
    next: Option<Page>,
    continuation_token: Option<String>,
}

impl Listing {
    /// Ask for the page after `token`, or for the first page (after `start_after`, if given)
    /// when there is no token: the token already says where the listing goes on.
    fn request(&self, token: Option<String>) -> Page {
        let client = self.handle.crt.clone();
        let bucket = self.target.bucket.clone();
        let (prefix, delimiter, max_keys) = (self.prefix.clone(), self.delimiter.clone(), self.max_keys);
        let start_after = if token.is_none() {
            self.start_after.clone()
        } else {
            None
        };
        InFlight::start(async move {
            client
                .list_objects_start_after(
                    &bucket,
                    token.as_deref(),
                    start_after.as_deref(),
                    &delimiter,
                    max_keys,
                    &prefix,
                )
                .await
        })
    }

    fn next_page(&mut self) -> Result<Option<ListObjectsResult>> {
        let Some(page) = self.next.take() else {
            return Ok(None);
        };
        let result = match self
            .handle
            .settle("ListObjectsV2", &self.target, page.wait(&self.handle.limits))
        {
            Ok(result) => result,
            // The bucket lives in another region: ask for the same page there.
            Err(error) => match self.handle.follow(&error, &self.target.bucket) {
                Some(there) => {
                    self.handle = there;
                    let page = self.request(self.continuation_token.clone());
                    self.handle
                        .settle("ListObjectsV2", &self.target, page.wait(&self.handle.limits))?
                }
                None => return Err(error),
            },
        };
        self.continuation_token = result.next_continuation_token.clone();
        self.next = self.continuation_token.clone().map(|token| self.request(Some(token)));
        Ok(Some(result))
    }
}

/// The pages of a listing, in key order. The first page is requested when the stream is made.
#[pyclass(name = "ListObjectStream", module = "s3torch._core", frozen)]
pub struct PyListObjectStream {
    #[pyo3(get)]
    bucket: String,
    #[pyo3(get)]
    prefix: String,
    #[pyo3(get)]
    delimiter: String,
    #[pyo3(get)]
    max_keys: usize,
    /// The key the listing starts after (not included), or None to start at the prefix.
    #[pyo3(get)]
    start_after: Option<String>,
    listing: ProcessLocal<Listing>,
}

impl PyListObjectStream {
    pub fn start(
        handle: Handle,
        bucket: &str,
        prefix: String,
        delimiter: String,
        max_keys: usize,
        start_after: Option<String>,
    ) -> Self {
        let mut listing = Listing {
            handle,
            target: if prefix.is_empty() {
                Target::bucket(bucket)
            } else {
                Target::object(bucket, &prefix)
            },
            prefix: prefix.clone(),
            delimiter: delimiter.clone(),
            max_keys,
            start_after: start_after.clone(),
            next: None,
            continuation_token: None,
        };
        listing.next = Some(listing.request(None));
        Self {
            bucket: bucket.to_owned(),
            prefix,
            delimiter,
            max_keys,
            start_after,
            listing: ProcessLocal::new(listing, "listing"),
        }
    }
}

#[pymethods]
impl PyListObjectStream {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyListObjectResult>> {
        let page = self.listing.with(py, Listing::next_page)?;
        Ok(page.map(|page| PyListObjectResult {
            object_info: page.objects.into_iter().map(PyObjectInfo::from).collect(),
            common_prefixes: page.common_prefixes,
        }))
    }

    /// The token of the next page, or None when the listing has no more pages.
    #[getter]
    fn continuation_token(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self
            .listing
            .with(py, |listing| Ok(listing.continuation_token.clone()))?)
    }

    /// Whether every page has been returned.
    #[getter]
    fn complete(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.listing.with(py, |listing| Ok(listing.next.is_none()))?)
    }

    fn __repr__(&self) -> String {
        format!("ListObjectStream(s3://{}/{})", self.bucket, self.prefix)
    }
}
