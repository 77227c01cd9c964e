//! Cryptographic primitives over aws-lc-rs: generation, AEAD, signatures, MAC, wrap, KDF.
//!
//! Pure functions, no global state. Key material is passed as bytes:
//! symmetric keys (AES, HMAC, secret data) are raw bytes; EC P-256/P-384, Ed25519 and RSA
//! private keys are PKCS#8 v1 DER (`validate_import` normalises to that form). Public keys
//! are SubjectPublicKeyInfo DER. Secret outputs are [`Secret`] and are zeroized on drop.
//! Every failure is an [`Error`]; no function panics on caller input.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::{
    aead, agreement, cipher, constant_time, digest as lc_digest, hkdf as lc_hkdf, hmac as lc_hmac,
    key_wrap, rand as lc_rand, rsa as lc_rsa, signature as lc_sig,
};
use zeroize::{Zeroize, Zeroizing};

use crate::core::{Error, ErrorKind, KeySpec, Result};
use crate::secmem::SecureBuf;

/// Secret bytes (key material, plaintext, data keys): kept in the secure-memory arena
/// (excluded from core dumps, locked in RAM where the limit allows; see `crate::secmem`),
/// zeroized on drop, redacted in `Debug`. Build one in place ([`Secret::zeroed`],
/// [`Secret::from_slice`]) rather than from a `Vec`, which leaves the `Vec`'s heap copy to be
/// wiped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(SecureBuf);

impl Secret {
    /// Takes the bytes of `bytes` (copied into the arena; the `Vec` is wiped, spare capacity
    /// included).
    pub fn new(mut bytes: Vec<u8>) -> Secret {
        let s = Secret(SecureBuf::from_slice(&bytes));
        bytes.resize(bytes.capacity(), 0);
        crate::secmem::wipe(&mut bytes);
        s
    }

    /// `len` zero bytes, to be filled in place.
    pub fn zeroed(len: usize) -> Secret {
        Secret(SecureBuf::zeroed(len))
    }

    /// A copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Secret {
        Secret(SecureBuf::from_slice(bytes))
    }

    /// An empty secret with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Secret {
        Secret(SecureBuf::with_capacity(cap))
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    pub fn push(&mut self, b: u8) {
        self.0.push(b);
    }

    /// Shortens to `len` bytes, zeroizing the rest.
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// A copy of the bytes in an ordinary (zeroizing) heap `Vec`, for the rare API that needs
    /// an owned `Vec` (the copy is outside the secure arena).
    pub fn to_zeroizing_vec(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_vec())
    }
}

impl std::ops::Deref for Secret {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for Secret {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Secret {
        Secret::new(v)
    }
}

impl From<Zeroizing<Vec<u8>>> for Secret {
    fn from(v: Zeroizing<Vec<u8>>) -> Secret {
        Secret(SecureBuf::from_slice(&v))
    }
}

impl From<&[u8]> for Secret {
    fn from(v: &[u8]) -> Secret {
        Secret::from_slice(v)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// Length of an AES-GCM nonce.
pub const GCM_NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub const GCM_TAG_LEN: usize = 16;
/// AES block (and CBC/CTR IV) length.
pub const AES_BLOCK_LEN: usize = 16;

const MIN_HMAC_KEY_LEN: usize = 16;
const MAX_HMAC_KEY_LEN: usize = 1024;
const MAX_SECRET_LEN: usize = 64 * 1024;
const SECRET_GEN_LEN: usize = 32;

fn secret_from(bytes: &[u8]) -> Secret {
    Secret::from_slice(bytes)
}

// ---------------------------------------------------------------------------------------------
// Randomness and constant-time comparison
// ---------------------------------------------------------------------------------------------

/// Fills `out` with bytes from the system CSPRNG (AWS-LC's DRBG).
pub fn random(out: &mut [u8]) -> Result<()> {
    lc_rand::fill(out).map_err(|_| Error::crypto("random generator failed"))
}

/// Random bytes for a message nonce (at most 64 bytes). Each thread draws 1 KiB at a time
/// from the same generator as [`random`] and hands it out in order, so a message costs a
/// copy instead of a generator call (which re-seeds from the CPU for prediction resistance
/// on every call: about a sixth of an audited 1 KiB encryption). Nonces are public; what
/// matters is that none repeats: the pool is thrown away in a forked child (it is tagged
/// with the process id, which the fork handlers refresh), so parent and child never hand
/// out the same bytes (`tests/nonces.rs`).
pub fn random_nonce(out: &mut [u8]) -> Result<()> {
    const POOL: usize = 1024;
    struct Pool {
        bytes: [u8; POOL],
        at: usize,
        pid: u32,
    }
    thread_local! {
        static NONCES: std::cell::RefCell<Pool> = const {
            std::cell::RefCell::new(Pool { bytes: [0; POOL], at: POOL, pid: 0 })
        };
    }
    if out.len() > 64 {
        return random(out);
    }
    let pid = crate::boundary::fork::pid();
    NONCES.with(|p| {
        let mut p = p.borrow_mut();
        if p.pid != pid || p.at + out.len() > POOL {
            random(&mut p.bytes)?;
            p.at = 0;
            p.pid = pid;
        }
        let at = p.at;
        out.copy_from_slice(&p.bytes[at..at + out.len()]);
        p.at += out.len();
        Ok(())
    })
}

/// Returns `len` random bytes.
pub fn random_vec(len: usize) -> Result<Secret> {
    let mut v = Secret::zeroed(len);
    random(&mut v)?;
    Ok(v)
}

/// Compares two byte strings in time independent of their contents (the lengths are not
/// secret: different lengths return `false` at once).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------------------------

/// A hash function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub const ALL: [HashAlg; 5] = [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Block length in bytes (the HMAC block size).
    pub fn block_len(self) -> usize {
        match self {
            HashAlg::Sha1 | HashAlg::Sha224 | HashAlg::Sha256 => 64,
            HashAlg::Sha384 | HashAlg::Sha512 => 128,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha224 => "SHA-224",
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
        }
    }

    /// Parses `SHA-256`, `sha256`, `SHA_256` and the like.
    pub fn parse(name: &str) -> Result<HashAlg> {
        let n: String = name
            .trim()
            .to_ascii_uppercase()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect();
        HashAlg::ALL
            .iter()
            .copied()
            .find(|h| h.name().replace('-', "") == n)
            .ok_or_else(|| Error::invalid(format!("unknown hash '{name}'")))
    }

    /// The hash an HMAC key spec uses.
    pub fn for_hmac_spec(spec: KeySpec) -> Option<HashAlg> {
        match spec {
            KeySpec::HmacSha256 => Some(HashAlg::Sha256),
            KeySpec::HmacSha384 => Some(HashAlg::Sha384),
            KeySpec::HmacSha512 => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    fn lc(self) -> &'static lc_digest::Algorithm {
        match self {
            HashAlg::Sha1 => &lc_digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha224 => &lc_digest::SHA224,
            HashAlg::Sha256 => &lc_digest::SHA256,
            HashAlg::Sha384 => &lc_digest::SHA384,
            HashAlg::Sha512 => &lc_digest::SHA512,
        }
    }

    fn lc_hmac(self) -> lc_hmac::Algorithm {
        match self {
            HashAlg::Sha1 => lc_hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha224 => lc_hmac::HMAC_SHA224,
            HashAlg::Sha256 => lc_hmac::HMAC_SHA256,
            HashAlg::Sha384 => lc_hmac::HMAC_SHA384,
            HashAlg::Sha512 => lc_hmac::HMAC_SHA512,
        }
    }

    fn import_digest(self, digest: &[u8]) -> Result<lc_digest::Digest> {
        lc_digest::Digest::import_less_safe(digest, self.lc()).map_err(|_| {
            Error::invalid(format!(
                "a {} digest is {} bytes, got {}",
                self.name(),
                self.output_len(),
                digest.len()
            ))
        })
    }
}

/// One-shot digest.
pub fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    lc_digest::digest(alg.lc(), data).as_ref().to_vec()
}

/// One-shot SHA-256 into an array (no allocation).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(lc_digest::digest(&lc_digest::SHA256, data).as_ref());
    out
}

/// A streaming digest (multi-part `C_DigestUpdate`).
#[derive(Clone)]
pub struct DigestCtx {
    alg: HashAlg,
    ctx: lc_digest::Context,
}

impl DigestCtx {
    pub fn new(alg: HashAlg) -> DigestCtx {
        DigestCtx {
            alg,
            ctx: lc_digest::Context::new(alg.lc()),
        }
    }

    pub fn algorithm(&self) -> HashAlg {
        self.alg
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    pub fn finish(self) -> Vec<u8> {
        self.ctx.finish().as_ref().to_vec()
    }
}

impl std::fmt::Debug for DigestCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DigestCtx({})", self.alg.name())
    }
}

// ---------------------------------------------------------------------------------------------
// HMAC and HKDF
// ---------------------------------------------------------------------------------------------

/// HMAC of `data` under `key` (any key length, as RFC 2104 allows).
pub fn hmac(hash: HashAlg, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let k = lc_hmac::Key::new(hash.lc_hmac(), key);
    Ok(lc_hmac::sign(&k, data).as_ref().to_vec())
}

