//! The C API called from Rust (no C compiler needed): one context shared by many threads,
//! close racing with use, a tampered audit chain reported by `kms_audit_verify`, secret
//! guessing locked out, and identity secrets kept out of the store's files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scan;

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

    // the first event row after the store's creation (usage records, such as the owner's
    // sign-in, are stored in batches, and which comes first depends on the chaining)
    let c = rusqlite::Connection::open(&db).unwrap();
    let seq: i64 = c
        .query_row("SELECT min(seq) FROM audit WHERE seq > 1", [], |r| r.get(0))
        .unwrap();
    let n = c
        .execute(
            "UPDATE audit SET detail = 'rewritten' WHERE seq = ?1",
            [seq],
        )
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
    assert!(
        msg.to_string_lossy().contains(&format!("record {seq}")),
        "{msg:?}"
    );
    kms_error_free(err);
    assert_eq!(report.ok, 0);
    assert_eq!(report.problem_seq, seq as u64);
    assert_eq!(kms_close(ctx), KMS_OK);
}

fn open_as(store: &std::path::Path, identity: &str, secret: &[u8]) -> (kms_status, kms_ctx) {
    let path = CString::new(store.to_str().unwrap()).unwrap();
    let name = CString::new(identity).unwrap();
    let mut ctx = KMS_NO_HANDLE;
    let st = kms_open(
        path.as_ptr(),
        std::ptr::null(),
        name.as_ptr(),
        secret.as_ptr(),
        secret.len(),
        &mut ctx,
        std::ptr::null_mut(),
    );
    (st, ctx)
}

/// The audit records of `identity` as JSON lines, through `kms_audit_query`.
fn audit_lines(ctx: kms_ctx, identity: &str) -> Vec<String> {
    let who = CString::new(identity).unwrap();
    let action = CString::new("authenticate").unwrap();
    let f = kms_audit_filter {
        key_id: 0,
        identity: who.as_ptr(),
        action: action.as_ptr(),
        since_us: 0,
        until_us: 0,
        after_seq: 0,
        limit: 0,
        descending: 0,
    };
    let mut len = 0usize;
    let nul = std::ptr::null_mut();
    assert_eq!(
        kms_audit_query(ctx, &f, std::ptr::null_mut(), &mut len, nul),
        KMS_OK
    );
    let mut buf = vec![0u8; len];
    assert_eq!(
        kms_audit_query(ctx, &f, buf.as_mut_ptr().cast(), &mut len, nul),
        KMS_OK
    );
    String::from_utf8(buf[..len - 1].to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Guessing an identity's secret through `kms_open` locks it after the default threshold
/// (10): `KMS_ERR_AUTHENTICATION_FAILED` nine times, then `KMS_ERR_IDENTITY_LOCKED`, also
/// for the right secret, until a security officer calls `kms_identity_unlock`. Each
/// attempt is audited, without the secret.
#[test]
fn secret_guessing_through_kms_open_locks_out_until_unlocked() {
    std::env::remove_var("KMS_LOCKOUT_THRESHOLD");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kms.db");
    let owner = open(&db);
    let secret = b"app-secret-Rf4tG7yH2j";
    let name = CString::new("app").unwrap();
    assert_eq!(
        kms_identity_create(
            owner,
            name.as_ptr(),
            secret.as_ptr(),
            secret.len(),
            KMS_ROLE_USER,
            0,
            std::ptr::null_mut()
        ),
        KMS_OK
    );
    for attempt in 1..=9 {
        let (st, ctx) = open_as(&db, "app", format!("guess-{attempt}").as_bytes());
        assert_eq!(st, KMS_ERR_AUTHENTICATION_FAILED, "attempt {attempt}");
        assert_eq!(ctx, KMS_NO_HANDLE);
    }
    let (st, _) = open_as(&db, "app", b"guess-10");
    assert_eq!(st, KMS_ERR_IDENTITY_LOCKED, "the 10th failure locks");
    let (st, ctx) = open_as(&db, "app", secret);
    assert_eq!(
        st, KMS_ERR_IDENTITY_LOCKED,
        "the right secret is refused now"
    );
    assert_eq!(ctx, KMS_NO_HANDLE);
    // an unknown name never locks and fails the same way as a wrong secret
    for _ in 0..11 {
        assert_eq!(
            open_as(&db, "ghost", b"anything").0,
            KMS_ERR_AUTHENTICATION_FAILED
        );
    }
    // each attempt is audited: 10 counted failures, then the refused right secret
    let lines = audit_lines(owner, "app");
    let denied: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"outcome\":\"denied\""))
        .collect();
    assert_eq!(denied.len(), 11, "{lines:#?}");
    for (i, l) in denied.iter().take(10).enumerate() {
        assert!(
            l.contains(&format!("\"detail\":\"failure {} of 10", i + 1)),
            "{l}"
        );
    }
    assert!(denied[9].contains("identity locked"), "{}", denied[9]);
    assert!(
        denied[10].contains("\"error\":\"identity locked\""),
        "{}",
        denied[10]
    );
    let all = lines.join("\n");
    assert!(
        !all.contains("app-secret") && !all.contains("guess-"),
        "{all}"
    );
    assert_eq!(audit_lines(owner, "ghost").len(), 11);
    // a security officer unlocks; the right secret works again and the count restarts
    assert_eq!(
        kms_identity_unlock(owner, name.as_ptr(), std::ptr::null_mut()),
        KMS_OK
    );
    let (st, ctx) = open_as(&db, "app", secret);
    assert_eq!(st, KMS_OK);
    assert_eq!(kms_close(ctx), KMS_OK);
    assert_eq!(
        open_as(&db, "app", b"guess-again").0,
        KMS_ERR_AUTHENTICATION_FAILED
    );
    // the locked identity cannot unlock itself, nor can a key user
    let (_, app) = open_as(&db, "app", secret);
    assert_eq!(
        kms_identity_unlock(app, name.as_ptr(), std::ptr::null_mut()),
        KMS_ERR_ACCESS_DENIED
    );
    assert_eq!(kms_close(app), KMS_OK);
    assert_eq!(kms_close(owner), KMS_OK);
}

