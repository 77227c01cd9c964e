//! The vocabulary of the core: key specs, usages, states, actions and the records that name them.

use crate::core::error::{Error, Result};

/// What kind of key material a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySpec {
    Aes128,
    Aes256,
    HmacSha256,
    HmacSha384,
    HmacSha512,
    EcP256,
    EcP384,
    Ed25519,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    /// Opaque secret data (application secrets, PKCS#11 generic secrets and data objects).
    Secret,
}

impl KeySpec {
    pub const ALL: [KeySpec; 12] = [
        KeySpec::Aes128,
        KeySpec::Aes256,
        KeySpec::HmacSha256,
        KeySpec::HmacSha384,
        KeySpec::HmacSha512,
        KeySpec::EcP256,
        KeySpec::EcP384,
        KeySpec::Ed25519,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::Secret,
    ];

    /// Stable name used in the store, the CLI, JSON and the C API.
    pub fn name(self) -> &'static str {
        match self {
            KeySpec::Aes128 => "AES-128",
            KeySpec::Aes256 => "AES-256",
            KeySpec::HmacSha256 => "HMAC-SHA256",
            KeySpec::HmacSha384 => "HMAC-SHA384",
            KeySpec::HmacSha512 => "HMAC-SHA512",
            KeySpec::EcP256 => "EC-P256",
            KeySpec::EcP384 => "EC-P384",
            KeySpec::Ed25519 => "ED25519",
            KeySpec::Rsa2048 => "RSA-2048",
            KeySpec::Rsa3072 => "RSA-3072",
            KeySpec::Rsa4096 => "RSA-4096",
            KeySpec::Secret => "SECRET",
        }
    }

    /// Stable number used by the C API (`KMS_SPEC_*`).
    pub fn code(self) -> u32 {
        match self {
            KeySpec::Aes128 => 1,
            KeySpec::Aes256 => 2,
            KeySpec::HmacSha256 => 3,
            KeySpec::HmacSha384 => 4,
            KeySpec::HmacSha512 => 5,
            KeySpec::EcP256 => 6,
            KeySpec::EcP384 => 7,
            KeySpec::Ed25519 => 8,
            KeySpec::Rsa2048 => 9,
            KeySpec::Rsa3072 => 10,
            KeySpec::Rsa4096 => 11,
            KeySpec::Secret => 12,
        }
    }

    pub fn from_code(code: u32) -> Result<KeySpec> {
        KeySpec::ALL
            .iter()
            .copied()
            .find(|s| s.code() == code)
            .ok_or_else(|| Error::invalid(format!("unknown key spec number {code}")))
    }

    pub fn parse(name: &str) -> Result<KeySpec> {
        let up = name.trim().to_ascii_uppercase().replace('_', "-");
        KeySpec::ALL
            .iter()
            .copied()
            .find(|s| s.name() == up || s.name().replace('-', "") == up.replace('-', ""))
            .ok_or_else(|| Error::invalid(format!("unknown key spec '{name}'")))
    }

    pub fn is_symmetric(self) -> bool {
        matches!(
            self,
            KeySpec::Aes128
                | KeySpec::Aes256
                | KeySpec::HmacSha256
                | KeySpec::HmacSha384
                | KeySpec::HmacSha512
                | KeySpec::Secret
        )
    }

    pub fn is_aes(self) -> bool {
        matches!(self, KeySpec::Aes128 | KeySpec::Aes256)
    }

    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512
        )
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
    }

    pub fn is_ec(self) -> bool {
        matches!(self, KeySpec::EcP256 | KeySpec::EcP384)
    }

    /// The usages a key of this spec may be given.
    pub fn allowed_usages(self) -> Usage {
        match self {
            KeySpec::Aes128 | KeySpec::Aes256 => {
                Usage::ENCRYPT | Usage::DECRYPT | Usage::WRAP | Usage::UNWRAP | Usage::DERIVE
            }
            KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512 => {
                Usage::MAC | Usage::DERIVE
            }
            KeySpec::EcP256 | KeySpec::EcP384 => Usage::SIGN | Usage::VERIFY | Usage::DERIVE,
            KeySpec::Ed25519 => Usage::SIGN | Usage::VERIFY,
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                Usage::SIGN | Usage::VERIFY | Usage::ENCRYPT | Usage::DECRYPT
            }
            KeySpec::Secret => Usage::DERIVE,
        }
    }

    /// The usages a new key of this spec gets when the caller names none.
    pub fn default_usages(self) -> Usage {
        match self {
            KeySpec::Aes128 | KeySpec::Aes256 => Usage::ENCRYPT | Usage::DECRYPT,
            KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512 => Usage::MAC,
            KeySpec::EcP256 | KeySpec::EcP384 | KeySpec::Ed25519 => Usage::SIGN | Usage::VERIFY,
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => Usage::SIGN | Usage::VERIFY,
            KeySpec::Secret => Usage::NONE,
        }
    }
}

