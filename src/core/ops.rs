//! Cryptographic operations with keys: encrypt, decrypt, re-encrypt, data keys, sign,
//! verify, MAC, wrap, unwrap, derive, public keys and random bytes.

use crate::core::ciphertext::{self, Context, Header};
use crate::core::crypto::{self, HashAlg, Secret, SignAlg};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::KeyRecord;
use crate::core::service::{Caller, KeySel, Kms, Loaded};
use crate::core::types::*;

/// Format byte of a wrapped blob made by [`Kms::wrap`].
const WRAP_FORMAT: u8 = 0x21;
/// Largest single-shot plaintext (larger data goes through streaming).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// The most random bytes one request returns (1 MiB).
pub const MAX_RANDOM: usize = 1024 * 1024;

/// Checks a data-key length (16, 32 or 64 bytes): the one rule, also used by the front ends
/// to answer size queries without accepting a length that can never work.
pub fn check_data_key_len(bytes: usize) -> Result<()> {
    if bytes != 16 && bytes != 32 && bytes != 64 {
        return Err(Error::invalid("data keys are 16, 32 or 64 bytes"));
    }
    Ok(())
}

fn gcm_alg(spec: KeySpec) -> Result<u8> {
    match spec {
        KeySpec::Aes256 => Ok(ciphertext::ALG_AES256_GCM),
        KeySpec::Aes128 => Ok(ciphertext::ALG_AES128_GCM),
        s => Err(Error::usage(format!(
            "a {} key cannot encrypt with AES-GCM",
            s.name()
        ))),
    }
}

/// The public key of a loaded asymmetric key version (derived from its private key).
fn public_of<'a>(k: &KeyRecord, version: u32, l: &'a Loaded) -> Result<&'a [u8]> {
    l.public.as_deref().ok_or_else(|| {
        Error::usage(format!(
            "key {} has no public key for version {version}",
            k.label()
        ))
    })
}

/// The hash a MAC key uses.
pub fn hmac_hash(spec: KeySpec) -> Result<HashAlg> {
    match spec {
        KeySpec::HmacSha256 => Ok(HashAlg::Sha256),
        KeySpec::HmacSha384 => Ok(HashAlg::Sha384),
        KeySpec::HmacSha512 => Ok(HashAlg::Sha512),
        s => Err(Error::usage(format!("a {} key cannot make MACs", s.name()))),
    }
}

/// Encrypts with `material` of key `k` version `v` into the ciphertext format.
pub(crate) fn seal_message(
    k: &KeyRecord,
    v: u32,
    material: &[u8],
    plaintext: &[u8],
    ctx: &Context,
) -> Result<Vec<u8>> {
    seal_with(k, v, &crypto::AesGcmKey::new(material)?, plaintext, ctx)
}

