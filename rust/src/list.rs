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
use pyo3::types::{PyBytes, PyTuple};

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

/// An ETag as `s3torch._datasets.table.pack_etag` packs it: `1`, the 16 bytes of a quoted MD5 in
/// lowercase hex, then its `-parts` suffix; or `0` and the text; nothing for an empty ETag.
fn pack_etag(etag: &str, out: &mut Vec<u8>) {
    if etag.is_empty() {
        return;
    }
    let md5 = etag
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|inner| inner.len() >= 32 && inner.is_char_boundary(32))
        .map(|inner| inner.split_at(32))
        .filter(|(hex, parts)| {
            hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                && (parts.is_empty()
                    || parts
                        .strip_prefix('-')
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
        });
    match md5 {
        Some((hex, parts)) => {
            out.push(1);
            let digit = |b: u8| if b <= b'9' { b - b'0' } else { b - b'a' + 10 };
            out.extend(
                hex.as_bytes()
                    .chunks(2)
                    .map(|pair| digit(pair[0]) << 4 | digit(pair[1])),
            );
            out.extend_from_slice(parts.as_bytes());
        }
        None => {
            out.push(0);
            out.extend_from_slice(etag.as_bytes());
        }
    }
}

#[pymethods]
impl PyListObjectResult {
    /// Internal (for the dataset's listing table): the page's objects as columns, without a
    /// Python object per key. Returns `(keys, key_ends, etags, etag_ends, sizes, last_modified)`,
    /// all `bytes`: the keys' UTF-8 one after another; the ETags one after another, each packed
    /// as `s3torch._datasets.table.pack_etag` packs it; and four arrays of native 64-bit signed
    /// ints (`array("q").frombytes(...)`): where each key and each packed ETag ends, counted from
    /// `key_base` and `etag_base` (so that pages append to one table), the sizes, and the
    /// last-modified times in seconds since the epoch.
    #[pyo3(signature = (key_base=0, etag_base=0))]
    fn columns<'py>(&self, py: Python<'py>, key_base: i64, etag_base: i64) -> Bound<'py, PyTuple> {
        let count = self.object_info.len();
        let mut keys = Vec::with_capacity(self.object_info.iter().map(|info| info.key.len()).sum());
        let mut etags = Vec::with_capacity(count * 18);
        let mut key_ends = Vec::with_capacity(count * 8);
        let mut etag_ends = Vec::with_capacity(count * 8);
        let mut sizes = Vec::with_capacity(count * 8);
        let mut modified = Vec::with_capacity(count * 8);
        for info in &self.object_info {
            keys.extend_from_slice(info.key.as_bytes());
            key_ends.extend_from_slice(&(key_base + keys.len() as i64).to_ne_bytes());
            pack_etag(&info.etag, &mut etags);
            etag_ends.extend_from_slice(&(etag_base + etags.len() as i64).to_ne_bytes());
            sizes.extend_from_slice(&i64::try_from(info.size).unwrap_or(i64::MAX).to_ne_bytes());
            modified.extend_from_slice(&info.last_modified.to_ne_bytes());
        }
        let columns = [keys, key_ends, etags, etag_ends, sizes, modified].map(|column| PyBytes::new(py, &column));
        PyTuple::new(py, columns).expect("a tuple of six bytes objects")
    }

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
        Ok(page.map(PyListObjectResult::from))
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

