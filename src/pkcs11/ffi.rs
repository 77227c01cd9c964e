//! PKCS#11 pointer glue: templates, mechanism parameters, output buffers, fixed-size padded
//! strings and `CK_ULONG` conversions, all checked (NULL, lengths, alignment) so the rest of
//! the front end handles plain Rust values. The only `unsafe` of `src/pkcs11` besides the
//! function tables.

use std::ffi::c_void;

use cryptoki_sys::*;

use crate::boundary::ptr::in_bytes;

/// The result of every front-end step: a value or the `CK_RV` to return.
pub type Rv<T> = Result<T, CK_RV>;

/// "No value" in `ulValueLen` and size fields (`CK_UNAVAILABLE_INFORMATION`, not exported by
/// cryptoki-sys 0.5).
pub const CK_UNAVAILABLE_INFORMATION: CK_ULONG = !0;

/// Largest template (number of attributes) accepted.
const MAX_TEMPLATE: usize = 4096;

/// A `CK_ULONG` count or length as `usize`.
pub fn len(v: CK_ULONG) -> Rv<usize> {
    usize::try_from(v).map_err(|_| CKR_ARGUMENTS_BAD)
}

/// A `usize` as `CK_ULONG` (saturating: lengths here are far below the limit).
pub fn ulong(v: usize) -> CK_ULONG {
    CK_ULONG::try_from(v).unwrap_or(CK_ULONG::MAX)
}

/// A `(pointer, CK_ULONG)` input as a byte slice (NULL with length 0 is empty).
pub fn bytes<'a>(p: *const u8, n: CK_ULONG) -> Rv<&'a [u8]> {
    in_bytes(p, len(n)?, "input").map_err(|_| CKR_ARGUMENTS_BAD)
}

/// Writes one value through an output pointer (NULL is `CKR_ARGUMENTS_BAD`).
pub fn write<T>(p: *mut T, v: T) -> Rv<()> {
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: p is non-NULL and, per the PKCS#11 contract, points to writable memory for one
    // T; write_unaligned tolerates any alignment and does not read or drop the old value.
    unsafe { p.write_unaligned(v) };
    Ok(())
}

/// Checks an output pointer before any work is done (a key generated for a NULL handle
/// pointer would be created and then lost): NULL is `CKR_ARGUMENTS_BAD`.
pub fn out_ok<T>(p: *mut T) -> Rv<()> {
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    Ok(())
}

/// Reads one value through an input pointer (NULL is `CKR_ARGUMENTS_BAD`).
pub fn read<T: Copy>(p: *const T) -> Rv<T> {
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: p is non-NULL and, per the PKCS#11 contract, points to one initialised T.
    Ok(unsafe { p.read_unaligned() })
}

