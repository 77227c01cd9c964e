//! Text from bytes on the audit trail's paths (journal records, batch bodies, request ids).
//!
//! `std::str::from_utf8` is an out-of-line call whose result comes back through memory; read
//! back at once, that costs a store-forwarding stall per field, and a usage record has six
//! text fields. Records are ASCII nearly always: [`utf8`] checks that inline and falls back
//! to the full UTF-8 check otherwise.

/// `b` as text when it is valid UTF-8.
#[inline]
pub fn utf8(b: &[u8]) -> Option<&str> {
    if b.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(b) });
    }
    std::str::from_utf8(b).ok()
}

#[cfg(test)]
mod tests {
    use super::utf8;

    #[test]
    fn only_valid_utf8_is_text() {
        assert_eq!(utf8(b""), Some(""));
        assert_eq!(utf8(b"encrypt"), Some("encrypt"));
        assert_eq!(
            utf8("pkcs11:\u{e9}t\u{e9}".as_bytes()),
            Some("pkcs11:\u{e9}t\u{e9}")
        );
        assert_eq!(utf8(b"a\xffb"), None);
        assert_eq!(utf8(b"\xc3"), None);
        assert_eq!(utf8(b"\xed\xa0\x80"), None); // a surrogate
    }
}