/// A page as Python sees it, for the asyncio bridge (`aio.rs`), which lists a page at a time.
impl From<mountpoint_s3_client::types::ListObjectsResult> for PyListObjectResult {
    fn from(page: mountpoint_s3_client::types::ListObjectsResult) -> Self {
        Self {
            object_info: page.objects.into_iter().map(PyObjectInfo::from).collect(),
            common_prefixes: page.common_prefixes,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The streaming ListObjectsV2 parser of the patched client against xmltree's: the same
    //! result wherever it gives one, and the page left to xmltree (so the same error) otherwise.
    use mountpoint_s3_client::s3torch_list_parsers::{both, streaming, xmltree};
    use std::time::Instant;

    const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix>data/</Prefix>"#;

    fn object(i: usize) -> String {
        format!(
            "<Contents><Key>data/shard-{i:06}.tar</Key><LastModified>2024-05-0{}T12:34:56.{:03}Z</LastModified>\
             <ETag>&quot;{:032x}&quot;</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>\
             <Size>{}</Size><Owner><ID>abc</ID><DisplayName>me</DisplayName></Owner>\
             <StorageClass>STANDARD</StorageClass></Contents>",
            1 + i % 9,
            i % 1000,
            i * 7919,
            i * 1_048_576
        )
    }

    /// A page as S3 sends it: `keys` objects, truncated with a token.
    fn page(keys: usize) -> String {
        let mut xml = String::from(HEAD);
        for i in 0..keys {
            xml.push_str(&object(i));
        }
        xml.push_str("<KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><Delimiter></Delimiter>");
        xml.push_str("<IsTruncated>true</IsTruncated><NextContinuationToken>tok/en+=</NextContinuationToken>");
        xml.push_str("</ListBucketResult>");
        xml
    }

    fn doc(body: &str) -> String {
        format!("{HEAD}{body}</ListBucketResult>")
    }

    /// The two parsers agree: the streaming one gives xmltree's result, or leaves it to xmltree;
    /// returns whether the streaming parser took the page.
    fn agree(xml: &str) -> bool {
        let slow = xmltree(xml.as_bytes());
        let combined = both(xml.as_bytes());
        assert_eq!(format!("{combined:?}"), format!("{slow:?}"), "{xml}");
        match streaming(xml.as_bytes()) {
            Some(fast) => {
                let slow = slow.unwrap_or_else(|error| panic!("only the streaming parser took {xml:?}: {error}"));
                assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{xml}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn etags_are_packed_as_the_table_packs_them() {
        let packed = |etag: &str| {
            let mut out = Vec::new();
            super::pack_etag(etag, &mut out);
            out
        };
        let md5 = "\"0123456789abcdef0123456789abcdef";
        let digest = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        assert_eq!(packed(&format!("{md5}\"")), [&[1][..], &digest, &digest].concat());
        assert_eq!(
            packed(&format!("{md5}-12\"")),
            [&[1][..], &digest, &digest, b"-12"].concat()
        );
        for text in [
            "plain",
            "\"0123456789ABCDEF0123456789abcdef\"",
            &format!("{md5}-\""),
            &format!("{md5}x\""),
            md5,
            "\"é\"",
        ] {
            assert_eq!(packed(text), [&[0][..], text.as_bytes()].concat(), "{text}");
        }
        assert!(packed("").is_empty());
    }

    #[test]
    fn streaming_parser_takes_pages_as_s3_sends_them() {
        assert!(agree(&page(1000)));
        assert!(agree(&page(0).replace(
            "true</IsTruncated><NextContinuationToken>tok/en+=</NextContinuationToken>",
            "false</IsTruncated>"
        )));
        let fields = [
            // Keys verbatim: spaces kept, entities and character references decoded.
            "<Contents><Key> a b &amp; &lt;c&gt; &apos;&quot; &#233;&#x65e5;本 // </Key><Size>0</Size>\
             <LastModified>2024-01-01T00:00:00Z</LastModified><ETag>e</ETag></Contents>",
            // No storage class, an empty one, a restore in progress, a restored object.
            "<Contents><Key>k</Key><Size>18446744073709551615</Size><LastModified>2024-01-01T00:00:00+02:00</LastModified>\
             <ETag>e</ETag><StorageClass/></Contents>",
            "<Contents><Key>k</Key><Size>1</Size><LastModified>2024-01-01T00:00:00Z</LastModified><ETag>e</ETag>\
             <StorageClass>GLACIER</StorageClass><RestoreStatus><IsRestoreInProgress>true</IsRestoreInProgress></RestoreStatus></Contents>",
            "<Contents><Key>k</Key><Size>1</Size><LastModified>2024-01-01T00:00:00Z</LastModified><ETag>e</ETag>\
             <RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress>\
             <RestoreExpiryDate>2025-01-01T00:00:00Z</RestoreExpiryDate></RestoreStatus></Contents>",
            // Several checksum algorithms, an unknown one; first of a repeated field wins.
            "<Contents><Key>k</Key><Key>other</Key><Size>1</Size><LastModified>2024-01-01T00:00:00Z</LastModified>\
             <ETag>e</ETag><ChecksumAlgorithm>SHA256</ChecksumAlgorithm><ChecksumAlgorithm>NEW</ChecksumAlgorithm>\
             <ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumAlgorithm>CRC32C</ChecksumAlgorithm>\
             <ChecksumAlgorithm>SHA1</ChecksumAlgorithm></Contents>",
            // Common prefixes; a Contents nested deeper is not an object.
            "<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>b &amp; c/</Prefix></CommonPrefixes>\
             <Other><Contents><Key>nested</Key></Contents></Other>",
        ];
        for body in fields {
            assert!(
                agree(&doc(&format!("{body}<IsTruncated>false</IsTruncated>"))),
                "{body}"
            );
        }
    }

    #[test]
    fn streaming_parser_leaves_malformed_and_unusual_pages_to_xmltree() {
        let object = "<Contents><Key>k</Key><Size>1</Size><LastModified>2024-01-01T00:00:00Z</LastModified><ETag>e</ETag></Contents>";
        let end = "<IsTruncated>false</IsTruncated>";
        let cases = [
            // Malformed XML.
            String::from("not xml"),
            String::new(),
            format!("{HEAD}{object}{end}"),
            format!("{HEAD}{object}{end}</Other>"),
            doc(&format!("{object}{end}")) + "<Second/>",
            doc(&format!("{object}{end}")) + "trailing",
            doc(&format!("<Contents><Key>a &bogus; b</Key></Contents>{end}")),
            doc(&format!("<Contents><Key>a & b</Key></Contents>{end}")),
            doc(&format!("<Contents><Key>a &#0; b</Key></Contents>{end}")),
            doc(&format!("<Contents><Key>a \u{1} b</Key></Contents>{end}")),
            doc(&format!("<x:Contents>{object}</x:Contents>{end}")),
            doc(&format!("<Contents a=\"1\" a=\"2\">{object}</Contents>{end}")),
            doc(&format!("<1bad/>{object}{end}")),
            // Well formed but invalid pages: missing and bad fields.
            doc(&object.replace("<Key>k</Key>", "")),
            doc(&format!("{}{end}", object.replace("<Key>k</Key>", "<Key/>"))),
            doc(&format!("{}{end}", object.replace("<Key>k</Key>", "<Key> </Key>"))),
            doc(&format!("{}{end}", object.replace("<Size>1</Size>", "<Size>-1</Size>"))),
            doc(&format!("{}{end}", object.replace("2024-01-01T00:00:00Z", "yesterday"))),
            doc(&format!("{}{end}", object.replace("<ETag>e</ETag>", ""))),
            doc(&format!("<Contents/>{end}")),
            doc(&format!("<CommonPrefixes/>{end}")),
            doc(&format!("<CommonPrefixes><Prefix/></CommonPrefixes>{end}")),
            doc(&format!("{object}<IsTruncated>yes</IsTruncated>")),
            doc(&format!("{object}<IsTruncated>true</IsTruncated>")),
            doc(&format!(
                "{object}{end}<NextContinuationToken>t</NextContinuationToken>"
            )),
            doc(&format!(
                "{object}<IsTruncated>true</IsTruncated><NextContinuationToken/>"
            )),
            doc(object),
            doc(&format!(
                "{}{end}",
                object.replace(
                    "</ETag>",
                    "</ETag><RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus>"
                )
            )),
            doc(&format!(
                "{}{end}",
                object.replace("</ETag>", "</ETag><ChecksumAlgorithm/>")
            )),
            // Unusual: a comment, CDATA, a line end xml-rs rewrites, a child element in a field,
            // another encoding, a DOCTYPE, another attribute.
            doc(&format!("<!-- c -->{object}{end}")),
            doc(&format!(
                "{}{end}",
                object.replace("<Key>k</Key>", "<Key><![CDATA[k]]></Key>")
            )),
            doc(&format!("{}{end}", object.replace("<Key>k</Key>", "<Key>a\r\nb</Key>"))),
            doc(&format!("{}{end}", object.replace("<Key>k</Key>", "<Key>a<b/>c</Key>"))),
            doc(&format!("{object}{end}")).replace("UTF-8", "ISO-8859-1"),
            doc(&format!("{object}{end}")).replace("<ListBucketResult", "<!DOCTYPE x><ListBucketResult"),
            doc(&format!("{object}{end}")).replace("<ListBucketResult", "<ListBucketResult other=\"1\""),
        ];
        for xml in &cases {
            assert!(!agree(xml), "the streaming parser took {xml:?}");
        }
        // Not UTF-8.
        let latin1 = b"<R><IsTruncated>false</IsTruncated>\xe9</R>";
        assert!(streaming(latin1).is_none() && xmltree(latin1).is_err());
        // Each case differs from one that the streaming parser takes.
        assert!(agree(&doc(&format!("{object}{end}"))));
    }

    #[test]
    fn streaming_parser_agrees_on_damaged_pages() {
        // Bytes of a page replaced, cut or doubled at pseudo-random places: wherever the
        // streaming parser gives a result, it is xmltree's.
        let good = page(3).into_bytes();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut taken = 0;
        for round in 0..4000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % good.len() as u64) as usize;
            let mut xml = good.clone();
            match round % 3 {
                0 => xml[at] = b"<>/&;\"'x0 -"[(state >> 32) as usize % 11],
                1 => xml.truncate(at),
                _ => {
                    let copy = xml[at..(at + 12).min(xml.len())].to_vec();
                    xml.splice(at..at, copy);
                }
            }
            let Ok(xml) = String::from_utf8(xml) else { continue };
            taken += usize::from(agree(&xml));
        }
        assert!(taken > 100, "the streaming parser took only {taken} damaged pages");
    }

    /// Keys per second of the two parsers on a 1,000-key page:
    /// `cargo test --release --lib list::tests::parse_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn parse_speed() {
        let xml = page(1000);
        for (name, parse) in [
            ("xmltree", &(|b: &[u8]| xmltree(b).is_ok()) as &dyn Fn(&[u8]) -> bool),
            ("streaming", &|b: &[u8]| streaming(b).is_some()),
        ] {
            let rounds = 50;
            let start = Instant::now();
            for _ in 0..rounds {
                assert!(parse(xml.as_bytes()));
            }
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "{name}: {:.0} keys/s ({:.2} µs per key, page of {} bytes)",
                1000.0 * rounds as f64 / seconds,
                seconds * 1e6 / (1000.0 * rounds as f64),
                xml.len()
            );
        }
    }
}
