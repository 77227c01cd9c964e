//! Contexts: an open store plus an authenticated identity, addressed by a `kms_ctx` handle.

use std::ffi::c_char;
use std::sync::Arc;

use crate::boundary::error::kms_error;
use crate::boundary::handle::Registry;
use crate::boundary::ptr::{in_bytes, in_str, opt_str, out_ref, write_out_str};
use crate::boundary::status::kms_status;
use crate::boundary::{guard, BResult};
use crate::core::{self, Caller, Config, Kms};

/// A context: an open store and the identity authenticated on it. A generational handle
/// (never 0); closed with `kms_close`. One context may be used from many threads at once.
#[allow(non_camel_case_types)]
pub type kms_ctx = u64;

/// What a context handle holds: the store (shared, thread-safe) and the caller.
pub(crate) struct Session {
    pub kms: Kms,
    pub caller: Caller,
}

static CTXS: Registry<Session> = Registry::new(1, "context");

/// The session behind a context handle (`KMS_ERR_INVALID_HANDLE` if closed or forged).
pub(crate) fn session(ctx: kms_ctx) -> BResult<Arc<Session>> {
    CTXS.get(ctx)
}

fn config(store_path: *const c_char) -> BResult<Config> {
    Ok(match opt_str(store_path, "store_path")? {
        Some(p) => Config::at(p)?,
        None => Config::from_env()?,
    })
}

/// Holds the context table across a `fork()` of the host (see `boundary::fork`).
fn hold_for_fork() -> Box<dyn std::any::Any> {
    CTXS.hold_for_fork()
}

/// Opens the store and keeps it (and the handle tables) quiet across a `fork()` of the host,
/// so that a child can open contexts of its own.
fn open_store(store_path: *const c_char) -> BResult<Kms> {
    let kms = Kms::open(config(store_path)?)?;
    crate::boundary::fork::hold_across_fork(hold_for_fork);
    crate::boundary::fork::hold_across_fork(crate::capi::stream::hold_for_fork);
    Ok(kms)
}

/// Opens (creating if needed) a store and authenticates as `identity`.
///
/// - `store_path`: path of the SQLite store file; NULL = the default store (`KMS_STORE`, else
///   `$XDG_DATA_HOME/kms/kms.db`). The master key comes from `KMS_PASSPHRASE`,
///   `KMS_MASTER_KEY_FILE` or the key file beside the store; other `KMS_*` variables apply.
/// - `keyring`: NULL = "default".
/// - `identity`, `secret`/`secret_len`: the identity's credentials (copied; not kept).
/// - `out_ctx`: receives the new context handle on success.
///
/// Each call runs one Argon2id verification (tens of milliseconds): open once, share the
/// context between threads. Status: `KMS_OK`; `KMS_ERR_NULL_POINTER` (identity, out_ctx, or
/// secret with secret_len > 0); `KMS_ERR_AUTHENTICATION_FAILED`; `KMS_ERR_IDENTITY_LOCKED`;
/// `KMS_ERR_WRONG_MASTER_KEY`; `KMS_ERR_STORE`; `KMS_ERR_UTF8`/`KMS_ERR_LENGTH` for bad
/// strings.
#[no_mangle]
pub extern "C" fn kms_open(
    store_path: *const c_char,
    keyring: *const c_char,
    identity: *const c_char,
    secret: *const u8,
    secret_len: usize,
    out_ctx: *mut kms_ctx,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let mut out = out_ref(out_ctx, "out_ctx")?;
        let keyring = opt_str(keyring, "keyring")?.unwrap_or(core::service::DEFAULT_KEYRING);
        let identity = in_str(identity, "identity")?;
        let secret = in_bytes(secret, secret_len, "secret")?;
        let kms = open_store(store_path)?;
        let caller = kms.authenticate(keyring, identity, secret)?;
        out.set(CTXS.insert(Session { kms, caller })?);
        Ok(())
    })
}

/// Opens (creating if needed) a store and authenticates as its owner with the secret file
/// kept beside it (`<store>.owner`, written when the store was created): the embedded
/// default for local tools and quick starts. `store_path` NULL = the default store.
///
/// Status: as `kms_open`; `KMS_ERR_AUTHENTICATION_FAILED` when the owner file is missing.
#[no_mangle]
pub extern "C" fn kms_open_default_owner(
    store_path: *const c_char,
    out_ctx: *mut kms_ctx,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let mut out = out_ref(out_ctx, "out_ctx")?;
        let kms = open_store(store_path)?;
        let caller = kms.owner()?;
        out.set(CTXS.insert(Session { kms, caller })?);
        Ok(())
    })
}

/// Closes a context: flushes pending audit records and releases the handle. Calls already
/// running on other threads with this context finish normally; later calls (and a second
/// close) return `KMS_ERR_INVALID_HANDLE`. Stream handles made from the context stay
/// usable (they hold their own reference to the store).
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_STORE` if the flush failed (the
/// handle is closed anyway).
#[no_mangle]
pub extern "C" fn kms_close(ctx: kms_ctx) -> kms_status {
    guard(std::ptr::null_mut(), || {
        let s = CTXS.remove(ctx)?;
        s.kms.flush()?;
        Ok(())
    })
}

/// Makes every audit record of this context durable and visible to other contexts and
/// processes now (records of key use are otherwise group-committed within milliseconds).
/// Contexts opened separately, even on one store in one process, batch their records
/// apart: flush one before querying its records from another.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_STORE`; `KMS_ERR_AUDIT_UNAVAILABLE`.
#[no_mangle]
pub extern "C" fn kms_flush(ctx: kms_ctx, out_err: *mut *mut kms_error) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        s.kms.flush()?;
        Ok(())
    })
}

/// The name of the context's identity, NUL-terminated, through the output-buffer convention
/// (`*inout_len` counts the NUL). Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`;
/// `KMS_ERR_NULL_POINTER` (inout_len); `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_ctx_identity(
    ctx: kms_ctx,
    out: *mut c_char,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        write_out_str(out.cast(), inout_len, &s.caller.identity)
    })
}
