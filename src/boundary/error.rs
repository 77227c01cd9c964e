//! The optional out-error object: a status plus a detail message, handed to the caller
//! through `kms_error **out_err` instead of thread-local state.
//!
//! Convention for every function taking `kms_error **out_err`:
//! - `out_err == NULL`: the caller wants no detail; only the returned status tells.
//! - otherwise the library always writes `*out_err`: NULL on success, a new `kms_error` on
//!   failure. The caller frees it with `kms_error_free` (NULL is fine). Whatever `*out_err`
//!   held before the call is overwritten, not freed.
//!
//! Messages come from core `Error::message()` or from the boundary's static texts; they never
//! carry key material, plaintext, secrets or PINs.

use std::ffi::{c_char, CString};

use super::guard::BoundaryError;
use super::status::{kms_status, KMS_OK};

/// Detail about a failed call: its status and a human-readable message. Opaque: read it with
/// `kms_error_code` and `kms_error_message`, free it with `kms_error_free`.
#[allow(non_camel_case_types)]
pub struct kms_error {
    code: kms_status,
    message: CString,
}

impl kms_error {
    fn new(code: kms_status, message: &str) -> kms_error {
        // A message with an interior NUL would be cut by C anyway; drop the NULs instead of
        // failing to report the error.
        let bytes: Vec<u8> = message.bytes().filter(|&b| b != 0).collect();
        let message = CString::new(bytes).unwrap_or_default();
        kms_error { code, message }
    }
}

/// Fills `*out_err` per the module's convention: NULL when `err` is None, a new error object
/// otherwise. A NULL or misaligned `out_err` is ignored (the status still reports).
pub(crate) fn set_out_err(out_err: *mut *mut kms_error, err: Option<&BoundaryError>) {
    if out_err.is_null() || !out_err.is_aligned() {
        return;
    }
    let value = match err {
        None => std::ptr::null_mut(),
        Some(e) => Box::into_raw(Box::new(kms_error::new(e.status(), e.message()))),
    };
    // SAFETY: out_err is non-NULL and aligned; the C contract is that it points to a writable
    // `kms_error *`. We write without reading the old value (it may be uninitialized).
    unsafe { out_err.write(value) };
}

/// The status recorded in `err`; `KMS_OK` when `err` is NULL (no error).
pub fn error_code(err: *const kms_error) -> kms_status {
    // SAFETY: a non-NULL `err` must come from this library (set_out_err) and not be freed yet;
    // `as_ref` handles NULL.
    match unsafe { err.as_ref() } {
        Some(e) => e.code,
        None => KMS_OK,
    }
}

/// The message of `err` as a NUL-terminated string owned by `err` (valid until
/// `kms_error_free`); an empty static string when `err` is NULL.
pub fn error_message(err: *const kms_error) -> *const c_char {
    // SAFETY: as in error_code.
    match unsafe { err.as_ref() } {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// Frees an error from this library; NULL is a no-op.
pub fn error_free(err: *mut kms_error) {
    if err.is_null() {
        return;
    }
    // SAFETY: a non-NULL `err` was produced by Box::into_raw in set_out_err and, per the C
    // contract, is freed once.
    drop(unsafe { Box::from_raw(err) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::status::KMS_ERR_NOT_FOUND;
    use std::ffi::CStr;

    #[test]
    fn round_trip_and_null_safety() {
        let mut slot: *mut kms_error = std::ptr::dangling_mut();
        let e = BoundaryError::new(KMS_ERR_NOT_FOUND, "no key \"k1\"\0tail");
        set_out_err(&mut slot, Some(&e));
        assert!(!slot.is_null());
        assert_eq!(error_code(slot), KMS_ERR_NOT_FOUND);
        // SAFETY: test: the message pointer is valid until error_free.
        let msg = unsafe { CStr::from_ptr(error_message(slot)) };
        assert_eq!(msg.to_bytes(), b"no key \"k1\"tail");
        error_free(slot);

        set_out_err(&mut slot, None);
        assert!(slot.is_null());
        assert_eq!(error_code(slot), KMS_OK);
        // SAFETY: test: the static empty string.
        assert_eq!(
            unsafe { CStr::from_ptr(error_message(slot)) }.to_bytes(),
            b""
        );
        error_free(std::ptr::null_mut());
        set_out_err(std::ptr::null_mut(), Some(&e));
    }
}
