//! Stable status numbers of the C API and the one exhaustive map from core error kinds to them.
//!
//! A status is a plain `int32_t` (`kms_status`). The numbers are part of the ABI: they are
//! never changed and never reused. Core error kinds use 1..99 in the order they were added;
//! errors that only the C boundary can detect use 100..199.

use std::ffi::{c_char, CStr};

use crate::core::ErrorKind;

/// The result of every `kms_*` call that can fail: `KMS_OK` (0) or one of the `KMS_ERR_*`
/// numbers. Numbers are stable and never reused; unknown numbers may appear in later versions
/// (treat them as failures and show `kms_status_str`).
#[allow(non_camel_case_types)]
pub type kms_status = i32;

/// Success.
pub const KMS_OK: kms_status = 0;
/// A caller's argument is malformed or out of range.
pub const KMS_ERR_INVALID_ARGUMENT: kms_status = 1;
/// No such key, version, identity, grant or record.
pub const KMS_ERR_NOT_FOUND: kms_status = 2;
/// A name or id that must be unique is taken.
pub const KMS_ERR_ALREADY_EXISTS: kms_status = 3;
/// The key's lifecycle state (or compromised flag) forbids the operation.
pub const KMS_ERR_KEY_STATE: kms_status = 4;
/// The key was not created for this usage, or the algorithm does not fit its spec.
pub const KMS_ERR_KEY_USAGE: kms_status = 5;
/// The policy does not allow this identity this action.
pub const KMS_ERR_ACCESS_DENIED: kms_status = 6;
/// Wrong identity name or secret.
pub const KMS_ERR_AUTHENTICATION_FAILED: kms_status = 7;
/// The identity is locked after too many failures, or disabled.
pub const KMS_ERR_IDENTITY_LOCKED: kms_status = 8;
/// A ciphertext, wrapped key or sealed blob failed to parse or authenticate.
pub const KMS_ERR_INVALID_CIPHERTEXT: kms_status = 9;
/// A signature or MAC did not verify.
pub const KMS_ERR_VERIFICATION_FAILED: kms_status = 10;
/// The store's master key does not open this store (wrong key file or passphrase).
pub const KMS_ERR_WRONG_MASTER_KEY: kms_status = 11;
/// The store or audit chain was found altered.
pub const KMS_ERR_INTEGRITY: kms_status = 12;
/// The audit trail could not be written and the store refuses unaudited work.
pub const KMS_ERR_AUDIT_UNAVAILABLE: kms_status = 13;
/// A use limit (grant uses, messages per key version) is exhausted.
pub const KMS_ERR_LIMIT_EXCEEDED: kms_status = 14;
/// The request is valid but not supported by this build or this key.
pub const KMS_ERR_UNSUPPORTED: kms_status = 15;
/// The store could not be read or written (I/O, database).
pub const KMS_ERR_STORE: kms_status = 16;
/// A cryptographic primitive failed unexpectedly.
pub const KMS_ERR_CRYPTO: kms_status = 17;
/// An internal invariant broke (a bug in libkms); never the caller's fault.
pub const KMS_ERR_INTERNAL: kms_status = 18;
/// A required pointer argument was NULL.
pub const KMS_ERR_NULL_POINTER: kms_status = 100;
/// The output buffer is too small; the needed size was written to the length argument.
pub const KMS_ERR_BUFFER_TOO_SMALL: kms_status = 101;
/// A handle is unknown, closed, stale, or of another kind than expected.
pub const KMS_ERR_INVALID_HANDLE: kms_status = 102;
/// libkms panicked (a bug); the call had no effect that the caller can rely on.
pub const KMS_ERR_PANIC: kms_status = 103;
/// A length is larger than the documented maximum (`KMS_MAX_INPUT`, `KMS_MAX_STRING`) or
/// overflows.
pub const KMS_ERR_LENGTH: kms_status = 104;
/// A string argument is not valid UTF-8.
pub const KMS_ERR_UTF8: kms_status = 105;

