//! The C API called from Rust (no C compiler needed): one context shared by many threads,
//! close racing with use, and a tampered audit chain reported by `kms_audit_verify`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::CString;
use std::sync::Arc;

use kms::capi::*;

fn open(store: &std::path::Path) -> kms_ctx {
    let path = CString::new(store.to_str().unwrap()).unwrap();
    let mut ctx = KMS_NO_HANDLE;
    assert_eq!(
        kms_open_default_owner(path.as_ptr(), &mut ctx, std::ptr::null_mut()),
        KMS_OK
    );
    ctx
}

fn create_aes(ctx: kms_ctx, name: &CString) {
    let p = kms_key_params {
        spec: KMS_SPEC_AES256,
        usage: 0,
        name: name.as_ptr(),
        description: std::ptr::null(),
        tags: std::ptr::null(),
        activation_date: 0,
        rotation_period_seconds: 0,
        rotate_after_uses: 0,
        exportable: 0,
        pre_active: 0,
    };
    let mut id = 0u64;
    assert_eq!(
        kms_key_create(ctx, &p, &mut id, std::ptr::null_mut()),
        KMS_OK
    );
}

fn round_trip(ctx: kms_ctx, key: &CString, msg: &[u8]) -> kms_status {
    let mut ct = vec![0u8; msg.len() + KMS_CIPHERTEXT_OVERHEAD];
    let mut len = ct.len();
    let nul = std::ptr::null();
    let st = kms_encrypt(
        ctx,
        key.as_ptr(),
        msg.as_ptr(),
        msg.len(),
        nul,
        nul,
        0,
        ct.as_mut_ptr(),
        &mut len,
        std::ptr::null_mut(),
    );
    if st != KMS_OK {
        return st;
    }
    let mut pt = vec![0u8; msg.len()];
    let mut plen = pt.len();
    let st = kms_decrypt(
        ctx,
        ct.as_ptr(),
        len,
        nul,
        nul,
        0,
        pt.as_mut_ptr(),
        &mut plen,
        std::ptr::null_mut(),
    );
    if st == KMS_OK {
        assert_eq!(&pt[..plen], msg);
    }
    st
}

#[test]
fn one_context_many_threads_and_close_racing_use() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = open(&dir.path().join("kms.db"));
    let key = Arc::new(CString::new("shared").unwrap());
    create_aes(ctx, &key);

    let threads: Vec<_> = (0..4)
        .map(|t| {
            let key = key.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let msg = format!("thread {t} message {i}");
                    assert_eq!(round_trip(ctx, &key, msg.as_bytes()), KMS_OK);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // Close while other threads use the context: each call either completes or reports an
    // invalid handle; nothing else.
    let users: Vec<_> = (0..3)
        .map(|_| {
            let key = key.clone();
            std::thread::spawn(move || {
                let mut closed = false;
                for _ in 0..200 {
                    match round_trip(ctx, &key, b"racing") {
                        KMS_OK => assert!(!closed, "a call succeeded after close was seen"),
                        KMS_ERR_INVALID_HANDLE => closed = true,
                        other => panic!("unexpected status {other}"),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(kms_close(ctx), KMS_OK);
    assert_eq!(kms_close(ctx), KMS_ERR_INVALID_HANDLE);
    for u in users {
        u.join().unwrap();
    }
}

#[test]
fn tampered_audit_chain_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kms.db");
    let ctx = open(&db);
    let key = CString::new("k").unwrap();
    create_aes(ctx, &key);
    assert_eq!(round_trip(ctx, &key, b"audited"), KMS_OK);
    let mut report = kms_audit_report {
        records: 0,
        first_seq: 0,
        last_seq: 0,
        checkpoints: 0,
        ok: 0,
        problem_seq: 0,
    };
    assert_eq!(
        kms_audit_verify(ctx, std::ptr::null(), 0, &mut report, std::ptr::null_mut()),
        KMS_OK
    );
    assert_eq!(report.ok, 1);
    assert_eq!(kms_close(ctx), KMS_OK);

    let c = rusqlite::Connection::open(&db).unwrap();
    let n = c
        .execute("UPDATE audit SET detail = 'rewritten' WHERE seq = 2", [])
        .unwrap();
    assert_eq!(n, 1);
    drop(c);

    let ctx = open(&db);
    let mut err: *mut kms_error = std::ptr::null_mut();
    let st = kms_audit_verify(ctx, std::ptr::null(), 0, &mut report, &mut err);
    assert_eq!(st, KMS_ERR_INTEGRITY);
    assert_eq!(kms_error_code(err), KMS_ERR_INTEGRITY);
    // SAFETY: test: err is a live error from the call above.
    let msg = unsafe { std::ffi::CStr::from_ptr(kms_error_message(err)) };
    assert!(msg.to_string_lossy().contains("record 2"), "{msg:?}");
    kms_error_free(err);
    assert_eq!(report.ok, 0);
    assert_eq!(report.problem_seq, 2);
    assert_eq!(kms_close(ctx), KMS_OK);
}
