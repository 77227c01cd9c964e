//! The PKCS#11 front end: `libkms.so` is also a PKCS#11 module. Exports `C_GetFunctionList`
//! (v2.40 list) and `C_GetInterfaceList`/`C_GetInterface` (v3.0 interface); every other
//! `C_*` function is reached through those tables (see `api`). Tokens are keyrings, objects
//! are key versions, certificates and data objects; the core decides, this layer translates
//! (see docs/pkcs11.md).
//!
//! Layout: `state` (the one global), `slots`, `session`, `objects` (the attribute table),
//! `mechanisms` (the mechanism table), `ops_*` (operations), `rv` (core error -> CK_RV),
//! `ffi` (pointer glue), `api` (the table entries).

use std::ffi::c_void;

use cryptoki_sys::*;

mod api;
mod ffi;
mod mechanisms;
mod objects;
mod ops_cipher;
mod ops_digest;
mod ops_keys;
mod ops_sign;
mod rsa_raw;
mod rv;
mod session;
mod slots;
mod state;

use ffi::Rv;

pub(crate) use objects::decode_templates;
pub use objects::{CKA_KMS_KEY_ID, CKA_KMS_PRIMARY, CKA_KMS_VERSION};
pub use slots::FREE_SLOT;

static FUNCTION_LIST: CK_FUNCTION_LIST = CK_FUNCTION_LIST {
    version: CK_VERSION {
        major: 2,
        minor: 40,
    },
    C_Initialize: Some(api::C_Initialize),
    C_Finalize: Some(api::C_Finalize),
    C_GetInfo: Some(api::C_GetInfo),
    C_GetFunctionList: Some(api::C_GetFunctionList),
    C_GetSlotList: Some(api::C_GetSlotList),
    C_GetSlotInfo: Some(api::C_GetSlotInfo),
    C_GetTokenInfo: Some(api::C_GetTokenInfo),
    C_GetMechanismList: Some(api::C_GetMechanismList),
    C_GetMechanismInfo: Some(api::C_GetMechanismInfo),
    C_InitToken: Some(api::C_InitToken),
    C_InitPIN: Some(api::C_InitPIN),
    C_SetPIN: Some(api::C_SetPIN),
    C_OpenSession: Some(api::C_OpenSession),
    C_CloseSession: Some(api::C_CloseSession),
    C_CloseAllSessions: Some(api::C_CloseAllSessions),
    C_GetSessionInfo: Some(api::C_GetSessionInfo),
    C_GetOperationState: Some(api::C_GetOperationState),
    C_SetOperationState: Some(api::C_SetOperationState),
    C_Login: Some(api::C_Login),
    C_Logout: Some(api::C_Logout),
    C_CreateObject: Some(api::C_CreateObject),
    C_CopyObject: Some(api::C_CopyObject),
    C_DestroyObject: Some(api::C_DestroyObject),
    C_GetObjectSize: Some(api::C_GetObjectSize),
    C_GetAttributeValue: Some(api::C_GetAttributeValue),
    C_SetAttributeValue: Some(api::C_SetAttributeValue),
    C_FindObjectsInit: Some(api::C_FindObjectsInit),
    C_FindObjects: Some(api::C_FindObjects),
    C_FindObjectsFinal: Some(api::C_FindObjectsFinal),
    C_EncryptInit: Some(api::C_EncryptInit),
    C_Encrypt: Some(api::C_Encrypt),
    C_EncryptUpdate: Some(api::C_EncryptUpdate),
    C_EncryptFinal: Some(api::C_EncryptFinal),
    C_DecryptInit: Some(api::C_DecryptInit),
    C_Decrypt: Some(api::C_Decrypt),
    C_DecryptUpdate: Some(api::C_DecryptUpdate),
    C_DecryptFinal: Some(api::C_DecryptFinal),
    C_DigestInit: Some(api::C_DigestInit),
    C_Digest: Some(api::C_Digest),
    C_DigestUpdate: Some(api::C_DigestUpdate),
    C_DigestKey: Some(api::C_DigestKey),
    C_DigestFinal: Some(api::C_DigestFinal),
    C_SignInit: Some(api::C_SignInit),
    C_Sign: Some(api::C_Sign),
    C_SignUpdate: Some(api::C_SignUpdate),
    C_SignFinal: Some(api::C_SignFinal),
    C_SignRecoverInit: Some(api::C_SignRecoverInit),
    C_SignRecover: Some(api::C_SignRecover),
    C_VerifyInit: Some(api::C_VerifyInit),
    C_Verify: Some(api::C_Verify),
    C_VerifyUpdate: Some(api::C_VerifyUpdate),
    C_VerifyFinal: Some(api::C_VerifyFinal),
    C_VerifyRecoverInit: Some(api::C_VerifyRecoverInit),
    C_VerifyRecover: Some(api::C_VerifyRecover),
    C_DigestEncryptUpdate: Some(api::C_DigestEncryptUpdate),
    C_DecryptDigestUpdate: Some(api::C_DecryptDigestUpdate),
    C_SignEncryptUpdate: Some(api::C_SignEncryptUpdate),
    C_DecryptVerifyUpdate: Some(api::C_DecryptVerifyUpdate),
    C_GenerateKey: Some(api::C_GenerateKey),
    C_GenerateKeyPair: Some(api::C_GenerateKeyPair),
    C_WrapKey: Some(api::C_WrapKey),
    C_UnwrapKey: Some(api::C_UnwrapKey),
    C_DeriveKey: Some(api::C_DeriveKey),
    C_SeedRandom: Some(api::C_SeedRandom),
    C_GenerateRandom: Some(api::C_GenerateRandom),
    C_GetFunctionStatus: Some(api::C_GetFunctionStatus),
    C_CancelFunction: Some(api::C_CancelFunction),
    C_WaitForSlotEvent: Some(api::C_WaitForSlotEvent),
};

