//! The records the store keeps (keys, versions, identities, grants, objects, audit) and the
//! filters used to look them up. Plain data; no behaviour beyond small helpers.

use crate::core::types::{Action, KeySpec, KeyState, Usage};

/// Where a key's material came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Generated,
    Imported,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Generated => "generated",
            Origin::Imported => "imported",
        }
    }
}

/// A key's metadata (never its material).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    pub id: u64,
    pub keyring: u64,
    pub name: Option<String>,
    pub spec: KeySpec,
    pub usage: Usage,
    pub state: KeyState,
    /// State before deletion was scheduled (restored by cancel).
    pub prior_state: Option<KeyState>,
    pub compromised: bool,
    pub primary_version: u32,
    pub min_decrypt_version: u32,
    pub exportable: bool,
    pub origin: Origin,
    pub created: i64,
    pub activation_date: Option<i64>,
    /// Automatic rotation period in seconds.
    pub rotation_period: Option<i64>,
    /// Automatic rotation after this many uses of the primary version.
    pub rotate_after_uses: Option<u64>,
    pub last_rotated: i64,
    pub deletion_date: Option<i64>,
    pub destroyed_at: Option<i64>,
    pub owner: String,
    pub description: String,
    /// `key=value` pairs, sorted by key.
    pub tags: Vec<(String, String)>,
    /// An external identifier (PKCS#11 `CKA_ID`), indexed.
    pub ext_id: Vec<u8>,
    /// Front-end attributes the core stores but does not interpret (encoded by the front end).
    pub attrs: Vec<u8>,
}

impl KeyRecord {
    pub fn next_rotation(&self) -> Option<i64> {
        self.rotation_period.map(|p| self.last_rotated + p)
    }

    /// The name used in messages: the alias if any, else the id.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} ({n})", self.id),
            None => self.id.to_string(),
        }
    }
}

/// One version of a key: its sealed material and public part.
#[derive(Clone, PartialEq)]
pub struct VersionRecord {
    pub key_id: u64,
    pub version: u32,
    pub created: i64,
    pub destroyed: bool,
    /// Material sealed under the store master key; `None` once destroyed.
    pub sealed: Option<Vec<u8>>,
    /// Public key (SPKI DER) for asymmetric keys.
    pub public: Option<Vec<u8>>,
    /// Number of uses (messages encrypted, signatures made) recorded for this version.
    pub uses: u64,
}

impl std::fmt::Debug for VersionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionRecord")
            .field("key_id", &self.key_id)
            .field("version", &self.version)
            .field("destroyed", &self.destroyed)
            .field("sealed", &self.sealed.as_ref().map(|s| s.len()))
            .field("uses", &self.uses)
            .finish()
    }
}

/// A keyring: a namespace of keys, identities and policies (a PKCS#11 token is one).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyringRecord {
    pub id: u64,
    pub name: String,
    pub created: i64,
    /// Front-end attributes (token label, serial ...).
    pub attrs: Vec<u8>,
}

/// Roles an identity holds within its keyring (bit flags, `KMS_ROLE_*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Roles(pub u32);

impl Roles {
    pub const NONE: Roles = Roles(0);
    /// Manage keys: create, rotate, enable/disable, schedule deletion, set policy.
    pub const ADMIN: Roles = Roles(1);
    /// Use keys: encrypt, decrypt, sign, verify, mac, wrap, derive.
    pub const USER: Roles = Roles(2);
    /// Read and verify the audit trail.
    pub const AUDITOR: Roles = Roles(4);
    /// Manage identities and grants.
    pub const SECURITY_OFFICER: Roles = Roles(8);
    pub const ALL_BITS: u32 = 15;

    pub fn contains(self, r: Roles) -> bool {
        self.0 & r.0 == r.0 && r.0 != 0
    }

    pub fn count(self) -> u32 {
        self.0.count_ones()
    }

    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (r, n) in [
            (Roles::ADMIN, "admin"),
            (Roles::USER, "user"),
            (Roles::AUDITOR, "auditor"),
            (Roles::SECURITY_OFFICER, "security-officer"),
        ] {
            if self.contains(r) {
                v.push(n);
            }
        }
        v
    }

    pub fn parse(list: &str) -> crate::core::Result<Roles> {
        let mut bits = 0;
        for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            bits |= match p.to_ascii_lowercase().as_str() {
                "admin" | "key-admin" | "administrator" => 1,
                "user" | "key-user" => 2,
                "auditor" => 4,
                "so" | "security-officer" => 8,
                other => {
                    return Err(crate::core::Error::invalid(format!(
                        "unknown role '{other}'"
                    )))
                }
            };
        }
        Ok(Roles(bits))
    }
}

impl std::ops::BitOr for Roles {
    type Output = Roles;
    fn bitor(self, r: Roles) -> Roles {
        Roles(self.0 | r.0)
    }
}

/// A named principal.
#[derive(Clone, PartialEq)]
pub struct IdentityRecord {
    pub id: u64,
    pub keyring: u64,
    pub name: String,
    /// Argon2id PHC string of the secret.
    pub phc: String,
    pub roles: Roles,
    /// Set when the policy explicitly allows this identity to combine roles.
    pub combined_roles: bool,
    pub disabled: bool,
    pub failures: u32,
    pub locked: bool,
    pub created: i64,
}

impl std::fmt::Debug for IdentityRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("phc", &"<redacted>")
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .field("locked", &self.locked)
            .finish()
    }
}

/// A set of actions (bit i set = `Action::ALL[i]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionSet(pub u64);

