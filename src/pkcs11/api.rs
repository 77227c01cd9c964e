//! The `C_*` functions of the function tables: each runs in the boundary's panic guard and
//! delegates, in one line, to the module that owns it. Functions the module does not offer
//! (message-based encryption, sign/verify-recover, dual-function updates, slot events)
//! answer `CKR_FUNCTION_NOT_SUPPORTED` once the module is initialised.
//!
//! Generated shape, one per entry of `CK_FUNCTION_LIST_3_0`; keep it mechanical.
#![allow(non_snake_case, clippy::too_many_arguments)]

use std::ffi::c_void;

use cryptoki_sys::*;

use super::ffi::{self, Rv};
use super::{
    find_final, find_init, find_next, get_function_list, get_interface, get_interface_list,
    session_cancel,
};
use super::{objects, ops_cipher, ops_digest, ops_keys, ops_sign, session, slots, state};
use crate::boundary::guard_value;

/// The guard: a panic is `CKR_GENERAL_ERROR`, never an unwind into C.
fn entry(f: impl FnOnce() -> Rv<()>) -> CK_RV {
    guard_value(CKR_GENERAL_ERROR, || match f() {
        Ok(()) => CKR_OK,
        Err(rv) => rv,
    })
}

/// A function this module does not offer.
fn unsupported() -> Rv<()> {
    state::with_read(|_| Ok(()))?;
    Err(CKR_FUNCTION_NOT_SUPPORTED)
}

pub extern "C" fn C_Initialize(args: *mut c_void) -> CK_RV {
    entry(|| state::initialize(args as *mut CK_C_INITIALIZE_ARGS))
}

pub extern "C" fn C_Finalize(reserved: *mut c_void) -> CK_RV {
    entry(|| state::finalize(reserved))
}

pub extern "C" fn C_GetInfo(out: *mut CK_INFO) -> CK_RV {
    entry(|| slots::info(out))
}

pub extern "C" fn C_GetFunctionList(out: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    entry(|| get_function_list(out))
}

pub extern "C" fn C_GetSlotList(
    present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    entry(|| slots::slot_list(present, list, count))
}

pub extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, out: *mut CK_SLOT_INFO) -> CK_RV {
    entry(|| slots::slot_info(slot, out))
}

pub extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, out: *mut CK_TOKEN_INFO) -> CK_RV {
    entry(|| slots::token_info(slot, out))
}

pub extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    entry(|| slots::mechanism_list(slot, list, count))
}

pub extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    ty: CK_MECHANISM_TYPE,
    out: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    entry(|| slots::mechanism_info(slot, ty, out))
}

pub extern "C" fn C_InitToken(
    slot: CK_SLOT_ID,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
    label: *mut CK_UTF8CHAR,
) -> CK_RV {
    entry(|| slots::init_token(slot, ffi::bytes(pin, pin_len)?, label))
}

pub extern "C" fn C_InitPIN(
    h: CK_SESSION_HANDLE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    entry(|| slots::init_pin(h, ffi::bytes(pin, pin_len)?))
}

pub extern "C" fn C_SetPIN(
    h: CK_SESSION_HANDLE,
    old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    entry(|| slots::set_pin(h, ffi::bytes(old, old_len)?, ffi::bytes(new, new_len)?))
}

pub extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _app: *mut c_void,
    _notify: CK_NOTIFY,
    out: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    entry(|| session::open(slot, flags, out))
}

pub extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| session::close(h))
}

pub extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    entry(|| session::close_all(slot))
}

pub extern "C" fn C_GetSessionInfo(h: CK_SESSION_HANDLE, out: *mut CK_SESSION_INFO) -> CK_RV {
    entry(|| session::info(h, out))
}

pub extern "C" fn C_GetOperationState(
    h: CK_SESSION_HANDLE,
    _state: *mut CK_BYTE,
    _len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| state::ctx(h).and(Err(CKR_STATE_UNSAVEABLE)))
}

pub extern "C" fn C_SetOperationState(
    h: CK_SESSION_HANDLE,
    _state: *mut CK_BYTE,
    _len: CK_ULONG,
    _ek: CK_OBJECT_HANDLE,
    _ak: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| state::ctx(h).and(Err(CKR_SAVED_STATE_INVALID)))
}

pub extern "C" fn C_Login(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    entry(|| session::login(h, user, ffi::bytes(pin, pin_len)?, None))
}

pub extern "C" fn C_Logout(h: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| session::logout(h))
}

pub extern "C" fn C_CreateObject(
    h: CK_SESSION_HANDLE,
    tmpl: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    out: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        let ctx = state::ctx(h)?;
        ffi::out_ok(out)?;
        let o = objects::create(&ctx, ffi::object_template(tmpl, n)?)?;
        ffi::write(out, o)
    })
}

