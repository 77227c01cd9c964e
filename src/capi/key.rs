//! Key management exports: create, import, describe, list, rotate, lifecycle changes,
//! deletion, version floors, rotation schedules, wrapped export and import.

use std::ffi::c_char;

use crate::boundary::error::kms_error;
use crate::boundary::ptr::{in_bytes, in_ref, in_str, opt_str, out_ref, write_out, write_out_str};
use crate::boundary::status::kms_status;
use crate::boundary::{guard, BResult, BoundaryError};
use crate::capi::consts::KMS_DELETION_DEFAULT;
use crate::capi::ctx::{kms_ctx, session};
use crate::capi::{flag, nonzero};
use crate::core::{
    parse_context, KeyFilter, KeyInfo, KeyRecord, KeyRequest, KeySpec, KeyState, LifecycleOp, Usage,
};

/// What a new key should be (`kms_key_create`, `kms_key_import`, `kms_key_import_wrapped`).
/// Zero-initialize it and set what you need: every 0/NULL field means "default/none".
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct kms_key_params {
    /// `KMS_SPEC_*` (required for create and import; ignored by import_wrapped, whose blob
    /// names the spec).
    pub spec: u32,
    /// `KMS_USAGE_*` bits; 0 = the spec's default usages.
    pub usage: u32,
    /// Alias (unique in the keyring, not all digits) or NULL.
    pub name: *const c_char,
    /// Free text or NULL.
    pub description: *const c_char,
    /// Tags as "k=v,k2=v2" or NULL.
    pub tags: *const c_char,
    /// Activation time (seconds since the epoch); in the future the key starts pre-active.
    /// 0 = now.
    pub activation_date: i64,
    /// Automatic rotation period in seconds; 0 = none.
    pub rotation_period_seconds: i64,
    /// Automatic rotation after this many uses of the primary version; 0 = none.
    pub rotate_after_uses: u64,
    /// Nonzero: the key may be exported wrapped (`kms_key_export_wrapped`).
    pub exportable: u32,
    /// Nonzero: start pre-active with no date (enable it with `kms_key_enable`).
    pub pre_active: u32,
}

/// Filters for `kms_key_list`. Zero-initialize; 0/NULL fields match everything.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct kms_key_filter {
    /// Only names starting with this, or NULL.
    pub name_prefix: *const c_char,
    /// `KMS_SPEC_*` or 0.
    pub spec: u32,
    /// `KMS_STATE_*` or 0.
    pub state: u32,
    /// One tag "k=v" the key must carry, or NULL.
    pub tag: *const c_char,
    /// Nonzero: include destroyed keys.
    pub include_destroyed: u32,
    /// Paging: only keys with an id greater than this (the last id of the previous page).
    pub after_id: u64,
    /// At most this many keys; 0 = no limit.
    pub limit: u64,
}

fn key_request(p: *const kms_key_params, spec_required: bool) -> BResult<KeyRequest> {
    let p = in_ref(p, "params")?;
    let spec = match p.spec {
        0 if !spec_required => None,
        code => Some(KeySpec::from_code(code)?),
    };
    let tags = match opt_str(p.tags, "params.tags")? {
        Some(t) => parse_context(t)?.into_iter().collect(),
        None => Vec::new(),
    };
    Ok(KeyRequest {
        spec,
        usage: Usage::from_bits(p.usage)?,
        name: opt_str(p.name, "params.name")?.map(str::to_owned),
        description: opt_str(p.description, "params.description")?
            .unwrap_or_default()
            .to_owned(),
        tags,
        activation_date: nonzero(p.activation_date),
        pre_active: flag(p.pre_active),
        rotation_period: nonzero(p.rotation_period_seconds),
        rotate_after_uses: nonzero(p.rotate_after_uses),
        exportable: flag(p.exportable),
        ext_id: Vec::new(),
        attrs: Vec::new(),
    })
}

fn state_of(code: u32) -> BResult<KeyState> {
    KeyState::ALL
        .into_iter()
        .find(|s| s.code() == code)
        .ok_or_else(|| BoundaryError::invalid(format!("unknown key state number {code}")))
}

