//! PKCS#11 key templates: a `CK_ATTRIBUTE` array in caller memory read and decoded into the
//! core's key request as `C_GenerateKeyPair` / `C_GenerateKey` / `C_CreateObject` do.
//!
//! Input: a header byte (low 6 bits: how many of the attributes form the public template;
//! bit 6: pass the public template as NULL with that count; bit 7: the same for the private
//! one), then attributes: a type byte (an index into `TYPES`, or 0xFF followed by 8 raw bytes
//! of type), a flag byte (bit 0: NULL `pValue` with the next byte as declared length), a
//! length byte and that many value bytes. Every pointer handed over points to memory this
//! target owns, with the length it really has (or is NULL): the module's own pointer checks
//! are under test, not the caller contract.
#![no_main]

use kms::fuzz_api::pkcs11_sys::*;
use kms::fuzz_api::{self, pkcs11_sys::CK_ATTRIBUTE};
use libfuzzer_sys::fuzz_target;

const TYPES: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_ID,
    CKA_TOKEN,
    CKA_VALUE_LEN,
    CKA_VALUE,
    CKA_EXTRACTABLE,
    CKA_EC_PARAMS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_DERIVE,
    CKA_PRIVATE,
    CKA_SENSITIVE,
    CKA_MODIFIABLE,
    CKA_SIGN_RECOVER,
    CKA_TRUSTED,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_LOCAL,
    CKA_NEVER_EXTRACTABLE,
    CKA_ALLOWED_MECHANISMS,
    CKA_CERTIFICATE_TYPE,
    CKA_SUBJECT,
];

/// One attribute: its type, and its value bytes or (NULL pointer, declared length).
enum Val<'a> {
    Bytes(&'a [u8]),
    Null(CK_ULONG),
}

fn read_attrs(mut b: &[u8]) -> Vec<(CK_ATTRIBUTE_TYPE, Val<'_>)> {
    let mut out = Vec::new();
    while let [t, flags, n, rest @ ..] = b {
        let (ty, rest) = match TYPES.get(*t as usize) {
            Some(ty) => (*ty, rest),
            None if rest.len() >= 8 => {
                let raw = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
                (raw as CK_ATTRIBUTE_TYPE, &rest[8..])
            }
            None => break,
        };
        if flags & 1 != 0 {
            out.push((ty, Val::Null(*n as CK_ULONG)));
            b = rest;
        } else {
            let n = (*n as usize).min(rest.len());
            out.push((ty, Val::Bytes(&rest[..n])));
            b = &rest[n..];
        }
    }
    out
}

fn ck_attributes(v: &[(CK_ATTRIBUTE_TYPE, Val<'_>)]) -> Vec<CK_ATTRIBUTE> {
    v.iter()
        .map(|(ty, val)| match val {
            Val::Bytes(b) => CK_ATTRIBUTE {
                type_: *ty,
                pValue: if b.is_empty() {
                    std::ptr::null_mut()
                } else {
                    b.as_ptr() as *mut _
                },
                ulValueLen: b.len() as CK_ULONG,
            },
            Val::Null(n) => CK_ATTRIBUTE {
                type_: *ty,
                pValue: std::ptr::null_mut(),
                ulValueLen: *n,
            },
        })
        .collect()
}

/// (pointer, count) of a template; NULL with `count` when asked.
fn template(a: &[CK_ATTRIBUTE], null: bool) -> (*const CK_ATTRIBUTE, CK_ULONG) {
    if null || a.is_empty() {
        (std::ptr::null(), if null { a.len() as CK_ULONG } else { 0 })
    } else {
        (a.as_ptr(), a.len() as CK_ULONG)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&hdr, rest)) = data.split_first() else {
        return;
    };
    let attrs = read_attrs(rest);
    let split = ((hdr & 0x3f) as usize).min(attrs.len());
    let public = ck_attributes(&attrs[..split]);
    let private = ck_attributes(&attrs[split..]);
    // SAFETY: every pointer points to memory owned above (`data`, `public`, `private`) that
    // outlives the call, with the element count or byte length it really has, or is NULL.
    let _ = unsafe {
        fuzz_api::pkcs11_templates(
            template(&public, hdr & 0x40 != 0),
            template(&private, hdr & 0x80 != 0),
        )
    };
});
