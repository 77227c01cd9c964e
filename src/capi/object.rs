//! Stored objects that are not keys: X.509 certificates (`"certificate"`), data objects
//! (`"data"`, sealed when sensitive) and public keys (`"public-key"`), the same objects the
//! PKCS#11 module shows as CKO_CERTIFICATE, CKO_DATA and CKO_PUBLIC_KEY.

use std::ffi::c_char;

use crate::boundary::error::kms_error;
use crate::boundary::ptr::{in_bytes, in_str, opt_str, out_ref, write_out_str};
use crate::boundary::secret::{kms_buffer, out_buffer};
use crate::boundary::status::kms_status;
use crate::boundary::{guard, BResult};
use crate::capi::ctx::{kms_ctx, session};
use crate::core::ObjectRequest;

fn flag(v: u32, arg: &'static str) -> BResult<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(crate::boundary::BoundaryError::invalid(format!(
            "{arg} must be 0 or 1"
        ))),
    }
}

/// Stores an object of `class` (`"certificate"`, `"data"` or `"public-key"`) with `label`,
/// the external id `id` (PKCS#11 CKA_ID; NULL/0 for none) and `value` (for a certificate,
/// its DER encoding; at most 1 MiB). `sensitive` = 1 seals the value at rest and keeps it
/// out of listings. Writes the new object id to `*out_object_id`. Needs the key
/// administrator or key user role.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (class, label,
/// out_object_id, value or id with a length); `KMS_ERR_INVALID_ARGUMENT` (class, sizes,
/// sensitive not 0/1); `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kms_object_create(
    ctx: kms_ctx,
    class: *const c_char,
    label: *const c_char,
    id: *const u8,
    id_len: usize,
    value: *const u8,
    value_len: usize,
    sensitive: u32,
    out_object_id: *mut u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let req = ObjectRequest {
            class: in_str(class, "class")?.to_string(),
            label: in_str(label, "label")?.to_string(),
            ext_id: in_bytes(id, id_len, "id")?.to_vec(),
            value: in_bytes(value, value_len, "value")?.to_vec(),
            sensitive: flag(sensitive, "sensitive")?,
            attrs: Vec::new(),
        };
        let mut out = out_ref(out_object_id, "out_object_id")?;
        let o = s.kms.create_object(&s.caller, &req)?;
        out.set(o.id);
        Ok(())
    })
}

/// Reads an object's value (unsealed when sensitive) into `*out` (free with
/// `kms_buffer_free`).
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (out);
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_object_get(
    ctx: kms_ctx,
    object_id: u64,
    out: *mut kms_buffer,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(out, "out")?;
        let o = s.kms.get_object(&s.caller, object_id)?;
        out_buffer(out, o.value)
    })
}

/// Lists objects of `class` (NULL = every class) and `label` (NULL = any) as a JSON array of
/// {id, class, label, ext_id (hex), size, sensitive, created, version}, NUL-terminated,
/// through the output-buffer convention. Values are never listed.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (inout_len);
/// `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_object_list(
    ctx: kms_ctx,
    class: *const c_char,
    label: *const c_char,
    out_json: *mut c_char,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let class = opt_str(class, "class")?;
        let label = opt_str(label, "label")?;
        out_ref(inout_len, "inout_len")?;
        let list = s.kms.list_objects(&s.caller, class, label)?;
        let items: Vec<String> = list.iter().map(|o| o.to_json()).collect();
        write_out_str(
            out_json.cast(),
            inout_len,
            &format!("[{}]", items.join(",")),
        )
    })
}

/// Deletes an object.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_object_delete(
    ctx: kms_ctx,
    object_id: u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        s.kms.delete_object(&s.caller, object_id)?;
        Ok(())
    })
}