/// A set of key usages (bit flags; the numbers are the C API's `KMS_USAGE_*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Usage(pub u32);

impl Usage {
    pub const NONE: Usage = Usage(0);
    pub const ENCRYPT: Usage = Usage(1);
    pub const DECRYPT: Usage = Usage(2);
    pub const SIGN: Usage = Usage(4);
    pub const VERIFY: Usage = Usage(8);
    pub const MAC: Usage = Usage(16);
    pub const WRAP: Usage = Usage(32);
    pub const UNWRAP: Usage = Usage(64);
    pub const DERIVE: Usage = Usage(128);
    pub const ALL_BITS: u32 = 255;

    const NAMES: [(Usage, &'static str); 8] = [
        (Usage::ENCRYPT, "encrypt"),
        (Usage::DECRYPT, "decrypt"),
        (Usage::SIGN, "sign"),
        (Usage::VERIFY, "verify"),
        (Usage::MAC, "mac"),
        (Usage::WRAP, "wrap"),
        (Usage::UNWRAP, "unwrap"),
        (Usage::DERIVE, "derive"),
    ];

    pub fn from_bits(bits: u32) -> Result<Usage> {
        if bits & !Self::ALL_BITS != 0 {
            return Err(Error::invalid(format!("unknown usage bits {bits:#x}")));
        }
        Ok(Usage(bits))
    }

    pub fn contains(self, other: Usage) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(u, _)| self.contains(*u))
            .map(|(_, n)| *n)
            .collect()
    }

    /// Parses a comma-separated list such as `encrypt,decrypt`.
    pub fn parse(list: &str) -> Result<Usage> {
        let mut u = Usage::NONE;
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let part = part.to_ascii_lowercase();
            match Self::NAMES.iter().find(|(_, n)| *n == part) {
                Some((bit, _)) => u = u | *bit,
                None => return Err(Error::invalid(format!("unknown usage '{part}'"))),
            }
        }
        Ok(u)
    }
}

impl std::ops::BitOr for Usage {
    type Output = Usage;
    fn bitor(self, rhs: Usage) -> Usage {
        Usage(self.0 | rhs.0)
    }
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Usage({})", self.names().join(","))
    }
}

/// Lifecycle state of a key (NIST SP 800-57 / KMIP vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    PreActive,
    Active,
    Suspended,
    Deactivated,
    PendingDeletion,
    Destroyed,
}

impl KeyState {
    pub const ALL: [KeyState; 6] = [
        KeyState::PreActive,
        KeyState::Active,
        KeyState::Suspended,
        KeyState::Deactivated,
        KeyState::PendingDeletion,
        KeyState::Destroyed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeyState::PreActive => "pre-active",
            KeyState::Active => "active",
            KeyState::Suspended => "suspended",
            KeyState::Deactivated => "deactivated",
            KeyState::PendingDeletion => "pending-deletion",
            KeyState::Destroyed => "destroyed",
        }
    }

    /// Stable number used by the C API (`KMS_STATE_*`).
    pub fn code(self) -> u32 {
        match self {
            KeyState::PreActive => 1,
            KeyState::Active => 2,
            KeyState::Suspended => 3,
            KeyState::Deactivated => 4,
            KeyState::PendingDeletion => 5,
            KeyState::Destroyed => 6,
        }
    }

    pub fn parse(name: &str) -> Result<KeyState> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        KeyState::ALL
            .iter()
            .copied()
            .find(|s| s.name() == n)
            .ok_or_else(|| Error::invalid(format!("unknown key state '{name}'")))
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything an identity can ask the KMS to do; the unit of policy and audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    // key use
    Encrypt,
    Decrypt,
    GenerateDataKey,
    ReEncrypt,
    Sign,
    Verify,
    Mac,
    Wrap,
    Unwrap,
    Derive,
    GetPublicKey,
    // key management
    Create,
    Import,
    Describe,
    List,
    Rotate,
    Enable,
    Disable,
    ScheduleDeletion,
    CancelDeletion,
    Destroy,
    SetPolicy,
    Export,
    Update,
    // identities and audit
    ManageIdentities,
    ReadAudit,
    Authenticate,
    Random,
    Maintain,
    ManageStore,
    // objects and application secrets (appended: codes are stable)
    WriteObject,
    PutSecret,
    GetSecret,
}

