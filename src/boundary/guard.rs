//! The entry guard every export runs in: catches panics and turns errors into a status plus
//! an optional `kms_error`.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{kms_error, set_out_err};
use super::status::{self, kms_status, KMS_ERR_PANIC, KMS_OK};
use crate::core;

/// An error at the C boundary: a status and a message safe to show (no secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundaryError {
    status: kms_status,
    message: Cow<'static, str>,
}

/// The result type of guarded bodies and of the pointer helpers.
pub type BResult<T> = Result<T, BoundaryError>;

impl BoundaryError {
    pub fn new(status: kms_status, message: impl Into<Cow<'static, str>>) -> BoundaryError {
        BoundaryError {
            status,
            message: message.into(),
        }
    }

    pub fn status(&self) -> kms_status {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// `KMS_ERR_NULL_POINTER` naming the argument.
    pub fn null(arg: &'static str) -> BoundaryError {
        Self::new(status::KMS_ERR_NULL_POINTER, format!("{arg} is NULL"))
    }

    /// `KMS_ERR_INVALID_ARGUMENT`.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> BoundaryError {
        Self::new(status::KMS_ERR_INVALID_ARGUMENT, message)
    }

    /// `KMS_ERR_INVALID_HANDLE`.
    pub fn invalid_handle(message: impl Into<Cow<'static, str>>) -> BoundaryError {
        Self::new(status::KMS_ERR_INVALID_HANDLE, message)
    }

    /// `KMS_ERR_LENGTH`.
    pub fn length(message: impl Into<Cow<'static, str>>) -> BoundaryError {
        Self::new(status::KMS_ERR_LENGTH, message)
    }
}

impl From<core::Error> for BoundaryError {
    fn from(e: core::Error) -> BoundaryError {
        BoundaryError::new(status::status_of(e.kind()), e.message().to_owned())
    }
}

impl std::fmt::Display for BoundaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Runs `body` as the whole of an export returning `kms_status`: a panic becomes
/// `KMS_ERR_PANIC` ("internal panic"; the payload is never shown, it could hold data), an
/// error becomes its status, and `out_err` (may be NULL) is filled per the `kms_error`
/// convention.
pub fn guard(out_err: *mut *mut kms_error, body: impl FnOnce() -> BResult<()>) -> kms_status {
    let result = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(_payload) => Err(BoundaryError::new(KMS_ERR_PANIC, "internal panic")),
    };
    match result {
        Ok(()) => {
            set_out_err(out_err, None);
            KMS_OK
        }
        Err(e) => {
            set_out_err(out_err, Some(&e));
            e.status
        }
    }
}

/// Runs `body` for an export that returns a value rather than a status (a static string, a
/// number, `void`): a panic yields `fallback`.
pub fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::error::{error_code, error_free, error_message};
    use crate::boundary::status::{KMS_ERR_KEY_STATE, KMS_ERR_NULL_POINTER};
    use std::ffi::CStr;

    fn message(e: *const kms_error) -> String {
        // SAFETY: test: e is a live error from guard.
        unsafe { CStr::from_ptr(error_message(e)) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn ok_error_and_core_error() {
        let mut err: *mut kms_error = std::ptr::null_mut();
        assert_eq!(guard(&mut err, || Ok(())), KMS_OK);
        assert!(err.is_null());

        let st = guard(&mut err, || Err(BoundaryError::null("out_len")));
        assert_eq!(st, KMS_ERR_NULL_POINTER);
        assert_eq!(error_code(err), KMS_ERR_NULL_POINTER);
        assert_eq!(message(err), "out_len is NULL");
        error_free(err);

        let st = guard(&mut err, || {
            Err(core::Error::new(core::ErrorKind::KeyState, "key k1 is disabled").into())
        });
        assert_eq!(st, KMS_ERR_KEY_STATE);
        assert_eq!(message(err), "key k1 is disabled");
        error_free(err);

        assert_eq!(
            guard(std::ptr::null_mut(), || Err(BoundaryError::null("x"))),
            KMS_ERR_NULL_POINTER
        );
    }

    #[test]
    fn panic_becomes_status_without_payload() {
        let mut err: *mut kms_error = std::ptr::null_mut();
        let st = guard(&mut err, || panic!("secret-material-0xdeadbeef"));
        assert_eq!(st, KMS_ERR_PANIC);
        assert_eq!(error_code(err), KMS_ERR_PANIC);
        assert_eq!(message(err), "internal panic");
        error_free(err);
        assert_eq!(guard_value(7, || panic!("boom")), 7);
        assert_eq!(guard_value(7, || 8), 8);
    }
}