/// An HMAC key with its inner and outer hash states computed once, for hot paths.
pub struct HmacKey {
    hash: HashAlg,
    key: lc_hmac::Key,
}

impl HmacKey {
    pub fn new(hash: HashAlg, key: &[u8]) -> HmacKey {
        HmacKey {
            hash,
            key: lc_hmac::Key::new(hash.lc_hmac(), key),
        }
    }

    pub fn hash(&self) -> HashAlg {
        self.hash
    }

    /// The same tag as [`hmac`] with this key's hash.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        lc_hmac::sign(&self.key, data).as_ref().to_vec()
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

/// Checks an HMAC tag in constant time. Only a full-length tag is accepted; a mismatch (or a
/// tag of the wrong length) is `VerificationFailed`.
pub fn hmac_verify(hash: HashAlg, key: &[u8], data: &[u8], tag: &[u8]) -> Result<()> {
    let k = lc_hmac::Key::new(hash.lc_hmac(), key);
    lc_hmac::verify(&k, data, tag)
        .map_err(|_| Error::new(ErrorKind::VerificationFailed, "MAC does not verify"))
}

/// A streaming HMAC (multi-part `C_SignUpdate` with an HMAC mechanism).
#[derive(Clone)]
pub struct HmacCtx {
    hash: HashAlg,
    ctx: lc_hmac::Context,
}

impl HmacCtx {
    pub fn new(hash: HashAlg, key: &[u8]) -> Result<HmacCtx> {
        let k = lc_hmac::Key::new(hash.lc_hmac(), key);
        Ok(HmacCtx {
            hash,
            ctx: lc_hmac::Context::with_key(&k),
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    pub fn finish(self) -> Vec<u8> {
        self.ctx.sign().as_ref().to_vec()
    }

    /// Finishes and compares against `tag` in constant time.
    pub fn verify(self, tag: &[u8]) -> Result<()> {
        let mac = self.finish();
        if ct_eq(&mac, tag) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::VerificationFailed,
                "MAC does not verify",
            ))
        }
    }
}

impl std::fmt::Debug for HmacCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HmacCtx(HMAC-{})", self.hash.name())
    }
}

struct OkmLen(usize);

impl lc_hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF (RFC 5869) extract-and-expand with SHA-256/384/512. An empty `salt` means HashLen zero
/// bytes, as the RFC says. `out_len` must be 1..=255*HashLen.
pub fn hkdf(hash: HashAlg, ikm: &[u8], salt: &[u8], info: &[u8], out_len: usize) -> Result<Secret> {
    let alg = match hash {
        HashAlg::Sha256 => lc_hkdf::HKDF_SHA256,
        HashAlg::Sha384 => lc_hkdf::HKDF_SHA384,
        HashAlg::Sha512 => lc_hkdf::HKDF_SHA512,
        _ => return Err(Error::unsupported("HKDF needs SHA-256, SHA-384 or SHA-512")),
    };
    if out_len == 0 || out_len > 255 * hash.output_len() {
        return Err(Error::invalid(format!(
            "HKDF output length must be 1..={}",
            255 * hash.output_len()
        )));
    }
    let prk = lc_hkdf::Salt::new(alg, salt).extract(ikm);
    let info = [info];
    let okm = prk
        .expand(&info, OkmLen(out_len))
        .map_err(|_| Error::crypto("HKDF expand failed"))?;
    let mut out = Secret::zeroed(out_len);
    okm.fill(&mut out)
        .map_err(|_| Error::crypto("HKDF expand failed"))?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// AES-GCM
// ---------------------------------------------------------------------------------------------

fn gcm_alg(key: &[u8]) -> Result<&'static aead::Algorithm> {
    match key.len() {
        16 => Ok(&aead::AES_128_GCM),
        32 => Ok(&aead::AES_256_GCM),
        n => Err(Error::invalid(format!(
            "AES-GCM key must be 16 or 32 bytes, got {n}"
        ))),
    }
}

/// An AES-GCM key with its schedule expanded once, for hot paths.
///
/// The caller supplies the nonce and MUST never use a (key, nonce) pair twice: a repeated
/// nonce reveals the XOR of plaintexts and lets an attacker forge tags. Random 96-bit nonces
/// are safe up to about 2^32 messages per key.
pub struct AesGcmKey {
    key: aead::LessSafeKey,
}

impl AesGcmKey {
    /// `key` is 16 (AES-128) or 32 (AES-256) bytes.
    pub fn new(key: &[u8]) -> Result<AesGcmKey> {
        let unbound = aead::UnboundKey::new(gcm_alg(key)?, key)
            .map_err(|_| Error::crypto("AES-GCM key setup failed"))?;
        Ok(AesGcmKey {
            key: aead::LessSafeKey::new(unbound),
        })
    }

    /// Returns ciphertext || 16-byte tag.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(plaintext.len() + GCM_TAG_LEN);
        out.extend_from_slice(plaintext);
        let tag = self.seal_in_place_separate_tag(nonce, aad, &mut out)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub fn seal_in_place_separate_tag(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN]> {
        let tag = self
            .key
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::from(aad),
                in_out,
            )
            .map_err(|_| Error::crypto("AES-GCM seal failed"))?;
        let mut t = [0u8; GCM_TAG_LEN];
        if tag.as_ref().len() != GCM_TAG_LEN {
            return Err(Error::internal("AES-GCM tag has an unexpected length"));
        }
        t.copy_from_slice(tag.as_ref());
        Ok(t)
    }

    /// Encrypts `plaintext` into `out` (exactly `plaintext.len()` + 16 bytes: ciphertext ||
    /// tag), for a caller that owns the output buffer (no intermediate copy).
    pub fn seal_into(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let n = plaintext.len();
        if out.len() != n + GCM_TAG_LEN {
            return Err(Error::internal(
                "AES-GCM output buffer has the wrong length",
            ));
        }
        let (body, tag_out) = out.split_at_mut(n);
        body.copy_from_slice(plaintext);
        let tag = self.seal_in_place_separate_tag(nonce, aad, body)?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Opens ciphertext || tag into `out` (exactly 16 bytes shorter than `ct_and_tag`). On
    /// failure `out` is wiped (no unauthenticated plaintext is left in it).
    pub fn open_into(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        ct_and_tag: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let Some(n) = ct_and_tag.len().checked_sub(GCM_TAG_LEN) else {
            return Err(Error::bad_ciphertext("ciphertext shorter than the GCM tag"));
        };
        if out.len() != n {
            return Err(Error::internal(
                "AES-GCM output buffer has the wrong length",
            ));
        }
        let (ct, tag) = ct_and_tag.split_at(n);
        let res = self.key.open_separate_gather(
            aead::Nonce::assume_unique_for_key(*nonce),
            aead::Aad::from(aad),
            ct,
            tag,
            out,
        );
        if res.is_err() {
            crate::secmem::wipe(out);
            return Err(Error::bad_ciphertext("AES-GCM authentication failed"));
        }
        Ok(())
    }

    /// Opens ciphertext || tag. A wrong key, nonce, AAD or tag is `InvalidCiphertext`.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], ct_and_tag: &[u8]) -> Result<Secret> {
        let mut buf = Secret::from_slice(ct_and_tag);
        self.open_in_place(nonce, aad, &mut buf)?;
        Ok(buf)
    }

    /// Opens `in_out` (ciphertext || tag) in place; on success it is truncated to the
    /// plaintext. On failure its contents are wiped and an error returned.
    pub fn open_in_place<B: InPlaceBuf + ?Sized>(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut B,
    ) -> Result<()> {
        if in_out.bytes_mut().len() < GCM_TAG_LEN {
            in_out.bytes_mut().zeroize();
            in_out.truncate_to(0);
            return Err(Error::bad_ciphertext("ciphertext shorter than the GCM tag"));
        }
        let res = self
            .key
            .open_in_place(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::from(aad),
                in_out.bytes_mut(),
            )
            .map(|pt| pt.len());
        match res {
            Ok(n) => {
                in_out.truncate_to(n);
                Ok(())
            }
            Err(_) => {
                in_out.bytes_mut().zeroize();
                in_out.truncate_to(0);
                Err(Error::bad_ciphertext("AES-GCM authentication failed"))
            }
        }
    }
}

/// A buffer that can be decrypted in place and then shortened: a [`Secret`] (preferred for
/// plaintext) or a `Vec<u8>`.
pub trait InPlaceBuf {
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Shortens to `len` bytes (a `Secret` zeroizes the rest).
    fn truncate_to(&mut self, len: usize);
}

impl InPlaceBuf for Vec<u8> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

impl InPlaceBuf for Zeroizing<Vec<u8>> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

impl InPlaceBuf for Secret {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

impl std::fmt::Debug for AesGcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesGcmKey(..)")
    }
}

/// AES-GCM encryption; returns ciphertext || 16-byte tag. The caller guarantees nonce
/// uniqueness per key (see [`AesGcmKey`]).
pub fn aes_gcm_seal(key: &[u8], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    AesGcmKey::new(key)?.seal(nonce, aad, plaintext)
}