/// Every status number with its constant's name, in numeric order (used by tests and docs).
pub(crate) const ALL: [(kms_status, &str); 25] = [
    (KMS_OK, "KMS_OK"),
    (KMS_ERR_INVALID_ARGUMENT, "KMS_ERR_INVALID_ARGUMENT"),
    (KMS_ERR_NOT_FOUND, "KMS_ERR_NOT_FOUND"),
    (KMS_ERR_ALREADY_EXISTS, "KMS_ERR_ALREADY_EXISTS"),
    (KMS_ERR_KEY_STATE, "KMS_ERR_KEY_STATE"),
    (KMS_ERR_KEY_USAGE, "KMS_ERR_KEY_USAGE"),
    (KMS_ERR_ACCESS_DENIED, "KMS_ERR_ACCESS_DENIED"),
    (
        KMS_ERR_AUTHENTICATION_FAILED,
        "KMS_ERR_AUTHENTICATION_FAILED",
    ),
    (KMS_ERR_IDENTITY_LOCKED, "KMS_ERR_IDENTITY_LOCKED"),
    (KMS_ERR_INVALID_CIPHERTEXT, "KMS_ERR_INVALID_CIPHERTEXT"),
    (KMS_ERR_VERIFICATION_FAILED, "KMS_ERR_VERIFICATION_FAILED"),
    (KMS_ERR_WRONG_MASTER_KEY, "KMS_ERR_WRONG_MASTER_KEY"),
    (KMS_ERR_INTEGRITY, "KMS_ERR_INTEGRITY"),
    (KMS_ERR_AUDIT_UNAVAILABLE, "KMS_ERR_AUDIT_UNAVAILABLE"),
    (KMS_ERR_LIMIT_EXCEEDED, "KMS_ERR_LIMIT_EXCEEDED"),
    (KMS_ERR_UNSUPPORTED, "KMS_ERR_UNSUPPORTED"),
    (KMS_ERR_STORE, "KMS_ERR_STORE"),
    (KMS_ERR_CRYPTO, "KMS_ERR_CRYPTO"),
    (KMS_ERR_INTERNAL, "KMS_ERR_INTERNAL"),
    (KMS_ERR_NULL_POINTER, "KMS_ERR_NULL_POINTER"),
    (KMS_ERR_BUFFER_TOO_SMALL, "KMS_ERR_BUFFER_TOO_SMALL"),
    (KMS_ERR_INVALID_HANDLE, "KMS_ERR_INVALID_HANDLE"),
    (KMS_ERR_PANIC, "KMS_ERR_PANIC"),
    (KMS_ERR_LENGTH, "KMS_ERR_LENGTH"),
    (KMS_ERR_UTF8, "KMS_ERR_UTF8"),
];

/// The status of a core error kind. Exhaustive on purpose (no `_` arm): a new kind does not
/// compile until it has a number here (append one, never renumber).
pub fn status_of(kind: ErrorKind) -> kms_status {
    match kind {
        ErrorKind::InvalidArgument => KMS_ERR_INVALID_ARGUMENT,
        ErrorKind::NotFound => KMS_ERR_NOT_FOUND,
        ErrorKind::AlreadyExists => KMS_ERR_ALREADY_EXISTS,
        ErrorKind::KeyState => KMS_ERR_KEY_STATE,
        ErrorKind::KeyUsage => KMS_ERR_KEY_USAGE,
        ErrorKind::AccessDenied => KMS_ERR_ACCESS_DENIED,
        ErrorKind::AuthenticationFailed => KMS_ERR_AUTHENTICATION_FAILED,
        ErrorKind::IdentityLocked => KMS_ERR_IDENTITY_LOCKED,
        ErrorKind::InvalidCiphertext => KMS_ERR_INVALID_CIPHERTEXT,
        ErrorKind::VerificationFailed => KMS_ERR_VERIFICATION_FAILED,
        ErrorKind::WrongMasterKey => KMS_ERR_WRONG_MASTER_KEY,
        ErrorKind::Integrity => KMS_ERR_INTEGRITY,
        ErrorKind::AuditUnavailable => KMS_ERR_AUDIT_UNAVAILABLE,
        ErrorKind::LimitExceeded => KMS_ERR_LIMIT_EXCEEDED,
        ErrorKind::Unsupported => KMS_ERR_UNSUPPORTED,
        ErrorKind::Store => KMS_ERR_STORE,
        ErrorKind::Crypto => KMS_ERR_CRYPTO,
        ErrorKind::Internal => KMS_ERR_INTERNAL,
    }
}

