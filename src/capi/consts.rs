//! The numbers of the C API's enumerations (`KMS_SPEC_*`, `KMS_USAGE_*`, `KMS_STATE_*`,
//! `KMS_ROLE_*`, `KMS_ACTION_*`, `KMS_SIGN_*`) and size constants. Values are the core's
//! `code()` numbers, written as literals for cbindgen; the tests below keep them equal.

// Key specs (`KeySpec::code`).
/// Key spec AES128.
pub const KMS_SPEC_AES128: u32 = 1;
/// Key spec AES256.
pub const KMS_SPEC_AES256: u32 = 2;
/// Key spec HMAC-SHA256.
pub const KMS_SPEC_HMAC_SHA256: u32 = 3;
/// Key spec HMAC-SHA384.
pub const KMS_SPEC_HMAC_SHA384: u32 = 4;
/// Key spec HMAC-SHA512.
pub const KMS_SPEC_HMAC_SHA512: u32 = 5;
/// Key spec EC-P256.
pub const KMS_SPEC_EC_P256: u32 = 6;
/// Key spec EC-P384.
pub const KMS_SPEC_EC_P384: u32 = 7;
/// Key spec ED25519.
pub const KMS_SPEC_ED25519: u32 = 8;
/// Key spec RSA2048.
pub const KMS_SPEC_RSA2048: u32 = 9;
/// Key spec RSA3072.
pub const KMS_SPEC_RSA3072: u32 = 10;
/// Key spec RSA4096.
pub const KMS_SPEC_RSA4096: u32 = 11;
/// Key spec SECRET.
pub const KMS_SPEC_SECRET: u32 = 12;

// Usage bits (`Usage`); OR them together. 0 in `kms_key_params.usage` = the spec's default.
/// Usage bit: encrypt.
pub const KMS_USAGE_ENCRYPT: u32 = 1;
/// Usage bit: decrypt.
pub const KMS_USAGE_DECRYPT: u32 = 2;
/// Usage bit: sign.
pub const KMS_USAGE_SIGN: u32 = 4;
/// Usage bit: verify.
pub const KMS_USAGE_VERIFY: u32 = 8;
/// Usage bit: mac.
pub const KMS_USAGE_MAC: u32 = 16;
/// Usage bit: wrap.
pub const KMS_USAGE_WRAP: u32 = 32;
/// Usage bit: unwrap.
pub const KMS_USAGE_UNWRAP: u32 = 64;
/// Usage bit: derive.
pub const KMS_USAGE_DERIVE: u32 = 128;

// Key states (`KeyState::code`).
/// Key state pre-active.
pub const KMS_STATE_PRE_ACTIVE: u32 = 1;
/// Key state active.
pub const KMS_STATE_ACTIVE: u32 = 2;
/// Key state suspended.
pub const KMS_STATE_SUSPENDED: u32 = 3;
/// Key state deactivated.
pub const KMS_STATE_DEACTIVATED: u32 = 4;
/// Key state pending-deletion.
pub const KMS_STATE_PENDING_DELETION: u32 = 5;
/// Key state destroyed.
pub const KMS_STATE_DESTROYED: u32 = 6;

// Role bits (`Roles`); more than one needs `combined_roles`.
/// Role bit: admin.
pub const KMS_ROLE_ADMIN: u32 = 1;
/// Role bit: user.
pub const KMS_ROLE_USER: u32 = 2;
/// Role bit: auditor.
pub const KMS_ROLE_AUDITOR: u32 = 4;
/// Role bit: security officer.
pub const KMS_ROLE_SECURITY_OFFICER: u32 = 8;

