//! Identities (create, disable, enable, unlock, set secret, delete) and grants (create,
//! revoke, list): who may do what with which key.

use std::ffi::c_char;

use crate::boundary::error::kms_error;
use crate::boundary::ptr::{in_array, in_bytes, in_ref, in_str, opt_str, out_ref, write_out_str};
use crate::boundary::status::kms_status;
use crate::boundary::{guard, BResult};
use crate::capi::ctx::{kms_ctx, session};
use crate::capi::{context_arg, flag, nonzero};
use crate::core::json::{esc, opt_num};
use crate::core::{Action, ActionSet, GrantRecord, GrantRequest, Roles};

/// A grant of actions on a key (or on every key of the keyring) to an identity
/// (`kms_grant_create`). Zero-initialize it and set what you need.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct kms_grant_params {
    /// The identity receiving the grant (required).
    pub identity: *const c_char,
    /// The key (decimal id or name), or NULL for every key of the keyring.
    pub key: *const c_char,
    /// `KMS_ACTION_*` numbers, `action_count` of them (at least one).
    pub actions: *const u32,
    pub action_count: usize,
    /// Expiry (seconds since the epoch); 0 = never.
    pub expires: i64,
    /// The grant allows this many uses, then denies; 0 = unlimited.
    pub max_uses: u64,
    /// Encryption-context condition: every pair must be present with this value in the
    /// request (parallel arrays, `ctx_count` pairs; NULL/0 = no condition).
    pub ctx_keys: *const *const c_char,
    pub ctx_values: *const *const c_char,
    pub ctx_count: usize,
}

/// Creates an identity in the context's keyring with a secret (4 to 1024 bytes) and roles
/// (`KMS_ROLE_*` bits). More than one role needs `combined_roles` nonzero: separation of
/// duties holds unless asked otherwise explicitly. Needs the security-officer role.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_INVALID_ARGUMENT` (name, secret length, roles); `KMS_ERR_ALREADY_EXISTS`;
/// `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_identity_create(
    ctx: kms_ctx,
    name: *const c_char,
    secret: *const u8,
    secret_len: usize,
    roles: u32,
    combined_roles: u32,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let name = in_str(name, "name")?;
        let secret = in_bytes(secret, secret_len, "secret")?;
        s.kms
            .create_identity(&s.caller, name, secret, Roles(roles), flag(combined_roles))?;
        Ok(())
    })
}

fn edit(
    ctx: kms_ctx,
    name: *const c_char,
    out_err: *mut *mut kms_error,
    f: impl FnOnce(&crate::core::Kms, &crate::core::Caller, &str) -> crate::core::Result<()>,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let name = in_str(name, "name")?;
        f(&s.kms, &s.caller, name)?;
        Ok(())
    })
}

/// Disables an identity (it can no longer authenticate or act; contexts already open for it
/// are refused from their next call). Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`;
/// `KMS_ERR_NULL_POINTER`; `KMS_ERR_NOT_FOUND`; `KMS_ERR_ACCESS_DENIED`;
/// `KMS_ERR_INVALID_ARGUMENT` (disabling oneself).
#[no_mangle]
pub extern "C" fn kms_identity_disable(
    ctx: kms_ctx,
    name: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    edit(ctx, name, out_err, |k, c, n| k.disable_identity(c, n))
}

/// Enables a disabled identity. Status: as `kms_identity_disable`.
#[no_mangle]
pub extern "C" fn kms_identity_enable(
    ctx: kms_ctx,
    name: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    edit(ctx, name, out_err, |k, c, n| k.enable_identity(c, n))
}

/// Clears an identity's lockout after too many failed authentications. Status: as
/// `kms_identity_disable`.
#[no_mangle]
pub extern "C" fn kms_identity_unlock(
    ctx: kms_ctx,
    name: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    edit(ctx, name, out_err, |k, c, n| k.unlock_identity(c, n))
}

/// Deletes an identity (its grants stop applying). Status: as `kms_identity_disable`.
#[no_mangle]
pub extern "C" fn kms_identity_delete(
    ctx: kms_ctx,
    name: *const c_char,
    out_err: *mut *mut kms_error,
) -> kms_status {
    edit(ctx, name, out_err, |k, c, n| k.delete_identity(c, n))
}