static FUNCTION_LIST_3_0: CK_FUNCTION_LIST_3_0 = CK_FUNCTION_LIST_3_0 {
    version: CK_VERSION { major: 3, minor: 0 },
    C_Initialize: Some(api::C_Initialize),
    C_Finalize: Some(api::C_Finalize),
    C_GetInfo: Some(api::C_GetInfo),
    C_GetFunctionList: Some(api::C_GetFunctionList),
    C_GetSlotList: Some(api::C_GetSlotList),
    C_GetSlotInfo: Some(api::C_GetSlotInfo),
    C_GetTokenInfo: Some(api::C_GetTokenInfo),
    C_GetMechanismList: Some(api::C_GetMechanismList),
    C_GetMechanismInfo: Some(api::C_GetMechanismInfo),
    C_InitToken: Some(api::C_InitToken),
    C_InitPIN: Some(api::C_InitPIN),
    C_SetPIN: Some(api::C_SetPIN),
    C_OpenSession: Some(api::C_OpenSession),
    C_CloseSession: Some(api::C_CloseSession),
    C_CloseAllSessions: Some(api::C_CloseAllSessions),
    C_GetSessionInfo: Some(api::C_GetSessionInfo),
    C_GetOperationState: Some(api::C_GetOperationState),
    C_SetOperationState: Some(api::C_SetOperationState),
    C_Login: Some(api::C_Login),
    C_Logout: Some(api::C_Logout),
    C_CreateObject: Some(api::C_CreateObject),
    C_CopyObject: Some(api::C_CopyObject),
    C_DestroyObject: Some(api::C_DestroyObject),
    C_GetObjectSize: Some(api::C_GetObjectSize),
    C_GetAttributeValue: Some(api::C_GetAttributeValue),
    C_SetAttributeValue: Some(api::C_SetAttributeValue),
    C_FindObjectsInit: Some(api::C_FindObjectsInit),
    C_FindObjects: Some(api::C_FindObjects),
    C_FindObjectsFinal: Some(api::C_FindObjectsFinal),
    C_EncryptInit: Some(api::C_EncryptInit),
    C_Encrypt: Some(api::C_Encrypt),
    C_EncryptUpdate: Some(api::C_EncryptUpdate),
    C_EncryptFinal: Some(api::C_EncryptFinal),
    C_DecryptInit: Some(api::C_DecryptInit),
    C_Decrypt: Some(api::C_Decrypt),
    C_DecryptUpdate: Some(api::C_DecryptUpdate),
    C_DecryptFinal: Some(api::C_DecryptFinal),
    C_DigestInit: Some(api::C_DigestInit),
    C_Digest: Some(api::C_Digest),
    C_DigestUpdate: Some(api::C_DigestUpdate),
    C_DigestKey: Some(api::C_DigestKey),
    C_DigestFinal: Some(api::C_DigestFinal),
    C_SignInit: Some(api::C_SignInit),
    C_Sign: Some(api::C_Sign),
    C_SignUpdate: Some(api::C_SignUpdate),
    C_SignFinal: Some(api::C_SignFinal),
    C_SignRecoverInit: Some(api::C_SignRecoverInit),
    C_SignRecover: Some(api::C_SignRecover),
    C_VerifyInit: Some(api::C_VerifyInit),
    C_Verify: Some(api::C_Verify),
    C_VerifyUpdate: Some(api::C_VerifyUpdate),
    C_VerifyFinal: Some(api::C_VerifyFinal),
    C_VerifyRecoverInit: Some(api::C_VerifyRecoverInit),
    C_VerifyRecover: Some(api::C_VerifyRecover),
    C_DigestEncryptUpdate: Some(api::C_DigestEncryptUpdate),
    C_DecryptDigestUpdate: Some(api::C_DecryptDigestUpdate),
    C_SignEncryptUpdate: Some(api::C_SignEncryptUpdate),
    C_DecryptVerifyUpdate: Some(api::C_DecryptVerifyUpdate),
    C_GenerateKey: Some(api::C_GenerateKey),
    C_GenerateKeyPair: Some(api::C_GenerateKeyPair),
    C_WrapKey: Some(api::C_WrapKey),
    C_UnwrapKey: Some(api::C_UnwrapKey),
    C_DeriveKey: Some(api::C_DeriveKey),
    C_SeedRandom: Some(api::C_SeedRandom),
    C_GenerateRandom: Some(api::C_GenerateRandom),
    C_GetFunctionStatus: Some(api::C_GetFunctionStatus),
    C_CancelFunction: Some(api::C_CancelFunction),
    C_WaitForSlotEvent: Some(api::C_WaitForSlotEvent),
    C_GetInterfaceList: Some(api::C_GetInterfaceList),
    C_GetInterface: Some(api::C_GetInterface),
    C_LoginUser: Some(api::C_LoginUser),
    C_SessionCancel: Some(api::C_SessionCancel),
    C_MessageEncryptInit: Some(api::C_MessageEncryptInit),
    C_EncryptMessage: Some(api::C_EncryptMessage),
    C_EncryptMessageBegin: Some(api::C_EncryptMessageBegin),
    C_EncryptMessageNext: Some(api::C_EncryptMessageNext),
    C_MessageEncryptFinal: Some(api::C_MessageEncryptFinal),
    C_MessageDecryptInit: Some(api::C_MessageDecryptInit),
    C_DecryptMessage: Some(api::C_DecryptMessage),
    C_DecryptMessageBegin: Some(api::C_DecryptMessageBegin),
    C_DecryptMessageNext: Some(api::C_DecryptMessageNext),
    C_MessageDecryptFinal: Some(api::C_MessageDecryptFinal),
    C_MessageSignInit: Some(api::C_MessageSignInit),
    C_SignMessage: Some(api::C_SignMessage),
    C_SignMessageBegin: Some(api::C_SignMessageBegin),
    C_SignMessageNext: Some(api::C_SignMessageNext),
    C_MessageSignFinal: Some(api::C_MessageSignFinal),
    C_MessageVerifyInit: Some(api::C_MessageVerifyInit),
    C_VerifyMessage: Some(api::C_VerifyMessage),
    C_VerifyMessageBegin: Some(api::C_VerifyMessageBegin),
    C_VerifyMessageNext: Some(api::C_VerifyMessageNext),
    C_MessageVerifyFinal: Some(api::C_MessageVerifyFinal),
};

