//! The one mechanism table: every supported `CKM_*` with its key sizes and `CKF_*` flags
//! (`C_GetMechanismList`/`C_GetMechanismInfo`), and the translation of mechanism types to the
//! core's hashes and algorithms.

use cryptoki_sys::*;

use super::ffi::Rv;
use crate::core::crypto::{HashAlg, OaepHash, SignAlg};

/// One row: mechanism, min and max key size (bytes for AES/secrets, bits for RSA/EC), flags.
pub struct MechRow {
    pub ty: CK_MECHANISM_TYPE,
    pub min: CK_ULONG,
    pub max: CK_ULONG,
    pub flags: CK_FLAGS,
}

const HW: CK_FLAGS = CKF_HW;
const ENC: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
const SIG: CK_FLAGS = CKF_SIGN | CKF_VERIFY;
const EC: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;

const fn row(ty: CK_MECHANISM_TYPE, min: CK_ULONG, max: CK_ULONG, flags: CK_FLAGS) -> MechRow {
    MechRow {
        ty,
        min,
        max,
        flags: flags | HW,
    }
}

pub const TABLE: &[MechRow] = &[
    row(CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE),
    row(CKM_AES_GCM, 16, 32, ENC),
    row(CKM_AES_CBC_PAD, 16, 32, ENC),
    row(CKM_AES_CTR, 16, 32, ENC),
    row(CKM_AES_KEY_WRAP, 16, 32, ENC | CKF_WRAP | CKF_UNWRAP),
    row(CKM_AES_KEY_WRAP_PAD, 16, 32, ENC | CKF_WRAP | CKF_UNWRAP),
    row(CKM_GENERIC_SECRET_KEY_GEN, 1, 65536, CKF_GENERATE),
    row(CKM_SHA256_HMAC, 16, 1024, SIG),
    row(CKM_SHA384_HMAC, 16, 1024, SIG),
    row(CKM_SHA512_HMAC, 16, 1024, SIG),
    row(CKM_SHA_1, 0, 0, CKF_DIGEST),
    row(CKM_SHA224, 0, 0, CKF_DIGEST),
    row(CKM_SHA256, 0, 0, CKF_DIGEST),
    row(CKM_SHA384, 0, 0, CKF_DIGEST),
    row(CKM_SHA512, 0, 0, CKF_DIGEST),
    row(CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_GENERATE_KEY_PAIR | EC),
    row(CKM_ECDSA, 256, 384, SIG | EC),
    row(CKM_ECDSA_SHA256, 256, 384, SIG | EC),
    row(CKM_ECDSA_SHA384, 256, 384, SIG | EC),
    row(CKM_ECDSA_SHA512, 256, 384, SIG | EC),
    row(CKM_ECDH1_DERIVE, 256, 384, CKF_DERIVE | EC),
    row(CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 255, CKF_GENERATE_KEY_PAIR),
    row(CKM_EDDSA, 255, 255, SIG),
    row(CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_GENERATE_KEY_PAIR),
    row(CKM_RSA_PKCS, 2048, 4096, SIG),
    row(CKM_SHA256_RSA_PKCS, 2048, 4096, SIG),
    row(CKM_SHA384_RSA_PKCS, 2048, 4096, SIG),
    row(CKM_SHA512_RSA_PKCS, 2048, 4096, SIG),
    row(CKM_RSA_PKCS_PSS, 2048, 4096, SIG),
    row(CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, SIG),
    row(CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, SIG),
    row(CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, SIG),
    row(CKM_RSA_PKCS_OAEP, 2048, 4096, ENC),
    row(CKM_HKDF_DERIVE, 1, 65536, CKF_DERIVE),
];

pub fn info(ty: CK_MECHANISM_TYPE) -> Rv<&'static MechRow> {
    TABLE
        .iter()
        .find(|r| r.ty == ty)
        .ok_or(CKR_MECHANISM_INVALID)
}

/// The hash of a digest mechanism (`CKM_SHA256` ...), as used in parameters too.
pub fn hash_of(ty: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    match ty {
        CKM_SHA_1 => Some(HashAlg::Sha1),
        CKM_SHA224 => Some(HashAlg::Sha224),
        CKM_SHA256 => Some(HashAlg::Sha256),
        CKM_SHA384 => Some(HashAlg::Sha384),
        CKM_SHA512 => Some(HashAlg::Sha512),
        _ => None,
    }
}

