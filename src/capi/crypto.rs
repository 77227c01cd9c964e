//! Cryptographic exports: encrypt, decrypt, re-encrypt, data keys, sign, verify, public
//! keys, MAC, wrap, unwrap, derive and random bytes.
//!
//! Encryption contexts are passed as two parallel arrays of NUL-terminated UTF-8 strings,
//! `ctx_keys[i]` = `ctx_values[i]` for `i < ctx_count` (NULL/0 = no context); a key given
//! twice is `KMS_ERR_INVALID_ARGUMENT`. The same context must be given to decrypt.

use std::ffi::c_char;

use zeroize::Zeroizing;

use crate::boundary::error::kms_error;
use crate::boundary::ptr::{in_bytes, in_str, opt_str, out_ref, write_out, write_out_with, Out};
use crate::boundary::secret::{kms_buffer, out_buffer};
use crate::boundary::status::kms_status;
use crate::boundary::{guard, BResult, BoundaryError};
use crate::capi::consts::KMS_CIPHERTEXT_OVERHEAD;
use crate::capi::context_arg;
use crate::capi::ctx::{kms_ctx, session};
use crate::capi::{flag, nonzero};
use crate::core::crypto::SignAlg;
use crate::core::ops::check_data_key_len;

fn opt_out<'a, T: Copy>(ptr: *mut T, arg: &'static str) -> BResult<Option<Out<'a, T>>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        out_ref(ptr, arg).map(Some)
    }
}

/// Encrypts `plaintext` (at most 64 MiB; use the stream API beyond) under the primary
/// version of `key` (id or name) with AES-GCM, binding the encryption context. The
/// ciphertext names the key and version; it is `plaintext_len + KMS_CIPHERTEXT_OVERHEAD`
/// bytes, and is written through the output-buffer convention (a size query does not
/// encrypt).
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (key, inout_len,
/// plaintext with a length, a context array); `KMS_ERR_INVALID_ARGUMENT` (duplicate context
/// key, too long); `KMS_ERR_NOT_FOUND`; `KMS_ERR_KEY_STATE`; `KMS_ERR_KEY_USAGE`;
/// `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_encrypt(
    ctx: kms_ctx,
    key: *const c_char,
    plaintext: *const u8,
    plaintext_len: usize,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    out_ciphertext: *mut u8,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let pt = in_bytes(plaintext, plaintext_len, "plaintext")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        let needed = pt.len() + KMS_CIPHERTEXT_OVERHEAD;
        write_out_with(out_ciphertext, inout_len, needed, || {
            // A ciphertext: nothing to wipe.
            Ok(s.kms.encrypt(&s.caller, key, pt, &ec)?)
        })
    })
}

/// Decrypts a ciphertext from `kms_encrypt` (the key and version come from it) with the
/// same encryption context, through the output-buffer convention. A size query does not
/// decrypt: it answers `ciphertext_len - KMS_CIPHERTEXT_OVERHEAD` (the exact plaintext
/// length of a well-formed ciphertext); a malformed one is reported by the call that
/// decrypts. Plaintext is written only after the ciphertext authenticated. To avoid a
/// caller buffer, use `kms_decrypt_buffer`.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_INVALID_CIPHERTEXT` (malformed, altered, or wrong context); `KMS_ERR_NOT_FOUND`
/// (its key is gone); `KMS_ERR_KEY_STATE` (key destroyed or version below the minimum);
/// `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_decrypt(
    ctx: kms_ctx,
    ciphertext: *const u8,
    ciphertext_len: usize,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    out_plaintext: *mut u8,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let ct = in_bytes(ciphertext, ciphertext_len, "ciphertext")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        let needed = ct.len().saturating_sub(KMS_CIPHERTEXT_OVERHEAD);
        write_out_with(out_plaintext, inout_len, needed, || {
            Ok(s.kms.decrypt(&s.caller, ct, &ec)?)
        })
    })
}