const INTERFACE_NAME: &[u8] = b"PKCS 11\0";

/// The interfaces offered: the 3.0 list first (the default), then the 2.40 list.
struct Interfaces([CK_INTERFACE; 2]);

// SAFETY: the table is immutable; its pointers name static, immutable data (a NUL-terminated
// name and the two function lists), so sharing it between threads is sound.
unsafe impl Sync for Interfaces {}

static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST_3_0 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    },
]);

fn get_function_list(out: *mut *mut CK_FUNCTION_LIST) -> Rv<()> {
    ffi::write(
        out,
        &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST,
    )
}

fn get_interface_list(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> Rv<()> {
    let items: Vec<CK_INTERFACE> = INTERFACES
        .0
        .iter()
        .map(|i| CK_INTERFACE {
            pInterfaceName: i.pInterfaceName,
            pFunctionList: i.pFunctionList,
            flags: i.flags,
        })
        .collect();
    ffi::deliver_list(list, count, &items)
}

fn get_interface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    out: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> Rv<()> {
    if out.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    if !name.is_null() {
        let n = crate::boundary::ptr::in_str(name as *const std::ffi::c_char, "name")
            .map_err(|_| CKR_ARGUMENTS_BAD)?;
        if n != "PKCS 11" {
            return Err(CKR_ARGUMENTS_BAD);
        }
    }
    let wanted = if version.is_null() {
        None
    } else {
        Some(ffi::read(version)?)
    };
    let found = INTERFACES.0.iter().find(|i| {
        // SAFETY: pFunctionList points to one of the two static lists, both starting with
        // their CK_VERSION.
        let v = unsafe { *(i.pFunctionList as *const CK_VERSION) };
        wanted.is_none_or(|w| w.major == v.major && w.minor == v.minor) && i.flags & flags == flags
    });
    match found {
        Some(i) => ffi::write(out, i as *const CK_INTERFACE as *mut CK_INTERFACE),
        None => Err(CKR_ARGUMENTS_BAD),
    }
}

fn find_init(h: CK_SESSION_HANDLE, tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let t = ffi::template(tmpl, n)?;
    if ctx.lock().find.is_some() {
        return Err(CKR_OPERATION_ACTIVE);
    }
    let op = objects::find_init(&ctx, t)?;
    ctx.lock().find = Some(op);
    Ok(())
}

fn find_next(
    h: CK_SESSION_HANDLE,
    out: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    count: *mut CK_ULONG,
) -> Rv<()> {
    let ctx = state::ctx(h)?;
    if out.is_null() || count.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let mut s = ctx.lock();
    let op = s.find.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
    let handles = objects::find_next(&ctx, op, ffi::len(max)?)?;
    let mut n = max;
    ffi::deliver_list(out, &mut n, &handles)?;
    ffi::write(count, n)
}

fn find_final(h: CK_SESSION_HANDLE) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let op = ctx.lock().find.take();
    match op {
        Some(_) => Ok(()),
        None => Err(CKR_OPERATION_NOT_INITIALIZED),
    }
}

fn session_cancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) -> Rv<()> {
    let ctx = state::ctx(h)?;
    let mut s = ctx.lock();
    if flags & CKF_ENCRYPT != 0 {
        s.encrypt = None;
    }
    if flags & CKF_DECRYPT != 0 {
        s.decrypt = None;
    }
    if flags & CKF_DIGEST != 0 {
        s.digest = None;
    }
    if flags & CKF_SIGN != 0 {
        s.sign = None;
    }
    if flags & CKF_VERIFY != 0 {
        s.verify = None;
    }
    if flags & CKF_FIND_OBJECTS != 0 {
        s.find = None;
    }
    Ok(())
}

/// Returns the v2.40 function list.
#[no_mangle]
pub extern "C" fn C_GetFunctionList(out: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    api::C_GetFunctionList(out)
}

/// Lists the interfaces (v3.0 and v2.40 function lists).
#[no_mangle]
pub extern "C" fn C_GetInterfaceList(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> CK_RV {
    api::C_GetInterfaceList(list, count)
}

/// Returns an interface by name and version (NULL = the default, v3.0).
#[no_mangle]
pub extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    out: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    api::C_GetInterface(name, version, out, flags)
}
