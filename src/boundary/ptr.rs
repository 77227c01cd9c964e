//! Typed helpers that turn raw C arguments (pointers, lengths, strings, output buffers) into
//! safe Rust values, reporting NULL, bad lengths, bad UTF-8 and misalignment as errors.
//!
//! Contract shared by all helpers (it is the C API's contract, stated in kms.h): a non-NULL
//! pointer given by the caller is valid for the access its argument describes (`len` bytes
//! readable for an input, `*inout_len` bytes writable for an output buffer, a NUL-terminated
//! string) for the duration of the call. Everything else (NULL, sizes, alignment, encoding)
//! is checked here and reported as a status, never undefined behaviour.

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;

use super::guard::{BResult, BoundaryError};
use super::status::{KMS_ERR_BUFFER_TOO_SMALL, KMS_ERR_UTF8};

/// The largest byte input (`(ptr, len)` pair) any `kms_*` function accepts: 1 GiB.
/// Larger lengths fail with `KMS_ERR_LENGTH`.
pub const KMS_MAX_INPUT: usize = 0x4000_0000;

/// The largest string argument (names, ids, PINs, paths) in bytes, without the NUL: 64 KiB.
/// A longer string (or a missing NUL within that many bytes) fails with `KMS_ERR_LENGTH`.
pub const KMS_MAX_STRING: usize = 0x1_0000;

/// A `(ptr, len)` input as a slice. NULL with `len == 0` is the empty slice; NULL with
/// `len > 0` is `KMS_ERR_NULL_POINTER`; `len > KMS_MAX_INPUT` is `KMS_ERR_LENGTH`.
pub fn in_bytes<'a>(ptr: *const u8, len: usize, arg: &'static str) -> BResult<&'a [u8]> {
    if len > KMS_MAX_INPUT {
        return Err(BoundaryError::length(format!(
            "{arg}: length {len} exceeds KMS_MAX_INPUT ({KMS_MAX_INPUT})"
        )));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(BoundaryError::null(arg));
    }
    // SAFETY: ptr is non-NULL, u8 needs no alignment, len <= KMS_MAX_INPUT <= isize::MAX, and
    // the C contract makes ptr valid for len bytes for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A NUL-terminated UTF-8 string argument. NULL is `KMS_ERR_NULL_POINTER`; no NUL within
/// `KMS_MAX_STRING` bytes is `KMS_ERR_LENGTH`; invalid UTF-8 is `KMS_ERR_UTF8`.
pub fn in_str<'a>(ptr: *const c_char, arg: &'static str) -> BResult<&'a str> {
    match opt_str(ptr, arg)? {
        Some(s) => Ok(s),
        None => Err(BoundaryError::null(arg)),
    }
}

/// As `in_str`, but NULL means "absent" (`None`).
pub fn opt_str<'a>(ptr: *const c_char, arg: &'static str) -> BResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: ptr is non-NULL and, per the C contract, points to a NUL-terminated string;
    // strnlen reads no further than the NUL or KMS_MAX_STRING + 1 bytes, whichever is first.
    let len = unsafe { libc::strnlen(ptr, KMS_MAX_STRING + 1) };
    if len > KMS_MAX_STRING {
        return Err(BoundaryError::length(format!(
            "{arg}: string longer than KMS_MAX_STRING ({KMS_MAX_STRING})"
        )));
    }
    // SAFETY: the len + 1 bytes up to and including the NUL at ptr[len] are readable (just
    // scanned) and stay valid for the duration of the call.
    let cstr = unsafe {
        CStr::from_bytes_with_nul_unchecked(std::slice::from_raw_parts(ptr.cast::<u8>(), len + 1))
    };
    match cstr.to_str() {
        Ok(s) => Ok(Some(s)),
        Err(_) => Err(BoundaryError::new(
            KMS_ERR_UTF8,
            format!("{arg} is not valid UTF-8"),
        )),
    }
}

/// A checked output (or in-out) pointer to one `T`: non-NULL and aligned. It never reads
/// unless asked (`get`), so the caller's memory may be uninitialized for pure outputs.
pub struct Out<'a, T> {
    ptr: *mut T,
    _life: PhantomData<&'a mut T>,
}