/// The PKCS#11 output convention: NULL buffer = size query (`Ok(false)`), too small =
/// `CKR_BUFFER_TOO_SMALL` with the needed size written, else copy (`Ok(true)`).
pub fn deliver(p: *mut u8, plen: *mut CK_ULONG, data: &[u8]) -> Rv<bool> {
    let have = read(plen)?;
    write(plen, ulong(data.len()))?;
    if p.is_null() {
        return Ok(false);
    }
    if len(have).unwrap_or(usize::MAX) < data.len() {
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    if !data.is_empty() {
        // SAFETY: p is non-NULL and the caller said it holds `have` >= data.len() writable
        // bytes; the regions cannot overlap (data is ours).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
    }
    Ok(true)
}

/// The caller's output buffer for a result of exactly `need` bytes, with the size-query
/// convention of [`deliver`]: `*plen` is set to `need`; `Ok(None)` for a size query (NULL
/// buffer), `CKR_BUFFER_TOO_SMALL` when the buffer is shorter, else the buffer's first `need`
/// bytes to write the result into.
pub fn out_buffer<'a>(p: *mut u8, plen: *mut CK_ULONG, need: usize) -> Rv<Option<&'a mut [u8]>> {
    let have = read(plen)?;
    write(plen, ulong(need))?;
    if p.is_null() {
        return Ok(None);
    }
    if len(have).unwrap_or(usize::MAX) < need {
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    if need == 0 {
        return Ok(Some(&mut []));
    }
    // SAFETY: p is non-NULL and the caller said it holds `have` >= need writable bytes for
    // the duration of the call; nothing of ours aliases the caller's buffer.
    Ok(Some(unsafe { std::slice::from_raw_parts_mut(p, need) }))
}

/// Copies a list (slot ids, mechanism types, handles) with the same size-query convention.
pub fn deliver_list<T: Copy>(p: *mut T, plen: *mut CK_ULONG, items: &[T]) -> Rv<()> {
    let have = read(plen)?;
    write(plen, ulong(items.len()))?;
    if p.is_null() {
        return Ok(());
    }
    if len(have).unwrap_or(usize::MAX) < items.len() {
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    for (i, it) in items.iter().enumerate() {
        // SAFETY: p holds `have` >= items.len() elements per the caller; i < items.len().
        unsafe { p.add(i).write_unaligned(*it) };
    }
    Ok(())
}

/// Fills a fixed-size PKCS#11 text field: the text, padded with blanks, cut to fit.
pub fn pad(dst: &mut [u8], s: &str) {
    dst.fill(b' ');
    let n = s.len().min(dst.len());
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

/// One attribute of a template, copied out of the caller's memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ty: CK_ATTRIBUTE_TYPE,
    pub val: Vec<u8>,
}

fn template_slice<'a>(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Rv<&'a [CK_ATTRIBUTE]> {
    let n = len(n)?;
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() || n > MAX_TEMPLATE {
        return Err(CKR_ARGUMENTS_BAD);
    }
    if !p.is_aligned() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: p is non-NULL, aligned, and per the contract points to n CK_ATTRIBUTEs.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// A template (type, value) list as owned values.
pub fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Rv<Vec<Attr>> {
    template_slice(p, n)?
        .iter()
        .map(|a| {
            Ok(Attr {
                ty: a.type_,
                val: bytes(a.pValue as *const u8, a.ulValueLen)
                    .map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?
                    .to_vec(),
            })
        })
        .collect()
}

/// A template for creating or changing an object: as `template`, and an attribute given
/// twice with different values is `CKR_TEMPLATE_INCONSISTENT` (the same value twice is
/// accepted).
pub fn object_template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Rv<Vec<Attr>> {
    let t = template(p, n)?;
    for (i, a) in t.iter().enumerate() {
        if t[..i].iter().any(|b| b.ty == a.ty && b.val != a.val) {
            return Err(CKR_TEMPLATE_INCONSISTENT);
        }
    }
    Ok(t)
}

/// What an object answers for one requested attribute.
pub enum AttrOut {
    Val(Vec<u8>),
    Sensitive,
    Invalid,
}

/// `C_GetAttributeValue`'s writing rules for a template whose values `answer` gives: every
/// attribute is processed; the return value names one of the problems met.
pub fn fill_template(
    p: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    mut answer: impl FnMut(CK_ATTRIBUTE_TYPE) -> AttrOut,
) -> Rv<()> {
    let n = len(n)?;
    if n == 0 {
        return Ok(());
    }
    if p.is_null() || n > MAX_TEMPLATE || !p.is_aligned() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let mut rv = CKR_OK;
    for i in 0..n {
        // SAFETY: p is non-NULL, aligned and holds n CK_ATTRIBUTEs per the contract; i < n.
        let a = unsafe { &mut *p.add(i) };
        match answer(a.type_) {
            AttrOut::Val(v) => {
                if a.pValue.is_null() {
                    a.ulValueLen = ulong(v.len());
                } else if len(a.ulValueLen).unwrap_or(usize::MAX) >= v.len() {
                    // SAFETY: pValue is non-NULL and holds ulValueLen >= v.len() bytes.
                    unsafe {
                        std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len())
                    };
                    a.ulValueLen = ulong(v.len());
                } else {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    rv = CKR_BUFFER_TOO_SMALL;
                }
            }
            AttrOut::Sensitive => {
                a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                rv = CKR_ATTRIBUTE_SENSITIVE;
            }
            AttrOut::Invalid => {
                a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                rv = CKR_ATTRIBUTE_TYPE_INVALID;
            }
        }
    }
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(rv)
    }
}

/// A mechanism as passed by the caller: its type and raw parameter bytes.
#[derive(Clone, Copy)]
pub struct MechIn {
    pub ty: CK_MECHANISM_TYPE,
    param: *mut c_void,
    param_len: CK_ULONG,
}

impl MechIn {
    pub fn read(p: *const CK_MECHANISM) -> Rv<MechIn> {
        let m = read(p)?;
        Ok(MechIn {
            ty: m.mechanism,
            param: m.pParameter,
            param_len: m.ulParameterLen,
        })
    }

    /// The parameter as raw bytes (an IV, for example).
    pub fn param_bytes(&self) -> Rv<&[u8]> {
        bytes(self.param as *const u8, self.param_len).map_err(|_| CKR_MECHANISM_PARAM_INVALID)
    }

    pub fn has_param(&self) -> bool {
        !self.param.is_null() && self.param_len != 0
    }

    /// The parameter as a structure `T` (its length must be exactly `size_of::<T>()`).
    pub fn param<T: Copy>(&self) -> Rv<T> {
        if self.param.is_null() || len(self.param_len)? != std::mem::size_of::<T>() {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        // SAFETY: non-NULL, and the caller declared size_of::<T>() readable bytes; T is a
        // plain C struct (Copy) and read_unaligned accepts any alignment.
        Ok(unsafe { (self.param as *const T).read_unaligned() })
    }
}