/// Secrets given to `kms_identity_create` and `kms_identity_set_secret`, and the owner's
/// secret, are in none of the store's files (database, WAL, shared memory, journals), raw,
/// hex or base64; the owner secret and master key files are readable by their owner only.
#[test]
fn identity_secrets_are_not_in_the_store_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kms.db");
    let owner = open(&db);
    let secrets: [&[u8]; 3] = [
        b"svc-first-secret-Pq9wE3rT",
        b"svc-second-secret-Zx8cV5bN",
        b"ops-secret-Mj2kL6hG4fD",
    ];
    let svc = CString::new("svc").unwrap();
    let ops = CString::new("ops").unwrap();
    let nul = std::ptr::null_mut();
    assert_eq!(
        kms_identity_create(
            owner,
            svc.as_ptr(),
            secrets[0].as_ptr(),
            secrets[0].len(),
            KMS_ROLE_USER,
            0,
            nul
        ),
        KMS_OK
    );
    assert_eq!(
        kms_identity_set_secret(
            owner,
            svc.as_ptr(),
            secrets[1].as_ptr(),
            secrets[1].len(),
            nul
        ),
        KMS_OK
    );
    assert_eq!(
        kms_identity_create(
            owner,
            ops.as_ptr(),
            secrets[2].as_ptr(),
            secrets[2].len(),
            KMS_ROLE_AUDITOR,
            0,
            nul
        ),
        KMS_OK
    );
    // the identities work (so the secrets were taken), and a failed attempt is recorded
    let (st, c) = open_as(&db, "svc", secrets[1]);
    assert_eq!(st, KMS_OK);
    assert_eq!(
        open_as(&db, "svc", secrets[0]).0,
        KMS_ERR_AUTHENTICATION_FAILED
    );
    let (st, c2) = open_as(&db, "ops", secrets[2]);
    assert_eq!(st, KMS_OK);
    let owner_file = dir.path().join("kms.db.owner");
    let owner_line = std::fs::read_to_string(&owner_file).unwrap();
    let owner_secret = owner_line.trim().split_once(':').unwrap().1.to_string();
    // searched while the contexts are open (a live copy), then after they are closed
    for when in ["live", "closed"] {
        let files = scan::store_files(&db);
        scan::assert_present(&files, b"svc");
        let mut n = 0;
        for s in secrets {
            n += scan::assert_absent(
                &files,
                &format!("{} ({when})", String::from_utf8_lossy(s)),
                s,
            );
        }
        n += scan::assert_absent(
            &files,
            &format!("owner secret ({when})"),
            owner_secret.as_bytes(),
        );
        assert!(n >= 4 * 9, "{n} searches");
        if when == "live" {
            for ctx in [c, c2, owner] {
                assert_eq!(kms_close(ctx), KMS_OK);
            }
        }
    }
    #[cfg(unix)]
    {
        assert_eq!(scan::mode(&owner_file), 0o600, "owner secret file mode");
        assert_eq!(
            scan::mode(&dir.path().join("kms.db.key")),
            0o600,
            "key file mode"
        );
    }
}

