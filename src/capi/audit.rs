//! Audit exports: query records, export them to a file or descriptor, verify the hash
//! chain, and record MACed checkpoints.

use std::ffi::c_char;

use crate::boundary::error::kms_error;
use crate::boundary::ptr::{
    in_bytes, in_ref, in_str, opt_str, out_ref, with_fd_writer, write_out_str,
};
use crate::boundary::status::{kms_status, KMS_ERR_INTEGRITY};
use crate::boundary::{guard, BResult, BoundaryError};
use crate::capi::ctx::{kms_ctx, session};
use crate::capi::{flag, nonzero};
use crate::core::audit::to_json_line;
use crate::core::AuditFilter;

/// Filters for audit queries and exports. Zero-initialize; 0/NULL fields match everything.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct kms_audit_filter {
    /// Only records about this key id; 0 = any.
    pub key_id: u64,
    /// Only records of this identity, or NULL.
    pub identity: *const c_char,
    /// Only this action name ("encrypt", "create-identity" ...), or NULL.
    pub action: *const c_char,
    /// Only records at or after this time (microseconds since the epoch); 0 = any.
    pub since_us: i64,
    /// Only records before this time (microseconds since the epoch); 0 = any.
    pub until_us: i64,
    /// Paging: only records with a sequence number greater than this.
    pub after_seq: u64,
    /// At most this many records; 0 = no limit.
    pub limit: u64,
    /// Nonzero: newest first.
    pub descending: u32,
}

/// The result of `kms_audit_verify`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
#[allow(non_camel_case_types)]
pub struct kms_audit_report {
    /// Records checked.
    pub records: u64,
    /// Sequence number of the first and last record checked.
    pub first_seq: u64,
    pub last_seq: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// 1 when the chain is intact, 0 when a problem was found.
    pub ok: u32,
    /// Sequence number where the first problem was seen (0 when ok).
    pub problem_seq: u64,
}

fn audit_filter(f: *const kms_audit_filter) -> BResult<AuditFilter> {
    if f.is_null() {
        return Ok(AuditFilter::default());
    }
    let f = in_ref(f, "filter")?;
    Ok(AuditFilter {
        key_id: nonzero(f.key_id),
        identity: opt_str(f.identity, "filter.identity")?.map(str::to_owned),
        action: opt_str(f.action, "filter.action")?.map(str::to_owned),
        since: nonzero(f.since_us),
        until: nonzero(f.until_us),
        after_seq: nonzero(f.after_seq),
        before_seq: None,
        limit: nonzero(f.limit),
        descending: flag(f.descending),
    })
}

/// Audit records matching `filter` (NULL = all) as JSON lines (one object per record:
/// seq, time_us, keyring, identity, action, key_id, key_version, outcome, error, context,
/// pid, request_id, detail, prev_hash, hash), NUL-terminated, through the output-buffer
/// convention. The trail grows with every request: page with `after_seq`/`limit`, and on
/// `KMS_ERR_BUFFER_TOO_SMALL` retry with the new `*inout_len`. Needs the auditor role.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (inout_len);
/// `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_BUFFER_TOO_SMALL`.
#[no_mangle]
pub extern "C" fn kms_audit_query(
    ctx: kms_ctx,
    filter: *const kms_audit_filter,
    out_jsonl: *mut c_char,
    inout_len: *mut usize,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(inout_len, "inout_len")?;
        let filter = audit_filter(filter)?;
        let records = s.kms.audit_query(&s.caller, &filter)?;
        let mut text = String::new();
        for r in &records {
            text.push_str(&to_json_line(r));
            text.push('\n');
        }
        write_out_str(out_jsonl.cast(), inout_len, &text)
    })
}

/// Writes the records matching `filter` (NULL = all) as JSON lines to the file `path`
/// (created with mode 0600 or truncated), and their number to `*out_count` if not NULL.
/// Needs the auditor role.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (path);
/// `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_STORE` (the file cannot be written).
#[no_mangle]
pub extern "C" fn kms_audit_export(
    ctx: kms_ctx,
    filter: *const kms_audit_filter,
    path: *const c_char,
    out_count: *mut u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        use std::os::unix::fs::OpenOptionsExt;
        let s = session(ctx)?;
        let path = in_str(path, "path")?;
        let count = opt_out_u64(out_count)?;
        let filter = audit_filter(filter)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| BoundaryError::from(crate::core::Error::from(e)))?;
        let mut w = std::io::BufWriter::new(&mut file);
        let n = s.kms.audit_export(&s.caller, &filter, &mut w)?;
        std::io::Write::flush(&mut w)
            .map_err(|e| BoundaryError::from(crate::core::Error::from(e)))?;
        if let Some(mut c) = count {
            c.set(n);
        }
        Ok(())
    })
}