/// A static, NUL-terminated English description of a status; "unknown status" for numbers
/// this version does not know.
pub fn status_str(code: kms_status) -> &'static CStr {
    match code {
        KMS_OK => c"ok",
        KMS_ERR_INVALID_ARGUMENT => c"invalid argument",
        KMS_ERR_NOT_FOUND => c"not found",
        KMS_ERR_ALREADY_EXISTS => c"already exists",
        KMS_ERR_KEY_STATE => c"key state forbids the operation",
        KMS_ERR_KEY_USAGE => c"key usage forbids the operation",
        KMS_ERR_ACCESS_DENIED => c"access denied",
        KMS_ERR_AUTHENTICATION_FAILED => c"authentication failed",
        KMS_ERR_IDENTITY_LOCKED => c"identity locked",
        KMS_ERR_INVALID_CIPHERTEXT => c"invalid ciphertext",
        KMS_ERR_VERIFICATION_FAILED => c"verification failed",
        KMS_ERR_WRONG_MASTER_KEY => c"wrong master key",
        KMS_ERR_INTEGRITY => c"integrity check failed",
        KMS_ERR_AUDIT_UNAVAILABLE => c"audit trail unavailable",
        KMS_ERR_LIMIT_EXCEEDED => c"limit exceeded",
        KMS_ERR_UNSUPPORTED => c"unsupported",
        KMS_ERR_STORE => c"store error",
        KMS_ERR_CRYPTO => c"cryptographic error",
        KMS_ERR_INTERNAL => c"internal error",
        KMS_ERR_NULL_POINTER => c"null pointer",
        KMS_ERR_BUFFER_TOO_SMALL => c"buffer too small",
        KMS_ERR_INVALID_HANDLE => c"invalid handle",
        KMS_ERR_PANIC => c"internal panic",
        KMS_ERR_LENGTH => c"length too large",
        KMS_ERR_UTF8 => c"string is not valid UTF-8",
        _ => c"unknown status",
    }
}

/// `status_str` as a C pointer (static, never NULL).
pub fn status_str_ptr(code: kms_status) -> *const c_char {
    status_str(code).as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const KINDS: [ErrorKind; 18] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::KeyState,
        ErrorKind::KeyUsage,
        ErrorKind::AccessDenied,
        ErrorKind::AuthenticationFailed,
        ErrorKind::IdentityLocked,
        ErrorKind::InvalidCiphertext,
        ErrorKind::VerificationFailed,
        ErrorKind::WrongMasterKey,
        ErrorKind::Integrity,
        ErrorKind::AuditUnavailable,
        ErrorKind::LimitExceeded,
        ErrorKind::Unsupported,
        ErrorKind::Store,
        ErrorKind::Crypto,
        ErrorKind::Internal,
    ];

    #[test]
    fn numbers_are_unique_and_described() {
        let mut seen = HashSet::new();
        for (code, name) in ALL {
            assert!(seen.insert(code), "{name} reuses {code}");
            assert_ne!(status_str(code).to_bytes(), b"unknown status", "{name}");
        }
        assert_eq!(status_str(-1).to_bytes(), b"unknown status");
        assert_eq!(status_str(99).to_bytes(), b"unknown status");
    }

    #[test]
    fn every_kind_has_its_own_code_matching_core_names() {
        let mut seen = HashSet::new();
        for kind in KINDS {
            let code = status_of(kind);
            assert!(code > 0 && code < 100, "{kind:?}");
            assert!(seen.insert(code), "{kind:?} shares {code}");
            assert_eq!(
                status_str(code).to_str().ok(),
                Some(kind.name()),
                "{kind:?}"
            );
        }
    }
}
