//! Signatures and MACs (`C_Sign*`/`C_Verify*`): HMAC-SHA2, ECDSA (raw and with SHA-2),
//! EdDSA, RSA PKCS#1 v1.5 (over a DigestInfo, and with SHA-2), RSA-PSS (raw and with SHA-2).
//! Hashing mechanisms hash as data arrives; the others gather it. Signing runs inside the
//! core (`with_key`); verification too, with the version's public key.

use cryptoki_sys::*;

use super::ffi::{MechIn, Rv};
use super::mechanisms;
use super::objects;
use super::ops_cipher::{KeyUse, MAX_INPUT};
use super::ops_digest::{finish, step, Finishing};
use super::rv::Doing;
use super::state::{self, Ctx};
use crate::core::crypto::{self, DigestCtx, HashAlg, SignAlg};
use crate::core::{Action, Error, ErrorKind, KeySpec, Usage};

#[derive(Clone, Copy)]
pub enum SignMech {
    Hmac(HashAlg),
    /// Hash-then-sign (ECDSA-SHA*, SHA*-RSA-PKCS, SHA*-RSA-PKCS-PSS).
    Hashing(SignAlg),
    EcdsaRaw,
    RsaPkcsRaw,
    PssRaw(SignAlg),
    Eddsa,
}

pub struct SignOp {
    key: KeyUse,
    mech: SignMech,
    hash: Option<DigestCtx>,
    data: crate::core::crypto::Secret,
    cache: Option<crate::core::crypto::Secret>,
    /// An `Update` fed data: the single-part call may no longer finish the operation.
    parts: bool,
}

impl Finishing for SignOp {
    fn cache(&mut self) -> &mut Option<crate::core::crypto::Secret> {
        &mut self.cache
    }
}

