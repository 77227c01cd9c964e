//! Crash torture: worker processes share one SQLite store and are killed with SIGKILL at
//! random moments; afterwards everything a worker saw succeed is still there and consistent.
//!
//! Each worker (this test binary re-run in child mode) loops creating keys, rotating keys
//! (its own and four shared ones), encrypting and now and then reading the audit trail (which
//! takes dead workers' journals over), and appends one fsync'd line to its own
//! log AFTER each call returns, so a logged success is a true success. The driver kills a
//! random worker every few hundred milliseconds (kills land during open, during
//! transactions, between the journal write and the log line ...) and starts it again. Its own
//! handle keeps taking over dead workers' journals while they come and go.
//!
//! Checked afterwards: `PRAGMA integrity_check` is ok; every logged key exists with its id
//! and works; every logged ciphertext decrypts to its logged plaintext; every key's versions
//! are 1..=n with n primary (no half rotation), every logged rotation's version exists and
//! no two rotations returned the same version (no lost update), n >= 1 + logged rotations;
//! the audit chain verifies; every logged encrypt, rotation and creation has its audit record
//! (usage records of killed processes are taken over from their journals), no record is
//! chained twice, each version's use count equals its encrypt records; no journal is left
//! behind.
//!
//! Short by default (50 kills); `KMS_TORTURE_LONG=1` runs 500 kills. `KMS_TORTURE_SEED`
//! repeats a run's kill schedule and worker choices (the seed is printed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use kms::core::ciphertext::Header;
use kms::core::*;
use util::*;

const WORKERS: usize = 4;
const SHARED: [&str; 4] = ["shared0", "shared1", "shared2", "shared3"];

fn long() -> bool {
    std::env::var("KMS_TORTURE_LONG").is_ok_and(|v| v == "1")
}

/// xorshift64*: a small deterministic generator (the seed is printed to repeat a run).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The plaintext a seed stands for (1 to 200 bytes).
fn plaintext(seed: u64) -> Vec<u8> {
    let len = 1 + (seed % 200) as usize;
    format!("pt-{seed:016x}-")
        .bytes()
        .cycle()
        .take(len)
        .collect()
}

fn context_of(seed: u64) -> Context {
    ctx(&format!("seed={seed:x}"))
}