impl Action {
    pub const ALL: [Action; 33] = [
        Action::Encrypt,
        Action::Decrypt,
        Action::GenerateDataKey,
        Action::ReEncrypt,
        Action::Sign,
        Action::Verify,
        Action::Mac,
        Action::Wrap,
        Action::Unwrap,
        Action::Derive,
        Action::GetPublicKey,
        Action::Create,
        Action::Import,
        Action::Describe,
        Action::List,
        Action::Rotate,
        Action::Enable,
        Action::Disable,
        Action::ScheduleDeletion,
        Action::CancelDeletion,
        Action::Destroy,
        Action::SetPolicy,
        Action::Export,
        Action::Update,
        Action::ManageIdentities,
        Action::ReadAudit,
        Action::Authenticate,
        Action::Random,
        Action::Maintain,
        Action::ManageStore,
        Action::WriteObject,
        Action::PutSecret,
        Action::GetSecret,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Encrypt => "encrypt",
            Action::Decrypt => "decrypt",
            Action::GenerateDataKey => "generate-data-key",
            Action::ReEncrypt => "re-encrypt",
            Action::Sign => "sign",
            Action::Verify => "verify",
            Action::Mac => "mac",
            Action::Wrap => "wrap",
            Action::Unwrap => "unwrap",
            Action::Derive => "derive",
            Action::GetPublicKey => "get-public-key",
            Action::Create => "create",
            Action::Import => "import",
            Action::Describe => "describe",
            Action::List => "list",
            Action::Rotate => "rotate",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::ScheduleDeletion => "schedule-deletion",
            Action::CancelDeletion => "cancel-deletion",
            Action::Destroy => "destroy",
            Action::SetPolicy => "set-policy",
            Action::Export => "export",
            Action::Update => "update",
            Action::ManageIdentities => "manage-identities",
            Action::ReadAudit => "read-audit",
            Action::Authenticate => "authenticate",
            Action::Random => "random",
            Action::Maintain => "maintain",
            Action::ManageStore => "manage-store",
            Action::WriteObject => "write-object",
            Action::PutSecret => "put-secret",
            Action::GetSecret => "get-secret",
        }
    }

    /// Stable number used by the C API (`KMS_ACTION_*`): the position in [`Action::ALL`] plus one.
    pub fn code(self) -> u32 {
        Action::ALL
            .iter()
            .position(|a| *a == self)
            .map(|p| p as u32 + 1)
            .unwrap_or(0)
    }

    pub fn from_code(code: u32) -> Result<Action> {
        if code == 0 || code as usize > Action::ALL.len() {
            return Err(Error::invalid(format!("unknown action number {code}")));
        }
        Ok(Action::ALL[code as usize - 1])
    }

    pub fn parse(name: &str) -> Result<Action> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.name() == n)
            .ok_or_else(|| Error::invalid(format!("unknown action '{name}'")))
    }

    /// Actions that use key material (the key user role).
    pub fn is_key_use(self) -> bool {
        matches!(
            self,
            Action::Encrypt
                | Action::Decrypt
                | Action::GenerateDataKey
                | Action::ReEncrypt
                | Action::Sign
                | Action::Verify
                | Action::Mac
                | Action::Wrap
                | Action::Unwrap
                | Action::Derive
                | Action::GetPublicKey
                | Action::PutSecret
                | Action::GetSecret
        )
    }

    /// Actions that manage keys (the key administrator role).
    pub fn is_key_admin(self) -> bool {
        matches!(
            self,
            Action::Create
                | Action::Import
                | Action::Rotate
                | Action::Enable
                | Action::Disable
                | Action::ScheduleDeletion
                | Action::CancelDeletion
                | Action::Destroy
                | Action::SetPolicy
                | Action::Export
                | Action::Update
        )
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
