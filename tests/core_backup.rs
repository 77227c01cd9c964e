//! Backup and restore through the core: everything comes back with its ids (old
//! ciphertexts decrypt), the audit chain verifies across stores, and a restore refuses a
//! non-empty store, a corrupted, truncated or wrongly unlocked file without writing anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::io::Read;
use std::path::{Path, PathBuf};

use kms::core::backup::{verify_backup, BackupSecret};
use kms::core::*;
use util::*;
use zeroize::Zeroizing;

fn pass(p: &str) -> BackupSecret {
    BackupSecret::Passphrase(Zeroizing::new(p.to_string()))
}

fn opener(path: PathBuf) -> impl FnMut() -> Result<(Box<dyn Read>, u64)> {
    move || {
        let f = std::fs::File::open(&path)?;
        let len = f.metadata()?.len();
        Ok((Box::new(f) as Box<dyn Read>, len))
    }
}

fn backup_to(k: &Kms, c: &Caller, secret: &BackupSecret, path: &Path) -> BackupSummary {
    let mut f = std::fs::File::create(path).unwrap();
    k.backup(c, secret, &mut f, &mut |_, _| {}).unwrap()
}

fn restore_from(k: &Kms, c: &Caller, secret: &BackupSecret, path: &Path) -> Result<BackupSummary> {
    k.restore(c, &mut opener(path.to_path_buf()), secret, &mut |_, _| {})
}

/// A populated source store: keys with several versions (one destroyed), a destroyed key,
/// an identity with a grant, a secret, a sensitive data object, a checkpoint.
struct Source {
    ts: TestStore,
    ct_v1: Vec<u8>,
    ct_v3: Vec<u8>,
    data_id: u64,
}

fn populated() -> Source {
    let ts = TestStore::new();
    let (k, o) = ts.open_owner();
    k.create_key(&o, &aes("app")).unwrap();
    let ct_v1 = k.encrypt(&o, "app", b"version one", &ctx("a=1")).unwrap();
    k.rotate_key(&o, "app").unwrap();
    k.rotate_key(&o, "app").unwrap();
    let ct_v3 = k.encrypt(&o, "app", b"version three", &ctx("")).unwrap();
    k.create_key(&o, &aes("old")).unwrap();
    k.schedule_deletion(&o, "old", Some(0)).unwrap();
    k.maintain(&o).unwrap();
    k.create_identity(&o, "alice", b"alice-secret", Roles::NONE, false)
        .unwrap();
    k.grant(
        &o,
        &GrantRequest {
            identity: "alice".into(),
            key: Some("app".into()),
            actions: ActionSet::of(&[Action::Decrypt, Action::GetSecret]),
            ..Default::default()
        },
    )
    .unwrap();
    k.put_secret(&o, "db/password", "app", b"hunter2").unwrap();
    let data = k
        .create_object(
            &o,
            &ObjectRequest {
                class: "data".into(),
                label: "blob".into(),
                value: b"sensitive data".to_vec(),
                sensitive: true,
                ..Default::default()
            },
        )
        .unwrap();
    k.audit_checkpoint(&o, &[7u8; 32]).unwrap();
    Source {
        ts,
        ct_v1,
        ct_v3,
        data_id: data.id,
    }
}