fn key_filter(f: *const kms_key_filter) -> BResult<KeyFilter> {
    if f.is_null() {
        return Ok(KeyFilter::default());
    }
    let f = in_ref(f, "filter")?;
    let tag = match opt_str(f.tag, "filter.tag")? {
        Some(t) => Some(
            t.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| BoundaryError::invalid("filter.tag must be \"key=value\""))?,
        ),
        None => None,
    };
    Ok(KeyFilter {
        keyring: 0,
        name: None,
        name_prefix: opt_str(f.name_prefix, "filter.name_prefix")?.map(str::to_owned),
        ext_id: None,
        spec: nonzero(f.spec).map(KeySpec::from_code).transpose()?,
        state: nonzero(f.state).map(state_of).transpose()?,
        tag,
        include_destroyed: flag(f.include_destroyed),
        after_id: f.after_id,
        limit: nonzero(f.limit),
    })
}

fn set_id(out_key_id: *mut u64, rec: &KeyRecord) -> BResult<()> {
    out_ref(out_key_id, "out_key_id")?.set(rec.id);
    Ok(())
}

/// Creates a key with generated material (version 1) and writes its id to `*out_key_id`.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (params,
/// out_key_id); `KMS_ERR_INVALID_ARGUMENT` (unknown spec or usage bits, usages the spec
/// cannot have, bad name or tags); `KMS_ERR_ALREADY_EXISTS` (name taken);
/// `KMS_ERR_ACCESS_DENIED` (needs the admin role or a create grant).
#[no_mangle]
pub extern "C" fn kms_key_create(
    ctx: kms_ctx,
    params: *const kms_key_params,
    out_key_id: *mut u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(out_key_id, "out_key_id")?;
        let req = key_request(params, true)?;
        let rec = s.kms.create_key(&s.caller, &req)?;
        set_id(out_key_id, &rec)
    })
}

/// Creates a key from caller-supplied material (`material`/`material_len`: raw AES/HMAC
/// bytes, or PKCS#8 DER for asymmetric specs) and writes its id to `*out_key_id`. The
/// material is copied and sealed; the caller keeps (and should wipe) its copy.
///
/// Status: as `kms_key_create`, plus `KMS_ERR_INVALID_ARGUMENT` for material that does not
/// fit the spec.
#[no_mangle]
pub extern "C" fn kms_key_import(
    ctx: kms_ctx,
    params: *const kms_key_params,
    material: *const u8,
    material_len: usize,
    out_key_id: *mut u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(out_key_id, "out_key_id")?;
        let req = key_request(params, true)?;
        let material = in_bytes(material, material_len, "material")?;
        let rec = s.kms.import_key(&s.caller, &req, material)?;
        set_id(out_key_id, &rec)
    })
}

/// Describes a key (`key` = decimal id or name) as a JSON object, NUL-terminated, through
/// the output-buffer convention: id, name, spec, usage, state, compromised,
/// primary_version, min_decrypt_version, exportable, origin, dates, rotation, owner,
/// description, tags, versions. Never includes key material. The JSON can grow between a
/// size query and the call (a rotation, a use count): on `KMS_ERR_BUFFER_TOO_SMALL` retry
/// with the new `*inout_len`.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (key, inout_len);
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_key_describe(
    ctx: kms_ctx,
    key: *const c_char,
    out_json: *mut c_char,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        out_ref(inout_len, "inout_len")?;
        let info = s.kms.describe_key(&s.caller, key)?;
        write_out_str(out_json.cast(), inout_len, &info.to_json())
    })
}

/// Lists the keys of the context's keyring matching `filter` (NULL = all) as a JSON array
/// of objects shaped as `kms_key_describe`'s (with an empty "versions" list), in id order,
/// NUL-terminated, through the output-buffer convention. Page with `after_id`/`limit`.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (inout_len);
/// `KMS_ERR_INVALID_ARGUMENT` (unknown spec/state number, malformed tag);
/// `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_key_list(
    ctx: kms_ctx,
    filter: *const kms_key_filter,
    out_json: *mut c_char,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(inout_len, "inout_len")?;
        let filter = key_filter(filter)?;
        let keys = s.kms.list_keys(&s.caller, &filter)?;
        let items: Vec<String> = keys
            .into_iter()
            .map(|key| {
                KeyInfo {
                    key,
                    versions: Vec::new(),
                }
                .to_json()
            })
            .collect();
        write_out_str(
            out_json.cast(),
            inout_len,
            &format!("[{}]", items.join(",")),
        )
    })
}

