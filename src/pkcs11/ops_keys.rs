//! Key creation through mechanisms: `C_GenerateKey` (AES, generic secret), `C_GenerateKeyPair`
//! (EC P-256/P-384, Ed25519, RSA 2048-4096), `C_WrapKey`/`C_UnwrapKey` (AES key wrap, with
//! and without padding) and `C_DeriveKey` (HKDF, ECDH1). New keys are core keys.

use cryptoki_sys::*;

use super::ffi::{self, Attr, MechIn, Rv};
use super::mechanisms;
use super::objects::{self, KeyTemplate};
use super::ops_cipher::KeyUse;
use super::rv::{on, Doing};
use super::state;
use crate::core::crypto;
use crate::core::{Action, KeySpec, Usage};

/// The generic secret length the core generates itself (others are made from random bytes
/// and imported: not CKA_LOCAL).
const SECRET_GEN_LEN: usize = 32;

pub fn generate_key(
    h: CK_SESSION_HANDLE,
    m: *const CK_MECHANISM,
    tmpl: Vec<Attr>,
) -> Rv<CK_OBJECT_HANDLE> {
    let ctx = state::ctx(h)?;
    let m = MechIn::read(m)?;
    ctx.caller()?;
    let t = KeyTemplate::parse(&tmpl)?;
    if t.class.is_some_and(|c| c != CKO_SECRET_KEY) || t.value.is_some() {
        return Err(CKR_TEMPLATE_INCONSISTENT);
    }
    let spec = match m.ty {
        CKM_AES_KEY_GEN => t.secret_spec(CKK_AES, None)?,
        CKM_GENERIC_SECRET_KEY_GEN => t.secret_spec(CKK_GENERIC_SECRET, None)?,
        _ => return Err(CKR_MECHANISM_INVALID),
    };
    if (m.ty == CKM_AES_KEY_GEN) != spec.is_aes() {
        return Err(CKR_TEMPLATE_INCONSISTENT);
    }
    let len = t.value_len.unwrap_or(SECRET_GEN_LEN);
    let hs = if spec == KeySpec::Secret && len != SECRET_GEN_LEN {
        let bytes = crypto::random_vec(len).map_err(|_| CKR_FUNCTION_FAILED)?;
        objects::new_key(&ctx, &t, spec, Some(&bytes))?
    } else {
        objects::new_key(&ctx, &t, spec, None)?
    };
    hs.first().copied().ok_or(CKR_GENERAL_ERROR)
}

pub fn generate_key_pair(
    h: CK_SESSION_HANDLE,
    m: *const CK_MECHANISM,
    public: Vec<Attr>,
    private: Vec<Attr>,
) -> Rv<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
    let ctx = state::ctx(h)?;
    let m = MechIn::read(m)?;
    ctx.caller()?;
    let pt = KeyTemplate::parse(&public)?;
    let st = KeyTemplate::parse(&private)?;
    // Secret-key attributes (CKA_VALUE_LEN, CKA_VALUE) have no place in a key pair template.
    let secret_attrs = |t: &KeyTemplate| t.value_len.is_some() || t.value.is_some();
    if pt.class.is_some_and(|c| c != CKO_PUBLIC_KEY)
        || st.class.is_some_and(|c| c != CKO_PRIVATE_KEY)
        || secret_attrs(&pt)
        || secret_attrs(&st)
    {
        return Err(CKR_TEMPLATE_INCONSISTENT);
    }
    let t = st.merge_public(pt);
    let spec = match m.ty {
        CKM_EC_KEY_PAIR_GEN => {
            let p = t.ec_params.as_deref().ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            let s = objects::spec_of_ec_params(p)?;
            if !s.is_ec() {
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
            s
        }
        CKM_EC_EDWARDS_KEY_PAIR_GEN => match t.ec_params.as_deref() {
            None => KeySpec::Ed25519,
            Some(p) => match objects::spec_of_ec_params(p)? {
                KeySpec::Ed25519 => KeySpec::Ed25519,
                _ => return Err(CKR_TEMPLATE_INCONSISTENT),
            },
        },
        CKM_RSA_PKCS_KEY_PAIR_GEN => {
            if let Some(e) = &t.public_exponent {
                let e: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
                if e != [1, 0, 1] {
                    return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                }
            }
            match t.modulus_bits.ok_or(CKR_TEMPLATE_INCOMPLETE)? {
                2048 => KeySpec::Rsa2048,
                3072 => KeySpec::Rsa3072,
                4096 => KeySpec::Rsa4096,
                _ => return Err(CKR_KEY_SIZE_RANGE),
            }
        }
        _ => return Err(CKR_MECHANISM_INVALID),
    };
    let hs = objects::new_key(&ctx, &t, spec, None)?;
    match hs[..] {
        [private, public] => Ok((public, private)),
        _ => Err(CKR_GENERAL_ERROR),
    }
}