/// As `kms_decrypt`, but the plaintext comes in a library-allocated `*out` that the caller
/// frees with `kms_buffer_free` (which zeroizes). Status: as `kms_decrypt`, without
/// `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_decrypt_buffer(
    ctx: kms_ctx,
    ciphertext: *const u8,
    ciphertext_len: usize,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    out: *mut kms_buffer,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(out, "out")?;
        let ct = in_bytes(ciphertext, ciphertext_len, "ciphertext")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        let pt = s.kms.decrypt(&s.caller, ct, &ec)?;
        out_buffer(out, pt)
    })
}

/// Decrypts and encrypts again under the primary version of `dest_key` (NULL = the same
/// key) without returning the plaintext: the way to move data to a new version after a
/// rotation. `dest_ctx_keys` NULL = keep the source context; otherwise the arrays give the
/// new context (`dest_ctx_count` may be 0 for none). Output-buffer convention; the result
/// is as long as a well-formed input, which a size query answers without decrypting.
///
/// Status: as `kms_decrypt`, plus the encryption statuses for `dest_key`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_reencrypt(
    ctx: kms_ctx,
    ciphertext: *const u8,
    ciphertext_len: usize,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    dest_key: *const c_char,
    dest_ctx_keys: *const *const c_char,
    dest_ctx_values: *const *const c_char,
    dest_ctx_count: usize,
    out_ciphertext: *mut u8,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let ct = in_bytes(ciphertext, ciphertext_len, "ciphertext")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        let dest = opt_str(dest_key, "dest_key")?;
        let dest_ec = if dest_ctx_keys.is_null() {
            None
        } else {
            Some(context_arg(dest_ctx_keys, dest_ctx_values, dest_ctx_count)?)
        };
        write_out_with(out_ciphertext, inout_len, ct.len(), || {
            let out = s
                .kms
                .re_encrypt(&s.caller, ct, &ec, dest, dest_ec.as_ref())?;
            Ok(Zeroizing::new(out))
        })
    })
}

/// Generates a data key of `key_len` bytes (16, 32 or 64) for envelope encryption: the
/// plaintext key comes in `*out_plaintext` (free it with `kms_buffer_free`, which
/// zeroizes), and the same key encrypted under `key` (with the context bound) through the
/// output-buffer convention in `out_wrapped` (`key_len + KMS_CIPHERTEXT_OVERHEAD` bytes).
/// A size query (`out_wrapped` NULL) generates nothing and leaves `*out_plaintext` alone.
/// Store the wrapped key beside your data; `kms_decrypt_data_key` recovers the plaintext.
///
/// Status: as `kms_encrypt`, plus `KMS_ERR_INVALID_ARGUMENT` for another `key_len` and
/// `KMS_ERR_NULL_POINTER` for `out_plaintext`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_generate_data_key(
    ctx: kms_ctx,
    key: *const c_char,
    key_len: usize,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    out_plaintext: *mut kms_buffer,
    out_wrapped: *mut u8,
    inout_wrapped_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        out_ref(out_plaintext, "out_plaintext")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        // Checked before the size is computed: a size query (or a huge key_len) must not
        // answer a size for a length the core refuses.
        check_data_key_len(key_len)?;
        let needed = key_len + KMS_CIPHERTEXT_OVERHEAD;
        let mut plaintext = None;
        write_out_with(out_wrapped, inout_wrapped_len, needed, || {
            let (pt, wrapped) = s.kms.generate_data_key(&s.caller, key, key_len, &ec)?;
            plaintext = Some(pt);
            Ok(Zeroizing::new(wrapped))
        })?;
        match plaintext {
            Some(pt) => out_buffer(out_plaintext, pt),
            None => Ok(()),
        }
    })
}

/// As `kms_generate_data_key` but returns only the wrapped key (for data to be encrypted
/// later, by another party). Status: as `kms_encrypt`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_generate_data_key_without_plaintext(
    ctx: kms_ctx,
    key: *const c_char,
    key_len: usize,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    out_wrapped: *mut u8,
    inout_wrapped_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        // Checked before the size is computed: a size query (or a huge key_len) must not
        // answer a size for a length the core refuses.
        check_data_key_len(key_len)?;
        let needed = key_len + KMS_CIPHERTEXT_OVERHEAD;
        write_out_with(out_wrapped, inout_wrapped_len, needed, || {
            let wrapped = s
                .kms
                .generate_data_key_wrapped(&s.caller, key, key_len, &ec)?;
            Ok(Zeroizing::new(wrapped))
        })
    })
}

