//! Several processes on one store: a change in one is seen by the next operation of the
//! other; usage records of returned operations survive SIGKILL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use kms::core::*;
use util::*;

/// Child body: waits for "go" lines on stdin and encrypts once per line, printing the result.
#[test]
#[ignore = "run as a child process by the tests below"]
fn child_worker() {
    let Ok(path) = std::env::var("KMS_TEST_STORE") else {
        return;
    };
    let k = Kms::open(config(std::path::Path::new(&path))).unwrap();
    let o = k.owner().unwrap();
    println!("@ready");
    let mode = std::env::var("KMS_TEST_MODE").unwrap_or_default();
    if mode == "burst" {
        let n: usize = std::env::var("KMS_TEST_N").unwrap().parse().unwrap();
        for i in 0..n {
            k.encrypt(&o, "shared", b"x", &Context::new()).unwrap();
            println!("done {}", i + 1);
        }
        // Stay alive until killed.
        std::thread::sleep(std::time::Duration::from_secs(600));
        return;
    }
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        if line == "quit" {
            break;
        }
        match k.encrypt(&o, "shared", b"x", &Context::new()) {
            Ok(_) => println!("@ok"),
            Err(e) => println!("@err {:?}", e.kind()),
        }
    }
}

#[test]
fn disable_in_one_process_is_seen_by_the_next_use_in_another() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("shared")).unwrap();
    let mut ch = child(
        "child_worker",
        &[("KMS_TEST_STORE", s.path.to_str().unwrap())],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = ch.stdin.take().unwrap();
    let mut lines = BufReader::new(ch.stdout.take().unwrap()).lines();
    let mut next = move || loop {
        let l = lines.next().unwrap().unwrap();
        if let Some(i) = l.find('@') {
            return l[i + 1..].to_string();
        }
    };
    use std::io::Write;
    assert_eq!(next(), "ready");
    writeln!(stdin, "go").unwrap();
    assert_eq!(next(), "ok");
    // the child has the key cached now; disable it here
    k.disable_key(&o, "shared").unwrap();
    writeln!(stdin, "go").unwrap();
    assert_eq!(next(), "err KeyState");
    k.enable_key(&o, "shared").unwrap();
    writeln!(stdin, "go").unwrap();
    assert_eq!(next(), "ok");
    // a rotation here is used there at once
    k.rotate_key(&o, "shared").unwrap();
    writeln!(stdin, "go").unwrap();
    assert_eq!(next(), "ok");
    writeln!(stdin, "quit").unwrap();
    assert!(ch.wait().unwrap().success());
    let recs = k
        .audit_query(
            &o,
            &AuditFilter {
                action: Some("encrypt".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let child_recs: Vec<_> = recs
        .iter()
        .filter(|r| r.pid != std::process::id())
        .collect();
    assert_eq!(child_recs.len(), 4);
    assert_eq!(
        child_recs[3].key_version,
        Some(2),
        "the child used the new primary version"
    );
    assert_eq!(child_recs[1].outcome, Outcome::Error);
}

#[test]
fn sigkill_after_returned_operations_keeps_their_records() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("shared")).unwrap();
    for n in [1usize, 17, 60] {
        let mut ch = child(
            "child_worker",
            &[
                ("KMS_TEST_STORE", s.path.to_str().unwrap()),
                ("KMS_TEST_MODE", "burst"),
                ("KMS_TEST_N", &n.to_string()),
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        let pid = ch.id();
        let lines = BufReader::new(ch.stdout.take().unwrap()).lines();
        for l in lines {
            if l.unwrap() == format!("done {n}") {
                break;
            }
        }
        ch.kill().unwrap(); // SIGKILL
        ch.wait().unwrap();
        let recs = k
            .audit_query(
                &o,
                &AuditFilter {
                    action: Some("encrypt".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let mine = recs.iter().filter(|r| r.pid == pid).count();
        assert_eq!(mine, n, "records of the killed child");
        assert!(k.audit_verify(&o, None).unwrap().ok());
    }
    // the per-version use count was committed with the records
    let info = k.describe_key(&o, "shared").unwrap();
    assert_eq!(info.versions[0].uses, 1 + 17 + 60);
}

/// POSIX locks this process holds on the file with inode `ino` (from /proc/locks).
fn locks_held_on(ino: u64) -> usize {
    let me = std::process::id().to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "1: POSIX  ADVISORY  READ 1234 08:01:5678 128 128"
            f.get(1) == Some(&"POSIX")
                && f.get(4) == Some(&me.as_str())
                && f.get(5)
                    .and_then(|d| d.rsplit(':').next())
                    .and_then(|i| i.parse::<u64>().ok())
                    == Some(ino)
        })
        .count()
}

/// Two stores open on one file in this process; closing one must not drop the locks that
/// SQLite holds for the other on the WAL-index (closing any descriptor of a file drops all of
/// the process's POSIX locks on it, so the library must never close its own `-shm`
/// descriptor while SQLite may hold locks there). Without those locks another process could
/// take the WAL-index for unused and rebuild it under the open store.
#[test]
fn closing_one_store_keeps_the_wal_index_locks_of_another() {
    use std::os::unix::fs::MetadataExt;
    if backend() != Backend::Sqlite {
        return;
    }
    let t = TestStore::new();
    let (a, oa) = t.open_owner();
    let (b, ob) = t.open_owner();
    let req = KeyRequest {
        spec: Some(KeySpec::Aes256),
        name: Some("k".into()),
        ..Default::default()
    };
    a.create_key(&oa, &req).unwrap();
    // each store notices the other's change, reading the WAL-index on the way
    b.describe_key(&ob, "k").unwrap();
    a.describe_key(&oa, "k").unwrap();
    let ino = std::fs::metadata(format!("{}-shm", t.path.display()))
        .unwrap()
        .ino();
    assert!(
        locks_held_on(ino) > 0,
        "SQLite holds no lock on the WAL-index"
    );
    drop(a);
    assert!(
        locks_held_on(ino) > 0,
        "closing one store dropped the WAL-index locks of the other"
    );
    let ct = b.encrypt(&ob, "k", b"still fine", &Context::new()).unwrap();
    assert_eq!(
        &b.decrypt(&ob, &ct, &Context::new()).unwrap()[..],
        b"still fine"
    );
}
