//! The invariants of names and header text that every request relies on.
//!
//! The user-facing rules (S3's bucket naming rules, a key that must name one object) are Python's,
//! in `s3torch._uri`; these are the subset the CRT would otherwise get wrong late (an empty path
//! segment, a `/` that changes the path, a control character that breaks a header). Python
//! applies its stricter rules first, so a user never sees these messages from the public API.

use crate::errors::{Error, Result};

/// The longest key S3 accepts, in bytes of UTF-8. `s3torch._uri.MAX_KEY_BYTES` is this value.
pub const MAX_KEY_BYTES: usize = 1024;

/// What cannot be sent in an HTTP header: a character of Unicode category Cc (C0 controls, DEL
/// and C1 controls). `s3torch._uri.has_control_character` is the same rule, and
/// tests/test_settings_contract.py checks that the two agree on every such character.
pub fn is_control(ch: char) -> bool {
    ch.is_control()
}

/// Refuse text that cannot go into an HTTP header, naming the field and, unless it is secret,
/// the value.
pub fn check_header_text(field: &str, text: &str, show: bool) -> Result<()> {
    if text.chars().any(is_control) {
        let shown = if show { format!("={text:?}") } else { String::new() };
        return Err(Error::invalid(format!(
            "{field}{shown} contains a control character (such as a line break): it cannot be sent in a request"
        )));
    }
    Ok(())
}

pub fn check_bucket(bucket: &str) -> Result<()> {
    if bucket.is_empty() || bucket.contains('/') || bucket.chars().any(is_control) {
        return Err(Error::invalid(format!(
            "invalid bucket name {bucket:?}: must be non-empty, without '/' or control characters"
        )));
    }
    Ok(())
}

pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("the object key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(format!(
            "object key is {} bytes long: S3 keys are at most {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(Error::invalid(format!("object key {key:?} contains a NUL character")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_buckets_are_checked() {
        assert!(check_key("a b/ü%+").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(check_key("a\0b").is_err());
        assert!(check_bucket("").is_err());
        assert!(check_bucket("a/b").is_err());
        assert!(check_bucket("my-bucket").is_ok());
    }

    #[test]
    fn control_characters_are_c0_del_and_c1_but_not_other_separators() {
        for ch in ['\0', '\n', '\u{1f}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert!(is_control(ch), "{ch:?}");
        }
        for ch in [' ', '~', '\u{a0}', '\u{2028}', 'ü'] {
            assert!(!is_control(ch), "{ch:?}");
        }
    }

    #[test]
    fn a_secret_is_not_shown_when_refused() {
        let Err(Error::InvalidArgument(message)) = check_header_text("secret_access_key", "SE\nCRET", false) else {
            panic!("expected a refusal");
        };
        assert!(message.starts_with("secret_access_key contains"), "{message}");
        assert!(!message.contains("CRET"), "{message}");
    }
}
