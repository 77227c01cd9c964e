"""Exceptions: one class per libkms status (``KMS_ERR_*`` in kms.h), all under KmsError.

Each carries ``.code`` (the stable status number) and ``.message`` (the library's detail from
its ``kms_error`` object; never key material, plaintext or secrets).
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "KmsError", "InvalidArgument", "NotFound", "AlreadyExists", "KeyStateError",
    "KeyUsageError", "AccessDenied", "AuthenticationFailed", "IdentityLocked",
    "InvalidCiphertext", "VerificationFailed", "WrongMasterKey", "IntegrityError",
    "AuditUnavailable", "LimitExceeded", "Unsupported", "StoreError", "CryptoError",
    "InternalError", "NullPointer", "BufferTooSmall", "InvalidHandle", "PanicError",
    "LengthError", "Utf8Error", "error_class",
]


class KmsError(Exception):
    """A libkms call failed. ``code`` is the ``KMS_ERR_*`` number, ``message`` the detail."""

    code: int
    message: str
    status: str

    def __init__(self, code: int, message: str = "", status: str = "") -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{status or 'error'} ({code}): {message}" if message else f"{status} ({code})")


class InvalidArgument(KmsError, ValueError):
    """Malformed or out-of-range argument."""


class NotFound(KmsError, LookupError):
    """No such key, version, identity, grant, secret or record."""


class AlreadyExists(KmsError):
    """A unique name is taken."""


class KeyStateError(KmsError):
    """The key's state (or compromised flag, or version floor) forbids the operation."""


class KeyUsageError(KmsError):
    """The key is not for this usage."""


class AccessDenied(KmsError, PermissionError):
    """The policy does not allow this identity this action."""


class AuthenticationFailed(KmsError):
    """Wrong identity name or secret."""


class IdentityLocked(KmsError):
    """The identity is locked (too many failures) or disabled."""


class InvalidCiphertext(KmsError):
    """Ciphertext, wrapped key or stream malformed, altered, or given the wrong context."""


class VerificationFailed(KmsError):
    """A signature or MAC did not verify."""


class WrongMasterKey(KmsError):
    """The master key does not open this store."""


class IntegrityError(KmsError):
    """The store or the audit chain was found altered."""


class AuditUnavailable(KmsError):
    """The audit trail could not be written; unaudited work is refused."""


class LimitExceeded(KmsError):
    """A use limit is exhausted, or too many open handles."""


class Unsupported(KmsError):
    """Valid, but not supported by this build or key."""


class StoreError(KmsError):
    """The store (or an export file) could not be read or written."""


class CryptoError(KmsError):
    """A cryptographic primitive failed unexpectedly."""


class InternalError(KmsError):
    """A libkms bug."""


class NullPointer(KmsError):
    """A required pointer was NULL (a binding bug)."""


class BufferTooSmall(KmsError):
    """An output buffer was too small (handled inside the binding)."""


class InvalidHandle(KmsError):
    """Closed, freed or unknown context or stream."""


class PanicError(KmsError):
    """libkms panicked (a bug)."""


class LengthError(KmsError, ValueError):
    """An input above the library's size limits."""


class Utf8Error(KmsError, ValueError):
    """A string argument is not valid UTF-8."""


# KMS_ERR_<SUFFIX> in kms.h -> class. tests/test_header.py checks that every status of the
# header has an entry here and no entry names a status the header lacks.
BY_STATUS_NAME: Dict[str, Type[KmsError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "KEY_STATE": KeyStateError,
    "KEY_USAGE": KeyUsageError,
    "ACCESS_DENIED": AccessDenied,
    "AUTHENTICATION_FAILED": AuthenticationFailed,
    "IDENTITY_LOCKED": IdentityLocked,
    "INVALID_CIPHERTEXT": InvalidCiphertext,
    "VERIFICATION_FAILED": VerificationFailed,
    "WRONG_MASTER_KEY": WrongMasterKey,
    "INTEGRITY": IntegrityError,
    "AUDIT_UNAVAILABLE": AuditUnavailable,
    "LIMIT_EXCEEDED": LimitExceeded,
    "UNSUPPORTED": Unsupported,
    "STORE": StoreError,
    "CRYPTO": CryptoError,
    "INTERNAL": InternalError,
    "NULL_POINTER": NullPointer,
    "BUFFER_TOO_SMALL": BufferTooSmall,
    "INVALID_HANDLE": InvalidHandle,
    "PANIC": PanicError,
    "LENGTH": LengthError,
    "UTF8": Utf8Error,
}

_by_code: Optional[Dict[int, Type[KmsError]]] = None


def error_class(code: int) -> Type[KmsError]:
    """The exception class for a status number (KmsError for numbers this binding does not
    know: statuses are never reused, so a newer library may return new ones)."""
    global _by_code
    if _by_code is None:
        from ._lib import header

        consts = header().constants_with_prefix("KMS_ERR_")
        _by_code = {consts[name]: cls for name, cls in BY_STATUS_NAME.items() if name in consts}
    return _by_code.get(code, KmsError)
