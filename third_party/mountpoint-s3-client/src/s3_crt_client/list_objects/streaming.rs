//! s3torch: a streaming parser of ListObjectsV2 responses (quick-xml), in place of building an
//! xmltree of the whole page first.
//!
//! It gives the result that `parse_result_from_xml` gives, field by field, for the documents it
//! accepts, and `None` for any other: then the xmltree parser decides, so that a malformed page
//! still fails with the same error, and anything unusual (a comment, CDATA, a namespace prefix, a
//! carriage return, a whitespace-only field) gets exactly the old answer. It accepts what S3 and
//! compatible stores send: a declaration, one root, elements without attributes other than
//! `xmlns`, text with the five predefined entities and character references.
//!
//! The rules it mirrors (xmltree 0.12 over xml-rs): only the root's direct children are looked at,
//! and of each field only the first element of that name counts; a field's text is its text and
//! entity content (whitespace-only text counts as none); a `Contents`' `StorageClass` without text
//! is absent; every `ChecksumAlgorithm` counts, in order.

use std::str::FromStr;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::object_client::{ChecksumAlgorithm, ListObjectsResult, ObjectInfo, RestoreStatus};

/// A field: `None` when no element of that name was seen, `Some(None)` when the first one had no
/// text.
type Field = Option<Option<String>>;

/// The XML declarations that S3 and compatible stores send (as quick-xml gives them, without `<?`
/// and `?>`).
const PLAIN_DECLARATIONS: [&str; 4] = [
    r#"xml version="1.0" encoding="UTF-8""#,
    r#"xml version="1.0" encoding="utf-8""#,
    r#"xml version='1.0' encoding='UTF-8'"#,
    r#"xml version="1.0""#,
];

/// Parse a ListObjectsV2 body, or `None` where the xmltree parser must decide.
pub(super) fn parse(bytes: &[u8]) -> Option<ListObjectsResult> {
    let text = std::str::from_utf8(bytes).ok()?;
    plain_characters(bytes)?;
    let mut parser = Parser {
        reader: Reader::from_str(text),
    };
    parser.document(text)
}

/// Refuse what xml-rs may treat otherwise than quick-xml: characters XML does not allow (C0
/// controls but tab and line feed, U+FFFE, U+FFFF), a carriage return (xml-rs turns line ends
/// into `\n`), and `]]>` outside CDATA.
fn plain_characters(bytes: &[u8]) -> Option<()> {
    for (i, &byte) in bytes.iter().enumerate() {
        match byte {
            b'\t' | b'\n' => {}
            0..=0x1f => return None,
            b'>' if i >= 2 && &bytes[i - 2..i] == b"]]" => return None,
            0xef if bytes.get(i + 1) == Some(&0xbf) && matches!(bytes.get(i + 2), Some(0xbe | 0xbf)) => {
                return None;
            }
            _ => {}
        }
    }
    Some(())
}

fn is_xml_space(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// An element name without a namespace prefix, of the characters that S3's names use; and no
/// attribute but a plain `xmlns`.
fn plain_start(start: &BytesStart<'_>) -> Option<()> {
    let name = start.name();
    let mut chars = name.as_ref().bytes();
    if !matches!(chars.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_')) {
        return None;
    }
    if !chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return None;
    }
    if start.attributes_raw().trim().is_empty() {
        return Some(());
    }
    for attribute in start.attributes() {
        let attribute = attribute.ok()?;
        let value: &str = &attribute.value;
        if attribute.key.as_ref() != "xmlns" || value.contains(['&', '<']) {
            return None;
        }
    }
    Some(())
}

