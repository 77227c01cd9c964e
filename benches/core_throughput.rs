//! Audited, policy-checked AES-GCM 1 KiB encryption through the core, against the same path
//! with usage auditing off and against raw AES-GCM, side by side in one run, with 1 and 2
//! threads. Also data-key generation and 1 KiB decryption (both return a `Secret`, whose bytes
//! live in the secure-memory arena). Run: `cargo bench --bench core_throughput` (prints medians and ratios).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kms::core::crypto::{self, AesGcmKey};
use kms::core::seal::KdfParams;
use kms::core::*;

const MSG: usize = 1024;
const ROUNDS: usize = 7;
const ROUND: Duration = Duration::from_millis(400);

fn open(dir: &std::path::Path, name: &str, audited: bool) -> (Kms, Caller) {
    let path = dir.join(name);
    let mut cfg = Config::at(&path).expect("config");
    cfg.master = kms::core::seal::MasterSource::KeyFile(kms::core::config::sibling(&path, "key"));
    cfg.identity_kdf = KdfParams {
        m_kib: 256,
        t: 1,
        p: 1,
    };
    cfg.audit.record_usage = audited;
    let k = Kms::open(cfg).expect("open");
    let o = k.owner().expect("owner");
    k.create_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Aes256),
            name: Some("bench".into()),
            ..Default::default()
        },
    )
    .expect("key");
    (k, o)
}

/// Runs `op` on `threads` threads for one round; returns total ops per second.
fn round(threads: usize, op: Arc<dyn Fn() + Send + Sync>) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let op = op.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                let t0 = Instant::now();
                while t0.elapsed() < ROUND {
                    for _ in 0..64 {
                        op();
                    }
                    n += 64;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("number"));
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (audited, ao) = open(dir.path(), "audited.db", true);
    let (plain, po) = open(dir.path(), "unaudited.db", false);
    let key = crypto::random_vec(32).expect("random");
    let raw = Arc::new(AesGcmKey::new(&key).expect("key"));
    let msg = vec![7u8; MSG];
    let ctx = Context::new();

    println!("libkms core throughput, AES-256-GCM {MSG} B encrypt, median of {ROUNDS} rounds of {ROUND:?}");
    println!(
        "machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("{:<44} {:>12} {:>12}", "path", "1 thread", "2 threads");
    let mut results = Vec::new();
    type Case = (&'static str, Arc<dyn Fn() + Send + Sync>);
    let cases: Vec<Case> = vec![
        ("raw AES-GCM (aws-lc-rs, prepared key)", {
            let raw = raw.clone();
            let msg = msg.clone();
            Arc::new(move || {
                let mut nonce = [0u8; 12];
                crypto::random(&mut nonce).expect("rng");
                std::hint::black_box(raw.seal(&nonce, b"", &msg).expect("seal"));
            })
        }),
        ("Kms::encrypt, policy-checked, audit off", {
            let (k, o, msg, ctx) = (plain.clone(), po.clone(), msg.clone(), ctx.clone());
            Arc::new(move || {
                std::hint::black_box(k.encrypt(&o, "bench", &msg, &ctx).expect("encrypt"));
            })
        }),
        ("Kms::encrypt, policy-checked, audited", {
            let (k, o, msg, ctx) = (audited.clone(), ao.clone(), msg.clone(), ctx.clone());
            Arc::new(move || {
                std::hint::black_box(k.encrypt(&o, "bench", &msg, &ctx).expect("encrypt"));
            })
        }),
        ("Kms::generate_data_key (32 B), audit off", {
            let (k, o, ctx) = (plain.clone(), po.clone(), ctx.clone());
            Arc::new(move || {
                std::hint::black_box(
                    k.generate_data_key(&o, "bench", 32, &ctx)
                        .expect("data key"),
                );
            })
        }),
        ("Kms::decrypt (1 KiB), audit off", {
            let (k, o, ctx) = (plain.clone(), po.clone(), ctx.clone());
            let ct = k.encrypt(&o, "bench", &msg, &ctx).expect("encrypt");
            Arc::new(move || {
                std::hint::black_box(k.decrypt(&o, &ct, &ctx).expect("decrypt"));
            })
        }),
        ("Secret 32 B create+drop (secure arena)", {
            Arc::new(move || {
                let s = crypto::Secret::from_slice(std::hint::black_box(&[7u8; 32]));
                std::hint::black_box(&s);
            })
        }),
        ("Zeroizing<Vec> 32 B create+drop (heap)", {
            Arc::new(move || {
                let s = zeroize::Zeroizing::new(std::hint::black_box(&[7u8; 32]).to_vec());
                std::hint::black_box(&s);
            })
        }),
    ];
    for (name, op) in &cases {
        let one = median((0..ROUNDS).map(|_| round(1, op.clone())).collect());
        let two = median((0..ROUNDS).map(|_| round(2, op.clone())).collect());
        println!("{name:<44} {:>10.0}/s {:>10.0}/s", one, two);
        results.push((one, two));
    }
    let (raw1, raw2) = results[0];
    let (off1, off2) = results[1];
    let (on1, on2) = results[2];
    println!();
    println!(
        "audited vs unaudited (target <= 2x slower): {:.2}x (1 thread), {:.2}x (2 threads)",
        off1 / on1,
        off2 / on2
    );
    println!(
        "audited vs raw AES-GCM (target <= 5x slower): {:.2}x (1 thread), {:.2}x (2 threads)",
        raw1 / on1,
        raw2 / on2
    );
    println!("audited 2-thread scaling: {:.2}x", on2 / on1);
    println!(
        "audited, 2 threads: {:.0} ops/s (issue 9 target: >= 1,000,000 ops/s on 2 cores)",
        on2
    );
    audited.flush().expect("flush");
    let rep = audited.audit_verify(&ao, None).expect("verify");
    println!(
        "audit records chained during the run: {} (chain intact: {})",
        rep.records,
        rep.ok()
    );
}