/// Decrypts a wrapped data key from `kms_generate_data_key*` into `*out` (free with
/// `kms_buffer_free`, which zeroizes). Status: as `kms_decrypt_buffer`.
#[no_mangle]
pub extern "C" fn kms_decrypt_data_key(
    ctx: kms_ctx,
    wrapped: *const u8,
    wrapped_len: usize,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    out: *mut kms_buffer,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(out, "out")?;
        let wrapped = in_bytes(wrapped, wrapped_len, "wrapped")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        let pt = s.kms.decrypt_data_key(&s.caller, wrapped, &ec)?;
        out_buffer(out, pt)
    })
}

/// Signs `data` with the primary version of `key` using `alg` (`KMS_SIGN_*`, fitting the
/// key's spec). With `prehashed` nonzero, `data` is the digest of the message (the hash of
/// `alg`); otherwise the message itself. The signature (DER for ECDSA, raw for Ed25519 and
/// RSA) goes through the output-buffer convention; a size query signs too (and is audited),
/// so pass a buffer of `KMS_MAX_SIGNATURE` bytes to sign in one call. The version used is
/// written to `*out_version` when it is not NULL.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_INVALID_ARGUMENT` (unknown alg, wrong digest length); `KMS_ERR_KEY_USAGE`
/// (alg does not fit the key, key not for signing); `KMS_ERR_KEY_STATE`;
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_sign(
    ctx: kms_ctx,
    key: *const c_char,
    alg: u32,
    data: *const u8,
    data_len: usize,
    prehashed: u32,
    out_signature: *mut u8,
    inout_len: *mut usize,
    out_version: *mut u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let alg = SignAlg::from_code(alg)?;
        let data = in_bytes(data, data_len, "data")?;
        out_ref(inout_len, "inout_len")?;
        let version = opt_out(out_version, "out_version")?;
        let (v, sig) = s.kms.sign(&s.caller, key, alg, data, flag(prehashed))?;
        write_out(out_signature, inout_len, &sig)?;
        if let Some(mut o) = version {
            o.set(v);
        }
        Ok(())
    })
}

/// Verifies a signature made by `kms_sign` with version `version` of `key` (0 = primary).
/// Returns `KMS_OK` when it verifies and `KMS_ERR_VERIFICATION_FAILED` when it does not;
/// other statuses as `kms_sign`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_verify(
    ctx: kms_ctx,
    key: *const c_char,
    version: u32,
    alg: u32,
    data: *const u8,
    data_len: usize,
    prehashed: u32,
    signature: *const u8,
    signature_len: usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let alg = SignAlg::from_code(alg)?;
        let data = in_bytes(data, data_len, "data")?;
        let sig = in_bytes(signature, signature_len, "signature")?;
        s.kms.verify(
            &s.caller,
            key,
            nonzero(version),
            alg,
            data,
            sig,
            flag(prehashed),
        )?;
        Ok(())
    })
}

/// The public key (SubjectPublicKeyInfo, DER) of version `version` (0 = primary) of an
/// asymmetric key, through the output-buffer convention.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_KEY_USAGE` (symmetric key); `KMS_ERR_ACCESS_DENIED`;
/// `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_get_public_key(
    ctx: kms_ctx,
    key: *const c_char,
    version: u32,
    out_spki: *mut u8,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        out_ref(inout_len, "inout_len")?;
        let spki = s.kms.public_key(&s.caller, key, nonzero(version))?;
        write_out(out_spki, inout_len, &spki)
    })
}