/// The hash of an HMAC mechanism.
pub fn hmac_hash(ty: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    match ty {
        CKM_SHA256_HMAC => Some(HashAlg::Sha256),
        CKM_SHA384_HMAC => Some(HashAlg::Sha384),
        CKM_SHA512_HMAC => Some(HashAlg::Sha512),
        _ => None,
    }
}

/// The MGF1 generator matching a hash.
pub fn mgf_of(h: HashAlg) -> CK_RSA_PKCS_MGF_TYPE {
    match h {
        HashAlg::Sha1 => CKG_MGF1_SHA1,
        HashAlg::Sha224 => CKG_MGF1_SHA224,
        HashAlg::Sha256 => CKG_MGF1_SHA256,
        HashAlg::Sha384 => CKG_MGF1_SHA384,
        HashAlg::Sha512 => CKG_MGF1_SHA512,
    }
}

/// Signature mechanisms that hash the data themselves: (core algorithm, hash).
pub fn hashing_sign_alg(ty: CK_MECHANISM_TYPE) -> Option<SignAlg> {
    match ty {
        CKM_ECDSA_SHA256 => Some(SignAlg::EcdsaSha256),
        CKM_ECDSA_SHA384 => Some(SignAlg::EcdsaSha384),
        CKM_ECDSA_SHA512 => Some(SignAlg::EcdsaSha512),
        CKM_SHA256_RSA_PKCS => Some(SignAlg::RsaPkcs1Sha256),
        CKM_SHA384_RSA_PKCS => Some(SignAlg::RsaPkcs1Sha384),
        CKM_SHA512_RSA_PKCS => Some(SignAlg::RsaPkcs1Sha512),
        CKM_SHA256_RSA_PKCS_PSS => Some(SignAlg::RsaPssSha256),
        CKM_SHA384_RSA_PKCS_PSS => Some(SignAlg::RsaPssSha384),
        CKM_SHA512_RSA_PKCS_PSS => Some(SignAlg::RsaPssSha512),
        _ => None,
    }
}

/// The PSS algorithm for a hash (salt length = hash length, MGF1 with the same hash).
pub fn pss_alg(h: HashAlg) -> Option<SignAlg> {
    match h {
        HashAlg::Sha256 => Some(SignAlg::RsaPssSha256),
        HashAlg::Sha384 => Some(SignAlg::RsaPssSha384),
        HashAlg::Sha512 => Some(SignAlg::RsaPssSha512),
        HashAlg::Sha1 | HashAlg::Sha224 => None,
    }
}

/// OAEP parameters: hash (SHA-1 or SHA-256 family, MGF1 with the same hash) and label.
pub fn oaep(m: &super::ffi::MechIn) -> Rv<(OaepHash, Vec<u8>)> {
    let p: CK_RSA_PKCS_OAEP_PARAMS = m.param()?;
    let (hash, mgf) = match p.hashAlg {
        CKM_SHA_1 => (OaepHash::Sha1, CKG_MGF1_SHA1),
        CKM_SHA256 => (OaepHash::Sha256, CKG_MGF1_SHA256),
        CKM_SHA384 => (OaepHash::Sha384, CKG_MGF1_SHA384),
        CKM_SHA512 => (OaepHash::Sha512, CKG_MGF1_SHA512),
        _ => return Err(CKR_MECHANISM_PARAM_INVALID),
    };
    if p.mgf != mgf {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    let label = match p.source {
        0 => Vec::new(),
        CKZ_DATA_SPECIFIED => super::ffi::bytes(p.pSourceData as *const u8, p.ulSourceDataLen)
            .map_err(|_| CKR_MECHANISM_PARAM_INVALID)?
            .to_vec(),
        _ => return Err(CKR_MECHANISM_PARAM_INVALID),
    };
    Ok((hash, label))
}

/// Checks PSS parameters against the hash the mechanism uses.
pub fn pss_params(m: &super::ffi::MechIn, want: Option<HashAlg>) -> Rv<SignAlg> {
    let p: CK_RSA_PKCS_PSS_PARAMS = m.param()?;
    let h = hash_of(p.hashAlg).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
    if want.is_some_and(|w| w != h)
        || p.mgf != mgf_of(h)
        || super::ffi::len(p.sLen)? != h.output_len()
    {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    pss_alg(h).ok_or(CKR_MECHANISM_PARAM_INVALID)
}