/// AES-GCM decryption of ciphertext || tag; authentication failure is `InvalidCiphertext`.
pub fn aes_gcm_open(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct_and_tag: &[u8]) -> Result<Secret> {
    AesGcmKey::new(key)?.open(nonce, aad, ct_and_tag)
}

/// In-place AES-GCM encryption returning the detached tag.
pub fn aes_gcm_seal_in_place_separate_tag(
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<[u8; GCM_TAG_LEN]> {
    AesGcmKey::new(key)?.seal_in_place_separate_tag(nonce, aad, in_out)
}

/// In-place AES-GCM decryption of ciphertext || tag (see [`AesGcmKey::open_in_place`]).
pub fn aes_gcm_open_in_place(
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    in_out: &mut (impl InPlaceBuf + ?Sized),
) -> Result<()> {
    AesGcmKey::new(key)?.open_in_place(nonce, aad, in_out)
}

// ---------------------------------------------------------------------------------------------
// AES-CBC and AES-CTR (PKCS#11 CKM_AES_CBC_PAD, CKM_AES_CBC, CKM_AES_CTR)
// ---------------------------------------------------------------------------------------------

fn cipher_key(key: &[u8]) -> Result<cipher::UnboundCipherKey> {
    let alg = match key.len() {
        16 => &cipher::AES_128,
        32 => &cipher::AES_256,
        n => {
            return Err(Error::invalid(format!(
                "AES key must be 16 or 32 bytes, got {n}"
            )))
        }
    };
    cipher::UnboundCipherKey::new(alg, key).map_err(|_| Error::crypto("AES key setup failed"))
}

fn iv_enc(iv: &[u8; 16]) -> cipher::EncryptionContext {
    cipher::EncryptionContext::Iv128(aws_lc_rs::iv::FixedLength::from(*iv))
}

fn iv_dec(iv: &[u8; 16]) -> cipher::DecryptionContext {
    cipher::DecryptionContext::Iv128(aws_lc_rs::iv::FixedLength::from(*iv))
}

/// AES-CBC with PKCS#7 padding. The output is 1..=16 bytes longer than the input.
pub fn aes_cbc_pad_encrypt(key: &[u8], iv: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>> {
    let k = cipher::PaddedBlockEncryptingKey::cbc_pkcs7(cipher_key(key)?)
        .map_err(|_| Error::crypto("AES-CBC key setup failed"))?;
    let mut buf = plaintext.to_vec();
    k.less_safe_encrypt(&mut buf, iv_enc(iv))
        .map_err(|_| Error::crypto("AES-CBC encryption failed"))?;
    Ok(buf)
}

/// AES-CBC with PKCS#7 padding; a bad length or bad padding is `InvalidCiphertext`.
/// (CBC padding errors are a padding oracle if exposed to an attacker; callers authenticate
/// ciphertexts first where they can.)
pub fn aes_cbc_pad_decrypt(key: &[u8], iv: &[u8; 16], ciphertext: &[u8]) -> Result<Secret> {
    let k = cipher::PaddedBlockDecryptingKey::cbc_pkcs7(cipher_key(key)?)
        .map_err(|_| Error::crypto("AES-CBC key setup failed"))?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(AES_BLOCK_LEN) {
        return Err(Error::bad_ciphertext(
            "AES-CBC ciphertext must be a non-empty multiple of 16 bytes",
        ));
    }
    let mut buf = Secret::from_slice(ciphertext);
    let n = k
        .decrypt(&mut buf, iv_dec(iv))
        .map_err(|_| Error::bad_ciphertext("AES-CBC decryption failed (bad padding)"))?
        .len();
    buf.truncate(n);
    Ok(buf)
}

/// AES-CBC without padding (CKM_AES_CBC): the input must be a multiple of 16 bytes.
pub fn aes_cbc_encrypt_no_pad(key: &[u8], iv: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>> {
    if !plaintext.len().is_multiple_of(AES_BLOCK_LEN) {
        return Err(Error::invalid(
            "AES-CBC input must be a multiple of 16 bytes",
        ));
    }
    let k = cipher::EncryptingKey::cbc(cipher_key(key)?)
        .map_err(|_| Error::crypto("AES-CBC key setup failed"))?;
    let mut buf = plaintext.to_vec();
    k.less_safe_encrypt(&mut buf, iv_enc(iv))
        .map_err(|_| Error::crypto("AES-CBC encryption failed"))?;
    Ok(buf)
}

/// AES-CBC decryption without padding removal.
pub fn aes_cbc_decrypt_no_pad(key: &[u8], iv: &[u8; 16], ciphertext: &[u8]) -> Result<Secret> {
    if !ciphertext.len().is_multiple_of(AES_BLOCK_LEN) {
        return Err(Error::bad_ciphertext(
            "AES-CBC ciphertext must be a multiple of 16 bytes",
        ));
    }
    let k = cipher::DecryptingKey::cbc(cipher_key(key)?)
        .map_err(|_| Error::crypto("AES-CBC key setup failed"))?;
    let mut buf = Secret::from_slice(ciphertext);
    k.decrypt(&mut buf, iv_dec(iv))
        .map_err(|_| Error::bad_ciphertext("AES-CBC decryption failed"))?;
    Ok(buf)
}

/// AES-CTR with a full 128-bit big-endian counter block starting at `iv`.
pub fn aes_ctr_encrypt(key: &[u8], iv: &[u8; 16], data: &[u8]) -> Result<Vec<u8>> {
    let k = cipher::EncryptingKey::ctr(cipher_key(key)?)
        .map_err(|_| Error::crypto("AES-CTR key setup failed"))?;
    let mut buf = data.to_vec();
    k.less_safe_encrypt(&mut buf, iv_enc(iv))
        .map_err(|_| Error::crypto("AES-CTR failed"))?;
    Ok(buf)
}

/// AES-CTR decryption (the same keystream XOR), returning a [`Secret`].
pub fn aes_ctr_decrypt(key: &[u8], iv: &[u8; 16], data: &[u8]) -> Result<Secret> {
    let k = cipher::DecryptingKey::ctr(cipher_key(key)?)
        .map_err(|_| Error::crypto("AES-CTR key setup failed"))?;
    let mut buf = Secret::from_slice(data);
    k.decrypt(&mut buf, iv_dec(iv))
        .map_err(|_| Error::crypto("AES-CTR failed"))?;
    Ok(buf)
}

// ---------------------------------------------------------------------------------------------
// AES key wrap (RFC 3394) and key wrap with padding (RFC 5649)
// ---------------------------------------------------------------------------------------------

fn kek(key: &[u8]) -> Result<key_wrap::KeyEncryptionKey<key_wrap::AesBlockCipher>> {
    let c = match key.len() {
        16 => &key_wrap::AES_128,
        32 => &key_wrap::AES_256,
        n => {
            return Err(Error::invalid(format!(
                "AES key-wrap KEK must be 16 or 32 bytes, got {n}"
            )))
        }
    };
    key_wrap::KeyEncryptionKey::new(c, key).map_err(|_| Error::crypto("KEK setup failed"))
}

/// RFC 3394 AES key wrap. `data` must be a multiple of 8 bytes, at least 16.
pub fn aes_kw_wrap(kek_bytes: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    use key_wrap::KeyWrap;
    if data.len() < 16 || !data.len().is_multiple_of(8) {
        return Err(Error::invalid(
            "AES-KW input must be a multiple of 8 bytes and at least 16",
        ));
    }
    let k = kek(kek_bytes)?;
    let mut out = vec![0u8; data.len() + 8];
    let n = k
        .wrap(data, &mut out)
        .map_err(|_| Error::crypto("AES-KW wrap failed"))?
        .len();
    out.truncate(n);
    Ok(out)
}

/// RFC 3394 AES key unwrap; an integrity-check failure is `InvalidCiphertext`.
pub fn aes_kw_unwrap(kek_bytes: &[u8], wrapped: &[u8]) -> Result<Secret> {
    use key_wrap::KeyWrap;
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(Error::bad_ciphertext(
            "AES-KW wrapped data must be a multiple of 8 bytes and at least 24",
        ));
    }
    let k = kek(kek_bytes)?;
    let mut out = Secret::zeroed(wrapped.len() - 8);
    let n = k
        .unwrap(wrapped, &mut out)
        .map_err(|_| Error::bad_ciphertext("AES-KW unwrap failed integrity check"))?
        .len();
    out.truncate(n);
    Ok(out)
}

/// RFC 5649 AES key wrap with padding; any non-empty input.
pub fn aes_kwp_wrap(kek_bytes: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    use key_wrap::KeyWrapPadded;
    if data.is_empty() || data.len() > u32::MAX as usize {
        return Err(Error::invalid("AES-KWP input must be 1..2^32 bytes"));
    }
    let k = kek(kek_bytes)?;
    let mut out = vec![0u8; data.len().div_ceil(8) * 8 + 8];
    let n = k
        .wrap_with_padding(data, &mut out)
        .map_err(|_| Error::crypto("AES-KWP wrap failed"))?
        .len();
    out.truncate(n);
    Ok(out)
}

/// RFC 5649 AES key unwrap with padding; an integrity failure is `InvalidCiphertext`.
pub fn aes_kwp_unwrap(kek_bytes: &[u8], wrapped: &[u8]) -> Result<Secret> {
    use key_wrap::KeyWrapPadded;
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(Error::bad_ciphertext(
            "AES-KWP wrapped data must be a multiple of 8 bytes and at least 16",
        ));
    }
    let k = kek(kek_bytes)?;
    let mut out = Secret::zeroed(wrapped.len());
    let n = k
        .unwrap_with_padding(wrapped, &mut out)
        .map_err(|_| Error::bad_ciphertext("AES-KWP unwrap failed integrity check"))?
        .len();
    out.truncate(n);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Key generation, import and public keys
// ---------------------------------------------------------------------------------------------

fn ec_signing_alg(spec: KeySpec) -> Result<&'static lc_sig::EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EcP256 => Ok(&lc_sig::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EcP384 => Ok(&lc_sig::ECDSA_P384_SHA384_ASN1_SIGNING),
        _ => Err(Error::usage(format!(
            "{} is not an EC key spec",
            spec.name()
        ))),
    }
}