pub extern "C" fn C_CopyObject(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    tmpl: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    out: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        let ctx = state::ctx(h)?;
        ffi::out_ok(out)?;
        let o = objects::copy(&ctx, obj, ffi::object_template(tmpl, n)?)?;
        ffi::write(out, o)
    })
}

pub extern "C" fn C_DestroyObject(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> CK_RV {
    entry(|| objects::destroy(&*state::ctx(h)?, obj))
}

pub extern "C" fn C_GetObjectSize(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    out: *mut CK_ULONG,
) -> CK_RV {
    entry(|| {
        let ctx = state::ctx(h)?;
        let n = objects::size(&ctx, obj)?;
        ffi::write(out, n)
    })
}

pub extern "C" fn C_GetAttributeValue(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    tmpl: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    entry(|| objects::get_attributes(&*state::ctx(h)?, obj, tmpl, n))
}

pub extern "C" fn C_SetAttributeValue(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    tmpl: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    entry(|| objects::set_attributes(&*state::ctx(h)?, obj, ffi::object_template(tmpl, n)?))
}

pub extern "C" fn C_FindObjectsInit(
    h: CK_SESSION_HANDLE,
    tmpl: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    entry(|| find_init(h, tmpl, n))
}

pub extern "C" fn C_FindObjects(
    h: CK_SESSION_HANDLE,
    out: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    count: *mut CK_ULONG,
) -> CK_RV {
    entry(|| find_next(h, out, max, count))
}

pub extern "C" fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| find_final(h))
}

pub extern "C" fn C_EncryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| ops_cipher::init(h, m, key, true))
}

pub extern "C" fn C_Encrypt(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_cipher::single(h, ffi::bytes(data, len), out, out_len, true))
}

pub extern "C" fn C_EncryptUpdate(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_cipher::update(h, ffi::bytes(data, len), out, out_len, true))
}

pub extern "C" fn C_EncryptFinal(
    h: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_cipher::final_(h, out, out_len, true))
}

pub extern "C" fn C_DecryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| ops_cipher::init(h, m, key, false))
}

pub extern "C" fn C_Decrypt(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_cipher::single(h, ffi::bytes(data, len), out, out_len, false))
}

pub extern "C" fn C_DecryptUpdate(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_cipher::update(h, ffi::bytes(data, len), out, out_len, false))
}

pub extern "C" fn C_DecryptFinal(
    h: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_cipher::final_(h, out, out_len, false))
}

pub extern "C" fn C_DigestInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM) -> CK_RV {
    entry(|| ops_digest::digest_init(h, m))
}

pub extern "C" fn C_Digest(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_digest::digest(h, ffi::bytes(data, len), out, out_len))
}

pub extern "C" fn C_DigestUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    entry(|| ops_digest::digest_update(h, ffi::bytes(data, len)))
}

pub extern "C" fn C_DigestKey(h: CK_SESSION_HANDLE, _key: CK_OBJECT_HANDLE) -> CK_RV {
    entry(|| ops_digest::digest_key(h))
}

pub extern "C" fn C_DigestFinal(
    h: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_digest::digest_final(h, out, out_len))
}

pub extern "C" fn C_SignInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| ops_sign::init(h, m, key, true))
}

pub extern "C" fn C_Sign(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_sign::sign(h, ffi::bytes(data, len), out, out_len))
}

pub extern "C" fn C_SignUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    entry(|| ops_sign::update(h, ffi::bytes(data, len), true))
}

pub extern "C" fn C_SignFinal(
    h: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_sign::sign_final(h, out, out_len))
}

pub extern "C" fn C_SignRecoverInit(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_MECHANISM,
    _a2: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_SignRecover(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_BYTE,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_VerifyInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| ops_sign::init(h, m, key, false))
}

pub extern "C" fn C_Verify(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    entry(|| ops_sign::verify(h, ffi::bytes(data, len), ffi::bytes(sig, sig_len)))
}

pub extern "C" fn C_VerifyUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    entry(|| ops_sign::update(h, ffi::bytes(data, len), false))
}

pub extern "C" fn C_VerifyFinal(
    h: CK_SESSION_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    entry(|| ops_sign::verify_final(h, ffi::bytes(sig, sig_len)))
}

pub extern "C" fn C_VerifyRecoverInit(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_MECHANISM,
    _a2: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_VerifyRecover(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_BYTE,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_DigestEncryptUpdate(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_BYTE,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_DecryptDigestUpdate(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_BYTE,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_SignEncryptUpdate(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_BYTE,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_DecryptVerifyUpdate(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_BYTE,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_GenerateKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    tmpl: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    out: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        ffi::out_ok(out)?;
        let k = ops_keys::generate_key(h, m, ffi::object_template(tmpl, n)?)?;
        ffi::write(out, k)
    })
}

pub extern "C" fn C_GenerateKeyPair(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    pt: *mut CK_ATTRIBUTE,
    pn: CK_ULONG,
    st: *mut CK_ATTRIBUTE,
    sn: CK_ULONG,
    out_pub: *mut CK_OBJECT_HANDLE,
    out_priv: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        if out_pub.is_null() || out_priv.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let (p, s) = ops_keys::generate_key_pair(
            h,
            m,
            ffi::object_template(pt, pn)?,
            ffi::object_template(st, sn)?,
        )?;
        ffi::write(out_pub, p)?;
        ffi::write(out_priv, s)
    })
}

pub extern "C" fn C_WrapKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    wk: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    entry(|| ops_keys::wrap(h, m, wk, key, out, out_len))
}

