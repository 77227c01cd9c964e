//! Concurrency: several processes, each with several threads, mix every operation and admin
//! action on one SQLite store. No deadlock (watchdogs fail the test with what each thread
//! was doing), no `SQLITE_BUSY` / "database is locked" or any other unexpected error reaching
//! a caller (every error is checked against what the operation may legitimately return), no
//! lost update (concurrent rotations, secret versions and grant use limits add up exactly),
//! and a disable or enable in one process is honoured by the next operation of every other
//! process while they are all busy (extends the one-on-one check of tests/core_processes.rs).
//!
//! Short by default (3 processes x 4 threads); `KMS_TORTURE_LONG=1` runs 4 x 8 with many more
//! operations. `KMS_TORTURE_SEED` repeats a run's operation order (the seed is printed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kms::core::ciphertext::Header;
use kms::core::crypto::SignAlg;
use kms::core::*;
use util::*;

const APP_SECRET: &[u8] = b"app-secret-for-tests";
/// Uses of the app identity's limited grant (spent concurrently by every thread).
const LIMIT: u64 = 25;
const SECRET_NAME: &str = "shared-secret";

struct Size {
    processes: usize,
    threads: usize,
    /// Operations per thread, rotations included.
    ops: usize,
    /// Rotations of the key "rot" per thread.
    rotations: usize,
    deadline: Duration,
}