/// Byte length of the curve order (and field elements) of an EC spec.
fn ec_scalar_len(spec: KeySpec) -> Result<usize> {
    match spec {
        KeySpec::EcP256 => Ok(32),
        KeySpec::EcP384 => Ok(48),
        _ => Err(Error::usage(format!(
            "{} is not an EC key spec",
            spec.name()
        ))),
    }
}

fn rsa_bits(spec: KeySpec) -> Result<usize> {
    match spec {
        KeySpec::Rsa2048 => Ok(2048),
        KeySpec::Rsa3072 => Ok(3072),
        KeySpec::Rsa4096 => Ok(4096),
        _ => Err(Error::usage(format!(
            "{} is not an RSA key spec",
            spec.name()
        ))),
    }
}

fn ec_key(spec: KeySpec, material: &[u8]) -> Result<lc_sig::EcdsaKeyPair> {
    let alg = ec_signing_alg(spec)?;
    lc_sig::EcdsaKeyPair::from_pkcs8(alg, material)
        .or_else(|_| lc_sig::EcdsaKeyPair::from_private_key_der(alg, material))
        .map_err(|_| Error::invalid(format!("not a valid {} private key", spec.name())))
}

fn ed_key(material: &[u8]) -> Result<lc_sig::Ed25519KeyPair> {
    lc_sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(material)
        .map_err(|_| Error::invalid("not a valid Ed25519 PKCS#8 private key"))
}

fn modulus_bits(n: &[u8]) -> usize {
    match n.iter().position(|b| *b != 0) {
        Some(i) => (n.len() - i) * 8 - n[i].leading_zeros() as usize,
        None => 0,
    }
}

fn rsa_key(spec: KeySpec, material: &[u8]) -> Result<lc_rsa::KeyPair> {
    let bits = rsa_bits(spec)?;
    let kp = lc_rsa::KeyPair::from_pkcs8(material)
        .or_else(|_| lc_rsa::KeyPair::from_der(material))
        .map_err(|_| Error::invalid(format!("not a valid {} private key", spec.name())))?;
    let got = modulus_bits(kp.public_key().modulus().big_endian_without_leading_zero());
    if got != bits {
        return Err(Error::invalid(format!(
            "RSA modulus is {got} bits, {} needs {bits}",
            spec.name()
        )));
    }
    Ok(kp)
}

fn pkcs8_der<T: AsDer<Pkcs8V1Der<'static>>>(key: &T) -> Result<Secret> {
    let der = key
        .as_der()
        .map_err(|_| Error::crypto("PKCS#8 encoding failed"))?;
    Ok(secret_from(der.as_ref()))
}

/// Generates new key material for `spec`: AES 16/32 random bytes; HMAC keys of the hash
/// output length (32/48/64); secret data 32 bytes; EC, Ed25519 and RSA as PKCS#8 v1 DER.
pub fn generate(spec: KeySpec) -> Result<Secret> {
    let gen_fail = || Error::crypto(format!("{} key generation failed", spec.name()));
    match spec {
        KeySpec::Aes128 => random_vec(16),
        KeySpec::Aes256 => random_vec(32),
        KeySpec::HmacSha256 => random_vec(32),
        KeySpec::HmacSha384 => random_vec(48),
        KeySpec::HmacSha512 => random_vec(64),
        KeySpec::Secret => random_vec(SECRET_GEN_LEN),
        KeySpec::EcP256 | KeySpec::EcP384 => {
            let kp =
                lc_sig::EcdsaKeyPair::generate(ec_signing_alg(spec)?).map_err(|_| gen_fail())?;
            let doc = kp.to_pkcs8v1().map_err(|_| gen_fail())?;
            Ok(secret_from(doc.as_ref()))
        }
        KeySpec::Ed25519 => {
            let kp = lc_sig::Ed25519KeyPair::generate().map_err(|_| gen_fail())?;
            let doc = kp.to_pkcs8v1().map_err(|_| gen_fail())?;
            Ok(secret_from(doc.as_ref()))
        }
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let size = match spec {
                KeySpec::Rsa2048 => lc_rsa::KeySize::Rsa2048,
                KeySpec::Rsa3072 => lc_rsa::KeySize::Rsa3072,
                _ => lc_rsa::KeySize::Rsa4096,
            };
            let kp = lc_rsa::KeyPair::generate(size).map_err(|_| gen_fail())?;
            pkcs8_der(&kp)
        }
    }
}

/// Checks imported material against `spec` and returns it in normal form.
///
/// AES: exactly 16/32 bytes. HMAC: 16..=1024 bytes. Secret: 1..=65536 bytes. EC: PKCS#8 or
/// SEC1 `ECPrivateKey` on the spec's curve. Ed25519: PKCS#8 v1 or v2. RSA: PKCS#8 or PKCS#1
/// `RSAPrivateKey` with exactly the spec's modulus size. Asymmetric keys come back as PKCS#8 v1.
pub fn validate_import(spec: KeySpec, material: &[u8]) -> Result<Secret> {
    let len = material.len();
    match spec {
        KeySpec::Aes128 | KeySpec::Aes256 => {
            let want = if spec == KeySpec::Aes128 { 16 } else { 32 };
            if len != want {
                return Err(Error::invalid(format!(
                    "{} key must be {want} bytes, got {len}",
                    spec.name()
                )));
            }
            Ok(secret_from(material))
        }
        KeySpec::HmacSha256 | KeySpec::HmacSha384 | KeySpec::HmacSha512 => {
            if !(MIN_HMAC_KEY_LEN..=MAX_HMAC_KEY_LEN).contains(&len) {
                return Err(Error::invalid(format!(
                    "HMAC key must be {MIN_HMAC_KEY_LEN}..={MAX_HMAC_KEY_LEN} bytes, got {len}"
                )));
            }
            Ok(secret_from(material))
        }
        KeySpec::Secret => {
            if len == 0 || len > MAX_SECRET_LEN {
                return Err(Error::invalid(format!(
                    "secret data must be 1..={MAX_SECRET_LEN} bytes, got {len}"
                )));
            }
            Ok(secret_from(material))
        }
        KeySpec::EcP256 | KeySpec::EcP384 => {
            let kp = ec_key(spec, material)?;
            let doc = kp
                .to_pkcs8v1()
                .map_err(|_| Error::crypto("PKCS#8 encoding failed"))?;
            Ok(secret_from(doc.as_ref()))
        }
        KeySpec::Ed25519 => {
            let kp = ed_key(material)?;
            let doc = kp
                .to_pkcs8v1()
                .map_err(|_| Error::crypto("PKCS#8 encoding failed"))?;
            Ok(secret_from(doc.as_ref()))
        }
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            pkcs8_der(&rsa_key(spec, material)?)
        }
    }
}

fn spki_der<T: AsDer<PublicKeyX509Der<'static>>>(key: &T) -> Result<Vec<u8>> {
    key.as_der()
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| Error::crypto("public key encoding failed"))
}

/// The SubjectPublicKeyInfo DER of an asymmetric private key; `KeyUsage` for symmetric specs.
pub fn public_key_spki(spec: KeySpec, material: &[u8]) -> Result<Vec<u8>> {
    match spec {
        KeySpec::EcP256 | KeySpec::EcP384 => spki_der(ec_key(spec, material)?.public_key()),
        KeySpec::Ed25519 => spki_der(ed_key(material)?.public_key()),
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            spki_der(rsa_key(spec, material)?.public_key())
        }
        _ => Err(Error::usage(format!(
            "{} keys have no public key",
            spec.name()
        ))),
    }
}

/// The raw public key: EC uncompressed point `04||X||Y`; Ed25519 the 32-byte key; RSA the
/// PKCS#1 `RSAPublicKey` DER (use [`rsa_public_components`] for n and e).
pub fn public_key_raw(spec: KeySpec, material: &[u8]) -> Result<Vec<u8>> {
    match spec {
        KeySpec::EcP256 | KeySpec::EcP384 => {
            Ok(ec_key(spec, material)?.public_key().as_ref().to_vec())
        }
        KeySpec::Ed25519 => Ok(ed_key(material)?.public_key().as_ref().to_vec()),
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            Ok(rsa_key(spec, material)?.public_key().as_ref().to_vec())
        }
        _ => Err(Error::usage(format!(
            "{} keys have no public key",
            spec.name()
        ))),
    }
}