/// Cuts a torn last line (a log is only ever appended to by one process at a time).
fn repair_log(path: &Path) {
    let Ok(b) = std::fs::read(path) else { return };
    let keep = b
        .iter()
        .rposition(|c| *c == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    if keep != b.len() {
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_len(keep as u64).unwrap();
    }
}

/// Child body: loops on create / rotate / encrypt until killed.
#[test]
#[ignore = "run as a child process by the torture test"]
fn torture_worker() {
    let Ok(store) = std::env::var("KMS_TORTURE_STORE") else {
        return;
    };
    let log_path = PathBuf::from(std::env::var("KMS_TORTURE_LOG").unwrap());
    let worker: usize = std::env::var("KMS_TORTURE_WORKER")
        .unwrap()
        .parse()
        .unwrap();
    let gen: u64 = std::env::var("KMS_TORTURE_GEN").unwrap().parse().unwrap();
    let seed: u64 = std::env::var("KMS_TORTURE_SEED").unwrap().parse().unwrap();
    let mut rng = Rng::new(seed ^ (gen.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ worker as u64);
    repair_log(&log_path);
    // Keys this worker created in earlier lives.
    let mut mine: Vec<String> = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("create "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let mut append = |line: String| {
        // One write per line, then fsync: the line is on disk before the next call.
        log.write_all(format!("{line}\n").as_bytes()).unwrap();
        log.sync_data().unwrap();
    };
    let k = Kms::open(config(Path::new(&store))).unwrap();
    let o = k.owner().unwrap();
    let pid = std::process::id();
    for n in 0u64.. {
        let r = rng.below(100);
        if r < 8 || mine.is_empty() {
            let name = format!("w{worker}g{gen}k{n}");
            let rec = k.create_key(&o, &aes(&name)).unwrap();
            append(format!("create {name} {}", rec.id));
            mine.push(name);
        } else if r < 25 {
            let name = if rng.below(2) == 0 {
                mine[rng.below(mine.len() as u64) as usize].clone()
            } else {
                SHARED[rng.below(SHARED.len() as u64) as usize].to_string()
            };
            let v = k.rotate_key(&o, &name).unwrap();
            append(format!("rotate {name} {v}"));
        } else if r < 28 {
            // Reading the trail chains this handle's journal and takes dead ones over:
            // kills land in the middle of takeovers too.
            k.audit_query(
                &o,
                &AuditFilter {
                    limit: Some(1),
                    descending: true,
                    ..Default::default()
                },
            )
            .unwrap();
        } else {
            let name = if rng.below(3) == 0 {
                SHARED[rng.below(SHARED.len() as u64) as usize].to_string()
            } else {
                mine[rng.below(mine.len() as u64) as usize].clone()
            };
            let s = rng.next();
            let ct = k.encrypt(&o, &name, &plaintext(s), &context_of(s)).unwrap();
            append(format!("enc {name} {s} {pid} {}", hex(&ct)));
        }
    }
}

struct Worker {
    child: Child,
    gen: u64,
}

fn spawn(store: &Path, dir: &Path, worker: usize, gen: u64, seed: u64) -> Worker {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("worker{worker}.err")))
        .unwrap();
    let child = child(
        "torture_worker",
        &[
            ("KMS_TORTURE_STORE", store.to_str().unwrap()),
            (
                "KMS_TORTURE_LOG",
                dir.join(format!("worker{worker}.log")).to_str().unwrap(),
            ),
            ("KMS_TORTURE_WORKER", &worker.to_string()),
            ("KMS_TORTURE_GEN", &gen.to_string()),
            ("KMS_TORTURE_SEED", &seed.to_string()),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::from(err))
    .spawn()
    .unwrap();
    Worker { child, gen }
}

/// Fails with the worker's error output when it stopped on its own (a worker never stops
/// unless killed: any error it meets is a failure).
fn check_alive(w: &mut Worker, i: usize, dir: &Path) {
    if let Some(st) = w.child.try_wait().unwrap() {
        let err = std::fs::read_to_string(dir.join(format!("worker{i}.err"))).unwrap_or_default();
        let tail: String = err
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "worker {i} (generation {}) stopped by itself with {st}:\n{tail}",
            w.gen
        );
    }
}

#[derive(Default)]
struct Logged {
    /// name -> id
    created: BTreeMap<String, u64>,
    /// name -> versions returned by rotate
    rotations: BTreeMap<String, Vec<u32>>,
    /// (name, seed, pid, ciphertext)
    encs: Vec<(String, u64, u32, Vec<u8>)>,
}

fn read_logs(dir: &Path) -> Logged {
    let mut l = Logged::default();
    for w in 0..WORKERS {
        let p = dir.join(format!("worker{w}.log"));
        repair_log(&p);
        for line in std::fs::read_to_string(&p).unwrap_or_default().lines() {
            let f: Vec<&str> = line.split(' ').collect();
            match f[0] {
                "create" => {
                    l.created.insert(f[1].to_string(), f[2].parse().unwrap());
                }
                "rotate" => l
                    .rotations
                    .entry(f[1].to_string())
                    .or_default()
                    .push(f[2].parse().unwrap()),
                "enc" => l.encs.push((
                    f[1].to_string(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    unhex(f[4]),
                )),
                other => panic!("unexpected log line kind {other}"),
            }
        }
    }
    l
}

fn all_audit(k: &Kms, o: &Caller, action: &str) -> Vec<AuditRecord> {
    k.audit_query(
        o,
        &AuditFilter {
            action: Some(action.into()),
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn sigkill_torture_keeps_every_logged_success() {
    let started = Instant::now();
    let kills_wanted = if long() { 500 } else { 50 };
    let seed: u64 = std::env::var("KMS_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash torture: seed {seed} (KMS_TORTURE_SEED repeats it), {kills_wanted} kills");
    let mut rng = Rng::new(seed);
    let s = TestStore::new();
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path();
    let (k, o) = s.open_owner();
    for name in SHARED {
        k.create_key(&o, &aes(name)).unwrap();
    }
    let mut gens = 0u64;
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|i| {
            gens += 1;
            spawn(&s.path, dir, i, gens, seed)
        })
        .collect();
    let mut kills = 0u32;
    while kills < kills_wanted {
        // Mostly a few hundred ms (mid-work), sometimes almost at once (mid-open).
        let pause = if rng.below(5) == 0 {
            rng.below(15)
        } else {
            20 + rng.below(300)
        };
        std::thread::sleep(Duration::from_millis(pause));
        let i = rng.below(WORKERS as u64) as usize;
        check_alive(&mut workers[i], i, dir);
        workers[i].child.kill().unwrap(); // SIGKILL
        workers[i].child.wait().unwrap();
        kills += 1;
        gens += 1;
        workers[i] = spawn(&s.path, dir, i, gens, seed);
        if kills.is_multiple_of(7) {
            // This handle takes dead workers' journals over while others start and die.
            k.audit_query(
                &o,
                &AuditFilter {
                    limit: Some(1),
                    descending: true,
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    for (i, w) in workers.iter_mut().enumerate() {
        check_alive(w, i, dir);
        w.child.kill().unwrap();
        w.child.wait().unwrap();
    }
    let torture_time = started.elapsed();
    drop(k);

    // Fresh handle: it takes every orphaned journal over at open.
    let k = s.open();
    let o = k.owner().unwrap();
    let c = rusqlite::Connection::open(&s.path).unwrap();
    let verdict: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok", "integrity_check after {kills} kills");

    let logged = read_logs(dir);
    let n_rot: usize = logged.rotations.values().map(Vec::len).sum();
    eprintln!(
        "crash torture: {kills} kills, {gens} worker lives, logged {} creates, {n_rot} rotations, {} encrypts in {:.1}s",
        logged.created.len(),
        logged.encs.len(),
        torture_time.as_secs_f64()
    );
    assert!(
        !logged.created.is_empty() && n_rot > 0 && !logged.encs.is_empty(),
        "the workers got work done between kills"
    );

    // Every logged key exists with its id.
    for (name, id) in &logged.created {
        let info = k.describe_key(&o, name).unwrap_or_else(|e| {
            panic!("logged key {name} (id {id}) is missing: {e}");
        });
        assert_eq!(info.key.id, *id, "key {name}");
    }

    // Every key (logged or created but killed before logging): consecutive versions, the
    // newest primary, primary material unseals and works.
    let keys = k.list_keys(&o, &KeyFilter::default()).unwrap();
    let mut versions_of: HashMap<String, u32> = HashMap::new();
    for key in &keys {
        let name = key.name.clone().unwrap();
        let info = k.describe_key(&o, &name).unwrap();
        let vs: Vec<u32> = info.versions.iter().map(|v| v.version).collect();
        let n = vs.len() as u32;
        assert_eq!(
            vs,
            (1..=n).collect::<Vec<_>>(),
            "versions of {name} are consecutive"
        );
        assert_eq!(
            info.key.primary_version, n,
            "newest version of {name} is primary"
        );
        assert!(info.versions.iter().all(|v| !v.destroyed));
        let ct = k.encrypt(&o, &name, b"probe", &Context::new()).unwrap();
        assert_eq!(Header::parse(&ct).unwrap().0.version, n);
        assert_eq!(&*k.decrypt(&o, &ct, &Context::new()).unwrap(), b"probe");
        versions_of.insert(name, n);
    }
    for name in logged.created.keys().map(String::as_str).chain(SHARED) {
        assert!(versions_of.contains_key(name), "key {name} is listed");
    }

    // Rotations: each logged version exists, none returned twice.
    for (name, vs) in &logged.rotations {
        let n = versions_of[name];
        let distinct: HashSet<u32> = vs.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            vs.len(),
            "two rotations of {name} returned one version"
        );
        assert!(
            vs.iter().all(|v| *v >= 2 && *v <= n),
            "rotations of {name}: {vs:?}, {n} versions"
        );
        assert!(
            n as usize > vs.len(),
            "{name}: {n} versions, {} rotations logged",
            vs.len()
        );
    }

    // Every logged ciphertext decrypts to its plaintext.
    for (name, seed, _, ct) in &logged.encs {
        let pt = k
            .decrypt(&o, ct, &context_of(*seed))
            .unwrap_or_else(|e| panic!("logged ciphertext under {name} fails: {e}"));
        assert_eq!(&*pt, plaintext(*seed).as_slice(), "plaintext under {name}");
    }

    // The audit trail.
    let report = k.audit_verify(&o, None).unwrap();
    assert!(
        report.ok(),
        "audit chain verifies after {kills} kills: {report:?}"
    );
    let all = k.audit_query(&o, &AuditFilter::default()).unwrap();
    let mut ids = HashSet::new();
    for r in &all {
        if !r.request_id.is_empty() {
            assert!(
                ids.insert(r.request_id.as_str()),
                "record {} ({} by pid {}) chained twice",
                r.request_id,
                r.action,
                r.pid
            );
        }
    }
    // Usage records of logged encrypts, per (pid, key, version).
    let encs = all_audit(&k, &o, "encrypt");
    let mut have: HashMap<(u32, u64, u32), usize> = HashMap::new();
    let mut uses: HashMap<(u64, u32), u64> = HashMap::new();
    for r in encs.iter().filter(|r| r.outcome == Outcome::Ok) {
        let kv = (r.key_id.unwrap(), r.key_version.unwrap());
        *have.entry((r.pid, kv.0, kv.1)).or_default() += 1;
        *uses.entry(kv).or_default() += 1;
    }
    let mut want: HashMap<(u32, u64, u32), usize> = HashMap::new();
    for (_, _, pid, ct) in &logged.encs {
        let h = Header::parse(ct).unwrap().0;
        *want.entry((*pid, h.key_id, h.version)).or_default() += 1;
    }
    for (at, n) in &want {
        let got = have.get(at).copied().unwrap_or(0);
        assert!(
            got >= *n,
            "pid {} key {} version {}: {n} encrypts logged, {got} audit records",
            at.0,
            at.1,
            at.2
        );
    }
    // Rotation and creation records (committed with the change).
    let rotated: HashSet<(u64, u32)> = all_audit(&k, &o, "rotate")
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .map(|r| (r.key_id.unwrap(), r.key_version.unwrap()))
        .collect();
    let id_of: HashMap<&str, u64> = keys
        .iter()
        .map(|k| (k.name.as_deref().unwrap(), k.id))
        .collect();
    for (name, vs) in &logged.rotations {
        for v in vs {
            assert!(
                rotated.contains(&(id_of[name.as_str()], *v)),
                "rotation of {name} to version {v} has its record"
            );
        }
    }
    let created: HashSet<u64> = all_audit(&k, &o, "create")
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .filter_map(|r| r.key_id)
        .collect();
    for (name, id) in &logged.created {
        assert!(created.contains(id), "creation of {name} has its record");
    }
    // Use counts were committed with the records: equal for every version.
    for key in &keys {
        let info = k.describe_key(&o, key.name.as_deref().unwrap()).unwrap();
        for v in &info.versions {
            assert_eq!(
                v.uses,
                uses.get(&(key.id, v.version)).copied().unwrap_or(0),
                "use count of key {} version {}",
                key.id,
                v.version
            );
        }
    }
    drop(k);
    // Every dead worker's journal was taken over and removed (and this handle's own).
    let left: Vec<_> = std::fs::read_dir(kms::core::config::sibling(&s.path, "journal"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".j"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "journals left behind: {left:?}");
    let verdict: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    eprintln!(
        "crash torture: verified in {:.1}s total",
        started.elapsed().as_secs_f64()
    );
}