fn opt_out_u64<'a>(p: *mut u64) -> BResult<Option<crate::boundary::ptr::Out<'a, u64>>> {
    if p.is_null() {
        Ok(None)
    } else {
        out_ref(p, "out_count").map(Some)
    }
}

/// As `kms_audit_export`, writing to the caller's open file descriptor `fd` (not closed,
/// written at its current offset, unbuffered).
///
/// Status: as `kms_audit_export`, plus `KMS_ERR_INVALID_ARGUMENT` for a negative fd.
#[no_mangle]
pub extern "C" fn kms_audit_export_fd(
    ctx: kms_ctx,
    filter: *const kms_audit_filter,
    fd: i32,
    out_count: *mut u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let count = opt_out_u64(out_count)?;
        let filter = audit_filter(filter)?;
        let n = with_fd_writer(fd, |w| s.kms.audit_export(&s.caller, &filter, w))??;
        if let Some(mut c) = count {
            c.set(n);
        }
        Ok(())
    })
}

/// Walks the whole audit chain and checks every link (a changed, removed or reordered
/// record breaks it); with `checkpoint_key` (NULL/0 = none) also checks the checkpoint
/// MACs. Needs the auditor role.
///
/// `*out_report` is written whenever the chain could be read: with `KMS_OK` when it is
/// intact (`ok` = 1), and also with `KMS_ERR_INTEGRITY` when a problem was found (`ok` = 0,
/// `problem_seq` set; the `kms_error` message says what is wrong).
///
/// Status: `KMS_OK`; `KMS_ERR_INTEGRITY`; `KMS_ERR_INVALID_HANDLE`;
/// `KMS_ERR_NULL_POINTER` (out_report); `KMS_ERR_ACCESS_DENIED`; `KMS_ERR_STORE`.
#[no_mangle]
pub extern "C" fn kms_audit_verify(
    ctx: kms_ctx,
    checkpoint_key: *const u8,
    checkpoint_key_len: usize,
    out_report: *mut kms_audit_report,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let mut out = out_ref(out_report, "out_report")?;
        let key = in_bytes(checkpoint_key, checkpoint_key_len, "checkpoint_key")?;
        let key = (!key.is_empty()).then_some(key);
        let r = s.kms.audit_verify(&s.caller, key)?;
        out.set(kms_audit_report {
            records: r.records,
            first_seq: r.first_seq,
            last_seq: r.last_seq,
            checkpoints: r.checkpoints,
            ok: u32::from(r.ok()),
            problem_seq: r.problem.as_ref().map_or(0, |p| p.0),
        });
        match r.problem {
            None => Ok(()),
            Some((seq, what)) => Err(BoundaryError::new(
                KMS_ERR_INTEGRITY,
                format!("audit chain broken at record {seq}: {what}"),
            )),
        }
    })
}

/// Records a checkpoint over the current head of the audit chain, MACed with the
/// auditor's `key` (at least 16 bytes; keep it outside the store), and writes the sequence
/// number it covers to `*out_seq` if not NULL. `kms_audit_verify` with the same key then
/// also detects a rewritten chain.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER`;
/// `KMS_ERR_INVALID_ARGUMENT` (short key); `KMS_ERR_ACCESS_DENIED`.
#[no_mangle]
pub extern "C" fn kms_audit_checkpoint(
    ctx: kms_ctx,
    key: *const u8,
    key_len: usize,
    out_seq: *mut u64,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_bytes(key, key_len, "key")?;
        let seq = if out_seq.is_null() {
            None
        } else {
            Some(out_ref(out_seq, "out_seq")?)
        };
        let cp = s.kms.audit_checkpoint(&s.caller, key)?;
        if let Some(mut o) = seq {
            o.set(cp.seq);
        }
        Ok(())
    })
}