/// [`fork_with_busy_parent`], alone in a process.
#[test]
fn a_forked_child_using_its_parents_context_keeps_its_own_journal() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fork_with_busy_parent",
            "--include-ignored",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A forked child that goes on using its parent's context writes its usage records to a
/// journal of its own: the parent's journal is a shared memory mapping of the parent's file,
/// and the child writing into it would overwrite the parent's records. Every record of both
/// processes is chained once (the child's journal is taken over once it has exited). The
/// parent forks while two other threads of its own use the context and chain its records:
/// no lock they hold at that instant (a journal file's, the chaining's, the cache's) may be
/// left held in the child. Run in a process of its own (see the test below): SQLite's own
/// process-wide locks, which another test's direct use of SQLite may hold at the instant of
/// a fork, are not libkms's to hold.
#[test]
#[ignore = "run in a process of its own by a_forked_child_using_its_parents_context_keeps_its_own_journal"]
fn fork_with_busy_parent() {
    const CHILDREN: usize = 32;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kms.db");
    let ctx = open(&db);
    let key = CString::new("forky").unwrap();
    create_aes(ctx, &key);
    for _ in 0..20 {
        assert_eq!(round_trip(ctx, &key, b"parent"), KMS_OK);
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    /// Stops the busy threads however the forking ends (a failed assertion included).
    struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let busy: usize = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                sc.spawn(|| {
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        assert_eq!(round_trip(ctx, &key, b"busy"), KMS_OK);
                        n += 1;
                        if n % 4 == 0 {
                            assert_eq!(kms_flush(ctx, std::ptr::null_mut()), KMS_OK);
                        }
                    }
                    n
                })
            })
            .collect();
        let stopping = Stop(&stop);
        for _ in 0..CHILDREN {
            std::thread::sleep(std::time::Duration::from_millis(2));
            // SAFETY: test: the child only calls the library, then _exit; a deadlock there
            // ends it by SIGALRM instead of hanging the test.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork");
            if pid == 0 {
                // SAFETY: alarm and _exit take no pointers.
                unsafe { libc::alarm(10) };
                let code = if (0..30).all(|_| round_trip(ctx, &key, b"child") == KMS_OK) {
                    0
                } else {
                    1
                };
                // SAFETY: ends the child without running the parent's destructors (its
                // journal, left behind, is taken over by the parent).
                unsafe { libc::_exit(code) };
            }
            let mut status = 0;
            // SAFETY: waits for the child just forked, writing its status to a local.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child's calls succeeded ({status:#x}: 0xe is SIGALRM, a deadlock)"
            );
        }
        drop(stopping);
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    for _ in 0..20 {
        assert_eq!(round_trip(ctx, &key, b"parent"), KMS_OK);
    }
    assert_eq!(kms_flush(ctx, std::ptr::null_mut()), KMS_OK);
    assert_eq!(kms_close(ctx), KMS_OK);

    let k = kms::core::Kms::open(kms::core::Config::at(&db).unwrap()).unwrap();
    let o = k.owner().unwrap();
    for action in ["encrypt", "decrypt"] {
        let recs = k
            .audit_query(
                &o,
                &kms::core::AuditFilter {
                    action: Some(action.into()),
                    ..Default::default()
                },
            )
            .unwrap();
        // (records made through the parent's context carry the parent's pid)
        assert_eq!(
            recs.len(),
            40 + busy + 30 * CHILDREN,
            "{action}: every record, once"
        );
    }
    assert!(k.audit_verify(&o, None).unwrap().ok());
    drop(k);
    // closing chained what was left and removed the journals, on the closing thread
    let left: Vec<_> = std::fs::read_dir(kms::core::config::sibling(&db, "journal"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "journals left: {left:?}");
}
