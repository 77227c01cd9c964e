//! Application secrets: named, versioned values (passwords, API tokens, certificates' keys)
//! stored encrypted under a KMS key: put, get, list, delete.

use std::ffi::c_char;

use crate::boundary::error::kms_error;
use crate::boundary::ptr::{in_bytes, in_str, opt_str, out_ref, write_out_str, Out};
use crate::boundary::secret::{kms_buffer, out_buffer};
use crate::boundary::status::kms_status;
use crate::boundary::{guard, BResult};
use crate::capi::ctx::{kms_ctx, session};
use crate::capi::nonzero;
use crate::core::json::esc;

fn opt_u32<'a>(p: *mut u32, arg: &'static str) -> BResult<Option<Out<'a, u32>>> {
    if p.is_null() {
        Ok(None)
    } else {
        out_ref(p, arg).map(Some)
    }
}

/// Stores `value` (at most 1 MiB; copied, encrypted under `key`, which needs the encrypt
/// usage) as a new version of the secret `name` (1 to 256 printable bytes) and writes that
/// version (1 for a new secret) to `*out_version` when it is not NULL. The name and version
/// are bound to the ciphertext.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (name, key, value
/// with a length); `KMS_ERR_INVALID_ARGUMENT` (name, size); `KMS_ERR_NOT_FOUND` (key);
/// `KMS_ERR_KEY_STATE`; `KMS_ERR_KEY_USAGE`; `KMS_ERR_ACCESS_DENIED`;
/// `KMS_ERR_ALREADY_EXISTS` (another writer took this version meanwhile: retry).
#[no_mangle]
pub extern "C" fn kms_secret_put(
    ctx: kms_ctx,
    name: *const c_char,
    key: *const c_char,
    value: *const u8,
    value_len: usize,
    out_version: *mut u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let name = in_str(name, "name")?;
        let key = in_str(key, "key")?;
        let value = in_bytes(value, value_len, "value")?;
        let out = opt_u32(out_version, "out_version")?;
        let v = s.kms.put_secret(&s.caller, name, key, value)?;
        if let Some(mut o) = out {
            o.set(v);
        }
        Ok(())
    })
}

/// Reads version `version` of the secret `name` (0 = the latest) into `*out` (free with
/// `kms_buffer_free`, which zeroizes). Needs decrypt rights on the protecting key.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (name, out);
/// `KMS_ERR_NOT_FOUND` (no such secret or version, or deleted); `KMS_ERR_KEY_STATE`;
/// `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_INVALID_CIPHERTEXT` (stored value altered).
#[no_mangle]
pub extern "C" fn kms_secret_get(
    ctx: kms_ctx,
    name: *const c_char,
    version: u32,
    out: *mut kms_buffer,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let name = in_str(name, "name")?;
        out_ref(out, "out")?;
        let value = s.kms.get_secret(&s.caller, name, nonzero(version))?;
        out_buffer(out, value)
    })
}

/// Lists the versions of the secret `name` (NULL = of every secret) as a JSON array of
/// objects {name, version, key_id, created, deleted}, never values, NUL-terminated, through
/// the output-buffer convention.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (inout_len);
/// `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_secret_list(
    ctx: kms_ctx,
    name: *const c_char,
    out_json: *mut c_char,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let name = opt_str(name, "name")?;
        out_ref(inout_len, "inout_len")?;
        let list = s.kms.list_secrets(&s.caller, name)?;
        let items: Vec<String> = list
            .iter()
            .map(|i| {
                format!(
                    "{{\"name\":\"{}\",\"version\":{},\"key_id\":{},\"created\":{},\"deleted\":{}}}",
                    esc(&i.name),
                    i.version,
                    i.key_id,
                    i.created,
                    i.deleted
                )
            })
            .collect();
        write_out_str(
            out_json.cast(),
            inout_len,
            &format!("[{}]", items.join(",")),
        )
    })
}

/// Deletes every version of the secret `name` (values wiped; the record that they existed
/// stays) and writes how many versions were deleted to `*out_versions` when not NULL.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (name);
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_secret_delete(
    ctx: kms_ctx,
    name: *const c_char,
    out_versions: *mut u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let name = in_str(name, "name")?;
        let out = opt_u32(out_versions, "out_versions")?;
        let n = s.kms.delete_secret(&s.caller, name)?;
        if let Some(mut o) = out {
            o.set(n);
        }
        Ok(())
    })
}
