//! Library-allocated output buffers (`kms_buffer`) for variable-length and secret results,
//! freed by the caller with the zeroizing `kms_buffer_free`.
//!
//! Use a `kms_buffer` where the caller cannot know the size beforehand or where a size query
//! would have to compute the secret twice (a generated data key differs on each call); use
//! the caller-buffer convention (`ptr::write_out`) elsewhere.

use zeroize::Zeroize;

use super::guard::BResult;
use super::ptr::out_ref;

/// Bytes allocated by libkms and owned by the caller until `kms_buffer_free`. `data` is NULL
/// when `len` is 0. Do not free `data` with `free()`; do not change `data` or `len`.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct kms_buffer {
    /// The bytes (NULL when empty).
    pub data: *mut u8,
    /// The number of bytes at `data`.
    pub len: usize,
}

impl kms_buffer {
    const EMPTY: kms_buffer = kms_buffer {
        data: std::ptr::null_mut(),
        len: 0,
    };
}

/// Hands `data` to the caller in a new `kms_buffer` written to `out` (checked non-NULL and
/// aligned). The Rust-side copy is zeroized (the bytes move to an exact-size allocation by
/// copying, never by a reallocation that could leave a copy behind). Call it last in a
/// guarded body, after everything that can fail.
pub fn out_buffer(
    out: *mut kms_buffer,
    data: impl Into<crate::core::crypto::Secret>,
) -> BResult<()> {
    let data: crate::core::crypto::Secret = data.into();
    let mut out = out_ref(out, "out")?;
    if data.is_empty() {
        out.set(kms_buffer::EMPTY);
        return Ok(());
    }
    let mut boxed: Box<[u8]> = vec![0u8; data.len()].into_boxed_slice();
    boxed.copy_from_slice(&data);
    drop(data);
    let len = boxed.len();
    let ptr = Box::into_raw(boxed).cast::<u8>();
    out.set(kms_buffer { data: ptr, len });
    Ok(())
}

/// Zeroizes and frees a buffer from `out_buffer`, then resets it to `{NULL, 0}` so a second
/// free of the same struct is harmless. A NULL `buf` or a buffer with NULL `data` is a no-op.
pub fn buffer_free(buf: *mut kms_buffer) {
    let Ok(mut out) = out_ref(buf, "buf") else {
        return;
    };
    let b = out.get();
    if b.data.is_null() {
        return;
    }
    let slice = std::ptr::slice_from_raw_parts_mut(b.data, b.len);
    // SAFETY: a non-NULL data with its len comes from Box::into_raw of a Box<[u8]> of exactly
    // that length in out_buffer (the C contract forbids changing them), and is freed once:
    // the struct is reset below, so freeing the same struct twice reaches the NULL case.
    let mut boxed = unsafe { Box::from_raw(slice) };
    boxed.zeroize();
    drop(boxed);
    out.set(kms_buffer::EMPTY);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::status::KMS_ERR_NULL_POINTER;

    #[test]
    fn out_and_free() {
        let mut b = kms_buffer::EMPTY;
        assert!(out_buffer(&mut b, zeroize::Zeroizing::new(b"secret".to_vec())).is_ok());
        assert_eq!(b.len, 6);
        assert!(!b.data.is_null());
        // SAFETY: test: b was just filled by out_buffer.
        assert_eq!(
            unsafe { std::slice::from_raw_parts(b.data, b.len) },
            b"secret"
        );
        buffer_free(&mut b);
        assert!(b.data.is_null() && b.len == 0);
        buffer_free(&mut b);
        buffer_free(std::ptr::null_mut());

        assert!(out_buffer(&mut b, zeroize::Zeroizing::new(Vec::new())).is_ok());
        assert!(b.data.is_null() && b.len == 0);
        let e = out_buffer(std::ptr::null_mut(), zeroize::Zeroizing::new(vec![1]));
        assert_eq!(e.err().map(|e| e.status()), Some(KMS_ERR_NULL_POINTER));
    }
}