impl ActionSet {
    pub fn of(actions: &[Action]) -> ActionSet {
        let mut s = ActionSet(0);
        for a in actions {
            s.0 |= 1 << (a.code() - 1);
        }
        s
    }

    pub fn contains(self, a: Action) -> bool {
        self.0 & (1 << (a.code() - 1)) != 0
    }

    pub fn actions(self) -> Vec<Action> {
        Action::ALL
            .iter()
            .copied()
            .filter(|a| self.contains(*a))
            .collect()
    }

    pub fn parse(list: &str) -> crate::core::Result<ActionSet> {
        let mut v = Vec::new();
        for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            v.push(Action::parse(p)?);
        }
        Ok(ActionSet::of(&v))
    }
}

impl std::fmt::Debug for ActionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.actions().iter().map(|a| a.name()).collect();
        write!(f, "ActionSet({})", names.join(","))
    }
}

/// A per-key (or keyring-wide, `key_id = None`) grant of actions to an identity.
#[derive(Clone, Debug, PartialEq)]
pub struct GrantRecord {
    pub id: u64,
    pub keyring: u64,
    pub identity: String,
    pub key_id: Option<u64>,
    pub actions: ActionSet,
    pub expires: Option<i64>,
    pub max_uses: Option<u64>,
    pub uses: u64,
    /// Required encryption-context pairs (all must be present with these values).
    pub context: Vec<(String, String)>,
    pub created: i64,
}

/// Outcome of a request as recorded in the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Error,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "ok" => Some(Outcome::Ok),
            "denied" => Some(Outcome::Denied),
            "error" => Some(Outcome::Error),
            _ => None,
        }
    }
}

/// One audit record. Never holds plaintext, key material, secrets or PINs.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Position in the chain (1-based); assigned when appended.
    pub seq: u64,
    /// Microseconds since the epoch.
    pub time: i64,
    pub keyring: u64,
    pub identity: String,
    pub action: String,
    pub key_id: Option<u64>,
    pub key_version: Option<u32>,
    pub outcome: Outcome,
    /// Error kind name when the outcome is not ok.
    pub error: String,
    /// Encryption-context keys (values only when configured).
    pub context: String,
    pub pid: u32,
    pub request_id: String,
    /// Free text detail (new state, grant summary ...), never secret.
    pub detail: String,
    /// Hash of the previous record (chain), set when appended.
    pub prev_hash: Vec<u8>,
    /// Hash of this record, set when appended.
    pub hash: Vec<u8>,
}

/// A run of consecutive usage records stored as one row (the background chaining writes
/// each pass this way): the records' encoded bodies, the link into the chain before the
/// first and the hash of the last. Each record's own hash is the same as if it were stored
/// alone, so readers recompute the links inside the batch (see docs/at-rest.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditBatch {
    pub first_seq: u64,
    pub last_seq: u64,
    /// Earliest and latest record time in the batch (time filters).
    pub min_time: i64,
    pub max_time: i64,
    /// The hash of record `first_seq - 1`.
    pub prev_hash: Vec<u8>,
    /// The hash of record `last_seq`.
    pub hash: Vec<u8>,
    /// Each record as a 4-byte big-endian length and the record encoded as in the usage
    /// journal.
    pub body: Vec<u8>,
}

/// Which batches an audit query needs: those holding a record after `after_seq`, wholly
/// before `before_seq` (paging newest first), holding every one of `terms` (`audit::term_*`)
/// and overlapping the time range `since..until`.
#[derive(Clone, Debug, Default)]
pub struct BatchQuery {
    pub after_seq: u64,
    pub before_seq: Option<u64>,
    pub terms: Vec<Vec<u8>>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub descending: bool,
    pub limit: u64,
}

/// A filter for audit queries. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub key_id: Option<u64>,
    pub identity: Option<String>,
    pub action: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub after_seq: Option<u64>,
    /// Only records before this sequence number (paging newest first).
    pub before_seq: Option<u64>,
    pub limit: Option<u64>,
    /// Newest first.
    pub descending: bool,
}

/// A filter for key listings. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct KeyFilter {
    pub keyring: u64,
    pub name: Option<String>,
    pub name_prefix: Option<String>,
    pub ext_id: Option<Vec<u8>>,
    pub spec: Option<KeySpec>,
    pub state: Option<KeyState>,
    pub tag: Option<(String, String)>,
    pub include_destroyed: bool,
    /// Return keys with id greater than this (paging).
    pub after_id: u64,
    pub limit: Option<u64>,
}

/// A stored object that is not a key: an X.509 certificate, a data object, an application
/// secret version. The value is sealed when `sensitive`.
#[derive(Clone, PartialEq)]
pub struct ObjectRecord {
    pub id: u64,
    pub keyring: u64,
    /// `certificate`, `data`, `secret` ...
    pub class: String,
    pub label: String,
    pub ext_id: Vec<u8>,
    pub value: Vec<u8>,
    pub sensitive: bool,
    /// Front-end attributes the core stores but does not interpret.
    pub attrs: Vec<u8>,
    pub created: i64,
    /// For application secrets: the version number and the key protecting the value.
    pub version: u32,
    pub key_id: Option<u64>,
    pub deleted: bool,
}

impl std::fmt::Debug for ObjectRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRecord")
            .field("id", &self.id)
            .field("class", &self.class)
            .field("label", &self.label)
            .field("value_len", &self.value.len())
            .finish()
    }
}

/// A signed checkpoint over the audit chain head.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointRecord {
    pub seq: u64,
    pub head_hash: Vec<u8>,
    pub time: i64,
    pub mac: Vec<u8>,
}