pub extern "C" fn C_UnwrapKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    uk: CK_OBJECT_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    tmpl: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    out: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        ffi::out_ok(out)?;
        let k = ops_keys::unwrap(
            h,
            m,
            uk,
            ffi::bytes(data, len)?,
            ffi::object_template(tmpl, n)?,
        )?;
        ffi::write(out, k)
    })
}

pub extern "C" fn C_DeriveKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    tmpl: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    out: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(|| {
        ffi::out_ok(out)?;
        let k = ops_keys::derive(h, m, base, ffi::object_template(tmpl, n)?)?;
        ffi::write(out, k)
    })
}

pub extern "C" fn C_SeedRandom(h: CK_SESSION_HANDLE, _seed: *mut CK_BYTE, _len: CK_ULONG) -> CK_RV {
    entry(|| state::ctx(h).and(Err(CKR_RANDOM_SEED_NOT_SUPPORTED)))
}

pub extern "C" fn C_GenerateRandom(
    h: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    entry(|| ops_digest::random(h, out, len))
}

pub extern "C" fn C_GetFunctionStatus(h: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| state::ctx(h).and(Err(CKR_FUNCTION_NOT_PARALLEL)))
}

pub extern "C" fn C_CancelFunction(h: CK_SESSION_HANDLE) -> CK_RV {
    entry(|| state::ctx(h).and(Err(CKR_FUNCTION_NOT_PARALLEL)))
}

pub extern "C" fn C_WaitForSlotEvent(
    _a0: CK_FLAGS,
    _a1: *mut CK_SLOT_ID,
    _a2: *mut c_void,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_GetInterfaceList(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> CK_RV {
    entry(|| get_interface_list(list, count))
}

pub extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    out: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    entry(|| get_interface(name, version, out, flags))
}

pub extern "C" fn C_LoginUser(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
    name: *mut CK_UTF8CHAR,
    name_len: CK_ULONG,
) -> CK_RV {
    entry(|| {
        let name =
            std::str::from_utf8(ffi::bytes(name, name_len)?).map_err(|_| CKR_ARGUMENTS_BAD)?;
        session::login(h, user, ffi::bytes(pin, pin_len)?, Some(name))
    })
}

pub extern "C" fn C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    entry(|| session_cancel(h, flags))
}

pub extern "C" fn C_MessageEncryptInit(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_MECHANISM,
    _a2: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_EncryptMessage(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
    _a5: *mut CK_BYTE,
    _a6: CK_ULONG,
    _a7: *mut CK_BYTE,
    _a8: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_EncryptMessageBegin(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_EncryptMessageNext(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
    _a5: *mut CK_BYTE,
    _a6: *mut CK_ULONG,
    _a7: CK_FLAGS,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_MessageEncryptFinal(_a0: CK_SESSION_HANDLE) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_MessageDecryptInit(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_MECHANISM,
    _a2: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_DecryptMessage(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
    _a5: *mut CK_BYTE,
    _a6: CK_ULONG,
    _a7: *mut CK_BYTE,
    _a8: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_DecryptMessageBegin(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_DecryptMessageNext(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
    _a5: *mut CK_BYTE,
    _a6: *mut CK_ULONG,
    _a7: CK_FLAGS,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_MessageDecryptFinal(_a0: CK_SESSION_HANDLE) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_MessageSignInit(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_MECHANISM,
    _a2: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_SignMessage(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
    _a5: *mut CK_BYTE,
    _a6: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_SignMessageBegin(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_SignMessageNext(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
    _a5: *mut CK_BYTE,
    _a6: *mut CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_MessageSignFinal(_a0: CK_SESSION_HANDLE) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_MessageVerifyInit(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut CK_MECHANISM,
    _a2: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_VerifyMessage(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
    _a5: *mut CK_BYTE,
    _a6: CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_VerifyMessageBegin(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_VerifyMessageNext(
    _a0: CK_SESSION_HANDLE,
    _a1: *mut c_void,
    _a2: CK_ULONG,
    _a3: *mut CK_BYTE,
    _a4: CK_ULONG,
    _a5: *mut CK_BYTE,
    _a6: CK_ULONG,
) -> CK_RV {
    entry(unsupported)
}

pub extern "C" fn C_MessageVerifyFinal(_a0: CK_SESSION_HANDLE) -> CK_RV {
    entry(unsupported)
}