impl<T: Copy> Out<'_, T> {
    /// Writes the value (without reading or dropping the old one).
    pub fn set(&mut self, value: T) {
        // SAFETY: ptr was checked non-NULL and aligned by out_ref and, per the C contract, is
        // writable for one T for the duration of the call.
        unsafe { self.ptr.write(value) }
    }

    /// Reads the current value; only for in-out arguments the caller must initialize.
    pub fn get(&self) -> T {
        // SAFETY: as in set; the C contract for in-out arguments is that they are initialized.
        unsafe { self.ptr.read() }
    }
}

/// Checks an output pointer: NULL is `KMS_ERR_NULL_POINTER`, misaligned is
/// `KMS_ERR_INVALID_ARGUMENT`.
pub fn out_ref<'a, T: Copy>(ptr: *mut T, arg: &'static str) -> BResult<Out<'a, T>> {
    if ptr.is_null() {
        return Err(BoundaryError::null(arg));
    }
    if !ptr.is_aligned() {
        return Err(BoundaryError::invalid(format!("{arg} is misaligned")));
    }
    Ok(Out {
        ptr,
        _life: PhantomData,
    })
}

/// Checks the output-buffer pair and decides: `Ok(None)` for a size query (NULL `out_buf`;
/// `*inout_len` set to `needed`), `Ok(Some(capacity))` when the buffer is large enough.
fn out_buf_check(
    out_buf: *mut u8,
    len: &mut Out<'_, usize>,
    needed: usize,
) -> BResult<Option<usize>> {
    if out_buf.is_null() {
        len.set(needed);
        return Ok(None);
    }
    let capacity = len.get();
    if capacity < needed {
        len.set(needed);
        return Err(BoundaryError::new(
            KMS_ERR_BUFFER_TOO_SMALL,
            format!("output buffer too small: {needed} bytes needed, {capacity} given"),
        ));
    }
    Ok(Some(capacity))
}

fn copy_out(out_buf: *mut u8, len: &mut Out<'_, usize>, data: &[u8]) {
    // SAFETY: out_buf is non-NULL and, per the C contract, writable for *inout_len >=
    // data.len() bytes. `copy` (memmove) tolerates a caller buffer overlapping an input.
    unsafe { std::ptr::copy(data.as_ptr(), out_buf, data.len()) };
    len.set(data.len());
}

/// The output-buffer convention (PKCS#11's): `inout_len` NULL is `KMS_ERR_NULL_POINTER`;
/// `out_buf` NULL is a size query (`*inout_len = data.len()`, OK); `*inout_len` smaller than
/// needed sets `*inout_len` to the size needed and fails with `KMS_ERR_BUFFER_TOO_SMALL`
/// (nothing else written); otherwise copies and sets `*inout_len = data.len()`.
pub fn write_out(out_buf: *mut u8, inout_len: *mut usize, data: &[u8]) -> BResult<()> {
    let mut len = out_ref(inout_len, "inout_len")?;
    if out_buf_check(out_buf, &mut len, data.len())?.is_some() {
        copy_out(out_buf, &mut len, data);
    }
    Ok(())
}

/// The output-buffer convention for values that are costly or secret: `needed` (exact or an
/// upper bound) answers size queries and the size check without calling `produce`; `produce`
/// runs only when the buffer is large enough, and its result is dropped once copied (a
/// secret is produced as a `Secret` or `Zeroizing` value, which wipes itself; a ciphertext
/// as a plain `Vec`). On success `*inout_len` is the produced length. Producing more than
/// the buffer holds is an internal error (nothing written).
pub fn write_out_with<S: AsRef<[u8]>>(
    out_buf: *mut u8,
    inout_len: *mut usize,
    needed: usize,
    produce: impl FnOnce() -> BResult<S>,
) -> BResult<()> {
    let mut len = out_ref(inout_len, "inout_len")?;
    let Some(capacity) = out_buf_check(out_buf, &mut len, needed)? else {
        return Ok(());
    };
    let data = produce()?;
    let data = data.as_ref();
    if data.len() > capacity {
        return Err(BoundaryError::new(
            super::status::KMS_ERR_INTERNAL,
            "produced output exceeds its announced size",
        ));
    }
    copy_out(out_buf, &mut len, data);
    Ok(())
}