// Actions (`Action::code`), the unit of grants and audit records.
/// Action encrypt.
pub const KMS_ACTION_ENCRYPT: u32 = 1;
/// Action decrypt.
pub const KMS_ACTION_DECRYPT: u32 = 2;
/// Action generate-data-key.
pub const KMS_ACTION_GENERATE_DATA_KEY: u32 = 3;
/// Action re-encrypt.
pub const KMS_ACTION_RE_ENCRYPT: u32 = 4;
/// Action sign.
pub const KMS_ACTION_SIGN: u32 = 5;
/// Action verify.
pub const KMS_ACTION_VERIFY: u32 = 6;
/// Action mac.
pub const KMS_ACTION_MAC: u32 = 7;
/// Action wrap.
pub const KMS_ACTION_WRAP: u32 = 8;
/// Action unwrap.
pub const KMS_ACTION_UNWRAP: u32 = 9;
/// Action derive.
pub const KMS_ACTION_DERIVE: u32 = 10;
/// Action get-public-key.
pub const KMS_ACTION_GET_PUBLIC_KEY: u32 = 11;
/// Action create.
pub const KMS_ACTION_CREATE: u32 = 12;
/// Action import.
pub const KMS_ACTION_IMPORT: u32 = 13;
/// Action describe.
pub const KMS_ACTION_DESCRIBE: u32 = 14;
/// Action list.
pub const KMS_ACTION_LIST: u32 = 15;
/// Action rotate.
pub const KMS_ACTION_ROTATE: u32 = 16;
/// Action enable.
pub const KMS_ACTION_ENABLE: u32 = 17;
/// Action disable.
pub const KMS_ACTION_DISABLE: u32 = 18;
/// Action schedule-deletion.
pub const KMS_ACTION_SCHEDULE_DELETION: u32 = 19;
/// Action cancel-deletion.
pub const KMS_ACTION_CANCEL_DELETION: u32 = 20;
/// Action destroy.
pub const KMS_ACTION_DESTROY: u32 = 21;
/// Action set-policy.
pub const KMS_ACTION_SET_POLICY: u32 = 22;
/// Action export.
pub const KMS_ACTION_EXPORT: u32 = 23;
/// Action update.
pub const KMS_ACTION_UPDATE: u32 = 24;
/// Action manage-identities.
pub const KMS_ACTION_MANAGE_IDENTITIES: u32 = 25;
/// Action read-audit.
pub const KMS_ACTION_READ_AUDIT: u32 = 26;
/// Action authenticate.
pub const KMS_ACTION_AUTHENTICATE: u32 = 27;
/// Action random.
pub const KMS_ACTION_RANDOM: u32 = 28;
/// Action maintain.
pub const KMS_ACTION_MAINTAIN: u32 = 29;
/// Action manage-store.
pub const KMS_ACTION_MANAGE_STORE: u32 = 30;
/// Action write-object (PKCS#11 certificates and data objects).
pub const KMS_ACTION_WRITE_OBJECT: u32 = 31;
/// Action put-secret (write or delete an application secret with a key).
pub const KMS_ACTION_PUT_SECRET: u32 = 32;
/// Action get-secret (read an application secret protected by a key).
pub const KMS_ACTION_GET_SECRET: u32 = 33;

// Signing algorithms (`SignAlg::code`).
/// Signing algorithm ECDSA_SHA256.
pub const KMS_SIGN_ECDSA_SHA256: u32 = 1;
/// Signing algorithm ECDSA_SHA384.
pub const KMS_SIGN_ECDSA_SHA384: u32 = 2;
/// Signing algorithm ECDSA_SHA512.
pub const KMS_SIGN_ECDSA_SHA512: u32 = 3;
/// Signing algorithm ED25519.
pub const KMS_SIGN_ED25519: u32 = 4;
/// Signing algorithm RSA_PKCS1_SHA256.
pub const KMS_SIGN_RSA_PKCS1_SHA256: u32 = 5;
/// Signing algorithm RSA_PKCS1_SHA384.
pub const KMS_SIGN_RSA_PKCS1_SHA384: u32 = 6;
/// Signing algorithm RSA_PKCS1_SHA512.
pub const KMS_SIGN_RSA_PKCS1_SHA512: u32 = 7;
/// Signing algorithm RSA_PSS_SHA256.
pub const KMS_SIGN_RSA_PSS_SHA256: u32 = 8;
/// Signing algorithm RSA_PSS_SHA384.
pub const KMS_SIGN_RSA_PSS_SHA384: u32 = 9;
/// Signing algorithm RSA_PSS_SHA512.
pub const KMS_SIGN_RSA_PSS_SHA512: u32 = 10;

