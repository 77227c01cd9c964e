//! Tampering with the store file: every byte of a sealed key row, of a stored application
//! secret, of the sealed master key (KEK) record and of an audit record is flipped in turn in the real SQLite file (through
//! rusqlite, with the library closed), and a fresh `Kms` opened on it must refuse: an
//! integrity error, a refused open, or an audit report naming the record; never wrong
//! output. Also: another store's key file, swapped in, does not open a store; and rows that
//! are documented as not authenticated (public keys, specs, which blob sits in which row)
//! cannot make the library produce wrong cryptographic results.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::{Path, PathBuf};

use kms::core::crypto::SignAlg;
use kms::core::*;
use rusqlite::types::Value;
use util::*;

/// Flips one byte of `v` (a different bit per position, so every bit position is used).
fn flipped(v: &[u8], i: usize) -> Vec<u8> {
    let mut b = v.to_vec();
    b[i] ^= 1 << (i % 8);
    b
}

fn db(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c
}

fn set_sealed(path: &Path, key_id: u64, version: u32, blob: &[u8]) {
    let n = db(path)
        .execute(
            "UPDATE key_versions SET sealed = ?1 WHERE key_id = ?2 AND version = ?3",
            rusqlite::params![blob, key_id as i64, version as i64],
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn sealed(path: &Path, key_id: u64, version: u32) -> Vec<u8> {
    db(path)
        .query_row(
            "SELECT sealed FROM key_versions WHERE key_id = ?1 AND version = ?2",
            rusqlite::params![key_id as i64, version as i64],
            |r| r.get(0),
        )
        .unwrap()
}

/// A SQLite test store (these tests edit the file itself).
fn sqlite_store() -> TestStore {
    let s = TestStore::new();
    assert_eq!(
        s.backend,
        Backend::Sqlite,
        "file tampering needs the SQLite store"
    );
    s
}

/// Uses a key once through a freshly opened library (no cache can hide a change).
type Use = fn(&Kms, &Caller, &str) -> Result<Vec<u8>>;

fn use_aes(k: &Kms, o: &Caller, name: &str) -> Result<Vec<u8>> {
    let ct = k.encrypt(o, name, b"plaintext", &Context::new())?;
    Ok(k.decrypt(o, &ct, &Context::new())?.to_vec())
}

fn use_ec(k: &Kms, o: &Caller, name: &str) -> Result<Vec<u8>> {
    k.sign(o, name, SignAlg::EcdsaSha256, b"message", false)
        .map(|r| r.1)
}

fn use_rsa(k: &Kms, o: &Caller, name: &str) -> Result<Vec<u8>> {
    k.sign(o, name, SignAlg::RsaPssSha256, b"message", false)
        .map(|r| r.1)
}

fn use_ed(k: &Kms, o: &Caller, name: &str) -> Result<Vec<u8>> {
    k.sign(o, name, SignAlg::Ed25519, b"message", false)
        .map(|r| r.1)
}

#[test]
fn every_byte_of_sealed_key_rows_is_detected() {
    let s = sqlite_store();
    let keys: Vec<(KeySpec, &str, Use)> = vec![
        (KeySpec::Aes256, "aes", use_aes),
        (KeySpec::EcP256, "ec", use_ec),
        (KeySpec::Ed25519, "ed", use_ed),
        (KeySpec::Rsa2048, "rsa", use_rsa),
    ];
    let mut ids = Vec::new();
    {
        let (k, o) = s.open_owner();
        for (spec, name, _) in &keys {
            let info = k
                .create_key(
                    &o,
                    &KeyRequest {
                        spec: Some(*spec),
                        name: Some(name.to_string()),
                        ..Default::default()
                    },
                )
                .unwrap();
            ids.push(info.id);
        }
        k.flush().unwrap();
    }
    for ((spec, name, use_key), id) in keys.iter().zip(&ids) {
        let orig = sealed(&s.path, *id, 1);
        // the blob holds the material (raw key, PKCS#8 for private keys) plus 33 bytes
        assert!(orig.len() > 33, "{name}: {} bytes", orig.len());
        for i in 0..orig.len() {
            set_sealed(&s.path, *id, 1, &flipped(&orig, i));
            let (k, o) = s.open_owner();
            match use_key(&k, &o, name) {
                Ok(out) => panic!(
                    "{}: byte {i} of {} flipped, yet the key was used ({} bytes out)",
                    spec.name(),
                    orig.len(),
                    out.len()
                ),
                Err(e) => assert_eq!(e.kind(), ErrorKind::Integrity, "{name} byte {i}: {e}"),
            }
        }
        // restored, the key works again: the refusals above came from the flips
        set_sealed(&s.path, *id, 1, &orig);
        let (k, o) = s.open_owner();
        let out = use_key(&k, &o, name).unwrap();
        if *name == "aes" {
            assert_eq!(out, b"plaintext");
        }
    }
}

/// An application secret is stored as a ciphertext under the key it names: every byte of
/// the stored value flipped is refused too.
#[test]
fn every_byte_of_a_stored_application_secret_is_detected() {
    let s = sqlite_store();
    {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("kek-for-secret")).unwrap();
        k.put_secret(&o, "token", "kek-for-secret", b"application-secret")
            .unwrap();
        k.flush().unwrap();
    }
    let c = db(&s.path);
    let (oid, orig): (i64, Vec<u8>) = c
        .query_row(
            "SELECT id, value FROM objects WHERE sensitive = 1 AND deleted = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(c);
    let set = |v: &[u8]| {
        db(&s.path)
            .execute(
                "UPDATE objects SET value = ?1 WHERE id = ?2",
                rusqlite::params![v, oid],
            )
            .unwrap();
    };
    for i in 0..orig.len() {
        set(&flipped(&orig, i));
        let (k, o) = s.open_owner();
        match k.get_secret(&o, "token", None) {
            Ok(v) => panic!("byte {i} flipped, yet read {} bytes", v.len()),
            // the value is a ciphertext under the named key: a flipped key id names no key
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Integrity
                        | ErrorKind::InvalidCiphertext
                        | ErrorKind::NotFound
                        | ErrorKind::KeyState
                ),
                "byte {i}: {e}"
            ),
        }
    }
    set(&orig);
    let (k, o) = s.open_owner();
    assert_eq!(
        &*k.get_secret(&o, "token", None).unwrap(),
        b"application-secret"
    );
}

