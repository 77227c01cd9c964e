//! Exports that belong to no object: version, status strings, `kms_error` accessors and
//! `kms_buffer_free`.

use std::ffi::c_char;

use crate::boundary::error::{self, kms_error};
use crate::boundary::guard_value;
use crate::boundary::secret::{self, kms_buffer};
use crate::boundary::status::{self, kms_status};

const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("version contains a NUL"),
};

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0u32;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

const VERSION_NUMBER: u32 = (parse_u32(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
    | (parse_u32(env!("CARGO_PKG_VERSION_MINOR")) << 8)
    | parse_u32(env!("CARGO_PKG_VERSION_PATCH"));

/// The library version as a static string, e.g. "0.1.0". Never NULL; do not free.
#[no_mangle]
pub extern "C" fn kms_version() -> *const c_char {
    guard_value(c"unknown".as_ptr(), || VERSION.as_ptr())
}

/// The library version as a number: `(major << 16) | (minor << 8) | patch`, so 1.2.3 is
/// 0x010203. Compare it with the header's expectations at run time.
#[no_mangle]
pub extern "C" fn kms_version_number() -> u32 {
    guard_value(0, || VERSION_NUMBER)
}

/// A static English description of a status number; "unknown status" for numbers this
/// version does not know. Never NULL; do not free.
#[no_mangle]
pub extern "C" fn kms_status_str(code: kms_status) -> *const c_char {
    guard_value(c"unknown status".as_ptr(), || status::status_str_ptr(code))
}

/// The status recorded in an error; `KMS_OK` for NULL.
#[no_mangle]
pub extern "C" fn kms_error_code(err: *const kms_error) -> kms_status {
    guard_value(status::KMS_ERR_PANIC, || error::error_code(err))
}

/// The detail message of an error, owned by `err` and valid until `kms_error_free(err)`;
/// "" for NULL. Never NULL. Never contains key material, plaintext or secrets.
#[no_mangle]
pub extern "C" fn kms_error_message(err: *const kms_error) -> *const c_char {
    guard_value(c"".as_ptr(), || error::error_message(err))
}

/// Frees an error returned through a `kms_error **out_err` argument. NULL is a no-op.
#[no_mangle]
pub extern "C" fn kms_error_free(err: *mut kms_error) {
    guard_value((), || error::error_free(err))
}

/// Zeroizes and frees the bytes of a buffer returned by libkms, then sets it to
/// `{NULL, 0}` (freeing it again is harmless). NULL `buf`, or a buffer whose `data` is NULL,
/// is a no-op.
#[no_mangle]
pub extern "C" fn kms_buffer_free(buf: *mut kms_buffer) {
    guard_value((), || secret::buffer_free(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version() {
        assert_eq!(kms_version(), VERSION.as_ptr());
        assert_eq!(VERSION.to_str().ok(), Some(env!("CARGO_PKG_VERSION")));
        let n = kms_version_number();
        let dotted = format!("{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff);
        assert_eq!(dotted, env!("CARGO_PKG_VERSION"));
    }
}