/// RSA modulus n and public exponent e, big-endian without leading zeros
/// (CKA_MODULUS, CKA_PUBLIC_EXPONENT). Accepts a private key (PKCS#8 or PKCS#1) or a public
/// key (SubjectPublicKeyInfo or PKCS#1 `RSAPublicKey`).
pub fn rsa_public_components(material: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let parts = |pk: &lc_rsa::PublicKey| {
        (
            pk.modulus().big_endian_without_leading_zero().to_vec(),
            pk.exponent().big_endian_without_leading_zero().to_vec(),
        )
    };
    if let Ok(kp) =
        lc_rsa::KeyPair::from_pkcs8(material).or_else(|_| lc_rsa::KeyPair::from_der(material))
    {
        return Ok(parts(kp.public_key()));
    }
    let pk = lc_rsa::PublicKey::from_der(material)
        .map_err(|_| Error::invalid("not a valid RSA private or public key"))?;
    Ok(parts(&pk))
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

/// A signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

impl SignAlg {
    pub const ALL: [SignAlg; 10] = [
        SignAlg::EcdsaSha256,
        SignAlg::EcdsaSha384,
        SignAlg::EcdsaSha512,
        SignAlg::Ed25519,
        SignAlg::RsaPkcs1Sha256,
        SignAlg::RsaPkcs1Sha384,
        SignAlg::RsaPkcs1Sha512,
        SignAlg::RsaPssSha256,
        SignAlg::RsaPssSha384,
        SignAlg::RsaPssSha512,
    ];

    /// Stable name (AWS KMS vocabulary).
    pub fn name(self) -> &'static str {
        match self {
            SignAlg::EcdsaSha256 => "ECDSA_SHA_256",
            SignAlg::EcdsaSha384 => "ECDSA_SHA_384",
            SignAlg::EcdsaSha512 => "ECDSA_SHA_512",
            SignAlg::Ed25519 => "ED25519",
            SignAlg::RsaPkcs1Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            SignAlg::RsaPkcs1Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            SignAlg::RsaPkcs1Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
            SignAlg::RsaPssSha256 => "RSASSA_PSS_SHA_256",
            SignAlg::RsaPssSha384 => "RSASSA_PSS_SHA_384",
            SignAlg::RsaPssSha512 => "RSASSA_PSS_SHA_512",
        }
    }

    /// Stable number used by the C API (`KMS_SIGN_*`); never reused.
    pub fn code(self) -> u32 {
        match self {
            SignAlg::EcdsaSha256 => 1,
            SignAlg::EcdsaSha384 => 2,
            SignAlg::EcdsaSha512 => 3,
            SignAlg::Ed25519 => 4,
            SignAlg::RsaPkcs1Sha256 => 5,
            SignAlg::RsaPkcs1Sha384 => 6,
            SignAlg::RsaPkcs1Sha512 => 7,
            SignAlg::RsaPssSha256 => 8,
            SignAlg::RsaPssSha384 => 9,
            SignAlg::RsaPssSha512 => 10,
        }
    }

    pub fn from_code(code: u32) -> Result<SignAlg> {
        SignAlg::ALL
            .iter()
            .copied()
            .find(|a| a.code() == code)
            .ok_or_else(|| Error::invalid(format!("unknown signing algorithm number {code}")))
    }

    /// Parses the stable name, case-insensitively, with `-` or `_`.
    pub fn parse(name: &str) -> Result<SignAlg> {
        let n = name.trim().to_ascii_uppercase().replace('-', "_");
        SignAlg::ALL
            .iter()
            .copied()
            .find(|a| a.name() == n)
            .ok_or_else(|| Error::invalid(format!("unknown signing algorithm '{name}'")))
    }

    /// The message hash; `None` for Ed25519 (pure EdDSA hashes internally).
    pub fn hash(self) -> Option<HashAlg> {
        match self {
            SignAlg::EcdsaSha256 | SignAlg::RsaPkcs1Sha256 | SignAlg::RsaPssSha256 => {
                Some(HashAlg::Sha256)
            }
            SignAlg::EcdsaSha384 | SignAlg::RsaPkcs1Sha384 | SignAlg::RsaPssSha384 => {
                Some(HashAlg::Sha384)
            }
            SignAlg::EcdsaSha512 | SignAlg::RsaPkcs1Sha512 | SignAlg::RsaPssSha512 => {
                Some(HashAlg::Sha512)
            }
            SignAlg::Ed25519 => None,
        }
    }

    /// Whether a key of `spec` can use this algorithm. ECDSA with any of the three hashes
    /// fits both curves (the hash is truncated or widened as FIPS 186-4 says).
    pub fn fits(self, spec: KeySpec) -> bool {
        match self {
            SignAlg::EcdsaSha256 | SignAlg::EcdsaSha384 | SignAlg::EcdsaSha512 => spec.is_ec(),
            SignAlg::Ed25519 => spec == KeySpec::Ed25519,
            _ => spec.is_rsa(),
        }
    }

    fn rsa_encoding(self) -> Option<&'static lc_sig::RsaSignatureEncoding> {
        match self {
            SignAlg::RsaPkcs1Sha256 => Some(&lc_sig::RSA_PKCS1_SHA256),
            SignAlg::RsaPkcs1Sha384 => Some(&lc_sig::RSA_PKCS1_SHA384),
            SignAlg::RsaPkcs1Sha512 => Some(&lc_sig::RSA_PKCS1_SHA512),
            SignAlg::RsaPssSha256 => Some(&lc_sig::RSA_PSS_SHA256),
            SignAlg::RsaPssSha384 => Some(&lc_sig::RSA_PSS_SHA384),
            SignAlg::RsaPssSha512 => Some(&lc_sig::RSA_PSS_SHA512),
            _ => None,
        }
    }

    fn rsa_params(self) -> Option<&'static lc_sig::RsaParameters> {
        match self {
            SignAlg::RsaPkcs1Sha256 => Some(&lc_sig::RSA_PKCS1_2048_8192_SHA256),
            SignAlg::RsaPkcs1Sha384 => Some(&lc_sig::RSA_PKCS1_2048_8192_SHA384),
            SignAlg::RsaPkcs1Sha512 => Some(&lc_sig::RSA_PKCS1_2048_8192_SHA512),
            SignAlg::RsaPssSha256 => Some(&lc_sig::RSA_PSS_2048_8192_SHA256),
            SignAlg::RsaPssSha384 => Some(&lc_sig::RSA_PSS_2048_8192_SHA384),
            SignAlg::RsaPssSha512 => Some(&lc_sig::RSA_PSS_2048_8192_SHA512),
            _ => None,
        }
    }
}

fn check_fits(spec: KeySpec, alg: SignAlg) -> Result<()> {
    if alg.fits(spec) {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "{} does not fit a {} key",
            alg.name(),
            spec.name()
        )))
    }
}

fn sig_failed() -> Error {
    Error::new(ErrorKind::VerificationFailed, "signature does not verify")
}

/// Maps a hash of any length onto the curve's order length, as ECDSA does (FIPS 186-4 6.4:
/// the leftmost bits; a shorter hash is its own integer value, so it is left-padded). Both
/// curve orders here are whole bytes, so truncation is byte-wise. The result is tagged with
/// the curve's "native" hash so aws-lc-rs accepts it.
fn ecdsa_normalise_digest(spec: KeySpec, hash: &[u8]) -> Result<lc_digest::Digest> {
    let n = ec_scalar_len(spec)?;
    if hash.is_empty() || hash.len() > 64 {
        return Err(Error::invalid("ECDSA digest must be 1..=64 bytes"));
    }
    let mut buf = [0u8; 64];
    if hash.len() >= n {
        buf[..n].copy_from_slice(&hash[..n]);
    } else {
        buf[n - hash.len()..n].copy_from_slice(hash);
    }
    let native = if n == 32 {
        &lc_digest::SHA256
    } else {
        &lc_digest::SHA384
    };
    lc_digest::Digest::import_less_safe(&buf[..n], native)
        .map_err(|_| Error::internal("digest import failed"))
}

fn ecdsa_verify_alg(
    spec: KeySpec,
    hash: HashAlg,
) -> Result<&'static lc_sig::EcdsaVerificationAlgorithm> {
    Ok(match (spec, hash) {
        (KeySpec::EcP256, HashAlg::Sha256) => &lc_sig::ECDSA_P256_SHA256_ASN1,
        (KeySpec::EcP256, HashAlg::Sha384) => &lc_sig::ECDSA_P256_SHA384_ASN1,
        (KeySpec::EcP256, HashAlg::Sha512) => &lc_sig::ECDSA_P256_SHA512_ASN1,
        (KeySpec::EcP384, HashAlg::Sha256) => &lc_sig::ECDSA_P384_SHA256_ASN1,
        (KeySpec::EcP384, HashAlg::Sha384) => &lc_sig::ECDSA_P384_SHA384_ASN1,
        (KeySpec::EcP384, HashAlg::Sha512) => &lc_sig::ECDSA_P384_SHA512_ASN1,
        _ => return Err(Error::unsupported("ECDSA curve/hash combination")),
    })
}

