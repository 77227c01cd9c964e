//! Core errors to `CK_RV`: one exhaustive match (no `_` arm), refined by what the caller was
//! doing, so each refusal uses the code the specification names for it.

use cryptoki_sys::*;

use crate::core::{Error, ErrorKind};

/// What the failing call was doing (the same core error means different things).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doing {
    /// Login, PIN changes, token initialisation.
    Login,
    /// Using a key (encrypt, sign, derive, wrap ...).
    KeyUse,
    /// Decrypting or unwrapping caller data.
    Decrypt,
    /// Verifying a signature or MAC.
    Verify,
    /// Creating, changing or destroying objects; token and identity management.
    Manage,
}

/// The `CK_RV` for a core error.
pub fn rv(e: &Error, doing: Doing) -> CK_RV {
    use Doing as D;
    match e.kind() {
        ErrorKind::InvalidArgument => match doing {
            D::Login => CKR_PIN_LEN_RANGE,
            D::KeyUse => CKR_DATA_LEN_RANGE,
            D::Decrypt => CKR_ENCRYPTED_DATA_INVALID,
            D::Verify => CKR_SIGNATURE_LEN_RANGE,
            D::Manage => CKR_ATTRIBUTE_VALUE_INVALID,
        },
        ErrorKind::NotFound => match doing {
            D::Login => CKR_PIN_INCORRECT,
            D::KeyUse | D::Decrypt | D::Verify => CKR_KEY_HANDLE_INVALID,
            D::Manage => CKR_OBJECT_HANDLE_INVALID,
        },
        ErrorKind::AlreadyExists => match doing {
            D::Login => CKR_FUNCTION_FAILED,
            D::KeyUse | D::Decrypt | D::Verify | D::Manage => CKR_ATTRIBUTE_VALUE_INVALID,
        },
        // Lifecycle state, compromised flag, old versions, usage and policy refusals: the key
        // may not do this (the refusal is audited by the core).
        ErrorKind::KeyState | ErrorKind::KeyUsage | ErrorKind::LimitExceeded => match doing {
            D::Manage => CKR_ACTION_PROHIBITED,
            D::Login | D::KeyUse | D::Decrypt | D::Verify => CKR_KEY_FUNCTION_NOT_PERMITTED,
        },
        ErrorKind::AccessDenied => match doing {
            D::Login => CKR_PIN_INCORRECT,
            D::KeyUse | D::Decrypt | D::Verify => CKR_KEY_FUNCTION_NOT_PERMITTED,
            D::Manage => CKR_ACTION_PROHIBITED,
        },
        ErrorKind::AuthenticationFailed => match doing {
            D::Login => CKR_PIN_INCORRECT,
            D::KeyUse | D::Decrypt | D::Verify | D::Manage => CKR_USER_NOT_LOGGED_IN,
        },
        ErrorKind::IdentityLocked => CKR_PIN_LOCKED,
        ErrorKind::InvalidCiphertext => match doing {
            D::Verify => CKR_SIGNATURE_INVALID,
            D::Login | D::KeyUse | D::Decrypt | D::Manage => CKR_ENCRYPTED_DATA_INVALID,
        },
        ErrorKind::VerificationFailed => match doing {
            D::Decrypt => CKR_ENCRYPTED_DATA_INVALID,
            D::Login | D::KeyUse | D::Verify | D::Manage => CKR_SIGNATURE_INVALID,
        },
        ErrorKind::Unsupported => match doing {
            D::KeyUse | D::Verify => CKR_DATA_INVALID,
            D::Login | D::Decrypt | D::Manage => CKR_FUNCTION_FAILED,
        },
        ErrorKind::WrongMasterKey
        | ErrorKind::Integrity
        | ErrorKind::AuditUnavailable
        | ErrorKind::Store => CKR_DEVICE_ERROR,
        ErrorKind::Crypto => CKR_FUNCTION_FAILED,
        ErrorKind::Internal => CKR_GENERAL_ERROR,
    }
}

/// `map_err` helper: `.map_err(on(Doing::KeyUse))`.
pub fn on(doing: Doing) -> impl Fn(Error) -> CK_RV {
    move |e| rv(&e, doing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_pins() {
        let st = Error::new(ErrorKind::KeyState, "disabled");
        assert_eq!(rv(&st, Doing::KeyUse), CKR_KEY_FUNCTION_NOT_PERMITTED);
        let locked = Error::new(ErrorKind::IdentityLocked, "locked");
        assert_eq!(rv(&locked, Doing::Login), CKR_PIN_LOCKED);
        let bad = Error::new(ErrorKind::AuthenticationFailed, "no");
        assert_eq!(rv(&bad, Doing::Login), CKR_PIN_INCORRECT);
        let sig = Error::new(ErrorKind::VerificationFailed, "no");
        assert_eq!(rv(&sig, Doing::Verify), CKR_SIGNATURE_INVALID);
    }
}