/// A pointer to one input struct, read as a copy. NULL is `KMS_ERR_NULL_POINTER`;
/// misaligned is `KMS_ERR_INVALID_ARGUMENT`.
pub fn in_ref<T: Copy>(ptr: *const T, arg: &'static str) -> BResult<T> {
    if ptr.is_null() {
        return Err(BoundaryError::null(arg));
    }
    if !ptr.is_aligned() {
        return Err(BoundaryError::invalid(format!("{arg} is misaligned")));
    }
    // SAFETY: ptr is non-NULL and aligned and, per the C contract, points to an initialized T
    // for the duration of the call; T is Copy (plain C data).
    Ok(unsafe { ptr.read() })
}

/// A `(ptr, count)` array input as a slice of `T`. NULL with `count == 0` is the empty slice;
/// NULL with `count > 0` is `KMS_ERR_NULL_POINTER`; a misaligned pointer is
/// `KMS_ERR_INVALID_ARGUMENT`; more than `KMS_MAX_INPUT` bytes in all is `KMS_ERR_LENGTH`.
pub fn in_array<'a, T: Copy>(ptr: *const T, count: usize, arg: &'static str) -> BResult<&'a [T]> {
    let bytes = count.checked_mul(std::mem::size_of::<T>());
    if bytes.is_none_or(|b| b > KMS_MAX_INPUT) {
        return Err(BoundaryError::length(format!(
            "{arg}: {count} elements exceed KMS_MAX_INPUT ({KMS_MAX_INPUT}) bytes"
        )));
    }
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(BoundaryError::null(arg));
    }
    if !ptr.is_aligned() {
        return Err(BoundaryError::invalid(format!("{arg} is misaligned")));
    }
    // SAFETY: ptr is non-NULL and aligned, count * size_of::<T>() <= KMS_MAX_INPUT <=
    // isize::MAX, and the C contract makes ptr valid for count elements during the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

/// A NULL-or-string array element (`const char *const *` arrays): each element checked as
/// `in_str` does; a NULL element is `KMS_ERR_NULL_POINTER`.
pub fn in_str_array<'a>(
    ptr: *const *const c_char,
    count: usize,
    arg: &'static str,
) -> BResult<Vec<&'a str>> {
    in_array(ptr, count, arg)?
        .iter()
        .map(|&p| in_str(p, arg))
        .collect()
}

/// Text output through the output-buffer convention: the UTF-8 bytes followed by one NUL,
/// which `*inout_len` counts (so a size query answers `strlen + 1`).
pub fn write_out_str(out_buf: *mut u8, inout_len: *mut usize, text: &str) -> BResult<()> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    write_out(out_buf, inout_len, &bytes)
}