fn ecdsa_native_verify_alg(spec: KeySpec) -> Result<&'static lc_sig::EcdsaVerificationAlgorithm> {
    match spec {
        KeySpec::EcP256 => Ok(&lc_sig::ECDSA_P256_SHA256_ASN1),
        KeySpec::EcP384 => Ok(&lc_sig::ECDSA_P384_SHA384_ASN1),
        _ => Err(Error::usage(format!(
            "{} is not an EC key spec",
            spec.name()
        ))),
    }
}

fn rsa_sign_with(
    kp: &lc_rsa::KeyPair,
    f: impl FnOnce(
        &lc_rsa::KeyPair,
        &mut [u8],
    ) -> std::result::Result<(), aws_lc_rs::error::Unspecified>,
) -> Result<Vec<u8>> {
    let mut sig = vec![0u8; kp.public_modulus_len()];
    f(kp, &mut sig).map_err(|_| Error::crypto("RSA signing failed"))?;
    Ok(sig)
}

/// A parsed private key (EC, Ed25519 or RSA), kept beside the unsealed PKCS#8 bytes of a
/// cached key version so that a signature does not parse the key again (for RSA: key checks
/// and blinding set-up). aws-lc wipes the key's memory when it is dropped.
pub enum PrivateKey {
    Ec(lc_sig::EcdsaKeyPair),
    Ed(lc_sig::Ed25519KeyPair),
    Rsa(lc_rsa::KeyPair),
}

impl PrivateKey {
    /// Parses the private key material of `spec` (as [`sign`] does on every call).
    pub fn parse(spec: KeySpec, material: &[u8]) -> Result<PrivateKey> {
        if spec.is_ec() {
            Ok(PrivateKey::Ec(ec_key(spec, material)?))
        } else if spec == KeySpec::Ed25519 {
            Ok(PrivateKey::Ed(ed_key(material)?))
        } else if spec.is_rsa() {
            Ok(PrivateKey::Rsa(rsa_key(spec, material)?))
        } else {
            Err(Error::usage(format!(
                "{} has no private key to parse",
                spec.name()
            )))
        }
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(redacted)")
    }
}

/// The private key a signature uses: its PKCS#8 bytes (parsed per call) or a parsed key.
#[derive(Clone, Copy)]
pub enum Signer<'a> {
    Der(&'a [u8]),
    Parsed(&'a PrivateKey),
}

impl<'a> Signer<'a> {
    /// The parsed key when there is one, else the bytes.
    pub fn of(material: &'a [u8], parsed: Option<&'a PrivateKey>) -> Signer<'a> {
        match parsed {
            Some(p) => Signer::Parsed(p),
            None => Signer::Der(material),
        }
    }

    fn ec<R>(self, spec: KeySpec, f: impl FnOnce(&lc_sig::EcdsaKeyPair) -> Result<R>) -> Result<R> {
        match self {
            Signer::Der(m) => f(&ec_key(spec, m)?),
            Signer::Parsed(PrivateKey::Ec(kp)) => f(kp),
            Signer::Parsed(_) => Err(signer_mismatch(spec)),
        }
    }

    fn ed<R>(self, f: impl FnOnce(&lc_sig::Ed25519KeyPair) -> Result<R>) -> Result<R> {
        match self {
            Signer::Der(m) => f(&ed_key(m)?),
            Signer::Parsed(PrivateKey::Ed(kp)) => f(kp),
            Signer::Parsed(_) => Err(signer_mismatch(KeySpec::Ed25519)),
        }
    }

    fn rsa<R>(self, spec: KeySpec, f: impl FnOnce(&lc_rsa::KeyPair) -> Result<R>) -> Result<R> {
        match self {
            Signer::Der(m) => f(&rsa_key(spec, m)?),
            Signer::Parsed(PrivateKey::Rsa(kp)) => f(kp),
            Signer::Parsed(_) => Err(signer_mismatch(spec)),
        }
    }
}

fn signer_mismatch(spec: KeySpec) -> Error {
    Error::invalid(format!("not a valid {} private key", spec.name()))
}

/// Signs `message`. ECDSA signatures are ASN.1 DER (`ECDSA-Sig-Value`); RSA-PSS uses MGF1 with
/// the same hash and a salt as long as the hash; Ed25519 is pure Ed25519 (RFC 8032).
pub fn sign(spec: KeySpec, material: &[u8], alg: SignAlg, message: &[u8]) -> Result<Vec<u8>> {
    sign_with(spec, Signer::Der(material), alg, message)
}

/// [`sign`] with the key given as a [`Signer`].
pub fn sign_with(spec: KeySpec, key: Signer<'_>, alg: SignAlg, message: &[u8]) -> Result<Vec<u8>> {
    check_fits(spec, alg)?;
    match alg {
        SignAlg::Ed25519 => key.ed(|kp| Ok(kp.sign(message).as_ref().to_vec())),
        SignAlg::EcdsaSha256 | SignAlg::EcdsaSha384 | SignAlg::EcdsaSha512 => {
            let hash = alg
                .hash()
                .ok_or_else(|| Error::internal("ECDSA without a hash"))?;
            let native = matches!(
                (spec, hash),
                (KeySpec::EcP256, HashAlg::Sha256) | (KeySpec::EcP384, HashAlg::Sha384)
            );
            key.ec(spec, |kp| {
                let sig = if native {
                    kp.sign(&aws_lc_rs::rand::SystemRandom::new(), message)
                } else {
                    kp.sign_digest(&ecdsa_normalise_digest(spec, &digest(hash, message))?)
                }
                .map_err(|_| Error::crypto("ECDSA signing failed"))?;
                Ok(sig.as_ref().to_vec())
            })
        }
        _ => {
            let enc = alg
                .rsa_encoding()
                .ok_or_else(|| Error::internal("RSA algorithm without encoding"))?;
            key.rsa(spec, |kp| {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                rsa_sign_with(kp, |k, s| k.sign(enc, &rng, message, s))
            })
        }
    }
}

/// Signs a caller-computed digest of `alg`'s hash (the digest must have that hash's length).
/// Ed25519 has no prehashed form here (`Unsupported`).
pub fn sign_digest(spec: KeySpec, material: &[u8], alg: SignAlg, digest: &[u8]) -> Result<Vec<u8>> {
    sign_digest_with(spec, Signer::Der(material), alg, digest)
}

/// [`sign_digest`] with the key given as a [`Signer`].
pub fn sign_digest_with(
    spec: KeySpec,
    key: Signer<'_>,
    alg: SignAlg,
    digest: &[u8],
) -> Result<Vec<u8>> {
    check_fits(spec, alg)?;
    let hash = alg
        .hash()
        .ok_or_else(|| Error::unsupported("Ed25519 cannot sign a prehashed digest"))?;
    if digest.len() != hash.output_len() {
        return Err(Error::invalid(format!(
            "{} needs a {}-byte digest, got {}",
            alg.name(),
            hash.output_len(),
            digest.len()
        )));
    }
    if spec.is_ec() {
        return ecdsa_sign_prehashed_with(spec, key, digest);
    }
    let enc = alg
        .rsa_encoding()
        .ok_or_else(|| Error::internal("RSA algorithm without encoding"))?;
    let d = hash.import_digest(digest)?;
    key.rsa(spec, |kp| {
        rsa_sign_with(kp, |k, s| k.sign_digest(enc, &d, s))
    })
}

/// Raw ECDSA over a digest of any length 1..=64 (PKCS#11 `CKM_ECDSA`); DER output.
pub fn ecdsa_sign_prehashed(spec: KeySpec, material: &[u8], digest: &[u8]) -> Result<Vec<u8>> {
    ecdsa_sign_prehashed_with(spec, Signer::Der(material), digest)
}

/// [`ecdsa_sign_prehashed`] with the key given as a [`Signer`].
pub fn ecdsa_sign_prehashed_with(spec: KeySpec, key: Signer<'_>, digest: &[u8]) -> Result<Vec<u8>> {
    let d = ecdsa_normalise_digest(spec, digest)?;
    key.ec(spec, |kp| {
        let sig = kp
            .sign_digest(&d)
            .map_err(|_| Error::crypto("ECDSA signing failed"))?;
        Ok(sig.as_ref().to_vec())
    })
}

/// Verifies a DER ECDSA signature over a digest of any length 1..=64 (`CKM_ECDSA`).
pub fn ecdsa_verify_prehashed(
    spec: KeySpec,
    public_key: &[u8],
    digest: &[u8],
    signature: &[u8],
) -> Result<()> {
    let d = ecdsa_normalise_digest(spec, digest)?;
    let pk = parse_public(ecdsa_native_verify_alg(spec)?, spec, public_key)?;
    pk.verify_digest_sig(&d, signature)
        .map_err(|_| sig_failed())
}

