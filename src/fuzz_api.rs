//! Entry points for the cargo-fuzz targets in `fuzz/` and the test of their seed corpus
//! (`tests/fuzz_corpus.rs`): thin wrappers that reach private decoders without changing them,
//! and the fixed keys the targets decrypt with. Not a supported API.

/// The PKCS#11 types and constants the templates are made of.
pub use cryptoki_sys as pkcs11_sys;
use cryptoki_sys::{CK_ATTRIBUTE, CK_RV, CK_ULONG};

use crate::core::backup::BackupSecret;
pub use crate::core::backup::{unwrap_payload, wrap_payload};
use crate::core::ciphertext::Context;
use crate::core::crypto::Secret;
use crate::core::seal::{KdfParams, Sealer};
use crate::core::{KeyRecord, KeySpec, KeyState, Origin, Result, Usage};

/// Material of the AES-256 key the `ciphertext` target decrypts with.
pub const AES256_KEY: [u8; 32] = *b"kms-fuzz-aes256-key-material-32b";
/// Material of the AES-128 key the `ciphertext` target decrypts with.
pub const AES128_KEY: [u8; 16] = *b"kms-fuzz-aes128k";
/// The backup key of the `backup` target.
pub const BACKUP_KEY: [u8; 32] = *b"kms-fuzz-backup-key-material-32b";
/// Store id, KEK id and KEK of the `sealed` target's sealer.
pub const STORE_ID: [u8; 16] = *b"kms-fuzz-storeid";
pub const KEK_ID: u32 = 7;
pub const KEK: [u8; 32] = *b"kms-fuzz-master-kek-material-32b";

/// Opens a ciphertext (the format of `kms::core::ciphertext`) with the fixed key of `spec`
/// (AES-256 or AES-128) and context `ctx`, as `Kms::decrypt` does once it holds the key.
pub fn open_ciphertext(spec: KeySpec, ct: &[u8], ctx: &Context) -> Result<Secret> {
    let material: &[u8] = if spec == KeySpec::Aes128 {
        &AES128_KEY
    } else {
        &AES256_KEY
    };
    let k = KeyRecord {
        id: 1,
        keyring: 1,
        name: None,
        spec,
        usage: Usage::ENCRYPT | Usage::DECRYPT,
        state: KeyState::Active,
        prior_state: None,
        compromised: false,
        primary_version: 1,
        min_decrypt_version: 1,
        exportable: false,
        origin: Origin::Imported,
        created: 0,
        activation_date: None,
        rotation_period: None,
        rotate_after_uses: None,
        last_rotated: 0,
        deletion_date: None,
        destroyed_at: None,
        owner: String::new(),
        description: String::new(),
        tags: Vec::new(),
        ext_id: Vec::new(),
        attrs: Vec::new(),
    };
    crate::core::ops::open_message(&k, material, ct, ctx)
}

/// A sealer holding the fixed KEK (`KEK_ID`, current) of store `STORE_ID`.
pub fn sealer() -> Sealer {
    Sealer::from_parts(
        STORE_ID,
        Secret::new(vec![0x5a; 32]),
        KEK_ID,
        Secret::new(KEK.to_vec()),
    )
}

/// The master key file parser (`kms-master-key-v1 <hex>`).
pub fn parse_key_file(text: &str) -> Option<Secret> {
    crate::core::seal::parse_key_file(text)
}

/// The decoder of the stored Argon2id parameters of a passphrase-protected store.
pub fn decode_kdf_params(v: &[u8]) -> Result<KdfParams> {
    crate::core::seal::decode_params(v)
}

/// The store's text encoding of key tags and grant conditions (`key=value` lines, escaped).
pub fn encode_pairs(pairs: &[(String, String)]) -> String {
    crate::core::store::sqlite::encode_pairs(pairs)
}

/// The decoder of [`encode_pairs`]'s text.
pub fn decode_pairs(text: &str) -> Vec<(String, String)> {
    crate::core::store::sqlite::decode_pairs(text)
}

/// One usage-journal entry (magic, length, payload, CRC-32C) around an encoded audit record.
pub fn journal_frame(payload: &[u8]) -> Vec<u8> {
    crate::core::journal::frame(payload)
}

/// The secret of the `backup` target's files.
pub fn backup_secret() -> BackupSecret {
    BackupSecret::Key(Secret::new(BACKUP_KEY.to_vec()))
}

/// Reads a public and a private key template from caller memory and derives the core fields
/// from them as the PKCS#11 front end does (`C_GenerateKeyPair`, `C_GenerateKey`,
/// `C_CreateObject`); the error is the `CK_RV` the module would return.
///
/// # Safety
/// Each (pointer, count) pair must be valid as a PKCS#11 caller's template is: `count`
/// attributes at the pointer (NULL when the count is 0), each `pValue` valid for reading
/// `ulValueLen` bytes (or NULL).
pub unsafe fn pkcs11_templates(
    public: (*const CK_ATTRIBUTE, CK_ULONG),
    private: (*const CK_ATTRIBUTE, CK_ULONG),
) -> std::result::Result<(), CK_RV> {
    crate::pkcs11::decode_templates(public, private)
}