/// Rotates a key: adds a version with new material and makes it primary; older versions
/// keep decrypting and verifying. Writes the new version to `*out_version` if it is not
/// NULL.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (key);
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_KEY_STATE`; `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_key_rotate(
    ctx: kms_ctx,
    key: *const c_char,
    out_version: *mut u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let out = if out_version.is_null() {
            None
        } else {
            Some(out_ref(out_version, "out_version")?)
        };
        let v = s.kms.rotate_key(&s.caller, key)?;
        if let Some(mut o) = out {
            o.set(v);
        }
        Ok(())
    })
}

fn lifecycle(
    ctx: kms_ctx,
    key: *const c_char,
    out_err: *mut *mut kms_error,
    op: LifecycleOp,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        s.kms.set_key_state(&s.caller, key, op)?;
        Ok(())
    })
}

/// Enables a key: pre-active or suspended -> active.
///
/// Status (all lifecycle calls): `KMS_OK`; `KMS_ERR_INVALID_HANDLE`;
/// `KMS_ERR_NULL_POINTER` (key); `KMS_ERR_NOT_FOUND`; `KMS_ERR_KEY_STATE` (the transition
/// is not allowed from the key's state); `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_key_enable(
    ctx: kms_ctx,
    key: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    lifecycle(ctx, key, out_err, LifecycleOp::Enable)
}

/// Disables a key: active -> suspended (reversible with `kms_key_enable`), pre-active ->
/// deactivated. Status: as `kms_key_enable`.
#[no_mangle]
pub extern "C" fn kms_key_disable(
    ctx: kms_ctx,
    key: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    lifecycle(ctx, key, out_err, LifecycleOp::Disable)
}

/// Suspends an active key (reversible with `kms_key_enable`). Status: as `kms_key_enable`.
#[no_mangle]
pub extern "C" fn kms_key_suspend(
    ctx: kms_ctx,
    key: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        s.kms.suspend_key(&s.caller, key)?;
        Ok(())
    })
}

/// Deactivates a key for good: it only decrypts and verifies from now on. Status: as
/// `kms_key_enable`.
#[no_mangle]
pub extern "C" fn kms_key_deactivate(
    ctx: kms_ctx,
    key: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    lifecycle(ctx, key, out_err, LifecycleOp::Deactivate)
}

/// Marks a key compromised: whatever its state, it only decrypts and verifies from now on.
/// Status: as `kms_key_enable` (`KMS_ERR_KEY_STATE` for a destroyed key).
#[no_mangle]
pub extern "C" fn kms_key_mark_compromised(
    ctx: kms_ctx,
    key: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        s.kms.mark_compromised(&s.caller, key)?;
        Ok(())
    })
}

/// Schedules a key's destruction after `days` days (`KMS_DELETION_DEFAULT` = the store's
/// default waiting period, 30 days). The key is pending deletion meanwhile (unusable;
/// `kms_key_cancel_deletion` restores it).
///
/// Status: as `kms_key_enable`, plus `KMS_ERR_INVALID_ARGUMENT` when `days` is below the
/// store's minimum (`KMS_MIN_DELETION_DAYS`, 7 by default) or above 3650.
#[no_mangle]
pub extern "C" fn kms_key_schedule_deletion(
    ctx: kms_ctx,
    key: *const c_char,
    days: u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let days = (days != KMS_DELETION_DEFAULT).then_some(days);
        s.kms.schedule_deletion(&s.caller, key, days)?;
        Ok(())
    })
}

/// Cancels a scheduled deletion: the key returns to the state it had. Status: as
/// `kms_key_enable`.
#[no_mangle]
pub extern "C" fn kms_key_cancel_deletion(
    ctx: kms_ctx,
    key: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    lifecycle(ctx, key, out_err, LifecycleOp::CancelDeletion)
}

