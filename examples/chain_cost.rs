//! A measuring aid: the background chaining thread's CPU time per usage record.
//! `cargo run --release --example chain_cost -- [records] [threads]` runs that many audited
//! `Kms::encrypt` calls (1 KiB, spread over the threads), waits until the `kms-audit` thread
//! has chained them all, and prints that thread's CPU time (from
//! `/proc/self/task/<tid>/schedstat`) divided by the number of records, then checks the chain
//! and prints how long `audit_verify` took.

use kms::core::seal::KdfParams;
use kms::core::*;

/// (tid, on-CPU nanoseconds) of this process's `kms-audit` threads.
fn audit_threads() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in rd.flatten() {
        let p = t.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.trim() != "kms-audit" {
            continue;
        }
        let ns = std::fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
            .unwrap_or(0);
        out.push((t.file_name().to_string_lossy().to_string(), ns));
    }
    out
}

/// On-CPU nanoseconds of the calling thread so far.
fn own_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn audit_cpu_ns() -> u64 {
    audit_threads().iter().map(|t| t.1).sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let threads: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chain.db");
    let mut cfg = Config::at(&path).expect("config");
    cfg.master = kms::core::seal::MasterSource::KeyFile(kms::core::config::sibling(&path, "key"));
    cfg.identity_kdf = KdfParams {
        m_kib: 256,
        t: 1,
        p: 1,
    };
    let k = Kms::open(cfg).expect("open");
    let o = k.owner().expect("owner");
    k.create_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Aes256),
            name: Some("chain".into()),
            ..Default::default()
        },
    )
    .expect("key");
    // Let the records of the set-up be chained first.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = verify_count(&k, &o);
    let cpu0 = audit_cpu_ns();
    let t0 = std::time::Instant::now();
    let per = records / threads;
    let caller_cpu: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let msg = vec![1u8; 1024];
                    let ctx = Context::new();
                    for _ in 0..per {
                        std::hint::black_box(k.encrypt(&o, "chain", &msg, &ctx).expect("encrypt"));
                    }
                    own_cpu_ns()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("caller")).sum()
    });
    let callers = t0.elapsed();
    // Wait until the chaining thread is idle (it has caught up): under 1 ms of CPU in 100 ms
    // (an idle tick costs a few microseconds), three times in a row.
    let mut last = audit_cpu_ns();
    let mut still = 0;
    while still < 3 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = audit_cpu_ns();
        if now - last < 1_000_000 {
            still += 1;
        } else {
            still = 0;
        }
        last = now;
    }
    let caught_up = t0.elapsed();
    let cpu = last - cpu0;
    let n = per * threads;
    let t1 = std::time::Instant::now();
    let after = verify_count(&k, &o);
    let verified = t1.elapsed();
    println!(
        "{n} audited encrypts on {threads} thread(s) in {:.2}s ({:.0}/s); chained by {:.2}s",
        callers.as_secs_f64(),
        n as f64 / callers.as_secs_f64(),
        caught_up.as_secs_f64()
    );
    println!(
        "calling threads' CPU: {:.3}s = {:.3} us per encrypt",
        caller_cpu as f64 / 1e9,
        caller_cpu as f64 / 1e3 / n as f64
    );
    println!(
        "kms-audit thread CPU: {:.3}s = {:.2} us per record ({} records newly in the chain)",
        cpu as f64 / 1e9,
        cpu as f64 / 1e3 / n as f64,
        after - before
    );
    println!(
        "audit_verify: {after} records in {:.3}s = {:.2} us per record",
        verified.as_secs_f64(),
        verified.as_secs_f64() * 1e6 / after as f64
    );
}

/// Records in the chain (checking every link).
fn verify_count(k: &Kms, o: &Caller) -> u64 {
    let rep = k.audit_verify(o, None).expect("verify");
    assert!(rep.ok(), "chain broken: {:?}", rep.problem);
    rep.records
}