fn seal_with(
    k: &KeyRecord,
    v: u32,
    key: &crypto::AesGcmKey,
    plaintext: &[u8],
    ctx: &Context,
) -> Result<Vec<u8>> {
    let alg = gcm_alg(k.spec)?;
    let mut nonce = [0u8; 12];
    crypto::random_nonce(&mut nonce)?;
    let header = Header::new(k.id, v, alg, !ctx.is_empty(), nonce).encode();
    let mut out =
        Vec::with_capacity(ciphertext::HEADER_LEN + plaintext.len() + ciphertext::TAG_LEN);
    out.extend_from_slice(&header);
    out.extend_from_slice(plaintext);
    let aad = ciphertext::aad(&header, ctx);
    let tag = key.seal_in_place_separate_tag(&nonce, &aad, &mut out[ciphertext::HEADER_LEN..])?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Encrypts with a loaded version (its prepared AES key when there is one).
fn seal_loaded(
    k: &KeyRecord,
    v: u32,
    l: &Loaded,
    plaintext: &[u8],
    ctx: &Context,
) -> Result<Vec<u8>> {
    match &l.gcm {
        Some(g) => seal_with(k, v, g, plaintext, ctx),
        None => seal_message(k, v, &l.material, plaintext, ctx),
    }
}

pub(crate) fn open_message(
    k: &KeyRecord,
    material: &[u8],
    ct: &[u8],
    ctx: &Context,
) -> Result<Secret> {
    open_with(k, &crypto::AesGcmKey::new(material)?, ct, ctx)
}

fn open_with(k: &KeyRecord, key: &crypto::AesGcmKey, ct: &[u8], ctx: &Context) -> Result<Secret> {
    let (h, body) = Header::parse(ct)?;
    if gcm_alg(k.spec)? != h.alg {
        return Err(Error::bad_ciphertext(
            "ciphertext algorithm does not match the key",
        ));
    }
    let mut header = [0u8; ciphertext::HEADER_LEN];
    header.copy_from_slice(&ct[..ciphertext::HEADER_LEN]);
    let mut buf = Secret::from_slice(body);
    key.open_in_place(&h.nonce, &ciphertext::aad(&header, ctx), &mut buf)
        .map_err(|_| {
            Error::bad_ciphertext(
                "ciphertext failed to authenticate (altered, or wrong encryption context)",
            )
        })?;
    Ok(buf)
}

fn open_loaded(k: &KeyRecord, l: &Loaded, ct: &[u8], ctx: &Context) -> Result<Secret> {
    match &l.gcm {
        Some(g) => open_with(k, g, ct, ctx),
        None => open_message(k, &l.material, ct, ctx),
    }
}

impl Kms {
    /// Encrypts under the key's primary version (AES-GCM, random nonce). The context, if
    /// any, must be given again to decrypt.
    pub fn encrypt(
        &self,
        c: &Caller,
        key: &str,
        plaintext: &[u8],
        ctx: &Context,
    ) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_MESSAGE {
            return Err(Error::invalid(format!(
                "plaintext of {} bytes exceeds {MAX_MESSAGE}; use streaming encryption",
                plaintext.len()
            )));
        }
        self.use_key_loaded(
            c,
            KeySel::Ref(key),
            None,
            Action::Encrypt,
            Usage::ENCRYPT,
            ctx,
            |k, v, l| seal_loaded(k, v, l, plaintext, ctx),
        )
    }

    /// Decrypts a ciphertext made by [`Kms::encrypt`]; the key and version come from it.
    pub fn decrypt(&self, c: &Caller, ct: &[u8], ctx: &Context) -> Result<Secret> {
        self.decrypt_as(c, ct, ctx, Action::Decrypt)
    }

    fn decrypt_as(&self, c: &Caller, ct: &[u8], ctx: &Context, action: Action) -> Result<Secret> {
        let (h, _) = match Header::parse(ct) {
            Ok(h) => h,
            Err(e) => return Err(self.refuse(c, action, None, None, ctx, e)),
        };
        self.use_key_loaded(
            c,
            KeySel::Id(h.key_id),
            Some(h.version),
            action,
            Usage::DECRYPT,
            ctx,
            |k, _, l| open_loaded(k, l, ct, ctx),
        )
    }

    /// Decrypts and encrypts again under the primary version of `dest` (or of the same key)
    /// without returning the plaintext.
    pub fn re_encrypt(
        &self,
        c: &Caller,
        ct: &[u8],
        ctx: &Context,
        dest: Option<&str>,
        dest_ctx: Option<&Context>,
    ) -> Result<Vec<u8>> {
        let pt = self.decrypt_as(c, ct, ctx, Action::ReEncrypt)?;
        let (h, _) = Header::parse(ct)?;
        let dest_ref = dest
            .map(str::to_string)
            .unwrap_or_else(|| h.key_id.to_string());
        let dctx = dest_ctx.unwrap_or(ctx);
        self.use_key_loaded(
            c,
            KeySel::Ref(&dest_ref),
            None,
            Action::ReEncrypt,
            Usage::ENCRYPT,
            dctx,
            |k, v, l| seal_loaded(k, v, l, &pt, dctx),
        )
    }

    /// Generates a data key of `bytes` length (16, 32 or 64) and returns it in the clear and
    /// encrypted under `key`.
    pub fn generate_data_key(
        &self,
        c: &Caller,
        key: &str,
        bytes: usize,
        ctx: &Context,
    ) -> Result<(Secret, Vec<u8>)> {
        check_data_key_len(bytes)?;
        let dk = crypto::random_vec(bytes)?;
        let wrapped = self.use_key_loaded(
            c,
            KeySel::Ref(key),
            None,
            Action::GenerateDataKey,
            Usage::ENCRYPT,
            ctx,
            |k, v, l| seal_loaded(k, v, l, &dk, ctx),
        )?;
        Ok((dk, wrapped))
    }

    /// Generates a data key and returns only its encrypted form.
    pub fn generate_data_key_wrapped(
        &self,
        c: &Caller,
        key: &str,
        bytes: usize,
        ctx: &Context,
    ) -> Result<Vec<u8>> {
        Ok(self.generate_data_key(c, key, bytes, ctx)?.1)
    }

    /// Decrypts a data key made by [`Kms::generate_data_key`].
    pub fn decrypt_data_key(&self, c: &Caller, wrapped: &[u8], ctx: &Context) -> Result<Secret> {
        self.decrypt(c, wrapped, ctx)
    }

    /// Signs `message` (or, when `prehashed`, a digest of it) with the primary version.
    pub fn sign(
        &self,
        c: &Caller,
        key: &str,
        alg: SignAlg,
        data: &[u8],
        prehashed: bool,
    ) -> Result<(u32, Vec<u8>)> {
        self.use_key_loaded(
            c,
            KeySel::Ref(key),
            None,
            Action::Sign,
            Usage::SIGN,
            &Context::new(),
            |k, v, l| {
                check_sign_alg(k, alg)?;
                let m = crypto::Signer::of(&l.material, l.private.as_ref());
                let sig = if prehashed {
                    crypto::sign_digest_with(k.spec, m, alg, data)?
                } else {
                    crypto::sign_with(k.spec, m, alg, data)?
                };
                Ok((v, sig))
            },
        )
    }

    /// Verifies a signature with version `version` (the primary when None).
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        c: &Caller,
        key: &str,
        version: Option<u32>,
        alg: SignAlg,
        data: &[u8],
        sig: &[u8],
        prehashed: bool,
    ) -> Result<()> {
        let ver = match version {
            Some(v) => Some(v),
            None => Some(self.key(c, key)?.primary_version),
        };
        self.use_key_loaded(
            c,
            KeySel::Ref(key),
            ver,
            Action::Verify,
            Usage::VERIFY,
            &Context::new(),
            |k, v, l| {
                check_sign_alg(k, alg)?;
                // the public key derived from the sealed private key, not the stored copy
                let spki = public_of(k, v, l)?;
                if prehashed {
                    crypto::verify_digest(k.spec, spki, alg, data, sig)
                } else {
                    crypto::verify(k.spec, spki, alg, data, sig)
                }
            },
        )
    }

    /// The public key (SubjectPublicKeyInfo DER) of an asymmetric key version.
    pub fn public_key(&self, c: &Caller, key: &str, version: Option<u32>) -> Result<Vec<u8>> {
        let ver = match version {
            Some(v) => v,
            None => self.key(c, key)?.primary_version,
        };
        self.use_key_loaded(
            c,
            KeySel::Ref(key),
            Some(ver),
            Action::GetPublicKey,
            Usage::NONE,
            &Context::new(),
            |k, v, l| public_of(k, v, l).map(<[u8]>::to_vec),
        )
    }

    /// HMAC over `data` with the primary version.
    pub fn mac(&self, c: &Caller, key: &str, data: &[u8]) -> Result<(u32, Vec<u8>)> {
        self.use_key(
            c,
            KeySel::Ref(key),
            None,
            Action::Mac,
            Usage::MAC,
            &Context::new(),
            |k, v, m| Ok((v, crypto::hmac(hmac_hash(k.spec)?, m, data)?)),
        )
    }

    /// Verifies an HMAC (constant time) with `version` (the primary when None).
    pub fn mac_verify(
        &self,
        c: &Caller,
        key: &str,
        version: Option<u32>,
        data: &[u8],
        tag: &[u8],
    ) -> Result<()> {
        let ver = match version {
            Some(v) => v,
            None => self.key(c, key)?.primary_version,
        };
        self.use_key(
            c,
            KeySel::Ref(key),
            Some(ver),
            Action::Verify,
            Usage::MAC,
            &Context::new(),
            |k, _, m| crypto::hmac_verify(hmac_hash(k.spec)?, m, data, tag),
        )
    }

    /// Wraps caller key material (AES key wrap with padding, RFC 5649) under the primary
    /// version; the output names the key and version.
    pub fn wrap(&self, c: &Caller, key: &str, data: &[u8]) -> Result<Vec<u8>> {
        if data.is_empty() || data.len() > 64 * 1024 {
            return Err(Error::invalid("wrapped data must be 1 byte to 64 KiB"));
        }
        self.use_key(
            c,
            KeySel::Ref(key),
            None,
            Action::Wrap,
            Usage::WRAP,
            &Context::new(),
            |k, v, m| {
                if !k.spec.is_aes() {
                    return Err(Error::usage("only AES keys wrap"));
                }
                let mut out = vec![WRAP_FORMAT];
                out.extend_from_slice(&k.id.to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
                out.extend(crypto::aes_kwp_wrap(m, data)?);
                Ok(out)
            },
        )
    }

    /// Unwraps a blob made by [`Kms::wrap`].
    pub fn unwrap(&self, c: &Caller, wrapped: &[u8]) -> Result<Secret> {
        if wrapped.len() < 13 + 16 || wrapped[0] != WRAP_FORMAT {
            let e = Error::bad_ciphertext("not a wrapped key blob");
            return Err(self.refuse(c, Action::Unwrap, None, None, &Context::new(), e));
        }
        let id = u64::from_be_bytes(
            wrapped[1..9]
                .try_into()
                .map_err(|_| Error::bad_ciphertext("short"))?,
        );
        let v = u32::from_be_bytes(
            wrapped[9..13]
                .try_into()
                .map_err(|_| Error::bad_ciphertext("short"))?,
        );
        self.use_key(
            c,
            KeySel::Id(id),
            Some(v),
            Action::Unwrap,
            Usage::UNWRAP,
            &Context::new(),
            |_, _, m| {
                crypto::aes_kwp_unwrap(m, &wrapped[13..])
                    .map_err(|_| Error::bad_ciphertext("wrapped key failed to authenticate"))
            },
        )
    }

    /// HKDF (SHA-256) from the key's primary version material.
    pub fn derive(
        &self,
        c: &Caller,
        key: &str,
        salt: &[u8],
        info: &[u8],
        len: usize,
    ) -> Result<Secret> {
        if len == 0 || len > 255 * 32 {
            return Err(Error::invalid("derived length must be 1 to 8160 bytes"));
        }
        self.use_key(
            c,
            KeySel::Ref(key),
            None,
            Action::Derive,
            Usage::DERIVE,
            &Context::new(),
            |k, _, m| {
                if !k.spec.is_symmetric() {
                    return Err(Error::usage(
                        "HKDF derives from symmetric keys; use ECDH for EC keys",
                    ));
                }
                crypto::hkdf(HashAlg::Sha256, m, salt, info, len)
            },
        )
    }

    /// ECDH with the key's primary version and a peer's uncompressed public point.
    pub fn derive_ecdh(&self, c: &Caller, key: &str, peer_point: &[u8]) -> Result<Secret> {
        self.use_key(
            c,
            KeySel::Ref(key),
            None,
            Action::Derive,
            Usage::DERIVE,
            &Context::new(),
            |k, _, m| crypto::ecdh(k.spec, m, peer_point),
        )
    }

    /// RSA-OAEP decryption with a key version (the primary when None).
    pub fn rsa_decrypt(
        &self,
        c: &Caller,
        key: &str,
        version: Option<u32>,
        hash: crypto::OaepHash,
        label: &[u8],
        ct: &[u8],
    ) -> Result<Secret> {
        let ver = match version {
            Some(v) => v,
            None => self.key(c, key)?.primary_version,
        };
        self.use_key(
            c,
            KeySel::Ref(key),
            Some(ver),
            Action::Decrypt,
            Usage::DECRYPT,
            &Context::new(),
            |k, _, m| {
                if !k.spec.is_rsa() {
                    return Err(Error::usage("only RSA keys decrypt with OAEP"));
                }
                crypto::rsa_oaep_decrypt(m, hash, label, ct)
            },
        )
    }

    /// Random bytes from the library's generator (at most [`MAX_RANDOM`]).
    pub fn random(&self, c: &Caller, len: usize) -> Result<Vec<u8>> {
        if len > MAX_RANDOM {
            return Err(Error::invalid("at most 1 MiB of random bytes per call"));
        }
        self.authorize(c, Action::Random, None, &Context::new())?;
        Ok(crypto::random_vec(len)?.to_vec())
    }

    /// Runs `f` on the material of `key` for `action` with every core check and the audit
    /// record: the way a front end runs a mechanism the core has no named operation for
    /// (PKCS#11 AES-CBC, AES-CTR ...). `version` None = primary.
    #[allow(clippy::too_many_arguments)]
    pub fn with_key<R>(
        &self,
        c: &Caller,
        key_id: u64,
        version: Option<u32>,
        action: Action,
        usage: Usage,
        f: impl FnOnce(&KeyRecord, &[u8]) -> Result<R>,
    ) -> Result<R> {
        self.use_key(
            c,
            KeySel::Id(key_id),
            version,
            action,
            usage,
            &Context::new(),
            |k, _, m| f(k, m),
        )
    }

    /// [`Kms::with_key`] with the cached, loaded version: its prepared AES-GCM key and parsed
    /// private key as well as the material.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn with_key_loaded<R>(
        &self,
        c: &Caller,
        key_id: u64,
        version: Option<u32>,
        action: Action,
        usage: Usage,
        f: impl FnOnce(&KeyRecord, &Loaded) -> Result<R>,
    ) -> Result<R> {
        self.use_key_loaded(
            c,
            KeySel::Id(key_id),
            version,
            action,
            usage,
            &Context::new(),
            |k, _, l| f(k, l),
        )
    }
}

fn check_sign_alg(k: &KeyRecord, alg: SignAlg) -> Result<()> {
    if alg.fits(k.spec) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::KeyUsage,
            format!("{alg:?} does not fit a {} key", k.spec.name()),
        ))
    }
}
