//! The one error type of the core: a kind every front end maps exhaustively, and a message
//! that never carries key material, plaintext, secrets or PINs.

use std::fmt;

pub type Result<T> = std::result::Result<T, Error>;

/// The class of an error. Front ends map each kind to their status codes with an exhaustive
/// match, so a new kind does not compile until each front end decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A caller's argument is malformed or out of range.
    InvalidArgument,
    /// No such key, version, identity, grant or record.
    NotFound,
    /// A name or id that must be unique is taken.
    AlreadyExists,
    /// The key's lifecycle state (or compromised flag) forbids the operation.
    KeyState,
    /// The key was not created for this usage, or the algorithm does not fit its spec.
    KeyUsage,
    /// The policy does not allow this identity this action.
    AccessDenied,
    /// Wrong identity name or secret.
    AuthenticationFailed,
    /// The identity is locked after too many failures, or disabled.
    IdentityLocked,
    /// A ciphertext, wrapped key or sealed blob failed to parse or authenticate.
    InvalidCiphertext,
    /// A signature or MAC did not verify.
    VerificationFailed,
    /// The store's master key does not open this store (wrong key file or passphrase).
    WrongMasterKey,
    /// The store or audit chain was found altered.
    Integrity,
    /// The audit trail could not be written and the store refuses unaudited work.
    AuditUnavailable,
    /// A use limit (grant uses, messages per key version) is exhausted.
    LimitExceeded,
    /// The request is valid but not supported by this build or this key.
    Unsupported,
    /// The store could not be read or written (I/O, database).
    Store,
    /// A cryptographic primitive failed unexpectedly.
    Crypto,
    /// An internal invariant broke (a bug); never a caller's fault.
    Internal,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::KeyState => "key state forbids the operation",
            ErrorKind::KeyUsage => "key usage forbids the operation",
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::AuthenticationFailed => "authentication failed",
            ErrorKind::IdentityLocked => "identity locked",
            ErrorKind::InvalidCiphertext => "invalid ciphertext",
            ErrorKind::VerificationFailed => "verification failed",
            ErrorKind::WrongMasterKey => "wrong master key",
            ErrorKind::Integrity => "integrity check failed",
            ErrorKind::AuditUnavailable => "audit trail unavailable",
            ErrorKind::LimitExceeded => "limit exceeded",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Store => "store error",
            ErrorKind::Crypto => "cryptographic error",
            ErrorKind::Internal => "internal error",
        }
    }
}

/// An error: a kind and a message safe to log and show.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    pub fn exists(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::AlreadyExists, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, message)
    }

    pub fn crypto(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Crypto, message)
    }

    pub fn store(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Store, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn bad_ciphertext(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidCiphertext, message)
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::KeyUsage, message)
    }

    pub fn integrity(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Integrity, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::store(format!("i/o: {e}"))
    }
}
