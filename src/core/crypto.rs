//! Cryptographic primitives over aws-lc-rs: generation, AEAD, signatures, MAC, wrap, KDF.
//! (Minimal placeholder set used while the full module is written on its own branch.)

use crate::core::error::{Error, Result};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use zeroize::Zeroizing;

pub type Secret = Zeroizing<Vec<u8>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

pub fn random(out: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(out).map_err(|_| Error::crypto("random generator failed"))
}

pub fn random_vec(len: usize) -> Result<Secret> {
    let mut v = Zeroizing::new(vec![0u8; len]);
    random(&mut v)?;
    Ok(v)
}

fn gcm_key(key: &[u8]) -> Result<LessSafeKey> {
    let alg = match key.len() {
        16 => &AES_128_GCM,
        32 => &AES_256_GCM,
        n => return Err(Error::invalid(format!("AES-GCM key of {n} bytes"))),
    };
    Ok(LessSafeKey::new(
        UnboundKey::new(alg, key).map_err(|_| Error::crypto("bad AES key"))?,
    ))
}

pub fn aes_gcm_seal(key: &[u8], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let k = gcm_key(key)?;
    let mut buf = plaintext.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| Error::crypto("AES-GCM seal failed"))?;
    Ok(buf)
}

pub fn aes_gcm_open(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Result<Secret> {
    let k = gcm_key(key)?;
    let mut buf = Zeroizing::new(ct.to_vec());
    let n = k
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| Error::bad_ciphertext("authentication failed"))?
        .len();
    buf.truncate(n);
    Ok(buf)
}

pub fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest;
    let a = match alg {
        HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha224 => &digest::SHA224,
        HashAlg::Sha256 => &digest::SHA256,
        HashAlg::Sha384 => &digest::SHA384,
        HashAlg::Sha512 => &digest::SHA512,
    };
    digest::digest(a, data).as_ref().to_vec()
}

pub fn hmac(alg: HashAlg, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    use aws_lc_rs::hmac;
    let a = match alg {
        HashAlg::Sha256 => hmac::HMAC_SHA256,
        HashAlg::Sha384 => hmac::HMAC_SHA384,
        HashAlg::Sha512 => hmac::HMAC_SHA512,
        _ => return Err(Error::unsupported("HMAC hash")),
    };
    Ok(hmac::sign(&hmac::Key::new(a, key), data).as_ref().to_vec())
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

// ---- placeholders replaced by the full module ----
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignAlg {
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    Ed25519,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OaepHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}
use crate::core::types::KeySpec;
pub fn generate(spec: KeySpec) -> Result<Secret> {
    match spec {
        KeySpec::Aes128 => random_vec(16),
        KeySpec::Aes256 | KeySpec::HmacSha256 | KeySpec::Secret => random_vec(32),
        KeySpec::HmacSha384 => random_vec(48),
        KeySpec::HmacSha512 => random_vec(64),
        _ => Err(Error::unsupported("placeholder")),
    }
}
pub fn validate_import(_spec: KeySpec, m: &[u8]) -> Result<Secret> {
    Ok(Zeroizing::new(m.to_vec()))
}
pub fn public_key_spki(_spec: KeySpec, _m: &[u8]) -> Result<Vec<u8>> {
    Err(Error::unsupported("placeholder"))
}
pub fn sign(_s: KeySpec, _m: &[u8], _a: SignAlg, _msg: &[u8]) -> Result<Vec<u8>> {
    Err(Error::unsupported("placeholder"))
}
pub fn sign_digest(_s: KeySpec, _m: &[u8], _a: SignAlg, _d: &[u8]) -> Result<Vec<u8>> {
    Err(Error::unsupported("placeholder"))
}
pub fn verify(_s: KeySpec, _spki: &[u8], _a: SignAlg, _msg: &[u8], _sig: &[u8]) -> Result<()> {
    Err(Error::unsupported("placeholder"))
}
pub fn verify_digest(_s: KeySpec, _spki: &[u8], _a: SignAlg, _d: &[u8], _sig: &[u8]) -> Result<()> {
    Err(Error::unsupported("placeholder"))
}
pub fn aes_kwp_wrap(_k: &[u8], _d: &[u8]) -> Result<Vec<u8>> {
    Err(Error::unsupported("placeholder"))
}
pub fn aes_kwp_unwrap(_k: &[u8], _d: &[u8]) -> Result<Secret> {
    Err(Error::unsupported("placeholder"))
}
pub fn hkdf(_h: HashAlg, _ikm: &[u8], _salt: &[u8], _info: &[u8], _n: usize) -> Result<Secret> {
    Err(Error::unsupported("placeholder"))
}
pub fn ecdh(_s: KeySpec, _m: &[u8], _p: &[u8]) -> Result<Secret> {
    Err(Error::unsupported("placeholder"))
}
pub fn rsa_oaep_decrypt(_m: &[u8], _h: OaepHash, _l: &[u8], _c: &[u8]) -> Result<Secret> {
    Err(Error::unsupported("placeholder"))
}
pub fn hmac_verify(alg: HashAlg, key: &[u8], data: &[u8], tag: &[u8]) -> Result<()> {
    if ct_eq(&hmac(alg, key, data)?, tag) {
        Ok(())
    } else {
        Err(Error::new(
            crate::core::ErrorKind::VerificationFailed,
            "MAC mismatch",
        ))
    }
}
impl SignAlg {
    pub fn fits(self, spec: KeySpec) -> bool {
        match self {
            SignAlg::EcdsaSha256 | SignAlg::EcdsaSha384 | SignAlg::EcdsaSha512 => spec.is_ec(),
            SignAlg::Ed25519 => spec == KeySpec::Ed25519,
            _ => spec.is_rsa(),
        }
    }
}