fn parse_public(
    alg: &'static dyn lc_sig::VerificationAlgorithm,
    spec: KeySpec,
    public_key: &[u8],
) -> Result<lc_sig::ParsedPublicKey> {
    if spec.is_rsa() {
        let bits = rsa_bits(spec)?;
        let pk = lc_rsa::PublicKey::from_der(public_key)
            .map_err(|_| Error::invalid(format!("not a valid {} public key", spec.name())))?;
        let got = modulus_bits(pk.modulus().big_endian_without_leading_zero());
        if got != bits {
            return Err(Error::invalid(format!(
                "RSA modulus is {got} bits, {} needs {bits}",
                spec.name()
            )));
        }
    }
    lc_sig::UnparsedPublicKey::new(alg, public_key)
        .parse()
        .map_err(|_| Error::invalid(format!("not a valid {} public key", spec.name())))
}

fn verification_alg(
    spec: KeySpec,
    alg: SignAlg,
) -> Result<&'static dyn lc_sig::VerificationAlgorithm> {
    check_fits(spec, alg)?;
    Ok(match alg {
        SignAlg::Ed25519 => &lc_sig::ED25519,
        SignAlg::EcdsaSha256 | SignAlg::EcdsaSha384 | SignAlg::EcdsaSha512 => {
            let hash = alg
                .hash()
                .ok_or_else(|| Error::internal("ECDSA without a hash"))?;
            ecdsa_verify_alg(spec, hash)?
        }
        _ => alg
            .rsa_params()
            .ok_or_else(|| Error::internal("RSA algorithm without parameters"))?,
    })
}

/// Verifies `signature` over `message` with the public key (SubjectPublicKeyInfo DER; also
/// accepted: an EC uncompressed point, a raw 32-byte Ed25519 key, a PKCS#1 `RSAPublicKey`).
/// A bad signature is `VerificationFailed`; a malformed key is `InvalidArgument`.
pub fn verify(
    spec: KeySpec,
    public_key: &[u8],
    alg: SignAlg,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let va = verification_alg(spec, alg)?;
    let pk = parse_public(va, spec, public_key)?;
    pk.verify_sig(message, signature).map_err(|_| sig_failed())
}

/// Verifies a signature over a caller-computed digest of `alg`'s hash.
pub fn verify_digest(
    spec: KeySpec,
    public_key: &[u8],
    alg: SignAlg,
    digest: &[u8],
    signature: &[u8],
) -> Result<()> {
    check_fits(spec, alg)?;
    let hash = alg
        .hash()
        .ok_or_else(|| Error::unsupported("Ed25519 cannot verify a prehashed digest"))?;
    if digest.len() != hash.output_len() {
        return Err(Error::invalid(format!(
            "{} needs a {}-byte digest, got {}",
            alg.name(),
            hash.output_len(),
            digest.len()
        )));
    }
    if spec.is_ec() {
        return ecdsa_verify_prehashed(spec, public_key, digest, signature);
    }
    let va = verification_alg(spec, alg)?;
    let pk = parse_public(va, spec, public_key)?;
    let d = hash.import_digest(digest)?;
    pk.verify_digest_sig(&d, signature)
        .map_err(|_| sig_failed())
}

/// DER `DigestInfo` prefixes (RFC 8017 section 9.2 note 1).
const DIGEST_INFO_PREFIXES: [(HashAlg, &[u8]); 5] = [
    (
        HashAlg::Sha1,
        &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
    ),
    (
        HashAlg::Sha224,
        &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x04, 0x05, 0x00, 0x04, 0x1c,
        ],
    ),
    (
        HashAlg::Sha256,
        &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
    ),
    (
        HashAlg::Sha384,
        &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
    ),
    (
        HashAlg::Sha512,
        &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    ),
];

/// Splits a DER `DigestInfo` into its hash and digest, if it is one of the five known forms
/// (with NULL parameters) and of exactly the right length.
pub fn parse_digest_info(digest_info: &[u8]) -> Option<(HashAlg, &[u8])> {
    DIGEST_INFO_PREFIXES.iter().find_map(|(h, prefix)| {
        let rest = digest_info.strip_prefix(*prefix)?;
        (rest.len() == h.output_len()).then_some((*h, rest))
    })
}

fn rsa_pkcs1_params(hash: HashAlg) -> Result<&'static lc_sig::RsaParameters> {
    match hash {
        HashAlg::Sha256 => Ok(&lc_sig::RSA_PKCS1_2048_8192_SHA256),
        HashAlg::Sha384 => Ok(&lc_sig::RSA_PKCS1_2048_8192_SHA384),
        HashAlg::Sha512 => Ok(&lc_sig::RSA_PKCS1_2048_8192_SHA512),
        HashAlg::Sha1 => Ok(&lc_sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY),
        HashAlg::Sha224 => Err(Error::unsupported(
            "RSA PKCS#1 v1.5 with SHA-224 is not available",
        )),
    }
}

/// PKCS#11 `CKM_RSA_PKCS` signing: `digest_info` must be a DER `DigestInfo` for SHA-256,
/// SHA-384 or SHA-512; the result is the standard PKCS#1 v1.5 signature of that digest.
/// Other inputs (SHA-1, SHA-224, arbitrary data) are `Unsupported`: aws-lc-rs offers no safe
/// raw RSA private operation and no SHA-1/SHA-224 PKCS#1 signing encoding.
pub fn rsa_pkcs1_sign_digest_info(
    spec: KeySpec,
    material: &[u8],
    digest_info: &[u8],
) -> Result<Vec<u8>> {
    rsa_pkcs1_sign_digest_info_with(spec, Signer::Der(material), digest_info)
}

/// [`rsa_pkcs1_sign_digest_info`] with the key given as a [`Signer`].
pub fn rsa_pkcs1_sign_digest_info_with(
    spec: KeySpec,
    key: Signer<'_>,
    digest_info: &[u8],
) -> Result<Vec<u8>> {
    let (hash, d) = parse_digest_info(digest_info).ok_or_else(|| {
        Error::unsupported("CKM_RSA_PKCS input is not a SHA-256/384/512 DigestInfo")
    })?;
    match hash {
        HashAlg::Sha256 => sign_digest_with(spec, key, SignAlg::RsaPkcs1Sha256, d),
        HashAlg::Sha384 => sign_digest_with(spec, key, SignAlg::RsaPkcs1Sha384, d),
        HashAlg::Sha512 => sign_digest_with(spec, key, SignAlg::RsaPkcs1Sha512, d),
        _ => Err(Error::unsupported(format!(
            "RSA PKCS#1 v1.5 signing with {} is not available",
            hash.name()
        ))),
    }
}

/// PKCS#11 `CKM_RSA_PKCS` verification over a DER `DigestInfo` (SHA-1, SHA-256/384/512).
pub fn rsa_pkcs1_verify_digest_info(
    spec: KeySpec,
    public_key: &[u8],
    digest_info: &[u8],
    signature: &[u8],
) -> Result<()> {
    let (hash, d) = parse_digest_info(digest_info)
        .ok_or_else(|| Error::unsupported("CKM_RSA_PKCS input is not a known DigestInfo"))?;
    if !spec.is_rsa() {
        return Err(Error::usage(format!(
            "CKM_RSA_PKCS does not fit a {} key",
            spec.name()
        )));
    }
    let params = rsa_pkcs1_params(hash)?;
    let pk = parse_public(params, spec, public_key)?;
    let dg = hash.import_digest(d)?;
    pk.verify_digest_sig(&dg, signature)
        .map_err(|_| sig_failed())
}

// ---------------------------------------------------------------------------------------------
// ECDSA signature format conversion (DER <-> fixed r||s)
// ---------------------------------------------------------------------------------------------