/// Sets another identity's secret (4 to 1024 bytes; copied, not kept in the clear) and
/// clears its failure count. Status: as `kms_identity_disable`, plus
/// `KMS_ERR_INVALID_ARGUMENT` for the secret length.
#[no_mangle]
pub extern "C" fn kms_identity_set_secret(
    ctx: kms_ctx,
    name: *const c_char,
    secret: *const u8,
    secret_len: usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let name = in_str(name, "name")?;
        let secret = in_bytes(secret, secret_len, "secret")?;
        s.kms.set_identity_secret(&s.caller, name, secret)?;
        Ok(())
    })
}

fn grant_request(p: *const kms_grant_params) -> BResult<GrantRequest> {
    let p = in_ref(p, "params")?;
    let codes = in_array(p.actions, p.action_count, "params.actions")?;
    let actions = codes
        .iter()
        .map(|&c| Action::from_code(c))
        .collect::<crate::core::Result<Vec<_>>>()?;
    Ok(GrantRequest {
        identity: in_str(p.identity, "params.identity")?.to_owned(),
        key: opt_str(p.key, "params.key")?.map(str::to_owned),
        actions: ActionSet::of(&actions),
        expires: nonzero(p.expires),
        max_uses: nonzero(p.max_uses),
        context: context_arg(p.ctx_keys, p.ctx_values, p.ctx_count)?
            .into_iter()
            .collect(),
    })
}

/// Grants actions to an identity (see `kms_grant_params`) and writes the grant id to
/// `*out_grant_id`. Needs the admin role (set-policy) on the key.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_INVALID_ARGUMENT` (no action, unknown action number, duplicate context key);
/// `KMS_ERR_NOT_FOUND` (identity or key); `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_grant_create(
    ctx: kms_ctx,
    params: *const kms_grant_params,
    out_grant_id: *mut u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let mut out = out_ref(out_grant_id, "out_grant_id")?;
        let req = grant_request(params)?;
        out.set(s.kms.grant(&s.caller, &req)?);
        Ok(())
    })
}

/// Revokes a grant by id. Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NOT_FOUND`;
/// `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_grant_revoke(
    ctx: kms_ctx,
    grant_id: u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        s.kms.revoke(&s.caller, grant_id)?;
        Ok(())
    })
}

fn grant_json(g: &GrantRecord) -> String {
    let actions: Vec<String> = g
        .actions
        .actions()
        .iter()
        .map(|a| format!("\"{}\"", a.name()))
        .collect();
    let ctx: Vec<String> = g
        .context
        .iter()
        .map(|(k, v)| format!("\"{}\":\"{}\"", esc(k), esc(v)))
        .collect();
    format!(
        "{{\"id\":{},\"identity\":\"{}\",\"key_id\":{},\"actions\":[{}],\"expires\":{},\"max_uses\":{},\"uses\":{},\"context\":{{{}}},\"created\":{}}}",
        g.id,
        esc(&g.identity),
        opt_num(g.key_id),
        actions.join(","),
        opt_num(g.expires),
        opt_num(g.max_uses),
        g.uses,
        ctx.join(","),
        g.created
    )
}

/// Lists the grants on `key` (NULL = every grant of the keyring) as a JSON array of
/// objects {id, identity, key_id (null = every key), actions (names), expires, max_uses,
/// uses, context, created}, NUL-terminated, through the output-buffer convention.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (inout_len);
/// `KMS_ERR_NOT_FOUND` (key); `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_grant_list(
    ctx: kms_ctx,
    key: *const c_char,
    out_json: *mut c_char,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = opt_str(key, "key")?;
        out_ref(inout_len, "inout_len")?;
        let grants = s.kms.list_grants(&s.caller, key)?;
        let items: Vec<String> = grants.iter().map(grant_json).collect();
        write_out_str(
            out_json.cast(),
            inout_len,
            &format!("[{}]", items.join(",")),
        )
    })
}