/// Bytes a ciphertext from `kms_encrypt` adds to its plaintext (27-byte header + 16-byte
/// tag): a buffer of `plaintext_len + KMS_CIPHERTEXT_OVERHEAD` always fits.
pub const KMS_CIPHERTEXT_OVERHEAD: usize = 43;
/// The largest signature any key spec makes (RSA-4096: 512 bytes).
pub const KMS_MAX_SIGNATURE: usize = 512;
/// The largest MAC any key spec makes (HMAC-SHA512: 64 bytes).
pub const KMS_MAX_MAC: usize = 64;
/// `kms_key_schedule_deletion` days value meaning "the store's default waiting period".
pub const KMS_DELETION_DEFAULT: u32 = 0xFFFF_FFFF;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crypto::SignAlg;
    use crate::core::{Action, KeySpec, KeyState, Roles, Usage};

    #[test]
    fn numbers_equal_the_cores() {
        let specs = [
            (KMS_SPEC_AES128, KeySpec::Aes128),
            (KMS_SPEC_AES256, KeySpec::Aes256),
            (KMS_SPEC_HMAC_SHA256, KeySpec::HmacSha256),
            (KMS_SPEC_HMAC_SHA384, KeySpec::HmacSha384),
            (KMS_SPEC_HMAC_SHA512, KeySpec::HmacSha512),
            (KMS_SPEC_EC_P256, KeySpec::EcP256),
            (KMS_SPEC_EC_P384, KeySpec::EcP384),
            (KMS_SPEC_ED25519, KeySpec::Ed25519),
            (KMS_SPEC_RSA2048, KeySpec::Rsa2048),
            (KMS_SPEC_RSA3072, KeySpec::Rsa3072),
            (KMS_SPEC_RSA4096, KeySpec::Rsa4096),
            (KMS_SPEC_SECRET, KeySpec::Secret),
        ];
        for (c, s) in specs {
            assert_eq!(c, s.code(), "{s:?}");
        }
        assert_eq!(specs.len(), KeySpec::ALL.len());
        let usages = [
            (KMS_USAGE_ENCRYPT, Usage::ENCRYPT),
            (KMS_USAGE_DECRYPT, Usage::DECRYPT),
            (KMS_USAGE_SIGN, Usage::SIGN),
            (KMS_USAGE_VERIFY, Usage::VERIFY),
            (KMS_USAGE_MAC, Usage::MAC),
            (KMS_USAGE_WRAP, Usage::WRAP),
            (KMS_USAGE_UNWRAP, Usage::UNWRAP),
            (KMS_USAGE_DERIVE, Usage::DERIVE),
        ];
        for (c, u) in usages {
            assert_eq!(c, u.0, "{u:?}");
        }
        assert_eq!(usages.iter().fold(0, |a, (c, _)| a | c), Usage::ALL_BITS);
        let states = [
            (KMS_STATE_PRE_ACTIVE, KeyState::PreActive),
            (KMS_STATE_ACTIVE, KeyState::Active),
            (KMS_STATE_SUSPENDED, KeyState::Suspended),
            (KMS_STATE_DEACTIVATED, KeyState::Deactivated),
            (KMS_STATE_PENDING_DELETION, KeyState::PendingDeletion),
            (KMS_STATE_DESTROYED, KeyState::Destroyed),
        ];
        for (c, s) in states {
            assert_eq!(c, s.code(), "{s:?}");
        }
        assert_eq!(states.len(), KeyState::ALL.len());
        let roles = [
            (KMS_ROLE_ADMIN, Roles::ADMIN),
            (KMS_ROLE_USER, Roles::USER),
            (KMS_ROLE_AUDITOR, Roles::AUDITOR),
            (KMS_ROLE_SECURITY_OFFICER, Roles::SECURITY_OFFICER),
        ];
        for (c, r) in roles {
            assert_eq!(c, r.0, "{r:?}");
        }
        assert_eq!(roles.iter().fold(0, |a, (c, _)| a | c), Roles::ALL_BITS);
        let actions = [
            (KMS_ACTION_ENCRYPT, Action::Encrypt),
            (KMS_ACTION_DECRYPT, Action::Decrypt),
            (KMS_ACTION_GENERATE_DATA_KEY, Action::GenerateDataKey),
            (KMS_ACTION_RE_ENCRYPT, Action::ReEncrypt),
            (KMS_ACTION_SIGN, Action::Sign),
            (KMS_ACTION_VERIFY, Action::Verify),
            (KMS_ACTION_MAC, Action::Mac),
            (KMS_ACTION_WRAP, Action::Wrap),
            (KMS_ACTION_UNWRAP, Action::Unwrap),
            (KMS_ACTION_DERIVE, Action::Derive),
            (KMS_ACTION_GET_PUBLIC_KEY, Action::GetPublicKey),
            (KMS_ACTION_CREATE, Action::Create),
            (KMS_ACTION_IMPORT, Action::Import),
            (KMS_ACTION_DESCRIBE, Action::Describe),
            (KMS_ACTION_LIST, Action::List),
            (KMS_ACTION_ROTATE, Action::Rotate),
            (KMS_ACTION_ENABLE, Action::Enable),
            (KMS_ACTION_DISABLE, Action::Disable),
            (KMS_ACTION_SCHEDULE_DELETION, Action::ScheduleDeletion),
            (KMS_ACTION_CANCEL_DELETION, Action::CancelDeletion),
            (KMS_ACTION_DESTROY, Action::Destroy),
            (KMS_ACTION_SET_POLICY, Action::SetPolicy),
            (KMS_ACTION_EXPORT, Action::Export),
            (KMS_ACTION_UPDATE, Action::Update),
            (KMS_ACTION_MANAGE_IDENTITIES, Action::ManageIdentities),
            (KMS_ACTION_READ_AUDIT, Action::ReadAudit),
            (KMS_ACTION_AUTHENTICATE, Action::Authenticate),
            (KMS_ACTION_RANDOM, Action::Random),
            (KMS_ACTION_MAINTAIN, Action::Maintain),
            (KMS_ACTION_MANAGE_STORE, Action::ManageStore),
            (KMS_ACTION_WRITE_OBJECT, Action::WriteObject),
            (KMS_ACTION_PUT_SECRET, Action::PutSecret),
            (KMS_ACTION_GET_SECRET, Action::GetSecret),
        ];
        for (c, a) in actions {
            assert_eq!(c, a.code(), "{a:?}");
        }
        assert_eq!(actions.len(), Action::ALL.len());
        let signs = [
            (KMS_SIGN_ECDSA_SHA256, SignAlg::EcdsaSha256),
            (KMS_SIGN_ECDSA_SHA384, SignAlg::EcdsaSha384),
            (KMS_SIGN_ECDSA_SHA512, SignAlg::EcdsaSha512),
            (KMS_SIGN_ED25519, SignAlg::Ed25519),
            (KMS_SIGN_RSA_PKCS1_SHA256, SignAlg::RsaPkcs1Sha256),
            (KMS_SIGN_RSA_PKCS1_SHA384, SignAlg::RsaPkcs1Sha384),
            (KMS_SIGN_RSA_PKCS1_SHA512, SignAlg::RsaPkcs1Sha512),
            (KMS_SIGN_RSA_PSS_SHA256, SignAlg::RsaPssSha256),
            (KMS_SIGN_RSA_PSS_SHA384, SignAlg::RsaPssSha384),
            (KMS_SIGN_RSA_PSS_SHA512, SignAlg::RsaPssSha512),
        ];
        for (c, a) in signs {
            assert_eq!(c, a.code(), "{a:?}");
        }
        assert_eq!(signs.len(), SignAlg::ALL.len());
        use crate::core::ciphertext::{HEADER_LEN, TAG_LEN};
        assert_eq!(KMS_CIPHERTEXT_OVERHEAD, HEADER_LEN + TAG_LEN);
    }
}