/// A minimal, strict DER reader: one TLV at a time, definite minimal lengths, bounds-checked.
struct Der<'a> {
    data: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(data: &'a [u8]) -> Der<'a> {
        Der { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Reads one element with tag `tag`, returning its contents.
    fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&t, rest) = self.data.split_first()?;
        if t != tag {
            return None;
        }
        let (&l0, rest) = rest.split_first()?;
        let (len, rest) = if l0 < 0x80 {
            (l0 as usize, rest)
        } else {
            let n = (l0 & 0x7f) as usize;
            if n == 0 || n > 2 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for b in &rest[..n] {
                len = (len << 8) | *b as usize;
            }
            // Minimal encoding: long form only for >= 128, no leading zero byte.
            if len < 0x80 || rest[0] == 0 {
                return None;
            }
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let (contents, tail) = rest.split_at(len);
        self.data = tail;
        Some(contents)
    }
}

/// Reads a DER INTEGER that must be positive and fit in `n` bytes; returns it left-padded.
fn der_uint(der: &mut Der<'_>, n: usize, out: &mut [u8]) -> Option<()> {
    let v = der.read(0x02)?;
    let (&first, _) = v.split_first()?;
    if first & 0x80 != 0 {
        return None; // negative
    }
    if first == 0 && v.len() > 1 && v[1] & 0x80 == 0 {
        return None; // non-minimal
    }
    let v = if first == 0 && v.len() > 1 {
        &v[1..]
    } else {
        v
    };
    if v.len() > n {
        return None;
    }
    out[n - v.len()..n].copy_from_slice(v);
    Some(())
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

fn der_push_uint(out: &mut Vec<u8>, v: &[u8]) {
    let start = v
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(v.len().saturating_sub(1));
    let v = &v[start.min(v.len())..];
    let v: &[u8] = if v.is_empty() { &[0] } else { v };
    let pad = v[0] & 0x80 != 0;
    out.push(0x02);
    der_len(out, v.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

/// Converts a DER ECDSA signature to fixed `r || s` (each the curve's byte length), the
/// PKCS#11 form. Malformed or oversized input is `InvalidArgument`.
pub fn ecdsa_der_to_fixed(spec: KeySpec, der: &[u8]) -> Result<Vec<u8>> {
    let n = ec_scalar_len(spec)?;
    let bad = || Error::invalid("malformed DER ECDSA signature");
    let mut outer = Der::new(der);
    let seq = outer.read(0x30).ok_or_else(bad)?;
    if !outer.is_empty() {
        return Err(bad());
    }
    let mut inner = Der::new(seq);
    let mut out = vec![0u8; 2 * n];
    der_uint(&mut inner, n, &mut out[..n]).ok_or_else(bad)?;
    der_uint(&mut inner, n, &mut out[n..]).ok_or_else(bad)?;
    if !inner.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Converts a fixed `r || s` ECDSA signature to DER.
pub fn ecdsa_fixed_to_der(spec: KeySpec, fixed: &[u8]) -> Result<Vec<u8>> {
    let n = ec_scalar_len(spec)?;
    if fixed.len() != 2 * n {
        return Err(Error::invalid(format!(
            "fixed ECDSA signature for {} must be {} bytes, got {}",
            spec.name(),
            2 * n,
            fixed.len()
        )));
    }
    let mut body = Vec::with_capacity(2 * n + 8);
    der_push_uint(&mut body, &fixed[..n]);
    der_push_uint(&mut body, &fixed[n..]);
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(0x30);
    der_len(&mut out, body.len());
    out.extend_from_slice(&body);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// RSA-OAEP
// ---------------------------------------------------------------------------------------------

/// The OAEP hash (MGF1 uses the same hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OaepHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl OaepHash {
    pub fn name(self) -> &'static str {
        match self {
            OaepHash::Sha1 => "RSAES_OAEP_SHA_1",
            OaepHash::Sha256 => "RSAES_OAEP_SHA_256",
            OaepHash::Sha384 => "RSAES_OAEP_SHA_384",
            OaepHash::Sha512 => "RSAES_OAEP_SHA_512",
        }
    }

    fn lc(self) -> &'static lc_rsa::OaepAlgorithm {
        match self {
            OaepHash::Sha1 => &lc_rsa::OAEP_SHA1_MGF1SHA1,
            OaepHash::Sha256 => &lc_rsa::OAEP_SHA256_MGF1SHA256,
            OaepHash::Sha384 => &lc_rsa::OAEP_SHA384_MGF1SHA384,
            OaepHash::Sha512 => &lc_rsa::OAEP_SHA512_MGF1SHA512,
        }
    }
}

fn opt_label(label: &[u8]) -> Option<&[u8]> {
    if label.is_empty() {
        None
    } else {
        Some(label)
    }
}

/// RSA-OAEP encryption with the public key (SubjectPublicKeyInfo DER), or with the private
/// key material (PKCS#8), whose public half is used. `label` may be empty.
pub fn rsa_oaep_encrypt(
    key: &[u8],
    hash: OaepHash,
    label: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let public = match lc_rsa::PublicEncryptingKey::from_der(key) {
        Ok(p) => p,
        Err(_) => lc_rsa::PrivateDecryptingKey::from_pkcs8(key)
            .map_err(|_| Error::invalid("not a valid RSA public or private key"))?
            .public_key(),
    };
    let k = lc_rsa::OaepPublicEncryptingKey::new(public)
        .map_err(|_| Error::invalid("RSA key not usable for OAEP"))?;
    let max = k.max_plaintext_size(hash.lc());
    if plaintext.len() > max {
        return Err(Error::invalid(format!(
            "{} with this key takes at most {max} bytes, got {}",
            hash.name(),
            plaintext.len()
        )));
    }
    let mut out = vec![0u8; k.ciphertext_size()];
    let n = k
        .encrypt(hash.lc(), plaintext, &mut out, opt_label(label))
        .map_err(|_| Error::crypto("RSA-OAEP encryption failed"))?
        .len();
    out.truncate(n);
    Ok(out)
}

/// RSA-OAEP decryption with the private key (PKCS#8). Any failure (wrong key, label, hash,
/// length or padding) is `InvalidCiphertext`, with no detail that could act as an oracle.
pub fn rsa_oaep_decrypt(
    material: &[u8],
    hash: OaepHash,
    label: &[u8],
    ciphertext: &[u8],
) -> Result<Secret> {
    let key = lc_rsa::PrivateDecryptingKey::from_pkcs8(material)
        .map_err(|_| Error::invalid("not a valid RSA private key"))?;
    let k = lc_rsa::OaepPrivateDecryptingKey::new(key)
        .map_err(|_| Error::invalid("RSA key not usable for OAEP"))?;
    let mut out = Secret::zeroed(k.min_output_size());
    let n = k
        .decrypt(hash.lc(), ciphertext, &mut out, opt_label(label))
        .map_err(|_| Error::bad_ciphertext("RSA-OAEP decryption failed"))?
        .len();
    out.truncate(n);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// ECDH
// ---------------------------------------------------------------------------------------------

/// ECDH on P-256/P-384: our PKCS#8 (or SEC1) private key and the peer's uncompressed point
/// (a SubjectPublicKeyInfo is accepted too). Returns the raw shared x-coordinate; callers
/// must put it through a KDF before use as a key.
pub fn ecdh(spec: KeySpec, private_material: &[u8], peer_public_point: &[u8]) -> Result<Secret> {
    let alg = match spec {
        KeySpec::EcP256 => &agreement::ECDH_P256,
        KeySpec::EcP384 => &agreement::ECDH_P384,
        _ => return Err(Error::usage(format!("{} cannot do ECDH", spec.name()))),
    };
    let private = agreement::PrivateKey::from_private_key_der(alg, private_material)
        .map_err(|_| Error::invalid(format!("not a valid {} private key", spec.name())))?;
    let peer = agreement::UnparsedPublicKey::new(alg, peer_public_point);
    agreement::agree(
        &private,
        peer,
        Error::invalid(format!(
            "peer key is not a valid {} public key",
            spec.name()
        )),
        |z| Ok(secret_from(z)),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_digest_normalisation_truncates_and_widens() {
        let long: Vec<u8> = (0..64).collect();
        let d = ecdsa_normalise_digest(KeySpec::EcP256, &long).unwrap();
        assert_eq!(d.as_ref(), &long[..32]);
        let short = [0xabu8; 20];
        let d = ecdsa_normalise_digest(KeySpec::EcP384, &short).unwrap();
        assert_eq!(&d.as_ref()[..28], &[0u8; 28]);
        assert_eq!(&d.as_ref()[28..], &short);
        assert!(ecdsa_normalise_digest(KeySpec::EcP256, &[]).is_err());
        assert!(ecdsa_normalise_digest(KeySpec::EcP256, &[0; 65]).is_err());
        assert!(ecdsa_normalise_digest(KeySpec::Ed25519, &[0; 32]).is_err());
    }

    #[test]
    fn der_reader_rejects_bad_lengths() {
        assert!(Der::new(&[0x30, 0x81, 0x10]).read(0x30).is_none()); // long form for < 128
        assert!(Der::new(&[0x30, 0x82, 0x00, 0x80]).read(0x30).is_none()); // leading zero
        assert!(Der::new(&[0x30, 0x05, 0x00]).read(0x30).is_none()); // overrun
        assert!(Der::new(&[0x30, 0x80]).read(0x30).is_none()); // indefinite
        assert!(Der::new(&[0x31, 0x00]).read(0x30).is_none()); // wrong tag
        assert_eq!(Der::new(&[0x30, 0x00]).read(0x30), Some(&[][..]));
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 128]);
        assert_eq!(Der::new(&long).read(0x04).map(<[u8]>::len), Some(128));
    }

    #[test]
    fn digest_info_prefixes_match_their_hashes() {
        for (hash, prefix) in DIGEST_INFO_PREFIXES {
            // Outer SEQUENCE length covers the rest; the OCTET STRING length is the digest size.
            assert_eq!(prefix[1] as usize, prefix.len() - 2 + hash.output_len());
            assert_eq!(prefix[prefix.len() - 1] as usize, hash.output_len());
            let mut di = prefix.to_vec();
            di.extend(vec![1u8; hash.output_len()]);
            assert_eq!(
                parse_digest_info(&di).map(|(h, d)| (h, d.len())),
                Some((hash, hash.output_len()))
            );
            di.push(0);
            assert!(parse_digest_info(&di).is_none());
        }
    }

    #[test]
    fn modulus_bit_length() {
        assert_eq!(modulus_bits(&[0x00, 0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0x01, 0]), 9);
        assert_eq!(modulus_bits(&[]), 0);
    }
}

#[cfg(test)]
mod secret_tests {
    use super::Secret;

    #[test]
    fn debug_redacts_secret_bytes() {
        let s = Secret::new(b"top-secret-key-bytes".to_vec());
        let shown = format!("{s:?}");
        assert!(!shown.contains("top") && !shown.contains("116"), "{shown}");
        assert!(shown.contains("20 bytes redacted"));
    }
}