fn parse(m: &MechIn, spec: KeySpec) -> Rv<SignMech> {
    let mech = match m.ty {
        CKM_SHA256_HMAC | CKM_SHA384_HMAC | CKM_SHA512_HMAC => {
            SignMech::Hmac(mechanisms::hmac_hash(m.ty).ok_or(CKR_MECHANISM_INVALID)?)
        }
        CKM_ECDSA => SignMech::EcdsaRaw,
        CKM_EDDSA => SignMech::Eddsa,
        CKM_RSA_PKCS => SignMech::RsaPkcsRaw,
        CKM_RSA_PKCS_PSS => SignMech::PssRaw(mechanisms::pss_params(m, None)?),
        CKM_SHA256_RSA_PKCS_PSS | CKM_SHA384_RSA_PKCS_PSS | CKM_SHA512_RSA_PKCS_PSS => {
            let alg = mechanisms::hashing_sign_alg(m.ty).ok_or(CKR_MECHANISM_INVALID)?;
            mechanisms::pss_params(m, alg.hash())?;
            SignMech::Hashing(alg)
        }
        t => SignMech::Hashing(mechanisms::hashing_sign_alg(t).ok_or(CKR_MECHANISM_INVALID)?),
    };
    let fits = match mech {
        SignMech::Hmac(_) => spec.is_hmac() || spec == KeySpec::Secret,
        SignMech::Hashing(a) | SignMech::PssRaw(a) => a.fits(spec),
        SignMech::EcdsaRaw => spec.is_ec(),
        SignMech::RsaPkcsRaw => spec.is_rsa(),
        SignMech::Eddsa => spec == KeySpec::Ed25519,
    };
    if !fits {
        return Err(CKR_KEY_TYPE_INCONSISTENT);
    }
    if matches!(mech, SignMech::EcdsaRaw | SignMech::RsaPkcsRaw) && m.has_param() {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    if matches!(mech, SignMech::Eddsa) && m.has_param() {
        // Pure Ed25519 only: no prehash, no context.
        let p: CK_EDDSA_PARAMS = m.param()?;
        if p.phFlag != 0 || p.ulContextDataLen != 0 {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
    }
    Ok(mech)
}

pub fn init(
    h: CK_SESSION_HANDLE,
    m: *const CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    sign: bool,
) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let m = MechIn::read(m)?;
    {
        let s = ctx.lock();
        if (if sign { &s.sign } else { &s.verify }).is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
    }
    ctx.caller()?;
    let k = objects::load_key(&ctx, key)?;
    let mech = parse(&m, k.spec())?;
    let class_ok = match k.class {
        CKO_SECRET_KEY => true,
        CKO_PRIVATE_KEY => true,
        _ => !sign,
    };
    if !class_ok {
        return Err(CKR_KEY_FUNCTION_NOT_PERMITTED);
    }
    let hash = match mech {
        SignMech::Hashing(a) => a.hash().map(DigestCtx::new),
        _ => None,
    };
    let op = SignOp {
        key: KeyUse::of(&k),
        mech,
        hash,
        data: crate::core::crypto::Secret::new(Vec::new()),
        cache: None,
        parts: false,
    };
    let mut s = ctx.lock();
    if sign {
        s.sign = Some(op);
    } else {
        s.verify = Some(op);
    }
    Ok(())
}

fn feed(op: &mut SignOp, data: &[u8]) -> Rv<()> {
    if op.cache.is_some() {
        return Err(CKR_OPERATION_ACTIVE);
    }
    match op.hash.as_mut() {
        Some(h) => h.update(data),
        None => {
            if op.data.len() + data.len() > MAX_INPUT {
                return Err(CKR_DATA_LEN_RANGE);
            }
            op.data.extend_from_slice(data);
        }
    }
    Ok(())
}

/// The bytes the signature covers: the digest for hashing mechanisms, else the data.
fn input(op: &mut SignOp) -> crate::core::crypto::Secret {
    match op.hash.take() {
        Some(h) => crate::core::crypto::Secret::new(h.finish()),
        None => std::mem::take(&mut op.data),
    }
}

fn ec_fixed(spec: KeySpec, der: &[u8]) -> crate::core::Result<Vec<u8>> {
    crypto::ecdsa_der_to_fixed(spec, der)
}

fn do_sign(ctx: &Ctx, op: &mut SignOp) -> Rv<crate::core::crypto::Secret> {
    let x = input(op);
    sign_input(ctx, op, &x).map(crate::core::crypto::Secret::new)
}

/// Signs (or MACs) `x`: the message, or its digest for the hashing mechanisms.
fn sign_input(ctx: &Ctx, op: &SignOp, x: &[u8]) -> Rv<Vec<u8>> {
    let mech = op.mech;
    let spec = op.key.spec;
    let (action, usage) = match mech {
        SignMech::Hmac(_) => (Action::Mac, Usage::MAC),
        _ => (Action::Sign, Usage::SIGN),
    };
    op.key
        .run_loaded(ctx, action, usage, true, Doing::KeyUse, |l| {
            let m: &[u8] = &l.material;
            let p = crypto::Signer::of(m, l.private.as_ref());
            match mech {
                SignMech::Hmac(h) => match &l.mac {
                    Some(k) if k.hash() == h => Ok(k.sign(x)),
                    _ => crypto::hmac(h, m, x),
                },
                SignMech::Hashing(a) => {
                    let s = crypto::sign_digest_with(spec, p, a, x)?;
                    if spec.is_ec() {
                        ec_fixed(spec, &s)
                    } else {
                        Ok(s)
                    }
                }
                SignMech::EcdsaRaw => {
                    ec_fixed(spec, &crypto::ecdsa_sign_prehashed_with(spec, p, x)?)
                }
                SignMech::RsaPkcsRaw => match crypto::rsa_pkcs1_sign_digest_info_with(spec, p, x) {
                    Err(e) if e.kind() == ErrorKind::Unsupported => {
                        super::rsa_raw::sign_pkcs1_block(m, x)
                    }
                    r => r,
                },
                SignMech::PssRaw(a) => crypto::sign_digest_with(spec, p, a, x),
                SignMech::Eddsa => crypto::sign_with(spec, p, SignAlg::Ed25519, x),
            }
        })
}

fn sig_len(op: &SignOp) -> Option<usize> {
    match op.mech {
        SignMech::Hmac(h) => Some(h.output_len()),
        SignMech::Eddsa => Some(64),
        _ => match op.key.spec {
            KeySpec::EcP256 => Some(64),
            KeySpec::EcP384 => Some(96),
            KeySpec::Rsa2048 => Some(256),
            KeySpec::Rsa3072 => Some(384),
            KeySpec::Rsa4096 => Some(512),
            _ => None,
        },
    }
}

fn do_verify(ctx: &Ctx, op: &mut SignOp, sig: &[u8]) -> Rv<()> {
    if sig_len(op).is_some_and(|n| n != sig.len()) {
        return Err(CKR_SIGNATURE_LEN_RANGE);
    }
    let mech = op.mech;
    let spec = op.key.spec;
    let x = input(op);
    let spki = op.key.spki.clone().unwrap_or_default();
    let usage = match mech {
        SignMech::Hmac(_) => Usage::MAC,
        _ => Usage::VERIFY,
    };
    let bad = |e: Error| match e.kind() {
        ErrorKind::InvalidArgument => Error::new(ErrorKind::VerificationFailed, "bad signature"),
        _ => e,
    };
    op.key
        .run(ctx, Action::Verify, usage, false, Doing::Verify, |m| {
            match mech {
                SignMech::Hmac(h) => crypto::hmac_verify(h, m, &x, sig),
                SignMech::Hashing(a) => {
                    let s = if spec.is_ec() {
                        crypto::ecdsa_fixed_to_der(spec, sig).map_err(bad)?
                    } else {
                        sig.to_vec()
                    };
                    crypto::verify_digest(spec, &spki, a, &x, &s)
                }
                SignMech::EcdsaRaw => {
                    let s = crypto::ecdsa_fixed_to_der(spec, sig).map_err(bad)?;
                    crypto::ecdsa_verify_prehashed(spec, &spki, &x, &s)
                }
                SignMech::RsaPkcsRaw => crypto::rsa_pkcs1_verify_digest_info(spec, &spki, &x, sig),
                SignMech::PssRaw(a) => crypto::verify_digest(spec, &spki, a, &x, sig),
                SignMech::Eddsa => crypto::verify(spec, &spki, SignAlg::Ed25519, &x, sig),
            }
            .map_err(bad)
        })
}

/// `C_Sign`. `data` is the decoded input: a decoding error ends the operation as any other
/// error does; so does a call after `C_SignUpdate`.
pub fn sign(h: CK_SESSION_HANDLE, data: Rv<&[u8]>, out: *mut u8, out_len: *mut CK_ULONG) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    let slot = &mut s.sign;
    // The signature's length is known before signing (HMAC, ECDSA, EdDSA, RSA): a size query
    // or a buffer too small is answered without signing (the operation stays active), and the
    // call with a buffer signs the caller's data where it is and writes the signature there.
    if let (Some(op), Ok(d)) = (slot.as_mut(), &data) {
        if let Some(need) = sig_len(op).filter(|_| !op.parts && op.cache.is_none()) {
            return match super::ffi::out_buffer(out, out_len, need) {
                Ok(None) => Ok(()),
                Err(CKR_BUFFER_TOO_SMALL) => Err(CKR_BUFFER_TOO_SMALL),
                Err(e) => {
                    *slot = None;
                    Err(e)
                }
                Ok(Some(dst)) => {
                    let r = match op.hash.take() {
                        Some(mut hash) => {
                            hash.update(d);
                            sign_input(&ctx, op, &hash.finish())
                        }
                        None => sign_input(&ctx, op, d),
                    };
                    *slot = None;
                    match r {
                        Ok(sig) if sig.len() == need => {
                            dst.copy_from_slice(&sig);
                            Ok(())
                        }
                        Ok(_) => Err(CKR_GENERAL_ERROR),
                        Err(e) => Err(e),
                    }
                }
            };
        }
    }
    finish(slot, out, out_len, |op| {
        if op.parts {
            return Err(CKR_OPERATION_ACTIVE);
        }
        feed(op, data?)?;
        do_sign(&ctx, op)
    })
}

pub fn update(h: CK_SESSION_HANDLE, data: Rv<&[u8]>, sign: bool) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    let slot = if sign { &mut s.sign } else { &mut s.verify };
    step(slot, |op| {
        feed(op, data?)?;
        op.parts = true;
        Ok(())
    })
}

pub fn sign_final(h: CK_SESSION_HANDLE, out: *mut u8, out_len: *mut CK_ULONG) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    finish(&mut s.sign, out, out_len, |op| do_sign(&ctx, op))
}

pub fn verify(h: CK_SESSION_HANDLE, data: Rv<&[u8]>, sig: Rv<&[u8]>) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    let r = step(&mut s.verify, |op| {
        if op.parts {
            return Err(CKR_OPERATION_ACTIVE);
        }
        feed(op, data?)?;
        do_verify(&ctx, op, sig?)
    });
    s.verify = None;
    r
}

pub fn verify_final(h: CK_SESSION_HANDLE, sig: Rv<&[u8]>) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    let r = step(&mut s.verify, |op| do_verify(&ctx, op, sig?));
    s.verify = None;
    r
}