fn wrap_mech(m: &MechIn) -> Rv<bool> {
    if m.has_param() {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    match m.ty {
        CKM_AES_KEY_WRAP => Ok(false),
        CKM_AES_KEY_WRAP_PAD => Ok(true),
        _ => Err(CKR_MECHANISM_INVALID),
    }
}

/// Length of the header `Kms::export_wrapped` puts before its RFC 5649 output.
const EXPORT_HEADER: usize = 1 + 8 + 4 + 4 + 8;

/// `C_WrapKey`: the core exports the key (only keys created extractable, by an identity the
/// policy allows), then the wrapping key re-wraps the material in the standard format.
pub fn wrap(
    h: CK_SESSION_HANDLE,
    m: *const CK_MECHANISM,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    out: *mut u8,
    out_len: *mut CK_ULONG,
) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let m = MechIn::read(m)?;
    let pad = wrap_mech(&m)?;
    let c = ctx.caller()?;
    let w = objects::load_key(&ctx, wrapping).map_err(|e| {
        if e == CKR_KEY_HANDLE_INVALID {
            CKR_WRAPPING_KEY_HANDLE_INVALID
        } else {
            e
        }
    })?;
    if !w.spec().is_aes() {
        return Err(CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
    }
    let k = objects::load_key(&ctx, key)?;
    if k.class != CKO_SECRET_KEY {
        return Err(CKR_KEY_NOT_WRAPPABLE);
    }
    let blob = ctx
        .kms
        .export_wrapped(
            c,
            &k.key().id.to_string(),
            Some(k.version),
            &w.key().id.to_string(),
        )
        .map_err(|e| match on(Doing::KeyUse)(e) {
            // The core refused: name the key that is not extractable (CKA_EXTRACTABLE false),
            // else the refusal is the wrapping key's (no wrap usage, state, policy).
            CKR_KEY_FUNCTION_NOT_PERMITTED if !k.key().exportable => CKR_KEY_UNEXTRACTABLE,
            rv => rv,
        })?;
    let body = blob.get(EXPORT_HEADER..).ok_or(CKR_GENERAL_ERROR)?.to_vec();
    let wrapped =
        KeyUse::of(&w).run(&ctx, Action::Wrap, Usage::WRAP, true, Doing::KeyUse, |wm| {
            let material = crypto::aes_kwp_unwrap(wm, &body)?;
            if pad {
                crypto::aes_kwp_wrap(wm, &material)
            } else {
                crypto::aes_kw_wrap(wm, &material)
            }
        })?;
    ffi::deliver(out, out_len, &wrapped).map(|_| ())
}

/// `C_UnwrapKey`: secret keys only; the material becomes an imported core key.
pub fn unwrap(
    h: CK_SESSION_HANDLE,
    m: *const CK_MECHANISM,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    tmpl: Vec<Attr>,
) -> Rv<CK_OBJECT_HANDLE> {
    let ctx = state::ctx(h)?;
    let m = MechIn::read(m)?;
    let pad = wrap_mech(&m)?;
    ctx.caller()?;
    let t = KeyTemplate::parse(&tmpl)?;
    if t.class != Some(CKO_SECRET_KEY) {
        return Err(CKR_TEMPLATE_INCONSISTENT);
    }
    let u = objects::load_key(&ctx, unwrapping).map_err(|e| {
        if e == CKR_KEY_HANDLE_INVALID {
            CKR_UNWRAPPING_KEY_HANDLE_INVALID
        } else {
            e
        }
    })?;
    if !u.spec().is_aes() {
        return Err(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
    }
    let material: crate::core::crypto::Secret = KeyUse::of(&u)
        .run(
            &ctx,
            Action::Unwrap,
            Usage::UNWRAP,
            false,
            Doing::Decrypt,
            |um| {
                if pad {
                    crypto::aes_kwp_unwrap(um, wrapped)
                } else {
                    crypto::aes_kw_unwrap(um, wrapped)
                }
            },
        )
        .map_err(|e| match e {
            CKR_ENCRYPTED_DATA_INVALID => CKR_WRAPPED_KEY_INVALID,
            rv => rv,
        })?;
    let kt = t.key_type.ok_or(CKR_TEMPLATE_INCOMPLETE)?;
    let spec = t.secret_spec(kt, Some(material.len()))?;
    let hs = objects::new_key(&ctx, &t, spec, Some(&material))?;
    hs.first().copied().ok_or(CKR_GENERAL_ERROR)
}

/// `C_DeriveKey`: HKDF (extract and expand, salt as data or none) from a secret key, or ECDH
/// without a KDF from an EC private key; the result becomes an imported core key.
pub fn derive(
    h: CK_SESSION_HANDLE,
    m: *const CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    tmpl: Vec<Attr>,
) -> Rv<CK_OBJECT_HANDLE> {
    let ctx = state::ctx(h)?;
    let m = MechIn::read(m)?;
    ctx.caller()?;
    let t = KeyTemplate::parse(&tmpl)?;
    if t.class.is_some_and(|c| c != CKO_SECRET_KEY) {
        return Err(CKR_TEMPLATE_INCONSISTENT);
    }
    let k = objects::load_key(&ctx, base)?;
    let ku = KeyUse::of(&k);
    let kt = t.key_type.unwrap_or(CKK_GENERIC_SECRET);
    let material: crate::core::crypto::Secret = match m.ty {
        CKM_HKDF_DERIVE => {
            if !k.spec().is_symmetric() {
                return Err(CKR_KEY_TYPE_INCONSISTENT);
            }
            let p: CK_HKDF_PARAMS = m.param()?;
            if p.bExtract == 0 || p.bExpand == 0 {
                return Err(CKR_MECHANISM_PARAM_INVALID);
            }
            let hash =
                mechanisms::hash_of(p.prfHashMechanism).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
            let salt = match p.ulSaltType {
                CKF_HKDF_SALT_NULL => Vec::new(),
                CKF_HKDF_SALT_DATA => ffi::bytes(p.pSalt, p.ulSaltLen)
                    .map_err(|_| CKR_MECHANISM_PARAM_INVALID)?
                    .to_vec(),
                _ => return Err(CKR_MECHANISM_PARAM_INVALID),
            };
            let info = ffi::bytes(p.pInfo, p.ulInfoLen)
                .map_err(|_| CKR_MECHANISM_PARAM_INVALID)?
                .to_vec();
            let len = t.value_len.ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            ku.run(
                &ctx,
                Action::Derive,
                Usage::DERIVE,
                true,
                Doing::KeyUse,
                |km| crypto::hkdf(hash, km, &salt, &info, len),
            )?
        }
        CKM_ECDH1_DERIVE => {
            if !k.spec().is_ec() || k.class != CKO_PRIVATE_KEY {
                return Err(CKR_KEY_TYPE_INCONSISTENT);
            }
            let p: CK_ECDH1_DERIVE_PARAMS = m.param()?;
            if p.kdf != CKD_NULL || p.ulSharedDataLen != 0 {
                return Err(CKR_MECHANISM_PARAM_INVALID);
            }
            let point = ffi::bytes(p.pPublicData, p.ulPublicDataLen)
                .map_err(|_| CKR_MECHANISM_PARAM_INVALID)?;
            let point = objects::unwrap_octet_string(point).to_vec();
            let z = ku.run(
                &ctx,
                Action::Derive,
                Usage::DERIVE,
                true,
                Doing::KeyUse,
                |km| crypto::ecdh(k.spec(), km, &point),
            )?;
            let len = t.value_len.unwrap_or(z.len());
            if len == 0 || len > z.len() {
                return Err(CKR_TEMPLATE_INCONSISTENT);
            }
            crate::core::crypto::Secret::new(z[..len].to_vec())
        }
        _ => return Err(CKR_MECHANISM_INVALID),
    };
    let spec = t.secret_spec(kt, Some(material.len()))?;
    let hs = objects::new_key(&ctx, &t, spec, Some(&material))?;
    hs.first().copied().ok_or(CKR_GENERAL_ERROR)
}