fn meta(path: &Path, k: &str) -> Vec<u8> {
    db(path)
        .query_row("SELECT v FROM meta WHERE k = ?1", [k], |r| r.get(0))
        .unwrap()
}

fn set_meta(path: &Path, k: &str, v: &[u8]) {
    let n = db(path)
        .execute(
            "UPDATE meta SET v = ?1 WHERE k = ?2",
            rusqlite::params![v, k],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn every_byte_of_the_sealed_master_key_record_is_detected() {
    let s = sqlite_store();
    let ct = {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("m")).unwrap();
        let ct = k.encrypt(&o, "m", b"kept", &Context::new()).unwrap();
        k.flush().unwrap();
        ct
    };
    let kek_name: String = db(&s.path)
        .query_row("SELECT k FROM meta WHERE k LIKE 'kek:%'", [], |r| r.get(0))
        .unwrap();
    // the wrapped KEK (nonce, ciphertext, tag) and the store id in its associated data
    for entry in [kek_name.as_str(), "store_id"] {
        let orig = meta(&s.path, entry);
        for i in 0..orig.len() {
            set_meta(&s.path, entry, &flipped(&orig, i));
            let e = Kms::open(s.config())
                .err()
                .unwrap_or_else(|| panic!("{entry}: byte {i} flipped, yet the store opened"));
            assert_eq!(e.kind(), ErrorKind::WrongMasterKey, "{entry} byte {i}: {e}");
            assert!(e.message().contains("altered"), "{e}");
        }
        set_meta(&s.path, entry, &orig);
    }
    // the record's name carries the KEK id, also bound into the associated data
    let id: u32 = kek_name[4..].parse().unwrap();
    let other = format!("kek:{}", id ^ 1);
    db(&s.path)
        .execute("UPDATE meta SET k = ?1 WHERE k = ?2", [&other, &kek_name])
        .unwrap();
    set_meta(&s.path, "kek_current", &(id ^ 1).to_be_bytes());
    let e = Kms::open(s.config()).err().expect("renamed KEK refused");
    assert_eq!(e.kind(), ErrorKind::WrongMasterKey, "{e}");
    db(&s.path)
        .execute("UPDATE meta SET k = ?1 WHERE k = ?2", [&kek_name, &other])
        .unwrap();
    set_meta(&s.path, "kek_current", &id.to_be_bytes());
    // the pointer to the current KEK
    let orig = meta(&s.path, "kek_current");
    for i in 0..orig.len() {
        set_meta(&s.path, "kek_current", &flipped(&orig, i));
        let e = Kms::open(s.config()).err().expect("kek_current flipped");
        assert_eq!(e.kind(), ErrorKind::Integrity, "kek_current byte {i}: {e}");
    }
    set_meta(&s.path, "kek_current", &orig);
    let (k, o) = s.open_owner();
    assert_eq!(&*k.decrypt(&o, &ct, &Context::new()).unwrap(), b"kept");
}

#[test]
fn another_stores_key_file_swapped_in_is_refused() {
    let a = sqlite_store();
    let b = sqlite_store();
    let ct = {
        let (k, o) = a.open_owner();
        k.create_key(&o, &aes("a")).unwrap();
        k.encrypt(&o, "a", b"store a", &Context::new()).unwrap()
    };
    {
        let (k, o) = b.open_owner();
        k.create_key(&o, &aes("a")).unwrap();
    }
    let a_key = std::fs::read(a.key_file()).unwrap();
    let b_key = std::fs::read(b.key_file()).unwrap();
    assert_ne!(a_key, b_key);
    // store a's own file name now holds store b's key file (same format, valid key)
    std::fs::copy(b.key_file(), a.key_file()).unwrap();
    let e = Kms::open(a.config())
        .err()
        .expect("swapped key file refused");
    assert_eq!(e.kind(), ErrorKind::WrongMasterKey, "{e}");
    assert!(e.message().contains("does not open this store"), "{e}");
    // through the C API: a stable status code, and no new store made over the old one
    let path = std::ffi::CString::new(a.path.to_str().unwrap()).unwrap();
    let mut ctx = kms::capi::KMS_NO_HANDLE;
    assert_eq!(
        kms::capi::kms_open_default_owner(path.as_ptr(), &mut ctx, std::ptr::null_mut()),
        kms::capi::KMS_ERR_WRONG_MASTER_KEY
    );
    assert_eq!(ctx, kms::capi::KMS_NO_HANDLE);
    // both stores are intact: swapped back, a opens and decrypts
    std::fs::write(a.key_file(), &a_key).unwrap();
    let (k, o) = a.open_owner();
    assert_eq!(&*k.decrypt(&o, &ct, &Context::new()).unwrap(), b"store a");
    // and a's ciphertext is not decryptable by b (same key name, different store)
    let (kb, ob) = b.open_owner();
    assert!(kb.decrypt(&ob, &ct, &Context::new()).is_err());
}

// ------------------------------------------------------------------------ audit records

/// The columns of an audit row that the record hash covers (with `hash` itself).
const AUDIT_COLUMNS: [&str; 15] = [
    "seq",
    "time",
    "keyring",
    "identity",
    "action",
    "key_id",
    "key_version",
    "outcome",
    "error",
    "context",
    "pid",
    "request_id",
    "detail",
    "prev_hash",
    "hash",
];

/// A store whose trail has every kind of record (ok, denied, error; with key ids,
/// versions, context keys, error text and detail) and that is closed and checkpointed, so
/// the database file alone holds it.
fn pristine_trail() -> (TestStore, u64) {
    let s = sqlite_store();
    {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("t")).unwrap();
        k.rotate_key(&o, "t").unwrap();
        k.create_identity(&o, "nob", b"nobody-secret", Roles::NONE, false)
            .unwrap();
        // a failed sign-in is recorded as its own row, with error text and detail
        assert!(k.authenticate("default", "nob", b"wrong-secret").is_err());
        k.create_key(&o, &aes("t2")).unwrap();
        k.create_key(&o, &aes("t3")).unwrap();
        let n = k.authenticate("default", "nob", b"nobody-secret").unwrap();
        let ct = k.encrypt(&o, "t", b"m", &ctx("tenant=acme")).unwrap();
        let _ = k.decrypt(&o, &ct, &ctx("tenant=evil"));
        let _ = k.encrypt(&n, "t", b"m", &ctx("app=web"));
        // usage records are chained in batches: these in one, the next in another
        k.flush().unwrap();
        for i in 0..4 {
            k.encrypt(&o, "t", format!("m{i}").as_bytes(), &Context::new())
                .unwrap();
        }
        k.flush().unwrap();
        let rep = k.audit_verify(&o, None).unwrap();
        assert!(rep.ok(), "{rep:?}");
    }
    let c = db(&s.path);
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let last: i64 = c
        .query_row("SELECT max(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    (s, last as u64)
}

/// A copy of the store (database, key file, owner secret) in a new folder.
fn copy_store(s: &TestStore) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("kms.db");
    std::fs::copy(&s.path, &to).unwrap();
    for ext in ["key", "owner"] {
        std::fs::copy(
            kms::core::config::sibling(&s.path, ext),
            kms::core::config::sibling(&to, ext),
        )
        .unwrap();
    }
    (dir, to)
}