#[test]
fn restore_brings_back_keys_identities_grants_objects_and_the_audit_chain() {
    let src = populated();
    let (k, o) = src.ts.open_owner();
    let file = src.ts.dir.path().join("store.kmsbak");
    let sum = backup_to(&k, &o, &pass("backup pass"), &file);
    assert_eq!(sum.keys, 2);
    assert_eq!(sum.versions, 4);
    assert!(sum.audit_records > 10);
    let raw = std::fs::read(&file).unwrap();
    assert!(!raw.windows(7).any(|w| w == b"hunter2"));
    assert!(!raw.windows(14).any(|w| w == b"sensitive data"));

    let dst = TestStore::new();
    let (t, to) = dst.open_owner();
    let got = restore_from(&t, &to, &pass("backup pass"), &file).unwrap();
    assert_eq!(got, sum);
    // Old ciphertexts decrypt; versions and states kept.
    assert_eq!(
        &*t.decrypt(&to, &src.ct_v1, &ctx("a=1")).unwrap(),
        b"version one"
    );
    assert_eq!(
        &*t.decrypt(&to, &src.ct_v3, &ctx("")).unwrap(),
        b"version three"
    );
    let app = t.describe_key(&to, "app").unwrap();
    assert_eq!(app.key.primary_version, 3);
    let old = t
        .list_keys(
            &to,
            &KeyFilter {
                include_destroyed: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(old.len(), 2);
    assert_eq!(old[1].state, KeyState::Destroyed);
    // Identities keep their secrets; grants work; the owner keeps this store's secret file.
    let alice = t.authenticate("default", "alice", b"alice-secret").unwrap();
    assert_eq!(
        &*t.get_secret(&alice, "db/password", None).unwrap(),
        b"hunter2"
    );
    assert_eq!(
        &*t.decrypt(&alice, &src.ct_v1, &ctx("a=1")).unwrap(),
        b"version one"
    );
    assert_eq!(
        t.get_object(&to, src.data_id).unwrap().value,
        b"sensitive data"
    );
    // New keys get ids after the restored ones.
    let n = t.create_key(&to, &aes("new")).unwrap();
    assert!(n.id > old[1].id);
    // The chain verifies (restored part with the source store id), checkpoint MAC too.
    let rep = t.audit_verify(&to, Some(&[7u8; 32])).unwrap();
    assert!(rep.ok(), "{:?}", rep.problem);
    assert_eq!(rep.checkpoints, 1);
    let trail = t.audit_query(&to, &AuditFilter::default()).unwrap();
    assert!(trail.iter().any(|r| r.action == "restore"));
    assert_eq!(trail[0].action, "create-store");
    // Sealed material is bound to the new store: the restored file alone opens nothing.
    assert_ne!(t.store_id(), k.store_id());
}

#[test]
fn a_restored_store_backs_up_and_restores_again_with_a_key_file() {
    let src = populated();
    let (k, o) = src.ts.open_owner();
    let file = src.ts.dir.path().join("one.kmsbak");
    backup_to(&k, &o, &pass("p1"), &file);
    let mid = TestStore::new();
    let (m, mo) = mid.open_owner();
    restore_from(&m, &mo, &pass("p1"), &file).unwrap();
    m.encrypt(&mo, "app", b"x", &ctx("")).unwrap();

    let keyfile = mid.dir.path().join("backup.key");
    std::fs::write(&keyfile, [9u8; 32]).unwrap();
    let key = BackupSecret::Key(kms::core::backup::load_backup_key_file(&keyfile).unwrap());
    let file2 = mid.dir.path().join("two.kmsbak");
    backup_to(&m, &mo, &key, &file2);
    let dst = TestStore::new();
    let (t, to) = dst.open_owner();
    // The wrong kind of secret is named as such.
    let e = restore_from(&t, &to, &pass("p1"), &file2).unwrap_err();
    assert!(e.message().contains("key file"), "{e}");
    restore_from(&t, &to, &key, &file2).unwrap();
    assert_eq!(
        &*t.decrypt(&to, &src.ct_v1, &ctx("a=1")).unwrap(),
        b"version one"
    );
    let rep = t.audit_verify(&to, Some(&[7u8; 32])).unwrap();
    assert!(rep.ok(), "{:?}", rep.problem);
    let restores = t
        .audit_query(
            &to,
            &AuditFilter {
                action: Some("restore".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(restores.len(), 2);
}

fn trail_len(k: &Kms, c: &Caller) -> usize {
    k.audit_query(c, &AuditFilter::default()).unwrap().len()
}

#[test]
fn restore_refuses_bad_files_and_non_empty_stores_without_writing() {
    let src = populated();
    let (k, o) = src.ts.open_owner();
    let file = src.ts.dir.path().join("b.kmsbak");
    backup_to(&k, &o, &pass("right"), &file);
    let raw = std::fs::read(&file).unwrap();
    let dst = TestStore::new();
    let (t, to) = dst.open_owner();

    // Wrong passphrase.
    let e = restore_from(&t, &to, &pass("wrong"), &file).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidCiphertext, "{e}");
    // A flipped byte in the middle, a truncated file, a file with a chunk cut out.
    let bad = dst.dir.path().join("bad.kmsbak");
    let mut flipped = raw.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    std::fs::write(&bad, &flipped).unwrap();
    assert!(restore_from(&t, &to, &pass("right"), &bad).is_err());
    std::fs::write(&bad, &raw[..raw.len() - 10]).unwrap();
    assert!(restore_from(&t, &to, &pass("right"), &bad).is_err());
    std::fs::write(&bad, b"hello").unwrap();
    let e = restore_from(&t, &to, &pass("right"), &bad).unwrap_err();
    assert!(e.message().contains("not a kms backup"), "{e}");
    let mut f = std::fs::File::open(&bad).unwrap();
    assert!(verify_backup(&mut f, 5, &pass("right"), &mut |_, _| {}).is_err());
    // Nothing was written: still no keys, still the initial trail plus refusals.
    assert!(t.list_keys(&to, &KeyFilter::default()).unwrap().is_empty());
    assert!(t.audit_verify(&to, None).unwrap().ok());
    assert!(t
        .audit_query(&to, &AuditFilter::default())
        .unwrap()
        .iter()
        .all(|r| r.action != "restore"));

    // A non-empty store is refused.
    t.create_key(&to, &aes("mine")).unwrap();
    let before = trail_len(&t, &to);
    let e = restore_from(&t, &to, &pass("right"), &file).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert!(e.message().contains("empty"), "{e}");
    assert_eq!(t.list_keys(&to, &KeyFilter::default()).unwrap().len(), 1);
    assert_eq!(trail_len(&t, &to), before + 1); // the refusal is audited

    // A good file verifies standalone.
    let mut f = std::fs::File::open(&file).unwrap();
    let s = verify_backup(&mut f, raw.len() as u64, &pass("right"), &mut |_, _| {}).unwrap();
    assert_eq!(s.keys, 2);
}

#[test]
fn backup_and_restore_need_the_store_management_role() {
    let src = populated();
    let (k, o) = src.ts.open_owner();
    k.create_identity(&o, "bob", b"bob-secret", Roles::ADMIN, false)
        .unwrap();
    let bob = k.authenticate("default", "bob", b"bob-secret").unwrap();
    let mut out = Vec::new();
    let e = k
        .backup(&bob, &pass("x"), &mut out, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AccessDenied);
    assert!(out.is_empty());
}

#[test]
fn a_backup_of_format_1_restores_and_its_trail_chains_on() {
    // The records of a format-1 backup (tests/vectors/backup-format1.payload, written before
    // usage batches were linked as a whole: every audit record stored one by one with its
    // own hashes), wrapped as a backup file with the fuzzing key (the wrapping is today's;
    // the records inside are format 1).
    let payload = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/backup-format1.payload"
    ))
    .unwrap();
    assert_eq!(
        (payload[0], payload[5]),
        (1, 1),
        "an info record of format 1"
    );
    let secret = kms::fuzz_api::backup_secret();
    let dst = TestStore::new();
    let file = dst.dir.path().join("format1.kmsbak");
    std::fs::write(
        &file,
        kms::fuzz_api::wrap_payload(&payload, &secret).unwrap(),
    )
    .unwrap();
    let (t, to) = dst.open_owner();
    let got = restore_from(&t, &to, &secret, &file).unwrap();
    assert!(got.audit_records > 5, "{got:?}");
    let rep = t.audit_verify(&to, Some(&[7u8; 32])).unwrap();
    assert!(rep.ok(), "{rep:?}");
    // The restored records kept their own links, one after the other, up to the restore.
    let all = t.audit_query(&to, &AuditFilter::default()).unwrap();
    let restore = all.iter().position(|r| r.action == "restore").unwrap();
    assert!(all[..=restore]
        .windows(2)
        .all(|p| p[1].prev_hash == p[0].hash && p[1].seq == p[0].seq + 1));
    let old = t
        .audit_query(
            &to,
            &AuditFilter {
                action: Some("encrypt".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(!old.is_empty());
    // What this store chains now links on, in batches linked as a whole, and verifies.
    for i in 0..3 {
        t.encrypt(&to, "app", format!("m{i}").as_bytes(), &ctx("a=1"))
            .unwrap();
    }
    t.flush().unwrap();
    let rep = t.audit_verify(&to, Some(&[7u8; 32])).unwrap();
    assert!(rep.ok(), "{rep:?}");
    assert!(rep.records > got.audit_records + 3);
    let all = t.audit_query(&to, &AuditFilter::default()).unwrap();
    assert_eq!(
        all.iter().filter(|r| r.action == "encrypt").count(),
        old.len() + 3
    );
}