fn size() -> Size {
    if std::env::var("KMS_TORTURE_LONG").is_ok_and(|v| v == "1") {
        Size {
            processes: 4,
            threads: 8,
            ops: 400,
            rotations: 20,
            deadline: Duration::from_secs(1500),
        }
    } else {
        Size {
            processes: 3,
            threads: 4,
            ops: 150,
            rotations: 8,
            deadline: Duration::from_secs(240),
        }
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    EncryptDecrypt,
    DataKey,
    SignVerify,
    Mac,
    Rotate,
    DescribeList,
    Audit,
    Lifecycle,
    GrantRevoke,
    Secret,
    Toggle,
    Limited,
}

const RANDOM_OPS: [Op; 11] = [
    Op::EncryptDecrypt,
    Op::DataKey,
    Op::SignVerify,
    Op::Mac,
    Op::DescribeList,
    Op::Audit,
    Op::Lifecycle,
    Op::GrantRevoke,
    Op::Secret,
    Op::Toggle,
    Op::Limited,
];

/// The toggled key's state as the driver last published it: a generation number and
/// `enabled`, `disabled` or `transition` (a change is under way).
fn read_state(path: &Path) -> (u64, String) {
    let t = std::fs::read_to_string(path).unwrap();
    let (g, s) = t.trim().split_once(' ').unwrap();
    (g.parse().unwrap(), s.to_string())
}

fn write_state(path: &Path, gen: u64, state: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{gen} {state}\n")).unwrap();
    std::fs::rename(&tmp, path).unwrap(); // atomic: readers see the old or the new line
}

/// What one worker thread found.
#[derive(Default)]
struct Found {
    unexpected: Vec<String>,
    rotations: Vec<u32>,
    secret_versions: Vec<u32>,
    limited_ok: u64,
    limited_tries: u64,
    toggle_checked: [u64; 2],
}

fn describe(e: &Error) -> String {
    format!("{:?}: {e}", e.kind())
}

struct Worker {
    k: Kms,
    o: Caller,
    app: Caller,
    state: PathBuf,
    tag: String,
    found: Found,
}

impl Worker {
    fn bad(&mut self, op: Op, what: String) {
        self.found
            .unexpected
            .push(format!("{} {op:?}: {what}", self.tag));
    }

    /// Runs one operation; an error it may not return is recorded.
    fn run(&mut self, op: Op, i: usize, rng: &mut Rng) {
        if let Err(e) = self.try_run(op, i, rng) {
            self.bad(op, describe(&e));
        }
    }

    fn try_run(&mut self, op: Op, i: usize, rng: &mut Rng) -> Result<()> {
        let (k, o) = (self.k.clone(), self.o.clone());
        let data = format!("{}-{i}-{}", self.tag, rng.next()).into_bytes();
        let cx = ctx(&format!("who={},i={i}", self.tag));
        match op {
            Op::EncryptDecrypt => {
                let ct = k.encrypt(&o, "aes", &data, &cx)?;
                if *k.decrypt(&o, &ct, &cx)? != *data {
                    self.bad(op, "decrypt returned other bytes".into());
                }
                if rng.below(3) == 0 {
                    let ct2 = k.re_encrypt(&o, &ct, &cx, None, None)?;
                    if *k.decrypt(&o, &ct2, &cx)? != *data {
                        self.bad(op, "re-encrypted ciphertext decrypts to other bytes".into());
                    }
                }
            }
            Op::DataKey => {
                let (dk, wrapped) = k.generate_data_key(&o, "aes", 32, &cx)?;
                if *k.decrypt_data_key(&o, &wrapped, &cx)? != *dk {
                    self.bad(op, "data key came back different".into());
                }
            }
            Op::SignVerify => {
                let (v, sig) = k.sign(&o, "ec", SignAlg::EcdsaSha256, &data, false)?;
                k.verify(&o, "ec", Some(v), SignAlg::EcdsaSha256, &data, &sig, false)?;
            }
            Op::Mac => {
                let (v, tag) = k.mac(&o, "hmac", &data)?;
                k.mac_verify(&o, "hmac", Some(v), &data, &tag)?;
            }
            Op::Rotate => {
                let v = k.rotate_key(&o, "rot")?;
                self.found.rotations.push(v);
                // This process encrypts under the new version (or a newer one) at once.
                let ct = k.encrypt(&o, "rot", &data, &cx)?;
                let used = Header::parse(&ct)?.0.version;
                if used < v {
                    self.bad(
                        op,
                        format!("encrypted under version {used} after rotating to {v}"),
                    );
                }
            }
            Op::DescribeList => {
                // A snapshot never shows a half-made rotation.
                let info = k.describe_key(&o, "rot")?;
                let n = info.versions.len() as u32;
                let consecutive = info.versions.iter().map(|v| v.version).eq(1..=n);
                if !consecutive || info.key.primary_version != n {
                    self.bad(
                        op,
                        format!(
                            "rot shows versions {:?} with primary {}",
                            info.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
                            info.key.primary_version
                        ),
                    );
                }
                if k.list_keys(&o, &KeyFilter::default())?.len() < 5 {
                    self.bad(op, "list lost keys".into());
                }
                k.list_grants(&o, None)?;
                k.list_secrets(&o, None)?;
            }
            Op::Audit => {
                let recs = k.audit_query(
                    &o,
                    &AuditFilter {
                        limit: Some(20),
                        descending: true,
                        ..Default::default()
                    },
                )?;
                if recs.is_empty() {
                    self.bad(op, "no audit records".into());
                }
                if rng.below(4) == 0 {
                    let r = k.audit_verify(&o, None)?;
                    if !r.ok() {
                        self.bad(op, format!("audit chain does not verify: {r:?}"));
                    }
                }
            }
            Op::Lifecycle => {
                let name = format!("{}-{i}", self.tag);
                k.create_key(&o, &aes(&name))?;
                k.encrypt(&o, &name, &data, &cx)?;
                k.disable_key(&o, &name)?;
                match k.encrypt(&o, &name, &data, &cx) {
                    Err(e) if e.kind() == ErrorKind::KeyState => {}
                    Err(e) => self.bad(op, format!("disabled key: {}", describe(&e))),
                    Ok(_) => self.bad(op, "a disabled key encrypted".into()),
                }
                k.enable_key(&o, &name)?;
                k.encrypt(&o, &name, &data, &cx)?;
                k.describe_key(&o, &name)?;
            }
            Op::GrantRevoke => {
                let g = k.grant(
                    &o,
                    &GrantRequest {
                        identity: "app".into(),
                        key: Some("hmac".into()),
                        actions: ActionSet::of(&[Action::Mac]),
                        ..Default::default()
                    },
                )?;
                // Granted here: this identity's next use is allowed (only this thread
                // revokes this grant).
                k.mac(&self.app, "hmac", &data)?;
                k.revoke(&o, g)?;
                // Other threads' grants may still allow it: allowed or denied, nothing else.
                if let Err(e) = k.mac(&self.app, "hmac", &data) {
                    if e.kind() != ErrorKind::AccessDenied {
                        self.bad(op, format!("after revoke: {}", describe(&e)));
                    }
                }
            }
            Op::Secret => {
                let value = format!("val-{}-{i}", self.tag).into_bytes();
                let mut tries = 0;
                let v = loop {
                    match k.put_secret(&o, SECRET_NAME, "aes", &value) {
                        Ok(v) => break v,
                        // Two writers picked the same version number: the loser retries.
                        Err(e) if e.kind() == ErrorKind::AlreadyExists && tries < 1000 => {
                            tries += 1;
                        }
                        Err(e) => return Err(e),
                    }
                };
                self.found.secret_versions.push(v);
                if *k.get_secret(&o, SECRET_NAME, Some(v))? != *value {
                    self.bad(op, format!("secret version {v} holds another value"));
                }
                if !k.get_secret(&o, SECRET_NAME, None)?.starts_with(b"val-") {
                    self.bad(op, "latest secret value is malformed".into());
                }
            }
            Op::Toggle => {
                let before = read_state(&self.state);
                let r = k.encrypt(&o, "toggle", &data, &cx);
                let after = read_state(&self.state);
                if before == after {
                    // The state was published before the operation began and did not
                    // change until it returned: the operation must honour it.
                    match (before.1.as_str(), &r) {
                        ("disabled", Err(e)) if e.kind() == ErrorKind::KeyState => {
                            self.found.toggle_checked[0] += 1
                        }
                        ("enabled", Ok(_)) => self.found.toggle_checked[1] += 1,
                        ("transition", _) => {}
                        (s, r) => self.bad(
                            op,
                            format!(
                                "key published {s} (generation {}) but encrypt returned {:?}",
                                before.0,
                                r.as_ref().map(|_| ()).map_err(describe)
                            ),
                        ),
                    }
                } else if let Err(e) = r {
                    if e.kind() != ErrorKind::KeyState {
                        self.bad(op, describe(&e));
                    }
                }
            }
            Op::Limited => {
                self.found.limited_tries += 1;
                match k.encrypt(&self.app, "aes", &data, &cx) {
                    Ok(_) => self.found.limited_ok += 1,
                    Err(e) if e.kind() == ErrorKind::AccessDenied => {}
                    Err(e) => self.bad(op, describe(&e)),
                }
            }
        }
        Ok(())
    }
}

/// Child body: N threads on this process's handles run a shuffled list of operations.
#[test]
#[ignore = "run as a child process by the concurrency test"]
fn concurrency_worker() {
    let Ok(store) = std::env::var("KMS_TORTURE_STORE") else {
        return;
    };
    let state = PathBuf::from(std::env::var("KMS_TORTURE_STATE").unwrap());
    let proc_no: usize = std::env::var("KMS_TORTURE_PROC").unwrap().parse().unwrap();
    let seed: u64 = std::env::var("KMS_TORTURE_SEED").unwrap().parse().unwrap();
    let sz = size();
    // Threads share one handle, except the last, which opens a second handle in this
    // process (as a program using both the C API and the PKCS#11 module does).
    let shared = Kms::open(config(Path::new(&store))).unwrap();
    let doing: Arc<Vec<Mutex<String>>> = Arc::new(
        (0..sz.threads)
            .map(|_| Mutex::new("starting".into()))
            .collect(),
    );
    let finished = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for t in 0..sz.threads {
        let k = if t + 1 == sz.threads && sz.threads > 1 {
            Kms::open(config(Path::new(&store))).unwrap()
        } else {
            shared.clone()
        };
        let state = state.clone();
        let doing = doing.clone();
        let finished = finished.clone();
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng((seed
                ^ ((proc_no * 1000 + t) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .max(1));
            let o = k.owner().unwrap();
            let app = k.authenticate("default", "app", APP_SECRET).unwrap();
            let mut w = Worker {
                k,
                o,
                app,
                state,
                tag: format!("p{proc_no}t{t}"),
                found: Found::default(),
            };
            let mut ops: Vec<Op> = (0..sz.ops - sz.rotations)
                .map(|_| RANDOM_OPS[rng.below(RANDOM_OPS.len() as u64) as usize])
                .collect();
            ops.extend(std::iter::repeat_n(Op::Rotate, sz.rotations));
            for i in (1..ops.len()).rev() {
                ops.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for (i, op) in ops.into_iter().enumerate() {
                *doing[t].lock().unwrap() = format!("op {i} {op:?}");
                w.run(op, i, &mut rng);
            }
            *doing[t].lock().unwrap() = "done".into();
            finished.fetch_add(1, Ordering::SeqCst);
            w.found
        }));
    }
    // Watchdog: a thread stuck past the deadline is a deadlock; say where each one is.
    let start = Instant::now();
    while finished.load(Ordering::SeqCst) < sz.threads {
        if start.elapsed() > sz.deadline {
            let states: Vec<String> = doing
                .iter()
                .enumerate()
                .map(|(t, d)| format!("thread {t}: {}", d.lock().unwrap()))
                .collect();
            println!(
                "@deadlock process {proc_no} after {:?}: {}",
                sz.deadline,
                states.join("; ")
            );
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for h in handles {
        let f = h.join().unwrap();
        for u in &f.unexpected {
            println!("@unexpected {u}");
        }
        for v in &f.rotations {
            println!("@rotation {v}");
        }
        for v in &f.secret_versions {
            println!("@secret {v}");
        }
        println!("@limited {} {}", f.limited_ok, f.limited_tries);
        println!("@toggle {} {}", f.toggle_checked[0], f.toggle_checked[1]);
    }
    println!("@done");
}

#[test]
fn processes_and_threads_mix_every_operation_without_busy_errors_or_lost_updates() {
    let started = Instant::now();
    let sz = size();
    let seed: u64 = std::env::var("KMS_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!(
        "concurrency: seed {seed} (KMS_TORTURE_SEED repeats it), {} processes x {} threads x {} operations",
        sz.processes, sz.threads, sz.ops
    );
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    for (name, spec) in [
        ("aes", KeySpec::Aes256),
        ("hmac", KeySpec::HmacSha256),
        ("ec", KeySpec::EcP256),
        ("rot", KeySpec::Aes256),
        ("toggle", KeySpec::Aes256),
    ] {
        k.create_key(
            &o,
            &KeyRequest {
                spec: Some(spec),
                name: Some(name.into()),
                ..Default::default()
            },
        )
        .unwrap();
    }
    k.create_identity(&o, "app", APP_SECRET, Roles::NONE, false)
        .unwrap();
    let limited = k
        .grant(
            &o,
            &GrantRequest {
                identity: "app".into(),
                key: Some("aes".into()),
                actions: ActionSet::of(&[Action::Encrypt]),
                max_uses: Some(LIMIT),
                ..Default::default()
            },
        )
        .unwrap();
    let state = s.dir.path().join("toggle.state");
    write_state(&state, 0, "enabled");

    let mut children = Vec::new();
    for p in 0..sz.processes {
        let mut ch = child(
            "concurrency_worker",
            &[
                ("KMS_TORTURE_STORE", s.path.to_str().unwrap()),
                ("KMS_TORTURE_STATE", state.to_str().unwrap()),
                ("KMS_TORTURE_PROC", &p.to_string()),
                ("KMS_TORTURE_SEED", &seed.to_string()),
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        let mut out = ch.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            out.read_to_string(&mut s).unwrap();
            s
        });
        children.push((ch, reader));
    }

    // This process flips the key "toggle" while the others use it, publishing each state
    // only once the change has returned.
    let stop = Arc::new(AtomicBool::new(false));
    let toggler = {
        let (k, o, state, stop) = (k.clone(), o.clone(), state.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(seed.max(1));
            let mut gen = 0u64;
            let mut flips = 0u64;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10 + rng.below(50)));
                gen += 1;
                write_state(&state, gen, "transition");
                let disable = flips.is_multiple_of(2);
                if disable {
                    k.disable_key(&o, "toggle").unwrap();
                } else {
                    k.enable_key(&o, "toggle").unwrap();
                }
                gen += 1;
                write_state(&state, gen, if disable { "disabled" } else { "enabled" });
                flips += 1;
            }
            flips
        })
    };

    // Watchdog over the child processes (each also has its own, which names the stuck
    // threads).
    let deadline = sz.deadline + Duration::from_secs(30);
    let mut statuses = vec![None; children.len()];
    while statuses.iter().any(Option::is_none) {
        for (i, (ch, _)) in children.iter_mut().enumerate() {
            if statuses[i].is_none() {
                statuses[i] = ch.try_wait().unwrap();
            }
        }
        if started.elapsed() > deadline {
            for (ch, _) in children.iter_mut() {
                let _ = ch.kill();
            }
            stop.store(true, Ordering::SeqCst);
            panic!("deadlock: worker processes did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let flips = toggler.join().expect("the toggling thread failed");

    let mut unexpected = Vec::new();
    let mut rotations = Vec::new();
    let mut secret_versions = Vec::new();
    let mut limited_ok = 0u64;
    let mut limited_tries = 0u64;
    let mut toggle_checked = [0u64; 2];
    for (i, (_, reader)) in children.into_iter().enumerate() {
        let out = reader.join().unwrap();
        for l in out
            .lines()
            .filter_map(|l| l.find('@').map(|at| &l[at + 1..]))
        {
            let (kind, rest) = l.split_once(' ').unwrap_or((l, ""));
            match kind {
                "unexpected" | "deadlock" => unexpected.push(rest.to_string()),
                "rotation" => rotations.push(rest.parse::<u32>().unwrap()),
                "secret" => secret_versions.push(rest.parse::<u32>().unwrap()),
                "limited" => {
                    let (a, b) = rest.split_once(' ').unwrap();
                    limited_ok += a.parse::<u64>().unwrap();
                    limited_tries += b.parse::<u64>().unwrap();
                }
                "toggle" => {
                    let (a, b) = rest.split_once(' ').unwrap();
                    toggle_checked[0] += a.parse::<u64>().unwrap();
                    toggle_checked[1] += b.parse::<u64>().unwrap();
                }
                _ => {}
            }
        }
        assert!(
            statuses[i].unwrap().success() && out.contains("@done"),
            "worker process {i} failed ({:?}); unexpected: {unexpected:#?}\n{out}",
            statuses[i]
        );
    }
    let busy: Vec<_> = unexpected
        .iter()
        .filter(|u| {
            let u = u.to_lowercase();
            u.contains("locked") || u.contains("busy")
        })
        .collect();
    assert!(busy.is_empty(), "SQLITE_BUSY reached callers: {busy:#?}");
    assert!(unexpected.is_empty(), "unexpected errors: {unexpected:#?}");

    // No lost rotation: exactly one new version per rotation, each returned once.
    let total = sz.processes * sz.threads * sz.rotations;
    let got: BTreeSet<u32> = rotations.iter().copied().collect();
    assert_eq!(rotations.len(), total);
    assert_eq!(
        got,
        (2..=total as u32 + 1).collect::<BTreeSet<_>>(),
        "each rotation returned its own version"
    );
    let info = k.describe_key(&o, "rot").unwrap();
    assert_eq!(info.versions.len(), total + 1);
    assert!(info
        .versions
        .iter()
        .map(|v| v.version)
        .eq(1..=total as u32 + 1));
    assert_eq!(info.key.primary_version, total as u32 + 1);

    // No lost secret version.
    let versions: BTreeSet<u32> = secret_versions.iter().copied().collect();
    assert_eq!(
        versions.len(),
        secret_versions.len(),
        "a secret version was returned twice"
    );
    let stored: BTreeSet<u32> = k
        .list_secrets(&o, Some(SECRET_NAME))
        .unwrap()
        .iter()
        .map(|s| s.version)
        .collect();
    assert_eq!(stored, versions, "stored secret versions");
    if !versions.is_empty() {
        assert_eq!(stored, (1..=versions.len() as u32).collect());
    }

    // The use limit held exactly across processes and threads.
    assert!(
        limited_tries > LIMIT,
        "the limited grant was tried more often than it allows"
    );
    assert_eq!(limited_ok, LIMIT, "successful uses of the limited grant");
    let g = k
        .list_grants(&o, Some("aes"))
        .unwrap()
        .into_iter()
        .find(|g| g.id == limited)
        .unwrap();
    assert_eq!(g.uses, LIMIT);

    // The disables and enables were honoured by the other processes' next operations.
    assert!(flips >= 2, "the key was toggled");
    assert!(
        toggle_checked[0] > 0 && toggle_checked[1] > 0,
        "operations ran while the key was published disabled and enabled: {toggle_checked:?}"
    );

    // Every rotation committed its record; the chain verifies; the file is sound.
    let rot_records = k
        .audit_query(
            &o,
            &AuditFilter {
                key_id: Some(info.key.id),
                action: Some("rotate".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        rot_records
            .iter()
            .filter(|r| r.outcome == Outcome::Ok)
            .count(),
        total
    );
    let report = k.audit_verify(&o, None).unwrap();
    assert!(report.ok(), "{report:?}");
    let c = rusqlite::Connection::open(&s.path).unwrap();
    let verdict: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let mut by_action: HashMap<String, usize> = HashMap::new();
    for r in k.audit_query(&o, &AuditFilter::default()).unwrap() {
        *by_action.entry(r.action).or_default() += 1;
    }
    eprintln!(
        "concurrency: {} rotations, {} secret versions, {} key toggles, {:?} toggle checks (disabled, enabled), {} audit records in {:.1}s",
        total,
        versions.len(),
        flips,
        toggle_checked,
        by_action.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
}

/// Handles that open while others take dead processes' journals over: a takeover must never
/// touch a live handle's brand-new journal (it used to lock it in the instant between its
/// creation and its owner's lock, failing the owner's first operation with
/// `AuditUnavailable`, or remove it, losing the records written to it afterwards).
#[test]
fn fresh_handles_are_not_disturbed_by_journal_takeovers() {
    let opens_wanted: u64 = if std::env::var("KMS_TORTURE_LONG").is_ok_and(|v| v == "1") {
        5000
    } else {
        800
    };
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("k")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let opens = Arc::new(AtomicUsize::new(0));
    let encrypts = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    // Two handles look for orphaned journals without pause.
    let scanners: Vec<_> = (0..2)
        .map(|i| {
            let k = if i == 0 { k.clone() } else { s.open() };
            let (stop, errors) = (stop.clone(), errors.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Err(e) = k.flush() {
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("flush: {}", describe(&e)));
                    }
                }
            })
        })
        .collect();
    // Two threads open fresh handles (each starts a new journal) and use them.
    let openers: Vec<_> = (0..2)
        .map(|_| {
            let (cfg, stop, errors, o) = (s.config(), stop.clone(), errors.clone(), o.clone());
            let (opens, encrypts) = (opens.clone(), encrypts.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let h = Kms::open(cfg.clone()).unwrap();
                    // The first operation starts the handle's journal.
                    for _ in 0..2 {
                        match h.encrypt(&o, "k", b"x", &Context::new()) {
                            Ok(_) => {
                                encrypts.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => errors.lock().unwrap().push(describe(&e)),
                        }
                    }
                    opens.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let start = Instant::now();
    while (opens.load(Ordering::SeqCst) as u64) < opens_wanted {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "deadlock: {} handles opened in 10 minutes",
            opens.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for t in scanners.into_iter().chain(openers) {
        t.join().unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} errors in {} opens: {errors:#?}",
        errors.len(),
        opens.load(Ordering::SeqCst)
    );
    let recorded = k
        .audit_query(
            &o,
            &AuditFilter {
                action: Some("encrypt".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .count();
    assert_eq!(
        recorded,
        encrypts.load(Ordering::SeqCst),
        "every returned encrypt has its record"
    );
    eprintln!(
        "journal takeovers: {} fresh handles, {recorded} encrypts, in {:.1}s",
        opens.load(Ordering::SeqCst),
        start.elapsed().as_secs_f64()
    );
}
