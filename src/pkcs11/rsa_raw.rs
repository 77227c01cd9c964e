//! RSA PKCS#1 v1.5 signing of a caller-encoded block (`CKM_RSA_PKCS` over a DigestInfo the
//! core's safe primitives do not encode, e.g. SHA-1 or SHA-224): aws-lc-rs has no safe
//! raw-RSA private operation, so this is the one place that calls aws-lc's `RSA_sign_raw`
//! (the same library aws-lc-rs wraps). Used only inside `Kms::with_key` (policy, state,
//! usage and audit are the core's).

use aws_lc_sys as sys;

use crate::core::{Error, Result};

/// Frees what it owns on every path.
struct Owned {
    pkey: *mut sys::EVP_PKEY,
    rsa: *mut sys::RSA,
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: both pointers are NULL or were returned (owned, +1 reference) by
        // EVP_parse_private_key / EVP_PKEY_get1_RSA below and are freed exactly once here.
        unsafe {
            if !self.rsa.is_null() {
                sys::RSA_free(self.rsa);
            }
            if !self.pkey.is_null() {
                sys::EVP_PKEY_free(self.pkey);
            }
        }
    }
}

/// Signs `block` (at most k-11 bytes) with PKCS#1 v1.5 type-1 padding under the RSA private
/// key in `pkcs8` (PKCS#8 DER).
pub fn sign_pkcs1_block(pkcs8: &[u8], block: &[u8]) -> Result<Vec<u8>> {
    let mut o = Owned {
        pkey: std::ptr::null_mut(),
        rsa: std::ptr::null_mut(),
    };
    // SAFETY: CBS is a plain struct initialised by CBS_init over `pkcs8`, which outlives the
    // parse; EVP_parse_private_key only reads through it and returns an owned key or NULL.
    unsafe {
        let mut cbs = std::mem::zeroed::<sys::CBS>();
        sys::CBS_init(&mut cbs, pkcs8.as_ptr(), pkcs8.len());
        o.pkey = sys::EVP_parse_private_key(&mut cbs);
        if o.pkey.is_null() {
            return Err(Error::invalid("not an RSA private key"));
        }
        o.rsa = sys::EVP_PKEY_get1_RSA(o.pkey);
    }
    if o.rsa.is_null() {
        return Err(Error::invalid("not an RSA private key"));
    }
    // SAFETY: o.rsa is a valid RSA key (checked non-NULL above).
    let k = unsafe { sys::RSA_size(o.rsa) } as usize;
    if k == 0 || block.len() + 11 > k {
        return Err(Error::invalid("input too long for PKCS#1 v1.5 signing"));
    }
    let mut out = vec![0u8; k];
    let mut out_len = 0usize;
    // SAFETY: out has k writable bytes (max_out = k); block is readable for its length;
    // o.rsa is valid; RSA_sign_raw writes at most max_out bytes and sets out_len.
    let ok = unsafe {
        sys::RSA_sign_raw(
            o.rsa,
            &mut out_len,
            out.as_mut_ptr(),
            out.len(),
            block.as_ptr(),
            block.len(),
            sys::RSA_PKCS1_PADDING,
        )
    };
    if ok != 1 || out_len != k {
        return Err(Error::crypto("RSA signing failed"));
    }
    Ok(out)
}
