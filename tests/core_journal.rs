//! The usage journal's files seen from outside: a killed process's journal is pre-sized
//! (zeros after its last record, possibly a torn record there) and is taken over whole by
//! the next process; records written across many journal files (a small window) are all
//! chained once, in order; a journal file that cannot be sized refuses the operation
//! (`AuditUnavailable`) unless the audit fails open. (A forked child writing through its
//! parent's handle: `capi_rust.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use kms::core::journal::parse_entries;
use kms::core::*;
use util::*;

fn encrypts(k: &Kms, o: &Caller) -> Vec<AuditRecord> {
    k.audit_query(
        o,
        &AuditFilter {
            action: Some("encrypt".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "j"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The journal files process `pid` left in `dir`.
fn journals_of(dir: &Path, pid: u32) -> Vec<PathBuf> {
    journals(dir)
        .into_iter()
        .filter(|p| {
            let f = p.file_name().unwrap().to_string_lossy().to_string();
            f.starts_with(&format!("{pid}-"))
        })
        .collect()
}

/// The encryption contexts of process `pid`'s chained records, in trail order, and what
/// [`journal_child`] made (`n` records, each context naming its number).
fn of_child(recs: &[AuditRecord], pid: u32, n: usize) -> (Vec<String>, Vec<String>) {
    let got = recs
        .iter()
        .filter(|r| r.pid == pid)
        .map(|r| r.context.clone())
        .collect();
    (got, (0..n).map(|i| format!("n{i:05}")).collect())
}

/// Child body: encrypts `KMS_TEST_N` times under key "j" (each record's context names its
/// number; with `KMS_TEST_FLUSH_AT`, it chains what it journaled after that many), then
/// kills itself with SIGKILL at once (its background thread has most likely not chained the
/// last records yet).
#[test]
#[ignore = "run as a child process by the tests below"]
fn journal_child() {
    let Ok(path) = std::env::var("KMS_TEST_STORE") else {
        return;
    };
    let mut cfg = config(Path::new(&path));
    if let Ok(w) = std::env::var("KMS_TEST_WINDOW") {
        cfg.audit.journal_window = w.parse().unwrap();
    }
    let k = Kms::open(cfg).unwrap();
    let o = k.owner().unwrap();
    let n: usize = std::env::var("KMS_TEST_N").unwrap().parse().unwrap();
    let flush_at: Option<usize> = std::env::var("KMS_TEST_FLUSH_AT")
        .ok()
        .map(|v| v.parse().unwrap());
    for i in 0..n {
        if flush_at == Some(i) {
            k.flush().unwrap();
        }
        let mut c = Context::new();
        c.insert(format!("n{i:05}"), "x".into());
        k.encrypt(&o, "j", b"x", &c).unwrap();
    }
    // SAFETY: kill(2) on this process's own pid; no memory is passed.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    unreachable!("SIGKILL");
}

/// Runs [`journal_child`] for `n` encrypts (it dies by SIGKILL after the last one returned)
/// and returns its pid.
fn run_and_kill(s: &TestStore, n: usize, window: Option<u64>) -> u32 {
    run_and_kill_with(s, n, window, None)
}

/// [`run_and_kill`], the child chaining what it journaled after `flush_at` encrypts.
fn run_and_kill_with(s: &TestStore, n: usize, window: Option<u64>, flush_at: Option<usize>) -> u32 {
    let mut env = vec![
        ("KMS_TEST_STORE", s.path.to_str().unwrap().to_string()),
        ("KMS_TEST_N", n.to_string()),
    ];
    if let Some(w) = window {
        env.push(("KMS_TEST_WINDOW", w.to_string()));
    }
    if let Some(f) = flush_at {
        env.push(("KMS_TEST_FLUSH_AT", f.to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut ch = child("journal_child", &env)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = ch.id();
    let status = ch.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the child: {status:?}"
    );
    pid
}

#[test]
fn a_killed_process_journal_with_zero_padding_or_a_torn_record_is_taken_over_whole() {
    let s = TestStore::new();
    let dir = s.config().journal_dir;
    {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("j")).unwrap();
    }
    // No handle of this process is open while the child's journal is looked at.
    assert!(journals(&dir).is_empty());
    // (torn tail written after the child's last record, records the child made)
    type Tear = fn(&[u8]) -> Vec<u8>;
    let cases: [(&str, Tear, usize); 4] = [
        ("zero padding only", |_| Vec::new(), 40),
        ("a lone magic byte", |e: &[u8]| vec![e[0]], 3),
        ("half a record", |e: &[u8]| e[..e.len() / 2].to_vec(), 25),
        (
            "a record without its CRC",
            |e: &[u8]| e[..e.len() - 4].to_vec(),
            1,
        ),
    ];
    let mut total = 0;
    for (what, tear, n) in cases {
        let pid = run_and_kill(&s, n, None);
        total += n;
        // The child's journal: pre-sized, its records, then zeros.
        let mine = journals_of(&dir, pid);
        assert!(!mine.is_empty(), "{what}: the killed child's journal");
        let mut seen = 0;
        for p in &mine {
            let mut data = std::fs::read(p).unwrap();
            let (entries, used) = parse_entries(&data);
            seen += entries.len();
            assert!(
                data.len() > used + 4096,
                "{what}: the journal is pre-sized ({} bytes, {used} used)",
                data.len()
            );
            assert!(data[used..].iter().all(|b| *b == 0), "{what}: zeros after");
            // Tear a record into the padding (a process killed mid-append, or a power loss
            // that kept only part of the last pages).
            if entries.is_empty() {
                continue;
            }
            let first = {
                let (_, one) = kms::core::journal::parse_entries_max(&data, 1);
                data[..one].to_vec()
            };
            let torn = tear(&first);
            data[used..used + torn.len()].copy_from_slice(&torn);
            // (in place: the file must still be the child's, not a new one)
            let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            f.seek(SeekFrom::Start(used as u64)).unwrap();
            f.write_all(&torn).unwrap();
            drop(f);
            assert_eq!(
                parse_entries(&data).1,
                used,
                "{what}: the torn tail is not read"
            );
        }
        assert!(seen > 0, "{what}: the child's records are in its journal");
        // A fresh handle takes the dead child's journal over at open.
        let (k, o) = s.open_owner();
        let recs = encrypts(&k, &o);
        let (got, want) = of_child(&recs, pid, n);
        assert_eq!(
            got, want,
            "{what}: every record of the child, once, in order"
        );
        assert_eq!(recs.len(), total, "{what}: no record lost or chained twice");
        assert!(k.audit_verify(&o, None).unwrap().ok(), "{what}: chain");
        assert_eq!(
            k.describe_key(&o, "j").unwrap().versions[0].uses,
            total as u64
        );
        drop(k);
        let left = journals(&dir);
        assert!(left.is_empty(), "{what}: journals removed: {left:?}");
    }
}

#[test]
fn a_journal_an_earlier_version_left_is_chained_after_the_upgrade() {
    // Earlier versions wrote entries as 0xA5, a codec-1 record, CRC-32. The journal of such
    // a process killed before an upgrade: this version chains it whole, once, in order.
    let s = TestStore::new();
    let dir = s.config().journal_dir;
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("j")).unwrap();
    k.encrypt(&o, "j", b"x", &Context::new()).unwrap();
    k.flush().unwrap();
    let template = encrypts(&k, &o).pop().unwrap();
    let key = k.describe_key(&o, "j").unwrap();
    drop(k);
    let (old_pid, n) = (4_000_000u32, 12);
    let mut data = Vec::new();
    for i in 0..n {
        let r = AuditRecord {
            time: template.time + i as i64,
            context: format!("n{i:05}"),
            request_id: format!("old-{i}"),
            pid: old_pid,
            ..template.clone()
        };
        let rec = kms::core::audit::encode_record_v1(&r, Some((key.key.id, 1)), None);
        assert_eq!(rec[0], 1);
        data.extend(journal_entry_v1(&rec));
    }
    data.resize(data.len() + 4096, 0);
    assert_eq!(parse_entries(&data).0.len(), n);
    std::fs::write(dir.join(format!("{old_pid}-00000000abcd.j")), &data).unwrap();
    let (k, o) = s.open_owner();
    let of_old: Vec<(String, String)> = encrypts(&k, &o)
        .into_iter()
        .filter(|r| r.pid == old_pid)
        .map(|r| (r.context, r.request_id))
        .collect();
    let want: Vec<(String, String)> = (0..n)
        .map(|i| (format!("n{i:05}"), format!("old-{i}")))
        .collect();
    assert_eq!(
        of_old, want,
        "every record of the old journal, once, in order"
    );
    assert!(k.audit_verify(&o, None).unwrap().ok());
    assert_eq!(
        k.describe_key(&o, "j").unwrap().versions[0].uses,
        1 + n as u64,
        "the use counts the codec-1 records carry are applied"
    );
    drop(k);
    assert!(journals(&dir).is_empty());
}

#[test]
fn records_across_many_small_journal_windows_are_all_chained_once_in_order() {
    // The smallest window holds a few hundred records; each record here is about 1 KiB
    // (a long context key), so a window fills every ~60 records, much faster than the
    // background chaining runs: each thread's records spread over many journal files.
    let s = TestStore::new();
    let mut cfg = s.config();
    cfg.audit.journal_window = 1;
    let dir = cfg.journal_dir.clone();
    let k = Kms::open(cfg).unwrap();
    let o = k.owner().unwrap();
    k.create_key(&o, &aes("j")).unwrap();
    const THREADS: usize = 3;
    const PER_THREAD: usize = 1500;
    let pad = "p".repeat(1000);
    let names = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|sc| {
        // Watches the journal folder: files come and go while the threads write.
        sc.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                names.lock().unwrap().extend(journals(&dir));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (k, o, pad) = (k.clone(), o.clone(), pad.clone());
                sc.spawn(move || {
                    for i in 0..PER_THREAD {
                        let mut c = Context::new();
                        c.insert(format!("t{t}n{i:05}{pad}"), "x".into());
                        k.encrypt(&o, "j", b"x", &c).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    k.flush().unwrap();
    let recs = encrypts(&k, &o);
    assert_eq!(
        recs.len(),
        THREADS * PER_THREAD,
        "every record chained once"
    );
    for t in 0..THREADS {
        let mine: Vec<String> = recs
            .iter()
            .filter(|r| r.context.starts_with(&format!("t{t}n")))
            .map(|r| r.context[..format!("t{t}n00000").len()].to_string())
            .collect();
        let want: Vec<String> = (0..PER_THREAD).map(|i| format!("t{t}n{i:05}")).collect();
        assert_eq!(mine, want, "thread {t}'s records, in order");
    }
    assert!(k.audit_verify(&o, None).unwrap().ok());
    assert_eq!(
        k.describe_key(&o, "j").unwrap().versions[0].uses,
        (THREADS * PER_THREAD) as u64
    );
    let seen = names.lock().unwrap().len();
    assert!(
        seen > THREADS,
        "the threads' records went to more than one file each ({seen} files seen)"
    );
    drop(k);
    let left = journals(&dir);
    assert!(left.is_empty(), "every journal removed: {left:?}");
}

#[test]
fn a_killed_process_with_many_full_journal_files_loses_nothing() {
    // A small window in the child: its records fill file after file; killed before it chains
    // them all, its full files and its current one are taken over.
    let s = TestStore::new();
    let dir = s.config().journal_dir;
    {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("j")).unwrap();
    }
    let n = 3000;
    let pid = run_and_kill(&s, n, Some(1));
    let files = journals_of(&dir, pid).len();
    eprintln!("the killed child left {files} journal files");
    assert!(files >= 2, "full files and the current one ({files})");
    let (k, o) = s.open_owner();
    let (got, want) = of_child(&encrypts(&k, &o), pid, n);
    assert_eq!(got, want, "every record of the child, once, in order");
    assert!(k.audit_verify(&o, None).unwrap().ok());
    drop(k);
    let left = journals(&dir);
    assert!(left.is_empty(), "journals removed: {left:?}");
}

/// Child body: with a file-size limit below the journal's window (so a new journal file
/// cannot be sized), encrypts once on a new thread and prints the outcome.
#[test]
#[ignore = "run as a child process by the tests below"]
fn journal_child_size_limited() {
    let Ok(path) = std::env::var("KMS_TEST_STORE") else {
        return;
    };
    let mut cfg = config(Path::new(&path));
    cfg.audit.fail_closed = std::env::var("KMS_TEST_FAIL_OPEN").is_err();
    let k = Kms::open(cfg).unwrap();
    let o = k.owner().unwrap();
    let limit = libc::rlimit {
        rlim_cur: 1 << 20,
        rlim_max: 1 << 20,
    };
    // SAFETY: ignores SIGXFSZ (so a write past the limit fails with EFBIG instead of killing
    // the process) and sets this process's file-size limit from a valid struct.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    // On a new thread: a journal file of its own (this thread's one exists already, it
    // holds the authentication's record).
    let r = std::thread::spawn(move || k.encrypt(&o, "j", b"x", &Context::new()))
        .join()
        .unwrap();
    match r {
        Ok(_) => println!("@ok"),
        Err(e) => println!("@{:?}", e.kind()),
    }
}

#[test]
fn a_journal_file_that_cannot_be_sized_refuses_the_operation_when_fail_closed() {
    let s = TestStore::new();
    let dir = s.config().journal_dir;
    {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("j")).unwrap();
    }
    assert!(journals(&dir).is_empty());
    for (fail_open, want) in [(false, "@AuditUnavailable"), (true, "@ok")] {
        let mut env = vec![("KMS_TEST_STORE", s.path.to_str().unwrap())];
        if fail_open {
            env.push(("KMS_TEST_FAIL_OPEN", "1"));
        }
        let out = child("journal_child_size_limited", &env).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child: {text}");
        let got = text
            .lines()
            .find_map(|l| l.find('@').map(|i| &l[i..]))
            .unwrap_or_default();
        assert_eq!(got, want, "fail open: {fail_open}");
        // The journal that could not be sized is not left behind (the child's other one,
        // holding its authentication record, may be, for the next handle to take over).
        for j in journals(&dir) {
            let data = std::fs::read(&j).unwrap();
            assert!(
                !parse_entries(&data).0.is_empty(),
                "{j:?} (fail open: {fail_open})"
            );
        }
    }
    // No encrypt record: refused in one case, not recordable in the other.
    let (k, o) = s.open_owner();
    assert!(encrypts(&k, &o).is_empty());
    assert!(k.audit_verify(&o, None).unwrap().ok());
}

#[test]
fn a_store_from_before_audit_batches_keeps_its_trail_and_chains_on() {
    // A store as the library wrote it before usage records were stored in batches (schema
    // version 2: every record a row of `audit`, with its links). Opening it runs the
    // migration; what is chained after it links to the old rows, and the trail reads and
    // verifies as one.
    let s = TestStore::new();
    let (mut old, sid): (Vec<AuditRecord>, _) = {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("m")).unwrap();
        for i in 0..5 {
            k.encrypt(&o, "m", format!("old{i}").as_bytes(), &Context::new())
                .unwrap();
        }
        (
            k.audit_query(&o, &AuditFilter::default()).unwrap(),
            k.store_id(),
        )
    };
    // as rows, each record has links of its own (a batch of this version has one for all
    // its records)
    let mut prev = Vec::new();
    for r in old.iter_mut() {
        r.prev_hash = std::mem::take(&mut prev);
        r.hash = kms::core::audit::record_hash(&sid, &r.prev_hash, r);
        prev = r.hash.clone();
    }
    {
        let c = rusqlite::Connection::open(&s.path).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM audit_batches", [], |r| r.get(0))
            .unwrap();
        assert!(n > 0, "usage records were batched");
        // the earlier layout: the same records, each a row
        c.execute_batch(
            "DELETE FROM audit; DROP TABLE audit_batch_terms; DROP TABLE audit_batches;",
        )
        .unwrap();
        for r in &old {
            c.execute(
                "INSERT INTO audit(seq, time, keyring, identity, action, key_id, key_version,
                 outcome, error, context, pid, request_id, detail, prev_hash, hash)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
                rusqlite::params![
                    r.seq as i64,
                    r.time,
                    r.keyring as i64,
                    r.identity,
                    r.action,
                    r.key_id.map(|v| v as i64),
                    r.key_version.map(|v| v as i64),
                    r.outcome.name(),
                    r.error,
                    r.context,
                    r.pid as i64,
                    r.request_id,
                    r.detail,
                    r.prev_hash,
                    r.hash
                ],
            )
            .unwrap();
        }
        c.pragma_update(None, "user_version", 2).unwrap();
    }
    let (k, o) = s.open_owner();
    for i in 0..5 {
        k.encrypt(&o, "m", format!("new{i}").as_bytes(), &Context::new())
            .unwrap();
    }
    let all = k.audit_query(&o, &AuditFilter::default()).unwrap();
    assert_eq!(all[..old.len()], old[..], "the old rows read as before");
    // each record links to the one before, or shares its link (usage records chained in one
    // batch, linked as a whole)
    assert!(all.windows(2).all(|p| p[1].seq == p[0].seq + 1
        && (p[1].prev_hash == p[0].hash
            || (&p[1].prev_hash, &p[1].hash) == (&p[0].prev_hash, &p[0].hash))));
    assert_eq!(encrypts(&k, &o).len(), 10);
    let rep = k.audit_verify(&o, None).unwrap();
    assert!(rep.ok(), "{rep:?}");
    assert_eq!(rep.records, all.len() as u64);
    let c = rusqlite::Connection::open(&s.path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 3);
}

#[test]
fn the_unchained_backlog_stays_bounded_under_sustained_load() {
    // Two threads encrypt as fast as they can with records of about 1 KiB (a long context
    // key), journaling about three times the backlog bound in all: the callers help chain
    // once the bound is reached, so the backlog never grows past it (by more than what the
    // threads have not counted yet), and every record ends up chained once.
    use kms::core::journal::{BACKLOG_LIMIT, REPORT_EVERY};
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("b")).unwrap();
    let pad = "q".repeat(900);
    const THREADS: usize = 2;
    let per_thread = (3 * BACKLOG_LIMIT / 1024) as usize / THREADS;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let peak = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(k.audit_backlog(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (k, o, pad) = (k.clone(), o.clone(), pad.clone());
                sc.spawn(move || {
                    for i in 0..per_thread {
                        // a context of its own per record: a journal entry holds what changed
                        // since the one before, so each record costs about a KiB
                        let mut c = Context::new();
                        c.insert(format!("t{t}-{i}{pad}"), "x".into());
                        k.encrypt(&o, "b", b"x", &c).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        peak > BACKLOG_LIMIT / 2,
        "the load reached the bound: peak backlog {peak} bytes"
    );
    // a thread adds its bytes to the shared count every REPORT_EVERY bytes (and checks the
    // bound then), plus the records in flight
    assert!(
        peak <= BACKLOG_LIMIT + THREADS as u64 * REPORT_EVERY + 64 * 1024,
        "the backlog stayed bounded: peak {peak} bytes, bound {BACKLOG_LIMIT}"
    );
    assert_eq!(encrypts(&k, &o).len(), THREADS * per_thread);
    assert_eq!(k.audit_backlog(), 0);
    let rep = k.audit_verify(&o, None).unwrap();
    assert!(rep.ok(), "{rep:?}");
    assert_eq!(
        k.describe_key(&o, "b").unwrap().versions[0].uses,
        (THREADS * per_thread) as u64
    );
}

/// A handle's usage records are in the trail, and its journal files gone, as soon as its
/// last user lets it go, even while its background thread is in the middle of a pass
/// (syncing or chaining, which it does every few milliseconds): the closing thread chains
/// what is left, not the background thread some time later.
#[test]
fn a_closed_handle_has_chained_its_records_when_its_last_user_lets_go() {
    let s = TestStore::new();
    let dir = s.config().journal_dir;
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("c")).unwrap();
    k.flush().unwrap();
    // the long-lived handle's own journal (its sign-in was journaled)
    let before = journals(&dir);
    assert_eq!(before.len(), 1, "{before:?}");
    for round in 1..=120usize {
        let (k2, o2) = s.open_owner();
        for _ in 0..round % 7 + 1 {
            k2.encrypt(&o2, "c", b"x", &Context::new()).unwrap();
        }
        // land the drop at different points of the background thread's 20 ms tick
        std::thread::sleep(std::time::Duration::from_millis((round as u64 * 3) % 23));
        drop(k2);
        let want: usize = (1..=round).map(|r| r % 7 + 1).sum();
        assert_eq!(encrypts(&k, &o).len(), want, "round {round}");
        assert_eq!(
            journals(&dir),
            before,
            "round {round}: the closed handle's journal"
        );
    }
}

/// Encrypts under key "w" every 5 ms for `d`; returns how many.
fn encrypt_for(k: &Kms, o: &Caller, d: std::time::Duration) -> usize {
    let t0 = std::time::Instant::now();
    let mut n = 0;
    while t0.elapsed() < d {
        k.encrypt(o, "w", b"x", &Context::new()).unwrap();
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    n
}

#[test]
fn the_journal_is_synced_every_window_even_while_the_chaining_waits_for_the_store() {
    // Another connection holds the store's write lock for a second. The chaining cannot
    // commit meanwhile (it waits in SQLite's busy handler), so the records journaled in that
    // second are only in the journal. The power-loss bound must hold all the same: the
    // journal is synced every audit window (100 ms here) by a thread of its own.
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("w")).unwrap();
    k.flush().unwrap();
    let before = k.audit_journal_syncs();
    let c = rusqlite::Connection::open(&s.path).unwrap();
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    let n = encrypt_for(&k, &o, std::time::Duration::from_secs(1));
    let during = k.audit_journal_syncs() - before;
    c.execute_batch("ROLLBACK").unwrap();
    // about 10 windows passed; a loaded machine may delay the thread, never stop it
    assert!(
        during >= 4,
        "the journal was synced {during} times in a second of records no chaining could take"
    );
    k.flush().unwrap();
    assert_eq!(encrypts(&k, &o).len(), n);
    assert!(k.audit_verify(&o, None).unwrap().ok());
}

#[test]
fn a_chaining_that_keeps_up_never_syncs_the_journal_on_sqlite() {
    // SQLite commits each chaining pass durably (synchronous=FULL), so records already
    // chained need no journal sync: a pass that catches up moves the next sync a window on.
    // With records every 5 ms, chained every 20 ms, and a window of 2 s, only a chaining
    // stalled for 2 s would let a sync fall due.
    let s = TestStore::new();
    let mut cfg = s.config();
    cfg.audit.durability = kms::core::audit::Durability::Batched {
        window: std::time::Duration::from_secs(2),
    };
    let k = Kms::open(cfg).unwrap();
    let o = k.owner().unwrap();
    k.create_key(&o, &aes("w")).unwrap();
    let n = encrypt_for(&k, &o, std::time::Duration::from_secs(5));
    assert_eq!(k.audit_journal_syncs(), 0, "{n} records");
    k.flush().unwrap();
    assert_eq!(encrypts(&k, &o).len(), n);
}

#[test]
fn a_journal_its_dead_owner_had_partly_chained_is_taken_over_where_it_stopped() {
    // A journal entry holds what changed since the entry before it in its file, so the
    // handle that takes a dead process's journal over from the offset the owner had chained
    // to must first read the file up to there. The child chains its first 1,500 records
    // itself (its journal's recorded offset is then past them), writes 3,500 more and dies.
    let s = TestStore::new();
    {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("j")).unwrap();
    }
    let n = 5_000;
    let pid = run_and_kill_with(&s, n, None, Some(1_500));
    let dir = s.config().journal_dir;
    assert_eq!(
        journals_of(&dir, pid).len(),
        1,
        "the child's journal is left"
    );
    let (k, o) = s.open_owner();
    let recs = encrypts(&k, &o);
    let (got, want) = of_child(&recs, pid, n);
    assert_eq!(got, want, "every record of the child, once, in order");
    assert!(k.audit_verify(&o, None).unwrap().ok(), "chain");
    assert_eq!(k.describe_key(&o, "j").unwrap().versions[0].uses, n as u64);
    drop(k);
    assert!(journals(&dir).is_empty());
}

#[test]
fn a_killed_process_loses_nothing_it_wrote_to_stretches_it_had_unmapped() {
    // A writer unmaps the stretches of its journal window it has filled (so that syncing
    // them needs no TLB flush per page). What it copied there must stay in the file all the
    // same: a child writes well over a megabyte into one window and is killed; its journal
    // holds every record from the first byte, and the next handle chains them all once.
    let s = TestStore::new();
    let dir = s.config().journal_dir;
    {
        let (k, o) = s.open_owner();
        k.create_key(&o, &aes("j")).unwrap();
    }
    let n = 60_000;
    let pid = run_and_kill(&s, n, None);
    let mine = journals_of(&dir, pid);
    assert_eq!(mine.len(), 1, "one journal file: {mine:?}");
    let data = std::fs::read(&mine[0]).unwrap();
    let (records, used) = kms::core::journal::decode_entries(&data).unwrap();
    assert_eq!(used, parse_entries(&data).1);
    let in_file = records
        .iter()
        .filter(|(r, _, _)| r.action == "encrypt")
        .count();
    assert_eq!(in_file, n, "every record in the file");
    assert!(
        used > 1024 * 1024,
        "{used} bytes: several stretches unmapped"
    );
    let (k, o) = s.open_owner();
    let (got, want) = of_child(&encrypts(&k, &o), pid, n);
    assert_eq!(got, want, "every record of the child, once, in order");
}

#[test]
fn a_writer_unmaps_the_stretches_of_its_journal_it_has_filled() {
    // Syncing a page that is still mapped flushes every core's TLB, once per page; so a
    // writer unmaps each 256 KiB stretch of its journal window once it is full. Seen from
    // /proc/self/maps: after about a megabyte of records from one thread, this handle's
    // journal file is mapped from an offset past its start.
    let s = TestStore::new();
    let dir = s.config().journal_dir;
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("j")).unwrap();
    for i in 0..40_000 {
        let mut c = Context::new();
        c.insert(format!("n{i:05}"), "x".into());
        k.encrypt(&o, "j", b"x", &c).unwrap();
    }
    let dir = dir.to_str().unwrap().to_string();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let offsets: Vec<u64> = maps
        .lines()
        .filter(|l| l.contains(&dir))
        .map(|l| u64::from_str_radix(l.split_whitespace().nth(2).unwrap(), 16).unwrap())
        .collect();
    assert!(
        offsets.iter().any(|o| *o >= 256 * 1024),
        "a journal mapping starts past the filled stretches: {offsets:?}\n{maps}"
    );
    k.flush().unwrap();
    assert_eq!(encrypts(&k, &o).len(), 40_000);
}