/// Destroys a key pending deletion whose waiting period has ended: its material is wiped,
/// its metadata and audit trail stay, its id is never reused. Status: as `kms_key_enable`
/// (`KMS_ERR_KEY_STATE` before the waiting period ends).
#[no_mangle]
pub extern "C" fn kms_key_destroy(
    ctx: kms_ctx,
    key: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    lifecycle(ctx, key, out_err, LifecycleOp::Destroy)
}

/// Refuses decryption (and verification) with versions below `version` from now on.
/// Status: as `kms_key_enable`, plus `KMS_ERR_INVALID_ARGUMENT` for 0 or a version above
/// the primary.
#[no_mangle]
pub extern "C" fn kms_key_set_min_decrypt_version(
    ctx: kms_ctx,
    key: *const c_char,
    version: u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        s.kms.set_min_decrypt_version(&s.caller, key, version)?;
        Ok(())
    })
}

/// Wipes the material of one non-primary version for good (data under it becomes
/// undecryptable). Status: as `kms_key_enable`, plus `KMS_ERR_INVALID_ARGUMENT` for the
/// primary version and `KMS_ERR_NOT_FOUND` for an unknown version.
#[no_mangle]
pub extern "C" fn kms_key_destroy_version(
    ctx: kms_ctx,
    key: *const c_char,
    version: u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        s.kms.destroy_version(&s.caller, key, version)?;
        Ok(())
    })
}

/// Sets automatic rotation: every `period_seconds` (0 = no time-based rotation) and/or
/// after `after_uses` uses of the primary version (0 = none). Both 0 turns it off.
/// Status: as `kms_key_enable`, plus `KMS_ERR_INVALID_ARGUMENT` for a negative period.
#[no_mangle]
pub extern "C" fn kms_key_set_rotation(
    ctx: kms_ctx,
    key: *const c_char,
    period_seconds: i64,
    after_uses: u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        s.kms
            .set_rotation(&s.caller, key, nonzero(period_seconds), nonzero(after_uses))?;
        Ok(())
    })
}

/// Exports a version (`version` 0 = primary) of an exportable key, wrapped (AES key wrap
/// with padding) under `wrapping_key` (an AES key with the wrap usage), through the
/// output-buffer convention. The blob names the wrapping key, so `kms_key_import_wrapped`
/// on a store holding that key recreates it. A size query runs the export (audited); a
/// 4 KiB buffer fits every spec.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_NOT_FOUND`; `KMS_ERR_KEY_USAGE` (not exportable, or the wrapping key cannot
/// wrap); `KMS_ERR_KEY_STATE`; `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_key_export_wrapped(
    ctx: kms_ctx,
    key: *const c_char,
    version: u32,
    wrapping_key: *const c_char,
    out: *mut u8,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        let wrapping_key = in_str(wrapping_key, "wrapping_key")?;
        out_ref(inout_len, "inout_len")?;
        let blob = s
            .kms
            .export_wrapped(&s.caller, key, nonzero(version), wrapping_key)?;
        write_out(out, inout_len, &blob)
    })
}

/// Imports a key exported by `kms_key_export_wrapped`, unwrapping it with the wrapping key
/// the blob names (which must be in this keyring, with the unwrap usage). `params` gives
/// the new key's name, usages and other settings (its `spec` is ignored: the blob's is
/// used). Writes the new key id to `*out_key_id`.
///
/// Status: as `kms_key_import`, plus `KMS_ERR_INVALID_CIPHERTEXT` for a malformed or
/// altered blob.
#[no_mangle]
pub extern "C" fn kms_key_import_wrapped(
    ctx: kms_ctx,
    params: *const kms_key_params,
    wrapped: *const u8,
    wrapped_len: usize,
    out_key_id: *mut u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(out_key_id, "out_key_id")?;
        let req = key_request(params, false)?;
        let wrapped = in_bytes(wrapped, wrapped_len, "wrapped")?;
        let rec = s.kms.import_wrapped(&s.caller, &req, wrapped)?;
        set_id(out_key_id, &rec)
    })
}
