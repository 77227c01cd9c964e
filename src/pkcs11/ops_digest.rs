//! Digests (`C_Digest*`, SHA-1/224/256/384/512) and random bytes, plus the shared helper that
//! finishes any single-part or final call with the PKCS#11 output rules (a size query or a
//! too-small buffer keeps the operation and its computed result; anything else ends it).

use cryptoki_sys::*;

use super::ffi::{self, MechIn, Rv};
use super::mechanisms;
use super::state;
use crate::core::crypto::{self, DigestCtx};

/// An operation whose final output can be kept for a later call with a larger buffer.
pub trait Finishing {
    fn cache(&mut self) -> &mut Option<crate::core::crypto::Secret>;
}

/// Finishes the operation in `slot`: computes (or reuses) the result and delivers it.
pub fn finish<T: Finishing>(
    slot: &mut Option<T>,
    out: *mut u8,
    out_len: *mut CK_ULONG,
    compute: impl FnOnce(&mut T) -> Rv<crate::core::crypto::Secret>,
) -> Rv<()> {
    let op = slot.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
    let result = match op.cache().take() {
        Some(r) => r,
        None => match compute(op) {
            Ok(r) => r,
            Err(e) => {
                *slot = None;
                return Err(e);
            }
        },
    };
    match ffi::deliver(out, out_len, &result) {
        Ok(true) => {
            *slot = None;
            Ok(())
        }
        Ok(false) => {
            *op.cache() = Some(result);
            Ok(())
        }
        Err(CKR_BUFFER_TOO_SMALL) => {
            *op.cache() = Some(result);
            Err(CKR_BUFFER_TOO_SMALL)
        }
        Err(e) => {
            *slot = None;
            Err(e)
        }
    }
}

/// Runs `f` on an active operation; an error ends it.
pub fn step<T, R>(slot: &mut Option<T>, f: impl FnOnce(&mut T) -> Rv<R>) -> Rv<R> {
    let op = slot.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
    match f(op) {
        Ok(r) => Ok(r),
        Err(e) => {
            *slot = None;
            Err(e)
        }
    }
}

pub struct DigestOp {
    ctx: Option<DigestCtx>,
    cache: Option<crate::core::crypto::Secret>,
    /// `C_DigestUpdate` was called: `C_Digest` may no longer finish the operation.
    parts: bool,
}

impl Finishing for DigestOp {
    fn cache(&mut self) -> &mut Option<crate::core::crypto::Secret> {
        &mut self.cache
    }
}

pub fn digest_init(h: CK_SESSION_HANDLE, m: *const CK_MECHANISM) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let m = MechIn::read(m)?;
    let mut s = ctx.lock();
    if s.digest.is_some() {
        return Err(CKR_OPERATION_ACTIVE);
    }
    let alg = mechanisms::hash_of(m.ty).ok_or(CKR_MECHANISM_INVALID)?;
    if m.has_param() {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    s.digest = Some(DigestOp {
        ctx: Some(DigestCtx::new(alg)),
        cache: None,
        parts: false,
    });
    Ok(())
}

pub fn digest(
    h: CK_SESSION_HANDLE,
    data: Rv<&[u8]>,
    out: *mut u8,
    out_len: *mut CK_ULONG,
) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    finish(&mut s.digest, out, out_len, |op| {
        if op.parts {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let data = data?;
        let mut d = op.ctx.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        d.update(data);
        Ok(crate::core::crypto::Secret::new(d.finish()))
    })
}

pub fn digest_update(h: CK_SESSION_HANDLE, data: Rv<&[u8]>) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    step(&mut s.digest, |op| match op.ctx.as_mut() {
        Some(d) if op.cache.is_none() => {
            d.update(data?);
            op.parts = true;
            Ok(())
        }
        _ => Err(CKR_OPERATION_ACTIVE),
    })
}

pub fn digest_key(h: CK_SESSION_HANDLE) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    // Key material never leaves the core, not even into a digest.
    step(&mut s.digest, |_| Err(CKR_KEY_INDIGESTIBLE))
}

pub fn digest_final(h: CK_SESSION_HANDLE, out: *mut u8, out_len: *mut CK_ULONG) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    finish(&mut s.digest, out, out_len, |op| {
        let d = op.ctx.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        Ok(crate::core::crypto::Secret::new(d.finish()))
    })
}

pub fn random(h: CK_SESSION_HANDLE, out: *mut u8, n: CK_ULONG) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let n = ffi::len(n)?;
    if n == 0 {
        return Ok(());
    }
    // The core's per-request limit holds in public sessions too (no allocation of a length
    // the caller chose without bound).
    if out.is_null() || n > crate::core::ops::MAX_RANDOM {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let bytes = match ctx.caller() {
        Ok(c) => {
            crate::core::crypto::Secret::new(ctx.kms.random(c, n).map_err(|_| CKR_FUNCTION_FAILED)?)
        }
        Err(_) => crypto::random_vec(n).map_err(|_| CKR_FUNCTION_FAILED)?,
    };
    let mut len = ffi::ulong(n);
    ffi::deliver(out, &mut len, &bytes).map(|_| ())
}