/// Runs `f` with an unbuffered writer on the caller's open file descriptor `fd`, which stays
/// open and owned by the caller (it is neither closed nor duplicated). A negative `fd` is
/// `KMS_ERR_INVALID_ARGUMENT`.
pub fn with_fd_writer<R>(fd: i32, f: impl FnOnce(&mut dyn std::io::Write) -> R) -> BResult<R> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(BoundaryError::invalid("fd is negative"));
    }
    // SAFETY: fd is non-negative and, per the C contract, an open descriptor the caller owns
    // for the duration of the call; ManuallyDrop keeps the File from closing it.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut file = std::mem::ManuallyDrop::new(file);
    Ok(f(&mut *file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::status::*;

    #[test]
    fn in_bytes_rules() {
        assert_eq!(in_bytes(std::ptr::null(), 0, "a"), Ok(&[][..]));
        let e = in_bytes(std::ptr::null(), 1, "a").unwrap_err();
        assert_eq!(e.status(), KMS_ERR_NULL_POINTER);
        let data = [1u8, 2, 3];
        assert_eq!(in_bytes(data.as_ptr(), 3, "a"), Ok(&data[..]));
        assert_eq!(in_bytes(data.as_ptr(), 0, "a"), Ok(&[][..]));
        let e = in_bytes(data.as_ptr(), KMS_MAX_INPUT + 1, "a").unwrap_err();
        assert_eq!(e.status(), KMS_ERR_LENGTH);
        let e = in_bytes(data.as_ptr(), usize::MAX, "a").unwrap_err();
        assert_eq!(e.status(), KMS_ERR_LENGTH);
    }

    #[test]
    fn strings() {
        assert_eq!(in_str(c"héllo".as_ptr(), "s"), Ok("héllo"));
        assert_eq!(in_str(c"".as_ptr(), "s"), Ok(""));
        assert_eq!(
            in_str(std::ptr::null(), "s").unwrap_err().status(),
            KMS_ERR_NULL_POINTER
        );
        assert_eq!(opt_str(std::ptr::null(), "s"), Ok(None));
        assert_eq!(opt_str(c"x".as_ptr(), "s"), Ok(Some("x")));
        let bad = [0xffu8, 0xfe, 0];
        let e = in_str(bad.as_ptr().cast(), "s").unwrap_err();
        assert_eq!(e.status(), KMS_ERR_UTF8);
        let mut long = vec![b'a'; KMS_MAX_STRING];
        long.push(0);
        assert_eq!(
            in_str(long.as_ptr().cast(), "s").map(str::len),
            Ok(KMS_MAX_STRING)
        );
        long.insert(0, b'a');
        let e = in_str(long.as_ptr().cast(), "s").unwrap_err();
        assert_eq!(e.status(), KMS_ERR_LENGTH);
    }

    #[test]
    fn out_ref_checks() {
        let mut v = 0u64;
        out_ref(&mut v, "v").map(|mut o| o.set(5)).unwrap_or(());
        assert_eq!(v, 5);
        let e = out_ref::<u64>(std::ptr::null_mut(), "v")
            .err()
            .map(|e| e.status());
        assert_eq!(e, Some(KMS_ERR_NULL_POINTER));
        let mut raw = [0u64; 2];
        let misaligned = raw.as_mut_ptr().cast::<u8>().wrapping_add(1).cast::<u64>();
        let e = out_ref(misaligned, "v").err().map(|e| e.status());
        assert_eq!(e, Some(KMS_ERR_INVALID_ARGUMENT));
    }

    #[test]
    fn write_out_convention() {
        let data = b"hello";
        let mut len = 0usize;
        assert_eq!(write_out(std::ptr::null_mut(), &mut len, data), Ok(()));
        assert_eq!(len, 5);
        let e = write_out(std::ptr::null_mut(), std::ptr::null_mut(), data).unwrap_err();
        assert_eq!(e.status(), KMS_ERR_NULL_POINTER);

        let mut buf = [0xAAu8; 8];
        len = 4;
        let e = write_out(buf.as_mut_ptr(), &mut len, data).unwrap_err();
        assert_eq!(e.status(), KMS_ERR_BUFFER_TOO_SMALL);
        assert_eq!(len, 5);
        assert_eq!(buf, [0xAA; 8], "nothing written on failure");

        len = buf.len();
        assert_eq!(write_out(buf.as_mut_ptr(), &mut len, data), Ok(()));
        assert_eq!(len, 5);
        assert_eq!(&buf[..5], data);
        assert_eq!(buf[5], 0xAA);
    }

    #[test]
    fn write_out_with_is_lazy() {
        let mut calls = 0;
        let mut len = 0usize;
        let mut produce = || {
            calls += 1;
            Ok(zeroize::Zeroizing::new(b"abc".to_vec()))
        };
        assert_eq!(
            write_out_with(std::ptr::null_mut(), &mut len, 4, &mut produce),
            Ok(())
        );
        assert_eq!(len, 4);
        let mut buf = [0u8; 4];
        len = 3;
        let e = write_out_with(buf.as_mut_ptr(), &mut len, 4, &mut produce).unwrap_err();
        assert_eq!((e.status(), len), (KMS_ERR_BUFFER_TOO_SMALL, 4));
        len = 4;
        assert_eq!(
            write_out_with(buf.as_mut_ptr(), &mut len, 4, &mut produce),
            Ok(())
        );
        assert_eq!((len, &buf[..3]), (3, &b"abc"[..]));
        assert_eq!(calls, 1, "produce runs only when the buffer fits");

        len = 4;
        let e = write_out_with(buf.as_mut_ptr(), &mut len, 2, || {
            Ok(zeroize::Zeroizing::new(vec![0; 5]))
        })
        .unwrap_err();
        assert_eq!(e.status(), KMS_ERR_INTERNAL);
        assert_eq!(len, 4);
    }
}