/// Computes an HMAC over `data` with the primary version of an HMAC key, through the
/// output-buffer convention (a size query computes it too; `KMS_MAX_MAC` bytes always
/// fit). The version used goes to `*out_version` when it is not NULL.
///
/// Status: as `kms_sign`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_mac(
    ctx: kms_ctx,
    key: *const c_char,
    data: *const u8,
    data_len: usize,
    out_mac: *mut u8,
    inout_len: *mut usize,
    out_version: *mut u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let data = in_bytes(data, data_len, "data")?;
        out_ref(inout_len, "inout_len")?;
        let version = opt_out(out_version, "out_version")?;
        let (v, mac) = s.kms.mac(&s.caller, key, data)?;
        write_out(out_mac, inout_len, &mac)?;
        if let Some(mut o) = version {
            o.set(v);
        }
        Ok(())
    })
}

/// Verifies an HMAC (constant time) with version `version` of `key` (0 = primary):
/// `KMS_OK` or `KMS_ERR_VERIFICATION_FAILED`; other statuses as `kms_mac`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_verify_mac(
    ctx: kms_ctx,
    key: *const c_char,
    version: u32,
    data: *const u8,
    data_len: usize,
    mac: *const u8,
    mac_len: usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let data = in_bytes(data, data_len, "data")?;
        let mac = in_bytes(mac, mac_len, "mac")?;
        s.kms
            .mac_verify(&s.caller, key, nonzero(version), data, mac)?;
        Ok(())
    })
}

/// Wraps caller key material (1 byte to 64 KiB) under the primary version of an AES key
/// with the wrap usage (AES key wrap with padding, RFC 5649). The blob names the key and
/// version; output-buffer convention (a size query wraps too; `data_len + 29` bytes
/// always fit).
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_INVALID_ARGUMENT` (length); `KMS_ERR_KEY_USAGE`; `KMS_ERR_KEY_STATE`;
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_wrap(
    ctx: kms_ctx,
    key: *const c_char,
    data: *const u8,
    data_len: usize,
    out_wrapped: *mut u8,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let data = in_bytes(data, data_len, "data")?;
        out_ref(inout_len, "inout_len")?;
        let wrapped = s.kms.wrap(&s.caller, key, data)?;
        write_out(out_wrapped, inout_len, &wrapped)
    })
}

/// Unwraps a blob from `kms_wrap` (the key and version come from it) into `*out` (free
/// with `kms_buffer_free`, which zeroizes).
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_INVALID_CIPHERTEXT` (malformed or altered); `KMS_ERR_KEY_USAGE`;
/// `KMS_ERR_KEY_STATE`; `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_unwrap(
    ctx: kms_ctx,
    wrapped: *const u8,
    wrapped_len: usize,
    out: *mut kms_buffer,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(out, "out")?;
        let wrapped = in_bytes(wrapped, wrapped_len, "wrapped")?;
        let pt = s.kms.unwrap(&s.caller, wrapped)?;
        out_buffer(out, pt)
    })
}

/// Derives `out_len` bytes (1 to 8160) with HKDF-SHA256 from the primary version of a
/// symmetric key with the derive usage, `salt` and `info` (each may be empty), into `*out`
/// (free with `kms_buffer_free`, which zeroizes).
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_INVALID_ARGUMENT` (length); `KMS_ERR_KEY_USAGE`; `KMS_ERR_KEY_STATE`;
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_derive(
    ctx: kms_ctx,
    key: *const c_char,
    salt: *const u8,
    salt_len: usize,
    info: *const u8,
    info_len: usize,
    out_len: usize,
    out: *mut kms_buffer,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        out_ref(out, "out")?;
        let salt = in_bytes(salt, salt_len, "salt")?;
        let info = in_bytes(info, info_len, "info")?;
        let derived = s.kms.derive(&s.caller, key, salt, info, out_len)?;
        out_buffer(out, derived)
    })
}

/// Fills `out[0..len]` with random bytes (at most 1 MiB per call). `len` 0 is a no-op.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (out with len > 0);
/// `KMS_ERR_INVALID_ARGUMENT` (len above 1 MiB); `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_random(
    ctx: kms_ctx,
    out: *mut u8,
    len: usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        if out.is_null() && len > 0 {
            return Err(BoundaryError::null("out"));
        }
        let bytes = Zeroizing::new(s.kms.random(&s.caller, len)?);
        let mut capacity = len;
        write_out(out, &mut capacity, &bytes)
    })
}