/// The stored bytes of a value and how to write bytes back with the same storage class.
fn value_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_be_bytes().to_vec()),
        Value::Text(t) => Some(t.as_bytes().to_vec()),
        Value::Blob(b) => Some(b.clone()),
        Value::Real(_) => panic!("no real columns in the audit table"),
    }
}

fn write_value(c: &rusqlite::Connection, col: &str, seq: i64, like: &Value, bytes: &[u8]) {
    let sql = match like {
        Value::Integer(_) => format!("UPDATE audit SET {col} = ?1 WHERE seq = ?2"),
        // text is written as stored bytes, which need not be UTF-8 after a flip
        Value::Text(_) => format!("UPDATE audit SET {col} = CAST(?1 AS TEXT) WHERE seq = ?2"),
        _ => format!("UPDATE audit SET {col} = ?1 WHERE seq = ?2"),
    };
    let v: Value = match like {
        Value::Integer(_) => Value::Integer(i64::from_be_bytes(bytes.try_into().unwrap())),
        _ => Value::Blob(bytes.to_vec()),
    };
    c.execute(&sql, rusqlite::params![v, seq]).unwrap();
}

/// Columns only usage records fill; those are stored in batches, whose every byte
/// [`every_byte_of_an_audit_batch_is_detected`] flips.
const USAGE_ONLY_COLUMNS: [&str; 1] = ["context"];