/// The text of a reference: one of the five predefined entities, or a character that XML allows
/// (not a carriage return, which xml-rs may keep where quick-xml's reader would not see one).
fn reference(reference: &BytesRef<'_>) -> Option<char> {
    if let Some(ch) = reference.resolve_char_ref().ok()? {
        let allowed = matches!(ch, '\t' | '\n' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
        return allowed.then_some(ch);
    }
    match &**reference {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// The text of a required field.
fn required(field: Field) -> Option<String> {
    field.flatten()
}

/// Keep the first element of a name.
fn first(field: &mut Field, value: Option<String>) {
    if field.is_none() {
        *field = Some(value);
    }
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
}

/// What an event inside an element is, for the callers that only look at child elements.
enum Child<'a> {
    Start(BytesStart<'a>),
    Empty(BytesStart<'a>),
    End,
}

impl<'a> Parser<'a> {
    fn event(&mut self) -> Option<Event<'a>> {
        self.reader.read_event().ok()
    }

    /// The next child element (or the end of this one), past text and references, which only
    /// fields keep.
    fn child(&mut self) -> Option<Child<'a>> {
        loop {
            match self.event()? {
                Event::Start(start) => {
                    plain_start(&start)?;
                    return Some(Child::Start(start));
                }
                Event::Empty(start) => {
                    plain_start(&start)?;
                    return Some(Child::Empty(start));
                }
                Event::End(_) => return Some(Child::End),
                Event::Text(_) => {}
                Event::GeneralRef(r) => {
                    reference(&r)?;
                }
                _ => return None,
            }
        }
    }

    fn document(&mut self, text: &str) -> Option<ListObjectsResult> {
        let mut first_event = true;
        loop {
            match self.event()? {
                Event::Decl(decl) if first_event && text.starts_with("<?xml ") => {
                    if !PLAIN_DECLARATIONS.contains(&decl.trim_end()) {
                        return None;
                    }
                }
                Event::Text(t) if is_xml_space(&t) => {}
                Event::Start(start) => {
                    plain_start(&start)?;
                    break;
                }
                _ => return None,
            }
            first_event = false;
        }
        let result = self.root()?;
        loop {
            match self.event()? {
                Event::Text(t) if is_xml_space(&t) => {}
                Event::Eof => return Some(result),
                _ => return None,
            }
        }
    }

    fn root(&mut self) -> Option<ListObjectsResult> {
        let mut objects = Vec::new();
        let mut common_prefixes = Vec::new();
        let mut next_continuation_token = None;
        let mut is_truncated = None;
        loop {
            match self.child()? {
                Child::Start(start) => match start.name().as_ref() {
                    "Contents" => objects.push(self.contents()?),
                    "CommonPrefixes" => common_prefixes.push(self.common_prefix()?),
                    "NextContinuationToken" => {
                        let text = self.text()?;
                        first(&mut next_continuation_token, text);
                    }
                    "IsTruncated" => {
                        let text = self.text()?;
                        first(&mut is_truncated, text);
                    }
                    _ => self.skip()?,
                },
                Child::Empty(start) => match start.name().as_ref() {
                    "Contents" | "CommonPrefixes" => return None,
                    "NextContinuationToken" => first(&mut next_continuation_token, None),
                    "IsTruncated" => first(&mut is_truncated, None),
                    _ => {}
                },
                Child::End => break,
            }
        }
        let next_continuation_token = match next_continuation_token {
            Some(token) => Some(token?),
            None => None,
        };
        let is_truncated = bool::from_str(&required(is_truncated)?).ok()?;
        if is_truncated != next_continuation_token.is_some() {
            return None;
        }
        Some(ListObjectsResult {
            objects,
            common_prefixes,
            next_continuation_token,
        })
    }

    fn contents(&mut self) -> Option<ObjectInfo> {
        let (mut key, mut size, mut last_modified, mut storage_class, mut etag) = (None, None, None, None, None);
        let mut restore_status: Option<(Field, Field)> = None;
        let mut checksums = Vec::new();
        loop {
            match self.child()? {
                Child::Start(start) => match start.name().as_ref() {
                    "Key" => first(&mut key, self.text()?),
                    "Size" => first(&mut size, self.text()?),
                    "LastModified" => first(&mut last_modified, self.text()?),
                    "StorageClass" => first(&mut storage_class, self.text()?),
                    "ETag" => first(&mut etag, self.text()?),
                    "ChecksumAlgorithm" => checksums.push(self.text()?),
                    "RestoreStatus" => {
                        let status = self.restore_status()?;
                        restore_status.get_or_insert(status);
                    }
                    _ => self.skip()?,
                },
                Child::Empty(start) => match start.name().as_ref() {
                    "Key" => first(&mut key, None),
                    "Size" => first(&mut size, None),
                    "LastModified" => first(&mut last_modified, None),
                    "StorageClass" => first(&mut storage_class, None),
                    "ETag" => first(&mut etag, None),
                    "ChecksumAlgorithm" => checksums.push(None),
                    "RestoreStatus" => {
                        restore_status.get_or_insert((None, None));
                    }
                    _ => {}
                },
                Child::End => break,
            }
        }
        let key = required(key)?;
        let size = u64::from_str(&required(size)?).ok()?;
        let last_modified = OffsetDateTime::parse(&required(last_modified)?, &Rfc3339).ok()?;
        let storage_class = storage_class.flatten();
        let restore_status = match restore_status {
            None => None,
            Some((in_progress, expiry)) => {
                if bool::from_str(&required(in_progress)?).ok()? {
                    Some(RestoreStatus::InProgress)
                } else {
                    let expiry = OffsetDateTime::parse(&required(expiry)?, &Rfc3339).ok()?;
                    Some(RestoreStatus::Restored { expiry: expiry.into() })
                }
            }
        };
        let etag = required(etag)?;
        let checksum_algorithms = checksums
            .into_iter()
            .map(|algorithm| {
                Some(match algorithm?.as_str() {
                    "CRC64NVME" => ChecksumAlgorithm::Crc64nvme,
                    "CRC32" => ChecksumAlgorithm::Crc32,
                    "CRC32C" => ChecksumAlgorithm::Crc32c,
                    "SHA1" => ChecksumAlgorithm::Sha1,
                    "SHA256" => ChecksumAlgorithm::Sha256,
                    other => ChecksumAlgorithm::Unknown(other.to_owned()),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ObjectInfo {
            key,
            size,
            last_modified,
            storage_class,
            restore_status,
            etag,
            checksum_algorithms,
        })
    }

    /// `IsRestoreInProgress` and `RestoreExpiryDate` of a `RestoreStatus`.
    fn restore_status(&mut self) -> Option<(Field, Field)> {
        let (mut in_progress, mut expiry) = (None, None);
        loop {
            match self.child()? {
                Child::Start(start) => match start.name().as_ref() {
                    "IsRestoreInProgress" => first(&mut in_progress, self.text()?),
                    "RestoreExpiryDate" => first(&mut expiry, self.text()?),
                    _ => self.skip()?,
                },
                Child::Empty(start) => match start.name().as_ref() {
                    "IsRestoreInProgress" => first(&mut in_progress, None),
                    "RestoreExpiryDate" => first(&mut expiry, None),
                    _ => {}
                },
                Child::End => return Some((in_progress, expiry)),
            }
        }
    }

    fn common_prefix(&mut self) -> Option<String> {
        let mut prefix = None;
        loop {
            match self.child()? {
                Child::Start(start) => match start.name().as_ref() {
                    "Prefix" => first(&mut prefix, self.text()?),
                    _ => self.skip()?,
                },
                Child::Empty(start) => {
                    if start.name().as_ref() == "Prefix" {
                        first(&mut prefix, None);
                    }
                }
                Child::End => return required(prefix),
            }
        }
    }

    /// The text of a field element, up to its end: `Some(None)` when it has none. A child
    /// element, a comment or CDATA in a field, or text of whitespace only, is left to xmltree.
    fn text(&mut self) -> Option<Option<String>> {
        let mut text = String::new();
        loop {
            match self.event()? {
                Event::Text(t) => text.push_str(&t),
                Event::GeneralRef(r) => text.push(reference(&r)?),
                Event::End(_) => break,
                _ => return None,
            }
        }
        if text.is_empty() {
            Some(None)
        } else if is_xml_space(&text) {
            None
        } else {
            Some(Some(text))
        }
    }

    /// Skip an element that is not looked at, with everything in it.
    fn skip(&mut self) -> Option<()> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.child()? {
                Child::Start(_) => depth += 1,
                Child::Empty(_) => {}
                Child::End => depth -= 1,
            }
        }
        Some(())
    }
}