#[test]
fn every_byte_of_an_audit_record_is_detected() {
    let (s, last) = pristine_trail();
    let c = db(&s.path);
    let mut flips = 0;
    for col in AUDIT_COLUMNS {
        if USAGE_ONLY_COLUMNS.contains(&col) {
            continue;
        }
        // the record (not the last: later records follow it) with the longest value here
        let (seq, value): (i64, Value) = c
            .query_row(
                &format!(
                    "SELECT seq, {col} FROM audit WHERE seq < ?1 AND {col} IS NOT NULL \
                     ORDER BY length(CAST({col} AS BLOB)) DESC, seq LIMIT 1"
                ),
                [last as i64 - 1],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let orig = value_bytes(&value).unwrap();
        assert!(!orig.is_empty(), "column {col} has a non-empty value");
        for i in 0..orig.len() {
            let bad = flipped(&orig, i);
            let (_dir, copy) = copy_store(&s);
            {
                let w = db(&copy);
                if col == "seq" {
                    let to = i64::from_be_bytes(bad.as_slice().try_into().unwrap());
                    let taken: i64 = w
                        .query_row("SELECT count(*) FROM audit WHERE seq = ?1", [to], |r| {
                            r.get(0)
                        })
                        .unwrap();
                    if taken > 0 {
                        // the moved record lands on another one: remove that one (as an
                        // attacker overwriting it would)
                        w.execute("DELETE FROM audit WHERE seq = ?1", [to]).unwrap();
                    }
                }
                write_value(&w, col, seq, &value, &bad);
            }
            let k = Kms::open(config(&copy)).unwrap();
            let o = k.owner().unwrap();
            let rep = k.audit_verify(&o, None).unwrap_or_else(|e| {
                panic!("{col} byte {i} of record {seq}: verify failed instead of reporting: {e}")
            });
            let (at, what) = rep.problem.unwrap_or_else(|| {
                panic!("{col} byte {i} of record {seq} flipped: verify reports no problem")
            });
            let expect = if col == "seq" {
                // a moved record: the first gap is where it was, or where it landed
                let to = i64::from_be_bytes(bad.as_slice().try_into().unwrap());
                if to > 0 {
                    (seq.min(to)) as u64
                } else {
                    seq as u64
                }
            } else {
                seq as u64
            };
            assert_eq!(at, expect, "{col} byte {i}: {what}");
            assert!(what.contains(&expect.to_string()), "{col} byte {i}: {what}");
            flips += 1;
        }
    }
    assert!(flips > 150, "{flips} flips");
    // the untouched store verifies (the problems above came from the flips)
    let (_dir, copy) = copy_store(&s);
    let k = Kms::open(config(&copy)).unwrap();
    let o = k.owner().unwrap();
    assert!(k.audit_verify(&o, None).unwrap().ok());
}

/// The columns of a batch row: its place in the chain, its time range (an index), its
/// links and its records.
const BATCH_COLUMNS: [&str; 7] = [
    "first_seq",
    "last_seq",
    "min_time",
    "max_time",
    "prev_hash",
    "hash",
    "body",
];

/// Opens a tampered copy and walks its chain: the problem verification names.
fn verify_copy(copy: &Path, what: &str) -> (u64, String) {
    let k = Kms::open(config(copy)).unwrap();
    let o = k.owner().unwrap();
    let rep = k
        .audit_verify(&o, None)
        .unwrap_or_else(|e| panic!("{what}: verify failed instead of reporting: {e}"));
    rep.problem
        .unwrap_or_else(|| panic!("{what}: verify reports no problem"))
}

#[test]
fn every_byte_of_an_audit_batch_is_detected() {
    let (s, _) = pristine_trail();
    let c = db(&s.path);
    // the batch with the most records (usage of every outcome, with context and error
    // text) that is not the last
    let (first, last): (i64, i64) = c
        .query_row(
            "SELECT first_seq, last_seq FROM audit_batches
             WHERE last_seq < (SELECT max(last_seq) FROM audit_batches)
             ORDER BY last_seq - first_seq DESC, first_seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        last >= first + 2,
        "a batch of several records: {first}..{last}"
    );
    let (mut flips, mut refused) = (0, 0);
    for col in BATCH_COLUMNS {
        let value: Value = c
            .query_row(
                &format!("SELECT {col} FROM audit_batches WHERE first_seq = ?1"),
                [first],
                |r| r.get(0),
            )
            .unwrap();
        let orig = value_bytes(&value).unwrap();
        assert!(!orig.is_empty(), "column {col} has a value");
        for i in 0..orig.len() {
            let bad = flipped(&orig, i);
            let v: Value = match value {
                Value::Integer(_) => {
                    Value::Integer(i64::from_be_bytes(bad.as_slice().try_into().unwrap()))
                }
                _ => Value::Blob(bad.clone()),
            };
            let (_dir, copy) = copy_store(&s);
            let sql = format!("UPDATE audit_batches SET {col} = ?1 WHERE first_seq = ?2");
            if db(&copy)
                .execute(&sql, rusqlite::params![v, first])
                .is_err()
            {
                // the flipped sequence number is another batch's: a unique index refuses it
                refused += 1;
                continue;
            }
            let what = format!("{col} byte {i} of the batch {first}..{last}");
            let (at, msg) = verify_copy(&copy, &what);
            let moved = match (&v, col) {
                (Value::Integer(n), "first_seq") => *n as u64,
                _ => first as u64,
            };
            let lo = moved.min(first as u64).max(1);
            assert!(
                (lo..=last as u64 + 1).contains(&at),
                "{what}: problem at {at}, not in {lo}..={}: {msg}",
                last + 1
            );
            flips += 1;
        }
    }
    // every byte of every index term of the batch
    let terms: Vec<Vec<u8>> = c
        .prepare("SELECT term FROM audit_batch_terms WHERE first_seq = ?1")
        .unwrap()
        .query_map([first], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(terms.len() >= 4, "key, identities and actions: {terms:?}");
    for t in &terms {
        for i in 0..t.len() {
            let (_dir, copy) = copy_store(&s);
            db(&copy)
                .execute(
                    "UPDATE audit_batch_terms SET term = ?1 WHERE term = ?2 AND first_seq = ?3",
                    rusqlite::params![flipped(t, i), t, first],
                )
                .unwrap();
            let what = format!("term {t:?} byte {i}");
            let (at, msg) = verify_copy(&copy, &what);
            assert_eq!(at, first as u64, "{what}: {msg}");
            assert!(msg.contains("index"), "{what}: {msg}");
            flips += 1;
        }
    }
    assert!(
        flips > 300 && refused < 8,
        "{flips} flips, {refused} refused"
    );
    let (_dir, copy) = copy_store(&s);
    let k = Kms::open(config(&copy)).unwrap();
    let o = k.owner().unwrap();
    assert!(k.audit_verify(&o, None).unwrap().ok());
}

// ------------------------------------------------ rows that are not authenticated

/// Key rows and public keys are metadata, not authenticated (docs/security.md), but no edit
/// of them makes the library compute with the wrong key: a blob moved to another row, a
/// changed spec, or a substituted public key is refused, and signatures still verify only
/// under the key that made them.
#[test]
fn edited_key_rows_never_give_wrong_crypto_results() {
    let s = sqlite_store();
    let (a, b, ec, ec2) = {
        let (k, o) = s.open_owner();
        let a = k.create_key(&o, &aes("a")).unwrap().id;
        let b = k.create_key(&o, &aes("b")).unwrap().id;
        let ec = k
            .create_key(
                &o,
                &KeyRequest {
                    spec: Some(KeySpec::EcP256),
                    name: Some("ec".into()),
                    ..Default::default()
                },
            )
            .unwrap()
            .id;
        let ec2 = k
            .create_key(
                &o,
                &KeyRequest {
                    spec: Some(KeySpec::EcP256),
                    name: Some("attacker".into()),
                    ..Default::default()
                },
            )
            .unwrap()
            .id;
        (a, b, ec, ec2)
    };
    // 1. sealed blobs swapped between two keys: both refuse (the key id is bound in)
    let (sa, sb) = (sealed(&s.path, a, 1), sealed(&s.path, b, 1));
    set_sealed(&s.path, a, 1, &sb);
    set_sealed(&s.path, b, 1, &sa);
    {
        let (k, o) = s.open_owner();
        for name in ["a", "b"] {
            let e = k.encrypt(&o, name, b"x", &Context::new()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Integrity, "{name}: {e}");
        }
    }
    set_sealed(&s.path, a, 1, &sa);
    set_sealed(&s.path, b, 1, &sb);
    // 2. a blob copied to another version of the same key
    let ct1 = {
        let (k, o) = s.open_owner();
        let ct = k.encrypt(&o, "a", b"v1 data", &Context::new()).unwrap();
        k.rotate_key(&o, "a").unwrap();
        k.flush().unwrap();
        ct
    };
    let v2 = sealed(&s.path, a, 2);
    set_sealed(&s.path, a, 2, &sa);
    {
        let (k, o) = s.open_owner();
        let e = k.encrypt(&o, "a", b"x", &Context::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
        assert_eq!(&*k.decrypt(&o, &ct1, &Context::new()).unwrap(), b"v1 data");
    }
    set_sealed(&s.path, a, 2, &v2);
    // 3. a changed spec (AES-256 said to be HMAC): the spec is bound into the sealed blob
    db(&s.path)
        .execute(
            "UPDATE keys SET spec = (SELECT spec FROM keys WHERE id = ?1) WHERE id = ?2",
            rusqlite::params![ec as i64, a as i64],
        )
        .unwrap();
    {
        let (k, o) = s.open_owner();
        let r = k.sign(&o, "a", SignAlg::EcdsaSha256, b"m", false);
        assert!(r.is_err(), "signed with an AES key said to be EC");
        let r = k.decrypt(&o, &ct1, &Context::new());
        assert!(r.is_err(), "decrypted with a key whose spec was changed");
    }
    db(&s.path)
        .execute(
            "UPDATE keys SET spec = (SELECT spec FROM keys WHERE id = ?1) WHERE id = ?2",
            rusqlite::params![b as i64, a as i64],
        )
        .unwrap();
    // 4. a substituted public key: the attacker's key pair is put in place of "ec"'s public
    //    key; the attacker's signatures must not verify as "ec"'s, and "ec"'s public key is
    //    never reported as the attacker's
    let (forged, genuine_pub) = {
        let (k, o) = s.open_owner();
        let (_, forged) = k
            .sign(&o, "attacker", SignAlg::EcdsaSha256, b"pay mallory", false)
            .unwrap();
        (forged, k.public_key(&o, "ec", None).unwrap())
    };
    let attacker_pub: Vec<u8> = db(&s.path)
        .query_row(
            "SELECT public FROM key_versions WHERE key_id = ?1",
            [ec2 as i64],
            |r| r.get(0),
        )
        .unwrap();
    db(&s.path)
        .execute(
            "UPDATE key_versions SET public = ?1 WHERE key_id = ?2",
            rusqlite::params![attacker_pub, ec as i64],
        )
        .unwrap();
    let (k, o) = s.open_owner();
    let e = k
        .verify(
            &o,
            "ec",
            None,
            SignAlg::EcdsaSha256,
            b"pay mallory",
            &forged,
            false,
        )
        .expect_err("a signature by another key verified as ec's");
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
    match k.public_key(&o, "ec", None) {
        Ok(p) => assert_eq!(p, genuine_pub, "public key of ec reported as another key's"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Integrity, "{e}"),
    }
    // the library notices: every use of the key refuses until the row is put back
    let e = k
        .sign(&o, "ec", SignAlg::EcdsaSha256, b"genuine", false)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
    drop(k);
    db(&s.path)
        .execute(
            "UPDATE key_versions SET public = ?1 WHERE key_id = ?2",
            rusqlite::params![genuine_pub, ec as i64],
        )
        .unwrap();
    let (k, o) = s.open_owner();
    let (_, sig) = k
        .sign(&o, "ec", SignAlg::EcdsaSha256, b"genuine", false)
        .unwrap();
    k.verify(
        &o,
        "ec",
        None,
        SignAlg::EcdsaSha256,
        b"genuine",
        &sig,
        false,
    )
    .unwrap();
    let e = k
        .verify(
            &o,
            "ec",
            None,
            SignAlg::EcdsaSha256,
            b"pay mallory",
            &forged,
            false,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::VerificationFailed, "{e}");
}
